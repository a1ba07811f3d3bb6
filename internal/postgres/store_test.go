package postgres_test

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/rolegate/rolegate/internal/pgtest"
	"github.com/rolegate/rolegate/internal/postgres"
	"github.com/rolegate/rolegate/internal/rolegate"
	"github.com/rolegate/rolegate/internal/storetest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// The conformance suite (internal/storetest) on a real PostgreSQL, a
// fresh database per test. Its second process is a second *postgres.DB on
// the same database: a pool of its own, as another rolegate would have.
func TestStore(t *testing.T) {
	storetest.Run(t, storetest.Engine{
		Open: func(t *testing.T, now func() time.Time) *storetest.Store {
			return openStore(t, pgtest.NewDatabase(t), now)
		},
		Again: func(t *testing.T, s *storetest.Store, now func() time.Time) *storetest.Store {
			return openStore(t, s.Source, now)
		},
	})
}

func openStore(t *testing.T, url string, now func() time.Time) *storetest.Store {
	t.Helper()
	db := open(t, url)
	db.SetClock(now)
	return &storetest.Store{
		Sessions:         postgres.NewSessions(db),
		Trail:            postgres.NewTrail(db),
		Requests:         func(cfg rolegate.RequestsConfig) storetest.Requests { return postgres.NewRequests(db, cfg) },
		Jobs:             postgres.NewJobs(db),
		Removals:         postgres.NewRemovals(db),
		Outbox:           postgres.NewOutbox(db),
		Picture:          postgres.NewPicture(db),
		Counts:           postgres.NewCounts(db),
		SetNotifications: db.SetNotifications,
		RunExclusive:     db.RunExclusive,
		Rows: func(t testing.TB, table, where string) int {
			t.Helper()
			var n int
			if where != "" {
				where = " WHERE " + where
			}
			if err := connect(t, url).QueryRow(t.Context(), `SELECT count(*) FROM `+pgx.Identifier{table}.Sanitize()+where).Scan(&n); err != nil {
				t.Fatalf("count %s: %v", table, err)
			}
			return n
		},
		Exec: func(t testing.TB, sql string) {
			t.Helper()
			if _, err := connect(t, url).Exec(t.Context(), sql); err != nil {
				t.Fatalf("%s: %v", sql, err)
			}
		},
		AppendEvents: func(t testing.TB, events []rolegate.Event) {
			t.Helper()
			if err := postgres.CopyEvents(t.Context(), db, events); err != nil {
				t.Fatal(err)
			}
		},
		Dump:   func(t testing.TB) string { return dump(t, url) },
		Source: url,
	}
}

// open opens the database at url through the code under test, closed when
// the test ends.
func open(t testing.TB, url string) *postgres.DB {
	t.Helper()
	db, err := postgres.Open(t.Context(), url)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// connect is a plain connection beside the code under test, for rows it
// does not expose.
func connect(t testing.TB, url string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), url)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// dump renders every row of every table as text, to search the whole
// database for what must never be stored.
func dump(t testing.TB, url string) string {
	t.Helper()
	conn := connect(t, url)
	rows, err := conn.Query(t.Context(), `SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename`)
	if err != nil {
		t.Fatal(err)
	}
	tables, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	if len(tables) == 0 {
		t.Fatal("the database has no tables; a dump of it proves nothing")
	}
	var b strings.Builder
	for _, table := range tables {
		name := pgx.Identifier{table}.Sanitize()
		rows, err := conn.Query(t.Context(), `SELECT t::text FROM `+name+` t`)
		if err != nil {
			t.Fatal(err)
		}
		lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatal(err)
		}
		b.WriteString("-- " + table + "\n" + strings.Join(lines, "\n") + "\n")
	}
	return b.String()
}
