package sqlite

import (
	"bufio"
	"context"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/rolegate/rolegate/internal/audit"
	"github.com/rolegate/rolegate/internal/rolegate"
)

// The Merkle tree at a million events:
// go test -run '^$' -bench 'AuditProve|AuditConsistency|AuditIncluded|AuditExportVerify' -benchtime 1x ./internal/sqlite
// (AuditExportVerify writes and checks whole exports: one iteration is
// the measurement). Figures in README.md and docs/PERFORMANCE.md.

// benchTree is the million-event trail with the size and the root of its
// whole tree.
func benchTree(b *testing.B) (db *DB, size int64, root tlog.Hash) {
	b.Helper()
	db, size = benchTrail(b), int64(benchEvents)
	root, err := NewTrail(db).AuditTreeRoot(context.Background(), size)
	if err != nil {
		b.Fatal(err)
	}
	return db, size, root
}

// BenchmarkAuditProve reads an inclusion proof of a random event in the
// tree of the whole trail, and checks it.
func BenchmarkAuditProve(b *testing.B) {
	ctx := context.Background()
	db, size, root := benchTree(b)
	rng := rand.New(rand.NewPCG(3, 4))
	var hashes, lineBytes int
	var check time.Duration
	for b.Loop() {
		seq := 1 + rng.Int64N(size)
		e, p, err := NewTrail(db).ProveEvent(ctx, seq, size)
		if err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		leaf, _ := audit.LeafHash(e)
		got, err := audit.RootFromInclusion(seq-1, size, leaf, p)
		check += time.Since(start)
		if err != nil || got != root {
			b.Fatalf("proof of %d does not verify: %v", seq, err)
		}
		line, _ := audit.AppendProvedJSONLine(nil, e, &audit.Proof{TreeSize: size, Hashes: p})
		hashes += len(p)
		lineBytes += len(line)
	}
	b.ReportMetric(float64(hashes)/float64(b.N), "hashes/proof")
	b.ReportMetric(float64(lineBytes)/float64(b.N), "B/line")
	b.ReportMetric(float64(check.Nanoseconds())/float64(b.N), "ns/check")
}

// BenchmarkAuditConsistency reads the consistency proof from a random
// earlier size to the whole trail.
func BenchmarkAuditConsistency(b *testing.B) {
	ctx := context.Background()
	db, size, _ := benchTree(b)
	rng := rand.New(rand.NewPCG(5, 6))
	var hashes int
	for b.Loop() {
		old := 1 + rng.Int64N(size-1)
		p, _, err := NewTrail(db).ProveTree(ctx, old, size)
		if err != nil {
			b.Fatal(err)
		}
		hashes += len(p)
	}
	b.ReportMetric(float64(hashes)/float64(b.N), "hashes/proof")
}

// BenchmarkAuditIncludedIn is what the Audit page adds to a page of 50
// events: each one's proof in the latest checkpoint, checked.
func BenchmarkAuditIncludedIn(b *testing.B) {
	ctx := context.Background()
	db, size, root := benchTree(b)
	cp := audit.Checkpoint{Origin: "bench", Size: size, Hash: audit.HexHash(root)}
	events, _, err := NewTrail(db).SearchEvents(ctx, rolegate.AuditFilter{Action: rolegate.ActionRequestApproved})
	if err != nil || len(events) != AuditPageSize {
		b.Fatalf("%d events, %v", len(events), err)
	}
	for b.Loop() {
		in, err := NewTrail(db).IncludedIn(ctx, cp, events)
		if err != nil || len(in) != len(events) {
			b.Fatal(err)
		}
	}
}

// BenchmarkAuditExportVerify writes the JSON Lines export of the whole
// trail, and of one action (each line with its proof), as the portal
// does, then checks each offline as rolegate audit verify -export does.
func BenchmarkAuditExportVerify(b *testing.B) {
	ctx := context.Background()
	db, size, root := benchTree(b)
	cp := audit.Checkpoint{Origin: "bench", Size: size, Hash: audit.HexHash(root)}
	for _, c := range []struct {
		name   string
		filter rolegate.AuditFilter
	}{
		{"full", rolegate.AuditFilter{}},
		{"filtered request.approved", rolegate.AuditFilter{Action: rolegate.ActionRequestApproved}},
	} {
		b.Run(c.name, func(b *testing.B) {
			path := filepath.Join(b.TempDir(), "export.jsonl")
			f, err := os.Create(path)
			if err != nil {
				b.Fatal(err)
			}
			w := audit.NewExportWriter(f, audit.FormatJSONL)
			start, n := time.Now(), 0
			write := func(e rolegate.Event, p *audit.Proof) error { n++; return w.WriteProved(e, p) }
			if c.filter == (rolegate.AuditFilter{}) {
				err = NewTrail(db).ExportEvents(ctx, c.filter, func(e rolegate.Event) error { return write(e, nil) })
			} else {
				err = NewTrail(db).ExportProvedEvents(ctx, c.filter, write)
			}
			if err != nil || w.Flush() != nil || f.Close() != nil {
				b.Fatal(err)
			}
			exportTime := time.Since(start)
			fi, _ := os.Stat(path)
			b.ResetTimer()
			for b.Loop() {
				in, err := os.Open(path)
				if err != nil {
					b.Fatal(err)
				}
				rep, err := audit.VerifyExport(bufio.NewReaderSize(in, 1<<20), audit.ExportCheck{Checkpoint: &cp})
				in.Close()
				if err != nil || rep.Lines != int64(n) {
					b.Fatalf("verify: %+v, %v", rep, err)
				}
			}
			b.ReportMetric(float64(n), "events")
			b.ReportMetric(float64(fi.Size())/float64(1<<20), "MiB")
			b.ReportMetric(exportTime.Seconds(), "s-export")
		})
	}
}

// BenchmarkAuditTreeMigration builds the tree of the million events from
// nothing, in one transaction, as migration 00009 does for an existing
// trail (run it with -benchtime 1x).
func BenchmarkAuditTreeMigration(b *testing.B) {
	ctx := context.Background()
	db := benchTrailCopy(b, "")
	for b.Loop() {
		b.StopTimer()
		for _, stmt := range []string{`DROP TRIGGER IF EXISTS audit_tree_no_delete`, `DELETE FROM audit_tree`} {
			if _, err := db.write.ExecContext(ctx, stmt); err != nil {
				b.Fatal(err)
			}
		}
		b.StartTimer()
		added, err := NewTrail(db).CatchUpAuditTree(ctx)
		if err != nil || added != benchEvents {
			b.Fatalf("CatchUpAuditTree = %d, %v", added, err)
		}
	}
}
