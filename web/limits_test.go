package web_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/time/rate"

	"github.com/rolegate/rolegate/internal/rolegate"
	"github.com/rolegate/rolegate/internal/testkit"
	"github.com/rolegate/rolegate/web"
)

// Limits: what rolegate refuses because it is too big or too fast, each
// answered with a page that says so, and nothing changed.

// countRequests is how many requests are stored.
func countRequests(t *testing.T, h *harness) int {
	t.Helper()
	_, n, err := h.Requests.List(context.Background(), rolegate.RequestFilter{Limit: 1})
	if err != nil {
		t.Fatalf("list requests: %v", err)
	}
	return n
}

// send posts a raw body as a same-origin browser would, with the session's
// CSRF token in the htmx header; chunked hides the length.
func (b *browser) send(path, contentType string, body io.Reader, chunked bool, header http.Header) page {
	b.h.t.Helper()
	if chunked {
		body = io.MultiReader(body) // not a type whose length net/http knows
	}
	sameOrigin := http.Header{"Origin": {b.h.URL}, "Sec-Fetch-Site": {"same-origin"}}
	for k, v := range header {
		sameOrigin[k] = v
	}
	return b.postBody(path, contentType, body, sameOrigin)
}

func TestBodyLimit(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{})
	b := h.signInAs("requester")
	token := b.csrfToken()
	huge := url.Values{
		"csrf_token": {token}, "role_name": {"Huge Role"}, "permissions": {"api.groups.read"},
		"justification": {strings.Repeat("x", 70<<10)},
	}.Encode()
	for _, tt := range []struct {
		name, path string
		chunked    bool
		htmx       bool
	}{
		{"form with a length", "/requests", false, false},
		{"chunked form", "/requests", true, false},
		{"htmx live check", "/requests/check", false, true},
		{"chunked htmx live check", "/requests/check", true, true},
	} {
		header := http.Header{"X-Csrf-Token": {token}}
		if tt.htmx {
			header.Set("HX-Request", "true")
		}
		p := b.send(tt.path, "application/x-www-form-urlencoded", strings.NewReader(huge), tt.chunked, header)
		if p.StatusCode != http.StatusRequestEntityTooLarge {
			t.Errorf("%s: POST %s of %d bytes = %d; want 413\n%s", tt.name, tt.path, len(huge), p.StatusCode, shorten(p.Body))
			continue
		}
		for _, want := range []string{"Too large", "larger than rolegate accepts"} {
			if !strings.Contains(p.Body, want) {
				t.Errorf("%s: the 413 page lacks %q:\n%s", tt.name, want, shorten(p.Body))
			}
		}
		if csp := p.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") {
			t.Errorf("%s: the 413 page has CSP %q", tt.name, csp)
		}
	}
	if n := countRequests(t, h); n != 0 {
		t.Errorf("after oversized posts %d requests are stored; want 0", n)
	}

	// A form that cannot be parsed is a clear 400, not a CSRF refusal.
	p := b.send("/requests", "application/x-www-form-urlencoded", strings.NewReader("role_name=%zz&csrf_token="+token), false, nil)
	if p.StatusCode != http.StatusBadRequest {
		t.Errorf("POST /requests with a malformed form = %d; want 400", p.StatusCode)
	}
}

func TestFieldLimits(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{})
	b := h.signInAs("requester")
	valid := func() url.Values {
		return url.Values{"role_name": {"Limit Role"}, "permissions": {"api.groups.read"},
			"description": {"Reads groups."}, "justification": {"Needed for the quarterly access review."}}
	}
	many := func(n int) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = fmt.Sprintf("api.p%03d.read", i)
		}
		return out
	}
	tests := []struct {
		field, value string
		values       []string
		want         string
	}{
		{field: "role_name", value: strings.Repeat("r", 65), want: "at most 64 characters"},
		{field: "description", value: strings.Repeat("d", 501), want: "at most 500 characters"},
		{field: "justification", value: strings.Repeat("j", 2001), want: "at most 2000 characters"},
		{field: "permissions", values: many(51), want: "at most 50 permissions"},
		{field: "permissions", values: many(500), want: "at most 50 permissions"},
	}
	for _, tt := range tests {
		form := valid()
		if tt.values != nil {
			form[tt.field] = tt.values
		} else {
			form.Set(tt.field, tt.value)
		}
		p := b.refused(b.postWithToken("/requests", form), "/requests/new")
		if !strings.Contains(p.Body, tt.want) {
			t.Errorf("POST /requests with a long %s: the form does not say %q\n%s", tt.field, tt.want, shorten(p.Body))
		}
	}
	if n := countRequests(t, h); n != 0 {
		t.Errorf("after refused forms %d requests are stored; want 0", n)
	}

	// A reviewer's comment is bounded too.
	id := h.fileRequest(b, "Comment Limit Role")
	approver := h.signInAs("approver1")
	p := approver.refused(approver.postWithToken(requestPathOf(id)+"/reject", url.Values{"comment": {strings.Repeat("c", 1001)}}), requestPathOf(id))
	if !strings.Contains(p.Body, "at most 1000 characters") {
		t.Errorf("reject with a 1001-character comment: the request page does not say at most 1000 characters")
	}
	if p := approver.get(requestPathOf(id)); !strings.Contains(p.Body, "Pending") {
		t.Errorf("after a refused rejection the request is no longer Pending")
	}
}

