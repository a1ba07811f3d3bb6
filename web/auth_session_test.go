package web_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/rolegate/rolegate/internal/rolegate"
	"github.com/rolegate/rolegate/internal/sso/ssotest"
)

// wantSignedOut checks that b is sent to sign in when it opens /.
func wantSignedOut(t *testing.T, b *browser, when string) {
	t.Helper()
	res := b.get("/")
	if res.StatusCode != http.StatusSeeOther || !strings.HasPrefix(res.Header.Get("Location"), "/auth/login") {
		t.Fatalf("%s: GET / = %d to %q; want a redirect to sign in", when, res.StatusCode, res.Header.Get("Location"))
	}
}

func wantSignedIn(t *testing.T, b *browser, when string) {
	t.Helper()
	if res := b.get("/"); res.StatusCode != http.StatusOK {
		t.Fatalf("%s: GET / = %d; want 200", when, res.StatusCode)
	}
}

// A session ends after ROLEGATE_SESSION_IDLE without a visit, and after
// ROLEGATE_SESSION_MAX however busy its person is.
func TestSessionTimeouts(t *testing.T) {
	env := map[string]string{"ROLEGATE_SESSION_IDLE": "1h", "ROLEGATE_SESSION_MAX": "3h"}

	t.Run("idle", func(t *testing.T) {
		p := newSSOPortal(t, ssoOptions{Env: env})
		b := p.signIn(rita.Subject)
		for range 3 {
			p.Clock.Advance(50 * time.Minute)
			wantSignedIn(t, b, "a visit 50 minutes after the last one")
		}
		p.Clock.Advance(time.Hour)
		res := b.get("/")
		if res.StatusCode != http.StatusSeeOther || !strings.HasPrefix(res.Header.Get("Location"), "/auth/login") {
			t.Fatalf("after an idle hour GET / = %d to %q; want a redirect to sign in", res.StatusCode, res.Header.Get("Location"))
		}
		if c := setCookies(t, res)["rolegate_session"]; c == nil || c.MaxAge >= 0 {
			t.Errorf("the idle session's cookie was not cleared (%+v)", c)
		}
		p.Clock.Advance(-2 * time.Hour)
		wantSignedOut(t, b, "back in time after the session was ended")
	})

	t.Run("absolute", func(t *testing.T) {
		p := newSSOPortal(t, ssoOptions{Env: env})
		b := p.signIn(rita.Subject)
		for range 5 {
			p.Clock.Advance(35 * time.Minute)
			wantSignedIn(t, b, "an active session younger than 3h")
		}
		p.Clock.Advance(10 * time.Minute) // 3h05 since sign-in, 10 minutes since the last visit
		wantSignedOut(t, b, "an active session older than 3h")
	})
}

// Signing out deletes the session on the server: the old cookie signs
// nobody in any more, even if it was copied. The signed-out page offers the
// provider's end-session endpoint.
func TestSignOut(t *testing.T) {
	p := newSSOPortal(t, ssoOptions{})
	b := p.signIn(rita.Subject)
	stolen := *b.sessionCookie()

	res := b.postWithToken("/auth/logout", nil)
	if res.StatusCode != http.StatusOK || !strings.Contains(res.Body, "You are signed out") {
		t.Fatalf("POST /auth/logout = %d; want 200 and the signed-out page\n%s", res.StatusCode, res.Body)
	}
	if c := setCookies(t, res)["rolegate_session"]; c == nil || c.MaxAge >= 0 {
		t.Errorf("sign-out did not clear the session cookie (%+v)", c)
	}
	wantSignedOut(t, b, "after sign-out")

	thief := p.newBrowser()
	u, _ := url.Parse(p.URL)
	thief.Jar.SetCookies(u, []*http.Cookie{{Name: stolen.Name, Value: stolen.Value, Path: "/"}})
	wantSignedOut(t, thief, "the session cookie copied before sign-out")

	if n := len(p.events(rolegate.ActionSignOut)); n != 1 {
		t.Errorf("%d %s events; want 1", n, rolegate.ActionSignOut)
	}

	link := regexpFind(t, res.Body, `href="(`+strings.ReplaceAll(p.IdP.Issuer(), ".", `\.`)+`/end_session[^"]*)"`)
	end, err := url.Parse(strings.ReplaceAll(link, "&amp;", "&"))
	if err != nil {
		t.Fatal(err)
	}
	if got := end.Query().Get("client_id"); got != p.IdP.ClientID() {
		t.Errorf("end-session link client_id = %q; want %q", got, p.IdP.ClientID())
	}
	if res := p.newBrowser().getURL(end.String()); res.StatusCode != http.StatusOK {
		t.Errorf("GET the provider's end-session link = %d; want 200", res.StatusCode)
	}
	if n := len(p.IdP.EndSessions()); n != 1 {
		t.Errorf("the provider saw %d end-session calls; want 1", n)
	}

	// Signing out needs the session's CSRF token: a page elsewhere cannot
	// sign people out.
	other := p.signIn(alex.Subject)
	if res := other.post("/auth/logout", url.Values{}); res.StatusCode != http.StatusForbidden {
		t.Errorf("POST /auth/logout without the CSRF token = %d; want 403", res.StatusCode)
	}
	wantSignedIn(t, other, "after a refused sign-out")
}

