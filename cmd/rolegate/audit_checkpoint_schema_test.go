package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pressly/goose/v3"

	"github.com/rolegate/rolegate/internal/testkit"
	"github.com/rolegate/rolegate/migrations"
)

// schemaOf is what a command must not change in a SQLite file: the
// versions applied, the schema, and the audit trail's length.
func schemaOf(t *testing.T, path string) string {
	t.Helper()
	db := testkit.OpenReadOnly(t, path)
	defer db.Close()
	var b strings.Builder
	for _, q := range []string{
		`SELECT version_id || ':' || is_applied FROM goose_db_version ORDER BY id`,
		`SELECT type || ' ' || name || ' ' || coalesce(sql, '') FROM sqlite_master ORDER BY type, name`,
		`SELECT 'events ' || count(*) FROM audit_events`,
	} {
		rows, err := db.Query(q)
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		for rows.Next() {
			var s string
			if err := rows.Scan(&s); err != nil {
				t.Fatal(err)
			}
			b.WriteString(s + "\n")
		}
		if err := rows.Close(); err != nil {
			t.Fatal(err)
		}
	}
	return b.String()
}

// newCheckpointKey writes a checkpoint signer key and returns its file.
func newCheckpointKey(t *testing.T) string {
	t.Helper()
	keyFile := filepath.Join(t.TempDir(), "checkpoint.key")
	if out, code := runAudit(t, "keygen", "-name", "rolegate.test/audit", keyFile); code != 0 {
		t.Fatalf("audit keygen = %d %q", code, out)
	}
	return keyFile
}

// rolegate audit checkpoint writes beside the rolegate serving the file,
// so it never migrates: run by a newer binary against a database an older
// rolegate serves, it would change the schema under it. It refuses a
// database at an older schema, saying what to do, and leaves it as it was.
func TestAuditCheckpointRefusesAnOlderSchema(t *testing.T) {
	ctx := context.Background()
	keyFile := newCheckpointKey(t)
	// A trail written by this binary, taken back to the schema of the
	// release before access requests (migration 15).
	path := newTrail(t, 3)
	raw := testkit.OpenDB(t, path)
	p, err := goose.NewProvider(goose.DialectSQLite3, raw, migrations.FS, goose.WithDisableGlobalRegistry(true))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.DownTo(ctx, 14); err != nil {
		t.Fatalf("down to 14: %v", err)
	}
	if err := raw.Close(); err != nil {
		t.Fatal(err)
	}
	before := schemaOf(t, path)

	out, code := runAudit(t, "checkpoint", "-db", path, "-key", keyFile)
	for _, want := range []string{"is at schema version 14", "never migrates", "rolegate migrate"} {
		if code != exitCannotTell || !strings.Contains(out, want) {
			t.Errorf("audit checkpoint on an older schema = %d %q; want %d and %q", code, out, exitCannotTell, want)
		}
	}
	if after := schemaOf(t, path); after != before {
		t.Errorf("the refused audit checkpoint changed the database:\nbefore:\n%s\nafter:\n%s", before, after)
	}
}

// A database a newer rolegate migrated is refused too: this binary does
// not know what its schema holds.
func TestAuditCheckpointRefusesANewerSchema(t *testing.T) {
	keyFile := newCheckpointKey(t)
	path := newTrail(t, 3)
	raw := testkit.OpenDB(t, path)
	var target int64
	if err := raw.QueryRow(`SELECT max(version_id) FROM goose_db_version`).Scan(&target); err != nil {
		t.Fatal(err)
	}
	if _, err := raw.Exec(`INSERT INTO goose_db_version (version_id, is_applied) VALUES (?, 1)`, target+1); err != nil {
		t.Fatal(err)
	}
	if err := raw.Close(); err != nil {
		t.Fatal(err)
	}
	before := schemaOf(t, path)

	out, code := runAudit(t, "checkpoint", "-db", path, "-key", keyFile)
	if code != exitCannotTell || !strings.Contains(out, "newer than this rolegate's") {
		t.Errorf("audit checkpoint on a newer schema = %d %q; want %d, refused as newer", code, out, exitCannotTell)
	}
	if after := schemaOf(t, path); after != before {
		t.Errorf("the refused audit checkpoint changed the database:\nbefore:\n%s\nafter:\n%s", before, after)
	}
}

// At this binary's schema, audit checkpoint signs and records as before,
// and the schema stays as it was.
func TestAuditCheckpointAtTheCurrentSchema(t *testing.T) {
	keyFile := newCheckpointKey(t)
	path := newTrail(t, 3)
	before := schemaOf(t, path)

	out, code := runAudit(t, "checkpoint", "-db", path, "-key", keyFile)
	if code != 0 || !strings.HasPrefix(out, "rolegate.test/audit\n3\n") {
		t.Fatalf("audit checkpoint at the current schema = %d %q; want a signed note of 3 events", code, out)
	}
	after := schemaOf(t, path)
	if want := strings.Replace(before, "events 3\n", "events 4\n", 1); after != want {
		t.Errorf("audit checkpoint changed more than the trail:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	if out, code := runAudit(t, "verify", "-db", path); code != 0 || !strings.Contains(out, "audit trail verified: 4 events") {
		t.Errorf("audit verify after the checkpoint = %d %q; want 4 events", code, out)
	}
}
