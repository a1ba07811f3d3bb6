package sso

import (
	"crypto/sha256"
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/rolegate/rolegate/internal/sso/ssotest"
)

// A sealed attempt comes back whole, once, and then completes a sign-in.
func TestSealedAttemptRoundTrip(t *testing.T) {
	t.Parallel()
	c := newClient(t, newProvider(t, ssotest.Options{}))
	authURL, a := c.BeginWith(BeginOptions{ReturnTo: "/requests/7?x=1", MaxAge: time.Hour, PromptLogin: true, Bound: "digest-1"})
	sealed := c.SealAttempt(a)
	for _, secret := range []string{a.State, a.Nonce, a.CodeVerifier, "/requests/7", "digest-1"} {
		if strings.Contains(sealed, secret) || strings.Contains(sealed, base64.RawURLEncoding.EncodeToString([]byte(secret))) {
			t.Errorf("sealed attempt shows %q in the clear", secret)
		}
	}
	if len(sealed) > 1024 {
		t.Errorf("sealed attempt is %d bytes; want a small cookie", len(sealed))
	}

	got, err := c.TakeAttempt(sealed)
	if err != nil {
		t.Fatalf("TakeAttempt = %v", err)
	}
	if got.State != a.State || got.Nonce != a.Nonce || got.CodeVerifier != a.CodeVerifier || got.ReturnTo != a.ReturnTo ||
		got.MaxAge != a.MaxAge || !got.PromptLogin || got.Bound != "digest-1" || !got.CreatedAt.Equal(a.CreatedAt.Truncate(time.Millisecond)) {
		t.Errorf("TakeAttempt = %+v; want %+v", got, a)
	}
	state, code := authorize(t, authURL, alice.Subject)
	if _, err := c.Finish(t.Context(), got, state, code); err != nil {
		t.Errorf("Finish with the taken attempt = %v", err)
	}

	_, err = c.TakeAttempt(sealed)
	wantError(t, err, ErrAttemptUsed, a.State, a.Nonce, a.CodeVerifier)
}

// Only this Client's own, untouched, recent seals open.
func TestSealedAttemptRefusals(t *testing.T) {
	t.Parallel()
	p := newProvider(t, ssotest.Options{})
	c := newClient(t, p)
	_, a := c.Begin("/", 0)
	sealed := c.SealAttempt(a)

	raw, _ := base64.RawURLEncoding.DecodeString(sealed)
	raw[len(raw)/2] ^= 1
	flipped := base64.RawURLEncoding.EncodeToString(raw)

	restarted := newClient(t, p) // another key, as after a restart
	for name, value := range map[string]string{
		"empty":                  "",
		"not base64":             "%%%",
		"too short":              "AAAA",
		"one bit changed":        flipped,
		"too long":               strings.Repeat("A", maxSealedAttempt+1),
		"sealed by another key":  restarted.SealAttempt(a),
		"a plain state as value": a.State,
	} {
		_, err := c.TakeAttempt(value)
		wantError(t, err, ErrAttemptUnknown)
		if name == "one bit changed" {
			// A refused value does not use the attempt up.
			if _, err := c.TakeAttempt(sealed); err != nil {
				t.Errorf("TakeAttempt of the genuine value after a forged one = %v", err)
			}
		}
	}

	old := a
	old.State = "another-state"
	old.CreatedAt = time.Now().Add(-AttemptLifetime - time.Second)
	_, err := c.TakeAttempt(c.SealAttempt(old))
	wantError(t, err, ErrAttemptExpired)
}

// A hostile return path sealed by a buggy caller still comes out safe.
func TestSealedAttemptReturnPathIsSanitized(t *testing.T) {
	t.Parallel()
	c := newClient(t, newProvider(t, ssotest.Options{}))
	_, a := c.Begin("/", 0)
	a.ReturnTo = "//evil.example/"
	got, err := c.TakeAttempt(c.SealAttempt(a))
	if err != nil || got.ReturnTo != "/" {
		t.Errorf("TakeAttempt(return path %q) = %q, %v; want %q", a.ReturnTo, got.ReturnTo, err, "/")
	}
}

// The memory of used attempts forgets expired entries, and when full the
// oldest, rather than ever refusing a new one.
func TestUsedStatesAreBounded(t *testing.T) {
	t.Parallel()
	u := newUsedStates(3)
	now := time.Now()
	key := func(i int) [32]byte { return sha256.Sum256([]byte{byte(i)}) }
	for i := range 3 {
		if !u.take(key(i), now.Add(time.Minute), now) {
			t.Fatalf("take(%d) = false; want true (new)", i)
		}
	}
	if u.take(key(1), now.Add(time.Minute), now) {
		t.Errorf("take(1) again = true; want false (used)")
	}
	if !u.take(key(3), now.Add(time.Minute), now) {
		t.Errorf("take(3) with the memory full = false; want true (the oldest is forgotten)")
	}
	if len(u.until) > 3 {
		t.Errorf("memory holds %d entries; want at most 3", len(u.until))
	}
	later := now.Add(2 * time.Minute)
	if !u.take(key(4), later.Add(time.Minute), later) || len(u.until) != 1 {
		t.Errorf("after every entry expired: %d entries; want only the new one", len(u.until))
	}
}