// The documented defaults: 60 sign-in requests at once from one address,
// then one a second.
func TestSignInRateLimitDefaults(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{})
	def := web.DefaultRateLimits()
	if def.SignIn.Burst != 60 || def.SignIn.Per != 1 || def.Forms.Burst != 60 || def.Forms.Per != 2 {
		t.Fatalf("DefaultRateLimits() = %+v; README documents sign-in 60 then 1/s and forms 60 then 2/s", def)
	}
	b := h.newBrowser()
	for i := range def.SignIn.Burst {
		if p := b.get("/auth/login"); p.StatusCode != http.StatusSeeOther {
			t.Fatalf("sign-in request %d = %d; want 303 (within the burst)", i+1, p.StatusCode)
		}
	}
	p := b.get("/auth/login")
	wantTooMany(t, "sign-in request 61", p)
	// The dev sign-in shares the sign-in bucket, whatever the method.
	if p := b.post("/auth/dev", url.Values{"persona": {"requester"}}); p.StatusCode != http.StatusTooManyRequests {
		t.Errorf("POST /auth/dev past the limit = %d; want 429", p.StatusCode)
	}
	// Other pages are not sign-in pages.
	if p := b.get("/healthz"); p.StatusCode != http.StatusOK {
		t.Errorf("GET /healthz past the sign-in limit = %d; want 200", p.StatusCode)
	}
}

func wantTooMany(t *testing.T, what string, p page) {
	t.Helper()
	if p.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("%s = %d; want 429", what, p.StatusCode)
	}
	secs, err := strconv.Atoi(p.Header.Get("Retry-After"))
	if err != nil || secs < 1 {
		t.Errorf("%s: Retry-After = %q; want whole seconds, at least 1", what, p.Header.Get("Retry-After"))
	}
	for _, want := range []string{"Too many requests", "too quickly"} {
		if !strings.Contains(p.Body, want) {
			t.Errorf("%s: the 429 page lacks %q:\n%s", what, want, shorten(p.Body))
		}
	}
}

// tightLimits throttle after three actions, for a long while.
func tightLimits() *web.RateLimits {
	return &web.RateLimits{SignIn: web.RateLimit{Per: rate.Limit(0.01), Burst: 3}, Forms: web.RateLimit{Per: rate.Limit(0.01), Burst: 3}, MaxKeys: 100}
}

// getFrom asks path with forged or proxied client-address headers.
func (b *browser) getFrom(path string, header http.Header) page {
	b.h.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, b.h.URL+path, nil)
	for k, v := range header {
		req.Header[k] = v
	}
	res, err := b.Do(req)
	if err != nil {
		b.h.t.Fatalf("GET %s: %v", path, err)
	}
	return readPage(b.h.t, res)
}

func xff(v string) http.Header {
	return http.Header{"X-Forwarded-For": {v}, "X-Real-Ip": {v}}
}

func TestSignInRateLimitIgnoresForgedForwardedFor(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{RateLimits: tightLimits()})
	b := h.newBrowser()
	for i := range 3 {
		if p := b.getFrom("/auth/login", xff(fmt.Sprintf("203.0.113.%d", i+1))); p.StatusCode != http.StatusSeeOther {
			t.Fatalf("sign-in %d = %d; want 303", i+1, p.StatusCode)
		}
	}
	// Without a trusted proxy every address claimed is the same peer.
	wantTooMany(t, "a fourth sign-in claiming yet another address", b.getFrom("/auth/login", xff("198.51.100.77")))
}

