package sqlite

import (
	"context"
	"database/sql"
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

// auditTestPeople and auditTestWords are the search's test people and
// words (storetest's), for this package's other test trails.
var auditTestPeople, auditTestWords = storetest.SearchPeople, storetest.SearchWords

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

// fillAuditTrail appends n varied events (storetest.SearchEvent) through
// the real append path, in transactions of a few events that share a time
// (ties), with the clock sometimes stepping back. It returns the events as
// stored, oldest first.
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
				e := storetest.SearchEvent(rng)
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
	if p.f.Scope != "" {
		walks = append(walks, walkScope)
	}
	return walks
}

// walkSeqs runs p's query as it stands (its walk, its probe), every row,
// and returns the seq of each event found, in the order found.
func walkSeqs(t *testing.T, tx *sql.Tx, p *auditPlan, newestFirst bool) []int64 {
	t.Helper()
	q, args := p.sql(newestFirst, 0)
	rows, err := tx.QueryContext(context.Background(), q, args...)
	if err != nil {
		t.Fatalf("walk %d (probe %v) of %+v: %v\n%s", p.walk, p.probe, p.f, err, q)
	}
	defer rows.Close()
	var seqs []int64
	for rows.Next() {
		e, err := scanEvent(rows)
		if err != nil {
			t.Fatal(err)
		}
		seqs = append(seqs, e.Seq)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return seqs
}

// TestEveryWalkAgreesWithTheSpecification runs every filter through every
// walk the planner could choose, newest first with a limit and oldest
// first without, and compares with the plain specification: the planner
// may choose any of them and still be right.
func TestEveryWalkAgreesWithTheSpecification(t *testing.T) {
	db := newAuditTestDB(t)
	events := fillAuditTrail(t, db, 240, 1)
	ctx := context.Background()
	for _, f := range storetest.SearchFilters(events) {
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
			got := walkSeqs(t, tx, p, v.newestFirst)
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
	for _, f := range storetest.SearchFilters(events) {
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

// TestAuditActionCountsKeptByTheTrigger: the planner's counts of each
// action's events (audit_actions) are kept by the trigger in the append's
// transaction. (AuditActions, which lists them, is the conformance
// suite's, as is the trail's time never going backwards.)
func TestAuditActionCountsKeptByTheTrigger(t *testing.T) {
	db := newAuditTestDB(t)
	events := fillAuditTrail(t, db, 80, 4)
	counts := map[string]int64{}
	for _, e := range events {
		counts[e.Action]++
	}
	var tracked int
	if err := db.readPool.QueryRow(`SELECT count(*) FROM audit_actions`).Scan(&tracked); err != nil || tracked != len(counts) {
		t.Errorf("audit_actions holds %d actions, %v; want %d", tracked, err, len(counts))
	}
	for a, n := range counts {
		var got int64
		if err := db.readPool.QueryRow(`SELECT events FROM audit_actions WHERE action = ?`, a).Scan(&got); err != nil || got != n {
			t.Errorf("audit_actions[%s] = %d, %v; want %d", a, got, err, n)
		}
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

// An event is about a scope when its request is of that scope, though its
// details do not say so (requests filed before project roles): the Scope
// filter finds it by every walk, as well as the events whose details name
// the scope.
func TestScopeFindsEventsByTheirRequest(t *testing.T) {
	db := newAuditTestDB(t)
	ctx := context.Background()
	events := fillAuditTrail(t, db, 240, 3)
	requestScope := map[int64]string{1: rolegate.ScopeOrganization, 2: "proj_b"}
	for id, scope := range requestScope {
		if _, err := db.write.ExecContext(ctx, `INSERT INTO requests (id, role_name, role_name_key, permissions, justification,
			payload, payload_hash, status, requester_key, required_approvals, created_at, updated_at, expires_at, scope)
			VALUES (?, ?, ?, '[]', 'Old request.', x'7b7d', '', 'rejected', 'k', 1, 0, 0, 0, ?)`,
			id, fmt.Sprint("Team Role ", id), fmt.Sprint("team role ", id), scope); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []rolegate.AuditFilter{
		{Scope: rolegate.ScopeLabelOrganization}, {Scope: "proj_b"}, {Scope: "proj_a"}, {Scope: "proj_b", Action: "request."},
	} {
		named, requested := f.Scope, f.Scope
		if named == rolegate.ScopeLabelOrganization {
			requested = rolegate.ScopeOrganization
		}
		var want []int64
		for _, e := range events {
			var d struct {
				Scope *string `json:"scope"`
			}
			_ = json.Unmarshal(e.Details, &d)
			scope, ok := requestScope[e.RequestID]
			if (d.Scope != nil && *d.Scope == named || ok && scope == requested) && storetest.Matches(rolegate.AuditFilter{Action: f.Action}, e) {
				want = append(want, e.Seq)
			}
		}
		if len(want) == 0 {
			t.Fatalf("the test trail has no event for %+v", f)
		}
		tx, err := db.readPool.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		p, err := planAuditQuery(ctx, tx, f, 50)
		if err != nil {
			t.Fatal(err)
		}
		for _, walk := range allWalks(p) {
			p.walk = walk
			if got := walkSeqs(t, tx, p, false); !slices.Equal(got, want) {
				t.Errorf("walk %d of %+v = %v; want %v", walk, f, got, want)
			}
		}
		tx.Rollback()
	}
}
