package web_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rolegate/rolegate/internal/rolegate"
	"github.com/rolegate/rolegate/internal/sso"
	"github.com/rolegate/rolegate/internal/sso/ssotest"
	"github.com/rolegate/rolegate/internal/testkit"
)

// The people of the SSO tests, as the identity provider knows them.
var (
	rita  = ssotest.User{Subject: "u-rita", Email: "rita@example.com", Name: "Rita Requester", Groups: []string{"staff"}}
	alex  = ssotest.User{Subject: "u-alex", Email: "alex@example.com", Name: "Alex Approver", Groups: []string{"staff", "approvers"}}
	casey = ssotest.User{Subject: "u-casey", Email: "casey@example.com", Name: "Casey Auditor", Groups: []string{"auditors"}}
	drew  = ssotest.User{Subject: "u-drew", Email: "drew@example.com", Name: "Drew Admin", Groups: []string{"admins"}}
)

// ssoPortal is a whole portal that signs people in through a real OpenID
// Connect provider running in the test process.
type ssoPortal struct {
	*harness
	IdP  *ssotest.Provider
	Logs *testkit.SyncBuffer
	// Clock moves the portal's and the database's time (not the provider's,
	// which signs on the real time: the clock runs).
	Clock *testkit.Clock
}

type ssoOptions struct {
	Env      map[string]string
	Provider ssotest.Options
}

func newSSOPortal(t *testing.T, opts ssoOptions) *ssoPortal {
	t.Helper()
	if opts.Provider.SigningAlg == "" {
		// ES256 keys are made in microseconds, RSA keys in a good part of
		// a second under the race detector; the happy path covers RS256.
		opts.Provider.SigningAlg = "ES256"
	}
	idp := ssotest.New(t, opts.Provider)
	for _, u := range []ssotest.User{rita, alex, casey, drew} {
		idp.AddUser(u)
	}
	p := &ssoPortal{IdP: idp, Logs: &testkit.SyncBuffer{}, Clock: testkit.NewRunningClock()}
	p.harness = newHarness(t, harnessOptions{
		Env: opts.Env, Now: p.Clock.Now, Log: p.Logs,
		SSO: func(redirectURL string) *sso.Client {
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()
			c, err := sso.New(ctx, sso.Config{
				Issuer: idp.Issuer(), ClientID: idp.ClientID(), ClientSecret: idp.ClientSecret(), RedirectURL: redirectURL,
				Now: p.Clock.Now,
				// As serve wires it from the configuration.
				EmailsVerified: opts.Env["ROLEGATE_OIDC_EMAILS_VERIFIED"] == "1",
			})
			if err != nil {
				t.Fatalf("sso.New: %v", err)
			}
			return c
		},
	})
	return p
}

// beginSignIn opens path (normally /auth/login?...) and returns the
// provider URL the portal sent the browser to.
func (p *ssoPortal) beginSignIn(b *browser, path string) *url.URL {
	p.t.Helper()
	res := b.get(path)
	if res.StatusCode != http.StatusSeeOther {
		p.t.Fatalf("GET %s = %d; want 303 to the identity provider\n%s", path, res.StatusCode, res.Body)
	}
	u, err := url.Parse(res.Header.Get("Location"))
	if err != nil || !strings.HasPrefix(u.String(), p.IdP.Issuer()+"/authorize?") {
		p.t.Fatalf("GET %s sent the browser to %q; want the provider's /authorize", path, res.Header.Get("Location"))
	}
	return u
}

// atProvider plays the person at the identity provider: it opens the
// authorization URL with login_hint=subject, which signs them in at once,
// and returns the portal callback (path and query) the provider sends the
// browser back to.
func (p *ssoPortal) atProvider(authURL *url.URL, subject string) string {
	p.t.Helper()
	u := *authURL
	q := u.Query()
	q.Set("login_hint", subject)
	u.RawQuery = q.Encode()
	res := p.newBrowser().getURL(u.String())
	if res.StatusCode != http.StatusFound {
		p.t.Fatalf("provider /authorize = %d; want 302 back to the portal\n%s", res.StatusCode, res.Body)
	}
	cb, err := url.Parse(res.Header.Get("Location"))
	if err != nil || !strings.HasPrefix(cb.String(), p.URL+"/auth/callback?") {
		p.t.Fatalf("provider sent the browser to %q; want the portal's /auth/callback", res.Header.Get("Location"))
	}
	return cb.RequestURI()
}

