package sqlite

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rolegate/rolegate/internal/audit"
	"github.com/rolegate/rolegate/internal/rolegate"
	"github.com/rolegate/rolegate/migrations"
)

// The audit search at scale: go test -run '^$' -bench Audit ./internal/sqlite
//
// The first run builds a trail of a million events (minutes on two cores:
// one transaction, the search triggers firing for every row) and keeps it
// under os.TempDir(), keyed by the migrations and the generator, so later
// runs start at once. The figures are in README.md ("Audit trail").

const benchEvents = 1_000_000

// benchGenerator changes when the generated trail does, so that a cached
// trail is rebuilt.
const benchGenerator = 2 // 2: with the Merkle tree (migration 00009)

// benchStart is the first event's time; the trail spans about three years.
var benchStart = time.Date(2022, 1, 1, 8, 0, 0, 0, time.UTC)

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

// benchPeople are the trail's actors: many requesters, a few approvers,
// auditors and admins, and the portal itself.
type benchPerson struct{ key, email, name, roles string }

func benchPeople() (requesters, approvers, others []benchPerson) {
	person := func(i int, kind, roles string) benchPerson {
		return benchPerson{
			key:   fmt.Sprintf("https://idp.example.com|%s-%04d", kind, i),
			email: fmt.Sprintf("%s%04d@example.com", kind, i),
			name:  fmt.Sprintf("%s %s %04d", firstNames[i%len(firstNames)], kindNames[kind], i),
			roles: roles,
		}
	}
	for i := range 2000 {
		requesters = append(requesters, person(i, "employee", "requester"))
	}
	for i := range 20 {
		approvers = append(approvers, person(i, "approver", "requester,approver"))
	}
	for i := range 3 {
		others = append(others, person(i, "auditor", "requester,auditor"))
	}
	return
}

var (
	firstNames = []string{"Riley", "Avery", "Blake", "Casey", "Drew", "Jordan", "Morgan", "Quinn", "Sage", "Taylor", "Zoë", "Noah"}
	kindNames  = map[string]string{"employee": "Employee", "approver": "Approver", "auditor": "Auditor"}
	words      = []string{"quarterly", "access", "review", "billing", "export", "analytics", "support", "onboarding", "incident",
		"migration", "audit", "compliance", "research", "evaluation", "finetune", "batch", "vector", "store", "assistant", "pipeline"}
	permissionNames = []string{"api.groups.read", "api.groups.write", "api.model.request", "api.files.read", "api.files.write",
		"api.batch.read", "api.batch.write", "api.vector_stores.read", "api.organization.projects.read", "api.usage.read"}
)

