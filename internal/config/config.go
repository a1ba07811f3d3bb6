// Package config reads rolegate's settings from the environment (and the
// flags that mirror them) in one place. A missing or malformed setting stops
// the start with one line naming the variable; secrets may come from files
// (*_FILE) and are never printed.
package config

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/rolegate/rolegate/internal/picture"
	"github.com/rolegate/rolegate/internal/provisioning"
	"github.com/rolegate/rolegate/internal/rolegate"
)

// Config is every setting of a running rolegate.
type Config struct {
	Dev     bool
	Addr    string
	BaseURL *url.URL
	// The database: a SQLite file (DBPath), or a PostgreSQL database
	// (DBURL, a postgres:// URL that may hold a password, so a Secret);
	// exactly one is set. See DBSource.
	DBPath string
	DBURL  Secret

	// OIDC; empty Issuer only in dev mode, where the dev sign-in replaces it.
	OIDCIssuer       string
	OIDCClientID     string
	OIDCClientSecret Secret
	OIDCScopes       []string
	GroupsClaim      string

	RequesterGroups []string
	ApproverGroups  []string
	AuditorGroups   []string
	AdminGroups     []string
	// Verified emails that hold a role beside the groups (lower case):
	// for providers that release no groups claim.
	RequesterEmails []string
	ApproverEmails  []string
	AuditorEmails   []string
	AdminEmails     []string
	// OIDCEmailsVerified: the operator states that the identity provider
	// verifies every email it sends, so an email without an email_verified
	// claim counts as verified (ROLEGATE_OIDC_EMAILS_VERIFIED=1). A stated
	// email_verified that is not true never does.
	OIDCEmailsVerified bool

	RequiredApprovals int
	RequestTTL        time.Duration // a pending request expires after this
	// AccessMaxDuration bounds the Until of an access request
	// (ROLEGATE_ACCESS_MAX_DURATION); 0: no limit.
	AccessMaxDuration time.Duration
	SessionIdle       time.Duration
	SessionMax        time.Duration
	ApproveMaxAuthAge time.Duration // re-authenticate before approving when older
	ApproveReauth     string        // how: ReauthMaxAge, ReauthLogin or ReauthOff

	// The admin key: either inline or a file re-read when it changes. In dev
	// mode with neither set, the built-in simulator is used.
	AdminKey      Secret
	AdminKeyFile  string
	OpenAIBaseURL string
	// UseSimulator: dev mode runs the built-in Admin API simulator.
	UseSimulator bool
	// DevRealUpstream: dev mode was asked (ROLEGATE_DEV_REAL_UPSTREAM=1) to
	// call the Admin API at OpenAIBaseURL with a real key, on behalf of the
	// dev people. Without it, dev mode with a key refuses to start.
	DevRealUpstream bool

	// Metrics: who may read /metrics. With MetricsAddr, only a listener of
	// its own serves them; with MetricsToken, a scrape must carry it as a
	// bearer token (on either listener). With neither, /metrics is off,
	// except in dev mode (loopback only), where it is open.
	MetricsAddr  string
	MetricsToken Secret

	ProvisionAttempts int           // attempts before a retryable failure fails the request
	ProvisionTimeout  time.Duration // one upstream call
	ProvisionBackoff  time.Duration // first retry delay, doubled each attempt (with jitter)

	TrustedProxies []netip.Prefix // whose X-Forwarded-For is believed
	CatalogFile    string         // optional override of the embedded permission catalog

	// SyncEvery is how often the organization's picture is read again.
	SyncEvery time.Duration
	// PictureMaxAge is the oldest picture a live check or a submission
	// trusts: 30 s, shorter only to make tests quicker.
	PictureMaxAge time.Duration

	CheckpointKeyFile string        // Ed25519 signer key (note format); empty = no checkpoints
	CheckpointEvery   time.Duration // how often to sign a checkpoint

	// Notifications.
	SMTPAddr      string
	SMTPFrom      string
	SMTPUsername  string
	SMTPPassword  Secret
	WebhookURLs   []string
	WebhookFormat string
	WebhookSecret Secret
	ReminderAfter time.Duration
	LogFormat     string // "json" or "text"
	LogLevelDebug bool
}

