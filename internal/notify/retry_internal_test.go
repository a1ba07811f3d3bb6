package notify

import (
	"net/http"
	"testing"
	"time"
)

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	tests := []struct {
		header string
		want   time.Duration
	}{
		{"", 0},
		{"120", 2 * time.Minute},
		{" 5 ", 5 * time.Second},
		{"0", 0},
		{"-3", 0},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second},
		{now.Add(-time.Minute).Format(http.TimeFormat), 0},
		{"soon", 0},
	}
	for _, tt := range tests {
		if got := retryAfter(tt.header, now); got != tt.want {
			t.Errorf("retryAfter(%q) = %v; want %v", tt.header, got, tt.want)
		}
	}
}

func TestBackoffDoublesWithinBoundsAndHonoursTheReceiver(t *testing.T) {
	w := New(Config{BackoffBase: time.Second, BackoffMax: 8 * time.Second})
	tests := []struct {
		attempt    int
		retryAfter time.Duration
		lo, hi     time.Duration
	}{
		{1, 0, 500 * time.Millisecond, time.Second},
		{2, 0, time.Second, 2 * time.Second},
		{3, 0, 2 * time.Second, 4 * time.Second},
		{10, 0, 4 * time.Second, 8 * time.Second},
		{64, 0, 4 * time.Second, 8 * time.Second},
		{1, 30 * time.Second, 30 * time.Second, 30 * time.Second},
		{1, 5 * time.Hour, time.Hour, time.Hour},
	}
	for _, tt := range tests {
		for range 20 {
			if got := w.backoff(tt.attempt, tt.retryAfter); got < tt.lo || got > tt.hi {
				t.Errorf("backoff(%d, %v) = %v; want within [%v, %v]", tt.attempt, tt.retryAfter, got, tt.lo, tt.hi)
				break
			}
		}
	}
}

func TestOneLine(t *testing.T) {
	tests := []struct {
		in   string
		n    int
		want string
	}{
		{"plain", 10, "plain"},
		{"a\r\nb\tc\x00d", 20, "a b c d"},
		{"  spaced   out  ", 20, "spaced out"},
		{"abcdefghij", 5, "abcd…"},
		{"héllo wörld", 7, "héllo …"},
	}
	for _, tt := range tests {
		if got := oneLine(tt.in, tt.n); got != tt.want {
			t.Errorf("oneLine(%q, %d) = %q; want %q", tt.in, tt.n, got, tt.want)
		}
	}
}
