package config

import (
	"cmp"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// production is a complete, valid production environment.
func production(t *testing.T) map[string]string {
	return map[string]string{
		"ROLEGATE_OIDC_ISSUER":        "https://idp.example.com",
		"ROLEGATE_OIDC_CLIENT_ID":     "rolegate",
		"ROLEGATE_OIDC_CLIENT_SECRET": "client-secret-value",
		"ROLEGATE_APPROVER_GROUPS":    "approvers",
		"OPENAI_ADMIN_KEY":            "sk-admin-secret",
	}
}

func load(t *testing.T, env map[string]string, args ...string) (*Config, error) {
	t.Helper()
	return Load(args, func(k string) string { return env[k] }, io.Discard)
}

func TestProductionDefaults(t *testing.T) {
	c, err := load(t, production(t))
	if err != nil {
		t.Fatalf("Load(valid production env) = %v; want nil", err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"Addr", c.Addr, "127.0.0.1:8080"},
		{"BaseURL", c.BaseURL.String(), "http://localhost:8080"},
		{"DBPath", c.DBPath, "./data/rolegate.db"},
		{"Scopes", strings.Join(c.OIDCScopes, " "), "openid profile email"},
		{"GroupsClaim", c.GroupsClaim, "groups"},
		{"RequiredApprovals", c.RequiredApprovals, 1},
		{"OpenAIBaseURL", c.OpenAIBaseURL, "https://api.openai.com/v1"},
		{"ReminderAfter", c.ReminderAfter, 24 * time.Hour},
		{"WebhookFormat", c.WebhookFormat, "json"},
		{"SessionIdle", c.SessionIdle, 8 * time.Hour},
		{"SessionMax", c.SessionMax, 24 * time.Hour},
		{"RequestTTL", c.RequestTTL, 14 * 24 * time.Hour},
		{"AccessMaxDuration", c.AccessMaxDuration, 90 * 24 * time.Hour},
		{"ProvisionBackoff", c.ProvisionBackoff, 2 * time.Second},
		{"Dev", c.Dev, false},
		{"UseSimulator", c.UseSimulator, false},
		{"LogFormat", c.LogFormat, "json"},
		{"ApproveReauth", c.ApproveReauth, "max_age"},
	}
	for _, ck := range checks {
		if ck.got != ck.want {
			t.Errorf("%s = %v; want %v", ck.name, ck.got, ck.want)
		}
	}
}

func TestDevModeNeedsNothing(t *testing.T) {
	c, err := load(t, map[string]string{}, "-dev")
	if err != nil {
		t.Fatalf("Load(-dev) = %v; want nil", err)
	}
	if !c.Dev || !c.UseSimulator || c.OIDCIssuer != "" || c.LogFormat != "text" {
		t.Errorf("dev config = %+v; want dev, simulator, no OIDC, text logs", c)
	}
	c, err = load(t, map[string]string{"ROLEGATE_DEV": "1"})
	if err != nil || !c.Dev {
		t.Errorf("ROLEGATE_DEV=1: dev=%v err=%v; want dev mode", c != nil && c.Dev, err)
	}
}

// Each case breaks one variable; the error must name it.
func TestErrorsNameTheVariable(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty")
	if err := os.WriteFile(empty, []byte("  \n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		variable string
		env      map[string]string // applied over production
		unset    string
	}{
		{"ROLEGATE_ADDR", map[string]string{"ROLEGATE_ADDR": "nonsense"}, ""},
		{"ROLEGATE_ADDR", map[string]string{"ROLEGATE_ADDR": "0.0.0.0:8080", "ROLEGATE_DEV": "1"}, ""},
		{"ROLEGATE_BASE_URL", map[string]string{"ROLEGATE_BASE_URL": "ftp://x"}, ""},
		{"ROLEGATE_OIDC_ISSUER", nil, "ROLEGATE_OIDC_ISSUER"},
		{"ROLEGATE_OIDC_ISSUER", map[string]string{"ROLEGATE_OIDC_ISSUER": "not a url"}, ""},
		{"ROLEGATE_OIDC_CLIENT_ID", nil, "ROLEGATE_OIDC_CLIENT_ID"},
		{"ROLEGATE_OIDC_CLIENT_SECRET", nil, "ROLEGATE_OIDC_CLIENT_SECRET"},
		{"ROLEGATE_OIDC_CLIENT_SECRET_FILE", map[string]string{"ROLEGATE_OIDC_CLIENT_SECRET": "", "ROLEGATE_OIDC_CLIENT_SECRET_FILE": filepath.Join(dir, "missing")}, ""},
		{"ROLEGATE_OIDC_SCOPES", map[string]string{"ROLEGATE_OIDC_SCOPES": "profile email"}, ""},
		{"ROLEGATE_APPROVER_GROUPS", nil, "ROLEGATE_APPROVER_GROUPS"},
		{"ROLEGATE_REQUIRED_APPROVALS", map[string]string{"ROLEGATE_REQUIRED_APPROVALS": "two"}, ""},
		{"ROLEGATE_REQUIRED_APPROVALS", map[string]string{"ROLEGATE_REQUIRED_APPROVALS": "0"}, ""},
		{"ROLEGATE_ACCESS_MAX_DURATION", map[string]string{"ROLEGATE_ACCESS_MAX_DURATION": "90 days"}, ""},
		{"ROLEGATE_ACCESS_MAX_DURATION", map[string]string{"ROLEGATE_ACCESS_MAX_DURATION": "-1h"}, ""},
		{"OPENAI_ADMIN_KEY", nil, "OPENAI_ADMIN_KEY"},
		{"OPENAI_ADMIN_KEY_FILE", map[string]string{"OPENAI_ADMIN_KEY": "", "OPENAI_ADMIN_KEY_FILE": empty}, ""},
		{"OPENAI_ADMIN_KEY_FILE", map[string]string{"OPENAI_ADMIN_KEY": "", "OPENAI_ADMIN_KEY_FILE": filepath.Join(dir, "missing")}, ""},
		{"OPENAI_BASE_URL", map[string]string{"OPENAI_BASE_URL": "api.openai.com"}, ""},
		{"ROLEGATE_DEV", map[string]string{"ROLEGATE_DEV": "maybe"}, ""},
		{"ROLEGATE_SMTP_ADDR", map[string]string{"ROLEGATE_SMTP_ADDR": "mail", "ROLEGATE_SMTP_FROM": "a@b"}, ""},
		{"ROLEGATE_SMTP_FROM", map[string]string{"ROLEGATE_SMTP_ADDR": "mail:25"}, ""},
		{"ROLEGATE_WEBHOOK_URLS", map[string]string{"ROLEGATE_WEBHOOK_URLS": "not-a-url", "ROLEGATE_WEBHOOK_SECRET": "s"}, ""},
		{"ROLEGATE_WEBHOOK_FORMAT", map[string]string{"ROLEGATE_WEBHOOK_FORMAT": "xml"}, ""},
		{"ROLEGATE_WEBHOOK_SECRET", map[string]string{"ROLEGATE_WEBHOOK_URLS": "https://hooks.example.com/x"}, ""},
		{"ROLEGATE_REMINDER_AFTER", map[string]string{"ROLEGATE_REMINDER_AFTER": "tomorrow"}, ""},
		{"ROLEGATE_SESSION_IDLE", map[string]string{"ROLEGATE_SESSION_IDLE": "-1h"}, ""},
		{"ROLEGATE_PROVISION_BACKOFF", map[string]string{"ROLEGATE_PROVISION_BACKOFF": "soon"}, ""},
		{"ROLEGATE_TRUSTED_PROXIES", map[string]string{"ROLEGATE_TRUSTED_PROXIES": "10.0.0.0/99"}, ""},
		{"ROLEGATE_LOG_FORMAT", map[string]string{"ROLEGATE_LOG_FORMAT": "xml"}, ""},
		// Dev mode with a real key, not asked for by name.
		{"ROLEGATE_DEV_REAL_UPSTREAM", map[string]string{"ROLEGATE_DEV": "1", "OPENAI_BASE_URL": "https://api.example.com/v1"}, ""},
		{"ROLEGATE_DEV_REAL_UPSTREAM", map[string]string{"ROLEGATE_DEV": "1", "ROLEGATE_DEV_REAL_UPSTREAM": "maybe"}, ""},
		{"ROLEGATE_METRICS_ADDR", map[string]string{"ROLEGATE_METRICS_ADDR": "9090"}, ""},
		{"ROLEGATE_METRICS_ADDR", map[string]string{"ROLEGATE_METRICS_ADDR": "127.0.0.1:8080"}, ""},
		{"ROLEGATE_METRICS_ADDR", map[string]string{"ROLEGATE_METRICS_ADDR": "0.0.0.0:9090", "ROLEGATE_DEV": "1", "ROLEGATE_DEV_REAL_UPSTREAM": "1"}, ""},
		{"ROLEGATE_METRICS_TOKEN", map[string]string{"ROLEGATE_METRICS_TOKEN": "guessable"}, ""},
		{"ROLEGATE_METRICS_TOKEN", map[string]string{"ROLEGATE_METRICS_TOKEN": strings.Repeat("t", 32), "ROLEGATE_METRICS_TOKEN_FILE": filepath.Join(dir, "missing")}, ""},
		{"ROLEGATE_METRICS_TOKEN_FILE", map[string]string{"ROLEGATE_METRICS_TOKEN_FILE": filepath.Join(dir, "missing")}, ""},
		{"ROLEGATE_APPROVE_REAUTH", map[string]string{"ROLEGATE_APPROVE_REAUTH": "prompt"}, ""},
		{"ROLEGATE_APPROVE_REAUTH", map[string]string{"ROLEGATE_APPROVE_REAUTH": "max-age"}, ""},
		{"ROLEGATE_REQUESTER_EMAILS", map[string]string{"ROLEGATE_REQUESTER_EMAILS": "rita"}, ""},
		{"ROLEGATE_APPROVER_EMAILS", map[string]string{"ROLEGATE_APPROVER_EMAILS": "alex@example.com, @example.com"}, ""},
		{"ROLEGATE_AUDITOR_EMAILS", map[string]string{"ROLEGATE_AUDITOR_EMAILS": "Casey <casey@example.com>"}, ""},
		{"ROLEGATE_ADMIN_EMAILS", map[string]string{"ROLEGATE_ADMIN_EMAILS": "drew@@example.com"}, ""},
		{"ROLEGATE_OIDC_EMAILS_VERIFIED", map[string]string{"ROLEGATE_OIDC_EMAILS_VERIFIED": "verified"}, ""},
		{"ROLEGATE_OIDC_EMAILS_VERIFIED", map[string]string{"ROLEGATE_OIDC_EMAILS_VERIFIED": "2"}, ""},
	}
	for _, tc := range cases {
		env := production(t)
		delete(env, tc.unset)
		for k, v := range tc.env {
			env[k] = v
		}
		_, err := load(t, env)
		if err == nil {
			t.Errorf("Load with %v (unset %q) = nil; want an error naming %s", tc.env, tc.unset, tc.variable)
			continue
		}
		if !strings.HasPrefix(err.Error(), tc.variable+":") || strings.Contains(err.Error(), "\n") {
			t.Errorf("Load with %v (unset %q) = %q; want one line starting %q", tc.env, tc.unset, err, tc.variable+":")
		}
	}
}

// Approving re-authenticates with max_age unless told otherwise; the mode
// is read case-insensitively.
func TestApproveReauthModes(t *testing.T) {
	for value, want := range map[string]string{"": ReauthMaxAge, "max_age": ReauthMaxAge, "login": ReauthLogin, " LOGIN ": ReauthLogin, "off": ReauthOff} {
		env := production(t)
		env["ROLEGATE_APPROVE_REAUTH"] = value
		c, err := load(t, env)
		if err != nil || c.ApproveReauth != want {
			t.Errorf("ROLEGATE_APPROVE_REAUTH=%q: mode %q, %v; want %q", value, c.ApproveReauth, err, want)
		}
	}
}

// Email lists are trimmed and lower-cased; approvers may be named by email
// alone, for providers without groups.
func TestRoleEmails(t *testing.T) {
	env := production(t)
	delete(env, "ROLEGATE_APPROVER_GROUPS")
	env["ROLEGATE_APPROVER_EMAILS"] = " Alex@Example.COM ,, blake@example.com "
	env["ROLEGATE_ADMIN_EMAILS"] = "drew@example.com"
	c, err := load(t, env)
	if err != nil {
		t.Fatalf("Load with approvers by email only = %v; want nil", err)
	}
	if got := strings.Join(c.ApproverEmails, " "); got != "alex@example.com blake@example.com" {
		t.Errorf("ApproverEmails = %q; want %q", got, "alex@example.com blake@example.com")
	}
	if len(c.AdminEmails) != 1 || len(c.RequesterEmails) != 0 || len(c.AuditorEmails) != 0 {
		t.Errorf("emails = requester %q, auditor %q, admin %q; want only the admin's", c.RequesterEmails, c.AuditorEmails, c.AdminEmails)
	}
}

// Emails without an email_verified claim count as verified only when the
// operator says so: off by default.
func TestOIDCEmailsVerified(t *testing.T) {
	for value, want := range map[string]bool{"": false, "0": false, "false": false, "off": false, "1": true, "true": true, " ON ": true} {
		env := production(t)
		env["ROLEGATE_OIDC_EMAILS_VERIFIED"] = value
		c, err := load(t, env)
		if err != nil {
			t.Errorf("ROLEGATE_OIDC_EMAILS_VERIFIED=%q: %v; want it accepted", value, err)
			continue
		}
		if c.OIDCEmailsVerified != want {
			t.Errorf("ROLEGATE_OIDC_EMAILS_VERIFIED=%q: %v; want %v", value, c.OIDCEmailsVerified, want)
		}
	}
}

func TestSecretsFromFilesNeverPrint(t *testing.T) {
	dir := t.TempDir()
	secretFile := filepath.Join(dir, "secret")
	keyFile := filepath.Join(dir, "key")
	os.WriteFile(secretFile, []byte("from-file-secret\n"), 0o600)
	os.WriteFile(keyFile, []byte("sk-admin-file\n"), 0o600)
	env := production(t)
	env["ROLEGATE_OIDC_CLIENT_SECRET"] = ""
	env["ROLEGATE_OIDC_CLIENT_SECRET_FILE"] = secretFile
	env["OPENAI_ADMIN_KEY"] = ""
	env["OPENAI_ADMIN_KEY_FILE"] = keyFile
	c, err := load(t, env)
	if err != nil {
		t.Fatalf("Load = %v", err)
	}
	if got := c.OIDCClientSecret.Reveal(); got != "from-file-secret" {
		t.Errorf("client secret = %q; want %q", got, "from-file-secret")
	}
	if c.AdminKeyFile != keyFile {
		t.Errorf("AdminKeyFile = %q; want %q", c.AdminKeyFile, keyFile)
	}
	if s := c.OIDCClientSecret.String(); strings.Contains(s, "from-file") {
		t.Errorf("Secret.String() = %q; must not reveal the value", s)
	}
}

func TestFlagsMirrorVariables(t *testing.T) {
	c, err := load(t, map[string]string{}, "-dev", "-addr", "127.0.0.1:9999", "-db", "/tmp/x.db")
	if err != nil {
		t.Fatal(err)
	}
	if c.Addr != "127.0.0.1:9999" || c.DBPath != "/tmp/x.db" {
		t.Errorf("addr=%q db=%q; want the flags' values", c.Addr, c.DBPath)
	}
}

// Dev mode calls a real Admin API only when ROLEGATE_DEV_REAL_UPSTREAM asks
// for it; the refusal names the upstream's host and never the key.
func TestDevModeWithARealKey(t *testing.T) {
	env := map[string]string{"OPENAI_ADMIN_KEY": "sk-admin-secret-in-a-shell", "OPENAI_BASE_URL": "https://user:pw@admin.example.com:8443/v1"}
	_, err := load(t, env, "-dev")
	if err == nil || !strings.HasPrefix(err.Error(), "ROLEGATE_DEV_REAL_UPSTREAM: ") || !strings.Contains(err.Error(), "admin.example.com:8443") {
		t.Fatalf("Load(-dev, key, base URL) = %v; want a refusal naming ROLEGATE_DEV_REAL_UPSTREAM and the host", err)
	}
	for _, secret := range []string{"sk-admin-secret-in-a-shell", "pw"} {
		if strings.Contains(err.Error(), secret) {
			t.Errorf("the refusal %q shows %q", err, secret)
		}
	}
	if _, err := load(t, map[string]string{"OPENAI_ADMIN_KEY": "sk-admin-x"}, "-dev"); err == nil || !strings.Contains(err.Error(), "api.openai.com") {
		t.Errorf("Load(-dev, key, no base URL) = %v; want a refusal naming api.openai.com", err)
	}

	env["ROLEGATE_DEV_REAL_UPSTREAM"] = "1"
	c, err := load(t, env, "-dev")
	if err != nil {
		t.Fatalf("Load(-dev, key, ROLEGATE_DEV_REAL_UPSTREAM=1) = %v; want nil", err)
	}
	if c.UseSimulator || !c.DevRealUpstream || c.UpstreamHost() != "admin.example.com:8443" {
		t.Errorf("UseSimulator = %v, DevRealUpstream = %v, UpstreamHost() = %q; want false, true, %q", c.UseSimulator, c.DevRealUpstream, c.UpstreamHost(), "admin.example.com:8443")
	}

	// Without a key dev mode uses the simulator whatever the setting says.
	c, err = load(t, map[string]string{}, "-dev")
	if err != nil || !c.UseSimulator || c.DevRealUpstream {
		t.Errorf("Load(-dev) = %+v, %v; want the simulator", c, err)
	}
}

func TestMetricsSettings(t *testing.T) {
	tokenFile := filepath.Join(t.TempDir(), "metrics-token")
	token := strings.Repeat("0123456789abcdef", 4)
	if err := os.WriteFile(tokenFile, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := production(t)
	env["ROLEGATE_METRICS_ADDR"] = "127.0.0.1:9090"
	env["ROLEGATE_METRICS_TOKEN_FILE"] = tokenFile
	c, err := load(t, env)
	if err != nil {
		t.Fatalf("Load = %v; want nil", err)
	}
	if c.MetricsAddr != "127.0.0.1:9090" || c.MetricsToken.Reveal() != token {
		t.Errorf("MetricsAddr = %q, token from the file = %v; want 127.0.0.1:9090 and the file's token", c.MetricsAddr, c.MetricsToken.Reveal() == token)
	}
	c, err = load(t, production(t))
	if err != nil || c.MetricsAddr != "" || c.MetricsToken != "" {
		t.Errorf("Load without metrics settings = %q, %v, %v; want both empty", c.MetricsAddr, c.MetricsToken != "", err)
	}
}

// ROLEGATE_ACCESS_MAX_DURATION bounds Until; 0 means no limit (an empty
// Until is then access without an end).
func TestAccessMaxDuration(t *testing.T) {
	for v, want := range map[string]time.Duration{"720h": 720 * time.Hour, "0": 0, "0s": 0} {
		env := production(t)
		env["ROLEGATE_ACCESS_MAX_DURATION"] = v
		c, err := load(t, env)
		if err != nil || c.AccessMaxDuration != want {
			t.Errorf("ROLEGATE_ACCESS_MAX_DURATION=%s: %v, %v; want %v", v, c.AccessMaxDuration, err, want)
		}
	}
}

// ROLEGATE_DB holds a SQLite path or a postgres:// URL, which may hold a
// password: read from ROLEGATE_DB_FILE too, kept as a Secret, never
// repeated by a message, and named for logs without user, password or
// parameters.
func TestDatabaseIsAPathOrAPostgresURL(t *testing.T) {
	const dbURL = "postgres://rolegate_app:s3cret-pw-91@db.internal:5432/rolegate?sslmode=require"
	file := filepath.Join(t.TempDir(), "db-url")
	os.WriteFile(file, []byte(dbURL+"\n"), 0o600)
	for _, tc := range []struct {
		env            map[string]string
		path, url, log string
	}{
		{map[string]string{"ROLEGATE_DB": "/srv/rolegate.db"}, "/srv/rolegate.db", "", "/srv/rolegate.db"},
		{map[string]string{"ROLEGATE_DB": dbURL}, "", dbURL, "postgres://db.internal:5432/rolegate"},
		{map[string]string{"ROLEGATE_DB": "PostgreSQL://db.internal/rolegate"}, "", "PostgreSQL://db.internal/rolegate", "postgres://db.internal/rolegate"},
		{map[string]string{"ROLEGATE_DB_FILE": file}, "", dbURL, "postgres://db.internal:5432/rolegate"},
	} {
		env := production(t)
		for k, v := range tc.env {
			env[k] = v
		}
		c, err := load(t, env)
		if err != nil {
			t.Fatalf("Load(%v) = %v", tc.env, err)
		}
		if c.DBPath != tc.path || c.DBURL.Reveal() != tc.url || c.DBName() != tc.log {
			t.Errorf("Load(%v): DBPath %q, DBURL %q, DBName %q; want %q, %q, %q", tc.env, c.DBPath, c.DBURL.Reveal(), c.DBName(), tc.path, tc.url, tc.log)
		}
		if want := cmp.Or(tc.url, tc.path); c.DBSource() != want {
			t.Errorf("DBSource() = %q; want %q", c.DBSource(), want)
		}
		if s := c.DBURL.String(); strings.Contains(s, "s3cret") {
			t.Errorf("DBURL prints %q", s)
		}
	}
	for _, env := range []map[string]string{
		{"ROLEGATE_DB": dbURL, "ROLEGATE_DB_FILE": file},
		{"ROLEGATE_DB": "postgres://rolegate_app:s3cret-pw-91@/rolegate"},
		{"ROLEGATE_DB": "postgres://rolegate_app:s3cret-pw-91@db.internal:port/x"},
	} {
		e := production(t)
		for k, v := range env {
			e[k] = v
		}
		_, err := load(t, e)
		if err == nil || !strings.Contains(err.Error(), "ROLEGATE_DB") || strings.Contains(err.Error(), "s3cret") {
			t.Errorf("Load(%v) = %v; want an error naming ROLEGATE_DB without the password", env, err)
		}
	}
}