// The ways approving re-authenticates (ROLEGATE_APPROVE_REAUTH).
const (
	// ReauthMaxAge sends the approver to the provider with max_age and
	// requires the auth_time it must then state.
	ReauthMaxAge = "max_age"
	// ReauthLogin adds prompt=login, and takes the completed round trip as
	// the re-authentication when the provider states no auth_time.
	ReauthLogin = "login"
	// ReauthOff approves on the strength of the session alone.
	ReauthOff = "off"
)

// Secret is a string that does not print itself: not through fmt (%#v
// included), slog (whose JSON handler marshals values rather than asking
// String) nor encoding/json, alone or inside the Config.
type Secret string

// String hides the value from fmt and slog's text handler.
func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return "[redacted]"
}

// GoString hides the value from %#v.
func (s Secret) GoString() string { return s.String() }

// LogValue hides the value from every slog handler.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }

// MarshalJSON hides the value from encoding/json, which slog's JSON
// handler uses for a Config logged whole.
func (s Secret) MarshalJSON() ([]byte, error) { return json.Marshal(s.String()) }

// Reveal returns the secret's value, for the one place that needs it.
func (s Secret) Reveal() string { return string(s) }

// Error is a configuration error naming the variable at fault.
type Error struct {
	Var string
	Msg string
}

func (e *Error) Error() string { return e.Var + ": " + e.Msg }

// Defaults of the settings that are only settings (the others are in the
// packages that apply them; see Load).
const (
	DefaultAddr    = "127.0.0.1:8080"
	DefaultBaseURL = "http://localhost:8080"
	DefaultDBPath  = "./data/rolegate.db"
)

