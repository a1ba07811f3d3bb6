package sqlite

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/rolegate/rolegate/internal/audit"
	"github.com/rolegate/rolegate/internal/rolegate"
	"github.com/rolegate/rolegate/internal/testkit"
)

// Group commit (groupcommit.go): concurrent writes share one transaction
// and one commit, each in a savepoint of its own.

// member is one write of a batch in these tests: fn runs in the write
// transaction under ctx (context.Background when nil).
type step struct {
	ctx context.Context
	fn  func(tx *Tx) error
}

// outcome is what a member's caller got: update's error, or the value it
// panicked with, and the batch fn ran in (0: fn did not run).
type outcome struct {
	err      error
	panicked any
	batch    int64
	returned chan struct{} // closed when update returned or panicked
}

// startBatch runs steps as members of one batch, in their order: the first
// holds its turn until the others are queued behind it, so that they join
// its batch. It returns at once; wait for outs[i].returned.
func startBatch(t *testing.T, db *DB, steps ...step) []*outcome {
	t.Helper()
	outs := make([]*outcome, len(steps))
	for i := range outs {
		outs[i] = &outcome{returned: make(chan struct{})}
	}
	run := func(i int, fn func(tx *Tx) error) {
		defer close(outs[i].returned)
		defer func() { outs[i].panicked = recover() }()
		ctx := steps[i].ctx
		if ctx == nil {
			ctx = context.Background()
		}
		outs[i].err = db.update(ctx, func(tx *Tx) error {
			outs[i].batch = tx.batch
			return fn(tx)
		})
	}
	holding, release := make(chan struct{}), make(chan struct{})
	go run(0, func(tx *Tx) error {
		close(holding)
		<-release
		return steps[0].fn(tx)
	})
	<-holding
	for i := 1; i < len(steps); i++ {
		go run(i, steps[i].fn)
		waitFor(t, func() bool { return len(db.writes) == i }, "member %d queued", i)
	}
	close(release)
	return outs
}

// waitFor polls cond until it holds (a guard against a hang, not a
// measurement: the bound is generous).
func waitFor(t *testing.T, cond func() bool, format string, args ...any) {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("waited a minute for: "+format, args...)
		}
		time.Sleep(time.Millisecond)
	}
}

func wait(outs ...*outcome) {
	for _, o := range outs {
		<-o.returned
	}
}

// mark appends an audit event whose actor is named name: a write whose
// presence the tests can look for.
func mark(tx *Tx, name string) error {
	e := rolegate.NewEvent(rolegate.Actor{Principal: rolegate.Principal{Person: rolegate.Person{
		Issuer: "https://idp.example.com", Subject: name, Email: name + "@example.com", Name: name}}}, rolegate.OutcomeSuccess, rolegate.SignOut{})
	return tx.appendEvent(context.Background(), &e)
}

func marking(name string) func(tx *Tx) error {
	return func(tx *Tx) error { return mark(tx, name) }
}

