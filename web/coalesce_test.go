package web

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/rolegate/rolegate/internal/rolegate"
)

func countOf(t *testing.T, e rolegate.Event) int {
	t.Helper()
	var d struct {
		Count int `json:"count"`
	}
	if err := json.Unmarshal(e.Details, &d); err != nil {
		t.Fatal(err)
	}
	return d.Count
}

func TestRepeatsWriteTheFirstAndCountTheRest(t *testing.T) {
	r := newRepeats(time.Minute, 100)
	t0 := time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)
	riley := rolegate.Actor{Principal: rolegate.Principal{Person: rolegate.Person{Issuer: "i", Subject: "riley"}}, HTTPRequestID: "r1"}
	key := runKey(rolegate.ActionAccessDenied, riley, "GET /audit", "missing portal role auditor")

	first, due := r.note(key, riley, rolegate.OutcomeDenied, rolegate.AccessDenied{Path: "/audit"}, t0)
	if first == nil || len(due) != 0 || countOf(t, *first) != 1 || first.HTTPReqID != "r1" {
		t.Fatalf("note(first) = %v, %d due; want the event itself with count 1", first, len(due))
	}
	for i := range 499 {
		if e, due := r.note(key, riley, rolegate.OutcomeDenied, rolegate.AccessDenied{Path: "/audit"}, t0.Add(time.Duration(i)*100*time.Millisecond)); e != nil || len(due) != 0 {
			t.Fatalf("note(repeat %d) = %v, %d due; want only counted", i+1, e, len(due))
		}
	}
	if due := r.closeDue(t0.Add(59*time.Second), false); len(due) != 0 {
		t.Fatalf("closeDue within the window = %d events; want none", len(due))
	}
	// The next event after the window closes the run and starts another.
	e, due := r.note(key, riley, rolegate.OutcomeDenied, rolegate.AccessDenied{Path: "/audit"}, t0.Add(61*time.Second))
	if e == nil || len(due) != 1 {
		t.Fatalf("note(after the window) = %v, %d due; want a new first event and the closed run", e, len(due))
	}
	closed := due[0]
	var d map[string]any
	_ = json.Unmarshal(closed.Details, &d)
	if countOf(t, closed) != 499 || d["path"] != "/audit" || d["repeated_from"] != "2026-01-05T09:00:00Z" ||
		closed.HTTPReqID != "" || closed.ActorKey != riley.Key() {
		t.Errorf("closing event = %s by %s (request id %q); want count 499, the path, the window, Riley, no request id", closed.Details, closed.ActorKey, closed.HTTPReqID)
	}
	// A run without repeats closes silently; flushing all closes every run.
	if due := r.closeDue(t0.Add(10*time.Minute), true); len(due) != 0 {
		t.Errorf("closing a run without repeats wrote %d events; want none", len(due))
	}
}

func TestRepeatsBoundTheRunsHeld(t *testing.T) {
	r := newRepeats(time.Minute, 3)
	t0 := time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)
	written := 0
	for i := range 1000 {
		a := rolegate.Actor{ClientIP: fmt.Sprintf("10.0.%d.%d", i/250, i%250)} // signed out: one run per address
		key := runKey(rolegate.ActionSignInFailed, a, "/auth/callback", "attempt_missing")
		if e, _ := r.note(key, a, rolegate.OutcomeFailure, rolegate.SignInFailed{Reason: "attempt_missing"}, t0); e != nil {
			written++
			if e.ActorKey != "anonymous" {
				t.Errorf("first event of a signed-out run by %q; want anonymous", e.ActorKey)
			}
		}
	}
	if written != 4 || len(r.runs) != 4 {
		t.Fatalf("1000 addresses wrote %d events holding %d runs; want 3 runs and one overflow run, 4 events", written, len(r.runs))
	}
	due := r.closeDue(t0.Add(time.Minute), true)
	if len(due) != 1 || countOf(t, due[0]) != 996 || due[0].ActorKey != "anonymous" || due[0].ClientIP != "" {
		t.Fatalf("closing the runs = %d events (%v); want one overflow event counting 996 from no one address", len(due), due)
	}
}
