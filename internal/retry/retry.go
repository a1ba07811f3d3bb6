// Package retry holds what rolegate's background workers (provisioning,
// notifications) share: the retry delay and a sleep that a wake-up cuts short.
package retry

import (
	"context"
	"math/rand/v2"
	"time"
)

// Backoff is the delay before attempt+1: base doubled per attempt up to
// ceiling, with jitter (half fixed, half random), and never shorter than what
// the other side asked for in Retry-After (at most an hour).
func Backoff(base, ceiling time.Duration, attempt int, retryAfter time.Duration) time.Duration {
	d := base << min(max(attempt-1, 0), 20)
	if d > ceiling || d <= 0 {
		d = ceiling
	}
	d = d/2 + rand.N(d/2+1)
	if retryAfter > d {
		d = min(retryAfter, time.Hour)
	}
	return d
}

// Wakeup lets a worker sleep until there is work: Wake never blocks, and
// several wake-ups before the next Sleep count as one.
type Wakeup struct{ ch chan struct{} }

// NewWakeup returns a ready Wakeup.
func NewWakeup() *Wakeup { return &Wakeup{ch: make(chan struct{}, 1)} }

// Wake ends the current or next Sleep.
func (w *Wakeup) Wake() {
	select {
	case w.ch <- struct{}{}:
	default:
	}
}

// Sleep waits for d, a Wake, or the end of ctx, whichever comes first.
func (w *Wakeup) Sleep(ctx context.Context, d time.Duration) {
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-w.ch:
	case <-t.C:
	}
}
