package web_test

import (
	"database/sql"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/rolegate/rolegate/internal/audit"
	"github.com/rolegate/rolegate/internal/rolegate"
)

// The Audit page shows the latest checkpoint and, beside each event it
// covers, a proof that checks offline; newer events say they are not
// covered yet; an event changed behind the store's back is flagged.
func TestAuditPageProvesInclusion(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	auditor := h.signInAs("auditor")
	if p := auditor.get("/audit"); !strings.Contains(p.Body, "No checkpoint has been signed yet") {
		t.Errorf("the Audit page without checkpoints does not say so:\n%s", p.Body)
	}
	if p := auditor.get("/audit/checkpoints/0"); p.StatusCode != http.StatusNotFound {
		t.Errorf("GET /audit/checkpoints/0 with none signed = %d; want 404", p.StatusCode)
	}
	h.appendAuditEvents(10, rolegate.System("test"), rolegate.CatalogRefreshed{Roles: 10})
	verifier := signTestCheckpoint(t, h)
	events := h.trailEvents()
	size := int64(len(events) - 1) // the checkpoint event itself is after it
	h.appendAuditEvents(3, rolegate.System("test"), rolegate.CatalogRefreshed{Roles: 13})

	p := auditor.get("/audit")
	if want := fmt.Sprintf("Latest checkpoint: <strong>%d events</strong>", size); !strings.Contains(p.Body, want) {
		t.Fatalf("the Audit page lacks %q:\n%s", want, p.Body)
	}
	if n := strings.Count(p.Body, ">Proof</a>"); n != int(size) {
		t.Errorf("the Audit page offers %d proofs; want one per event covered, %d", n, size)
	}
	if !strings.Contains(p.Body, "After the checkpoint") || strings.Contains(p.Body, "Not in the checkpoint") {
		t.Errorf("the Audit page does not mark the newer events as after the checkpoint, or flags an intact one")
	}

	if !strings.Contains(p.Body, fmt.Sprintf(`href="/audit/checkpoints/%d" download>Download checkpoint`, size)) {
		t.Errorf("the Audit page does not link the latest checkpoint")
	}
	cp := auditor.get(fmt.Sprintf("/audit/checkpoints/%d", size))
	if cp.StatusCode != http.StatusOK {
		t.Fatalf("GET /audit/checkpoints/%d = %d", size, cp.StatusCode)
	}
	if p := auditor.get(fmt.Sprintf("/audit/checkpoints/%d", size-1)); p.StatusCode != http.StatusNotFound {
		t.Errorf("GET a checkpoint of a size never signed = %d; want 404", p.StatusCode)
	}
	opened, err := audit.Open([]byte(cp.Body), verifier)
	if err != nil || opened.Size != size {
		t.Fatalf("the downloaded checkpoint = %+v, %v; want %d events, signed", opened, err, size)
	}

	for _, seq := range []int64{1, size / 2, size} {
		proof := auditor.get(proofPath(seq))
		if proof.StatusCode != http.StatusOK || !strings.Contains(proof.Header.Get("Content-Disposition"), fmt.Sprintf("rolegate-audit-event-%d-proof.jsonl", seq)) {
			t.Fatalf("GET proof of %d = %d %v", seq, proof.StatusCode, proof.Header)
		}
		rep, err := audit.VerifyExport(strings.NewReader(proof.Body), audit.ExportCheck{Checkpoint: &opened, Verifier: verifier})
		if err != nil || rep.Lines != 1 || len(rep.Trees) != 1 || rep.Trees[0].Signed != "checkpoint" {
			t.Errorf("the proof of event %d does not verify offline: %+v, %v", seq, rep, err)
		}
	}
	if p := auditor.get(proofPath(size + 2)); p.StatusCode != http.StatusNotFound || !strings.Contains(p.Body, "not covered by the latest checkpoint") {
		t.Errorf("GET proof of an event after the checkpoint = %d; want 404 saying so", p.StatusCode)
	}
	exported := 0
	for _, e := range h.trailEvents() {
		if e.Action == rolegate.ActionAuditExported && strings.Contains(string(e.Details), `"format":"proof"`) {
			exported++
		}
	}
	if exported != 3 {
		t.Errorf("%d proof downloads recorded; want 3", exported)
	}

	// A filtered JSON export carries a proof on every line, and verifies
	// offline; a full one is the trail itself.
	catalogEvents := countActions(h.trailEvents(), rolegate.ActionCatalogRefreshed)
	filtered := auditor.get("/audit/export.jsonl?action=catalog.")
	rep, err := audit.VerifyExport(strings.NewReader(filtered.Body), audit.ExportCheck{Verifier: verifier})
	if err != nil || rep.Full || rep.Lines != int64(catalogEvents) || len(rep.Trees) != 2 || rep.Trees[0].Signed != "note" || rep.Trees[1].Signed != "" {
		t.Errorf("filtered export: %+v, %v; want %d lines proved in two trees (the checkpoint's, signed; and the trail's after it)", rep, err, catalogEvents)
	}
	full := auditor.get("/audit/export.jsonl")
	if rep, err := audit.VerifyExport(strings.NewReader(full.Body), audit.ExportCheck{Checkpoint: &opened, Verifier: verifier}); err != nil || !rep.Full || strings.Contains(full.Body, `"proof":{`) {
		t.Errorf("full export: %+v, %v; want the whole trail, without proofs, matching the checkpoint", rep, err)
	}

	// An event changed behind the store's back is flagged on the page, and
	// no proof is handed out for it.
	raw, err := sql.Open("sqlite", "file:"+h.App.Store.Path())
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	changed := events[len(events)-3]
	if changed.Action != rolegate.ActionCatalogRefreshed {
		t.Fatalf("event %d is %s", changed.Seq, changed.Action)
	}
	for _, stmt := range []string{`DROP TRIGGER audit_events_no_update`, fmt.Sprintf(`UPDATE audit_events SET details = '{"comment":"forged"}' WHERE seq = %d`, changed.Seq)} {
		if _, err := raw.Exec(stmt); err != nil {
			t.Fatal(err)
		}
	}
	if p := auditor.get("/audit?action=catalog."); strings.Count(p.Body, "Not in the checkpoint") != 1 {
		t.Errorf("the Audit page does not flag the changed event once:\n%s", p.Body)
	}
	if p := auditor.get(proofPath(changed.Seq)); p.StatusCode != http.StatusInternalServerError || !strings.Contains(p.Body, "does not match the latest checkpoint") {
		t.Errorf("GET proof of a changed event = %d; want 500 saying it does not match", p.StatusCode)
	}

	// A tree rewritten behind the store's back (the root of its first 8
	// leaves) no longer leads to the checkpoint's root: the page says so at
	// the top.
	for _, stmt := range []string{`DROP TRIGGER audit_tree_no_update`,
		fmt.Sprintf(`UPDATE audit_tree SET hash = zeroblob(32) WHERE id = %d`, tlog.StoredHashIndex(3, 0))} {
		if _, err := raw.Exec(stmt); err != nil {
			t.Fatal(err)
		}
	}
	if p := auditor.get("/audit"); p.StatusCode != http.StatusOK || !strings.Contains(p.Body, "The trail no longer matches its latest checkpoint") {
		t.Errorf("the Audit page over a rewritten tree = %d, without the alert:\n%s", p.StatusCode, p.Body)
	}
}

func proofPath(seq int64) string { return fmt.Sprintf("/audit/events/%d/proof", seq) }

// A proof download records itself like an export, so it shares the
// exports' budget: a flood of them is answered 429 without writing.
func TestProofDownloadsAreThrottledAsExports(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	auditor := h.signInAs("auditor")
	signTestCheckpoint(t, h)
	statuses := map[int]int{}
	for range 15 {
		statuses[auditor.get(proofPath(1)).StatusCode]++
	}
	if statuses[http.StatusOK] == 0 || statuses[http.StatusTooManyRequests] == 0 || statuses[http.StatusOK]+statuses[http.StatusTooManyRequests] != 15 {
		t.Errorf("15 proof downloads answered %v; want some 200, then 429", statuses)
	}
	if n := countActions(h.trailEvents(), rolegate.ActionAuditExported); n != statuses[http.StatusOK] {
		t.Errorf("%d downloads recorded; want one per proof served (%d)", n, statuses[http.StatusOK])
	}
}
