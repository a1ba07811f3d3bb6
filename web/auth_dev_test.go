package web_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/rolegate/rolegate/internal/config"
	"github.com/rolegate/rolegate/internal/rolegate"
)

// The dev sign-in page exists only in dev mode without an identity
// provider, and answers only browsers on this machine.
func TestDevSignInOnlyInDevMode(t *testing.T) {
	t.Run("dev mode offers the five people", func(t *testing.T) {
		h := newHarness(t, harnessOptions{})
		b := h.newBrowser()
		if res := b.get("/auth/login?return_to=%2Frequests"); res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/auth/dev?return_to=%2Frequests" {
			t.Errorf("GET /auth/login in dev mode = %d to %q; want 303 to /auth/dev?return_to=%%2Frequests", res.StatusCode, res.Header.Get("Location"))
		}
		page := b.get("/auth/dev")
		for _, name := range []string{"Riley Requester", "Avery Approver", "Blake Approver", "Casey Auditor", "Drew Admin"} {
			if !strings.Contains(page.Body, name) {
				t.Errorf("the dev sign-in page lacks %q", name)
			}
		}
		if res := b.get("/auth/callback?code=x&state=y"); res.StatusCode != http.StatusNotFound {
			t.Errorf("GET /auth/callback in dev mode = %d; want 404", res.StatusCode)
		}
	})

	t.Run("not outside dev mode", func(t *testing.T) {
		p := newSSOPortal(t, ssoOptions{})
		wantNoDevSignIn(t, p.harness)
	})

	t.Run("not when dev mode has an identity provider", func(t *testing.T) {
		// The SSO harness gives config an admin key (for its own
		// simulator), which dev mode takes only when asked by name.
		p := newSSOPortal(t, ssoOptions{Env: map[string]string{"ROLEGATE_DEV": "1", "ROLEGATE_DEV_REAL_UPSTREAM": "1"}})
		if !p.Config.Dev {
			t.Fatal("ROLEGATE_DEV=1 did not turn dev mode on")
		}
		wantNoDevSignIn(t, p.harness)
	})

	t.Run("not for a browser on another machine", func(t *testing.T) {
		h := newHarness(t, harnessOptions{})
		for _, r := range []*http.Request{
			httptest.NewRequest(http.MethodGet, "/auth/dev", nil),
			devSignInPost("admin"),
		} {
			r.RemoteAddr = "203.0.113.7:50000"
			r.Header.Set("X-Forwarded-For", "127.0.0.1")
			rec := httptest.NewRecorder()
			h.Server.ServeHTTP(rec, r)
			if rec.Code != http.StatusNotFound || strings.Contains(rec.Header().Get("Set-Cookie"), "rolegate_session=") {
				t.Errorf("%s /auth/dev from 203.0.113.7 = %d (cookies %q); want 404 and no session", r.Method, rec.Code, rec.Header().Values("Set-Cookie"))
			}
		}
	})

	t.Run("dev mode refuses a non-loopback address", func(t *testing.T) {
		env := map[string]string{"ROLEGATE_DEV": "1", "ROLEGATE_ADDR": "0.0.0.0:8080"}
		_, err := config.Load(nil, func(k string) string { return env[k] }, io.Discard)
		if err == nil || !strings.Contains(err.Error(), "ROLEGATE_ADDR") {
			t.Errorf("config.Load with dev mode on 0.0.0.0 = %v; want an error naming ROLEGATE_ADDR", err)
		}
	})
}

func devSignInPost(persona string) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "/auth/dev", strings.NewReader(url.Values{"persona": {persona}}.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.Header.Set("Sec-Fetch-Site", "same-origin")
	return r
}

func wantNoDevSignIn(t *testing.T, h *harness) {
	t.Helper()
	b := h.newBrowser()
	if res := b.get("/auth/dev"); res.StatusCode != http.StatusNotFound {
		t.Errorf("GET /auth/dev = %d; want 404", res.StatusCode)
	}
	res := b.post("/auth/dev", url.Values{"persona": {"admin"}})
	if res.StatusCode != http.StatusNotFound && res.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST /auth/dev = %d; want 404 or 405", res.StatusCode)
	}
	if b.sessionCookie() != nil {
		t.Errorf("POST /auth/dev outside dev mode signed someone in")
	}
}

// The dev sign-in goes through the same session code as SSO: a fresh
// session, the same cookie, the sign-in in the audit trail, and a return
// path that stays on the portal.
func TestDevSignInUsesTheSessionCode(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	b := h.newBrowser()
	res := b.post("/auth/dev", url.Values{"persona": {"approver1"}, "return_to": {"//evil.example/"}})
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/" {
		t.Errorf("dev sign-in with return_to=//evil.example/ = %d to %q; want 303 to /", res.StatusCode, res.Header.Get("Location"))
	}
	c := setCookies(t, res)["rolegate_session"]
	if c == nil || !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Path != "/" {
		t.Fatalf("dev sign-in session cookie = %+v; want HttpOnly, SameSite=Lax, Path=/", c)
	}
	events := h.events(rolegate.ActionSignInSucceeded)
	if len(events) != 1 || events[0].ActorKey != "rolegate-dev|approver1" {
		t.Errorf("%s events = %+v; want one by rolegate-dev|approver1", rolegate.ActionSignInSucceeded, events)
	}
	if res := b.get("/reviews"); res.StatusCode != http.StatusOK {
		t.Errorf("Avery Approver GET /reviews = %d; want 200", res.StatusCode)
	}

	first := c.Value
	res = b.post("/auth/dev", url.Values{"persona": {"requester"}, "return_to": {"/requests"}})
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/requests" {
		t.Errorf("second dev sign-in = %d to %q; want 303 to /requests", res.StatusCode, res.Header.Get("Location"))
	}
	if c := b.sessionCookie(); c == nil || c.Value == first {
		t.Errorf("signing in again kept the session id")
	}
	if res := b.get("/reviews"); res.StatusCode != http.StatusForbidden {
		t.Errorf("after switching to Riley Requester GET /reviews = %d; want 403", res.StatusCode)
	}
	if res := b.post("/auth/dev", url.Values{"persona": {"root"}}); res.StatusCode != http.StatusUnprocessableEntity {
		t.Errorf("dev sign-in as an unknown persona = %d; want 422", res.StatusCode)
	}
}
