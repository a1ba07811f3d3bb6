package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rolegate/rolegate/internal/audit"
	"github.com/rolegate/rolegate/internal/rolegate"
	"github.com/rolegate/rolegate/internal/sqlite"
	"github.com/rolegate/rolegate/internal/testkit"
)

// env is a getenv over a map.
func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

// runBackup runs "rolegate backup args..." as main would.
func runBackup(t *testing.T, getenv func(string) string, args ...string) (string, error) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), append([]string{"backup"}, args...), getenv, &stdout, &stderr)
	return stdout.String() + stderr.String(), err
}

// appendEvents writes n audit events, each its own transaction.
func appendEvents(t *testing.T, db *sqlite.DB, n int) {
	t.Helper()
	for i := range n {
		e := rolegate.NewEvent(rolegate.System("backup-test"), rolegate.OutcomeSuccess, rolegate.CatalogRefreshed{Roles: i})
		if err := sqlite.NewTrail(db).AppendEvent(context.Background(), e); err != nil {
			t.Fatalf("append event: %v", err)
		}
	}
}

// readChain returns the copy's audit trail after checking every link:
// each event's hash covers its content and the previous event's hash. A
// copy that caught a transaction half way would break the chain or the
// count.
func readChain(t *testing.T, path string) int {
	t.Helper()
	db := testkit.OpenReadOnly(t, path)
	rows, err := db.Query(`SELECT seq, at, actor_key, actor_email, actor_name, actor_roles, action,
		COALESCE(request_id, 0), role_name, outcome, details, client_ip, user_agent, http_request_id, prev_hash, hash
		FROM audit_events ORDER BY seq`)
	if err != nil {
		t.Fatalf("read the copy's audit trail: %v", err)
	}
	defer rows.Close()
	prev, n := audit.GenesisHash, 0
	for rows.Next() {
		var e rolegate.Event
		var at int64
		var details string
		if err := rows.Scan(&e.Seq, &at, &e.ActorKey, &e.ActorEmail, &e.ActorName, &e.ActorRoles, &e.Action,
			&e.RequestID, &e.RoleName, &e.Outcome, &details, &e.ClientIP, &e.UserAgent, &e.HTTPReqID, &e.PrevHash, &e.Hash); err != nil {
			t.Fatal(err)
		}
		e.At, e.Details = time.UnixMilli(at).UTC(), []byte(details)
		n++
		if h, err := audit.Hash(e); e.Seq != int64(n) || e.PrevHash != prev || err != nil || h != e.Hash {
			t.Fatalf("the copy's audit event #%d does not chain (seq %d, prev %s, hash %s)", n, e.Seq, e.PrevHash, e.Hash)
		}
		prev = e.Hash
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return n
}

// A backup taken while another connection keeps committing is one
// consistent snapshot: the whole audit chain verifies, it holds at least
// what was committed before it started, and a restored copy opens as a
// rolegate database.
func TestBackupOfADatabaseBeingWritten(t *testing.T) {
	dir := t.TempDir()
	dbPath := filepath.Join(dir, "rolegate.db")
	db, err := sqlite.Open(context.Background(), dbPath)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	appendEvents(t, db, 50)

	stop := make(chan struct{})
	var written atomic.Int64
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			e := rolegate.NewEvent(rolegate.System("writer"), rolegate.OutcomeSuccess, rolegate.CatalogRefreshed{Roles: i})
			if err := sqlite.NewTrail(db).AppendEvent(context.Background(), e); err != nil {
				t.Errorf("concurrent writer: %v", err)
				return
			}
			written.Add(1)
		}
	}()
	// Let the writer get going, then take three backups while it writes.
	testkit.WaitFor(t, "the writer's first five events", func() bool { return written.Load() >= 5 })
	var copies []string
	for i := range 3 {
		target := filepath.Join(dir, "backups", "copy-"+string(rune('a'+i))+".db")
		if err := os.MkdirAll(filepath.Dir(target), 0o750); err != nil {
			t.Fatal(err)
		}
		before := 50 + written.Load()
		out, err := runBackup(t, env(nil), target, "-db", dbPath)
		if err != nil {
			t.Fatalf("backup while writing: %v\n%s", err, out)
		}
		if !strings.Contains(out, "integrity ok") {
			t.Errorf("backup output = %q; want it to report the integrity check", out)
		}
		if n := readChain(t, target); int64(n) < before {
			t.Errorf("copy %d holds %d events; want at least the %d committed before it started", i, n, before)
		}
		copies = append(copies, target)
	}
	close(stop)
	wg.Wait()
	if written.Load() == 0 {
		t.Fatal("the concurrent writer wrote nothing")
	}

	// Restore: the copy is a rolegate database as it stands.
	restored, err := sqlite.Open(context.Background(), copies[len(copies)-1])
	if err != nil {
		t.Fatalf("open the restored copy: %v", err)
	}
	defer restored.Close()
	if cur, target, err := restored.SchemaVersion(context.Background()); err != nil || cur != target {
		t.Errorf("restored copy schema = %d of %d (err %v); want current", cur, target, err)
	}
	if fi, err := os.Stat(copies[0]); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("copy mode = %v (err %v); want 0600: it holds people's data", fi.Mode().Perm(), err)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, "backups", ".*partial*")); len(left) > 0 {
		t.Errorf("temporary files left behind: %v", left)
	}
}

