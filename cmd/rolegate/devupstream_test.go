package main

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/rolegate/rolegate/internal/simulator"
)

// Dev mode asked to call a real Admin API says so, naming its host (never
// the key), in the start line, the log and on every page; and the dev
// people's reads do go there.
func TestDevModeWithARealUpstreamNamesIt(t *testing.T) {
	const key = "sk-admin-dev-real-upstream-0123456789"
	sim := simulator.New(simulator.Options{AdminKey: key})
	var lists atomic.Int32
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet && r.URL.Path == "/v1/organization/roles" {
			lists.Add(1)
		}
		sim.ServeHTTP(w, r)
	}))
	t.Cleanup(upstream.Close)
	host := strings.TrimPrefix(upstream.URL, "http://")

	p := startPortalWith(t, map[string]string{
		"OPENAI_ADMIN_KEY": key, "OPENAI_BASE_URL": upstream.URL + "/v1", "ROLEGATE_DEV_REAL_UPSTREAM": "1",
	})
	if out := p.Stdout.String(); !strings.Contains(out, "REAL Admin API at "+host) || strings.Contains(out, "simulator") {
		t.Errorf("start line = %q; want it to name the real Admin API at %s and no simulator", out, host)
	}
	if log := p.Log.String(); !strings.Contains(log, "upstream="+host) || strings.Contains(log, "using the built-in Admin API simulator") {
		t.Errorf("the start log does not name upstream=%s, or claims the simulator:\n%s", host, log)
	}
	pages := map[string]string{}
	_, pages["/auth/dev"] = p.visitor().get("/auth/dev")
	admin := p.signIn("admin")
	_, pages["/admin"] = admin.get("/admin")
	_, pages["/requests/new"] = p.signIn("requester").get("/requests/new")
	for path, page := range pages {
		if !strings.Contains(page, "REAL Admin API at "+host) || strings.Contains(page, "simulator") {
			t.Errorf("GET %s: the dev banner does not name the real Admin API at %s, or speaks of a simulator", path, host)
		}
	}
	for _, text := range []string{p.Stdout.String(), p.Log.String(), pages["/admin"]} {
		if strings.Contains(text, key) {
			t.Errorf("the admin key shows in the start line, log or a page")
		}
	}
	// A resync reads the roles of that upstream, with that key.
	before := lists.Load()
	if code, body, _ := admin.postWithToken("/admin/catalog/refresh", url.Values{}); code >= 400 {
		t.Fatalf("catalog resync = %d\n%s", code, body)
	}
	if lists.Load() <= before {
		t.Errorf("the resync did not reach the configured upstream")
	}
}
