package sso

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/rolegate/rolegate/internal/sso/ssotest"
)

func TestNewProviderUnreachable(t *testing.T) {
	t.Parallel()
	t.Run("provider drops connections", func(t *testing.T) {
		t.Parallel()
		p := newProvider(t, ssotest.Options{})
		p.SetDown(true)
		_, err := New(t.Context(), testConfig(p))
		wantError(t, err, ErrProviderUnreachable, p.ClientSecret())
		if !strings.Contains(err.Error(), p.Issuer()) {
			t.Errorf("error %q does not name the issuer %s", err, p.Issuer())
		}
	})
	t.Run("provider gone", func(t *testing.T) {
		t.Parallel()
		p := newProvider(t, ssotest.Options{})
		cfg := testConfig(p)
		p.Close()
		_, err := New(t.Context(), cfg)
		wantError(t, err, ErrProviderUnreachable, cfg.ClientSecret)
	})
	t.Run("provider answers 503", func(t *testing.T) {
		t.Parallel()
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, "maintenance", http.StatusServiceUnavailable)
		}))
		t.Cleanup(srv.Close)
		_, err := New(t.Context(), Config{Issuer: srv.URL, ClientID: "c", ClientSecret: "s3cr3t-value", RedirectURL: testRedirectURL})
		wantError(t, err, ErrProviderUnreachable, "s3cr3t-value")
	})
	t.Run("provider never answers", func(t *testing.T) {
		t.Parallel()
		release := make(chan struct{})
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-release:
			case <-r.Context().Done():
			}
		}))
		t.Cleanup(func() { close(release); srv.Close() })
		ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err := New(ctx, Config{Issuer: srv.URL, ClientID: "c", ClientSecret: "s", RedirectURL: testRedirectURL})
		wantError(t, err, ErrProviderUnreachable)
		if d := time.Since(start); d > 3*time.Second {
			t.Errorf("New took %v with a 300ms deadline", d)
		}
	})
}

func TestNewDiscoveryInvalid(t *testing.T) {
	t.Parallel()
	p := newProvider(t, ssotest.Options{})
	cfg := testConfig(p)
	cfg.Issuer = strings.Replace(p.Issuer(), "127.0.0.1", "localhost", 1)
	_, err := New(t.Context(), cfg)
	wantError(t, err, ErrDiscoveryInvalid)
}

func TestNewDiscoveryWithoutKeys(t *testing.T) {
	t.Parallel()
	var srv *httptest.Server
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"issuer":%q,"authorization_endpoint":%q,"token_endpoint":%q}`, srv.URL, srv.URL+"/a", srv.URL+"/t")
	}))
	t.Cleanup(srv.Close)
	_, err := New(t.Context(), Config{Issuer: srv.URL, ClientID: "c", ClientSecret: "s", RedirectURL: testRedirectURL})
	wantError(t, err, ErrDiscoveryInvalid)
	if !strings.Contains(err.Error(), "jwks_uri") {
		t.Errorf("error %q does not name jwks_uri", err)
	}
}

func TestNewConfigInvalid(t *testing.T) {
	t.Parallel()
	good := Config{Issuer: "https://sso.example.com", ClientID: "rolegate", ClientSecret: "very-secret-value", RedirectURL: "https://rolegate.example.com/auth/callback"}
	tests := map[string]func(*Config){
		"no issuer":             func(c *Config) { c.Issuer = "" },
		"relative issuer":       func(c *Config) { c.Issuer = "sso.example.com" },
		"plain http issuer":     func(c *Config) { c.Issuer = "http://sso.example.com" },
		"no client id":          func(c *Config) { c.ClientID = "" },
		"no client secret":      func(c *Config) { c.ClientSecret = "" },
		"relative redirect URL": func(c *Config) { c.RedirectURL = "/auth/callback" },
	}
	for name, mutate := range tests {
		cfg := good
		mutate(&cfg)
		_, err := New(t.Context(), cfg)
		t.Run(name, func(t *testing.T) { wantError(t, err, ErrConfigInvalid, good.ClientSecret) })
	}
}

// A plain-http issuer elsewhere is accepted only when the deployment says so.
func TestPlainHTTPIssuerOnlyWhenAllowed(t *testing.T) {
	t.Parallel()
	cfg := Config{Issuer: "http://sso.example.com", ClientID: "rolegate", ClientSecret: "very-secret-value",
		RedirectURL: "http://rolegate.example.com/auth/callback"}
	if err := checkConfig(cfg); !errors.Is(err, ErrConfigInvalid) {
		t.Errorf("checkConfig(http issuer) = %v; want ErrConfigInvalid", err)
	}
	cfg.AllowHTTPIssuer = true
	if err := checkConfig(cfg); err != nil {
		t.Errorf("checkConfig(http issuer, allowed) = %v; want nil", err)
	}
}

func TestFinishProviderUnreachable(t *testing.T) {
	t.Parallel()
	p := newProvider(t, ssotest.Options{})
	c := newClient(t, p)
	authURL, a := c.Begin("/", 0)
	state, code := authorize(t, authURL, alice.Subject)
	p.SetDown(true)
	_, err := c.Finish(t.Context(), a, state, code)
	wantError(t, err, ErrProviderUnreachable, code, a.CodeVerifier, p.ClientSecret())

	// Back up, the same code still works: it never reached the provider.
	p.SetDown(false)
	if _, err := c.Finish(t.Context(), a, state, code); err != nil {
		t.Fatalf("Finish after the provider came back: %v", err)
	}
}

func TestErrorSanitizing(t *testing.T) {
	t.Parallel()
	err := newError(ReasonExchangeFailed, "token endpoint", errFake("code=abcd1234&secret=hunter22-x\r\nforged: line"), "abcd1234", "hunter22-x")
	got := err.Error()
	if strings.Contains(got, "abcd1234") || strings.Contains(got, "hunter22-x") || strings.ContainsAny(got, "\r\n") {
		t.Errorf("error text %q reveals a secret or keeps control characters", got)
	}
	long := newError(ReasonUserinfoFailed, strings.Repeat("x", 5000), nil)
	if len(long.Error()) > maxDetail+50 {
		t.Errorf("error text is %d bytes; want it truncated", len(long.Error()))
	}
	if ReasonOf(err) != ReasonExchangeFailed || ReasonOf(errFake("x")) != "" {
		t.Errorf("ReasonOf gave %q and %q", ReasonOf(err), ReasonOf(errFake("x")))
	}
}

type errFake string

func (e errFake) Error() string { return string(e) }
