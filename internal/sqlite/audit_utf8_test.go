package sqlite

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/rolegate/rolegate/internal/audit"
	"github.com/rolegate/rolegate/internal/rolegate"
)

// TestAppendedTextIsValidUTF8 covers the trail's door: an event built by
// hand, every text field holding bytes that are not UTF-8, is appended as
// valid UTF-8, and the trail as exported verifies offline.
func TestAppendedTextIsValidUTF8(t *testing.T) {
	ctx := context.Background()
	db := newAuditTestDB(t)
	bad := "a\x80b\xffc"
	e := rolegate.Event{
		ActorKey: "idp|" + bad, ActorEmail: bad, ActorName: bad, ActorRoles: bad, Action: "access.denied",
		RoleName: bad, Outcome: bad, ClientIP: bad, UserAgent: bad, HTTPReqID: bad,
		Details: []byte("{\"path\":\"/" + bad + "\"}"),
	}
	for range 2 {
		if err := NewTrail(db).AppendEvent(ctx, e); err != nil {
			t.Fatalf("AppendEvent(invalid UTF-8) = %v; want it made valid and appended", err)
		}
	}
	var export bytes.Buffer
	w := audit.NewExportWriter(&export, audit.FormatJSONL)
	if err := NewTrail(db).WalkAuditTrail(ctx, func(e rolegate.Event) error {
		for _, s := range []string{e.ActorKey, e.ActorEmail, e.ActorName, e.ActorRoles, e.RoleName, e.Outcome, e.ClientIP, e.UserAgent, e.HTTPReqID} {
			if !utf8.ValidString(s) {
				t.Errorf("event %d stored %q; want valid UTF-8", e.Seq, s)
			}
		}
		if !utf8.Valid(e.Details) || !strings.Contains(string(e.Details), "\uFFFD") {
			t.Errorf("event %d details %q; want valid UTF-8 with U+FFFD", e.Seq, e.Details)
		}
		return w.Write(e)
	}); err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	walk := audit.NewWalk()
	for i, line := range bytes.Split(bytes.TrimSpace(export.Bytes()), []byte("\n")) {
		e, err := audit.ParseJSONLine(line)
		if err != nil {
			t.Fatal(err)
		}
		if err := walk.Add(e); err != nil {
			t.Fatalf("exported line %d does not verify: %v", i+1, err)
		}
	}
	if head, err := walk.Finish(); err != nil || head.Size != 2 {
		t.Errorf("offline walk = %+v, %v; want 2 events", head, err)
	}
}

// TestSignInKeepsClaimsAsValidText: a provider's name and email claims are
// kept valid and cut on a character boundary, in the session as in the
// trail's sign-in event.
func TestSignInKeepsClaimsAsValidText(t *testing.T) {
	ctx := context.Background()
	db := newAuditTestDB(t)
	long := strings.Repeat("n", rolegate.MaxPersonNameBytes-1) + "é and more"
	actor := rolegate.Actor{Principal: rolegate.Principal{Person: rolegate.Person{
		Issuer: "https://idp.example.com", Subject: "u1", Email: "x\xffy@example.com", Name: long,
	}}}
	_, sess, err := NewSessions(db).CreateSession(ctx, actor, rolegate.SessionAuth{AuthTime: time.Now()}, rolegate.SessionLimits{Idle: time.Hour, Absolute: time.Hour}, "")
	if err != nil {
		t.Fatal(err)
	}
	wantName := strings.Repeat("n", rolegate.MaxPersonNameBytes-1)
	if sess.Principal.Name != wantName || sess.Principal.Email != "x\uFFFDy@example.com" {
		t.Errorf("session person = %q, %q; want the name cut before é and the email valid", sess.Principal.Name, sess.Principal.Email)
	}
	var last rolegate.Event
	if err := NewTrail(db).WalkAuditTrail(ctx, func(e rolegate.Event) error { last = e; return nil }); err != nil {
		t.Fatal(err)
	}
	if last.ActorName != wantName || last.ActorEmail != "x\uFFFDy@example.com" {
		t.Errorf("sign-in event actor = %q, %q; want the same valid text", last.ActorName, last.ActorEmail)
	}
}