// signIn signs subject in through the provider and returns their browser.
func (p *ssoPortal) signIn(subject string) *browser {
	p.t.Helper()
	b := p.newBrowser()
	res := b.get(p.atProvider(p.beginSignIn(b, "/auth/login"), subject))
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/" {
		p.t.Fatalf("callback for %s = %d to %q; want 303 to /\n%s", subject, res.StatusCode, res.Header.Get("Location"), res.Body)
	}
	if b.sessionCookie() == nil {
		p.t.Fatalf("callback for %s set no session cookie", subject)
	}
	return b
}

// getURL fetches an absolute URL (the identity provider's, say).
func (b *browser) getURL(u string) page {
	b.h.t.Helper()
	res, err := b.Get(u)
	if err != nil {
		b.h.t.Fatalf("GET %s: %v", u, err)
	}
	return readPage(b.h.t, res)
}

// sessionCookie is the portal session cookie the browser holds, or nil.
func (b *browser) sessionCookie() *http.Cookie {
	u, _ := url.Parse(b.h.URL)
	for _, c := range b.Jar.Cookies(u) {
		if strings.HasSuffix(c.Name, "rolegate_session") && c.Value != "" {
			return c
		}
	}
	return nil
}

// setCookies parses an answer's Set-Cookie headers by name.
func setCookies(t *testing.T, p page) map[string]*http.Cookie {
	t.Helper()
	out := map[string]*http.Cookie{}
	for _, line := range p.Header.Values("Set-Cookie") {
		c, err := http.ParseSetCookie(line)
		if err != nil {
			t.Fatalf("unparsable Set-Cookie %q: %v", line, err)
		}
		out[c.Name] = c
	}
	return out
}

// auditEvent is an audit trail row as the tests read it.
type auditEvent struct {
	ActorKey string
	Outcome  string
	Details  map[string]any
}

