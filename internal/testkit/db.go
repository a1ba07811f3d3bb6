package testkit

import (
	"database/sql"
	"fmt"
	"os"
	"strings"
	"testing"

	_ "modernc.org/sqlite" // the driver internal/sqlite uses, for a second connection to its file
)

// OpenDB opens the SQLite file at path through a plain second connection
// beside the code under test, for rows that the code does not expose or
// writes that it never makes (a hand edit, a crash's leftovers). It waits
// up to five seconds for the code's write lock, and is closed when the test
// ends.
func OpenDB(t testing.TB, path string) *sql.DB {
	t.Helper()
	return open(t, "file:"+path+"?_pragma=busy_timeout(5000)")
}

// OpenReadOnly is OpenDB for reading only: what the test reads it cannot
// change by mistake.
func OpenReadOnly(t testing.TB, path string) *sql.DB {
	t.Helper()
	return open(t, "file:"+path+"?mode=ro&_pragma=busy_timeout(5000)")
}

func open(t testing.TB, dsn string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		t.Fatalf("open %s: %v", dsn, err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// DumpRows renders every row that query returns as text, a line a row of
// column=value pairs (bytes as text), for comparing states or searching
// them for what must not be there.
func DumpRows(t testing.TB, db *sql.DB, query string, args ...any) string {
	t.Helper()
	rows, err := db.Query(query, args...)
	if err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	var b strings.Builder
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatalf("%s: %v", query, err)
		}
		for i, v := range vals {
			if bs, ok := v.([]byte); ok {
				v = string(bs)
			}
			fmt.Fprintf(&b, "%s=%v\t", cols[i], v)
		}
		b.WriteByte('\n')
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return b.String()
}

// DumpTables renders every row of every table of db as text (DumpRows of
// each), so that a test can search the whole database for a secret.
func DumpTables(t testing.TB, db *sql.DB) string {
	t.Helper()
	rows, err := db.Query(`SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name`)
	if err != nil {
		t.Fatalf("list tables: %v", err)
	}
	var tables []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			t.Fatalf("list tables: %v", err)
		}
		tables = append(tables, name)
	}
	rows.Close()
	if len(tables) == 0 {
		t.Fatalf("the database has no tables; a dump of it proves nothing")
	}
	var b strings.Builder
	for _, table := range tables {
		fmt.Fprintf(&b, "-- %s\n", table)
		b.WriteString(DumpRows(t, db, `SELECT * FROM "`+table+`"`))
	}
	return b.String()
}

// DatabaseFiles returns the bytes on disk of the SQLite file at path and of
// its write-ahead log (when there is one), so that a test can search them
// for what must never be stored.
func DatabaseFiles(t testing.TB, path string) string {
	t.Helper()
	var b strings.Builder
	for _, p := range []string{path, path + "-wal"} {
		data, err := os.ReadFile(p)
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		b.Write(data)
	}
	return b.String()
}
