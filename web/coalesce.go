package web

import (
	"context"
	"sync"
	"time"

	"github.com/rolegate/rolegate/internal/rolegate"
)

// repeats coalesces events that anyone can cause over and over without
// changing anything (a refused page, a failed sign-in), so that nobody can
// flood the append-only trail, which is never pruned and has one writer.
// The first event of a run (the same action, by the same person or, signed
// out, from the same client address, on the same route, for the same
// reason) is written at once with Count 1 (rolegate.Repeats); the repeats
// within the window are only counted, and one more event, with Count the
// number of repeats between RepeatedFrom and RepeatedUntil, is written
// when the window has passed. The counts of a run's events add up to how often it
// happened; at most two events per run and window reach the trail.
type repeats struct {
	window time.Duration
	// maxRuns bounds the runs held. Beyond it, new runs of an action share
	// one overflow run, so that a flood from many addresses is still at
	// most a few events a window.
	maxRuns int

	mu        sync.Mutex
	runs      map[string]*run
	lastSweep time.Time
}

// run is one series of like events within a window.
type run struct {
	actor       rolegate.Actor
	outcome     string
	details     rolegate.Coalesced
	overflow    bool // the run's repeats come from anyone
	first, last time.Time
	repeats     int
}

// Coalescing: one run per minute, at most this many runs tracked.
const (
	repeatWindow  = time.Minute
	repeatMaxRuns = 1000
)

func newRepeats(window time.Duration, maxRuns int) *repeats {
	return &repeats{window: window, maxRuns: maxRuns, runs: map[string]*run{}}
}

// note counts one event of the run named key at now. It returns the event
// to write now, if this is the first of its run (nil otherwise), and the
// closing events of runs whose window has passed.
func (r *repeats) note(key string, a rolegate.Actor, outcome string, details rolegate.Coalesced, now time.Time) (*rolegate.Event, []rolegate.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	due := r.closeDue(now, false)
	if cur, ok := r.runs[key]; ok {
		cur.repeats++
		cur.last = now
		return nil, due
	}
	overflow := len(r.runs) >= r.maxRuns
	if overflow {
		key = "overflow|" + details.Action()
		if cur, ok := r.runs[key]; ok {
			cur.repeats++
			cur.last = now
			return nil, due
		}
	}
	r.runs[key] = &run{actor: a, outcome: outcome, details: details, overflow: overflow, first: now, last: now}
	e := newRunEvent(a, outcome, details.WithRepeats(rolegate.Repeats{Count: 1, Overflow: overflow}))
	return &e, due
}

// newRunEvent is the event of a run; someone not signed in is "anonymous".
func newRunEvent(a rolegate.Actor, outcome string, d rolegate.Details) rolegate.Event {
	e := rolegate.NewEvent(a, outcome, d)
	if a.Subject == "" {
		e.ActorKey = "anonymous"
	}
	return e
}

// closeDue removes the runs whose window has passed at now (every run
// with all) and returns a closing event for each that had repeats.
func (r *repeats) closeDue(now time.Time, all bool) []rolegate.Event {
	if !all && now.Sub(r.lastSweep) < time.Second {
		return nil // a flood does not sweep on every event
	}
	r.lastSweep = now
	var due []rolegate.Event
	for key, cur := range r.runs {
		if !all && now.Sub(cur.first) < r.window {
			continue
		}
		delete(r.runs, key)
		if cur.repeats == 0 {
			continue
		}
		d := cur.details.WithRepeats(rolegate.Repeats{
			Count: cur.repeats, Overflow: cur.overflow,
			RepeatedFrom:  cur.first.UTC().Format(time.RFC3339Nano),
			RepeatedUntil: cur.last.UTC().Format(time.RFC3339Nano),
		})
		a := cur.actor
		a.HTTPRequestID = "" // the count stands for many requests
		if cur.overflow {
			a = rolegate.Actor{} // and, overflowing, for many people
		}
		due = append(due, newRunEvent(a, cur.outcome, d))
	}
	return due
}

// runKey names the run of an event: its action, who (the person or,
// signed out, the client address, an IPv6 client per /64), the route and
// the reason.
func runKey(action string, a rolegate.Actor, route, reason string) string {
	who := "person:" + a.Key()
	if a.Subject == "" {
		who = "ip:" + clientBucket(a.ClientIP)
	}
	return action + "\x00" + who + "\x00" + route + "\x00" + reason
}

// record notes one event of a run and writes what is due: the event itself
// when it starts a run, and the closing events of runs that ended. A
// failure to record is logged, not answered: the event was already refused
// or failed for the person.
func (s *Server) record(ctx context.Context, key string, a rolegate.Actor, outcome string, details rolegate.Coalesced) {
	first, due := s.repeats.note(key, a, outcome, details, s.Now())
	if first != nil {
		due = append(due, *first)
	}
	s.appendEvents(ctx, due)
}

func (s *Server) appendEvents(ctx context.Context, events []rolegate.Event) {
	for _, e := range events {
		if err := s.Audit.AppendEvent(ctx, e); err != nil {
			s.Logger.Error("record audit event", "action", e.Action, "err", err)
		}
	}
}

// FlushRepeats writes the closing events of the coalesced runs whose window
// has passed or, with all, of every run (at shutdown, so that no count is
// lost). serve calls it periodically; tests call it to see the counts.
func (s *Server) FlushRepeats(ctx context.Context, all bool) {
	s.repeats.mu.Lock()
	due := s.repeats.closeDue(s.Now(), all)
	s.repeats.mu.Unlock()
	s.appendEvents(ctx, due)
}

// RunRepeats flushes due counts every few seconds until ctx ends, then
// every count left; it returns once they are written.
func (s *Server) RunRepeats(ctx context.Context) {
	tick := time.NewTicker(repeatWindow / 6)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			final, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
			defer cancel()
			s.FlushRepeats(final, true)
			return
		case <-tick.C:
			s.FlushRepeats(ctx, false)
		}
	}
}