// events reads the audit trail's events of one action, oldest first,
// straight from the database file.
func (h *harness) events(action string) []auditEvent {
	h.t.Helper()
	db := testkit.OpenReadOnly(h.t, h.App.Store.Path())
	rows, err := db.QueryContext(h.t.Context(), `SELECT actor_key, outcome, details FROM audit_events WHERE action = ? ORDER BY seq`, action)
	if err != nil {
		h.t.Fatalf("read audit events: %v", err)
	}
	defer rows.Close()
	var out []auditEvent
	for rows.Next() {
		var e auditEvent
		var details string
		if err := rows.Scan(&e.ActorKey, &e.Outcome, &details); err != nil {
			h.t.Fatal(err)
		}
		if err := json.Unmarshal([]byte(details), &e.Details); err != nil {
			h.t.Fatalf("details %q: %v", details, err)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		h.t.Fatal(err)
	}
	return out
}

// wantSignInFailed checks the answer to a failed sign-in: the error page
// with a way to try again, no session cookie, an auth.signin.failed event
// with the reason, a log line, and nobody signed in.
func (p *ssoPortal) wantSignInFailed(b *browser, res page, status int, reason string) {
	p.t.Helper()
	if res.StatusCode != status {
		p.t.Errorf("failed sign-in answered %d; want %d", res.StatusCode, status)
	}
	for _, word := range []string{"Sign-in failed", `href="/auth/login`, "Try again"} {
		if !strings.Contains(res.Body, word) {
			p.t.Errorf("failed sign-in page lacks %q:\n%s", word, res.Body)
		}
	}
	for name, c := range setCookies(p.t, res) {
		if strings.HasSuffix(name, "rolegate_session") && c.Value != "" {
			p.t.Errorf("failed sign-in set a session cookie %q", name)
		}
	}
	if c := b.sessionCookie(); c != nil {
		p.t.Errorf("after a failed sign-in the browser holds session cookie %q", c.Name)
	}
	events := p.events(rolegate.ActionSignInFailed)
	if len(events) == 0 {
		p.t.Fatalf("no %s event recorded", rolegate.ActionSignInFailed)
	}
	last := events[len(events)-1]
	if got := last.Details["reason"]; got != reason {
		p.t.Errorf("%s event reason = %v; want %q", rolegate.ActionSignInFailed, got, reason)
	}
	if last.Outcome != rolegate.OutcomeFailure {
		p.t.Errorf("%s event outcome = %q; want %q", rolegate.ActionSignInFailed, last.Outcome, rolegate.OutcomeFailure)
	}
	if logs := p.Logs.String(); !strings.Contains(logs, "sign-in failed") || !strings.Contains(logs, "reason="+reason) {
		p.t.Errorf("no log line for the failed sign-in with reason=%s:\n%s", reason, logs)
	}
	if home := b.get("/"); home.StatusCode != http.StatusSeeOther || !strings.HasPrefix(home.Header.Get("Location"), "/auth/login") {
		p.t.Errorf("after a failed sign-in GET / = %d to %q; want a redirect to sign in", home.StatusCode, home.Header.Get("Location"))
	}
}

// wantNoSecrets checks that neither the client secret nor the other given
// values appear in the logs.
func (p *ssoPortal) wantNoSecrets(values ...string) {
	p.t.Helper()
	logs := p.Logs.String()
	for _, v := range append(values, p.IdP.ClientSecret()) {
		if v != "" && strings.Contains(logs, v) {
			p.t.Errorf("the logs reveal a secret (%.8s…)", v)
		}
	}
}

// The happy path, as a browser walks it: a signed-out visit is sent to
// sign in, the portal sends the browser to the provider with PKCE, state
// and nonce, the provider sends it back, and the callback creates a session
// and returns the person where they were going.
func TestSSOSignInHappyPath(t *testing.T) {
	p := newSSOPortal(t, ssoOptions{Provider: ssotest.Options{SigningAlg: "RS256"}})
	b := p.newBrowser()

	res := b.get("/requests/new")
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/auth/login?return_to=%2Frequests%2Fnew" {
		t.Fatalf("GET /requests/new signed out = %d to %q; want 303 to /auth/login?return_to=%%2Frequests%%2Fnew", res.StatusCode, res.Header.Get("Location"))
	}
	loginRes := b.get(res.Header.Get("Location"))
	attempt := setCookies(t, loginRes)["rolegate_signin"]
	if attempt == nil || !attempt.HttpOnly || attempt.SameSite != http.SameSiteLaxMode || attempt.Path != "/" {
		t.Fatalf("sign-in attempt cookie = %+v; want HttpOnly, SameSite=Lax, Path=/", attempt)
	}
	authURL, err := url.Parse(loginRes.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	q := authURL.Query()
	for name, want := range map[string]string{
		"response_type": "code", "client_id": p.IdP.ClientID(), "redirect_uri": p.URL + "/auth/callback",
		"code_challenge_method": "S256",
	} {
		if got := q.Get(name); got != want {
			t.Errorf("authorization request %s = %q; want %q", name, got, want)
		}
	}
	for _, name := range []string{"state", "nonce", "code_challenge"} {
		if len(q.Get(name)) < 43 {
			t.Errorf("authorization request %s = %q; want at least 256 bits", name, q.Get(name))
		}
	}
	if !strings.Contains(" "+q.Get("scope")+" ", " openid ") {
		t.Errorf("scope = %q; want openid in it", q.Get("scope"))
	}
	if q.Has("max_age") {
		t.Errorf("a plain sign-in asks max_age=%s; want none", q.Get("max_age"))
	}

	cb := b.get(p.atProvider(authURL, rita.Subject))
	if cb.StatusCode != http.StatusSeeOther || cb.Header.Get("Location") != "/requests/new" {
		t.Fatalf("callback = %d to %q; want 303 to /requests/new\n%s", cb.StatusCode, cb.Header.Get("Location"), cb.Body)
	}
	cookies := setCookies(t, cb)
	sess := cookies["rolegate_session"]
	if sess == nil || len(sess.Value) < 43 {
		t.Fatalf("callback session cookie = %+v; want a random value of at least 256 bits", sess)
	}
	if !sess.HttpOnly || sess.SameSite != http.SameSiteLaxMode || sess.Path != "/" || sess.Secure || sess.Domain != "" {
		t.Errorf("session cookie = %+v; want HttpOnly, SameSite=Lax, Path=/, host-only, not Secure over http", sess)
	}
	if got, want := time.Duration(sess.MaxAge)*time.Second, p.Config.SessionMax; got != want {
		t.Errorf("session cookie Max-Age = %s; want the absolute limit %s", got, want)
	}
	if c := cookies["rolegate_signin"]; c == nil || c.MaxAge >= 0 {
		t.Errorf("callback did not clear the sign-in attempt cookie (%+v)", c)
	}

	form := b.get("/requests/new")
	if form.StatusCode != http.StatusOK || !strings.Contains(form.Body, "Role name") || !strings.Contains(form.Body, rita.Name) {
		t.Fatalf("GET /requests/new signed in = %d; want the form and the person's name\n%s", form.StatusCode, form.Body)
	}

	events := p.events(rolegate.ActionSignInSucceeded)
	if len(events) != 1 || events[0].ActorKey != p.IdP.Issuer()+"|"+rita.Subject {
		t.Errorf("%s events = %+v; want one by %s|%s", rolegate.ActionSignInSucceeded, events, p.IdP.Issuer(), rita.Subject)
	}
	p.wantNoSecrets(sess.Value)
	p.wantNotInDatabase(sess.Value, p.IdP.ClientSecret())
}

// wantNotInDatabase checks that none of the values is stored in the
// database file or its write-ahead log.
func (h *harness) wantNotInDatabase(values ...string) {
	h.t.Helper()
	for _, suffix := range []string{"", "-wal"} {
		b, err := os.ReadFile(h.App.Store.Path() + suffix)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			h.t.Fatal(err)
		}
		for _, v := range values {
			if bytes.Contains(b, []byte(v)) {
				h.t.Errorf("the database file%s holds a secret (%.8s…)", suffix, v)
			}
		}
	}
}

