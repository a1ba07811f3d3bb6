package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rolegate/rolegate/internal/audit"
	"github.com/rolegate/rolegate/internal/rolegate"
	"github.com/rolegate/rolegate/internal/testkit"
)

// SearchPeople act in the search's test trails (SearchEvent).
var SearchPeople = []rolegate.Actor{
	{Principal: rolegate.Principal{Person: rolegate.Person{Issuer: "https://idp.example.com", Subject: "u-riley", Email: "riley@example.com", Name: "Riley Requester"}, Roles: []rolegate.PortalRole{rolegate.RoleRequester}}, ClientIP: "10.0.0.7"},
	{Principal: rolegate.Principal{Person: rolegate.Person{Issuer: "https://idp.example.com", Subject: "u-avery", Email: "avery@example.com", Name: "Avery Approver"}, Roles: []rolegate.PortalRole{rolegate.RoleApprover}}, ClientIP: "10.0.0.8"},
	{Principal: rolegate.Principal{Person: rolegate.Person{Issuer: "https://idp.example.com", Subject: "u-blake", Email: "BLAKE@example.com", Name: "Blake Approver"}, Roles: []rolegate.PortalRole{rolegate.RoleApprover}}, ClientIP: "192.168.1.20"},
	{Principal: rolegate.Principal{Person: rolegate.Person{Issuer: "https://other-idp.example.org", Subject: "u-riley", Email: "riley@other.example.org", Name: "Riley Other"}}, ClientIP: "10.0.0.7"},
	rolegate.System("provisioner"),
}

var searchActions = []string{
	rolegate.ActionRequestCreated, rolegate.ActionRequestApproved, rolegate.ActionRequestRejected,
	rolegate.ActionProvisioningSucceeded, rolegate.ActionProvisioningFailed,
	rolegate.ActionSignInSucceeded, rolegate.ActionAccessDenied, "request.approved_extra", // a sibling name: prefixes stop at the dot
}

// SearchWords are the words in their details.
var SearchWords = []string{"quarterly", "access", "review", "billing", "Zoë", "api.groups.read", "incident"}

