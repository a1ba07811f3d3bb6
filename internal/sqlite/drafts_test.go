package sqlite_test

import (
	"database/sql"
	"errors"
	"strings"
	"testing"

	"github.com/rolegate/rolegate/internal/rolegate"
)

// A draft waits on its own session for its own page, is taken once, and
// never shows on another session; the person's session says which page it
// waits for without reading it.
func TestADraftIsTakenOnceByItsSessionAndPage(t *testing.T) {
	f := newSessionsFixture(t)
	rita := f.signIn(sessRita, f.clock.Now(), "")
	alex := f.signIn(sessAlex, f.clock.Now(), "")
	const draft = `{"form":"request","comment":"typed"}`
	if err := f.sessions.KeepDraft(f.ctx, rita, "/requests/new", draft); err != nil {
		t.Fatalf("KeepDraft: %v", err)
	}
	if s, err := f.sessions.LookupSession(f.ctx, rita, f.limit); err != nil || s.DraftPath != "/requests/new" {
		t.Errorf("Rita's session = %+v, %v; want DraftPath /requests/new", s, err)
	}
	if s, err := f.sessions.LookupSession(f.ctx, alex, f.limit); err != nil || s.DraftPath != "" {
		t.Errorf("Alex's session = %+v, %v; want no DraftPath", s, err)
	}
	if got, err := f.sessions.TakeDraft(f.ctx, alex, "/requests/new"); err != nil || got != "" {
		t.Errorf("TakeDraft by Alex's session = %q, %v; want nothing (the draft is Rita's)", got, err)
	}
	if got, err := f.sessions.TakeDraft(f.ctx, rita, "/requests/7"); err != nil || got != "" {
		t.Errorf("TakeDraft for another page = %q, %v; want nothing", got, err)
	}
	if got, err := f.sessions.TakeDraft(f.ctx, rita, "/requests/new"); err != nil || got != draft {
		t.Errorf("TakeDraft = %q, %v; want %q", got, err, draft)
	}
	if got, err := f.sessions.TakeDraft(f.ctx, rita, "/requests/new"); err != nil || got != "" {
		t.Errorf("TakeDraft again = %q, %v; want nothing (shown once)", got, err)
	}
	if s, err := f.sessions.LookupSession(f.ctx, rita, f.limit); err != nil || s.DraftPath != "" {
		t.Errorf("Rita's session after taking = %+v, %v; want no DraftPath", s, err)
	}
	for _, token := range []string{"", "no-such-session"} {
		if got, err := f.sessions.TakeDraft(f.ctx, token, "/requests/new"); err != nil || got != "" {
			t.Errorf("TakeDraft(%q) = %q, %v; want nothing", token, got, err)
		}
	}
	if err := f.sessions.KeepDraft(f.ctx, "no-such-session", "/requests/new", draft); !errors.Is(err, rolegate.ErrNoSession) {
		t.Errorf("KeepDraft on no session = %v; want rolegate.ErrNoSession", err)
	}
}

// A signed-in person cannot grow the database with drafts: one per person
// (a new one clears those of their other sessions), each at most
// MaxDraftBytes, and gone with the session.
func TestDraftsAreBoundedPerPersonAndInSize(t *testing.T) {
	f := newSessionsFixture(t)
	var ritas []string
	for range 5 {
		token := f.signIn(sessRita, f.clock.Now(), "")
		ritas = append(ritas, token)
		if err := f.sessions.KeepDraft(f.ctx, token, "/requests/new", strings.Repeat("x", rolegate.MaxDraftBytes)); err != nil {
			t.Fatalf("KeepDraft of MaxDraftBytes: %v", err)
		}
	}
	alex := f.signIn(sessAlex, f.clock.Now(), "")
	if err := f.sessions.KeepDraft(f.ctx, alex, "/requests/3", "alex's"); err != nil {
		t.Fatal(err)
	}
	if n := f.count(`SELECT count(*) FROM sessions WHERE draft != ''`); n != 2 {
		t.Errorf("after five sessions of Rita's kept a draft each, and Alex one, %d drafts are stored; want 2 (one per person)", n)
	}
	if got, _ := f.sessions.TakeDraft(f.ctx, ritas[0], "/requests/new"); got != "" {
		t.Errorf("Rita's first session still has its draft after her later sessions kept theirs")
	}
	if got, _ := f.sessions.TakeDraft(f.ctx, alex, "/requests/3"); got != "alex's" {
		t.Errorf("Alex's draft = %q after Rita's; want it untouched", got)
	}

	last := ritas[len(ritas)-1]
	for _, c := range []struct{ desc, path, draft string }{
		{"one byte over MaxDraftBytes", "/requests/new", strings.Repeat("é", rolegate.MaxDraftBytes/2) + "x"},
		{"an overlong path", "/" + strings.Repeat("p", 300), "{}"},
		{"no path", "", "{}"},
	} {
		if err := f.sessions.KeepDraft(f.ctx, last, c.path, c.draft); err == nil {
			t.Errorf("KeepDraft of %s = nil; want it refused", c.desc)
		}
	}
	if got, _ := f.sessions.TakeDraft(f.ctx, last, "/requests/new"); len(got) != rolegate.MaxDraftBytes {
		t.Errorf("after refused drafts the kept one is %d bytes; want the earlier one, untouched", len(got))
	}

	if err := f.sessions.KeepDraft(f.ctx, last, "/requests/new", "{}"); err != nil {
		t.Fatal(err)
	}
	if err := f.sessions.DeleteSession(f.ctx, last, sessRita); err != nil {
		t.Fatal(err)
	}
	if n := f.count(`SELECT count(*) FROM sessions WHERE draft != ''`); n != 0 {
		t.Errorf("%d drafts stored after the sessions that kept them ended; want none", n)
	}
}

// The schema bounds a draft too, whatever writes it.
func TestTheSchemaRefusesAnOversizedDraft(t *testing.T) {
	f := newSessionsFixture(t)
	f.signIn(sessRita, f.clock.Now(), "")
	raw, err := sql.Open("sqlite", "file:"+f.db.Path())
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	if _, err := raw.ExecContext(f.ctx, `UPDATE sessions SET draft = ?`, strings.Repeat("x", rolegate.MaxDraftBytes+1)); err == nil {
		t.Errorf("the schema stored a draft of MaxDraftBytes+1 bytes; want a CHECK failure")
	}
	if _, err := raw.ExecContext(f.ctx, `UPDATE sessions SET draft_path = ?`, "/"+strings.Repeat("p", 200)); err == nil {
		t.Errorf("the schema stored a draft path of 201 bytes; want a CHECK failure")
	}
}
