package web_test

import (
	"fmt"
	"html"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/rolegate/rolegate/internal/rolegate"
	"github.com/rolegate/rolegate/internal/testkit"
)

// A refused post answers 303 to the page of its form (Post/Redirect/Get):
// reloading that page never sends the post again, with or without
// JavaScript. The page shows what was typed, the summary and the field
// messages once; a reload shows the plain page.
func TestARefusedPostRedirectsAndShowsWhatWasTypedOnce(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	riley := h.signInAs("requester")
	justification := "Für <Q3> & \"more\": ticket FIN-1"
	res := riley.postWithToken("/requests", url.Values{
		"role_name": {"Group Reader"}, "permissions": {"api.groups.read", "api.usage.read"},
		"description": {"Reads <groups>"}, "justification": {justification + "\u202e"},
	})
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/requests/new" {
		t.Fatalf("a refused submit = %d to %q; want 303 to /requests/new", res.StatusCode, res.Header.Get("Location"))
	}
	if strings.Contains(res.Body, "ticket FIN-1") {
		t.Errorf("the redirect itself shows what was typed; want it kept on the session only")
	}

	p := riley.get("/requests/new")
	if p.StatusCode != http.StatusOK || !strings.Contains(summary(p), "The request was not submitted") {
		t.Fatalf("the form after a refused submit = %d with summary %q; want 200 and the summary", p.StatusCode, summary(p))
	}
	if got := text(element(p.Body, "justification-error")); !strings.Contains(got, "U+202E") {
		t.Errorf("beside Justification: %q; want the bidi override named", got)
	}
	for _, want := range []string{
		`value="Group Reader"`,
		">" + html.EscapeString(justification+"\u202e") + "</textarea>",
		">" + html.EscapeString("Reads <groups>") + "</textarea>",
		`value="api.groups.read" checked`, `value="api.usage.read" checked`,
	} {
		if !strings.Contains(p.Body, want) {
			t.Errorf("the form after a refused submit lacks %s", want)
		}
	}

	again := riley.get("/requests/new")
	if summary(again) != "" || strings.Contains(again.Body, "Group Reader") || strings.Contains(again.Body, `aria-invalid="true"`) {
		t.Errorf("reloading the form shows the refused submit again (summary %q); want it shown once", summary(again))
	}
}

// A draft belongs to the session that posted: another session of the same
// person, or someone else, never sees it, and their pages leave it for its
// own. A person keeps one draft: their newest refused post's.
func TestADraftNeverShowsToAnotherSession(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	riley, rileyElsewhere := h.signInAs("requester"), h.signInAs("requester")
	avery := h.signInAs("approver1")
	riley.refusedSubmit("Riley Draft Role")

	for who, b := range map[string]*browser{"Riley's other session": rileyElsewhere, "Avery": avery} {
		if p := b.get("/requests/new"); summary(p) != "" || strings.Contains(p.Body, "Riley Draft Role") {
			t.Errorf("%s sees Riley's draft (summary %q)", who, summary(p))
		}
	}
	if p := riley.get("/requests/new"); !strings.Contains(p.Body, `value="Riley Draft Role"`) {
		t.Errorf("Riley's own session lost its draft to the others' pages")
	}

	// One draft per person: a refused post in another session replaces it.
	riley.refusedSubmit("First Session Role")
	rileyElsewhere.refusedSubmit("Second Session Role")
	if p := riley.get("/requests/new"); strings.Contains(p.Body, "First Session Role") || summary(p) != "" {
		t.Errorf("a person's older draft survived a newer one of another session")
	}
	if p := rileyElsewhere.get("/requests/new"); !strings.Contains(p.Body, `value="Second Session Role"`) {
		t.Errorf("the newest draft was not shown to its session")
	}

	// A draft waits for its own page: another page neither shows nor
	// takes it.
	id := h.fileRequest(riley, "Decided Role")
	path := fmt.Sprintf("/requests/%d", id)
	res := avery.postWithToken(path+"/reject", url.Values{"comment": {"  "}})
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != path {
		t.Fatalf("a refused rejection = %d to %q; want 303 to %s", res.StatusCode, res.Header.Get("Location"), path)
	}
	if p := avery.get("/requests/new"); summary(p) != "" {
		t.Errorf("the New request form shows the refused rejection: %q", summary(p))
	}
	if p := avery.get(path); !strings.Contains(text(element(p.Body, "comment-error")), "Say why you reject") {
		t.Errorf("the request page after a refused rejection: beside Comment %q; want the reason asked for", text(element(p.Body, "comment-error")))
	}
}

