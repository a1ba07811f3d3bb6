package sso

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/rolegate/rolegate/internal/sso/ssotest"
)

const testRedirectURL = "http://127.0.0.1:8080/auth/callback"

var (
	alice = ssotest.User{Subject: "u-alice", Email: "alice@example.com", Name: "Alice Adams", Groups: []string{"rolegate-approvers", "staff"}}
	bob   = ssotest.User{Subject: "u-bob", Email: "bob@example.com", Name: "Bob Brown", Groups: []string{"staff"}}
)

// newProvider starts an ssotest provider that knows alice and bob.
func newProvider(t *testing.T, opts ssotest.Options) *ssotest.Provider {
	t.Helper()
	if opts.RedirectURL == "" {
		opts.RedirectURL = testRedirectURL
	}
	p := ssotest.New(t, opts)
	p.AddUser(alice)
	p.AddUser(bob)
	return p
}

func testConfig(p *ssotest.Provider) Config {
	return Config{
		Issuer:       p.Issuer(),
		ClientID:     p.ClientID(),
		ClientSecret: p.ClientSecret(),
		RedirectURL:  testRedirectURL,
	}
}

func newClient(t *testing.T, p *ssotest.Provider) *Client {
	t.Helper()
	return newClientWith(t, testConfig(p))
}

func newClientWith(t *testing.T, cfg Config) *Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	c, err := New(ctx, cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c
}

// authorize plays the browser: it opens authURL at the provider with
// login_hint and follows redirects until the provider sends it to the
// portal's callback, whose state and code it returns.
func authorize(t *testing.T, authURL, loginHint string) (state, code string) {
	t.Helper()
	u, err := url.Parse(authURL)
	if err != nil {
		t.Fatalf("auth URL %q: %v", authURL, err)
	}
	q := u.Query()
	q.Set("login_hint", loginHint)
	u.RawQuery = q.Encode()

	callback, _ := url.Parse(testRedirectURL)
	var landed *url.URL
	browser := &http.Client{
		Timeout: 5 * time.Second,
		CheckRedirect: func(req *http.Request, _ []*http.Request) error {
			if req.URL.Host == callback.Host && req.URL.Path == callback.Path {
				landed = req.URL
				return http.ErrUseLastResponse
			}
			return nil
		},
	}
	resp, err := browser.Get(u.String())
	if err != nil {
		t.Fatalf("GET authorize: %v", err)
	}
	resp.Body.Close()
	if landed == nil {
		t.Fatalf("GET authorize: status %d, never redirected to the callback", resp.StatusCode)
	}
	cb := landed.Query()
	if e := cb.Get("error"); e != "" {
		t.Fatalf("provider answered error=%s: %s", e, cb.Get("error_description"))
	}
	return cb.Get("state"), cb.Get("code")
}

// signIn runs Begin → provider → Finish for the user.
func signIn(t *testing.T, c *Client, user string, maxAge time.Duration) (Identity, error) {
	t.Helper()
	authURL, a := c.Begin("/requests/7", maxAge)
	state, code := authorize(t, authURL, user)
	return c.Finish(t.Context(), a, state, code)
}

// wantError checks that err carries the sentinel's reason and that its
// text holds none of the secrets.
func wantError(t *testing.T, err error, sentinel *Error, secrets ...string) {
	t.Helper()
	if !errors.Is(err, sentinel) {
		t.Fatalf("error = %v; want reason %s", err, sentinel.Reason)
	}
	var e *Error
	if !errors.As(err, &e) || e.Reason != sentinel.Reason {
		t.Fatalf("errors.As(%v) gave reason %v; want %s", err, ReasonOf(err), sentinel.Reason)
	}
	for _, s := range secrets {
		if s != "" && strings.Contains(err.Error(), s) {
			t.Errorf("error text %q reveals a secret", err.Error())
		}
	}
}
