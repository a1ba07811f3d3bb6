package sqlite

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/rolegate/rolegate/internal/rolegate"
	"github.com/rolegate/rolegate/internal/storetest"
	"github.com/rolegate/rolegate/migrations"
)

// The audit search at scale: go test -run '^$' -bench Audit ./internal/sqlite
//
// The benchmarks are internal/storetest's, the same on PostgreSQL, on the
// same trail (storetest.BenchTrail, 1,000,000 events). The first run
// writes the trail (minutes on two cores: one transaction, the search
// triggers firing for every row) and keeps it under os.TempDir(), keyed by
// the migrations and the generator, so later runs start at once. The
// figures are in README.md ("Audit trail").

const benchEvents = storetest.BenchEvents

// benchGenerator changes when the generated trail does, so that a cached
// trail is rebuilt.
const benchGenerator = 2 // 2: with the Merkle tree (migration 00009)

// benchTrail opens the million-event trail, building it on first use.
func benchTrail(b *testing.B) *DB {
	b.Helper()
	ctx := context.Background()
	// ROLEGATE_BENCH_TRAIL opens a trail built earlier as it is (no
	// migration), for benchmarks that only read: building one takes minutes.
	if path := os.Getenv("ROLEGATE_BENCH_TRAIL"); path != "" {
		db, err := OpenNoMigrate(ctx, path)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { db.Close() })
		return db
	}
	h := sha256.New()
	_ = fs.WalkDir(migrations.FS, ".", func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			body, _ := fs.ReadFile(migrations.FS, path)
			h.Write([]byte(path))
			h.Write(body)
		}
		return nil
	})
	key := hex.EncodeToString(h.Sum(nil))[:16]
	path := filepath.Join(os.TempDir(), fmt.Sprintf("rolegate-audit-bench-%d-g%d-%s.db", benchEvents, benchGenerator, key))
	if _, err := os.Stat(path); err != nil {
		start := time.Now()
		tmp := fmt.Sprintf("%s.%d.tmp", path, os.Getpid())
		if err := buildBenchTrail(ctx, tmp, benchEvents); err != nil {
			os.Remove(tmp)
			b.Fatalf("build the benchmark trail: %v", err)
		}
		// The tree is built as migration 00009 builds an older trail's:
		// this is its cost for a million events.
		treeStart := time.Now()
		if err := catchUpBenchTree(ctx, tmp); err != nil {
			os.Remove(tmp)
			b.Fatalf("build the benchmark trail's tree: %v", err)
		}
		b.Logf("the Merkle tree of %d events (as migration 00009 builds it) took %s", benchEvents, time.Since(treeStart).Round(time.Millisecond))
		if err := os.Rename(tmp, path); err != nil {
			b.Fatal(err)
		}
		b.Logf("built %d events in %s: %s", benchEvents, time.Since(start).Round(time.Second), path)
	}
	db, err := Open(ctx, path)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	return db
}

func catchUpBenchTree(ctx context.Context, path string) error {
	db, err := OpenNoMigrate(ctx, path)
	if err != nil {
		return err
	}
	defer db.Close()
	if _, err := db.write.ExecContext(ctx, `PRAGMA synchronous = FULL`); err != nil {
		return err
	}
	_, err = NewTrail(db).CatchUpAuditTree(ctx)
	return err
}

// buildBenchTrail writes storetest.BenchTrail's n events into a new
// database at path: one transaction, the rows as appendEvent writes them,
// the search triggers firing as in production.
func buildBenchTrail(ctx context.Context, path string, n int) error {
	db, err := Open(ctx, path)
	if err != nil {
		return err
	}
	defer db.Close()
	if _, err := db.write.ExecContext(ctx, `PRAGMA synchronous = OFF`); err != nil {
		return err
	}
	return db.update(ctx, func(tx *Tx) error {
		stmt, err := tx.PrepareContext(ctx, `
			INSERT INTO audit_events (seq, at, actor_key, actor_email, actor_name, actor_roles, action,
				request_id, role_name, outcome, details, client_ip, user_agent, http_request_id, prev_hash, hash)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
		if err != nil {
			return err
		}
		defer stmt.Close()
		return storetest.BenchTrail(n, func(e rolegate.Event) error {
			var rid any
			if e.RequestID != 0 {
				rid = e.RequestID
			}
			_, err := stmt.ExecContext(ctx, e.Seq, ms(e.At), e.ActorKey, e.ActorEmail, e.ActorName, e.ActorRoles, e.Action,
				rid, e.RoleName, e.Outcome, string(e.Details), e.ClientIP, e.UserAgent, e.HTTPReqID, e.PrevHash, e.Hash)
			return err
		})
	})
}

func BenchmarkAuditSearch(b *testing.B) { storetest.BenchSearch(b, NewTrail(benchTrail(b))) }

func BenchmarkAuditCount(b *testing.B) { storetest.BenchCount(b, NewTrail(benchTrail(b))) }

func BenchmarkAuditExport(b *testing.B) { storetest.BenchExport(b, NewTrail(benchTrail(b))) }

func BenchmarkAuditVerify(b *testing.B) { storetest.BenchVerify(b, NewTrail(benchTrail(b))) }