// buildBenchTrail writes n events of a plausible portal's life into a new
// database at path: one transaction, the chain computed as appendEvent
// does, the search triggers firing as in production.
func buildBenchTrail(ctx context.Context, path string, n int) error {
	db, err := Open(ctx, path)
	if err != nil {
		return err
	}
	defer db.Close()
	if _, err := db.write.ExecContext(ctx, `PRAGMA synchronous = OFF`); err != nil {
		return err
	}
	rng := rand.New(rand.NewPCG(1, 2))
	requesters, approvers, auditors := benchPeople()
	pick := func(p []benchPerson) benchPerson { return p[rng.IntN(len(p))] }
	randHex := func(n int) string {
		b := make([]byte, n/2)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		return hex.EncodeToString(b)
	}
	sentence := func() string {
		s := words[rng.IntN(len(words))]
		for range 3 + rng.IntN(5) {
			s += " " + words[rng.IntN(len(words))]
		}
		if rng.IntN(50) == 0 {
			s += " ticket " + randHex(6) // a rare word
		}
		return s
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
		at := benchStart
		prev := audit.GenesisHash
		var seq, requestID int64
		emit := func(who benchPerson, action, outcome string, req int64, role string, details map[string]any) error {
			if seq >= int64(n) {
				return nil
			}
			seq++
			at = at.Add(time.Duration(rng.IntN(190_000)) * time.Millisecond)
			d, _ := json.Marshal(details)
			if details == nil {
				d = []byte("{}")
			}
			e := rolegate.Event{
				Seq: seq, At: at, ActorKey: who.key, ActorEmail: who.email, ActorName: who.name, ActorRoles: who.roles,
				Action: action, RequestID: req, RoleName: role, Outcome: outcome, Details: d, PrevHash: prev,
			}
			if !strings.HasPrefix(who.key, "rolegate|") {
				e.ClientIP = fmt.Sprintf("10.%d.%d.%d", rng.IntN(4), rng.IntN(256), 1+rng.IntN(254))
				e.UserAgent = "Mozilla/5.0 (X11; Linux x86_64) Chrome/131.0"
				e.HTTPReqID = randHex(24)
			}
			hash, err := audit.Hash(e)
			if err != nil {
				return err
			}
			e.Hash = hash
			prev = e.Hash
			var rid any
			if req != 0 {
				rid = req
			}
			_, err = stmt.ExecContext(ctx, e.Seq, ms(e.At), e.ActorKey, e.ActorEmail, e.ActorName, e.ActorRoles, e.Action,
				rid, e.RoleName, e.Outcome, string(e.Details), e.ClientIP, e.UserAgent, e.HTTPReqID, e.PrevHash, e.Hash)
			return err
		}
		system := func(name string) benchPerson {
			return benchPerson{key: "rolegate|system:" + name, name: "rolegate " + name}
		}
		for seq < int64(n) {
			var err error
			switch r := rng.IntN(1000); {
			case r < 300: // a sign-in, sometimes a sign-out
				who := pick(requesters)
				if rng.IntN(10) == 0 {
					who = pick(approvers)
				}
				err = emit(who, rolegate.ActionSignInSucceeded, rolegate.OutcomeSuccess, 0, "", nil)
				if err == nil && rng.IntN(3) == 0 {
					err = emit(who, rolegate.ActionSignOut, rolegate.OutcomeSuccess, 0, "", nil)
				}
			case r < 310:
				err = emit(benchPerson{key: "|"}, rolegate.ActionSignInFailed, rolegate.OutcomeFailure, 0, "", map[string]any{"reason": "state mismatch"})
			case r < 318:
				who := pick(requesters)
				err = emit(who, rolegate.ActionAccessDenied, rolegate.OutcomeDenied, 0, "",
					map[string]any{"method": "GET", "path": "/audit", "reason": "missing portal role auditor"})
			case r < 319:
				err = emit(system("catalog"), rolegate.ActionCatalogRefreshed, rolegate.OutcomeSuccess, 0, "", map[string]any{"roles": 12})
			case r < 320:
				err = emit(pick(auditors), rolegate.ActionAuditExported, rolegate.OutcomeSuccess, 0, "",
					map[string]any{"format": "csv", "filter": map[string]any{"action": "request."}})
			default: // a request's story
				requestID++
				who := pick(requesters)
				role := fmt.Sprintf("Team %s %d", words[rng.IntN(len(words))], requestID)
				perms := []string{permissionNames[rng.IntN(len(permissionNames))], permissionNames[rng.IntN(len(permissionNames))]}
				hash := randHex(64)
				err = emit(who, rolegate.ActionRequestCreated, rolegate.OutcomeSuccess, requestID, role,
					map[string]any{"permissions": perms, "payload_sha256": hash, "required_approvals": 1, "justification": sentence()})
				if err != nil {
					return err
				}
				switch s := rng.IntN(100); {
				case s < 8:
					err = emit(pick(approvers), rolegate.ActionRequestRejected, rolegate.OutcomeSuccess, requestID, role, map[string]any{"comment": sentence()})
				case s < 12:
					err = emit(who, rolegate.ActionRequestCancelled, rolegate.OutcomeSuccess, requestID, role, nil)
				case s < 15:
					err = emit(system("expiry"), rolegate.ActionRequestExpired, rolegate.OutcomeSuccess, requestID, role,
						map[string]any{"reason": "No decision within 336h0m0s of submission."})
				default:
					steps := []func() error{
						func() error {
							return emit(pick(approvers), rolegate.ActionRequestApproved, rolegate.OutcomeSuccess, requestID, role,
								map[string]any{"comment": sentence(), "payload_sha256": hash, "approvals": 1, "required_approvals": 1, "complete": true})
						},
						func() error {
							return emit(system("provisioner"), rolegate.ActionProvisioningQueued, rolegate.OutcomeSuccess, requestID, role, nil)
						},
						func() error {
							return emit(system("provisioner"), rolegate.ActionProvisioningAttempt, rolegate.OutcomeSuccess, requestID, role,
								map[string]any{"attempt": 1, "reconcile": false})
						},
					}
					for _, step := range steps {
						if err = step(); err != nil {
							return err
						}
					}
					if rng.IntN(20) == 0 {
						err = emit(system("provisioner"), rolegate.ActionProvisioningFailed, rolegate.OutcomeFailure, requestID, role,
							map[string]any{"attempt": 1, "error": "Invalid permission: " + perms[0]})
					} else {
						err = emit(system("provisioner"), rolegate.ActionProvisioningSucceeded, rolegate.OutcomeSuccess, requestID, role,
							map[string]any{"role_id": "role_" + randHex(24), "resource_type": "api.organization", "permissions": perms, "attempt": 1})
					}
				}
			}
			if err != nil {
				return err
			}
		}
		return nil
	})
}

