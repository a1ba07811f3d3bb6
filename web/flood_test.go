package web_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/rolegate/rolegate/internal/audit"
	"github.com/rolegate/rolegate/internal/rolegate"
	"github.com/rolegate/rolegate/internal/testkit"
)

// Flooding the append-only trail (issue 12, item 3): whatever anyone sends,
// signed in or not, the trail grows by a bounded number of events, the
// counts in them add up to what happened, and the chain verifies.

// eventCount is the "count" of a coalesced event (0 when it has none).
func eventCount(t *testing.T, e rolegate.Event) int {
	t.Helper()
	var d struct {
		Count int `json:"count"`
	}
	if err := json.Unmarshal(e.Details, &d); err != nil {
		t.Fatalf("details of event %d: %v", e.Seq, err)
	}
	return d.Count
}

// verifyTrail walks the whole trail's chain.
func (h *harness) verifyTrail() int64 {
	h.t.Helper()
	w := audit.NewWalk()
	for _, e := range h.trailEvents() {
		if err := w.Add(e); err != nil {
			h.t.Fatalf("the trail does not verify: %v", err)
		}
	}
	head, err := w.Finish()
	if err != nil {
		h.t.Fatalf("the trail does not verify: %v", err)
	}
	return head.Size
}

// flood sends n GETs of path as b from 8 connections at once and counts
// the answers by status.
func (b *browser) flood(path string, n int) map[int]int {
	b.h.t.Helper()
	var mu sync.Mutex
	statuses := map[int]int{}
	var wg sync.WaitGroup
	next := make(chan struct{})
	for range 8 {
		wg.Go(func() {
			for range next {
				res, err := b.Get(b.h.URL + path)
				if err != nil {
					b.h.t.Errorf("GET %s: %v", path, err)
					return
				}
				res.Body.Close()
				mu.Lock()
				statuses[res.StatusCode]++
				mu.Unlock()
			}
		})
	}
	for range n {
		next <- struct{}{}
	}
	close(next)
	wg.Wait()
	return statuses
}

func TestRefusedGETFloodIsBounded(t *testing.T) {
	clk := testkit.NewClock(time.Now())
	h := newHarness(t, harnessOptions{Now: clk.Now})
	riley := h.signInAs("requester")
	before := len(h.trailEvents())

	start := time.Now()
	statuses := riley.flood("/audit", 2000)
	t.Logf("2,000 refused GETs in %s: %v", time.Since(start).Round(time.Millisecond), statuses)
	// The clock stands still: the burst of 60, then 429 without a write.
	if statuses[http.StatusForbidden] != 60 || statuses[http.StatusTooManyRequests] != 1940 {
		t.Errorf("answers = %v; want 60 × 403 (the burst) and 1,940 × 429", statuses)
	}
	// Pages that write nothing are still answered.
	if p := riley.get("/requests"); p.StatusCode != http.StatusOK {
		t.Errorf("GET /requests during the flood = %d; want 200", p.StatusCode)
	}
	events := h.trailEvents()[before:]
	if len(events) != 1 || events[0].Action != rolegate.ActionAccessDenied || eventCount(t, events[0]) != 1 {
		t.Fatalf("the flood wrote %d events; want the first refusal alone, count 1", len(events))
	}

	// A minute on, the count of the repeats is written, once.
	h.Server.FlushRepeats(context.Background(), false)
	if n := len(h.trailEvents()) - before; n != 1 {
		t.Fatalf("flushing within the minute wrote %d events; want none", n-1)
	}
	clk.Advance(61 * time.Second)
	h.Server.FlushRepeats(context.Background(), false)
	h.Server.FlushRepeats(context.Background(), true)
	events = h.trailEvents()[before:]
	if len(events) != 2 || events[1].Action != rolegate.ActionAccessDenied || events[1].ActorName != "Riley Requester" {
		t.Fatalf("after the minute the flood left %d events; want the first refusal and one count", len(events))
	}
	if total := eventCount(t, events[0]) + eventCount(t, events[1]); total != 2000 {
		t.Errorf("the counts add up to %d; want the 2,000 refusals", total)
	}
	h.verifyTrail()

	// The limit has passed: Riley is answered as anyone would be.
	if p := riley.get("/"); p.StatusCode != http.StatusOK {
		t.Errorf("GET / after the limit passed = %d; want 200", p.StatusCode)
	}
	if p := riley.get("/audit"); p.StatusCode != http.StatusForbidden {
		t.Errorf("GET /audit after the limit passed = %d; want 403 again", p.StatusCode)
	}
	if events := h.trailEvents()[before:]; len(events) != 3 || eventCount(t, events[2]) != 1 {
		t.Errorf("the refusal after the minute = %d events in all; want a new run's first event", len(events))
	}
}