// checkedTrail walks the whole trail, checks that it is whole (seq 1, 2,
// …; each event's hash its own and its prev_hash the previous event's; the
// tree's root tlog's over them) and returns the actors' names in seq order.
func checkedTrail(t *testing.T, db *DB) []string {
	t.Helper()
	var events []rolegate.Event
	if err := NewTrail(db).WalkAuditTrail(context.Background(), func(e rolegate.Event) error {
		events = append(events, e)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	prev, names := audit.GenesisHash, []string{}
	for i, e := range events {
		if h, err := audit.Hash(e); err != nil || e.Seq != int64(i+1) || e.PrevHash != prev || h != e.Hash {
			t.Fatalf("event %d of the trail: seq %d, prev_hash %.12s (want %.12s), hash %.12s (computed %.12s, %v): the chain is broken",
				i+1, e.Seq, e.PrevHash, prev, e.Hash, h, err)
		}
		prev = e.Hash
		names = append(names, e.ActorName)
	}
	if n := int64(len(events)); n > 0 {
		root, err := NewTrail(db).AuditTreeRoot(context.Background(), n)
		ref := referenceTree(t, events)
		if want, _ := tlog.TreeHash(n, ref); err != nil || root != want {
			t.Fatalf("the tree's root over %d events = %s, %v; want %s", n, root, err, want)
		}
	}
	return names
}

// A member that fails rolls back its own writes and nothing else: the
// members before and after it in the batch commit, and the trail's chain
// runs from one committed event to the next as if it had never been.
func TestGroupCommitFailingMemberRollsBackOnlyItself(t *testing.T) {
	db := newAuditTestDB(t)
	reqs := NewRequests(db, rolegate.RequestsConfig{})
	requester := auditTestPeople[0]
	catalog := rolegate.NewCatalog([]rolegate.Permission{{Name: "api.groups.read", Area: "Groups"}})
	input := rolegate.RequestInput{RoleName: "Same Name", Permissions: []string{"api.groups.read"},
		Description: "Read groups.", Justification: "The dashboards read groups."}
	create := func(tx *Tx) error {
		_, err := reqs.createIn(context.Background(), tx, requester, input, catalog)
		return err
	}
	failure := errors.New("the member's own failure")

	outs := startBatch(t, db,
		step{fn: marking("a")},
		step{fn: func(tx *Tx) error {
			if err := mark(tx, "b"); err != nil {
				return err
			}
			if _, err := tx.ExecContext(context.Background(), `UPDATE sessions SET last_seen_at = 1`); err != nil {
				return err
			}
			return failure
		}},
		step{fn: marking("c")},
		step{fn: create},
		step{fn: create}, // the name was taken by the member before, in the same batch
		step{fn: marking("d")},
	)
	wait(outs...)
	for i, want := range []error{nil, failure, nil, nil, nil, nil} {
		if i == 4 {
			continue
		}
		if !errors.Is(outs[i].err, want) || outs[i].panicked != nil {
			t.Errorf("member %d: %v, panicked %v; want %v", i, outs[i].err, outs[i].panicked, want)
		}
	}
	if rolegate.ErrorCode(outs[4].err) != rolegate.EINVALID {
		t.Errorf("the second request for the same name: %v; want it refused as invalid (the name is taken)", outs[4].err)
	}
	for i, o := range outs {
		if o.batch != outs[0].batch {
			t.Fatalf("member %d ran in batch %d, the first in %d: the test did not make one batch", i, o.batch, outs[0].batch)
		}
	}
	names := checkedTrail(t, db)
	if got, want := fmt.Sprint(names), fmt.Sprintf("[a c %s d]", requester.DisplayName()); got != want {
		t.Errorf("the trail's actors: %s; want %s (b's event rolled back with b)", got, want)
	}
	var n int
	if err := testkit.OpenReadOnly(t, db.Path()).QueryRow(`SELECT count(*) FROM requests WHERE role_name = 'Same Name'`).Scan(&n); err != nil || n != 1 {
		t.Errorf("requests named Same Name: %d, %v; want 1", n, err)
	}
}

// No member is told "done" before the batch's commit has returned: while a
// later member of its batch still runs, a member's update has not returned
// and another connection does not see its writes; once told, the writes
// are in the file, there after it is closed and opened again.
func TestGroupCommitToldDoneOnlyWhenDurable(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rolegate.db")
	db, err := Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	other := testkit.OpenReadOnly(t, path)
	seen := func() int {
		var n int
		if err := other.QueryRow(`SELECT count(*) FROM audit_events`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	running, finish := make(chan struct{}), make(chan struct{})
	outs := startBatch(t, db,
		step{fn: marking("a")},
		step{fn: func(tx *Tx) error {
			if err := mark(tx, "b"); err != nil {
				return err
			}
			close(running)
			<-finish
			return nil
		}},
	)
	<-running
	select {
	case <-outs[0].returned:
		t.Fatalf("a was told %v while b, in its batch, had not finished: before the commit", outs[0].err)
	default:
	}
	if n := seen(); n != 0 {
		t.Fatalf("another connection sees %d events before the batch committed", n)
	}
	close(finish)
	wait(outs...)
	if outs[0].err != nil || outs[1].err != nil || outs[0].batch != outs[1].batch {
		t.Fatalf("a: %v, b: %v, batches %d and %d", outs[0].err, outs[1].err, outs[0].batch, outs[1].batch)
	}
	if n := seen(); n != 2 {
		t.Fatalf("told done, but another connection sees %d events; want 2", n)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	again, err := Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	if got := fmt.Sprint(checkedTrail(t, again)); got != "[a b]" {
		t.Errorf("after reopening, the trail's actors are %s; want [a b]", got)
	}
}

// The audit trail's order is the order in which writes committed: a write
// told "done" before another began has the smaller seq, and the chain and
// the tree hold over every event, with many writers at once.
func TestGroupCommitAuditOrderIsCommitOrder(t *testing.T) {
	db := newAuditTestDB(t)
	const writers, each = 12, 20
	type stamp struct{ began, done, seq int64 }
	var clock atomic.Int64
	stamps := make([][]stamp, writers)
	batches := map[int64]int{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				var s stamp
				err := db.update(context.Background(), func(tx *Tx) error {
					s.began = clock.Add(1)
					e := rolegate.NewEvent(auditTestPeople[w%len(auditTestPeople)], rolegate.OutcomeSuccess,
						rolegate.RequestCreated{RequiredApprovals: i, Justification: fmt.Sprintf("writer %d, write %d", w, i)})
					if err := tx.appendEvent(context.Background(), &e); err != nil {
						return err
					}
					s.seq = e.Seq
					mu.Lock()
					batches[tx.batch]++
					mu.Unlock()
					return nil
				})
				s.done = clock.Add(1)
				if err != nil {
					t.Error(err)
					return
				}
				stamps[w] = append(stamps[w], s)
			}
		}()
	}
	wg.Wait()
	var all []stamp
	for _, s := range stamps {
		all = append(all, s...)
	}
	for _, a := range all {
		for _, b := range all {
			if a.done < b.began && a.seq >= b.seq {
				t.Fatalf("a write told done (at %d) before another began (at %d) has seq %d, the later one %d", a.done, b.began, a.seq, b.seq)
			}
		}
	}
	if n := len(checkedTrail(t, db)); n != writers*each {
		t.Fatalf("the trail holds %d events; want %d", n, writers*each)
	}
	t.Logf("%d writes in %d batches", writers*each, len(batches))
}

// A member that panics rolls back its own writes; the panic goes on in its
// own caller, with its own value; the others in its batch commit, and the
// writer goes on to the next batch.
func TestGroupCommitPanicStaysWithItsMember(t *testing.T) {
	db := newAuditTestDB(t)
	outs := startBatch(t, db,
		step{fn: marking("a")},
		step{fn: func(tx *Tx) error {
			if err := mark(tx, "b"); err != nil {
				return err
			}
			// A statement still open when the panic unwinds, closed by
			// its defer as the code does.
			rows, err := tx.QueryContext(context.Background(), `SELECT seq FROM audit_events`)
			if err != nil {
				return err
			}
			defer rows.Close()
			panic("b's own panic")
		}},
		step{fn: marking("c")},
	)
	wait(outs...)
	if outs[0].err != nil || outs[2].err != nil || outs[0].panicked != nil || outs[2].panicked != nil {
		t.Fatalf("a: %v (panicked %v); c: %v (panicked %v); want both committed", outs[0].err, outs[0].panicked, outs[2].err, outs[2].panicked)
	}
	if outs[1].panicked != "b's own panic" {
		t.Fatalf("b's caller recovered %#v (error %v); want b's own panic value", outs[1].panicked, outs[1].err)
	}
	// Alone in its batch, too.
	alone := startBatch(t, db, step{fn: func(tx *Tx) error {
		if err := mark(tx, "e"); err != nil {
			return err
		}
		panic(errors.New("e's panic"))
	}})
	wait(alone...)
	if err, ok := alone[0].panicked.(error); !ok || err.Error() != "e's panic" {
		t.Fatalf("e's caller recovered %#v; want e's error", alone[0].panicked)
	}
	if err := db.update(context.Background(), marking("f")); err != nil {
		t.Fatalf("a write after the panics: %v", err)
	}
	if got := fmt.Sprint(checkedTrail(t, db)); got != "[a c f]" {
		t.Errorf("the trail's actors: %s; want [a c f]", got)
	}
}

// A slow member holds its batch, and nothing else: members queued behind
// it wait; one whose caller gives up while queued leaves the queue at once,
// its fn never run; one whose context ends while its fn runs is rolled
// back and told so. Nothing deadlocks.
func TestGroupCommitSlowMemberAndCallersGivingUp(t *testing.T) {
	db := newAuditTestDB(t)
	slow, finish := make(chan struct{}), make(chan struct{})
	queuedCtx, giveUp := context.WithCancel(context.Background())
	runningCtx, endRunning := context.WithCancel(context.Background())
	var queuedRan atomic.Bool
	outs := startBatch(t, db,
		step{fn: func(tx *Tx) error {
			close(slow)
			<-finish
			return mark(tx, "slow")
		}},
		step{ctx: queuedCtx, fn: func(tx *Tx) error {
			queuedRan.Store(true)
			return mark(tx, "gave up while queued")
		}},
		step{ctx: runningCtx, fn: func(tx *Tx) error {
			if err := mark(tx, "ended while running"); err != nil {
				return err
			}
			endRunning()
			return nil
		}},
		step{fn: marking("after")},
	)
	<-slow
	giveUp()
	<-outs[1].returned // while the slow member still runs
	if !errors.Is(outs[1].err, context.Canceled) || queuedRan.Load() {
		t.Fatalf("a caller that gave up while queued: %v, fn ran: %v; want context.Canceled, fn not run", outs[1].err, queuedRan.Load())
	}
	close(finish)
	wait(outs...)
	if outs[0].err != nil || outs[3].err != nil {
		t.Fatalf("slow: %v, after: %v", outs[0].err, outs[3].err)
	}
	if !errors.Is(outs[2].err, context.Canceled) {
		t.Fatalf("a member whose context ended while its fn ran: %v; want context.Canceled", outs[2].err)
	}
	if got := fmt.Sprint(checkedTrail(t, db)); got != "[slow after]" {
		t.Errorf("the trail's actors: %s; want [slow after]", got)
	}
}

// Racing transitions in one batch: the second's conditional move sees the
// first's change and is refused, as across batches.
func TestGroupCommitRacingTransitionsInOneBatch(t *testing.T) {
	db := newAuditTestDB(t)
	reqs := NewRequests(db, rolegate.RequestsConfig{})
	requester := auditTestPeople[0]
	catalog := rolegate.NewCatalog([]rolegate.Permission{{Name: "api.groups.read", Area: "Groups"}})
	req, err := reqs.Create(context.Background(), requester, rolegate.RequestInput{RoleName: "Raced", Permissions: []string{"api.groups.read"},
		Description: "Read groups.", Justification: "The dashboards read groups."}, catalog)
	if err != nil {
		t.Fatal(err)
	}
	// Both load the request before the batch, as two people's clicks do
	// before either commits: the conditional move refuses the second.
	cancel := func(tx *Tx) error {
		stale := *req
		eff, err := rolegate.Cancel(&stale, requester)
		if err != nil {
			return err
		}
		return tx.apply(context.Background(), &stale, eff)
	}
	outs := startBatch(t, db, step{fn: cancel}, step{fn: cancel})
	wait(outs...)
	if outs[0].err != nil || rolegate.ErrorCode(outs[1].err) != rolegate.ECONFLICT {
		t.Fatalf("first cancel: %v; second: %v; want the second refused as a conflict", outs[0].err, outs[1].err)
	}
	checkedTrail(t, db)
}
