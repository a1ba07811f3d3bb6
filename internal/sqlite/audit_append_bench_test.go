package sqlite

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/rolegate/rolegate/internal/rolegate"
)

// BenchmarkAuditAppend appends one event in its own transaction to the
// million-event trail: go test -run '^$' -bench AuditAppend ./internal/sqlite
//
// ROLEGATE_BENCH_TRAIL names a trail file to copy instead of the cached
// one; with it the file compiles against an older rolegate too, which is
// how the README compares the append with and without the Merkle tree on
// the same million events.
func BenchmarkAuditAppend(b *testing.B) {
	ctx := context.Background()
	db := benchTrailCopy(b, os.Getenv("ROLEGATE_BENCH_TRAIL"))
	e := rolegate.NewEvent(rolegate.System("bench"), rolegate.OutcomeSuccess, rolegate.CatalogRefreshed{Roles: 12})
	run := func(b *testing.B) {
		for b.Loop() {
			if err := NewTrail(db).AppendEvent(ctx, e); err != nil {
				b.Fatal(err)
			}
		}
	}
	// Durable, as the portal runs: one fsync per commit dominates.
	b.Run("synchronous=FULL", run)
	// Without the fsync: the work of the append itself.
	if _, err := db.write.ExecContext(ctx, `PRAGMA synchronous = OFF`); err != nil {
		b.Fatal(err)
	}
	b.Run("synchronous=OFF", run)
}

// benchTrailCopy opens, without migrating, a copy of the trail file src
// (the cached million-event trail when src is ""), for a benchmark that
// writes; the copy is closed when the benchmark ends.
func benchTrailCopy(b *testing.B, src string) *DB {
	b.Helper()
	if src == "" {
		cached := benchTrail(b)
		src = cached.Path()
		cached.Close()
	}
	path := filepath.Join(b.TempDir(), "copy.db")
	if err := copyFile(src, path); err != nil {
		b.Fatal(err)
	}
	db, err := OpenNoMigrate(context.Background(), path)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	return db
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