// TestRefusalsAreCountedPerPersonRouteAndReason: each run is its own, and
// another person's refusals do not hide in Riley's count.
func TestRefusalsAreCountedPerPersonRouteAndReason(t *testing.T) {
	clk := testkit.NewClock(time.Now())
	h := newHarness(t, harnessOptions{Now: clk.Now, RateLimits: generousLimits()})
	riley, avery := h.signInAs("requester"), h.signInAs("approver1")
	before := len(h.trailEvents())
	for range 5 {
		riley.get("/audit")
		riley.get("/admin")
		avery.get("/audit")
	}
	clk.Advance(61 * time.Second)
	h.Server.FlushRepeats(context.Background(), false)
	counts := map[string]int{}
	for _, e := range h.trailEvents()[before:] {
		var d struct{ Route string }
		_ = json.Unmarshal(e.Details, &d)
		counts[fmt.Sprintf("%s %s", e.ActorName, d.Route)] += eventCount(t, e)
	}
	want := map[string]int{"Riley Requester /audit": 5, "Riley Requester /admin": 5, "Avery Approver /audit": 5}
	if fmt.Sprint(counts) != fmt.Sprint(want) {
		t.Errorf("refusals counted %v; want %v", counts, want)
	}
	if n := len(h.trailEvents()) - before; n != 6 {
		t.Errorf("15 refusals in 3 runs wrote %d events; want 6 (a first and a count each)", n)
	}
}

// TestAuditExportsAreRateLimited: each export records itself and reads
// the trail; an auditor's script gets 10, then two a minute.
func TestAuditExportsAreRateLimited(t *testing.T) {
	clk := testkit.NewClock(time.Now())
	h := newHarness(t, harnessOptions{Now: clk.Now})
	casey := h.signInAs("auditor")
	statuses := casey.flood("/audit/export.csv", 200)
	if statuses[http.StatusOK] != 10 || statuses[http.StatusTooManyRequests] != 190 {
		t.Errorf("200 exports = %v; want 10 × 200, then 429", statuses)
	}
	if n := countActions(h.trailEvents(), rolegate.ActionAuditExported); n != 10 {
		t.Errorf("audit.exported events = %d; want 10", n)
	}
	// Searching is not exporting.
	if p := casey.get("/audit"); p.StatusCode != http.StatusOK {
		t.Errorf("GET /audit past the export limit = %d; want 200", p.StatusCode)
	}
	clk.Advance(30 * time.Second)
	if p := casey.get("/audit/export.jsonl"); p.StatusCode != http.StatusOK {
		t.Errorf("an export 30 s later = %d; want 200", p.StatusCode)
	}
	h.verifyTrail()
}

// TestFailedSignInFloodIsBounded: failing a sign-in needs no account. A
// flood from one address and a spread over a hundred addresses leave at
// most two events per address and minute, anonymous, whose counts add up
// to the failures answered; a real person then signs in.
func TestFailedSignInFloodIsBounded(t *testing.T) {
	p := newSSOPortal(t, ssoOptions{Env: map[string]string{"ROLEGATE_TRUSTED_PROXIES": "127.0.0.1/32"}})
	before := len(p.trailEvents())
	b := p.newBrowser()
	failed := 0
	send := func(addr string) {
		switch res := b.getFrom("/auth/callback?state=forged&code=forged", xff(addr)); res.StatusCode {
		case http.StatusUnauthorized:
			failed++
		case http.StatusTooManyRequests:
		default:
			t.Fatalf("a forged callback from %s = %d; want 401 or 429", addr, res.StatusCode)
		}
	}
	for range 200 {
		send("203.0.113.9")
	}
	for i := range 100 {
		for range 3 {
			send(fmt.Sprintf("198.51.100.%d", i+1))
		}
	}
	events := p.trailEvents()[before:]
	if n := countActions(events, rolegate.ActionSignInFailed); n != 101 || len(events) != 101 {
		t.Fatalf("%d failed sign-ins from 101 addresses wrote %d events (%d auth.signin.failed); want one per address", failed, len(events), n)
	}
	// Someone real signs in meanwhile (the provider's clock is not moved).
	if b := p.signIn(rita.Subject); b.get("/").StatusCode != http.StatusOK {
		t.Error("Rita cannot use the portal during the flood")
	}
	before = len(p.trailEvents()) // her sign-in is not part of the flood
	p.Clock.Advance(61 * time.Second)
	p.Server.FlushRepeats(context.Background(), false)
	events = append(events, p.trailEvents()[before:]...)
	total := 0
	for _, e := range events {
		if e.Action != rolegate.ActionSignInFailed || e.ActorKey != "anonymous" {
			t.Errorf("event %d = %s by %q; want auth.signin.failed by anonymous", e.Seq, e.Action, e.ActorKey)
		}
		total += eventCount(t, e)
	}
	if len(events) != 202 || total != failed {
		t.Errorf("after the minute: %d events counting %d failures; want 202 (a first and a count per address) counting all %d", len(events), total, failed)
	}
	p.verifyTrail()
}

// TestSignedOutPostsAreLimitedPerAddress: without a session there is no
// session to count, so the client address is.
func TestSignedOutPostsAreLimitedPerAddress(t *testing.T) {
	h := newHarness(t, harnessOptions{RateLimits: tightLimits()})
	anon := h.newBrowser()
	for i := range 3 {
		if p := anon.post("/requests", url.Values{"role_name": {"x"}}); p.StatusCode != http.StatusSeeOther {
			t.Fatalf("signed-out post %d = %d; want 303 to sign in", i+1, p.StatusCode)
		}
	}
	wantTooMany(t, "a fourth signed-out post from the address", anon.post("/requests", url.Values{"role_name": {"x"}}))
	// A signed-in session from the same address has its own budget.
	if p := h.signInAs("requester").postWithToken("/requests/check", url.Values{"role_name": {"Fresh Name"}}); p.StatusCode != http.StatusOK {
		t.Errorf("a live check in a session from the same address = %d; want 200", p.StatusCode)
	}
}
