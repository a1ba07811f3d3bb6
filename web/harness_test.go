package web_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rolegate/rolegate/internal/app"
	"github.com/rolegate/rolegate/internal/catalog"
	"github.com/rolegate/rolegate/internal/config"
	"github.com/rolegate/rolegate/internal/picture"
	"github.com/rolegate/rolegate/internal/rolegate"
	"github.com/rolegate/rolegate/internal/simulator"
	"github.com/rolegate/rolegate/internal/sso"
	"github.com/rolegate/rolegate/static"
	"github.com/rolegate/rolegate/web"
)

// harness is a whole portal over real HTTP: a real SQLite file, the Admin
// API simulator behind the real client, and either the dev sign-in or a
// real OIDC provider (set opts.SSO).
type harness struct {
	t   *testing.T
	URL string
	// App is the whole application under test: its store (App.Store),
	// services and audit trail (App.Audit).
	App      *app.App
	Requests rolegate.RequestService
	Catalog  *catalog.Service
	Picture  *picture.Picture
	Sim      *simulator.Simulator
	Config   *config.Config
	Server   *web.Server
	// HandedOff receives the ids queued for provisioning (no worker runs).
	HandedOff chan int64
	// syncFailures counts the picture's failed reads.
	syncFailures atomic.Int64
}

type harnessOptions struct {
	// Env overrides configuration variables (dev mode is on unless SSO is set).
	Env map[string]string
	// SSO, when set, signs people in through a real identity provider.
	SSO func(redirectURL string) *sso.Client
	// Now, when set, is the clock of the server and the database (to move
	// time in tests).
	Now func() time.Time
	// Log, when set, receives the server's log lines (discarded otherwise).
	Log io.Writer
	// RateLimits, when set, replace web.DefaultRateLimits().
	RateLimits *web.RateLimits
	// PictureMaxAge, when set, replaces the 30 s a check trusts the picture.
	PictureMaxAge time.Duration
	// Metrics, when set, are served at /metrics as the configuration says.
	Metrics web.Metrics
	// Notify, when set, turns the notification outbox on (rows are queued;
	// no worker sends them).
	Notify *rolegate.NotificationTargets
	// AuditCountBudget, when set, bounds the Audit page's count.
	AuditCountBudget time.Duration
	// Projects are the simulated organization's projects at start.
	Projects []simulator.ProjectSeed
	// NoDirectory starts the simulated organization without dev mode's
	// users and groups (nobody signed in is one of its users).
	NoDirectory bool
}

const testAdminKey = "sk-admin-test-key-never-shown"

func newHarness(t *testing.T, opts harnessOptions) *harness {
	t.Helper()
	ctx := context.Background()
	h := &harness{t: t, HandedOff: make(chan int64, 100)}

	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	h.URL = srv.URL

	env := map[string]string{"ROLEGATE_BASE_URL": srv.URL, "ROLEGATE_DB": filepath.Join(t.TempDir(), "rolegate.db")}
	if opts.PictureMaxAge != 0 {
		env["ROLEGATE_PICTURE_MAX_AGE"] = opts.PictureMaxAge.String()
	}
	if opts.SSO == nil {
		env["ROLEGATE_DEV"] = "1"
		env["ROLEGATE_APPROVER_GROUPS"] = web.DevApproverGroup
		env["ROLEGATE_AUDITOR_GROUPS"] = web.DevAuditorGroup
		env["ROLEGATE_ADMIN_GROUPS"] = web.DevAdminGroup
	} else {
		env["ROLEGATE_OIDC_ISSUER"] = "https://placeholder.invalid" // replaced by the SSO client below
		env["ROLEGATE_OIDC_CLIENT_ID"] = "rolegate-test"
		env["ROLEGATE_OIDC_CLIENT_SECRET"] = "rolegate-test-secret"
		env["ROLEGATE_APPROVER_GROUPS"] = "approvers"
		env["ROLEGATE_AUDITOR_GROUPS"] = "auditors"
		env["ROLEGATE_ADMIN_GROUPS"] = "admins"
		env["OPENAI_ADMIN_KEY"] = testAdminKey
	}
	for k, v := range opts.Env {
		env[k] = v
	}
	cfg, err := config.Load(nil, func(k string) string { return env[k] }, io.Discard)
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	h.Config = cfg

	// The whole application, as serve builds it (internal/app), with the
	// harness's simulator as its upstream and no provisioning worker.
	// Its directory is dev mode's: the dev personas are its users.
	org := simulator.Options{AdminKey: testAdminKey, Projects: opts.Projects, Users: simulator.DevUsers(), Groups: simulator.DevGroups()}
	if opts.NoDirectory {
		org.Users, org.Groups = nil, []simulator.GroupSeed{{Name: "Contractors"}}
	}
	h.Sim = simulator.New(org)
	a, err := app.New(ctx, cfg, app.Options{
		Now: opts.Now, Simulator: h.Sim,
		HandedOff:         func(id int64) { h.HandedOff <- id },
		PictureSyncFailed: func() { h.syncFailures.Add(1) },
	})
	if err != nil {
		t.Fatalf("app: %v", err)
	}
	t.Cleanup(func() { a.Close() })
	if a.Picture.SyncedAt().IsZero() {
		t.Fatal("the first sync of the organization failed")
	}
	if opts.Notify != nil {
		a.Store.SetNotifications(*opts.Notify)
	}
	h.App, h.Requests, h.Catalog, h.Picture = a, a.Services.Requests, a.Catalog, a.Picture
	assets, err := static.Load()
	if err != nil {
		t.Fatal(err)
	}
	logTo := io.Discard
	if opts.Log != nil {
		logTo = opts.Log
	}
	var ssoClient *sso.Client
	if opts.SSO != nil {
		ssoClient = opts.SSO(srv.URL + "/auth/callback")
	}
	var devSim *simulator.Simulator
	if opts.SSO == nil {
		devSim = h.Sim // dev mode: the admin page's out-of-band controls
	}
	h.Server = web.NewServer(web.Deps{
		Config: cfg, Services: a.Services, Audit: a.Store.Audit, Store: a.Store, Catalog: a.Catalog, Picture: a.Picture, Assignments: a.Assignments,
		DevSimulator: devSim, SSO: ssoClient, Assets: assets, Logger: slog.New(slog.NewTextHandler(logTo, nil)), Now: opts.Now,
		RateLimits: opts.RateLimits, Metrics: opts.Metrics, AuditCountBudget: opts.AuditCountBudget,
	})
	mux.Handle("/", h.Server)
	return h
}