// A person is (issuer, subject): a new email at the provider is the same
// person, and another subject with a known email is someone else.
func TestSSOIdentityIsIssuerAndSubject(t *testing.T) {
	p := newSSOPortal(t, ssoOptions{})
	requester := p.signIn(rita.Subject)
	id := p.fileRequest(requester, "Identity Reader")

	renamed := rita
	renamed.Email = "rita.new@example.com"
	p.IdP.AddUser(renamed)
	if res := p.signIn(rita.Subject).get(requestURL(id)); res.StatusCode != http.StatusOK || !strings.Contains(res.Body, "Cancel request") {
		t.Errorf("Rita with a new email: GET her request = %d (cancel offered: %v); want 200 with Cancel request",
			res.StatusCode, strings.Contains(res.Body, "Cancel request"))
	}

	impostor := ssotest.User{Subject: "u-impostor", Email: rita.Email, Name: "Rita Requester"}
	p.IdP.AddUser(impostor)
	if res := p.signIn(impostor.Subject).get(requestURL(id)); res.StatusCode != http.StatusNotFound {
		t.Errorf("another subject with Rita's email: GET her request = %d; want 404", res.StatusCode)
	}
}

// requestURL is a request's page.
func requestURL(id int64) string { return "/requests/" + strconv.FormatInt(id, 10) }
