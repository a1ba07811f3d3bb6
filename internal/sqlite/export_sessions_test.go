package sqlite

import "testing"

// SetMaxLiveSigninAttempts lowers the bound on sign-in attempts in flight
// for one test, so that it need not write 10,000 rows.
func SetMaxLiveSigninAttempts(t testing.TB, n int) {
	old := maxLiveSigninAttempts
	maxLiveSigninAttempts = n
	t.Cleanup(func() { maxLiveSigninAttempts = old })
}
