package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"path/filepath"
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

// A provider that never states auth_time (its discovery lists claims
// without it) stops a start in max_age mode with one line naming
// ROLEGATE_APPROVE_REAUTH; in login mode the portal starts and says which
// mode is in force, and whether emails without email_verified count as
// verified (ROLEGATE_OIDC_EMAILS_VERIFIED).
func TestStartChecksTheReauthModeAgainstTheProvider(t *testing.T) {
	p := ssotest.New(t, ssotest.Options{Profile: ssotest.ProfileGoogle, SigningAlg: "ES256"})
	vars := func(mode string) map[string]string {
		return map[string]string{
			"ROLEGATE_OIDC_ISSUER": p.Issuer(), "ROLEGATE_OIDC_CLIENT_ID": p.ClientID(), "ROLEGATE_OIDC_CLIENT_SECRET": p.ClientSecret(),
			"ROLEGATE_APPROVER_EMAILS": "alex@example.com", "OPENAI_ADMIN_KEY": "sk-admin-never-used",
			"OPENAI_BASE_URL": "http://127.0.0.1:9/v1", "ROLEGATE_CATALOG_FILE": "", "ROLEGATE_LOG_FORMAT": "text",
			"ROLEGATE_APPROVE_REAUTH": mode,
		}
	}
	args := func() []string {
		return []string{"serve", "-addr", "127.0.0.1:0", "-db", filepath.Join(t.TempDir(), "rolegate.db"), "-base-url", "http://127.0.0.1:8080"}
	}

	var stderr bytes.Buffer
	err := run(t.Context(), args(), env(vars("")), io.Discard, &stderr)
	if err == nil || !strings.Contains(err.Error(), "ROLEGATE_APPROVE_REAUTH: ") || !strings.Contains(err.Error(), "login") || strings.Contains(err.Error(), "\n") {
		t.Fatalf("serve in max_age mode with a provider without auth_time = %v; want one line naming ROLEGATE_APPROVE_REAUTH and the login choice", err)
	}
	if strings.Contains(stderr.String(), "rolegate started") {
		t.Errorf("serve logged a start before refusing")
	}

	log := &testkit.SyncBuffer{}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	loginVars := vars("login")
	loginVars["ROLEGATE_OIDC_EMAILS_VERIFIED"] = "1"
	go func() { done <- run(ctx, args(), env(loginVars), io.Discard, log) }()
	testkit.WaitFor(t, "serve in login mode to start", func() bool { return strings.Contains(log.String(), "rolegate started") }, log.String)
	cancel()
	if err := <-done; err != nil {
		t.Errorf("serve in login mode stopped with %v", err)
	}
	if !strings.Contains(log.String(), "approve_reauth=login") {
		t.Errorf("the start line does not say the mode in force:\n%s", log)
	}
	if !strings.Contains(log.String(), "oidc_emails_verified=true") {
		t.Errorf("the start line does not say that emails without email_verified are taken as verified:\n%s", log)
	}
}
