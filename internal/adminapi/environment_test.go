package adminapi_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/rolegate/rolegate/internal/adminapi"
	"github.com/rolegate/rolegate/internal/simulator"
)

// The official SDK's openai.NewClient reads OPENAI_* variables and sends
// what they say on every call. Set them all, to values that would show, and
// check that the admin calls carry none of it: the organization and project
// headers, custom headers, another key, another base URL.
func TestAdminCallsIgnoreTheSDKsEnvironmentVariables(t *testing.T) {
	elsewhere := atomic.Int32{}
	decoy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		elsewhere.Add(1)
		http.Error(w, "wrong upstream", http.StatusTeapot)
	}))
	t.Cleanup(decoy.Close)

	t.Setenv("OPENAI_ORG_ID", "org-from-environment")
	t.Setenv("OPENAI_PROJECT_ID", "proj_from_environment")
	t.Setenv("OPENAI_CUSTOM_HEADERS", "X-From-Environment: leaked\nOpenAI-Beta: environment=1")
	t.Setenv("OPENAI_API_KEY", "sk-proj-environment-api-key")
	t.Setenv("OPENAI_ADMIN_KEY", "sk-admin-environment-admin-key")
	t.Setenv("OPENAI_BASE_URL", decoy.URL+"/v1")
	t.Setenv("OPENAI_WEBHOOK_SECRET", "whsec_environment")

	sim := simulator.New(simulator.Options{AdminKey: testKey})
	var (
		mu   sync.Mutex
		seen []http.Header
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.Header.Clone())
		mu.Unlock()
		sim.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)

	for name, c := range map[string]*adminapi.Client{
		"given an HTTP client": adminapi.New(srv.URL+"/v1", adminapi.StaticKey(testKey), srv.Client()),
		"with its own client":  adminapi.New(srv.URL+"/v1", adminapi.StaticKey(testKey), nil),
	} {
		created, err := c.CreateRole(t.Context(), roleJSON("env-"+strings.ReplaceAll(name, " ", "-"), "api.usage.read"))
		if err != nil {
			t.Fatalf("%s: CreateRole: %v", name, err)
		}
		if _, err := c.GetRole(t.Context(), created.ID); err != nil {
			t.Fatalf("%s: GetRole: %v", name, err)
		}
		if _, err := c.ListRoles(t.Context()); err != nil {
			t.Fatalf("%s: ListRoles: %v", name, err)
		}
	}

	if n := elsewhere.Load(); n != 0 {
		t.Errorf("%d calls went to OPENAI_BASE_URL; want none", n)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != 6 {
		t.Fatalf("the simulator saw %d calls; want 6 (create, get and list, twice)", len(seen))
	}
	for i, h := range seen {
		for _, name := range []string{"OpenAI-Organization", "OpenAI-Project", "X-From-Environment", "OpenAI-Beta"} {
			if v := h.Values(name); len(v) > 0 {
				t.Errorf("call %d sent %s: %q; want no such header", i, name, v)
			}
		}
		if got, want := h.Get("Authorization"), "Bearer "+testKey; got != want {
			t.Errorf("call %d: Authorization = %q; want the key rolegate gave (%q)", i, got, want)
		}
		for name, values := range h {
			for _, v := range values {
				if strings.Contains(v, "environment") {
					t.Errorf("call %d: header %s = %q comes from the environment", i, name, v)
				}
			}
		}
	}
}