// Without an end_session_endpoint at the provider, the signed-out page
// offers no link to it.
func TestSignOutWithoutProviderEndSession(t *testing.T) {
	p := newSSOPortal(t, ssoOptions{Provider: ssotest.Options{NoEndSession: true}})
	res := p.signIn(rita.Subject).postWithToken("/auth/logout", nil)
	if res.StatusCode != http.StatusOK || strings.Contains(res.Body, "/end_session") {
		t.Errorf("POST /auth/logout = %d, end-session link shown: %v; want 200 and no link", res.StatusCode, strings.Contains(res.Body, "/end_session"))
	}
}

// A new sign-in in a browser that already has a session replaces it: a new
// session id, and the old one is gone on the server.
func TestSignInReplacesTheSession(t *testing.T) {
	p := newSSOPortal(t, ssoOptions{})
	b := p.signIn(rita.Subject)
	before := *b.sessionCookie()

	res := b.get(p.atProvider(p.beginSignIn(b, "/auth/login"), alex.Subject))
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("second callback = %d; want 303", res.StatusCode)
	}
	after := b.sessionCookie()
	if after == nil || after.Value == before.Value {
		t.Fatalf("the second sign-in kept the session id")
	}
	if home := b.get("/"); !strings.Contains(home.Body, alex.Name) || strings.Contains(home.Body, rita.Name) {
		t.Errorf("after signing in as Alex the page does not show Alex (and only Alex)")
	}
	old := p.newBrowser()
	u, _ := url.Parse(p.URL)
	old.Jar.SetCookies(u, []*http.Cookie{{Name: before.Name, Value: before.Value, Path: "/"}})
	wantSignedOut(t, old, "the session from before the second sign-in")
}

// Over https the cookies are Secure and take the __Host- prefix (so the
// browser keeps them to this host and path /).
func TestCookiesOverHTTPS(t *testing.T) {
	p := newSSOPortal(t, ssoOptions{Env: map[string]string{"ROLEGATE_BASE_URL": "https://rolegate.example.test"}})
	b := p.newBrowser()
	login := b.get("/auth/login")
	wantHostCookie := func(c *http.Cookie, name string) {
		t.Helper()
		switch {
		case c == nil:
			t.Fatalf("no %s cookie set", name)
		case !c.Secure || !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Path != "/" || c.Domain != "":
			t.Errorf("%s = %+v; want Secure, HttpOnly, SameSite=Lax, Path=/ and no Domain", name, c)
		}
	}
	attempt := setCookies(t, login)["__Host-rolegate_signin"]
	wantHostCookie(attempt, "__Host-rolegate_signin")
	if _, ok := setCookies(t, login)["rolegate_signin"]; ok {
		t.Errorf("over https the attempt cookie is also set without the __Host- prefix")
	}
	authURL, _ := url.Parse(login.Header.Get("Location"))
	callback := p.atProvider(authURL, rita.Subject)

	// The test talks plain HTTP to the portal behind its https base URL,
	// so it hands over the Secure cookies itself, as a browser would over
	// TLS.
	send := func(path string, c *http.Cookie) page {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, p.URL+path, nil)
		req.AddCookie(&http.Cookie{Name: c.Name, Value: c.Value})
		res, err := b.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return readPage(t, res)
	}
	cb := send(callback, attempt)
	if cb.StatusCode != http.StatusSeeOther {
		t.Fatalf("callback = %d; want 303\n%s", cb.StatusCode, cb.Body)
	}
	session := setCookies(t, cb)["__Host-rolegate_session"]
	wantHostCookie(session, "__Host-rolegate_session")
	if home := send("/", session); home.StatusCode != http.StatusOK || !strings.Contains(home.Body, rita.Name) {
		t.Errorf("GET / with the __Host- session cookie = %d; want 200 for Rita", home.StatusCode)
	}
	if hsts := cb.Header.Get("Strict-Transport-Security"); hsts == "" {
		t.Errorf("no Strict-Transport-Security over https")
	}
}

// The provider rotates its signing key: the portal fetches the new key set
// and the next sign-in works.
func TestSSOProviderRotatesKeys(t *testing.T) {
	p := newSSOPortal(t, ssoOptions{})
	p.signIn(rita.Subject)
	p.IdP.RotateKeys()
	wantSignedIn(t, p.signIn(rita.Subject), "after the provider rotated its keys")
	p.IdP.RotateKeysKeepingOld()
	wantSignedIn(t, p.signIn(alex.Subject), "during a key rollover")
}

// A return path that leads off the portal is replaced by "/": the portal is
// never an open redirect.
func TestSSOReturnPathIsNeverAnOpenRedirect(t *testing.T) {
	p := newSSOPortal(t, ssoOptions{})
	for _, evil := range []string{
		"https://evil.example/", "//evil.example", `/\evil.example`, "/%2F%2Fevil.example", "/\t/evil.example", "javascript:alert(1)",
	} {
		b := p.newBrowser()
		authURL := p.beginSignIn(b, "/auth/login?return_to="+url.QueryEscape(evil))
		res := b.get(p.atProvider(authURL, rita.Subject))
		if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/" {
			t.Errorf("sign-in with return_to=%q ended at %d %q; want 303 to /", evil, res.StatusCode, res.Header.Get("Location"))
		}
	}
	b := p.newBrowser()
	authURL := p.beginSignIn(b, "/auth/login?return_to="+url.QueryEscape("/requests?status=pending"))
	if res := b.get(p.atProvider(authURL, rita.Subject)); res.Header.Get("Location") != "/requests?status=pending" {
		t.Errorf("sign-in with a same-origin return_to ended at %q; want /requests?status=pending", res.Header.Get("Location"))
	}
}