// benchTime is a moment a fraction of the way through the trail.
func benchTime(frac float64) time.Time {
	span := time.Duration(float64(benchEvents) * 95 * float64(time.Second) * frac)
	return benchStart.Add(span)
}

func BenchmarkAuditSearch(b *testing.B) {
	db := benchTrail(b)
	ctx := context.Background()
	day := benchTime(0.5).Truncate(24 * time.Hour)
	cases := []struct {
		name string
		f    rolegate.AuditFilter
	}{
		{"first page/no filter", rolegate.AuditFilter{}},
		{"first page/action", rolegate.AuditFilter{Action: rolegate.ActionRequestApproved}},
		{"first page/rare action", rolegate.AuditFilter{Action: rolegate.ActionAuditExported}},
		{"first page/action family", rolegate.AuditFilter{Action: "provisioning."}},
		{"first page/actor approver", rolegate.AuditFilter{Actor: "approver0007@example.com"}},
		{"first page/actor requester", rolegate.AuditFilter{Actor: "employee1234"}},
		{"first page/actor by name, many people", rolegate.AuditFilter{Actor: "Blake"}},
		{"first page/request", rolegate.AuditFilter{RequestID: 54321}},
		{"first page/one day", rolegate.AuditFilter{From: day, To: day.Add(24 * time.Hour)}},
		{"first page/one year", rolegate.AuditFilter{From: benchTime(0.2), To: benchTime(0.2).AddDate(1, 0, 0)}},
		{"first page/text common", rolegate.AuditFilter{Text: "quarterly"}},
		{"first page/text rare", rolegate.AuditFilter{Text: "ticket"}},
		{"first page/text phrase", rolegate.AuditFilter{Text: "api.groups.write"}},
		{"first page/text no match", rolegate.AuditFilter{Text: "nonexistentword"}},
		{"first page/action+actor", rolegate.AuditFilter{Action: rolegate.ActionRequestApproved, Actor: "approver0003@example.com"}},
		{"first page/action+one day", rolegate.AuditFilter{Action: rolegate.ActionRequestCreated, From: day, To: day.Add(24 * time.Hour)}},
		{"first page/actor+text", rolegate.AuditFilter{Actor: "approver0003@example.com", Text: "billing"}},
		{"first page/rare action+text", rolegate.AuditFilter{Action: rolegate.ActionRequestRejected, Text: "compliance"}},
		{"first page/one person+text common", rolegate.AuditFilter{Actor: "employee0042", Text: "billing"}},
		{"first page/request+text", rolegate.AuditFilter{RequestID: 54321, Text: "billing"}},
		{"first page/one day+text", rolegate.AuditFilter{Text: "support", From: day, To: day.Add(24 * time.Hour)}},
		{"first page/text prefix", rolegate.AuditFilter{Text: "quarter*"}},
		{"first page/action+person, no match", rolegate.AuditFilter{Action: rolegate.ActionRequestApproved, Actor: "employee0042"}},
		{"first page/actor+action family+one year", rolegate.AuditFilter{Actor: "employee0042", Action: "request.", From: benchTime(0.2), To: benchTime(0.2).AddDate(1, 0, 0)}},
		{"deep page/no filter", rolegate.AuditFilter{BeforeSeq: benchEvents / 2}},
		{"deep page/action", rolegate.AuditFilter{Action: rolegate.ActionRequestApproved, BeforeSeq: benchEvents / 10}},
		{"deep page/actor", rolegate.AuditFilter{Actor: "approver0007@example.com", BeforeSeq: benchEvents / 10}},
		{"deep page/text", rolegate.AuditFilter{Text: "billing", BeforeSeq: benchEvents / 10}},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			var got int
			for b.Loop() {
				events, _, err := NewTrail(db).SearchEvents(ctx, c.f)
				if err != nil {
					b.Fatal(err)
				}
				got = len(events)
			}
			b.ReportMetric(float64(got), "events")
		})
	}
}

