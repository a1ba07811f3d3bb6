package main

import (
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/rolegate/rolegate/internal/sso"
	"github.com/rolegate/rolegate/internal/sso/ssotest"
	"github.com/rolegate/rolegate/internal/testkit"
)

func ssoConfigFor(p *ssotest.Provider) sso.Config {
	return sso.Config{Issuer: p.Issuer(), ClientID: p.ClientID(), ClientSecret: p.ClientSecret(),
		RedirectURL: "http://127.0.0.1:8080/auth/callback"}
}

// An identity provider that is down for a moment at start is waited for.
func TestConnectSSOWaitsForABrieflyDownProvider(t *testing.T) {
	p := ssotest.New(t, ssotest.Options{})
	p.SetDown(true)
	back := time.AfterFunc(300*time.Millisecond, func() { p.SetDown(false) })
	defer back.Stop()
	log := &testkit.SyncBuffer{}
	c, err := connectSSO(t.Context(), ssoConfigFor(p), slog.New(slog.NewTextHandler(log, nil)), 10*time.Second, 50*time.Millisecond)
	if err != nil {
		t.Fatalf("connectSSO = %v; want a client once the provider is back", err)
	}
	if c.Issuer() != p.Issuer() {
		t.Errorf("client issuer = %q; want %q", c.Issuer(), p.Issuer())
	}
	logs := log.String()
	if !strings.Contains(logs, "identity provider unreachable at start; retrying") || !strings.Contains(logs, "identity provider reached") {
		t.Errorf("the wait is not logged:\n%s", logs)
	}
	if strings.Contains(logs, p.ClientSecret()) {
		t.Errorf("the log reveals the client secret")
	}
}

// A provider that stays away stops the start after the wait.
func TestConnectSSOGivesUpAfterTheWait(t *testing.T) {
	p := ssotest.New(t, ssotest.Options{})
	p.SetDown(true)
	start := time.Now()
	_, err := connectSSO(t.Context(), ssoConfigFor(p), slog.New(slog.DiscardHandler), 400*time.Millisecond, 50*time.Millisecond)
	if !errors.Is(err, sso.ErrProviderUnreachable) {
		t.Fatalf("connectSSO = %v; want ErrProviderUnreachable", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("connectSSO gave up after %s; want about the 400ms wait", d)
	}
	if strings.Contains(err.Error(), p.ClientSecret()) {
		t.Errorf("the error reveals the client secret: %v", err)
	}
}

// A setting that cannot work is not retried.
func TestConnectSSOFailsAtOnceOnABadSetting(t *testing.T) {
	cfg := sso.Config{Issuer: "http://idp.example.com", ClientID: "rolegate", ClientSecret: "s3cret-value",
		RedirectURL: "http://127.0.0.1:8080/auth/callback"}
	start := time.Now()
	_, err := connectSSO(t.Context(), cfg, slog.New(slog.DiscardHandler), time.Minute, time.Second)
	if !errors.Is(err, sso.ErrConfigInvalid) {
		t.Fatalf("connectSSO with an http issuer off this machine = %v; want ErrConfigInvalid", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("connectSSO took %s on a bad setting; want no retry", d)
	}
}
