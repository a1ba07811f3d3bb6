package storetest

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rolegate/rolegate/internal/audit"
	"github.com/rolegate/rolegate/internal/rolegate"
)

// The audit benchmarks at scale, the same on every engine: each engine's
// own benchmark file stores BenchTrail's events its own way (SQLite in a
// file kept between runs, PostgreSQL by COPY) and runs BenchSearch,
// BenchCount, BenchExport and BenchVerify on it, so that the engines'
// figures compare.

// BenchEvents is the size of the benchmarks' trail.
const BenchEvents = 1_000_000

// BenchStart is the first event's time; a trail of BenchEvents spans
// about three years.
var BenchStart = time.Date(2022, 1, 1, 8, 0, 0, 0, time.UTC)

// BenchTime is a moment a fraction of the way through the trail of
// BenchEvents.
func BenchTime(frac float64) time.Time {
	span := time.Duration(float64(BenchEvents) * 95 * float64(time.Second) * frac)
	return BenchStart.Add(span)
}

type benchPerson struct{ key, email, name, roles string }

func benchPeople() (requesters, approvers, others []benchPerson) {
	firstNames := []string{"Riley", "Avery", "Blake", "Casey", "Drew", "Jordan", "Morgan", "Quinn", "Sage", "Taylor", "Zoë", "Noah"}
	kindNames := map[string]string{"employee": "Employee", "approver": "Approver", "auditor": "Auditor"}
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
	benchWords = []string{"quarterly", "access", "review", "billing", "export", "analytics", "support", "onboarding", "incident",
		"migration", "audit", "compliance", "research", "evaluation", "finetune", "batch", "vector", "store", "assistant", "pipeline"}
	benchPermissions = []string{"api.groups.read", "api.groups.write", "api.model.request", "api.files.read", "api.files.write",
		"api.batch.read", "api.batch.write", "api.vector_stores.read", "api.organization.projects.read", "api.usage.read"}
)

