package testkit

import (
	"sync"
	"time"
)

// Clock is a time that the test moves by hand, for code that takes a
// func() time.Time (pass Clock.Now). Goroutines of the code under test may
// read it while the test moves it.
//
// A clock made by NewClock stands still between Advance calls, so that a
// test about windows, deadlines and ages decides every instant. One made by
// NewRunningClock follows the real time plus what Advance added, for code
// that also meets something running on the real time (an identity provider
// that signs its tokens now).
type Clock struct {
	mu      sync.Mutex
	at      time.Time // the standing time; unused when running
	running bool
	offset  time.Duration
}

// NewClock returns a clock standing at at.
func NewClock(at time.Time) *Clock { return &Clock{at: at} }

// NewRunningClock returns a clock that shows the real time until Advance
// moves it ahead.
func NewRunningClock() *Clock { return &Clock{running: true} }

// Now is the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.running {
		return time.Now().Add(c.offset)
	}
	return c.at.Add(c.offset)
}

// Advance moves the clock by d (back when d is negative).
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.offset += d
}
