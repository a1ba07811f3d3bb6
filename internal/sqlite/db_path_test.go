package sqlite_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/rolegate/rolegate/internal/sqlite"
)

// A database path is a path, not a URI: '#', '?' and '%' in it (a test's
// temporary folder is named after the test, "seed#0" included) name that
// very file, and two such paths never share one.
func TestOpenPathWithURICharacters(t *testing.T) {
	dir := t.TempDir()
	names := []string{"a#1.db", "a#2.db", "q?x=1.db", "p%41.db"}
	for _, name := range names {
		path := filepath.Join(dir, name)
		db, err := sqlite.Open(context.Background(), path)
		if err != nil {
			t.Fatalf("Open(%q): %v", path, err)
		}
		if err := db.Ping(context.Background()); err != nil {
			t.Errorf("Ping of %q: %v", path, err)
		}
		db.Close()
		if _, err := os.Stat(path); err != nil {
			t.Errorf("Open(%q) did not create that file: %v", path, err)
		}
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		// Beside each database SQLite may keep its -wal and -shm files.
		base := strings.TrimSuffix(strings.TrimSuffix(e.Name(), "-wal"), "-shm")
		if !slices.Contains(names, base) {
			t.Errorf("Open created %q, which no path named", e.Name())
		}
	}
}