// Load reads the configuration from args (without the program name) and
// getenv. Flags take precedence over the environment.
//
// Each default is written once: where it is only a setting, here; where
// the code that applies it needs it too (a worker built without this
// configuration), in that package, and read from there.
func Load(args []string, getenv func(string) string, stderr io.Writer) (*Config, error) {
	fs := flag.NewFlagSet("rolegate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dev := fs.Bool("dev", false, "dev mode: built-in sign-in and Admin API simulator, loopback only (ROLEGATE_DEV)")
	addr := fs.String("addr", "", "listen address (ROLEGATE_ADDR)")
	dbPath := fs.String("db", "", "SQLite file or postgres:// URL (ROLEGATE_DB; a URL with a password belongs in ROLEGATE_DB_FILE)")
	baseURL := fs.String("base-url", "", "external URL of the portal (ROLEGATE_BASE_URL)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, &Error{Var: "arguments", Msg: fmt.Sprintf("unexpected %q", fs.Arg(0))}
	}
	r := reader{getenv: getenv}
	c := &Config{}

	c.Dev = r.boolean("ROLEGATE_DEV") || *dev
	c.Addr = firstNonEmpty(*addr, r.str("ROLEGATE_ADDR"), DefaultAddr)
	r.check("ROLEGATE_ADDR", validateAddr(c.Addr, c.Dev))
	c.BaseURL = r.url("ROLEGATE_BASE_URL", firstNonEmpty(*baseURL, r.str("ROLEGATE_BASE_URL"), DefaultBaseURL))
	c.DBPath, c.DBURL = r.database(*dbPath)

	c.OIDCIssuer = r.str("ROLEGATE_OIDC_ISSUER")
	c.OIDCClientID = r.str("ROLEGATE_OIDC_CLIENT_ID")
	c.OIDCClientSecret = r.secret("ROLEGATE_OIDC_CLIENT_SECRET")
	c.OIDCScopes = strings.Fields(firstNonEmpty(r.str("ROLEGATE_OIDC_SCOPES"), "openid profile email"))
	c.GroupsClaim = firstNonEmpty(r.str("ROLEGATE_OIDC_GROUPS_CLAIM"), "groups")
	if !c.Dev || c.OIDCIssuer != "" {
		r.require("ROLEGATE_OIDC_ISSUER", c.OIDCIssuer)
		if c.OIDCIssuer != "" {
			r.url("ROLEGATE_OIDC_ISSUER", c.OIDCIssuer)
		}
		r.require("ROLEGATE_OIDC_CLIENT_ID", c.OIDCClientID)
		r.require("ROLEGATE_OIDC_CLIENT_SECRET", string(c.OIDCClientSecret))
		if len(c.OIDCScopes) > 0 && !contains(c.OIDCScopes, "openid") {
			r.fail("ROLEGATE_OIDC_SCOPES", "must include openid")
		}
	}

	c.RequesterGroups = r.list("ROLEGATE_REQUESTER_GROUPS")
	c.ApproverGroups = r.list("ROLEGATE_APPROVER_GROUPS")
	c.AuditorGroups = r.list("ROLEGATE_AUDITOR_GROUPS")
	c.AdminGroups = r.list("ROLEGATE_ADMIN_GROUPS")
	c.RequesterEmails = r.emails("ROLEGATE_REQUESTER_EMAILS")
	c.ApproverEmails = r.emails("ROLEGATE_APPROVER_EMAILS")
	c.AuditorEmails = r.emails("ROLEGATE_AUDITOR_EMAILS")
	c.AdminEmails = r.emails("ROLEGATE_ADMIN_EMAILS")
	c.OIDCEmailsVerified = r.boolean("ROLEGATE_OIDC_EMAILS_VERIFIED")
	if !c.Dev && len(c.ApproverGroups) == 0 && len(c.ApproverEmails) == 0 {
		r.fail("ROLEGATE_APPROVER_GROUPS", "is required: name the groups whose members approve requests (or list their verified emails in ROLEGATE_APPROVER_EMAILS)")
	}
	c.RequiredApprovals = r.integer("ROLEGATE_REQUIRED_APPROVALS", rolegate.DefaultRequiredApprovals, 1, 10)
	c.RequestTTL = r.duration("ROLEGATE_REQUEST_TTL", rolegate.DefaultExpireAfter)
	c.AccessMaxDuration = r.durationOrZero("ROLEGATE_ACCESS_MAX_DURATION", rolegate.DefaultAccessMaxDuration)
	c.SessionIdle = r.duration("ROLEGATE_SESSION_IDLE", 8*time.Hour)
	c.SessionMax = r.duration("ROLEGATE_SESSION_MAX", 24*time.Hour)
	c.ApproveMaxAuthAge = r.duration("ROLEGATE_APPROVE_MAX_AUTH_AGE", time.Hour)
	c.ApproveReauth = firstNonEmpty(strings.ToLower(r.str("ROLEGATE_APPROVE_REAUTH")), ReauthMaxAge)
	if !contains([]string{ReauthMaxAge, ReauthLogin, ReauthOff}, c.ApproveReauth) {
		r.fail("ROLEGATE_APPROVE_REAUTH", fmt.Sprintf("must be max_age, login or off, got %q", r.str("ROLEGATE_APPROVE_REAUTH")))
	}

	c.AdminKey = Secret(r.str("OPENAI_ADMIN_KEY"))
	c.AdminKeyFile = r.str("OPENAI_ADMIN_KEY_FILE")
	switch {
	case c.AdminKey != "" && c.AdminKeyFile != "":
		r.fail("OPENAI_ADMIN_KEY", "set either OPENAI_ADMIN_KEY or OPENAI_ADMIN_KEY_FILE, not both")
	case c.AdminKeyFile != "":
		if b, err := os.ReadFile(c.AdminKeyFile); err != nil {
			r.fail("OPENAI_ADMIN_KEY_FILE", "cannot read the file: "+pathError(err))
		} else if strings.TrimSpace(string(b)) == "" {
			r.fail("OPENAI_ADMIN_KEY_FILE", "the file is empty")
		}
	case c.AdminKey == "" && !c.Dev:
		r.fail("OPENAI_ADMIN_KEY", "is required (or OPENAI_ADMIN_KEY_FILE)")
	}
	c.OpenAIBaseURL = r.str("OPENAI_BASE_URL")
	if c.OpenAIBaseURL != "" {
		r.url("OPENAI_BASE_URL", c.OpenAIBaseURL)
	}
	c.UseSimulator = c.Dev && c.AdminKey == "" && c.AdminKeyFile == ""
	if c.OpenAIBaseURL == "" {
		c.OpenAIBaseURL = "https://api.openai.com/v1"
	}
	// Dev mode hands an admin and two approvers to whoever opens the page;
	// with a key, what they approve is created in a real organization. That
	// is only done when asked for by name, never by a key left in a shell.
	c.DevRealUpstream = r.boolean("ROLEGATE_DEV_REAL_UPSTREAM")
	if c.Dev && !c.UseSimulator && !c.DevRealUpstream {
		r.fail("ROLEGATE_DEV_REAL_UPSTREAM", "dev mode with an admin key would create the dev people's roles at "+c.UpstreamHost()+
			": unset OPENAI_ADMIN_KEY and OPENAI_ADMIN_KEY_FILE to use the built-in simulator, or set ROLEGATE_DEV_REAL_UPSTREAM=1 to call that Admin API")
	}
	c.ProvisionAttempts = r.integer("ROLEGATE_PROVISION_ATTEMPTS", provisioning.DefaultMaxAttempts, 1, 100)
	c.ProvisionTimeout = r.duration("ROLEGATE_PROVISION_TIMEOUT", provisioning.DefaultCallTimeout)
	c.ProvisionBackoff = r.duration("ROLEGATE_PROVISION_BACKOFF", provisioning.DefaultBackoffBase)

	c.TrustedProxies = r.prefixes("ROLEGATE_TRUSTED_PROXIES")
	c.CatalogFile = r.str("ROLEGATE_CATALOG_FILE")
	if c.CatalogFile != "" {
		if _, err := os.Stat(c.CatalogFile); err != nil {
			r.fail("ROLEGATE_CATALOG_FILE", "cannot read the file: "+pathError(err))
		}
	}
	c.CheckpointKeyFile = r.str("ROLEGATE_CHECKPOINT_KEY_FILE")
	c.CheckpointEvery = r.duration("ROLEGATE_CHECKPOINT_EVERY", time.Hour)

	c.SMTPAddr = r.str("ROLEGATE_SMTP_ADDR")
	c.SMTPFrom = r.str("ROLEGATE_SMTP_FROM")
	c.SMTPUsername = r.str("ROLEGATE_SMTP_USERNAME")
	c.SMTPPassword = r.secret("ROLEGATE_SMTP_PASSWORD")
	if c.SMTPAddr != "" {
		if _, _, err := net.SplitHostPort(c.SMTPAddr); err != nil {
			r.fail("ROLEGATE_SMTP_ADDR", "must be host:port")
		}
		r.require("ROLEGATE_SMTP_FROM", c.SMTPFrom)
		if c.SMTPFrom != "" && !strings.Contains(c.SMTPFrom, "@") {
			r.fail("ROLEGATE_SMTP_FROM", "must be an email address")
		}
	}
	c.WebhookURLs = r.list("ROLEGATE_WEBHOOK_URLS")
	for _, u := range c.WebhookURLs {
		pu, err := url.Parse(u)
		if err != nil || (pu.Scheme != "http" && pu.Scheme != "https") || pu.Host == "" {
			r.fail("ROLEGATE_WEBHOOK_URLS", "each entry must be an http(s) URL")
			break
		}
	}
	c.WebhookFormat = firstNonEmpty(r.str("ROLEGATE_WEBHOOK_FORMAT"), "json")
	if !contains([]string{"json", "slack", "teams"}, c.WebhookFormat) {
		r.fail("ROLEGATE_WEBHOOK_FORMAT", "must be json, slack or teams")
	}
	c.WebhookSecret = r.secret("ROLEGATE_WEBHOOK_SECRET")
	if len(c.WebhookURLs) > 0 {
		r.require("ROLEGATE_WEBHOOK_SECRET", string(c.WebhookSecret))
	}
	c.ReminderAfter = r.duration("ROLEGATE_REMINDER_AFTER", 24*time.Hour)
	c.SyncEvery = r.duration("ROLEGATE_SYNC_EVERY", picture.DefaultEvery)
	c.PictureMaxAge = r.duration("ROLEGATE_PICTURE_MAX_AGE", picture.DefaultMaxAge)
	if c.PictureMaxAge > picture.DefaultMaxAge {
		r.fail("ROLEGATE_PICTURE_MAX_AGE", "must be at most 30s: a name check never trusts an older picture")
	}

	c.MetricsAddr = r.str("ROLEGATE_METRICS_ADDR")
	if c.MetricsAddr != "" {
		r.check("ROLEGATE_METRICS_ADDR", validateAddr(c.MetricsAddr, c.Dev))
		if c.MetricsAddr == c.Addr && !strings.HasSuffix(c.Addr, ":0") { // port 0: two free ports
			r.fail("ROLEGATE_METRICS_ADDR", "must differ from ROLEGATE_ADDR: it is a listener of its own, for the scraper only")
		}
	}
	c.MetricsToken = r.secret("ROLEGATE_METRICS_TOKEN")
	if c.MetricsToken != "" && len(c.MetricsToken) < minMetricsToken {
		r.fail("ROLEGATE_METRICS_TOKEN", fmt.Sprintf("must be at least %d characters (for example: openssl rand -hex 32)", minMetricsToken))
	}

	c.LogFormat = r.str("ROLEGATE_LOG_FORMAT")
	switch c.LogFormat {
	case "":
		c.LogFormat = "json"
		if c.Dev {
			c.LogFormat = "text"
		}
	case "json", "text":
	default:
		r.fail("ROLEGATE_LOG_FORMAT", "must be json or text")
	}
	c.LogLevelDebug = r.boolean("ROLEGATE_DEBUG")

	if r.err != nil {
		return nil, r.err
	}
	return c, nil
}

// SecureCookies reports whether the portal is served over https.
func (c *Config) SecureCookies() bool { return c.BaseURL.Scheme == "https" }

// UpstreamHost is the host (and port) of the Admin API base URL: what may
// be shown of the upstream. Never the key, nor the rest of the URL.
func (c *Config) UpstreamHost() string { return hostOf(c.OpenAIBaseURL) }

// DevSummary says what dev mode runs with, for the start line and the
// banner on every page: the built-in sign-in or the provider's host, and
// the Admin API simulator or, when asked for, the real upstream's host.
func (c *Config) DevSummary() string {
	signIn := "built-in sign-in"
	if c.OIDCIssuer != "" {
		signIn = "sign-in at " + hostOf(c.OIDCIssuer)
	}
	if c.UseSimulator {
		return signIn + " and Admin API simulator"
	}
	return signIn + "; REAL Admin API at " + c.UpstreamHost() + ": approved roles are created there"
}

func hostOf(raw string) string {
	if u, err := url.Parse(raw); err == nil && u.Host != "" {
		return u.Host
	}
	return "an unusable URL"
}

// minMetricsToken is the shortest metrics token accepted: a bearer token
// that can be guessed protects nothing.
const minMetricsToken = 32

// reader collects the first error while reading variables, so Load reads
// on and reports the first problem in a single line.
type reader struct {
	getenv func(string) string
	err    error
}

func (r *reader) fail(name, msg string) {
	if r.err == nil {
		r.err = &Error{Var: name, Msg: msg}
	}
}

func (r *reader) check(name string, err error) {
	if err != nil {
		r.fail(name, err.Error())
	}
}

func (r *reader) str(name string) string { return strings.TrimSpace(r.getenv(name)) }

func (r *reader) require(name, v string) {
	if v == "" {
		r.fail(name, "is required")
	}
}

func (r *reader) boolean(name string) bool {
	switch strings.ToLower(r.str(name)) {
	case "", "0", "false", "no", "off":
		return false
	case "1", "true", "yes", "on":
		return true
	}
	r.fail(name, fmt.Sprintf("must be 1 or 0, got %q", r.str(name)))
	return false
}

func (r *reader) integer(name string, def, lo, hi int) int {
	v := r.str(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		r.fail(name, fmt.Sprintf("must be a whole number from %d to %d, got %q", lo, hi, v))
		return def
	}
	return n
}

func (r *reader) duration(name string, def time.Duration) time.Duration {
	v := r.str(name)
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		r.fail(name, fmt.Sprintf("must be a positive Go duration such as 90m or 24h, got %q", v))
		return def
	}
	return d
}

