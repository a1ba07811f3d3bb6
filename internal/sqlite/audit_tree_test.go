package sqlite

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"testing"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/rolegate/rolegate/internal/audit"
	"github.com/rolegate/rolegate/internal/rolegate"
	"github.com/rolegate/rolegate/internal/testkit"
)

// storedTree reads every row of audit_tree.
func storedTree(t *testing.T, db *DB) map[int64]tlog.Hash {
	t.Helper()
	rows, err := db.readPool.Query(`SELECT id, hash FROM audit_tree`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[int64]tlog.Hash{}
	for rows.Next() {
		var id int64
		var b []byte
		if err := rows.Scan(&id, &b); err != nil {
			t.Fatal(err)
		}
		out[id] = tlog.Hash(b)
	}
	return out
}

// referenceTree is tlog's own computation over the events' canonical
// content.
func referenceTree(t *testing.T, events []rolegate.Event) testkit.TreeHashes {
	t.Helper()
	records := make([][]byte, len(events))
	for i, e := range events {
		canonical, err := audit.Canonical(e)
		if err != nil {
			t.Fatal(err)
		}
		records[i] = canonical
	}
	return testkit.ReferenceTree(t, records)
}

// growTrail appends n events through the real append path and returns
// the whole trail.
func growTrail(t *testing.T, db *DB, n int) []rolegate.Event {
	t.Helper()
	ctx := context.Background()
	for i := range n {
		e := rolegate.NewEvent(auditTestPeople[i%len(auditTestPeople)], rolegate.OutcomeSuccess,
			rolegate.RequestCreated{RequiredApprovals: i, Justification: auditTestWords[i%len(auditTestWords)]})
		if err := NewTrail(db).AppendEvent(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	var events []rolegate.Event
	if err := NewTrail(db).WalkAuditTrail(ctx, func(e rolegate.Event) error { events = append(events, e); return nil }); err != nil {
		t.Fatal(err)
	}
	return events
}

// The stored tree is, hash for hash, what tlog computes from the events.
func TestAuditTreeIsTlogs(t *testing.T) {
	db := newAuditTestDB(t)
	events := fillAuditTrail(t, db, 150, 1)
	got, want := storedTree(t, db), referenceTree(t, events)
	if int64(len(got)) != tlog.StoredHashCount(150) || len(got) != len(want) {
		t.Fatalf("audit_tree holds %d hashes; want tlog.StoredHashCount(150) = %d", len(got), tlog.StoredHashCount(150))
	}
	for idx, h := range want {
		if got[idx] != h {
			t.Fatalf("audit_tree[%d] = %s; want tlog's %s", idx, got[idx], h)
		}
	}
	root, err := NewTrail(db).AuditTreeRoot(context.Background(), 150)
	if ref, _ := tlog.TreeHash(150, want); err != nil || root != ref {
		t.Errorf("AuditTreeRoot(150) = %s, %v; want %s", root, err, ref)
	}
}

// Migration 00009 makes an existing trail's events leaves, in order: the
// tree is the one appending would have built, and appending goes on.
func TestAuditTreeMigrationBackfills(t *testing.T) {
	ctx := context.Background()
	db := newAuditTestDB(t)
	fillAuditTrail(t, db, 137, 3)
	built := storedTree(t, db)

	p, err := db.provider()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.DownTo(ctx, 8); err != nil {
		t.Fatalf("down to 8: %v", err)
	}
	var tables int
	db.readPool.QueryRow(`SELECT count(*) FROM sqlite_master WHERE name = 'audit_tree'`).Scan(&tables)
	if tables != 0 {
		t.Fatal("audit_tree survived going down to version 8")
	}
	if err := db.Migrate(ctx); err != nil {
		t.Fatalf("migrate an existing trail: %v", err)
	}
	migrated := storedTree(t, db)
	if len(migrated) != len(built) {
		t.Fatalf("migrated tree has %d hashes; want %d", len(migrated), len(built))
	}
	for idx, h := range built {
		if migrated[idx] != h {
			t.Fatalf("migrated audit_tree[%d] = %s; want %s", idx, migrated[idx], h)
		}
	}
	all := growTrail(t, db, 5)
	if len(all) != 142 {
		t.Fatalf("%d events", len(all))
	}
	ref := referenceTree(t, all)
	root, _ := NewTrail(db).AuditTreeRoot(ctx, 142)
	if want, _ := tlog.TreeHash(142, ref); root != want {
		t.Errorf("root after appending to a migrated trail = %s; want %s", root, want)
	}
	// The tree is append-only, like the trail.
	for _, stmt := range []string{`UPDATE audit_tree SET hash = zeroblob(32) WHERE id = 0`, `DELETE FROM audit_tree WHERE id = 0`} {
		if _, err := db.write.Exec(stmt); err == nil || !bytes.Contains([]byte(err.Error()), []byte("append-only")) {
			t.Errorf("%s = %v; want refused as append-only", stmt, err)
		}
	}
}

// Events written around the append (a bulk seed, or an older rolegate's,
// even one holding bytes that are not UTF-8) become leaves, in order.
func TestCatchUpAuditTree(t *testing.T) {
	ctx := context.Background()
	db := newAuditTestDB(t)
	events := growTrail(t, db, 10)
	prev := events[9]
	var err error
	for i := range 3 {
		e := prev
		e.Seq, e.PrevHash, e.ActorName = prev.Seq+1, prev.Hash, "written around the append"
		if i == 1 {
			e.ActorName = "older rolegate \xff" // hashed as an older rolegate did: U+FFFD
			e.Hash = audit.HexHash(sha256.Sum256(legacyCanonical(e)))
		} else if e.Hash, err = audit.Hash(e); err != nil {
			t.Fatal(err)
		}
		if _, err := db.write.Exec(`INSERT INTO audit_events (seq, at, actor_key, actor_name, action, outcome, details, prev_hash, hash)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, e.Seq, ms(e.At), e.ActorKey, e.ActorName, e.Action, e.Outcome, string(e.Details), e.PrevHash, e.Hash); err != nil {
			t.Fatal(err)
		}
		prev = e
	}
	if err := NewTrail(db).AppendEvent(ctx, rolegate.NewEvent(auditTestPeople[0], rolegate.OutcomeSuccess, rolegate.SignOut{})); err == nil {
		t.Fatal("an append after events the tree lacks succeeded; want it refused")
	}
	added, err := NewTrail(db).CatchUpAuditTree(ctx)
	if err != nil || added != 3 {
		t.Fatalf("CatchUpAuditTree = %d, %v; want 3 events added", added, err)
	}
	if added, err := NewTrail(db).CatchUpAuditTree(ctx); err != nil || added != 0 {
		t.Errorf("CatchUpAuditTree again = %d, %v; want nothing to do", added, err)
	}
	all := growTrail(t, db, 2)
	if len(all) != 15 {
		t.Fatalf("%d events", len(all))
	}
	var b audit.TreeBuilder
	for _, e := range all {
		b.Add(audit.StoredLeafHash(e))
	}
	if root, _ := NewTrail(db).AuditTreeRoot(ctx, 15); root != b.Root() {
		t.Errorf("root after catching up = %s; want %s", root, b.Root())
	}
}

// legacyCanonical is the encoding an older rolegate hashed: encoding/json
// writing invalid bytes as U+FFFD.
func legacyCanonical(e rolegate.Event) []byte {
	fields := []string{"v1", fmt.Sprint(e.Seq), fmt.Sprint(e.At.UTC().UnixMilli()), e.ActorKey, e.ActorEmail, e.ActorName, e.ActorRoles,
		e.Action, fmt.Sprint(e.RequestID), e.RoleName, e.Outcome, string(e.Details), e.ClientIP, e.UserAgent, e.HTTPReqID, e.PrevHash}
	b, _ := json.Marshal(fields)
	return b
}
