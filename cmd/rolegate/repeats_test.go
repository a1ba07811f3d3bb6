package main

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/rolegate/rolegate/internal/audit"
	"github.com/rolegate/rolegate/internal/rolegate"
	"github.com/rolegate/rolegate/internal/sqlite"
)

// TestShutdownWritesTheLastCounts: refusals are coalesced in memory; a
// stop within their minute still writes how many there were, before the
// database closes, and the trail verifies.
func TestShutdownWritesTheLastCounts(t *testing.T) {
	p := startPortal(t)
	riley := p.signIn("requester")
	for range 5 {
		if code, _ := riley.get("/audit"); code != http.StatusForbidden {
			t.Fatalf("GET /audit as the requester = %d; want 403", code)
		}
	}
	if err := p.stop(); err != nil {
		t.Fatalf("stop: %v", err)
	}
	db, err := sqlite.Open(context.Background(), p.DBPath)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	walk, refusals, events := audit.NewWalk(), 0, 0
	if err := sqlite.NewTrail(db).WalkAuditTrail(context.Background(), func(e rolegate.Event) error {
		if e.Action == rolegate.ActionAccessDenied {
			var d struct{ Count int }
			_ = json.Unmarshal(e.Details, &d)
			refusals += d.Count
			events++
		}
		return walk.Add(e)
	}); err != nil {
		t.Fatalf("the trail after the stop: %v", err)
	}
	if refusals != 5 || events != 2 {
		t.Errorf("after the stop: %d access.denied events counting %d refusals; want 2 counting all 5", events, refusals)
	}
}
