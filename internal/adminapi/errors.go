package adminapi

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// ErrorKind tells the caller what to do about a failure.
type ErrorKind int

const (
	// Permanent failures will fail again unchanged: a 4xx other than 408
	// and 429, such as a duplicate role name or a refused key.
	Permanent ErrorKind = iota + 1
	// Retryable failures may pass later: 408, 429, 5xx, timeouts, broken
	// connections. A retried create may already have been applied upstream.
	Retryable
)

func (k ErrorKind) String() string {
	switch k {
	case Permanent:
		return "permanent"
	case Retryable:
		return "retryable"
	}
	return fmt.Sprintf("ErrorKind(%d)", int(k))
}

// Error is every failure this package returns. Its text never holds the
// admin key: Message and Code are redacted before they are set.
type Error struct {
	// Op is what was attempted, e.g. "create role".
	Op string
	// Status is the upstream HTTP status, or 0 when no answer came.
	Status int
	// Code is upstream's error code, if it gave one.
	Code string
	// Message is upstream's own error message when it answered, otherwise
	// what went wrong on the way.
	Message string
	// RetryAfter is how long upstream asked us to wait (Retry-After), or 0.
	RetryAfter time.Duration
	Kind       ErrorKind

	// cause is a sentinel such as context.DeadlineExceeded for errors.Is;
	// never the SDK's error, which carries the request and its headers.
	cause error
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("adminapi: ")
	b.WriteString(e.Op)
	if e.Status != 0 {
		fmt.Fprintf(&b, ": upstream answered %d", e.Status)
		if e.Code != "" {
			fmt.Fprintf(&b, " (%s)", e.Code)
		}
	}
	b.WriteString(": ")
	b.WriteString(e.Message)
	return b.String()
}

// Unwrap lets errors.Is see context.DeadlineExceeded and context.Canceled.
func (e *Error) Unwrap() error { return e.cause }

// kindOfStatus classifies an upstream HTTP status.
func kindOfStatus(status int) ErrorKind {
	switch {
	case status == http.StatusTooManyRequests,
		status == http.StatusRequestTimeout, // upstream gave up waiting; nothing permanent about it
		status >= 500:
		return Retryable
	default:
		return Permanent
	}
}

// parseRetryAfter reads a Retry-After value: delay seconds or an HTTP date.
// Anything else, or a time already past, is 0.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs <= 0 {
			return 0
		}
		return min(time.Duration(min(secs, int64(maxRetryAfter/time.Second)))*time.Second, maxRetryAfter)
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return min(t.Sub(now), maxRetryAfter)
	}
	return 0
}

// maxRetryAfter bounds what a confused upstream or proxy can ask for.
const maxRetryAfter = 24 * time.Hour

// retryAfter reads the wait upstream asked for. OpenAI also sends the
// non-standard retry-after-ms, used only when Retry-After is absent.
func retryAfter(h http.Header, now time.Time) time.Duration {
	if d := parseRetryAfter(h.Get("Retry-After"), now); d > 0 {
		return d
	}
	if ms, err := strconv.ParseFloat(strings.TrimSpace(h.Get("Retry-After-Ms")), 64); err == nil && ms > 0 {
		return min(time.Duration(min(ms, float64(maxRetryAfter/time.Millisecond))*float64(time.Millisecond)), maxRetryAfter)
	}
	return 0
}

// RetryDelay is how long the upstream asked callers to wait (Retry-After),
// or 0: what the picture's sync honours after a 429.
func (e *Error) RetryDelay() time.Duration { return e.RetryAfter }