// BenchTrail makes n events of a plausible portal's life, oldest first,
// chained as the trail chains them (Seq, At, PrevHash and Hash set), and
// calls emit with each: sign-ins (a third of the trail), a few failures
// and denials, and requests filed, decided and provisioned by 2,000
// requesters and 20 approvers over about three years.
func BenchTrail(n int, emit func(rolegate.Event) error) error {
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
		s := benchWords[rng.IntN(len(benchWords))]
		for range 3 + rng.IntN(5) {
			s += " " + benchWords[rng.IntN(len(benchWords))]
		}
		if rng.IntN(50) == 0 {
			s += " ticket " + randHex(6) // a rare word
		}
		return s
	}
	at := BenchStart
	prev := audit.GenesisHash
	var seq, requestID int64
	add := func(who benchPerson, action, outcome string, req int64, role string, details map[string]any) error {
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
		return emit(e)
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
			err = add(who, rolegate.ActionSignInSucceeded, rolegate.OutcomeSuccess, 0, "", nil)
			if err == nil && rng.IntN(3) == 0 {
				err = add(who, rolegate.ActionSignOut, rolegate.OutcomeSuccess, 0, "", nil)
			}
		case r < 310:
			err = add(benchPerson{key: "|"}, rolegate.ActionSignInFailed, rolegate.OutcomeFailure, 0, "", map[string]any{"reason": "state mismatch"})
		case r < 318:
			err = add(pick(requesters), rolegate.ActionAccessDenied, rolegate.OutcomeDenied, 0, "",
				map[string]any{"method": "GET", "path": "/audit", "reason": "missing portal role auditor"})
		case r < 319:
			err = add(system("catalog"), rolegate.ActionCatalogRefreshed, rolegate.OutcomeSuccess, 0, "", map[string]any{"roles": 12})
		case r < 320:
			err = add(pick(auditors), rolegate.ActionAuditExported, rolegate.OutcomeSuccess, 0, "",
				map[string]any{"format": "csv", "filter": map[string]any{"action": "request."}})
		default: // a request's story
			requestID++
			who := pick(requesters)
			role := fmt.Sprintf("Team %s %d", benchWords[rng.IntN(len(benchWords))], requestID)
			perms := []string{benchPermissions[rng.IntN(len(benchPermissions))], benchPermissions[rng.IntN(len(benchPermissions))]}
			hash := randHex(64)
			err = add(who, rolegate.ActionRequestCreated, rolegate.OutcomeSuccess, requestID, role,
				map[string]any{"permissions": perms, "payload_sha256": hash, "required_approvals": 1, "justification": sentence()})
			if err != nil {
				return err
			}
			switch s := rng.IntN(100); {
			case s < 8:
				err = add(pick(approvers), rolegate.ActionRequestRejected, rolegate.OutcomeSuccess, requestID, role, map[string]any{"comment": sentence()})
			case s < 12:
				err = add(who, rolegate.ActionRequestCancelled, rolegate.OutcomeSuccess, requestID, role, nil)
			case s < 15:
				err = add(system("expiry"), rolegate.ActionRequestExpired, rolegate.OutcomeSuccess, requestID, role,
					map[string]any{"reason": "No decision within 336h0m0s of submission."})
			default:
				err = add(pick(approvers), rolegate.ActionRequestApproved, rolegate.OutcomeSuccess, requestID, role,
					map[string]any{"comment": sentence(), "payload_sha256": hash, "approvals": 1, "required_approvals": 1, "complete": true})
				if err == nil {
					err = add(system("provisioner"), rolegate.ActionProvisioningQueued, rolegate.OutcomeSuccess, requestID, role, nil)
				}
				if err == nil {
					err = add(system("provisioner"), rolegate.ActionProvisioningAttempt, rolegate.OutcomeSuccess, requestID, role,
						map[string]any{"attempt": 1, "reconcile": false})
				}
				if err != nil {
					return err
				}
				if rng.IntN(20) == 0 {
					err = add(system("provisioner"), rolegate.ActionProvisioningFailed, rolegate.OutcomeFailure, requestID, role,
						map[string]any{"attempt": 1, "error": "Invalid permission: " + perms[0]})
				} else {
					err = add(system("provisioner"), rolegate.ActionProvisioningSucceeded, rolegate.OutcomeSuccess, requestID, role,
						map[string]any{"role_id": "role_" + randHex(24), "resource_type": "api.organization", "permissions": perms, "attempt": 1})
				}
			}
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// samplePeakHeap watches the Go heap in use until the benchmark ends; the
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

// benchCase is a search the benchmarks measure.
type benchCase struct {
	name string
	f    rolegate.AuditFilter
}

// benchSearchCases are the searches the audit benchmarks measure on the
// benchmarks' trail: each filter alone, common and rare, combinations, and
// pages deep in the trail.
func benchSearchCases() []benchCase {
	day := BenchTime(0.5).Truncate(24 * time.Hour)
	year := BenchTime(0.2)
	n := int64(BenchEvents)
	return []benchCase{
		{"first page/no filter", rolegate.AuditFilter{}},
		{"first page/action", rolegate.AuditFilter{Action: rolegate.ActionRequestApproved}},
		{"first page/rare action", rolegate.AuditFilter{Action: rolegate.ActionAuditExported}},
		{"first page/action family", rolegate.AuditFilter{Action: "provisioning."}},
		{"first page/actor approver", rolegate.AuditFilter{Actor: "approver0007@example.com"}},
		{"first page/actor requester", rolegate.AuditFilter{Actor: "employee1234"}},
		{"first page/actor by name, many people", rolegate.AuditFilter{Actor: "Blake"}},
		{"first page/request", rolegate.AuditFilter{RequestID: 54321}},
		{"first page/one day", rolegate.AuditFilter{From: day, To: day.Add(24 * time.Hour)}},
		{"first page/one year", rolegate.AuditFilter{From: year, To: year.AddDate(1, 0, 0)}},
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
		{"first page/actor+action family+one year", rolegate.AuditFilter{Actor: "employee0042", Action: "request.", From: year, To: year.AddDate(1, 0, 0)}},
		{"first page/scope", rolegate.AuditFilter{Scope: "proj_nope"}},
		{"deep page/no filter", rolegate.AuditFilter{BeforeSeq: n / 2}},
		{"deep page/action", rolegate.AuditFilter{Action: rolegate.ActionRequestApproved, BeforeSeq: n / 10}},
		{"deep page/actor", rolegate.AuditFilter{Actor: "approver0007@example.com", BeforeSeq: n / 10}},
		{"deep page/text", rolegate.AuditFilter{Text: "billing", BeforeSeq: n / 10}},
	}
}

// benchCountCases are the filters whose count the audit benchmarks measure.
func benchCountCases() []benchCase {
	day := BenchTime(0.5).Truncate(24 * time.Hour)
	year := BenchTime(0.2)
	return []benchCase{
		{"no filter", rolegate.AuditFilter{}},
		{"action", rolegate.AuditFilter{Action: rolegate.ActionRequestApproved}},
		{"rare action", rolegate.AuditFilter{Action: rolegate.ActionAuditExported}},
		{"action family", rolegate.AuditFilter{Action: "provisioning."}},
		{"word action", rolegate.AuditFilter{Action: "failed"}},
		{"actor approver", rolegate.AuditFilter{Actor: "approver0007@example.com"}},
		{"actor by name, many people", rolegate.AuditFilter{Actor: "Blake"}},
		{"request", rolegate.AuditFilter{RequestID: 54321}},
		{"one day", rolegate.AuditFilter{From: day, To: day.Add(24 * time.Hour)}},
		{"one year", rolegate.AuditFilter{From: year, To: year.AddDate(1, 0, 0)}},
		{"action+one day", rolegate.AuditFilter{Action: rolegate.ActionRequestCreated, From: day, To: day.Add(24 * time.Hour)}},
		{"text common", rolegate.AuditFilter{Text: "quarterly"}},
		{"text rare", rolegate.AuditFilter{Text: "ticket"}},
		{"text phrase", rolegate.AuditFilter{Text: "api.groups.write"}},
		{"text prefix", rolegate.AuditFilter{Text: "quarter*"}},
		{"text no match", rolegate.AuditFilter{Text: "nonexistentword"}},
		{"actor+text", rolegate.AuditFilter{Actor: "approver0003@example.com", Text: "billing"}},
		{"rare action+text", rolegate.AuditFilter{Action: rolegate.ActionRequestRejected, Text: "compliance"}},
	}
}

// BenchSearch measures the first page of each of the searches, and pages
// deep in the trail, on a trail of BenchTrail's events.
func BenchSearch(b *testing.B, trail Trail) {
	ctx := context.Background()
	for _, c := range benchSearchCases() {
		b.Run(c.name, func(b *testing.B) {
			var got int
			for b.Loop() {
				events, _, err := trail.SearchEvents(ctx, c.f)
				if err != nil {
					b.Fatal(err)
				}
				got = len(events)
			}
			b.ReportMetric(float64(got), "events")
		})
	}
}

// BenchCount measures the Audit page's count of matches (CountEvents,
// exact up to 10,000 as web's auditCountMost; "not-counted" where the
// store declines), and "page", what the Audit page asks of the store: the
// search and the count.
func BenchCount(b *testing.B, trail Trail) {
	ctx := context.Background()
	const most = 10000
	for _, c := range benchCountCases() {
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

// BenchExport streams exports as web's export does, with the Go heap's
// peak: constant however many events stream. "proved" is a filtered JSON
// export, each line with its inclusion proof.
func BenchExport(b *testing.B, trail Trail) {
	ctx := context.Background()
	for _, c := range []struct {
		name   string
		f      rolegate.AuditFilter
		format string
		proved bool
	}{
		{"all/jsonl", rolegate.AuditFilter{}, "jsonl", false},
		{"all/csv", rolegate.AuditFilter{}, "csv", false},
		{"action family/jsonl", rolegate.AuditFilter{Action: "request."}, "jsonl", false},
		{"action family/jsonl proved", rolegate.AuditFilter{Action: "request."}, "jsonl", true},
	} {
		b.Run(c.name, func(b *testing.B) {
			var n int
			peak := samplePeakHeap(b)
			for b.Loop() {
				n = 0
				w := audit.NewExportWriter(io.Discard, c.format)
				var err error
				if c.proved {
					err = trail.ExportProvedEvents(ctx, c.f, func(e rolegate.Event, p *audit.Proof) error {
						n++
						return w.WriteProved(e, p)
					})
				} else {
					err = trail.ExportEvents(ctx, c.f, func(e rolegate.Event) error {
						n++
						return w.Write(e)
					})
				}
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

// BenchVerify measures rolegate audit verify's walk over a trail of
// BenchEvents events: every event read back and its chain checked.
func BenchVerify(b *testing.B, trail Trail) {
	ctx := context.Background()
	for b.Loop() {
		w := audit.NewWalk()
		if err := trail.WalkAuditTrail(ctx, w.Add); err != nil {
			b.Fatal(err)
		}
		if head, err := w.Finish(); err != nil || head.Size != BenchEvents {
			b.Fatalf("verify = %d, %v; want %d events", head.Size, err, BenchEvents)
		}
	}
	b.ReportMetric(float64(BenchEvents)*float64(b.N)/b.Elapsed().Seconds(), "events/s")
}
