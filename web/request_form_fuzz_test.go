package web_test

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/rolegate/rolegate/internal/rolegate"
)

// FuzzRequestForm posts raw bodies to the New request form of a whole
// portal (real SQLite file, real handlers). Nothing panics or answers 5xx;
// a request is stored only when the answer says it was filed, and then it
// is exactly the normalized form, passes validation, and carries the
// payload and hash that validation would produce; anything refused stores
// nothing.
//
// Each input gets a fresh portal, and coverage instrumentation of the
// pure-Go SQLite makes each run slower still: the domain's own
// FuzzRequestInput explores validation quickly. Run longer with:
// go test -run '^$' -fuzz=FuzzRequestForm ./web
func FuzzRequestForm(f *testing.F) {
	f.Add("role_name=Group+Reader&permissions=api.groups.read&justification=Needed+for+the+quarterly+access+review.")
	f.Add("role_name=%20%20Padded%20Name%20%20&permissions=api.groups.read&permissions=api.groups.read&permissions=api.roles.read&description=%20Reads.%20&justification=%20Because%20the%20auditors%20asked.%20")
	f.Add("role_name=%3Cscript%3Ealert(1)%3C%2Fscript%3E&permissions=api.groups.read&justification=%3DHYPERLINK(%22http%3A%2F%2Fevil%22)")
	f.Add("role_name=Semi;colon&permissions=api.groups.read")
	f.Add("role_name=%zz&permissions=api.groups.read")
	f.Add("role_name=Nul%00Name&permissions=api.groups.read&description=bell%07&justification=escape%1B%5B31m+long+enough")
	f.Add("role_name=Unknown+Perm&permissions=api.nope.read&justification=Needed+for+the+quarterly+access+review.")
	f.Add("role_name=Invalid+UTF8&permissions=api.groups.read&description=%FF%FE&justification=%C3%28+long+enough+text")
	f.Add("role_name=Twice&role_name=Other+Name&permissions=api.groups.read&justification=Needed+for+the+quarterly+access+review.")
	f.Add("role_name=Bidi+Role&permissions=api.groups.read&description=Reads+%E2%80%AEetirw+dna&justification=Needed+for+%C2%85the+quarterly+review.")
	f.Add("")

	f.Fuzz(func(t *testing.T, body string) {
		h := newHarness(t, harnessOptions{RateLimits: generousLimits()})
		b := h.signInAs("requester")
		token := b.csrfToken()
		u, _ := url.Parse(h.URL)

		req := httptest.NewRequest(http.MethodPost, h.URL+"/requests", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Sec-Fetch-Site", "same-origin")
		req.Header.Set("X-CSRF-Token", token)
		for _, c := range b.Jar.Cookies(u) {
			req.AddCookie(c)
		}
		rec := httptest.NewRecorder()
		h.Server.ServeHTTP(rec, req)

		list, total, err := h.Requests.List(context.Background(), rolegate.RequestFilter{Limit: 10})
		if err != nil {
			t.Fatalf("list requests: %v", err)
		}
		form, parseErr := url.ParseQuery(body)
		switch rec.Code {
		case http.StatusSeeOther:
			if rec.Header().Get("Location") != "/requests/new" {
				break // filed
			}
			// Refused: nothing stored, and the form shows why, whatever was
			// sent (the draft of any post fits and renders).
			if total != 0 {
				t.Fatalf("POST /requests %q was refused, yet %d requests are stored", body, total)
			}
			if p := b.get("/requests/new"); p.StatusCode != http.StatusOK || summary(p) == "" {
				t.Fatalf("after refusing POST /requests %q the form = %d with summary %q; want the refusal shown", body, p.StatusCode, summary(p))
			}
			return
		case http.StatusUnprocessableEntity, http.StatusBadRequest, http.StatusRequestEntityTooLarge:
			if total != 0 {
				t.Fatalf("POST /requests %q = %d, yet %d requests are stored", body, rec.Code, total)
			}
			if rec.Code == http.StatusBadRequest && parseErr == nil {
				t.Fatalf("POST /requests %q = 400 though the form parses", body)
			}
			return
		default:
			t.Fatalf("POST /requests %q = %d; want 303, 400, 413 or 422\n%s", body, rec.Code, shorten(rec.Body.String()))
		}

		if parseErr != nil {
			t.Fatalf("POST /requests %q filed a request from a form that does not parse: %v", body, parseErr)
		}
		if total != 1 {
			t.Fatalf("POST /requests %q = 303 with %d requests stored; want 1", body, total)
		}
		stored, err := h.Requests.Get(context.Background(), list[0].ID)
		if err != nil {
			t.Fatalf("get the stored request: %v", err)
		}
		want := rolegate.RequestInput{RoleName: form.Get("role_name"), Permissions: form["permissions"],
			Description: form.Get("description"), Justification: form.Get("justification")}.Normalize()
		got := rolegate.RequestInput{RoleName: stored.RoleName, Permissions: stored.Permissions,
			Description: stored.Description, Justification: stored.Justification}
		if got.RoleName != want.RoleName || !slices.Equal(got.Permissions, want.Permissions) ||
			got.Description != want.Description || got.Justification != want.Justification {
			t.Fatalf("POST /requests %q stored %#v; want the normalized form %#v", body, got, want)
		}
		if errs := got.Validate(h.Catalog.Catalog()); errs != nil {
			t.Fatalf("POST /requests %q stored %#v, which validation refuses: %v", body, got, errs)
		}
		payload, hash := got.Payload()
		if !bytes.Equal(stored.Payload, payload) || stored.PayloadHash != hash {
			t.Fatalf("stored payload %q (%s); want %q (%s)", stored.Payload, stored.PayloadHash, payload, hash)
		}
	})
}