func TestBackupNeverOverwrites(t *testing.T) {
	dir := t.TempDir()
	dbPath := filepath.Join(dir, "rolegate.db")
	db, err := sqlite.Open(context.Background(), dbPath)
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	target := filepath.Join(dir, "precious.db")
	if err := os.WriteFile(target, []byte("yesterday's backup"), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := runBackup(t, env(nil), target, "-db", dbPath)
	if err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Fatalf("backup onto an existing file = %v (%s); want a refusal saying it already exists", err, out)
	}
	if b, _ := os.ReadFile(target); string(b) != "yesterday's backup" {
		t.Errorf("the existing file now holds %q; want it untouched", b)
	}
}

func TestBackupRefusesBadInput(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "nothing-here.db")
	target := filepath.Join(dir, "copy.db")
	existing := filepath.Join(dir, "rolegate.db")
	db, err := sqlite.Open(context.Background(), existing)
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		wantErr string
	}{
		{"no file named", nil, nil, "usage: rolegate backup FILE"},
		{"two files named", []string{target, target + "2"}, nil, "usage: rolegate backup FILE"},
		{"blank file name", []string{" "}, nil, "usage: rolegate backup FILE"},
		{"no database at -db", []string{target, "-db", missing}, nil, "ROLEGATE_DB: no database at " + missing},
		{"no database at ROLEGATE_DB", []string{target}, map[string]string{"ROLEGATE_DB": missing}, "ROLEGATE_DB: no database at " + missing},
		{"target folder missing", []string{filepath.Join(dir, "no", "such", "copy.db"), "-db", existing}, nil, "does not exist"},
		{"unknown flag", []string{target, "-force"}, nil, "flag provided but not defined"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := runBackup(t, env(tt.env), tt.args...)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("backup %q = %v (%s); want an error containing %q", tt.args, err, out, tt.wantErr)
			}
			for _, p := range []string{missing, target} {
				if _, err := os.Stat(p); err == nil {
					t.Errorf("backup %q created %s; a refused backup must change nothing", tt.args, p)
				}
			}
		})
	}
}

func TestBackupArgs(t *testing.T) {
	tests := []struct {
		args       []string
		env        map[string]string
		wantTarget string
		wantDB     string
	}{
		{[]string{"out.db"}, nil, "out.db", "./data/rolegate.db"},
		{[]string{"out.db"}, map[string]string{"ROLEGATE_DB": "/srv/r.db"}, "out.db", "/srv/r.db"},
		{[]string{"out.db", "-db", "a.db"}, map[string]string{"ROLEGATE_DB": "/srv/r.db"}, "out.db", "a.db"},
		{[]string{"-db", "a.db", "out.db"}, nil, "out.db", "a.db"},
	}
	for _, tt := range tests {
		target, db, err := backupArgs(tt.args, env(tt.env), &bytes.Buffer{})
		if err != nil || target != tt.wantTarget || db.String() != tt.wantDB {
			t.Errorf("backupArgs(%q) = %q, %q, %v; want %q, %q", tt.args, target, db, err, tt.wantTarget, tt.wantDB)
		}
	}
}

// On PostgreSQL the backup is PostgreSQL's own (managed backups, pg_dump):
// rolegate backup says so and fails, without repeating the URL's user or
// password, whether the URL is in ROLEGATE_DB or in ROLEGATE_DB_FILE.
func TestBackupOnPostgresPointsToPgDump(t *testing.T) {
	const dbURL = "postgres://rolegate_app:s3cret-pw-91@db.internal:5432/rolegate?sslmode=require"
	file := filepath.Join(t.TempDir(), "db-url")
	if err := os.WriteFile(file, []byte(dbURL+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, e := range []map[string]string{{"ROLEGATE_DB": dbURL}, {"ROLEGATE_DB_FILE": file}} {
		var stdout, stderr bytes.Buffer
		err := backup(t.Context(), []string{filepath.Join(t.TempDir(), "copy.db")}, env(e), &stdout, &stderr)
		if err == nil || !strings.Contains(err.Error(), "pg_dump") || !strings.Contains(err.Error(), "postgres://db.internal:5432/rolegate") {
			t.Errorf("backup with %v = %v; want a refusal naming pg_dump and the database", e, err)
		}
		all := fmt.Sprint(err) + stdout.String() + stderr.String()
		for _, secret := range []string{"s3cret-pw-91", "rolegate_app", "sslmode"} {
			if strings.Contains(all, secret) {
				t.Errorf("backup with %v repeats %q: %s", e, secret, all)
			}
		}
	}
}
