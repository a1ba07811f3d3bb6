package web_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"golang.org/x/time/rate"

	"github.com/rolegate/rolegate/internal/app"
	"github.com/rolegate/rolegate/internal/config"
	"github.com/rolegate/rolegate/internal/rolegate"
	"github.com/rolegate/rolegate/internal/simulator"
	"github.com/rolegate/rolegate/static"
	"github.com/rolegate/rolegate/web"
)

// The hot paths of the HTTP layer, measured through Server.ServeHTTP (no
// TCP) over a real SQLite file with synchronous=FULL: what one request costs
// in the handler, the store and the rendering. The load run
// (scripts/loadtest) measures the same paths over real connections; see
// docs/PERFORMANCE.md.
//
//	go test -run '^$' -bench . -benchmem ./web

// benchPortal is a dev-mode portal for benchmarks, with the throttles
// lifted (they would otherwise measure themselves).
type benchPortal struct {
	b         *testing.B
	server    *web.Server
	requests  rolegate.RequestService
	handedOff chan int64
	sim       *simulator.Simulator
}

const benchAdminKey = "sk-admin-bench-key"

// newBenchPortal starts a portal whose organization holds extraRoles
// custom roles beside the predefined ones.
func newBenchPortal(b *testing.B, extraRoles int) *benchPortal {
	b.Helper()
	ctx := context.Background()
	env := map[string]string{
		"ROLEGATE_DEV": "1", "ROLEGATE_BASE_URL": "http://127.0.0.1:8080",
		"ROLEGATE_APPROVER_GROUPS": web.DevApproverGroup, "ROLEGATE_AUDITOR_GROUPS": web.DevAuditorGroup,
		"ROLEGATE_ADMIN_GROUPS": web.DevAdminGroup, "ROLEGATE_DB": filepath.Join(b.TempDir(), "rolegate.db"),
	}
	cfg, err := config.Load(nil, func(k string) string { return env[k] }, io.Discard)
	if err != nil {
		b.Fatalf("config: %v", err)
	}
	p := &benchPortal{b: b, handedOff: make(chan int64, 1), sim: simulator.New(simulator.Options{AdminKey: benchAdminKey})}
	for i := range extraRoles {
		perms := []string{"api.groups.read", fmt.Sprintf("api.bench_%03d.read", i%500)}
		if _, err := p.sim.AddRole(fmt.Sprintf("Bench Role %05d", i), "", perms); err != nil {
			b.Fatal(err)
		}
	}
	a, err := app.New(ctx, cfg, app.Options{Simulator: p.sim,
		// The worker's Wake never blocks; neither does this.
		HandedOff: func(id int64) {
			select {
			case p.handedOff <- id:
			default:
			}
		},
	})
	if err != nil {
		b.Fatalf("app: %v", err)
	}
	b.Cleanup(func() { a.Close() })
	if a.Picture.SyncedAt().IsZero() {
		b.Fatal("the first sync of the organization failed")
	}
	p.requests = a.Services.Requests
	assets, err := static.Load()
	if err != nil {
		b.Fatal(err)
	}
	unlimited := web.RateLimit{Per: rate.Inf, Burst: 1}
	p.server = web.NewServer(web.Deps{
		Config: cfg, Services: a.Services, Audit: a.Store.Audit, Store: a.Store, Catalog: a.Catalog, Picture: a.Picture, Assets: assets,
		// The portal logs a line per request in production too.
		Logger:     slog.New(slog.NewJSONHandler(io.Discard, nil)),
		RateLimits: &web.RateLimits{SignIn: unlimited, Forms: unlimited, MaxKeys: 10000},
	})
	return p
}

// benchSession is a signed-in dev persona.
type benchSession struct {
	p      *benchPortal
	cookie string // the Cookie header
	csrf   string
}

var benchCSRF = regexp.MustCompile(`name="csrf_token" value="([^"]+)"`)

func (p *benchPortal) signIn(persona string) *benchSession {
	p.b.Helper()
	res := p.do(http.MethodPost, "/auth/dev", "", url.Values{"persona": {persona}})
	if res.Code != http.StatusSeeOther {
		p.b.Fatalf("dev sign-in as %s = %d; want 303", persona, res.Code)
	}
	var cookies []string
	for _, c := range res.Result().Cookies() {
		if c.MaxAge >= 0 && c.Value != "" {
			cookies = append(cookies, c.Name+"="+c.Value)
		}
	}
	s := &benchSession{p: p, cookie: strings.Join(cookies, "; ")}
	m := benchCSRF.FindStringSubmatch(s.get("/auth/logout").Body.String())
	if m == nil {
		p.b.Fatalf("no CSRF token for %s", persona)
	}
	s.csrf = m[1]
	return s
}

// do serves one request from a loopback client.
func (p *benchPortal) do(method, path, cookie string, form url.Values) *httptest.ResponseRecorder {
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	// A context that can be cancelled, as net/http gives every request:
	// database/sql and the driver watch it on every statement.
	rctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req := httptest.NewRequestWithContext(rctx, method, path, body)
	req.RemoteAddr = "127.0.0.1:50000"
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if cookie != "" {
		req.Header.Set("Cookie", cookie)
	}
	rec := httptest.NewRecorder()
	p.server.ServeHTTP(rec, req)
	return rec
}

