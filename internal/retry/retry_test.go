package retry

import (
	"context"
	"testing"
	"time"
)

func TestBackoffDoublesWithJitterAndHonoursRetryAfter(t *testing.T) {
	base, ceiling := time.Second, 10*time.Second
	cases := []struct {
		attempt    int
		retryAfter time.Duration
		lo, hi     time.Duration
	}{
		{1, 0, 500 * time.Millisecond, time.Second},
		{2, 0, time.Second, 2 * time.Second},
		{3, 0, 2 * time.Second, 4 * time.Second},
		{30, 0, 5 * time.Second, 10 * time.Second}, // capped, no overflow
		{1, 7 * time.Second, 7 * time.Second, 7 * time.Second},
		{1, 3 * time.Hour, time.Hour, time.Hour}, // a Retry-After is believed up to an hour
	}
	for _, tc := range cases {
		for range 50 {
			if got := Backoff(base, ceiling, tc.attempt, tc.retryAfter); got < tc.lo || got > tc.hi {
				t.Fatalf("Backoff(1s, 10s, %d, %v) = %v; want within [%v, %v]", tc.attempt, tc.retryAfter, got, tc.lo, tc.hi)
			}
		}
	}
}

func TestWakeEndsSleepAndNeverBlocks(t *testing.T) {
	w := NewWakeup()
	w.Wake()
	w.Wake() // a second wake-up before any sleep does not block
	start := time.Now()
	w.Sleep(context.Background(), time.Minute)
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("Sleep after Wake took %v; want it to return at once", d)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	w.Sleep(ctx, time.Minute) // an ended context ends the sleep
}
