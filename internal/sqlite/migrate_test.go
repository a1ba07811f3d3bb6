package sqlite_test

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"testing"

	"github.com/rolegate/rolegate/internal/sqlite"
)

// Migrations apply once; opening again changes nothing.
func TestMigrationsAreIdempotent(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "rolegate.db")
	db, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	first, target, err := db.SchemaVersion(ctx)
	if err != nil || first != target || first < 1 {
		t.Fatalf("after the first open: version %d of %d (%v); want the latest", first, target, err)
	}
	if err := db.Migrate(ctx); err != nil {
		t.Fatalf("Migrate again = %v; want a no-op", err)
	}
	db.Close()
	db, err = sqlite.Open(ctx, path)
	if err != nil {
		t.Fatalf("reopen = %v", err)
	}
	defer db.Close()
	if again, _, _ := db.SchemaVersion(ctx); again != first {
		t.Errorf("version after reopening = %d; want %d", again, first)
	}
}

// A database migrated by a newer rolegate is refused, untouched.
func TestADatabaseNewerThanTheBinaryIsRefused(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "rolegate.db")
	db, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	_, target, _ := db.SchemaVersion(ctx)
	db.Close()

	raw, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := raw.Exec(`INSERT INTO goose_db_version (version_id, is_applied) VALUES (?, 1)`, target+1); err != nil {
		t.Fatalf("pretend a newer migration: %v", err)
	}
	raw.Close()

	_, err = sqlite.Open(ctx, path)
	var tooNew *sqlite.ErrSchemaTooNew
	if !errors.As(err, &tooNew) {
		t.Fatalf("Open(newer database) = %v; want ErrSchemaTooNew", err)
	}
	if tooNew.DB != target+1 || tooNew.Binary != target {
		t.Errorf("ErrSchemaTooNew = %+v; want DB %d, Binary %d", tooNew, target+1, target)
	}
}