func TestSignInRateLimitBehindTrustedProxy(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{RateLimits: tightLimits(), Env: map[string]string{"ROLEGATE_TRUSTED_PROXIES": "127.0.0.1/32"}})
	b := h.newBrowser()
	for i := range 3 {
		if p := b.getFrom("/auth/login", xff("203.0.113.7")); p.StatusCode != http.StatusSeeOther {
			t.Fatalf("sign-in %d from 203.0.113.7 = %d; want 303", i+1, p.StatusCode)
		}
	}
	wantTooMany(t, "a fourth sign-in from 203.0.113.7", b.getFrom("/auth/login", xff("203.0.113.7")))
	// The proxy appends the real peer: a forged entry in front changes nothing.
	wantTooMany(t, "a sign-in from 203.0.113.7 with a forged first hop", b.getFrom("/auth/login", xff("198.51.100.1, 203.0.113.7")))
	// Another client behind the same proxy has its own bucket.
	if p := b.getFrom("/auth/login", xff("203.0.113.8")); p.StatusCode != http.StatusSeeOther {
		t.Errorf("sign-in from 203.0.113.8 = %d; want 303", p.StatusCode)
	}
	// An IPv6 client is counted per /64.
	for i := range 3 {
		if p := b.getFrom("/auth/login", xff(fmt.Sprintf("2001:db8:1:2::%x", i+1))); p.StatusCode != http.StatusSeeOther {
			t.Fatalf("IPv6 sign-in %d = %d; want 303", i+1, p.StatusCode)
		}
	}
	wantTooMany(t, "a fourth sign-in from the same IPv6 /64", b.getFrom("/auth/login", xff("2001:db8:1:2::ffff")))
}

func TestFormRateLimitPerSession(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{RateLimits: tightLimits()})
	riley := h.signInAs("requester")
	form := url.Values{"role_name": {"Throttle Role"}, "permissions": {"api.groups.read"}}
	for i := range 3 {
		if p := riley.postWithToken("/requests/check", form); p.StatusCode != http.StatusOK {
			t.Fatalf("live check %d = %d; want 200", i+1, p.StatusCode)
		}
	}
	token := riley.csrfToken()
	p := riley.send("/requests/check", "application/x-www-form-urlencoded", strings.NewReader(form.Encode()), false,
		http.Header{"X-Csrf-Token": {token}, "Hx-Request": {"true"}})
	wantTooMany(t, "a fourth live check in one session", p)
	// A refused post is throttled too (it would write an access.denied event).
	if p := riley.post("/requests", form); p.StatusCode != http.StatusTooManyRequests {
		t.Errorf("a post without a token past the limit = %d; want 429", p.StatusCode)
	}
	// Reading goes on.
	if p := riley.get("/requests"); p.StatusCode != http.StatusOK {
		t.Errorf("GET /requests of a throttled session = %d; want 200", p.StatusCode)
	}
	// Another session, even from the same address, is not affected.
	avery := h.signInAs("approver1")
	if p := avery.postWithToken("/requests/check", form); p.StatusCode != http.StatusOK {
		t.Errorf("a live check in another session = %d; want 200", p.StatusCode)
	}
}

// clientIPs reads the client addresses recorded with one action.
func clientIPs(t *testing.T, h *harness, action string) []string {
	t.Helper()
	db := testkit.OpenReadOnly(t, h.App.Store.Path())
	rows, err := db.Query(`SELECT client_ip FROM audit_events WHERE action = ? ORDER BY seq`, action)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var ip string
		if err := rows.Scan(&ip); err != nil {
			t.Fatal(err)
		}
		out = append(out, ip)
	}
	return out
}

// devSignInFrom signs the dev requester in with client-address headers.
func devSignInFrom(t *testing.T, h *harness, header http.Header) {
	t.Helper()
	b := h.newBrowser()
	req, _ := http.NewRequest(http.MethodPost, h.URL+"/auth/dev", strings.NewReader(url.Values{"persona": {"requester"}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	for k, v := range header {
		req.Header[k] = v
	}
	res, err := b.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if p := readPage(t, res); p.StatusCode != http.StatusSeeOther {
		t.Fatalf("dev sign-in = %d; want 303\n%s", p.StatusCode, shorten(p.Body))
	}
}

func TestAuditTrailClientAddress(t *testing.T) {
	t.Parallel()
	t.Run("no trusted proxy", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t, harnessOptions{})
		devSignInFrom(t, h, xff("203.0.113.9"))
		if got := clientIPs(t, h, "auth.signin.succeeded"); len(got) != 1 || got[0] != "127.0.0.1" {
			t.Errorf("sign-in with a forged X-Forwarded-For recorded client %q; want [127.0.0.1]", got)
		}
	})
	t.Run("trusted proxy", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t, harnessOptions{Env: map[string]string{"ROLEGATE_TRUSTED_PROXIES": "127.0.0.1/32"}})
		devSignInFrom(t, h, http.Header{"X-Forwarded-For": {"198.51.100.1, 203.0.113.9"}, "X-Real-Ip": {"198.51.100.2"}})
		if got := clientIPs(t, h, "auth.signin.succeeded"); len(got) != 1 || got[0] != "203.0.113.9" {
			t.Errorf("sign-in through the trusted proxy recorded client %q; want [203.0.113.9] (the address the proxy saw, not the forged first hop)", got)
		}
	})
}