// Only a post that passes the CSRF check leaves a draft; htmx's own
// requests of a page (the live update) leave the draft for the page; a
// refused htmx post is sent to its page as htmx redirects; a draft the
// page does not come for within two minutes is never shown.
func TestDraftsAreWrittenByTheSessionsOwnPostsAndShownPromptly(t *testing.T) {
	clk := testkit.NewClock(time.Now())
	h := newHarness(t, harnessOptions{Now: clk.Now})
	riley := h.signInAs("requester")

	forged := riley.post("/requests", url.Values{"role_name": {"Forged Role"}}) // no CSRF token
	if forged.StatusCode != http.StatusForbidden {
		t.Fatalf("a post without the CSRF token = %d; want 403", forged.StatusCode)
	}
	if p := riley.get("/requests/new"); summary(p) != "" || strings.Contains(p.Body, "Forged Role") {
		t.Errorf("a post refused by the CSRF check left a draft")
	}

	id := h.fileRequest(riley, "Live Draft Role")
	path := fmt.Sprintf("/requests/%d", id)
	avery := h.signInAs("approver1")
	avery.postWithToken(path+"/reject", url.Values{"comment": {""}})
	if p := avery.htmxGet(path); summary(p) != "" {
		t.Errorf("htmx's request of the page took the draft: %q", summary(p))
	}
	if p := avery.get(path); summary(p) == "" {
		t.Errorf("the page lost its draft to an htmx request")
	}

	// Cancel request posts through htmx (it asks first): refused, htmx is
	// told to load the request's page, which says why.
	if p := riley.postWithToken(path+"/cancel", nil); p.StatusCode != http.StatusSeeOther {
		t.Fatalf("cancel = %d", p.StatusCode)
	}
	res := riley.htmxPost(path+"/cancel", nil)
	if res.StatusCode != http.StatusNoContent || res.Header.Get("HX-Redirect") != path {
		t.Errorf("a refused cancel under htmx = %d, HX-Redirect %q; want 204 to %s", res.StatusCode, res.Header.Get("HX-Redirect"), path)
	}
	if got := summary(riley.get(path)); !strings.Contains(got, "This request is Cancelled") {
		t.Errorf("after a refused cancel the request page says %q; want that it is cancelled already", got)
	}

	riley.refusedSubmit("Late Role")
	clk.Advance(3 * time.Minute)
	if p := riley.get("/requests/new"); summary(p) != "" || strings.Contains(p.Body, "Late Role") {
		t.Errorf("a draft three minutes old was shown")
	}
}

// refusedSubmit files a request that is refused (no justification), named
// name, and expects the redirect to the form.
func (b *browser) refusedSubmit(name string) {
	b.h.t.Helper()
	res := b.postWithToken("/requests", url.Values{"role_name": {name}, "permissions": {"api.groups.read"}})
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/requests/new" {
		b.h.t.Fatalf("a submit without a justification = %d to %q; want 303 to /requests/new", res.StatusCode, res.Header.Get("Location"))
	}
}

// htmxGet asks for a page as htmx does (the live update of a request).
func (b *browser) htmxGet(path string) page {
	b.h.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, b.h.URL+path, nil)
	req.Header.Set("HX-Request", "true")
	res, err := b.Do(req)
	if err != nil {
		b.h.t.Fatalf("GET %s: %v", path, err)
	}
	return readPage(b.h.t, res)
}

// On a page that updates itself (Approved, Provisioning) the refusal
// stands outside the part the updates replace, so it does not vanish two
// seconds later.
func TestARefusalOnALivePageStays(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	req := h.seedRequest(rileyActor, "Live Refusal Role")
	if _, err := h.Requests.ApproveWith(t.Context(), averyActor, req.ID, req.Binding(), "", rolegate.Reauth{}); err != nil {
		t.Fatal(err)
	}
	<-h.HandedOff
	blake := h.signInAs("approver2")
	path := requestURL(req.ID)
	p := blake.refused(blake.postWithToken(path+"/approve", url.Values{"payload_hash": {req.Binding()}, "comment": {"Looks right."}}), path)
	at, live := strings.Index(p.Body, `id="form-errors"`), strings.Index(p.Body, `id="request-live"`)
	if at < 0 || live < 0 || at > live {
		t.Errorf("the refusal is at %d and the live part at %d; want the refusal before (outside) the live part", at, live)
	}
	if !strings.Contains(summary(p), "This request is Approved") || !strings.Contains(text(element(p.Body, "unsent-comment")), "Looks right.") {
		t.Errorf("the refusal says %q; want that it is approved already, with the comment typed", summary(p))
	}
}