// BenchmarkAuditCount measures the Audit page's count of matches
// (CountEvents, exact up to 10,000 as web's auditCountMost) beside the
// page's own search, for the unfiltered page, filtered pages and full-text
// searches. "page" is what the Audit page asks of the store: the search
// and the count.
func BenchmarkAuditCount(b *testing.B) {
	trail := NewTrail(benchTrail(b))
	ctx := context.Background()
	day := benchTime(0.5).Truncate(24 * time.Hour)
	const most = 10000
	cases := []struct {
		name string
		f    rolegate.AuditFilter
	}{
		{"no filter", rolegate.AuditFilter{}},
		{"action", rolegate.AuditFilter{Action: rolegate.ActionRequestApproved}},
		{"rare action", rolegate.AuditFilter{Action: rolegate.ActionAuditExported}},
		{"action family", rolegate.AuditFilter{Action: "provisioning."}},
		{"word action", rolegate.AuditFilter{Action: "failed"}},
		{"actor approver", rolegate.AuditFilter{Actor: "approver0007@example.com"}},
		{"actor by name, many people", rolegate.AuditFilter{Actor: "Blake"}},
		{"request", rolegate.AuditFilter{RequestID: 54321}},
		{"one day", rolegate.AuditFilter{From: day, To: day.Add(24 * time.Hour)}},
		{"one year", rolegate.AuditFilter{From: benchTime(0.2), To: benchTime(0.2).AddDate(1, 0, 0)}},
		{"action+one day", rolegate.AuditFilter{Action: rolegate.ActionRequestCreated, From: day, To: day.Add(24 * time.Hour)}},
		{"text common", rolegate.AuditFilter{Text: "quarterly"}},
		{"text rare", rolegate.AuditFilter{Text: "ticket"}},
		{"text phrase", rolegate.AuditFilter{Text: "api.groups.write"}},
		{"text prefix", rolegate.AuditFilter{Text: "quarter*"}},
		{"text no match", rolegate.AuditFilter{Text: "nonexistentword"}},
		{"actor+text", rolegate.AuditFilter{Actor: "approver0003@example.com", Text: "billing"}},
		{"rare action+text", rolegate.AuditFilter{Action: rolegate.ActionRequestRejected, Text: "compliance"}},
	}
	for _, c := range cases {
		var n int
		var more, declined bool
		b.Run("count/"+c.name, func(b *testing.B) {
			for b.Loop() {
				var err error
				n, more, err = trail.CountEvents(ctx, c.f, most)
				if declined = errors.Is(err, audit.ErrNotCounted); err != nil && !declined {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(n), "matches")
			if more {
				b.ReportMetric(1, "more")
			}
			if declined {
				b.ReportMetric(1, "not-counted")
			}
		})
		b.Run("page/"+c.name, func(b *testing.B) {
			for b.Loop() {
				if _, _, err := trail.SearchEvents(ctx, c.f); err != nil {
					b.Fatal(err)
				}
				if _, _, err := trail.CountEvents(ctx, c.f, most); err != nil && !errors.Is(err, audit.ErrNotCounted) {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkAuditExport(b *testing.B) {
	db := benchTrail(b)
	ctx := context.Background()
	for _, c := range []struct {
		name   string
		f      rolegate.AuditFilter
		format string
	}{
		{"all/jsonl", rolegate.AuditFilter{}, "jsonl"},
		{"all/csv", rolegate.AuditFilter{}, "csv"},
		{"action family/jsonl", rolegate.AuditFilter{Action: "request."}, "jsonl"},
	} {
		b.Run(c.name, func(b *testing.B) {
			var n int
			peak := samplePeakHeap(b)
			for b.Loop() {
				n = 0
				w := audit.NewExportWriter(io.Discard, c.format)
				err := NewTrail(db).ExportEvents(ctx, c.f, func(e rolegate.Event) error {
					n++
					return w.Write(e)
				})
				if err == nil {
					err = w.Flush()
				}
				if err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(n), "events")
			b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "events/s")
			b.ReportMetric(float64(peak())/(1<<20), "peak-heap-MiB")
		})
	}
}

// samplePeakHeap watches the heap in use until the benchmark ends; the
// function returned gives the largest seen. An export in constant memory
// keeps it flat however many events stream.
func samplePeakHeap(b *testing.B) func() uint64 {
	var peak atomic.Uint64
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		var m runtime.MemStats
		for {
			runtime.ReadMemStats(&m)
			if m.HeapInuse > peak.Load() {
				peak.Store(m.HeapInuse)
			}
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	}()
	b.Cleanup(func() { close(stop); <-done })
	return func() uint64 { return peak.Load() }
}

func BenchmarkAuditVerify(b *testing.B) {
	db := benchTrail(b)
	ctx := context.Background()
	for b.Loop() {
		w := audit.NewWalk()
		if err := NewTrail(db).WalkAuditTrail(ctx, w.Add); err != nil {
			b.Fatal(err)
		}
		if head, err := w.Finish(); err != nil || head.Size != benchEvents {
			b.Fatalf("verify = %d, %v; want %d events", head.Size, err, benchEvents)
		}
	}
	b.ReportMetric(float64(benchEvents)*float64(b.N)/b.Elapsed().Seconds(), "events/s")
}
