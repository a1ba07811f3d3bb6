package adminapi

import (
	"net/http"
	"testing"
	"time"
)

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		in   string
		want time.Duration
	}{
		{"", 0},
		{"7", 7 * time.Second},
		{" 120 ", 2 * time.Minute},
		{"0", 0},
		{"-3", 0},
		{"1.5", 0}, // not a valid delay-seconds
		{"soon", 0},
		{"999999999999", maxRetryAfter},
		{"Sun, 01 Mar 2026 12:00:30 GMT", 30 * time.Second},
		{"Sunday, 01-Mar-26 12:01:00 GMT", time.Minute}, // RFC 850, still allowed by HTTP
		{"Sun, 01 Mar 2026 11:59:00 GMT", 0},            // already past
	} {
		if got := parseRetryAfter(tc.in, now); got != tc.want {
			t.Errorf("parseRetryAfter(%q) = %v; want %v", tc.in, got, tc.want)
		}
	}
}

func TestRetryAfterFallsBackToMilliseconds(t *testing.T) {
	now := time.Now()
	h := http.Header{"Retry-After-Ms": {"1500"}}
	if got := retryAfter(h, now); got != 1500*time.Millisecond {
		t.Errorf("retry-after-ms 1500: %v; want 1.5s", got)
	}
	h.Set("Retry-After", "4")
	if got := retryAfter(h, now); got != 4*time.Second {
		t.Errorf("with both headers: %v; want Retry-After's 4s", got)
	}
}

func TestKindOfStatus(t *testing.T) {
	for status, want := range map[int]ErrorKind{
		400: Permanent, 401: Permanent, 403: Permanent, 404: Permanent, 409: Permanent, 422: Permanent,
		408: Retryable, 429: Retryable, 500: Retryable, 502: Retryable, 503: Retryable, 504: Retryable,
	} {
		if got := kindOfStatus(status); got != want {
			t.Errorf("kindOfStatus(%d) = %v; want %v", status, got, want)
		}
	}
}

func TestErrorText(t *testing.T) {
	for _, tc := range []struct {
		err  *Error
		want string
	}{
		{&Error{Op: "create role", Status: 400, Message: "A role named 'x' already exists."},
			"adminapi: create role: upstream answered 400: A role named 'x' already exists."},
		{&Error{Op: "list roles", Status: 429, Code: "rate_limit_exceeded", Message: "Slow down."},
			"adminapi: list roles: upstream answered 429 (rate_limit_exceeded): Slow down."},
		{&Error{Op: "get role", Message: "no answer within 30s"},
			"adminapi: get role: no answer within 30s"},
	} {
		if got := tc.err.Error(); got != tc.want {
			t.Errorf("Error() = %q; want %q", got, tc.want)
		}
	}
}
