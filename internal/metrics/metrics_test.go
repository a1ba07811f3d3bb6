package metrics_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/rolegate/rolegate/internal/app"
	"github.com/rolegate/rolegate/internal/metrics"
	"github.com/rolegate/rolegate/internal/rolegate"
	"github.com/rolegate/rolegate/internal/testkit"
)

// scrape fetches h over real HTTP and parses the Prometheus text.
func scrape(t *testing.T, h http.Handler) (map[string]*dto.MetricFamily, string) {
	t.Helper()
	srv := httptest.NewServer(h)
	defer srv.Close()
	res, err := http.Get(srv.URL)
	if err != nil {
		t.Fatalf("scrape: %v", err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("scrape: %v", err)
	}
	if res.StatusCode != http.StatusOK {
		t.Fatalf("scrape status = %d; want 200\n%s", res.StatusCode, body)
	}
	if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Errorf("scrape Content-Type = %q; want text/plain (the Prometheus text format)", ct)
	}
	return testkit.ParseMetrics(t, string(body)), string(body)
}

func TestHTTPRequestsAreCountedByRoutePattern(t *testing.T) {
	m := metrics.New(metrics.Options{})
	m.ObserveHTTP("/requests/:id", http.MethodGet, 200, 3*time.Millisecond)
	m.ObserveHTTP("/requests/:id", http.MethodGet, 200, 4*time.Millisecond)
	m.ObserveHTTP("/requests/:id", http.MethodGet, 404, time.Millisecond)
	m.ObserveHTTP("/requests", http.MethodPost, 303, 20*time.Millisecond)
	m.ObserveHTTP("unmatched", "BREW", 404, time.Millisecond)
	fams, _ := scrape(t, m.Handler())

	tests := []struct {
		labels map[string]string
		want   float64
	}{
		{map[string]string{"route": "/requests/:id", "method": "GET", "status": "200"}, 2},
		{map[string]string{"route": "/requests/:id", "method": "GET", "status": "404"}, 1},
		{map[string]string{"route": "/requests", "method": "POST", "status": "303"}, 1},
		// An invented method must not invent a series.
		{map[string]string{"route": "unmatched", "method": "OTHER", "status": "404"}, 1},
	}
	for _, tt := range tests {
		if got, ok := testkit.MetricValue(fams, "rolegate_http_requests_total", tt.labels); !ok || got != tt.want {
			t.Errorf("rolegate_http_requests_total%v = %v (present %v); want %v", tt.labels, got, ok, tt.want)
		}
	}
	if _, ok := testkit.MetricValue(fams, "rolegate_http_requests_total", map[string]string{"method": "BREW"}); ok {
		t.Errorf("a series carries the invented method BREW")
	}
	if got, _ := testkit.MetricValue(fams, "rolegate_http_request_duration_seconds", map[string]string{"route": "/requests/:id", "method": "GET"}); got != 3 {
		t.Errorf("rolegate_http_request_duration_seconds{/requests/:id GET} count = %v; want 3", got)
	}
}

