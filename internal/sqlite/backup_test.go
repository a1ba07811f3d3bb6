package sqlite_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rolegate/rolegate/internal/rolegate"
	"github.com/rolegate/rolegate/internal/sqlite"
)

// A backup reports what the copy holds, gives it mode 0600 (it holds
// people's data), leaves no temporary file, and the copy opens as a rolegate
// database at the current schema. The database path may hold characters
// that mean something in a URI.
func TestBackupReportsWhatTheCopyHolds(t *testing.T) {
	lc := newLifecycle(t, 1)
	for _, name := range []string{"dashboards-read", "billing-read"} {
		if _, err := lc.requests.Create(lc.ctx, lcRequester, rolegate.RequestInput{
			RoleName: name, Permissions: []string{"api.groups.read"},
			Justification: "The dashboards read groups.",
		}, lc.catalog); err != nil {
			t.Fatalf("file %s: %v", name, err)
		}
	}
	var events int64
	if err := lc.raw.QueryRow(`SELECT COUNT(*) FROM audit_events`).Scan(&events); err != nil {
		t.Fatal(err)
	}

	dir := filepath.Join(t.TempDir(), "backups #1?")
	if err := os.Mkdir(dir, 0o750); err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(dir, "copy%41.db")
	report, err := sqlite.Backup(lc.ctx, lc.db.Path(), dst)
	if err != nil {
		t.Fatalf("Backup: %v", err)
	}
	_, schema, err := lc.db.SchemaVersion(lc.ctx)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(dst)
	if err != nil {
		t.Fatalf("the copy is not at %s: %v", dst, err)
	}
	want := sqlite.BackupReport{Bytes: fi.Size(), SchemaVersion: schema, Requests: 2, AuditEvents: events}
	if report != want {
		t.Errorf("Backup report = %+v; want %+v", report, want)
	}
	if got, want := report.String(), "2 requests, "; !strings.Contains(got, want) {
		t.Errorf("report.String() = %q; want it to contain %q", got, want)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("copy mode = %v; want 0600", fi.Mode().Perm())
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if e.Name() != filepath.Base(dst) {
			t.Errorf("Backup left %q beside the copy", e.Name())
		}
	}
	restored, err := sqlite.OpenNoMigrate(lc.ctx, dst)
	if err != nil {
		t.Fatalf("open the copy: %v", err)
	}
	defer restored.Close()
	if cur, target, err := restored.SchemaVersion(lc.ctx); err != nil || cur != target {
		t.Errorf("copy schema = %d of %d (err %v); want current", cur, target, err)
	}
}

// A refused backup says why in a way the caller can match, and changes
// nothing: an existing file keeps its bytes and no file appears.
func TestBackupRefusals(t *testing.T) {
	lc := newLifecycle(t, 1)
	dir := t.TempDir()
	existing := filepath.Join(dir, "yesterday.db")
	if err := os.WriteFile(existing, []byte("yesterday's backup"), 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "nothing-here.db")
	tests := []struct {
		name     string
		src, dst string
		wantIs   error  // nil: no sentinel
		wantText string // in the message
	}{
		{"target exists", lc.db.Path(), existing, sqlite.ErrBackupExists, existing},
		{"no database", missing, filepath.Join(dir, "copy.db"), sqlite.ErrNoDatabase, missing},
		{"source is a folder", dir, filepath.Join(dir, "copy.db"), sqlite.ErrNoDatabase, dir},
		{"target folder missing", lc.db.Path(), filepath.Join(dir, "no", "such", "copy.db"), nil, "does not exist"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := sqlite.Backup(lc.ctx, tt.src, tt.dst)
			if err == nil || !strings.Contains(err.Error(), tt.wantText) || (tt.wantIs != nil && !errors.Is(err, tt.wantIs)) {
				t.Fatalf("Backup(%q, %q) = %v; want an error (%v) naming %q", tt.src, tt.dst, err, tt.wantIs, tt.wantText)
			}
		})
	}
	if b, _ := os.ReadFile(existing); string(b) != "yesterday's backup" {
		t.Errorf("the existing file now holds %q; want it untouched", b)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Errorf("refused backups left %v; want only %s", names, filepath.Base(existing))
	}
}
