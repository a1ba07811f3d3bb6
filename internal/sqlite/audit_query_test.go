package sqlite

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/rolegate/rolegate/internal/rolegate"
	"github.com/rolegate/rolegate/internal/sqlrows"
	"github.com/rolegate/rolegate/internal/storetest"
)

// The search's behaviour through the Trail's methods (every filter, the
// count, paging, export) is in the conformance suite (internal/storetest's
// search.go); here, the planner's own walks, each of which must agree.

// auditTestPeople act in the test trails.
var auditTestPeople = []rolegate.Actor{
	{Principal: rolegate.Principal{Person: rolegate.Person{Issuer: "https://idp.example.com", Subject: "u-riley", Email: "riley@example.com", Name: "Riley Requester"}, Roles: []rolegate.PortalRole{rolegate.RoleRequester}}, ClientIP: "10.0.0.7"},
	{Principal: rolegate.Principal{Person: rolegate.Person{Issuer: "https://idp.example.com", Subject: "u-avery", Email: "avery@example.com", Name: "Avery Approver"}, Roles: []rolegate.PortalRole{rolegate.RoleApprover}}, ClientIP: "10.0.0.8"},
	{Principal: rolegate.Principal{Person: rolegate.Person{Issuer: "https://idp.example.com", Subject: "u-blake", Email: "BLAKE@example.com", Name: "Blake Approver"}, Roles: []rolegate.PortalRole{rolegate.RoleApprover}}, ClientIP: "192.168.1.20"},
	{Principal: rolegate.Principal{Person: rolegate.Person{Issuer: "https://other-idp.example.org", Subject: "u-riley", Email: "riley@other.example.org", Name: "Riley Other"}}, ClientIP: "10.0.0.7"},
	rolegate.System("provisioner"),
}

var auditTestActions = []string{
	rolegate.ActionRequestCreated, rolegate.ActionRequestApproved, rolegate.ActionRequestRejected,
	rolegate.ActionProvisioningSucceeded, rolegate.ActionProvisioningFailed,
	rolegate.ActionSignInSucceeded, rolegate.ActionAccessDenied, "request.approved_extra", // a sibling name: prefixes stop at the dot
}

var auditTestWords = []string{"quarterly", "access", "review", "billing", "Zoë", "api.groups.read", "incident"}

