package storetest

import (
	"errors"
	"strings"
	"testing"

	"github.com/rolegate/rolegate/internal/rolegate"
)

// A draft waits on its own session for its own page, is taken once, and
// never shows on another session; the person's session says which page it
// waits for without reading it.
func testDraftTakenOnce(t *testing.T, e Engine) {
	f := newSessionsFixture(t, e)
	ritas := f.signIn(rita, f.clock.Now(), "")
	alexs := f.signIn(alex, f.clock.Now(), "")
	ss := f.store.Sessions
	const draft = `{"form":"request","comment":"typed"}`
	if err := ss.KeepDraft(f.ctx, ritas, "/requests/new", draft); err != nil {
		t.Fatalf("KeepDraft: %v", err)
	}
	if s, err := ss.LookupSession(f.ctx, ritas, f.limit); err != nil || s.DraftPath != "/requests/new" {
		t.Errorf("Rita's session = %+v, %v; want DraftPath /requests/new", s, err)
	}
	if s, err := ss.LookupSession(f.ctx, alexs, f.limit); err != nil || s.DraftPath != "" {
		t.Errorf("Alex's session = %+v, %v; want no DraftPath", s, err)
	}
	if got, err := ss.TakeDraft(f.ctx, alexs, "/requests/new"); err != nil || got != "" {
		t.Errorf("TakeDraft by Alex's session = %q, %v; want nothing (the draft is Rita's)", got, err)
	}
	if got, err := ss.TakeDraft(f.ctx, ritas, "/requests/7"); err != nil || got != "" {
		t.Errorf("TakeDraft for another page = %q, %v; want nothing", got, err)
	}
	if got, err := ss.TakeDraft(f.ctx, ritas, "/requests/new"); err != nil || got != draft {
		t.Errorf("TakeDraft = %q, %v; want %q", got, err, draft)
	}
	if got, err := ss.TakeDraft(f.ctx, ritas, "/requests/new"); err != nil || got != "" {
		t.Errorf("TakeDraft again = %q, %v; want nothing (shown once)", got, err)
	}
	if s, err := ss.LookupSession(f.ctx, ritas, f.limit); err != nil || s.DraftPath != "" {
		t.Errorf("Rita's session after taking = %+v, %v; want no DraftPath", s, err)
	}
	for _, token := range []string{"", "no-such-session"} {
		if got, err := ss.TakeDraft(f.ctx, token, "/requests/new"); err != nil || got != "" {
			t.Errorf("TakeDraft(%q) = %q, %v; want nothing", token, got, err)
		}
	}
	if err := ss.KeepDraft(f.ctx, "no-such-session", "/requests/new", draft); !errors.Is(err, rolegate.ErrNoSession) {
		t.Errorf("KeepDraft on no session = %v; want rolegate.ErrNoSession", err)
	}
}

// A signed-in person cannot grow the database with drafts: one per person
// (a new one clears those of their other sessions), each at most
// MaxDraftBytes, and gone with the session.
func testDraftsBounded(t *testing.T, e Engine) {
	f := newSessionsFixture(t, e)
	ss := f.store.Sessions
	var ritas []string
	for range 5 {
		token := f.signIn(rita, f.clock.Now(), "")
		ritas = append(ritas, token)
		if err := ss.KeepDraft(f.ctx, token, "/requests/new", strings.Repeat("x", rolegate.MaxDraftBytes)); err != nil {
			t.Fatalf("KeepDraft of MaxDraftBytes: %v", err)
		}
	}
	alexs := f.signIn(alex, f.clock.Now(), "")
	if err := ss.KeepDraft(f.ctx, alexs, "/requests/3", "alex's"); err != nil {
		t.Fatal(err)
	}
	if n := f.store.Rows(t, "sessions", "draft <> ''"); n != 2 {
		t.Errorf("after five sessions of Rita's kept a draft each, and Alex one, %d drafts are stored; want 2 (one per person)", n)
	}
	if got, _ := ss.TakeDraft(f.ctx, ritas[0], "/requests/new"); got != "" {
		t.Errorf("Rita's first session still has its draft after her later sessions kept theirs")
	}
	if got, _ := ss.TakeDraft(f.ctx, alexs, "/requests/3"); got != "alex's" {
		t.Errorf("Alex's draft = %q after Rita's; want it untouched", got)
	}

	last := ritas[len(ritas)-1]
	for _, c := range []struct{ desc, path, draft string }{
		{"one byte over MaxDraftBytes", "/requests/new", strings.Repeat("é", rolegate.MaxDraftBytes/2) + "x"},
		{"an overlong path", "/" + strings.Repeat("p", 300), "{}"},
		{"no path", "", "{}"},
	} {
		if err := ss.KeepDraft(f.ctx, last, c.path, c.draft); err == nil {
			t.Errorf("KeepDraft of %s = nil; want it refused", c.desc)
		}
	}
	if got, _ := ss.TakeDraft(f.ctx, last, "/requests/new"); len(got) != rolegate.MaxDraftBytes {
		t.Errorf("after refused drafts the kept one is %d bytes; want the earlier one, untouched", len(got))
	}

	if err := ss.KeepDraft(f.ctx, last, "/requests/new", "{}"); err != nil {
		t.Fatal(err)
	}
	if err := ss.DeleteSession(f.ctx, last, rita); err != nil {
		t.Fatal(err)
	}
	if n := f.store.Rows(t, "sessions", "draft <> ''"); n != 0 {
		t.Errorf("%d drafts stored after the sessions that kept them ended; want none", n)
	}
}