func TestEventOutcomeAndSignInCounters(t *testing.T) {
	m := metrics.New(metrics.Options{})
	// Before anything happens, the outcomes alerts watch are already at 0.
	fams, _ := scrape(t, m.Handler())
	for _, tt := range []struct{ name, label, value string }{
		{"rolegate_sign_ins_total", "outcome", "failure"},
		{"rolegate_provisioning_attempts_total", "outcome", "failed"},
		{"rolegate_provisioning_attempts_total", "outcome", "retry"},
	} {
		if got, ok := testkit.MetricValue(fams, tt.name, map[string]string{tt.label: tt.value}); !ok || got != 0 {
			t.Errorf("at start %s{%s=%q} = %v (present %v); want 0", tt.name, tt.label, tt.value, got, ok)
		}
	}

	m.SignIn("success")
	m.SignIn("failure")
	m.SignIn("success")
	m.ProvisioningOutcome("retry")
	m.ProvisioningOutcome("succeeded")
	m.AuditEventAppended(rolegate.ActionRequestCreated)
	m.AuditEventAppended(rolegate.ActionRequestCreated)
	m.AuditEventAppended(rolegate.ActionProvisioningAttempt)
	fams, _ = scrape(t, m.Handler())
	tests := []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"rolegate_sign_ins_total", map[string]string{"outcome": "success"}, 2},
		{"rolegate_sign_ins_total", map[string]string{"outcome": "failure"}, 1},
		{"rolegate_provisioning_attempts_total", map[string]string{"outcome": "retry"}, 1},
		{"rolegate_provisioning_attempts_total", map[string]string{"outcome": "succeeded"}, 1},
		{"rolegate_provisioning_attempts_total", map[string]string{"outcome": "failed"}, 0},
		{"rolegate_audit_events_total", map[string]string{"action": "request.created"}, 2},
		{"rolegate_audit_events_total", map[string]string{"action": "provisioning.attempt"}, 1},
	}
	for _, tt := range tests {
		if got, ok := testkit.MetricValue(fams, tt.name, tt.labels); !ok || got != tt.want {
			t.Errorf("%s%v = %v (present %v); want %v", tt.name, tt.labels, got, ok, tt.want)
		}
	}
	for _, name := range []string{"go_goroutines", "process_resident_memory_bytes", "go_build_info"} {
		if fams[name] == nil {
			t.Errorf("the scrape lacks %s (Go and process collectors)", name)
		}
	}
}

