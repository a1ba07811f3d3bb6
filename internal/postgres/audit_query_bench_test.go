package postgres

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/rolegate/rolegate/internal/pgtest"
	"github.com/rolegate/rolegate/internal/rolegate"
	"github.com/rolegate/rolegate/internal/storetest"
)

// The audit search at scale on PostgreSQL, the counterpart of
// internal/sqlite's audit_query_bench_test.go on the same trail
// (storetest.BenchTrail, 1,000,000 events):
//
//	go test -run '^$' -bench Audit ./internal/postgres
//
// Each run seeds a database of the test cluster (internal/pgtest) with
// COPY: a minute or two. ROLEGATE_BENCH_PG=postgres://… names a database
// to keep the trail in instead: seeded on first use, then used as it is.
// docs/PERFORMANCE.md ("PostgreSQL: audit at 1,000,000 events") has the
// figures.

// benchGenerator changes when the seeded trail does, so that a kept
// database is not used with an older one.
const benchGenerator = 2 // 2: the text's index without a pending list, its statistics wider

// benchTrail opens the million-event trail, seeding it when needed.
func benchTrail(b *testing.B) *DB {
	b.Helper()
	ctx := context.Background()
	url := os.Getenv("ROLEGATE_BENCH_PG")
	if url == "" {
		url = pgtest.NewDatabase(b)
	}
	db, err := Open(ctx, url)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	var marker int64
	err = db.pool.QueryRow(ctx, `SELECT generator FROM bench_trail`).Scan(&marker)
	switch {
	case err == nil && marker == benchGenerator:
		return db
	case err == nil:
		b.Fatalf("the benchmark trail in ROLEGATE_BENCH_PG is of generator %d, not %d: give an empty database", marker, benchGenerator)
	}
	var events int64
	if err := db.pool.QueryRow(ctx, `SELECT count(*) FROM audit_events`).Scan(&events); err != nil {
		b.Fatal(err)
	}
	if events != 0 {
		b.Fatalf("the database for the benchmark trail holds %d events but no finished trail: give an empty database", events)
	}
	start := time.Now()
	if err := seedBenchTrail(ctx, db, storetest.BenchEvents); err != nil {
		b.Fatalf("seed the benchmark trail: %v", err)
	}
	b.Logf("seeded %d events in %s", storetest.BenchEvents, time.Since(start).Round(time.Second))
	return db
}

// seedBenchTrail writes the trail of n events into db's empty trail as
// appendEvent would have (the same rows, search vectors, tree, counts of
// actions and actors), but in bulk: the trail's indexes are dropped, the
// events copied in (copyEvents) and the indexes made again; then VACUUM
// ANALYZE, as autovacuum would get to after a bulk load.
func seedBenchTrail(ctx context.Context, db *DB, n int) error {
	conn, err := db.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	exec := func(sql string) error {
		if _, err := conn.Exec(ctx, sql); err != nil {
			return fmt.Errorf("%s: %w", sql, err)
		}
		return nil
	}
	rows, err := conn.Query(ctx, `SELECT indexname, indexdef FROM pg_indexes
		WHERE schemaname = current_schema() AND tablename = 'audit_events' AND indexname <> 'audit_events_pkey'`)
	if err != nil {
		return err
	}
	type index struct{ name, def string }
	indexes, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (index, error) {
		var i index
		return i, r.Scan(&i.name, &i.def)
	})
	if err != nil {
		return err
	}
	if err := exec(`SET maintenance_work_mem = '256MB'`); err != nil {
		return err
	}
	for _, i := range indexes {
		if err := exec(`DROP INDEX ` + pgx.Identifier{i.name}.Sanitize()); err != nil {
			return err
		}
	}

	if err := copyEvents(ctx, conn, db, func(yield func(rolegate.Event) error) error {
		return storetest.BenchTrail(n, yield)
	}); err != nil {
		return err
	}
	for _, i := range indexes {
		if err := exec(i.def); err != nil {
			return err
		}
	}
	for _, sql := range []string{
		`VACUUM ANALYZE audit_events`, `VACUUM ANALYZE audit_tree`, `VACUUM ANALYZE audit_actions`, `VACUUM ANALYZE audit_actors`,
		`CREATE TABLE bench_trail (generator bigint NOT NULL)`,
		`INSERT INTO bench_trail VALUES (` + strconv.Itoa(benchGenerator) + `)`,
	} {
		if err := exec(sql); err != nil {
			return err
		}
	}
	return nil
}

// The benchmarks themselves are internal/storetest's, the same on SQLite.

func BenchmarkAuditSearch(b *testing.B) { storetest.BenchSearch(b, NewTrail(benchTrail(b))) }

func BenchmarkAuditCount(b *testing.B) { storetest.BenchCount(b, NewTrail(benchTrail(b))) }

func BenchmarkAuditExport(b *testing.B) { storetest.BenchExport(b, NewTrail(benchTrail(b))) }

func BenchmarkAuditVerify(b *testing.B) { storetest.BenchVerify(b, NewTrail(benchTrail(b))) }