// browser is a cookie-keeping client that does not follow redirects, so
// tests see each answer.
type browser struct {
	h *harness
	*http.Client
}

func (h *harness) newBrowser() *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{h: h, Client: &http.Client{
		Jar: jar, Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

// signInAs signs a dev persona in ("requester", "approver1", "approver2",
// "auditor", "admin").
func (h *harness) signInAs(persona string) *browser {
	h.t.Helper()
	b := h.newBrowser()
	res := b.post("/auth/dev", url.Values{"persona": {persona}})
	if res.StatusCode != http.StatusSeeOther {
		h.t.Fatalf("dev sign-in as %s: status %d; want 303", persona, res.StatusCode)
	}
	return b
}

// page is a fetched answer with its body read.
type page struct {
	StatusCode int
	Header     http.Header
	Body       string
}

func (b *browser) get(path string) page {
	b.h.t.Helper()
	res, err := b.Get(b.h.URL + path)
	if err != nil {
		b.h.t.Fatalf("GET %s: %v", path, err)
	}
	return readPage(b.h.t, res)
}

// post sends a form as a same-origin browser would (Origin header set).
func (b *browser) post(path string, form url.Values) page {
	b.h.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, b.h.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", b.h.URL)
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	res, err := b.Do(req)
	if err != nil {
		b.h.t.Fatalf("POST %s: %v", path, err)
	}
	return readPage(b.h.t, res)
}

// postWithToken fetches the CSRF token from a page of the session first.
func (b *browser) postWithToken(path string, form url.Values) page {
	b.h.t.Helper()
	if form == nil {
		form = url.Values{}
	}
	form.Set("csrf_token", b.csrfToken())
	return b.post(path, form)
}

var csrfPattern = regexp.MustCompile(`name="csrf_token" value="([^"]+)"`)

func (b *browser) csrfToken() string {
	b.h.t.Helper()
	p := b.get("/auth/logout") // any signed-in page with a form
	m := csrfPattern.FindStringSubmatch(p.Body)
	if m == nil {
		b.h.t.Fatalf("no CSRF token on the page (status %d)", p.StatusCode)
	}
	return m[1]
}

func readPage(t *testing.T, res *http.Response) page {
	t.Helper()
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	return page{StatusCode: res.StatusCode, Header: res.Header, Body: string(body)}
}

// fileRequest files a valid request as b and returns its id.
func (h *harness) fileRequest(b *browser, roleName string, perms ...string) int64 {
	h.t.Helper()
	if len(perms) == 0 {
		perms = []string{"api.groups.read"}
	}
	res := b.postWithToken("/requests", url.Values{
		"role_name": {roleName}, "permissions": perms, "justification": {"Needed for the quarterly access review."},
	})
	if res.StatusCode != http.StatusSeeOther {
		h.t.Fatalf("file request %q: status %d; want 303\n%s", roleName, res.StatusCode, res.Body)
	}
	var id int64
	loc := res.Header.Get("Location")
	if _, err := fmtSscanf(loc, "/requests/%d", &id); err != nil {
		h.t.Fatalf("file request: Location %q", loc)
	}
	return id
}

// refused checks that res answers a refused post as the portal does (a
// 303 to the page of the form, web/draft.go), follows it, and returns that
// page, which shows why once.
func (b *browser) refused(res page, wantPath string) page {
	b.h.t.Helper()
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != wantPath {
		b.h.t.Fatalf("a refused post = %d to %q; want 303 to %s\n%s", res.StatusCode, res.Header.Get("Location"), wantPath, shorten(res.Body))
	}
	return b.get(wantPath)
}

// summary is the text of a page's error summary, "" when it has none.
func summary(p page) string { return text(element(p.Body, "form-errors")) }