// openDB opens a real database in a temp folder.
func openDB(t *testing.T) *app.Store {
	t.Helper()
	db, err := app.OpenStore(context.Background(), filepath.Join(t.TempDir(), "rolegate.db"))
	if err != nil {
		t.Fatalf("open db: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func TestStoreGaugesAreReadAtScrapeTime(t *testing.T) {
	ctx := context.Background()
	db := openDB(t)
	clk := testkit.NewClock(time.Now())
	m := metrics.New(metrics.Options{Store: db.Counts, Now: clk.Now})
	db.OnEventAppended(m.AuditEventAppended)

	fams, _ := scrape(t, m.Handler())
	for _, st := range rolegate.AllStatuses {
		if got, ok := testkit.MetricValue(fams, "rolegate_requests", map[string]string{"status": string(st)}); !ok || got != 0 {
			t.Errorf("empty database: rolegate_requests{status=%q} = %v (present %v); want 0", st, got, ok)
		}
	}

	cat := rolegate.NewCatalog([]rolegate.Permission{{Name: "api.groups.read", Area: "Groups"}})
	reqs := db.Requests(rolegate.RequestsConfig{})
	requester := rolegate.Actor{Principal: rolegate.Principal{
		Person: rolegate.Person{Issuer: "test", Subject: "riley", Name: "Riley"}, Roles: []rolegate.PortalRole{rolegate.RoleRequester},
	}}
	approver := rolegate.Actor{Principal: rolegate.Principal{
		Person: rolegate.Person{Issuer: "test", Subject: "avery", Name: "Avery"}, Roles: []rolegate.PortalRole{rolegate.RoleApprover},
	}}
	var approvedID int64
	for _, name := range []string{"Metrics Reader", "Metrics Writer", "Metrics Owner"} {
		req, err := reqs.Create(ctx, requester, rolegate.RequestInput{
			RoleName: name, Permissions: []string{"api.groups.read"}, Justification: "Dashboards for the platform team.",
		}, cat)
		if err != nil {
			t.Fatalf("create %q: %v", name, err)
		}
		approvedID = req.ID
	}
	req, err := reqs.Get(ctx, approvedID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := reqs.ApproveWith(ctx, approver, approvedID, req.Binding(), "", rolegate.Reauth{}); err != nil {
		t.Fatalf("approve: %v", err)
	}

	// Within StoreMaxAge a scrape serves the last reading; after it, the
	// database's numbers as they are now.
	fams, _ = scrape(t, m.Handler())
	if got, _ := testkit.MetricValue(fams, "rolegate_requests", map[string]string{"status": "pending"}); got != 0 {
		t.Errorf("rolegate_requests{pending} = %v within StoreMaxAge of the last reading; want that reading's 0", got)
	}
	clk.Advance(metrics.DefaultStoreMaxAge)
	fams, _ = scrape(t, m.Handler())
	tests := []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"rolegate_requests", map[string]string{"status": "pending"}, 2},
		{"rolegate_requests", map[string]string{"status": "approved"}, 1},
		{"rolegate_requests", map[string]string{"status": "provisioned"}, 0},
		{"rolegate_provisioning_queue_depth", nil, 1},
		{"rolegate_audit_events_total", map[string]string{"action": "request.created"}, 3},
		{"rolegate_audit_events_total", map[string]string{"action": "request.approved"}, 1},
		{"rolegate_database_scrape_success", nil, 1},
	}
	for _, tt := range tests {
		if got, ok := testkit.MetricValue(fams, tt.name, tt.labels); !ok || got != tt.want {
			t.Errorf("%s%v = %v (present %v); want %v", tt.name, tt.labels, got, ok, tt.want)
		}
	}
	if age, ok := testkit.MetricValue(fams, "rolegate_provisioning_queue_oldest_age_seconds", nil); !ok || age < 0 || age > 60 {
		t.Errorf("rolegate_provisioning_queue_oldest_age_seconds = %v (present %v); want the age of a job queued just now", age, ok)
	}
	if size, ok := testkit.MetricValue(fams, "rolegate_database_size_bytes", map[string]string{"file": "db"}); !ok || size <= 0 {
		t.Errorf("rolegate_database_size_bytes{file=db} = %v (present %v); want the file's size", size, ok)
	}
}

// A database that cannot be read costs its gauges, not the whole scrape:
// the process and HTTP metrics still answer, and scrape_success says 0.
func TestUnreadableDatabaseKeepsTheScrapeAlive(t *testing.T) {
	db := openDB(t)
	m := metrics.New(metrics.Options{Store: db.Counts})
	m.ObserveHTTP("/", http.MethodGet, 200, time.Millisecond)
	db.Close()

	fams, _ := scrape(t, m.Handler())
	if got, ok := testkit.MetricValue(fams, "rolegate_database_scrape_success", nil); !ok || got != 0 {
		t.Errorf("rolegate_database_scrape_success = %v (present %v); want 0", got, ok)
	}
	if _, ok := testkit.MetricValue(fams, "rolegate_requests", nil); ok {
		t.Errorf("rolegate_requests is served from a closed database")
	}
	if got, ok := testkit.MetricValue(fams, "rolegate_http_requests_total", map[string]string{"route": "/"}); !ok || got != 1 {
		t.Errorf("rolegate_http_requests_total{route=/} = %v (present %v); want 1", got, ok)
	}
}

// The picture's gauges come from the store at scrape time; its failures
// are counted as they happen.
func TestPictureMetrics(t *testing.T) {
	ctx := context.Background()
	db := openDB(t)
	clk := testkit.NewClock(time.Now())
	m := metrics.New(metrics.Options{Store: db.Counts, Now: clk.Now})
	fams, _ := scrape(t, m.Handler())
	if _, ok := testkit.MetricValue(fams, "rolegate_picture_age_seconds", nil); ok {
		t.Errorf("rolegate_picture_age_seconds is present before the first read; want it absent")
	}
	if got, ok := testkit.MetricValue(fams, "rolegate_picture_drifted_roles", nil); !ok || got != 0 {
		t.Errorf("rolegate_picture_drifted_roles = %v (present %v); want 0", got, ok)
	}
	if _, err := db.Picture.ReplacePicture(ctx, rolegate.ScopeOrganization, []rolegate.UpstreamRole{{ID: "role_a", Name: "a role"}}, nil); err != nil {
		t.Fatal(err)
	}
	m.PictureSyncFailed()
	m.PictureSyncFailed()
	clk.Advance(metrics.DefaultStoreMaxAge) // past the last reading of the database
	fams, _ = scrape(t, m.Handler())
	if age, ok := testkit.MetricValue(fams, "rolegate_picture_age_seconds", nil); !ok || age < 0 || age > 60 {
		t.Errorf("rolegate_picture_age_seconds = %v (present %v); want the age of a read just now", age, ok)
	}
	if got, ok := testkit.MetricValue(fams, "rolegate_picture_sync_failures_total", nil); !ok || got != 2 {
		t.Errorf("rolegate_picture_sync_failures_total = %v (present %v); want 2", got, ok)
	}
}

// countingStore counts the reads of the database.
type countingStore struct {
	metrics.Store
	reads atomic.Int32
}

func (c *countingStore) CountByStatus(ctx context.Context) (map[rolegate.Status]int, error) {
	c.reads.Add(1)
	return c.Store.CountByStatus(ctx)
}

// A flood of scrapes, one after another and side by side, reads the
// database once per StoreMaxAge: the scrape cannot be used to keep the
// single writer's database busy.
func TestAFloodOfScrapesReadsTheDatabaseOncePerMaxAge(t *testing.T) {
	store := &countingStore{Store: openDB(t).Counts}
	clk := testkit.NewClock(time.Now())
	m := metrics.New(metrics.Options{Store: store, Now: clk.Now})
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	get := func() int {
		res, err := http.Get(srv.URL)
		if err != nil {
			t.Error(err)
			return 0
		}
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
		return res.StatusCode
	}
	for range 100 {
		if code := get(); code != http.StatusOK {
			t.Fatalf("scrape = %d; want 200", code)
		}
	}
	var wg sync.WaitGroup
	for range 4 { // the handler's limit of scrapes in flight
		wg.Go(func() {
			for range 25 {
				if code := get(); code != http.StatusOK && code != http.StatusServiceUnavailable {
					t.Errorf("scrape = %d; want 200 (or 503 beyond the in-flight limit)", code)
				}
			}
		})
	}
	wg.Wait()
	if n := store.reads.Load(); n != 1 {
		t.Errorf("200 scrapes within StoreMaxAge read the database %d times; want 1", n)
	}
	clk.Advance(metrics.DefaultStoreMaxAge)
	get()
	get()
	if n := store.reads.Load(); n != 2 {
		t.Errorf("after StoreMaxAge the database was read %d times in all; want 2", n)
	}
}

// Only the scraper's bearer token opens the metrics; nothing of them is in
// a refusal.
func TestRequireBearerLetsOnlyTheScraperIn(t *testing.T) {
	const token = "scraper-token-0123456789abcdef0123456789abcdef"
	m := metrics.New(metrics.Options{})
	m.ObserveHTTP("/", http.MethodGet, 200, time.Millisecond)
	srv := httptest.NewServer(metrics.RequireBearer(token, m.Handler()))
	defer srv.Close()
	tests := []struct {
		name   string
		header string
		query  string
		want   int
	}{
		{"no credentials", "", "", http.StatusUnauthorized},
		{"a wrong token", "Bearer not-the-token", "", http.StatusUnauthorized},
		{"the token with a character more", "Bearer " + token + "x", "", http.StatusUnauthorized},
		{"the token as Basic", "Basic " + token, "", http.StatusUnauthorized},
		{"the token in the query", "", "?token=" + token + "&access_token=" + token, http.StatusUnauthorized},
		{"the token", "Bearer " + token, "", http.StatusOK},
		{"the token, scheme in lower case", "bearer " + token, "", http.StatusOK},
	}
	for _, tt := range tests {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+tt.query, nil)
		if tt.header != "" {
			req.Header.Set("Authorization", tt.header)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != tt.want {
			t.Errorf("%s: status = %d; want %d", tt.name, res.StatusCode, tt.want)
		}
		if tt.want == http.StatusUnauthorized {
			if strings.Contains(string(body), "rolegate_") || strings.Contains(string(body), token) {
				t.Errorf("%s: the refusal shows metrics or the token:\n%s", tt.name, body)
			}
			if !strings.HasPrefix(res.Header.Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("%s: WWW-Authenticate = %q; want a Bearer challenge", tt.name, res.Header.Get("WWW-Authenticate"))
			}
		} else if !strings.Contains(string(body), "rolegate_http_requests_total") {
			t.Errorf("%s: the scrape lacks rolegate_http_requests_total", tt.name)
		}
	}
}
