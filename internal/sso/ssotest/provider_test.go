package ssotest

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"
)

const redirectURL = "http://127.0.0.1:9/auth/callback"

func newTestProvider(t *testing.T) *Provider {
	t.Helper()
	p := New(t, Options{RedirectURL: redirectURL})
	p.AddUser(User{Subject: "u1", Email: "ann@example.com", Name: "Ann Example", Groups: []string{"g1"}})
	p.AddUser(User{Subject: "u2", Email: "ben@example.com", Name: "Ben <Example>"})
	return p
}

func oauthConfig(p *Provider, style oauth2.AuthStyle) *oauth2.Config {
	return &oauth2.Config{
		ClientID:     p.ClientID(),
		ClientSecret: p.ClientSecret(),
		RedirectURL:  redirectURL,
		Scopes:       []string{"openid"},
		Endpoint:     oauth2.Endpoint{AuthURL: p.Issuer() + "/authorize", TokenURL: p.Issuer() + "/token", AuthStyle: style},
	}
}

// noFollow is a browser that stops at the first redirect.
var noFollow = &http.Client{
	Timeout:       5 * time.Second,
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

// codeFor signs in subject via login_hint and returns the code.
func codeFor(t *testing.T, cfg *oauth2.Config, verifier, subject string) string {
	t.Helper()
	authURL := cfg.AuthCodeURL("st", oauth2.S256ChallengeOption(verifier), oauth2.SetAuthURLParam("login_hint", subject), oauth2.SetAuthURLParam("nonce", "n1"))
	resp, err := noFollow.Get(authURL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return callbackQuery(t, resp).Get("code")
}

func callbackQuery(t *testing.T, resp *http.Response) url.Values {
	t.Helper()
	loc, err := resp.Location()
	if err != nil {
		t.Fatalf("status %d without Location: %v", resp.StatusCode, err)
	}
	if !strings.HasPrefix(loc.String(), redirectURL+"?") {
		t.Fatalf("redirected to %s; want the callback", loc)
	}
	q := loc.Query()
	if q.Get("error") != "" {
		t.Fatalf("callback error %s: %s", q.Get("error"), q.Get("error_description"))
	}
	if q.Get("state") != "st" || q.Get("code") == "" {
		t.Fatalf("callback query %v: want state st and a code", q)
	}
	return q
}

func TestTokenClientAuthStyles(t *testing.T) {
	t.Parallel()
	p := newTestProvider(t)
	for name, style := range map[string]oauth2.AuthStyle{"client_secret_basic": oauth2.AuthStyleInHeader, "client_secret_post": oauth2.AuthStyleInParams} {
		t.Run(name, func(t *testing.T) {
			cfg := oauthConfig(p, style)
			v := oauth2.GenerateVerifier()
			tok, err := cfg.Exchange(t.Context(), codeFor(t, cfg, v, "u1"), oauth2.VerifierOption(v))
			if err != nil {
				t.Fatalf("Exchange: %v", err)
			}
			if id, _ := tok.Extra("id_token").(string); strings.Count(id, ".") != 2 {
				t.Errorf("id_token = %q; want a JWS", id)
			}
		})
	}
}

func TestTokenRefusals(t *testing.T) {
	t.Parallel()
	p := newTestProvider(t)
	cfg := oauthConfig(p, oauth2.AuthStyleInHeader)

	wantCode := func(t *testing.T, err error, code string) {
		t.Helper()
		var re *oauth2.RetrieveError
		if !errors.As(err, &re) || re.ErrorCode != code {
			t.Fatalf("error = %v; want %s", err, code)
		}
	}
	t.Run("replayed code", func(t *testing.T) {
		v := oauth2.GenerateVerifier()
		code := codeFor(t, cfg, v, "u1")
		tok, err := cfg.Exchange(t.Context(), code, oauth2.VerifierOption(v))
		if err != nil {
			t.Fatal(err)
		}
		_, err = cfg.Exchange(t.Context(), code, oauth2.VerifierOption(v))
		wantCode(t, err, "invalid_grant")
		// The replay revoked what the code bought.
		req, _ := http.NewRequest("GET", p.Issuer()+"/userinfo", nil)
		tok.SetAuthHeader(req)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("userinfo after replay: status %d; want 401", resp.StatusCode)
		}
	})
	t.Run("wrong verifier", func(t *testing.T) {
		code := codeFor(t, cfg, oauth2.GenerateVerifier(), "u1")
		_, err := cfg.Exchange(t.Context(), code, oauth2.VerifierOption(oauth2.GenerateVerifier()))
		wantCode(t, err, "invalid_grant")
	})
	t.Run("no verifier", func(t *testing.T) {
		code := codeFor(t, cfg, oauth2.GenerateVerifier(), "u1")
		_, err := cfg.Exchange(t.Context(), code)
		wantCode(t, err, "invalid_grant")
	})
	t.Run("wrong secret", func(t *testing.T) {
		bad := *cfg
		bad.ClientSecret = "nope"
		v := oauth2.GenerateVerifier()
		_, err := bad.Exchange(t.Context(), codeFor(t, cfg, v, "u1"), oauth2.VerifierOption(v))
		wantCode(t, err, "invalid_client")
	})
	t.Run("authorize without PKCE", func(t *testing.T) {
		resp, err := noFollow.Get(cfg.AuthCodeURL("st", oauth2.SetAuthURLParam("login_hint", "u1")))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		loc, _ := resp.Location()
		if loc == nil || loc.Query().Get("error") != "invalid_request" {
			t.Errorf("authorize without PKCE redirected to %v; want error=invalid_request", loc)
		}
	})
	t.Run("authorize with another redirect_uri", func(t *testing.T) {
		other := *cfg
		other.RedirectURL = "http://evil.example/cb"
		resp, err := noFollow.Get(other.AuthCodeURL("st", oauth2.S256ChallengeOption(oauth2.GenerateVerifier())))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("status %d; want 400 without redirect", resp.StatusCode)
		}
	})
}

