package postgres_test

import (
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/rolegate/rolegate/internal/pgtest"
	"github.com/rolegate/rolegate/internal/postgres"
)

// Processes starting at once on a new database migrate it once between
// them: each waits for the migration lock, and the later ones find nothing
// left to do.
func TestProcessesStartingAtOnceMigrateOnce(t *testing.T) {
	url := pgtest.NewDatabase(t)
	const processes = 4
	dbs := make([]*postgres.DB, processes)
	errs := make([]error, processes)
	var wg sync.WaitGroup
	for i := range processes {
		wg.Go(func() { dbs[i], errs[i] = postgres.Open(t.Context(), url) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("process %d: Open = %v; want the database migrated once and opened by all", i, err)
		}
		defer dbs[i].Close()
	}
	current, target, err := dbs[0].SchemaVersion(t.Context())
	if err != nil || current != target || current < 1 {
		t.Fatalf("version %d of %d (%v); want the latest", current, target, err)
	}
	var applied int
	if err := connect(t, url).QueryRow(t.Context(), `SELECT count(*) FROM goose_db_version WHERE version_id = $1`, target).Scan(&applied); err != nil {
		t.Fatal(err)
	}
	if applied != 1 {
		t.Errorf("migration %d recorded %d times; want once", target, applied)
	}
}

// A database migrated by a newer rolegate is refused.
func TestADatabaseNewerThanTheBinaryIsRefused(t *testing.T) {
	url := pgtest.NewDatabase(t)
	db := open(t, url)
	_, target, _ := db.SchemaVersion(t.Context())
	if _, err := connect(t, url).Exec(t.Context(), `INSERT INTO goose_db_version (version_id, is_applied) VALUES ($1, true)`, target+1); err != nil {
		t.Fatalf("pretend a newer migration: %v", err)
	}
	_, err := postgres.Open(t.Context(), url)
	var tooNew *postgres.ErrSchemaTooNew
	if !errors.As(err, &tooNew) {
		t.Fatalf("Open(newer database) = %v; want ErrSchemaTooNew", err)
	}
	if tooNew.DB != target+1 || tooNew.Binary != target {
		t.Errorf("ErrSchemaTooNew = %+v; want DB %d, Binary %d", tooNew, target+1, target)
	}
}

// The database URL may hold a password: no error of Open repeats it.
func TestOpenNeverRepeatsThePassword(t *testing.T) {
	const password = "s3cret-Pa55"
	for _, url := range []string{
		"postgres://rolegate:" + password + "@127.0.0.1:1/rolegate?sslmode=disable", // nothing listens on port 1
		"postgres://rolegate:" + password + "@127.0.0.1:notaport/rolegate",          // not a URL pgx parses
	} {
		_, err := postgres.Open(t.Context(), url)
		if err == nil {
			t.Fatalf("Open(%s) succeeded; want an error", strings.ReplaceAll(url, password, "***"))
		}
		if strings.Contains(err.Error(), password) {
			t.Errorf("Open's error repeats the password: %s", strings.ReplaceAll(err.Error(), password, "***"))
		}
	}
}
