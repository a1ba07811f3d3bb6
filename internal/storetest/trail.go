package storetest

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/rolegate/rolegate/internal/audit"
	"github.com/rolegate/rolegate/internal/rolegate"
	"github.com/rolegate/rolegate/internal/testkit"
)

// verifyTrail walks s's whole trail as audit verify does (every event
// linked to the one before, in seq order from 1 with no gap, its time
// never before the previous event's) and checks that the stored tree's
// root is the root of those events. It returns how many events there are.
func verifyTrail(t testing.TB, s *Store) int64 {
	t.Helper()
	w := audit.NewWalk()
	if err := s.Trail.WalkAuditTrail(t.Context(), w.Add); err != nil {
		t.Fatalf("the trail does not verify: %v", err)
	}
	head, err := w.Finish()
	if err != nil {
		t.Fatalf("the trail does not verify: %v", err)
	}
	root, err := s.Trail.AuditTreeRoot(t.Context(), head.Size)
	if err != nil {
		t.Fatalf("AuditTreeRoot(%d): %v", head.Size, err)
	}
	if got := audit.HexHash(root); got != head.Root {
		t.Fatalf("the stored tree's root over %d events is %s; the events' own root is %s", head.Size, got, head.Root)
	}
	return head.Size
}

func deniedEvent(n int) rolegate.Event {
	return rolegate.NewEvent(rita, rolegate.OutcomeDenied, rolegate.AccessDenied{
		Method: "GET", Path: fmt.Sprintf("/admin/%d", n), Route: "/admin/:n", Reason: "not an admin"})
}

func testTrail(t *testing.T, e Engine) {
	// Events are numbered from 1 in the order they are appended, each
	// linked to the one before and a leaf of the tree.
	t.Run("AppendsInOrderWithChainAndTree", func(t *testing.T) {
		clock := testkit.NewClock(start)
		s := e.Open(t, clock.Now)
		if n := verifyTrail(t, s); n != 0 {
			t.Fatalf("a new trail holds %d events; want none", n)
		}
		for i := range 9 {
			if err := s.Trail.AppendEvent(t.Context(), deniedEvent(i)); err != nil {
				t.Fatalf("AppendEvent %d: %v", i, err)
			}
			clock.Advance(time.Second)
		}
		if n := verifyTrail(t, s); n != 9 {
			t.Fatalf("the trail holds %d events; want 9", n)
		}
	})
	// A clock stepped back (NTP, or another node's clock behind) never
	// makes an event older than the one before it.
	t.Run("TimeNeverGoesBackwards", func(t *testing.T) {
		clock := testkit.NewClock(start)
		s := e.Open(t, clock.Now)
		if err := s.Trail.AppendEvent(t.Context(), deniedEvent(1)); err != nil {
			t.Fatal(err)
		}
		clock.Advance(-time.Hour)
		if err := s.Trail.AppendEvent(t.Context(), deniedEvent(2)); err != nil {
			t.Fatal(err)
		}
		var at []time.Time
		if err := s.Trail.WalkAuditTrail(t.Context(), func(e rolegate.Event) error { at = append(at, e.At); return nil }); err != nil {
			t.Fatal(err)
		}
		if len(at) != 2 || !at[1].Equal(at[0]) || !at[0].Equal(start) {
			t.Fatalf("event times = %v; want both %s", at, start)
		}
	})
}

// testTwoProcesses runs two stores on one database at once, as two
// rolegate processes behind a load balancer.
func testTwoProcesses(t *testing.T, e Engine) {
	// Appends from both, at once, end up in one order with no gap and
	// no duplicate, the chain and the tree intact.
	t.Run("ConcurrentAppendsKeepOneTrail", func(t *testing.T) {
		clock := testkit.NewClock(start)
		a := e.Open(t, clock.Now)
		b := e.Again(t, a, clock.Now)
		const workers, each = 4, 10
		var wg sync.WaitGroup
		errs := make(chan error, 2*workers*each)
		for _, s := range []*Store{a, b} {
			for w := range workers {
				wg.Go(func() {
					for i := range each {
						if i%3 == 0 {
							// A sign-in appends inside a transaction that also writes a session.
							_, _, err := s.Sessions.CreateSession(t.Context(), alex, rolegate.SessionAuth{},
								rolegate.SessionLimits{Idle: time.Hour, Absolute: time.Hour}, "")
							errs <- err
							continue
						}
						errs <- s.Trail.AppendEvent(t.Context(), deniedEvent(w*each+i))
					}
				})
			}
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatalf("append: %v", err)
			}
		}
		for name, s := range map[string]*Store{"first": a, "second": b} {
			if n := verifyTrail(t, s); n != 2*workers*each {
				t.Fatalf("the %s process reads %d events; want %d", name, n, 2*workers*each)
			}
		}
	})

	// A session made through one process works through the other, and
	// signing out through either ends it for both.
	t.Run("SessionsAreShared", func(t *testing.T) {
		clock := testkit.NewClock(start)
		a := e.Open(t, clock.Now)
		b := e.Again(t, a, clock.Now)
		limits := rolegate.SessionLimits{Idle: time.Hour, Absolute: 3 * time.Hour}
		token, _, err := a.Sessions.CreateSession(t.Context(), rita, rolegate.SessionAuth{}, limits, "")
		if err != nil {
			t.Fatal(err)
		}
		if s, err := b.Sessions.LookupSession(t.Context(), token, limits); err != nil || s.Principal.Key() != rita.Key() {
			t.Fatalf("the second process finds %v, %v; want Rita's session", s, err)
		}
		if err := b.Sessions.DeleteSession(t.Context(), token, rita); err != nil {
			t.Fatal(err)
		}
		if _, err := a.Sessions.LookupSession(t.Context(), token, limits); !errors.Is(err, rolegate.ErrNoSession) {
			t.Fatalf("after signing out through the second process, the first finds %v; want rolegate.ErrNoSession", err)
		}
	})

	// A pending action asked for by both processes at once is taken by one.
	t.Run("PendingActionIsTakenOnce", func(t *testing.T) {
		clock := testkit.NewClock(start)
		a := e.Open(t, clock.Now)
		b := e.Again(t, a, clock.Now)
		limits := rolegate.SessionLimits{Idle: time.Hour, Absolute: 3 * time.Hour}
		for round := range 10 {
			token, _, err := a.Sessions.CreateSession(t.Context(), alex, rolegate.SessionAuth{}, limits, "")
			if err != nil {
				t.Fatal(err)
			}
			if err := a.Sessions.SetPendingAction(t.Context(), token, `{"request_id":7}`); err != nil {
				t.Fatal(err)
			}
			got := make([]string, 2)
			var wg sync.WaitGroup
			for i, s := range []*Store{a, b} {
				wg.Go(func() {
					var err error
					if got[i], err = s.Sessions.TakePendingAction(t.Context(), token); err != nil {
						t.Errorf("TakePendingAction: %v", err)
					}
				})
			}
			wg.Wait()
			if (got[0] == "") == (got[1] == "") {
				t.Fatalf("round %d: the processes took %q and %q; want the action taken by exactly one", round, got[0], got[1])
			}
		}
	})
}