func (s *benchSession) get(path string) *httptest.ResponseRecorder {
	return s.p.do(http.MethodGet, path, s.cookie, nil)
}

func (s *benchSession) post(path string, form url.Values) *httptest.ResponseRecorder {
	form.Set("csrf_token", s.csrf)
	return s.p.do(http.MethodPost, path, s.cookie, form)
}

// submit files a request named name through the form.
func (s *benchSession) submit(name string) *httptest.ResponseRecorder {
	return s.post("/requests", url.Values{
		"role_name": {name}, "permissions": {"api.groups.read", "api.projects.read"},
		"description":   {"Read-only access for the dashboards."},
		"justification": {"The platform team's dashboards read groups and projects."},
	})
}

// fileRequest files a request and returns its id and payload hash.
func (s *benchSession) fileRequest(name string) (int64, string) {
	s.p.b.Helper()
	res := s.submit(name)
	var id int64
	if _, err := fmt.Sscanf(res.Header().Get("Location"), "/requests/%d", &id); err != nil || res.Code != http.StatusSeeOther {
		s.p.b.Fatalf("file %q = %d %q; want 303 to the request", name, res.Code, res.Header().Get("Location"))
	}
	req, err := s.p.requests.Get(context.Background(), id)
	if err != nil {
		s.p.b.Fatal(err)
	}
	return id, req.Binding()
}

// BenchmarkRequestPage is the requester's view of one request: the
// session lookup, the request and its timeline read, the page rendered.
func BenchmarkRequestPage(b *testing.B) {
	p := newBenchPortal(b, 0)
	requester := p.signIn("requester")
	id, hash := requester.fileRequest("Dashboard Reader")
	approver := p.signIn("approver1")
	if res := approver.post(fmt.Sprintf("/requests/%d/approve", id), url.Values{"payload_hash": {hash}}); res.Code != http.StatusSeeOther {
		b.Fatalf("approve = %d", res.Code)
	}
	path := fmt.Sprintf("/requests/%d", id)
	if res := requester.get(path); res.Code != http.StatusOK || !strings.Contains(res.Body.String(), "Approved") {
		b.Fatalf("GET %s = %d; want 200 with the status Approved", path, res.Code)
	}

	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if res := requester.get(path); res.Code != http.StatusOK {
				b.Fatalf("GET %s = %d", path, res.Code)
			}
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if res := requester.get(path); res.Code != http.StatusOK {
					b.Errorf("GET %s = %d", path, res.Code)
					return
				}
			}
		})
	})
}

// BenchmarkSubmitRequest files a request through the form: parsing,
// validation against the catalog and the names taken, the durable write
// of the request and its audit event (one fsync), the redirect.
func BenchmarkSubmitRequest(b *testing.B) {
	p := newBenchPortal(b, 0)
	requester := p.signIn("requester")
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		if res := requester.submit(fmt.Sprintf("Bench Role %d", i)); res.Code != http.StatusSeeOther {
			b.Fatalf("submit = %d; want 303\n%s", res.Code, res.Body)
		}
	}
}

// BenchmarkApproveHandOff is the approving click up to the moment the
// provisioning worker is told: the approval, the queue row and the audit
// events committed together, then the wake-up.
func BenchmarkApproveHandOff(b *testing.B) {
	p := newBenchPortal(b, 0)
	requester := p.signIn("requester")
	approver := p.signIn("approver1")
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		b.StopTimer()
		id, hash := requester.fileRequest(fmt.Sprintf("Handoff Role %d", i))
		b.StartTimer()
		if res := approver.post(fmt.Sprintf("/requests/%d/approve", id), url.Values{"payload_hash": {hash}}); res.Code != http.StatusSeeOther {
			b.Fatalf("approve = %d; want 303\n%s", res.Code, res.Body)
		}
		if got := <-p.handedOff; got != id {
			b.Fatalf("handed off %d; want %d", got, id)
		}
	}
}

// BenchmarkRolesPage is the Roles page of an organization of 5,000 roles:
// the first page, a page deep in the list, and searches by part of a name
// and of a permission. It reads only the stored picture.
func BenchmarkRolesPage(b *testing.B) {
	p := newBenchPortal(b, 5000)
	auditor := p.signIn("auditor")
	for _, bc := range []struct{ name, path, want string }{
		{"first page", "/roles", "Bench Role 00000"},
		{"page 60", "/roles?page=60", "Bench Role 02950"},
		{"search by name", "/roles?q=role+0421", "Bench Role 04210"},
		{"search by permission", "/roles?q=bench_123.read", "Bench Role 00123"},
		{"search without a match", "/roles?q=nothing-like-this", "No role matches"},
	} {
		if res := auditor.get(bc.path); res.Code != http.StatusOK || !strings.Contains(res.Body.String(), bc.want) {
			b.Fatalf("GET %s = %d; want 200 with %q", bc.path, res.Code, bc.want)
		}
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if res := auditor.get(bc.path); res.Code != http.StatusOK {
					b.Fatalf("GET %s = %d", bc.path, res.Code)
				}
			}
		})
	}
}
