package testkit

import "testing"

// The fast lane, go test -short ./..., runs every test that needs nothing
// but this process; the full suite (CI, and the README's test command) runs
// these too.

// NeedsBrowser skips t under -short: it drives Chromium through a journey.
func NeedsBrowser(t testing.TB) {
	t.Helper()
	if testing.Short() {
		t.Skip("a browser journey (Chromium); -short leaves it to the full suite")
	}
}

// MultiProcess skips t under -short: it builds rolegate and runs it as
// processes of its own (and kills them).
func MultiProcess(t testing.TB) {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs rolegate as separate processes; -short leaves it to the full suite")
	}
}
