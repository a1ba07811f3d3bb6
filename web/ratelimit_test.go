package web

import (
	"fmt"
	"testing"
	"time"
)

func TestClientBucket(t *testing.T) {
	tests := []struct{ ip, want string }{
		{"203.0.113.7", "203.0.113.7"},
		{"::ffff:203.0.113.7", "203.0.113.7"},
		{"2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"},
		{"2001:db8:1:2::ffff", "2001:db8:1:2::/64"},
		{"::1", "::/64"},
		{"not an address", "not an address"},
	}
	for _, tt := range tests {
		if got := clientBucket(tt.ip); got != tt.want {
			t.Errorf("clientBucket(%q) = %q; want %q", tt.ip, got, tt.want)
		}
	}
}

func TestLimiterSetThrottlesAndRefills(t *testing.T) {
	ls := newLimiterSet(RateLimit{Per: 1, Burst: 2}, 10)
	now := time.Unix(1_000_000, 0)
	for i := range 2 {
		if d := ls.wait("a", now); d != 0 {
			t.Fatalf("wait %d within the burst = %v; want 0", i+1, d)
		}
	}
	if d := ls.wait("a", now); d <= 0 || d > time.Second {
		t.Fatalf("wait past the burst = %v; want up to a second", d)
	}
	// A refused wait takes no token: a second later one is free again.
	if d := ls.wait("a", now.Add(time.Second)); d != 0 {
		t.Errorf("wait a second later = %v; want 0", d)
	}
	if d := ls.wait("b", now); d != 0 {
		t.Errorf("another key's first wait = %v; want 0", d)
	}
	if got := retryAfterSeconds(1500 * time.Millisecond); got != 2 {
		t.Errorf("retryAfterSeconds(1.5s) = %d; want 2", got)
	}
	if got := retryAfterSeconds(time.Millisecond); got != 1 {
		t.Errorf("retryAfterSeconds(1ms) = %d; want 1", got)
	}
}

func TestLimiterSetMemoryIsBounded(t *testing.T) {
	ls := newLimiterSet(RateLimit{Per: 1, Burst: 2}, 100)
	now := time.Unix(1_000_000, 0)
	for i := range 1000 {
		ls.wait(fmt.Sprintf("client-%d", i), now.Add(time.Duration(i)*time.Millisecond))
	}
	if n := ls.len(); n > 100 {
		t.Fatalf("after 1000 clients the set holds %d limiters; want at most 100", n)
	}
	// The most recent client keeps its limiter: one token left of two
	// (a new limiter would allow two).
	ls.wait("client-999", now.Add(time.Second))
	if d := ls.wait("client-999", now.Add(time.Second)); d == 0 {
		t.Errorf("a recently seen client lost its limiter")
	}
	// Limiters idle long enough to be full again are forgotten.
	later := now.Add(time.Hour)
	ls.wait("newcomer", later)
	if n := ls.len(); n != 1 {
		t.Errorf("an hour later the set holds %d limiters; want 1", n)
	}
}
