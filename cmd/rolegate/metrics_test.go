package main

import (
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"

	"github.com/rolegate/rolegate/internal/testkit"
)

var payloadHashField = regexp.MustCompile(`name="payload_hash" value="([0-9a-f]{64})"`)

// The running program, scraped over HTTP after a request has been filed,
// approved and provisioned against the built-in simulator: every family
// counts what happened, routes are patterns, and the admin key is nowhere.
// A backup taken meanwhile copies the live database. Start and stop each
// leave their log line.
func TestServeMetricsAndBackupOfTheLiveDatabase(t *testing.T) {
	p := startPortal(t)

	id, requester := fileAndApprove(t, p, "Metrics Reader")
	testkit.WaitFor(t, fmt.Sprintf("request %d to be provisioned", id), func() bool {
		_, page := requester.get(fmt.Sprintf("/requests/%d", id))
		return strings.Contains(page, "Provisioned")
	}, p.Log.String)
	p.visitor().get("/no/such/page")

	// The worker counts its outcome after the commit that the page shows:
	// scrape until the count is there, then check every series.
	var text string
	var fams map[string]*dto.MetricFamily
	testkit.WaitFor(t, "the provisioning outcome in /metrics", func() bool {
		var code int
		code, text = p.visitor().get("/metrics")
		if code != http.StatusOK {
			t.Fatalf("GET /metrics = %d; want 200", code)
		}
		fams = testkit.ParseMetrics(t, text)
		v, _ := testkit.MetricValue(fams, "rolegate_audit_events_total", map[string]string{"action": "provisioning.succeeded"})
		n, _ := testkit.MetricValue(fams, "rolegate_provisioning_attempts_total", map[string]string{"outcome": "succeeded"})
		return v == 1 && n == 1
	}, func() string { return text })
	tests := []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"rolegate_http_requests_total", map[string]string{"route": "/requests", "method": "POST", "status": "303"}, 1},
		{"rolegate_http_requests_total", map[string]string{"route": "/requests/:id/approve", "method": "POST", "status": "303"}, 1},
		{"rolegate_http_requests_total", map[string]string{"route": "unmatched", "method": "GET", "status": "404"}, 1},
		{"rolegate_sign_ins_total", map[string]string{"outcome": "success"}, 2},
		{"rolegate_provisioning_attempts_total", map[string]string{"outcome": "succeeded"}, 1},
		{"rolegate_audit_events_total", map[string]string{"action": "request.created"}, 1},
		{"rolegate_audit_events_total", map[string]string{"action": "request.approved"}, 1},
		{"rolegate_audit_events_total", map[string]string{"action": "provisioning.succeeded"}, 1},
		{"rolegate_requests", map[string]string{"status": "provisioned"}, 1},
		{"rolegate_requests", map[string]string{"status": "pending"}, 0},
		{"rolegate_provisioning_queue_depth", nil, 0},
		{"rolegate_database_scrape_success", nil, 1},
	}
	for _, tt := range tests {
		if got, ok := testkit.MetricValue(fams, tt.name, tt.labels); !ok || got != tt.want {
			t.Errorf("%s%v = %v (present %v); want %v", tt.name, tt.labels, got, ok, tt.want)
		}
	}
	if got, ok := testkit.MetricValue(fams, "rolegate_http_request_duration_seconds", map[string]string{"route": "/requests/:id", "method": "GET"}); !ok || got < 2 {
		t.Errorf("latency histogram for GET /requests/:id has %v observations; want the page views", got)
	}
	if raw := regexp.MustCompile(`route="(/requests/\d|/no/such)`).FindAllString(text, -1); raw != nil {
		t.Errorf("/metrics has series per raw path %q; want route patterns only", raw)
	}
	for _, name := range []string{"process_resident_memory_bytes", "go_goroutines"} {
		if fams[name] == nil {
			t.Errorf("/metrics lacks %s", name)
		}
	}
	if strings.Contains(text, "sk-admin") || strings.Contains(p.Log.String(), "sk-admin-dev-") {
		t.Errorf("the admin key shows in /metrics or the log")
	}

	// A backup beside the running portal (which holds the database's lock).
	target := filepath.Join(t.TempDir(), "live.db")
	out, err := runBackup(t, env(nil), target, "-db", p.DBPath)
	if err != nil {
		t.Fatalf("backup of the live database: %v\n%s", err, out)
	}
	if !strings.Contains(out, "1 requests") {
		t.Errorf("backup output = %q; want it to count the 1 request", out)
	}
	if n := readChain(t, target); n < 5 {
		t.Errorf("live backup holds %d audit events; want the sign-ins, request and provisioning events", n)
	}

	if err := p.stop(); err != nil {
		t.Fatalf("stop: %v", err)
	}
	log := p.Log.String()
	for _, line := range []string{`msg="rolegate started"`, `msg="rolegate stopped"`} {
		if strings.Count(log, line) != 1 {
			t.Errorf("the log has %d lines with %s; want exactly one", strings.Count(log, line), line)
		}
	}
}