func TestSignInPage(t *testing.T) {
	t.Parallel()
	p := newTestProvider(t)
	cfg := oauthConfig(p, oauth2.AuthStyleInHeader)
	v := oauth2.GenerateVerifier()
	resp, err := noFollow.Get(cfg.AuthCodeURL("st", oauth2.S256ChallengeOption(v)))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	page := string(body)
	if resp.StatusCode != http.StatusOK || !strings.Contains(resp.Header.Get("Content-Security-Policy"), "default-src 'none'") {
		t.Fatalf("status %d, CSP %q", resp.StatusCode, resp.Header.Get("Content-Security-Policy"))
	}
	for _, want := range []string{">Sign in as Ann Example</button>", ">Sign in as Ben &lt;Example&gt;</button>"} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q:\n%s", want, page)
		}
	}
	if strings.Contains(page, "<script") {
		t.Errorf("page has a script:\n%s", page)
	}
	m := regexp.MustCompile(`name="request" value="([^"]+)"`).FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no request id in page:\n%s", page)
	}
	resp, err = noFollow.PostForm(p.Issuer()+"/authorize", url.Values{"request": {m[1]}, "subject": {"u1"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Errorf("POST status %d; want 303", resp.StatusCode)
	}
	code := callbackQuery(t, resp).Get("code")
	if _, err := cfg.Exchange(t.Context(), code, oauth2.VerifierOption(v)); err != nil {
		t.Fatalf("Exchange: %v", err)
	}
	// The page's request is single-use.
	resp, err = noFollow.PostForm(p.Issuer()+"/authorize", url.Values{"request": {m[1]}, "subject": {"u1"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("second POST status %d; want 400", resp.StatusCode)
	}
}

func TestJWKSAndRotation(t *testing.T) {
	t.Parallel()
	p := newTestProvider(t)
	kids := func() []string {
		resp, err := http.Get(p.Issuer() + "/jwks")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var set struct {
			Keys []struct {
				Kid string `json:"kid"`
				D   string `json:"d"`
			} `json:"keys"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&set); err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, k := range set.Keys {
			if k.D != "" {
				t.Fatal("JWKS publishes a private key")
			}
			out = append(out, k.Kid)
		}
		return out
	}
	first := kids()
	p.RotateKeysKeepingOld()
	if got := kids(); len(got) != 2 || got[1] != first[0] {
		t.Errorf("after RotateKeysKeepingOld kids = %q; want a new one and %q", got, first)
	}
	p.RotateKeys()
	if got := kids(); len(got) != 1 || got[0] == first[0] {
		t.Errorf("after RotateKeys kids = %q; want one new key", got)
	}
}

func TestEndSessionAndDown(t *testing.T) {
	t.Parallel()
	p := newTestProvider(t)
	cfg := oauthConfig(p, oauth2.AuthStyleInParams)
	v := oauth2.GenerateVerifier()
	tok, err := cfg.Exchange(t.Context(), codeFor(t, cfg, v, "u2"), oauth2.VerifierOption(v))
	if err != nil {
		t.Fatal(err)
	}
	q := url.Values{"id_token_hint": {tok.Extra("id_token").(string)}, "post_logout_redirect_uri": {"http://127.0.0.1:9/"}, "state": {"s"}}
	resp, err := noFollow.Get(p.Issuer() + "/end_session?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if loc, _ := resp.Location(); loc == nil || loc.String() != "http://127.0.0.1:9/?state=s" {
		t.Errorf("end_session redirected to %v", loc)
	}
	if got := p.EndSessions(); len(got) != 1 || got[0].Subject != "u2" {
		t.Errorf("EndSessions = %+v; want one for u2", got)
	}

	p.SetDown(true)
	if resp, err := http.Get(p.Issuer() + "/.well-known/openid-configuration"); err == nil {
		resp.Body.Close()
		t.Errorf("discovery while down: status %d; want a dropped connection", resp.StatusCode)
	}
	p.SetDown(false)
	resp, err = http.Get(p.Issuer() + "/.well-known/openid-configuration")
	if err != nil {
		t.Fatalf("discovery after SetDown(false): %v", err)
	}
	resp.Body.Close()
}

func TestStartAndClose(t *testing.T) {
	t.Parallel()
	p, err := Start(Options{})
	if err != nil {
		t.Fatal(err)
	}
	iss := p.Issuer()
	p.Close()
	p.Close() // idempotent
	if resp, err := http.Get(iss + "/.well-known/openid-configuration"); err == nil {
		resp.Body.Close()
		t.Error("provider still answers after Close")
	}
	if _, err := Start(Options{SigningAlg: "HS256"}); err == nil {
		t.Error("Start accepted HS256")
	}
}
