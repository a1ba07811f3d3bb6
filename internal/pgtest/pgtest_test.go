package pgtest_test

import (
	"context"
	"os"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/rolegate/rolegate/internal/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

func connect(t *testing.T, url string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), url)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// Each test gets a database of its own: what one test writes, another
// never sees, and the database is gone once the test ends.
func TestEachTestGetsAFreshDatabaseDroppedAfterwards(t *testing.T) {
	var first string
	t.Run("writes", func(t *testing.T) {
		first = pgtest.NewDatabase(t)
		conn := connect(t, first)
		if _, err := conn.Exec(t.Context(), `CREATE TABLE notes (body text); INSERT INTO notes VALUES ('mine')`); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("reads", func(t *testing.T) {
		second := pgtest.NewDatabase(t)
		if second == first {
			t.Fatalf("NewDatabase returned %q twice; want a new database per test", second)
		}
		var n int
		if err := connect(t, second).QueryRow(t.Context(), `SELECT count(*) FROM pg_tables WHERE tablename = 'notes'`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 0 {
			t.Fatalf("a fresh database holds %d tables named notes; want none", n)
		}
	})
	if _, err := pgx.Connect(t.Context(), first); err == nil {
		t.Fatalf("connecting to %s after its test ended succeeded; want the database dropped", first)
	}
}

// The cluster is PostgreSQL itself, with the features the store relies
// on: advisory locks and SKIP LOCKED.
func TestTheClusterIsARealPostgreSQL(t *testing.T) {
	conn := connect(t, pgtest.NewDatabase(t))
	var version string
	if err := conn.QueryRow(t.Context(), `SHOW server_version_num`).Scan(&version); err != nil {
		t.Fatal(err)
	}
	if version < "130000" {
		t.Fatalf("server_version_num = %s; want PostgreSQL 13 or newer (DROP DATABASE ... WITH (FORCE))", version)
	}
	var locked bool
	if err := conn.QueryRow(t.Context(), `SELECT pg_try_advisory_lock(19)`).Scan(&locked); err != nil || !locked {
		t.Fatalf("pg_try_advisory_lock = %v, %v; want true", locked, err)
	}
}
