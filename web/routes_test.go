package web_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/rolegate/rolegate/web"
)

// routeFacts is what the route table says of a route beside its access
// level (which the authorization matrix checks).
type routeFacts struct {
	session web.SessionUse
	limit   web.Limit
}

// wantRouteFacts is the record of which routes skip the session lookup and
// which rate limit each takes. A route added to routes.go without a line
// here fails TestRouteTableFacts.
var wantRouteFacts = map[string]routeFacts{
	// Assets and the probes answer for themselves when the database does not.
	"GET /healthz":  {web.NoSession, web.NoLimit},
	"GET /readyz":   {web.NoSession, web.NoLimit},
	"GET /metrics":  {web.NoSession, web.NoLimit},
	"GET /static/*": {web.NoSession, web.NoLimit},

	// Each sign-in writes a row and calls the identity provider.
	"GET /auth/login":    {web.UsesSession, web.SignInLimit},
	"GET /auth/callback": {web.UsesSession, web.SignInLimit},
	"GET /auth/dev":      {web.UsesSession, web.SignInLimit},
	"POST /auth/dev":     {web.UsesSession, web.SignInLimit},

	"GET /auth/logout":  {web.UsesSession, web.NoLimit},
	"POST /auth/logout": {web.UsesSession, web.FormsLimit},

	"GET /":                            {web.UsesSession, web.NoLimit},
	"GET /requests/new":                {web.UsesSession, web.NoLimit},
	"POST /requests/check":             {web.UsesSession, web.FormsLimit},
	"POST /requests":                   {web.UsesSession, web.FormsLimit},
	"GET /requests":                    {web.UsesSession, web.NoLimit},
	"GET /requests/:id":                {web.UsesSession, web.NoLimit},
	"POST /requests/:id/cancel":        {web.UsesSession, web.FormsLimit},
	"POST /requests/:id/approve":       {web.UsesSession, web.FormsLimit},
	"POST /requests/:id/reject":        {web.UsesSession, web.FormsLimit},
	"POST /requests/:id/retry":         {web.UsesSession, web.FormsLimit},
	"POST /requests/:id/abandon":       {web.UsesSession, web.FormsLimit},
	"POST /requests/:id/revoke":        {web.UsesSession, web.FormsLimit},
	"POST /requests/:id/retry-removal": {web.UsesSession, web.FormsLimit},
	"GET /access/new":                  {web.UsesSession, web.NoLimit},
	"POST /access/check":               {web.UsesSession, web.FormsLimit},
	"POST /access":                     {web.UsesSession, web.FormsLimit},
	"GET /roles":                       {web.UsesSession, web.NoLimit},
	"GET /reviews":                     {web.UsesSession, web.NoLimit},
	"GET /admin":                       {web.UsesSession, web.NoLimit},
	"POST /admin/catalog/refresh":      {web.UsesSession, web.FormsLimit},
	"POST /admin/dev/upstream":         {web.UsesSession, web.FormsLimit},
	"GET /audit":                       {web.UsesSession, web.NoLimit},
	"GET /audit/rows":                  {web.UsesSession, web.NoLimit},
	"GET /audit/checkpoints/:size":     {web.UsesSession, web.NoLimit},

	// Each export reads the trail and records itself; an event's proof is
	// a one-line export.
	"GET /audit/export.csv":        {web.UsesSession, web.ExportsLimit},
	"GET /audit/export.jsonl":      {web.UsesSession, web.ExportsLimit},
	"GET /audit/events/:seq/proof": {web.UsesSession, web.ExportsLimit},
}

func TestRouteTableFacts(t *testing.T) {
	h := newHarness(t, harnessOptions{}) // dev mode: every route of the table is registered
	seen := map[string]bool{}
	for _, r := range h.Server.Routes() {
		key := r.Method + " " + r.Path
		seen[key] = true
		want, ok := wantRouteFacts[key]
		if !ok {
			t.Errorf("route %s has no line in wantRouteFacts: decide whether it looks up the session and which rate limit it takes", key)
			continue
		}
		if got := (routeFacts{r.Session, r.Limit}); got != want {
			t.Errorf("route %s = %+v; want %+v", key, got, want)
		}
		// The rules behind the decisions, so that a new route cannot
		// break them by copying a wrong line.
		if r.Method != http.MethodGet && r.Method != http.MethodHead && r.Limit == web.NoLimit {
			t.Errorf("route %s changes something but takes no rate limit", key)
		}
		if r.Session == web.NoSession && r.Access != web.Public && r.Access != web.Scraper {
			t.Errorf("route %s needs a person (access %d) but skips the session lookup", key, r.Access)
		}
		if r.Limit == web.SignInLimit && r.Access != web.Public && r.Access != web.DevOnly {
			t.Errorf("route %s takes the sign-in limit but is not a sign-in route (access %d)", key, r.Access)
		}
	}
	for key := range wantRouteFacts {
		if !seen[key] {
			t.Errorf("wantRouteFacts has %s, which the route table does not", key)
		}
	}
}

// The session lookup follows the table: with the database gone, a route
// marked NoSession still answers for itself even when the browser holds a
// session cookie, and every other route fails at the lookup.
func TestSessionLookupFollowsTheRouteTable(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	b := h.signInAs("requester")
	if err := h.App.Store.Close(); err != nil {
		t.Fatal(err)
	}
	for _, r := range h.Server.Routes() {
		path := strings.NewReplacer(":id", "1", ":size", "1", ":seq", "1").Replace(r.Path)
		if r.Path == "/static/*" {
			path = h.Server.Assets.URL("rolegate.css")
		}
		var p page
		switch r.Method {
		case http.MethodGet:
			p = b.get(path)
		case http.MethodPost:
			p = b.post(path, url.Values{})
		default:
			t.Fatalf("the test cannot send %s", r.Method)
		}
		name := r.Method + " " + path
		if r.Session == web.NoSession {
			want := map[string]int{"/readyz": http.StatusServiceUnavailable, "/metrics": http.StatusNotFound}[r.Path]
			if want == 0 {
				want = http.StatusOK
			}
			if p.StatusCode != want {
				t.Errorf("%s with the database closed = %d; want %d (the route skips the session lookup)", name, p.StatusCode, want)
			}
			continue
		}
		if p.StatusCode != http.StatusInternalServerError {
			t.Errorf("%s with the database closed = %d; want 500 (the session lookup fails)", name, p.StatusCode)
		}
	}
}