var metricsListener = regexp.MustCompile(`metrics=(http://\S+/metrics)`)

// /metrics is for the scraper only: with ROLEGATE_METRICS_TOKEN the portal
// serves it to the bearer of that token, not to a visitor nor to a
// signed-in admin; with ROLEGATE_METRICS_ADDR it is served on that listener
// alone (and the token is asked there too when set).
func TestMetricsAreForTheScraperOnly(t *testing.T) {
	const token = "metrics-token-0123456789abcdef0123456789abcdef"
	scrape := func(t *testing.T, url, bearer string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, url, nil)
		if bearer != "" {
			req.Header.Set("Authorization", "Bearer "+bearer)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("GET %s: %v", url, err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}

	t.Run("token on the portal listener", func(t *testing.T) {
		p := startPortalWith(t, map[string]string{"ROLEGATE_METRICS_TOKEN": token})
		if code, body := p.visitor().get("/metrics"); code != http.StatusUnauthorized || strings.Contains(body, "rolegate_") {
			t.Errorf("GET /metrics as a visitor = %d; want 401 and no metrics", code)
		}
		if code, body := p.signIn("admin").get("/metrics"); code != http.StatusUnauthorized || strings.Contains(body, "rolegate_") {
			t.Errorf("GET /metrics as a signed-in admin = %d; want 401 and no metrics", code)
		}
		if code, _ := scrape(t, p.URL+"/metrics", "wrong-"+token); code != http.StatusUnauthorized {
			t.Errorf("GET /metrics with a wrong token = %d; want 401", code)
		}
		if code, body := scrape(t, p.URL+"/metrics", token); code != http.StatusOK || !strings.Contains(body, "rolegate_requests{") {
			t.Errorf("GET /metrics with the token = %d; want 200 with rolegate_requests", code)
		}
		if strings.Contains(p.Log.String(), token) {
			t.Error("the log shows the metrics token")
		}
	})

	t.Run("a listener of their own", func(t *testing.T) {
		p := startPortalWith(t, map[string]string{"ROLEGATE_METRICS_ADDR": "127.0.0.1:0", "ROLEGATE_METRICS_TOKEN": token})
		m := metricsListener.FindStringSubmatch(p.Log.String())
		if m == nil {
			t.Fatalf("the start line does not say where the metrics are:\n%s", p.Log)
		}
		if code, _ := scrape(t, p.URL+"/metrics", token); code != http.StatusNotFound {
			t.Errorf("GET /metrics on the portal, even with the token = %d; want 404 (they are on their own listener)", code)
		}
		if code, _ := scrape(t, m[1], ""); code != http.StatusUnauthorized {
			t.Errorf("GET %s without the token = %d; want 401", m[1], code)
		}
		if code, body := scrape(t, m[1], token); code != http.StatusOK || !strings.Contains(body, "rolegate_requests{") {
			t.Errorf("GET %s with the token = %d; want 200 with rolegate_requests", m[1], code)
		}
		if code, _ := scrape(t, strings.TrimSuffix(m[1], "/metrics")+"/healthz", token); code != http.StatusNotFound {
			t.Errorf("the metrics listener serves /healthz (%d); want /metrics alone", code)
		}
	})
}