// fillTrail appends n varied events (SearchEvent) to s's trail, the clock
// moving on and sometimes stepping back, and returns them as stored,
// oldest first.
func fillTrail(t *testing.T, s *Store, clock *testkit.Clock, n int, seed uint64) []rolegate.Event {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 7))
	for range n {
		if rng.IntN(10) == 0 {
			clock.Advance(-time.Duration(rng.IntN(60)) * time.Minute) // NTP stepped the clock back
		} else {
			clock.Advance(time.Duration(rng.IntN(180)) * time.Minute)
		}
		if err := s.Trail.AppendEvent(t.Context(), SearchEvent(rng)); err != nil {
			t.Fatal(err)
		}
	}
	var events []rolegate.Event
	if err := s.Trail.WalkAuditTrail(t.Context(), func(e rolegate.Event) error { events = append(events, e); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(events) != n {
		t.Fatalf("trail has %d events; want %d", len(events), n)
	}
	return events
}

// SearchEvent is an event of the search's test trails, drawn from rng:
// one of a few people (two Rileys of two issuers, a name in capitals, the
// portal itself), actions (with a sibling name a prefix must not reach),
// words in its details (an accent, a dotted permission), a scope in some
// and one of a few requests in most. An engine's own tests of its search
// fill their trails with it too, and search them with SearchFilters.
func SearchEvent(rng *rand.Rand) rolegate.Event {
	actor := SearchPeople[rng.IntN(len(SearchPeople))]
	actor.HTTPRequestID = fmt.Sprintf("req%08x", rng.Uint32())
	comment := SearchWords[rng.IntN(len(SearchWords))] + " " + SearchWords[rng.IntN(len(SearchWords))]
	// The trail is searched whatever an event's action and details (even
	// one this version does not know).
	e := rolegate.NewEvent(actor, rolegate.OutcomeSuccess, rolegate.RequestRejected{})
	e.Action = searchActions[rng.IntN(len(searchActions))]
	d := map[string]any{"comment": comment, "attempt": rng.IntN(3)}
	switch rng.IntN(4) {
	case 0:
		d["scope"] = rolegate.ScopeLabelOrganization
	case 1:
		d["scope"] = "proj_a"
	}
	e.Details, _ = json.Marshal(d)
	if r := rng.IntN(12); r > 0 {
		e.RequestID, e.RoleName = int64(r), fmt.Sprintf("Team Role %d", r)
	}
	return e
}

// Matches is the specification of a filter, written plainly: what every
// engine's search must agree with. (The test trail's requests are not in
// the store, so the Scope filter sees only what the details say.)
func Matches(f rolegate.AuditFilter, e rolegate.Event) bool {
	if f.Actor != "" {
		subject := e.ActorKey[strings.Index(e.ActorKey, "|")+1:]
		in := func(s string) bool { return strings.Contains(strings.ToLower(s), strings.ToLower(f.Actor)) }
		if e.ActorKey != f.Actor && subject != f.Actor && !in(e.ActorEmail) && !in(e.ActorName) {
			return false
		}
	}
	if f.Action != "" {
		if strings.HasSuffix(f.Action, ".") && !strings.HasPrefix(e.Action, f.Action) ||
			!strings.HasSuffix(f.Action, ".") && e.Action != f.Action {
			return false
		}
	}
	if f.RequestID != 0 && e.RequestID != f.RequestID {
		return false
	}
	if !f.From.IsZero() && e.At.Before(f.From) || !f.To.IsZero() && !e.At.Before(f.To) {
		return false
	}
	if f.BeforeSeq != 0 && e.Seq >= f.BeforeSeq {
		return false
	}
	var d struct {
		Attempt int    `json:"attempt"`
		Comment string `json:"comment"`
		Scope   string `json:"scope"`
	}
	_ = json.Unmarshal(e.Details, &d)
	if f.Scope != "" && d.Scope != f.Scope {
		return false
	}
	if f.Text != "" {
		// The text's fields, split as the search does; the details give
		// their values in the order written (attempt, comment, scope).
		values := fmt.Sprint(d.Attempt, " ", d.Comment)
		if d.Scope != "" {
			values += " " + d.Scope
		}
		for _, w := range audit.TextWords(f.Text) {
			found := false
			for _, field := range []string{e.RoleName, values, e.ClientIP, e.HTTPReqID} {
				var tokens []string
				for _, fw := range audit.TextWords(field) {
					tokens = append(tokens, fw.Tokens...)
				}
				found = found || hasPhrase(foldAccents(tokens), foldAccents(w.Tokens), w.Prefix)
			}
			if !found {
				return false
			}
		}
	}
	return true
}

func foldAccents(tokens []string) []string {
	out := make([]string, len(tokens))
	for i, t := range tokens {
		out[i] = strings.ReplaceAll(t, "ë", "e")
	}
	return out
}

// hasPhrase reports whether phrase occurs in tokens, the last token
// possibly as a prefix.
func hasPhrase(tokens, phrase []string, prefix bool) bool {
	for i := 0; i+len(phrase) <= len(tokens); i++ {
		ok := true
		for j, p := range phrase {
			last := j == len(phrase)-1
			if tokens[i+j] != p && !(last && prefix && strings.HasPrefix(tokens[i+j], p)) {
				ok = false
				break
			}
		}
		if ok {
			return true
		}
	}
	return false
}

func seqsOf(events []rolegate.Event) []int64 {
	out := make([]int64, len(events))
	for i, e := range events {
		out[i] = e.Seq
	}
	return out
}

// SearchFilters are the filters the search is checked with on a trail of
// SearchEvent's events: each filter alone, and combinations.
func SearchFilters(events []rolegate.Event) []rolegate.AuditFilter {
	mid := events[len(events)/2].At
	late := events[len(events)*3/4].At
	return []rolegate.AuditFilter{
		{},
		{Actor: "riley"},
		{Actor: "RILEY@EXAMPLE.COM"},
		{Actor: "blake@"},
		{Actor: "u-riley"}, // a subject: both issuers' Rileys
		{Actor: "https://idp.example.com|u-riley"},
		{Actor: "Approver"},
		{Actor: "rolegate provisioner"},
		{Actor: "nobody at all"},
		{Actor: "100%_"},
		{Action: rolegate.ActionRequestApproved},
		{Action: "request."},
		{Action: "auth."},
		{Action: "audit.exported"},
		{RequestID: 3},
		{RequestID: 999},
		{From: mid},
		{To: mid},
		{From: mid, To: late},
		{From: late, To: late.Add(time.Millisecond)},
		{From: events[len(events)-1].At.Add(time.Hour)},
		{To: events[0].At},
		{Scope: "proj_a"},
		{Scope: rolegate.ScopeLabelOrganization},
		{Scope: "proj_nope"},
		{Text: "quarterly"},
		{Text: "QUARTERLY review"},
		{Text: "api.groups.read"},
		{Text: "groups.read"},
		{Text: "read.groups"},
		{Text: "zoe"},
		{Text: "Zoë"},
		{Text: "quart*"},
		{Text: "10.0.0.7"},
		{Text: "192.168"},
		{Text: "team role 7"},
		{Text: "proj_a"},
		{Text: "comment"},   // a key of the details, not a value
		{Text: "review 10"}, // two words, each anywhere: here in two fields
		{Text: "7.1"},       // a phrase never spans two fields (a role name's end, the details' start)
		{Text: "role.7"},    // but is found within one
		{Text: events[10].HTTPReqID},
		{Actor: "riley", Action: "request."},
		{Actor: "Approver", Action: rolegate.ActionRequestApproved, From: mid},
		{Action: "request.", RequestID: 4},
		{RequestID: 5, Text: "billing"},
		{Actor: "avery", Text: "access"},
		{Scope: "proj_a", Text: "access", Action: "request."},
		{Action: rolegate.ActionRequestRejected, Text: "incident", To: late},
		{Actor: "u-riley", Action: "provisioning.", Text: "quart*", From: mid},
	}
}

func testSearch(t *testing.T, e Engine) {
	// Every filter finds, counts and exports what the specification says,
	// newest first for a page and oldest first for an export.
	t.Run("EveryFilterAgreesWithTheSpecification", func(t *testing.T) {
		clock := testkit.NewClock(start)
		s := e.Open(t, clock.Now)
		events := fillTrail(t, s, clock, 240, 1)
		for _, f := range SearchFilters(events) {
			var want []int64
			for _, ev := range events {
				if Matches(f, ev) {
					want = append(want, ev.Seq)
				}
			}
			page := f
			page.Limit = 1000
			got, next, err := s.Trail.SearchEvents(t.Context(), page)
			if err != nil {
				t.Fatalf("SearchEvents(%+v): %v", f, err)
			}
			newest := slices.Clone(want)
			slices.Reverse(newest)
			if !slices.Equal(seqsOf(got), newest) || next != 0 {
				t.Errorf("SearchEvents(%+v) = %v, next %d; want %v", f, seqsOf(got), next, newest)
			}
			var exported []int64
			if err := s.Trail.ExportEvents(t.Context(), f, func(ev rolegate.Event) error { exported = append(exported, ev.Seq); return nil }); err != nil {
				t.Fatalf("ExportEvents(%+v): %v", f, err)
			}
			if !slices.Equal(exported, want) {
				t.Errorf("ExportEvents(%+v) = %v; want %v", f, exported, want)
			}
			if n, more, err := s.Trail.CountEvents(t.Context(), f, 1000); err != nil || n != len(want) || more {
				t.Errorf("CountEvents(%+v, 1000) = %d, %v, %v; want %d, false", f, n, more, err, len(want))
			}
			if len(want) > 3 {
				if n, more, err := s.Trail.CountEvents(t.Context(), f, 3); err != nil || n != 3 || !more {
					t.Errorf("CountEvents(%+v, 3) = %d, %v, %v; want 3, true (of %d)", f, n, more, err, len(want))
				}
			}
		}
	})

	// Following the cursor page by page yields every matching event once,
	// newest first, and the last page says there is no more.
	t.Run("SearchPagesThroughEverythingOnce", func(t *testing.T) {
		clock := testkit.NewClock(start)
		s := e.Open(t, clock.Now)
		events := fillTrail(t, s, clock, 90, 2)
		for _, f := range []rolegate.AuditFilter{{}, {Action: "request."}, {Actor: "riley"}, {Text: "access"}} {
			var want []int64
			for i := len(events) - 1; i >= 0; i-- {
				if Matches(f, events[i]) {
					want = append(want, events[i].Seq)
				}
			}
			for _, limit := range []int{1, 7, len(want) - 1, len(want), len(want) + 1} {
				if limit <= 0 {
					continue
				}
				page := f
				page.Limit = limit
				var got []int64
				for pages := 0; ; pages++ {
					if pages > len(want)+1 {
						t.Fatalf("%+v: paging does not end", page)
					}
					list, next, err := s.Trail.SearchEvents(t.Context(), page)
					if err != nil {
						t.Fatal(err)
					}
					if len(list) > limit {
						t.Fatalf("%+v: page of %d events; want at most %d", page, len(list), limit)
					}
					got = append(got, seqsOf(list)...)
					if next == 0 {
						break
					}
					if next != list[len(list)-1].Seq {
						t.Fatalf("%+v: next = %d; want the last seq shown, %d", page, next, list[len(list)-1].Seq)
					}
					page.BeforeSeq = next
				}
				if !slices.Equal(got, want) {
					t.Errorf("paging %+v by %d = %v; want %v", f, limit, got, want)
				}
			}
		}
		list, next, err := s.Trail.SearchEvents(t.Context(), rolegate.AuditFilter{Limit: 5, BeforeSeq: 6})
		if err != nil || len(list) != 5 || next != 0 {
			t.Errorf("SearchEvents(the 5 oldest, limit 5) = %v, next %d, %v; want 5 events, next 0", seqsOf(list), next, err)
		}
		if list, _, _ := s.Trail.SearchEvents(t.Context(), rolegate.AuditFilter{}); len(list) != 50 {
			t.Errorf("SearchEvents(no limit) = %d events; want a page of 50", len(list))
		}
		actions, err := s.Trail.AuditActions(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		seen := map[string]bool{}
		for _, ev := range events {
			seen[ev.Action] = true
		}
		var want []string
		for a := range seen {
			want = append(want, a)
		}
		slices.Sort(want)
		if !slices.Equal(actions, want) {
			t.Errorf("AuditActions() = %v; want %v", actions, want)
		}
	})

	// An empty trail answers every search with nothing; an export stops at
	// its writer's first error.
	t.Run("EmptyTrailAndAFailingExport", func(t *testing.T) {
		clock := testkit.NewClock(start)
		s := e.Open(t, clock.Now)
		for _, f := range []rolegate.AuditFilter{{}, {Text: "x"}, {RequestID: 1}, {From: start}} {
			list, next, err := s.Trail.SearchEvents(t.Context(), f)
			if err != nil || len(list) != 0 || next != 0 {
				t.Errorf("SearchEvents(%+v) on an empty trail = %v, %d, %v; want nothing", f, list, next, err)
			}
		}
		fillTrail(t, s, clock, 20, 3)
		stop := errors.New("client went away")
		n := 0
		err := s.Trail.ExportEvents(t.Context(), rolegate.AuditFilter{}, func(rolegate.Event) error { n++; return stop })
		if !errors.Is(err, stop) || n != 1 {
			t.Errorf("ExportEvents with a failing writer = %v after %d events; want the writer's error after 1", err, n)
		}
	})
}

// testCountDeclined: a count the store expects to be slow is declined
// (audit.ErrNotCounted) by the same rule on every engine (internal/sqlrows'
// AuditCountCost, from each engine's estimates):
// free text with another common filter on a large trail. The estimate
// scales with the trail, so it takes some 30,000 events to get there (the
// same filters are counted on the small trails above). Appended one by one
// that is minutes under the race detector: an engine without a bulk append
// (SQLite) runs this test without it (.ci/run).
func testCountDeclined(t *testing.T, e Engine) {
	clock := testkit.NewClock(start)
	s := e.Open(t, clock.Now)
	if s.AppendEvents == nil && raceDetector {
		t.Skip("30,000 appends one by one: run without -race (.ci/run does)")
	}
	const n = 33_000
	busy := SearchPeople[0]    // 3 events in 10
	seldom := SearchPeople[1]  // 1 in 100
	others := SearchPeople[2:] // the rest
	events := make([]rolegate.Event, n)
	for i := range events {
		actor := others[i%len(others)]
		switch {
		case i%10 < 3:
			actor = busy
		case i%100 == 5:
			actor = seldom
		}
		events[i] = rolegate.NewEvent(actor, rolegate.OutcomeSuccess, rolegate.RequestRejected{})
		events[i].Details = []byte(`{"comment":"billing review"}`) // every event holds the word
	}
	if s.AppendEvents != nil {
		s.AppendEvents(t, events)
	} else {
		var wg sync.WaitGroup
		var next atomic.Int64
		errs := make(chan error, 8)
		for range 8 {
			wg.Go(func() {
				for i := next.Add(1) - 1; i < n; i = next.Add(1) - 1 {
					if err := s.Trail.AppendEvent(context.Background(), events[i]); err != nil {
						errs <- err
						return
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
	}
	const most = 10000 // as the Audit page counts
	for _, c := range []struct {
		f        rolegate.AuditFilter
		declined bool
		want     int
	}{
		{rolegate.AuditFilter{Actor: busy.Key(), Text: "billing"}, true, 0},
		{rolegate.AuditFilter{Actor: busy.Key()}, false, 9900},
		{rolegate.AuditFilter{Text: "billing"}, false, most},
		{rolegate.AuditFilter{Actor: seldom.Key(), Text: "billing"}, false, 330},
		{rolegate.AuditFilter{}, false, most},
	} {
		got, more, err := s.Trail.CountEvents(t.Context(), c.f, most)
		switch {
		case c.declined && !errors.Is(err, audit.ErrNotCounted):
			t.Errorf("CountEvents(%+v) = %d, %v, %v; want audit.ErrNotCounted", c.f, got, more, err)
		case !c.declined && (err != nil || got != c.want || more != (c.want == most)):
			t.Errorf("CountEvents(%+v) = %d, %v, %v; want %d", c.f, got, more, err, c.want)
		}
		// Declined or not, the events themselves are searched.
		if page, _, err := s.Trail.SearchEvents(t.Context(), c.f); err != nil || len(page) != 50 {
			t.Errorf("SearchEvents(%+v) = %d events, %v; want a page of 50", c.f, len(page), err)
		}
	}
	if got := verifyTrail(t, s); got != n { // chained and a tree, however appended
		t.Fatalf("the trail holds %d events; want %d", got, n)
	}
}