// durationOrZero is duration, where 0 is allowed and means "no limit".
func (r *reader) durationOrZero(name string, def time.Duration) time.Duration {
	v := r.str(name)
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		r.fail(name, fmt.Sprintf("must be 0 (no limit) or a positive Go duration such as 720h, got %q", v))
		return def
	}
	return d
}

func (r *reader) url(name, v string) *url.URL {
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		r.fail(name, fmt.Sprintf("must be an absolute http(s) URL, got %q", v))
		return &url.URL{Scheme: "http", Host: "localhost"}
	}
	return u
}

func (r *reader) list(name string) []string {
	var out []string
	for _, s := range strings.Split(r.str(name), ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// emails reads a comma list of email addresses, trimmed and lower-cased
// (they are compared case-insensitively).
func (r *reader) emails(name string) []string {
	var out []string
	for _, e := range r.list(name) {
		local, domain, ok := strings.Cut(e, "@")
		if !ok || local == "" || domain == "" || strings.ContainsAny(e, " \t<>\"") || strings.Count(e, "@") != 1 {
			r.fail(name, fmt.Sprintf("must be a comma list of email addresses, got %q", e))
			return nil
		}
		out = append(out, strings.ToLower(e))
	}
	return out
}

func (r *reader) prefixes(name string) []netip.Prefix {
	var out []netip.Prefix
	for _, s := range r.list(name) {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			a, aerr := netip.ParseAddr(s)
			if aerr != nil {
				r.fail(name, fmt.Sprintf("must be a comma list of IP addresses or CIDR ranges, got %q", s))
				return nil
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		out = append(out, p.Masked())
	}
	return out
}

// database reads where the state is kept: the -db flag, else ROLEGATE_DB
// or the file named by ROLEGATE_DB_FILE, else the default SQLite file. A
// postgres:// (or postgresql://) URL is PostgreSQL; anything else is a
// SQLite path. The URL is never repeated in a message: it may hold a
// password.
func (r *reader) database(flagValue string) (path string, dbURL Secret) {
	src := flagValue
	if src == "" {
		src = string(r.secret("ROLEGATE_DB"))
	}
	src = firstNonEmpty(src, DefaultDBPath)
	if !IsPostgresURL(src) {
		return src, ""
	}
	if u, err := url.Parse(src); err != nil || (u.Host == "" && !strings.Contains(u.RawQuery, "host=")) {
		r.fail("ROLEGATE_DB", "is not a valid postgres:// URL (postgres://user:password@host:5432/database)")
	}
	return "", Secret(src)
}

// IsPostgresURL reports whether a database setting names PostgreSQL.
func IsPostgresURL(s string) bool {
	s = strings.ToLower(strings.TrimSpace(s))
	return strings.HasPrefix(s, "postgres://") || strings.HasPrefix(s, "postgresql://")
}

// DatabaseOf is the database a subcommand works on (as Load reads it):
// its -db flag, else ROLEGATE_DB or ROLEGATE_DB_FILE, else the default.
func DatabaseOf(flagValue string, getenv func(string) string) (path string, dbURL Secret, err error) {
	r := reader{getenv: getenv}
	path, dbURL = r.database(flagValue)
	if r.err != nil {
		return "", "", r.err
	}
	return path, dbURL, nil
}

// DBSource is what the store opens: the PostgreSQL URL, else the SQLite
// path. It holds the password when the URL does: pass it to the store,
// never to a log or a message (DBName is for those).
func (c *Config) DBSource() string {
	if c.DBURL != "" {
		return c.DBURL.Reveal()
	}
	return c.DBPath
}

// DBName names the database for the start line and messages: the SQLite
// path, or the PostgreSQL server and database without user, password or
// parameters.
func (c *Config) DBName() string {
	if c.DBURL == "" {
		return c.DBPath
	}
	return PostgresName(c.DBURL.Reveal())
}

// PostgresName is a postgres:// URL without its user, password and
// parameters: what may be shown of it.
func PostgresName(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "postgres://(unreadable URL)"
	}
	return "postgres://" + u.Host + u.EscapedPath()
}

// secret reads NAME or the file named by NAME_FILE (not both).
func (r *reader) secret(name string) Secret {
	v, file := r.getenv(name), r.str(name+"_FILE")
	switch {
	case v != "" && file != "":
		r.fail(name, "set either "+name+" or "+name+"_FILE, not both")
	case file != "":
		b, err := os.ReadFile(file)
		if err != nil {
			r.fail(name+"_FILE", "cannot read the file: "+pathError(err))
			return ""
		}
		return Secret(strings.TrimSpace(string(b)))
	}
	return Secret(strings.TrimSpace(v))
}

// pathError describes a file error without echoing anything read.
func pathError(err error) string {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return "unreadable"
}

func validateAddr(addr string, dev bool) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("must be host:port, got %q", addr)
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return fmt.Errorf("the port must be a number from 0 to 65535, got %q", port)
	}
	if dev && !isLoopback(host) {
		return fmt.Errorf("dev mode listens on loopback only (127.0.0.1, ::1 or localhost), got %q", host)
	}
	return nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}

func firstNonEmpty(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}

func contains(list []string, v string) bool {
	for _, s := range list {
		if s == v {
			return true
		}
	}
	return false
}
