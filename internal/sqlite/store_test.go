package sqlite_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/rolegate/rolegate/internal/rolegate"
	"github.com/rolegate/rolegate/internal/sqlite"
	"github.com/rolegate/rolegate/internal/storetest"
	"github.com/rolegate/rolegate/internal/testkit"
)

// The conformance suite (internal/storetest) on a real SQLite file. Its
// second process is a second *sqlite.DB on the same file, with its own
// connections: what rolegate backup or audit verify are beside serve.
func TestStore(t *testing.T) {
	storetest.Run(t, storetest.Engine{
		Open: func(t *testing.T, now func() time.Time) *storetest.Store {
			return openStore(t, filepath.Join(t.TempDir(), "rolegate.db"), now)
		},
		Again: func(t *testing.T, s *storetest.Store, now func() time.Time) *storetest.Store {
			return openStore(t, s.Source, now)
		},
	})
}

func openStore(t *testing.T, path string, now func() time.Time) *storetest.Store {
	t.Helper()
	db, err := sqlite.Open(context.Background(), path)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	db.SetClock(now)
	return &storetest.Store{
		Sessions:         sqlite.NewSessions(db),
		Trail:            sqlite.NewTrail(db),
		Requests:         func(cfg rolegate.RequestsConfig) storetest.Requests { return sqlite.NewRequests(db, cfg) },
		Jobs:             sqlite.NewJobs(db),
		Removals:         sqlite.NewRemovals(db),
		Outbox:           sqlite.NewOutbox(db),
		Picture:          sqlite.NewPicture(db),
		Counts:           sqlite.NewCounts(db),
		SetNotifications: db.SetNotifications,
		RunExclusive:     db.RunExclusive,
		Rows: func(t testing.TB, table, where string) int {
			t.Helper()
			var n int
			if where != "" {
				where = " WHERE " + where
			}
			if err := testkit.OpenReadOnly(t, path).QueryRow(`SELECT count(*) FROM "` + table + `"` + where).Scan(&n); err != nil {
				t.Fatalf("count %s: %v", table, err)
			}
			return n
		},
		Exec: func(t testing.TB, sql string) {
			t.Helper()
			if _, err := testkit.OpenDB(t, path).Exec(sql); err != nil {
				t.Fatalf("%s: %v", sql, err)
			}
		},
		// The rows, and the bytes of the file and its write-ahead log:
		// what a copy of the disk would give away.
		Dump: func(t testing.TB) string {
			t.Helper()
			return testkit.DumpTables(t, testkit.OpenReadOnly(t, path)) + testkit.DatabaseFiles(t, path)
		},
		Source: path,
	}
}