// newAuditTestDB opens a fresh database in a temporary folder.
func newAuditTestDB(t *testing.T) *DB {
	t.Helper()
	db, err := Open(context.Background(), filepath.Join(t.TempDir(), "rolegate.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// fillAuditTrail appends n varied events through the real append path, in
// transactions of a few events that share a time (ties), with the clock
// sometimes stepping back. It returns the events as stored, oldest first.
func fillAuditTrail(t *testing.T, db *DB, n int, seed uint64) []rolegate.Event {
	t.Helper()
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(seed, 7))
	now := time.Date(2025, 1, 6, 9, 0, 0, 0, time.UTC)
	db.SetClock(func() time.Time { return now })
	for added := 0; added < n; {
		switch rng.IntN(10) {
		case 0:
			now = now.Add(-time.Duration(rng.IntN(60)) * time.Minute) // NTP stepped the clock back
		default:
			now = now.Add(time.Duration(rng.IntN(180)) * time.Minute)
		}
		batch := min(1+rng.IntN(4), n-added)
		err := db.update(ctx, func(tx *Tx) error {
			for range batch {
				actor := auditTestPeople[rng.IntN(len(auditTestPeople))]
				actor.HTTPRequestID = fmt.Sprintf("req%08x", rng.Uint32())
				comment := auditTestWords[rng.IntN(len(auditTestWords))] + " " + auditTestWords[rng.IntN(len(auditTestWords))]
				// The trail is searched whatever an event's action and
				// details (even one this version does not know).
				e := rolegate.NewEvent(actor, rolegate.OutcomeSuccess, rolegate.RequestRejected{})
				e.Action = auditTestActions[rng.IntN(len(auditTestActions))]
				e.Details, _ = json.Marshal(map[string]any{"comment": comment, "attempt": rng.IntN(3)})
				if r := rng.IntN(12); r > 0 {
					e.RequestID, e.RoleName = int64(r), fmt.Sprintf("Team Role %d", r)
				}
				if err := tx.appendEvent(ctx, &e); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		added += batch
	}
	var events []rolegate.Event
	if err := NewTrail(db).WalkAuditTrail(ctx, func(e rolegate.Event) error { events = append(events, e); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(events) != n {
		t.Fatalf("trail has %d events; want %d", len(events), n)
	}
	return events
}

func seqs(events []rolegate.Event) []int64 {
	out := make([]int64, len(events))
	for i, e := range events {
		out[i] = e.Seq
	}
	return out
}

// auditFilters are the filters every plan is checked with: each filter
// alone, and combinations.
func auditFilters(events []rolegate.Event) []rolegate.AuditFilter {
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
		{Text: "comment"}, // a key of the details, not a value
		{Text: events[10].HTTPReqID},
		{Actor: "riley", Action: "request."},
		{Actor: "Approver", Action: rolegate.ActionRequestApproved, From: mid},
		{Action: "request.", RequestID: 4},
		{RequestID: 5, Text: "billing"},
		{Actor: "avery", Text: "access"},
		{Action: rolegate.ActionRequestRejected, Text: "incident", To: late},
		{Actor: "u-riley", Action: "provisioning.", Text: "quart*", From: mid},
	}
}

// allWalks lists the walks possible for a plan.
func allWalks(p *auditPlan) []auditWalk {
	walks := []auditWalk{walkSeq}
	if p.f.RequestID != 0 {
		walks = append(walks, walkRequest)
	}
	if len(p.actions) > 0 {
		walks = append(walks, walkAction)
	}
	if len(p.actorKeys) > 0 {
		walks = append(walks, walkActor)
	}
	if p.match != "" {
		walks = append(walks, walkText)
	}
	return walks
}

// TestEveryWalkAgreesWithTheSpecification runs every filter through every
// walk the planner could choose, newest first with a limit and oldest
// first without, and compares with the plain specification: the planner
// may choose any of them and still be right.
func TestEveryWalkAgreesWithTheSpecification(t *testing.T) {
	db := newAuditTestDB(t)
	events := fillAuditTrail(t, db, 240, 1)
	ctx := context.Background()
	for _, f := range auditFilters(events) {
		var want []int64
		for _, e := range events {
			if storetest.Matches(f, e) {
				want = append(want, e.Seq)
			}
		}
		tx, err := db.readPool.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		p, err := planAuditQuery(ctx, tx, f, 0)
		if err != nil {
			t.Fatalf("plan %+v: %v", f, err)
		}
		if p.empty {
			if len(want) > 0 {
				t.Errorf("plan %+v: empty; want %d events", f, len(want))
			}
			tx.Rollback()
			continue
		}
		type variant struct {
			walk        auditWalk
			probe       bool
			newestFirst bool
		}
		var variants []variant
		for _, w := range allWalks(p) {
			variants = append(variants, variant{w, false, true}, variant{w, false, false})
			// Checking the text row by row is slow under the race detector:
			// only on the short walks.
			if p.match != "" && (w == walkRequest || w == walkActor && f.Actor != "Approver") {
				variants = append(variants, variant{w, true, true})
			}
		}
		for _, v := range variants {
			p.walk, p.probe = v.walk, v.probe
			q, args := p.sql(v.newestFirst, 0)
			rows, err := tx.QueryContext(ctx, q, args...)
			if err != nil {
				t.Fatalf("walk %+v of %+v: %v\n%s", v, f, err, q)
			}
			var got []int64
			for rows.Next() {
				e, err := scanEvent(rows)
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, e.Seq)
			}
			rows.Close()
			wantOrdered := slices.Clone(want)
			if v.newestFirst {
				slices.Reverse(wantOrdered)
			}
			if !slices.Equal(got, wantOrdered) {
				t.Errorf("walk %+v of %+v = %v; want %v", v, f, got, wantOrdered)
			}
		}
		tx.Rollback()
	}
}

// TestEveryCountWalkAgreesWithTheSpecification: the count's query, down
// every walk the planner could choose (without order, several runs of an
// index at once, the time range left to seq), counts what the plain
// specification does, up to its limit.
func TestEveryCountWalkAgreesWithTheSpecification(t *testing.T) {
	db := newAuditTestDB(t)
	events := fillAuditTrail(t, db, 240, 1)
	ctx := context.Background()
	for _, f := range auditFilters(events) {
		want := 0
		for _, e := range events {
			if storetest.Matches(f, e) {
				want++
			}
		}
		tx, err := db.readPool.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		p, err := planAuditQuery(ctx, tx, f, 0)
		if err != nil {
			t.Fatalf("plan %+v: %v", f, err)
		}
		if p.empty {
			if want > 0 {
				t.Errorf("plan %+v: empty; want %d events", f, want)
			}
			tx.Rollback()
			continue
		}
		if p.rangeOnly() && int(p.hi-p.lo) != want {
			t.Errorf("the seq range of %+v holds %d; want %d events", f, p.hi-p.lo, want)
		}
		for _, w := range allWalks(p) {
			for _, probe := range []bool{false, true} {
				if probe && (p.match == "" || w == walkText) {
					continue
				}
				p.walk, p.probe = w, probe
				for _, limit := range []int{1000, 3} {
					q, args := p.countSQL(limit)
					var n int
					if err := tx.QueryRowContext(ctx, q, args...).Scan(&n); err != nil {
						t.Fatalf("count walk %d (probe %v) of %+v: %v\n%s", w, probe, f, err, q)
					}
					if n != min(want, limit) {
						t.Errorf("count walk %d (probe %v, limit %d) of %+v = %d; want %d", w, probe, limit, f, n, min(want, limit))
					}
				}
			}
		}
		tx.Rollback()
	}
}

func TestAuditActionsAndCounts(t *testing.T) {
	db := newAuditTestDB(t)
	events := fillAuditTrail(t, db, 80, 4)
	actions, err := NewTrail(db).AuditActions(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	counts := map[string]int64{}
	for _, e := range events {
		counts[e.Action]++
	}
	var want []string
	for a := range counts {
		want = append(want, a)
	}
	slices.Sort(want)
	if !slices.Equal(actions, want) {
		t.Errorf("AuditActions() = %v; want %v", actions, want)
	}
	// The planner's counts are kept by the trigger in the append's transaction.
	for a, n := range counts {
		var got int64
		if err := db.readPool.QueryRow(`SELECT events FROM audit_actions WHERE action = ?`, a).Scan(&got); err != nil || got != n {
			t.Errorf("audit_actions[%s] = %d, %v; want %d", a, got, err, n)
		}
	}
}

// TestTrailTimeNeverGoesBackwards: a clock stepped back gives the event
// the previous event's time, so that seq order is time order.
func TestTrailTimeNeverGoesBackwards(t *testing.T) {
	db := newAuditTestDB(t)
	ctx := context.Background()
	t0 := time.Date(2025, 5, 1, 12, 0, 0, 0, time.UTC)
	for _, at := range []time.Time{t0, t0.Add(-time.Minute), t0.Add(time.Minute)} {
		db.SetClock(func() time.Time { return at })
		if err := NewTrail(db).AppendEvent(ctx, rolegate.NewEvent(rolegate.System("test"), rolegate.OutcomeSuccess, rolegate.CatalogRefreshed{})); err != nil {
			t.Fatal(err)
		}
	}
	list, _, err := NewTrail(db).SearchEvents(ctx, rolegate.AuditFilter{})
	if err != nil {
		t.Fatal(err)
	}
	got := []time.Time{list[2].At, list[1].At, list[0].At}
	want := []time.Time{t0, t0, t0.Add(time.Minute)}
	if !slices.EqualFunc(got, want, time.Time.Equal) {
		t.Errorf("event times = %v; want %v", got, want)
	}
}

// TestChooseWalk: the planner walks the index that reaches a page after
// the fewest rows. The figures are a trail of a million events.
func TestChooseWalk(t *testing.T) {
	const all = 1_000_000
	cases := []struct {
		name      string
		cands     []candidate
		inRange   float64
		page      int
		prefix    bool
		wantWalk  auditWalk
		wantProbe bool
	}{
		{"no filter", nil, all, 51, false, walkSeq, false},
		{"a request", []candidate{{walk: walkRequest, inRange: 6}, {walk: walkAction, inRange: 160_000}}, all, 51, false, walkRequest, false},
		{"a rare action", []candidate{{walk: walkAction, inRange: 300}}, all, 51, false, walkAction, false},
		{"a common action: its index is in seq order too", []candidate{{walk: walkAction, inRange: 500_000}}, all, 51, false, walkAction, false},
		{"a family of rare actions: read them all and sort", []candidate{{walk: walkAction, inRange: 600, multi: true}}, all, 51, false, walkAction, false},
		{"a family of common actions: the table", []candidate{{walk: walkAction, inRange: 490_000, multi: true}}, all, 51, false, walkSeq, false},
		{"one person among common actions", []candidate{{walk: walkAction, inRange: 160_000}, {walk: walkActor, inRange: 150}}, all, 51, false, walkActor, false},
		{"a rare word", []candidate{{walk: walkText, inRange: 20}}, all, 51, false, walkText, false},
		{"a common word and one approver", []candidate{{walk: walkText, inRange: 137_000}, {walk: walkActor, inRange: 9_500}}, all, 51, false, walkText, false},
		{"a common word and one person: check their rows one by one", []candidate{{walk: walkText, inRange: 137_000}, {walk: walkActor, inRange: 150}}, all, 51, false, walkActor, true},
		{"a word in a short range: gather it first", []candidate{{walk: walkText, inRange: 40}, {walk: walkRequest, inRange: 6}}, 300, 51, false, walkRequest, false},
		{"a prefix always walks the full-text index", []candidate{{walk: walkText, inRange: all}, {walk: walkRequest, inRange: 6}}, all, 51, true, walkText, false},
		{"an export never sorts a family", []candidate{{walk: walkAction, inRange: 600, multi: true}}, all, 0, false, walkSeq, false},
		{"an export of one action walks its index", []candidate{{walk: walkAction, inRange: 160_000}}, all, 0, false, walkAction, false},
	}
	countCases := []struct {
		name     string
		cands    []candidate
		prefix   bool
		wantWalk auditWalk
		counted  bool // expected to cost at most sqlrows.MaxAuditCountCost
	}{
		{"no filter", nil, false, walkSeq, true},
		// A count needs no order: a family of actions (or several people)
		// is counted down its index, however common, never by the table.
		{"a family of common actions", []candidate{{walk: walkAction, inRange: 490_000, multi: true}}, false, walkAction, true},
		{"a family of rare actions", []candidate{{walk: walkAction, inRange: 13_000, multi: true}}, false, walkAction, true},
		{"many people", []candidate{{walk: walkActor, inRange: 40_000, multi: true}}, false, walkActor, true},
		{"a common word", []candidate{{walk: walkText, inRange: 137_000}}, false, walkText, true},
		{"a prefix", []candidate{{walk: walkText, inRange: all}}, true, walkText, true},
		{"a rare action and a rare word", []candidate{{walk: walkAction, inRange: 300}, {walk: walkText, inRange: 20}}, false, walkText, true},
		// Both common: intersecting them reads far more than a page may
		// wait for (measured: 80-140 ms), so the count is declined.
		{"a common word and one approver", []candidate{{walk: walkText, inRange: 137_000}, {walk: walkActor, inRange: 9_500}}, false, walkActor, false},
		{"a common word and a common action", []candidate{{walk: walkText, inRange: 137_000}, {walk: walkAction, inRange: 15_000}}, false, walkAction, false},
		{"a prefix and one person", []candidate{{walk: walkText, inRange: all}, {walk: walkActor, inRange: 150}}, true, walkText, false},
	}
	for _, c := range countCases {
		walk, _ := chooseCountWalk(c.cands, all, 10_001, c.prefix)
		cost := countCost(c.cands, all, 10_001, c.prefix)
		if walk != c.wantWalk || (cost <= sqlrows.MaxAuditCountCost) != c.counted {
			t.Errorf("chooseCountWalk(%s) = walk %d at cost %.0f; want walk %d, counted %v (at most %d)", c.name, walk, cost, c.wantWalk, c.counted, sqlrows.MaxAuditCountCost)
		}
	}
	for _, c := range cases {
		walk, probe := chooseWalk(c.cands, c.inRange, c.page, c.prefix)
		if walk != c.wantWalk || probe != c.wantProbe {
			t.Errorf("chooseWalk(%s) = walk %d, probe %v; want walk %d, probe %v", c.name, walk, probe, c.wantWalk, c.wantProbe)
		}
	}
}
