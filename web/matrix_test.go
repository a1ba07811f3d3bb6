package web_test

import (
	"context"
	"database/sql"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rolegate/rolegate/internal/metrics"
	"github.com/rolegate/rolegate/internal/rolegate"
	"github.com/rolegate/rolegate/internal/sso"
	"github.com/rolegate/rolegate/internal/sso/ssotest"
	"github.com/rolegate/rolegate/internal/testkit"
	"github.com/rolegate/rolegate/web"
)

// The authorization matrix: every route of the route table, asked by every
// kind of person, gets the answer its access level (and, for a request's
// page and actions, the owner and visibility rules) decides. The decisions
// below are the record of who may do what; a route added to routes.go
// without one here fails the test, and so does a route whose declared
// access differs from the matrixDecision.

// matrixPerson is one column of the matrix.
type matrixPerson struct {
	name  string // "anonymous", "requester", "approver", "auditor", "admin", "owner"
	roles []rolegate.PortalRole
	// person identifies them (zero for anonymous).
	person rolegate.Person
	// signIn returns a new signed-in browser for them (nil for anonymous).
	signIn func() *browser
}

func (p *matrixPerson) has(r rolegate.PortalRole) bool { return slices.Contains(p.roles, r) }

// canView is the rule for a request page: its owner, or anyone who reviews,
// audits or administers requests.
func (p *matrixPerson) canView(owner *matrixPerson) bool {
	return p.name == owner.name || p.has(rolegate.RoleApprover) || p.has(rolegate.RoleAuditor) || p.has(rolegate.RoleAdmin)
}

// matrix is one portal and its people.
type matrix struct {
	t      *testing.T
	h      *harness
	mode   string
	people []*matrixPerson
	owner  *matrixPerson
	// approver decides on requests in set-ups (never the owner).
	approver *matrixPerson
	// shown is a pending request of the owner that no cell changes.
	shown *rolegate.Request
	seq   int
	// tokens caches each browser's CSRF token.
	tokens map[*browser]string
}

// matrixCell is one request of the matrix: the path asked and the form posted.
type matrixCell struct {
	path string
	form url.Values
	// fresh asks from a newly signed-in browser (the cell ends its session).
	fresh bool
}

// matrixDecision is what the matrix expects of one route.
type matrixDecision struct {
	access web.Access
	// prepare makes what the cell needs (a request in the right state) and
	// returns it; nil asks the route's own path with an empty form.
	prepare func(m *matrix, who *matrixPerson) matrixCell
	// want is the answer for a person the access level lets through.
	want func(m *matrix, who *matrixPerson) int
}

func always(code int) func(*matrix, *matrixPerson) int {
	return func(*matrix, *matrixPerson) int { return code }
}

// decisions maps "METHOD path" to its matrixDecision.
func matrixDecisions() map[string]matrixDecision {
	return map[string]matrixDecision{
		"GET /healthz": {access: web.Public, want: always(http.StatusOK)},
		"GET /readyz":  {access: web.Public, want: always(http.StatusOK)},
		// Nobody the portal knows reads the metrics, signed in or not: only
		// the scraper's token does (web/metrics_test.go), or their own
		// listener; with neither they are off, except in dev mode.
		"GET /metrics": {access: web.Scraper, want: func(m *matrix, _ *matrixPerson) int {
			cfg := m.h.Config
			switch {
			case m.h.Server.Metrics == nil || cfg.MetricsAddr != "":
				return http.StatusNotFound
			case cfg.MetricsToken != "":
				return http.StatusUnauthorized
			case cfg.Dev:
				return http.StatusOK
			}
			return http.StatusNotFound
		}},
		"GET /static/*": {access: web.Public,
			prepare: func(m *matrix, _ *matrixPerson) matrixCell {
				return matrixCell{path: m.h.Server.Assets.URL("rolegate.css")}
			},
			want: always(http.StatusOK)},

		"GET /auth/login": {access: web.Public, want: always(http.StatusSeeOther)},
		"GET /auth/callback": {access: web.Public, want: func(m *matrix, _ *matrixPerson) int {
			if m.h.Server.SSO == nil {
				return http.StatusNotFound // dev mode has no identity provider
			}
			return http.StatusUnauthorized // no sign-in attempt in this browser
		}},
		"GET /auth/dev": {access: web.DevOnly, want: always(http.StatusOK)},
		// An empty choice signs nobody in.
		"POST /auth/dev":    {access: web.DevOnly, want: always(http.StatusUnprocessableEntity)},
		"GET /auth/logout":  {access: web.SignedIn, want: always(http.StatusOK)},
		"POST /auth/logout": {access: web.SignedIn, prepare: func(*matrix, *matrixPerson) matrixCell { return matrixCell{path: "/auth/logout", fresh: true} }, want: always(http.StatusOK)},

		"GET /": {access: web.SignedIn, want: always(http.StatusOK)},
		// The organization's roles are no secret inside the company: every
		// signed-in person may see them, nobody signed out.
		"GET /roles":        {access: web.SignedIn, want: always(http.StatusOK)},
		"GET /requests/new": {access: web.Requester, want: always(http.StatusOK)},
		"POST /requests/check": {access: web.Requester,
			prepare: func(*matrix, *matrixPerson) matrixCell {
				return matrixCell{path: "/requests/check", form: url.Values{"role_name": {"Matrix Check"}, "permissions": {"api.groups.read"}}}
			},
			want: always(http.StatusOK)},
		"POST /requests": {access: web.Requester,
			prepare: func(m *matrix, who *matrixPerson) matrixCell {
				return matrixCell{path: "/requests", form: url.Values{
					"role_name": {m.uniqueName("Filed by " + who.name)}, "permissions": {"api.groups.read"},
					"justification": {"Needed for the authorization matrix."},
				}}
			},
			want: always(http.StatusSeeOther)},
		"GET /requests": {access: web.Requester, want: always(http.StatusOK)},

		// Another person's request does not exist for a plain requester
		// (IDOR): 404, exactly as for an id that was never used.
		"GET /requests/:id": {access: web.SignedIn,
			prepare: func(m *matrix, _ *matrixPerson) matrixCell { return matrixCell{path: requestPathOf(m.shown.ID)} },
			want: func(m *matrix, who *matrixPerson) int {
				if who.canView(m.owner) {
					return http.StatusOK
				}
				return http.StatusNotFound
			}},
		"POST /requests/:id/cancel": {access: web.SignedIn,
			prepare: func(m *matrix, _ *matrixPerson) matrixCell {
				return matrixCell{path: requestPathOf(m.pending().ID) + "/cancel"}
			},
			want: func(m *matrix, who *matrixPerson) int {
				switch {
				case who == m.owner:
					return http.StatusSeeOther
				case who.canView(m.owner):
					return http.StatusForbidden // sees it, may not cancel it
				}
				return http.StatusNotFound
			}},
		// Nobody decides on their own request, whatever their groups.
		"POST /requests/:id/approve": {access: web.Approver,
			prepare: func(m *matrix, _ *matrixPerson) matrixCell {
				req := m.pending()
				return matrixCell{path: requestPathOf(req.ID) + "/approve", form: url.Values{"payload_hash": {req.Binding()}}}
			},
			want: decideAnswer},
		"POST /requests/:id/reject": {access: web.Approver,
			prepare: func(m *matrix, _ *matrixPerson) matrixCell {
				return matrixCell{path: requestPathOf(m.pending().ID) + "/reject", form: url.Values{"comment": {"Not needed."}}}
			},
			want: decideAnswer},
		"POST /requests/:id/retry": {access: web.Admin,
			prepare: func(m *matrix, _ *matrixPerson) matrixCell {
				return matrixCell{path: requestPathOf(m.failed().ID) + "/retry"}
			},
			want: always(http.StatusSeeOther)},
		"POST /requests/:id/abandon": {access: web.Admin,
			prepare: func(m *matrix, _ *matrixPerson) matrixCell {
				return matrixCell{path: requestPathOf(m.failed().ID) + "/abandon", form: url.Values{"comment": {"The role is no longer needed."}}}
			},
			want: always(http.StatusSeeOther)},

		// Revoking asks for provisioned access: on a request for a new role
		// an admin is sent back to it, which says why (a conflict).
		"POST /requests/:id/revoke": {access: web.Admin,
			prepare: func(m *matrix, _ *matrixPerson) matrixCell {
				return matrixCell{path: requestPathOf(m.failed().ID) + "/revoke", form: url.Values{"comment": {"No longer needed."}}}
			},
			want: always(http.StatusSeeOther)},
		"POST /requests/:id/retry-removal": {access: web.Admin,
			prepare: func(m *matrix, _ *matrixPerson) matrixCell {
				return matrixCell{path: requestPathOf(m.failed().ID) + "/retry-removal"}
			},
			want: always(http.StatusSeeOther)},
		"GET /access/new": {access: web.Requester, want: always(http.StatusOK)},
		"POST /access/check": {access: web.Requester,
			prepare: func(*matrix, *matrixPerson) matrixCell {
				return matrixCell{path: "/access/check", form: url.Values{"role": {"Matrix"}, "grant_to": {"nobody"}}}
			},
			want: always(http.StatusOK)},
		// An empty form is refused, back on the form with the messages.
		"POST /access": {access: web.Requester,
			prepare: func(*matrix, *matrixPerson) matrixCell { return matrixCell{path: "/access"} },
			want:    always(http.StatusSeeOther)},

		"GET /reviews":            {access: web.Approver, want: always(http.StatusOK)},
		"GET /audit":              {access: web.Auditor, want: always(http.StatusOK)},
		"GET /audit/rows":         {access: web.Auditor, want: always(http.StatusOK)},
		"GET /audit/export.csv":   {access: web.Auditor, want: always(http.StatusOK)},
		"GET /audit/export.jsonl": {access: web.Auditor, want: always(http.StatusOK)},
		// A checkpoint is signed first, so that there is one to download
		// and an event it covers to prove.
		"GET /audit/checkpoints/:size": {access: web.Auditor,
			prepare: func(m *matrix, _ *matrixPerson) matrixCell {
				signTestCheckpoint(m.t, m.h)
				cp, _, _, err := m.h.App.Store.Audit.LatestCheckpoint(context.Background())
				if err != nil {
					m.t.Fatal(err)
				}
				return matrixCell{path: fmt.Sprintf("/audit/checkpoints/%d", cp.Size)}
			},
			want: always(http.StatusOK)},
		"GET /audit/events/:seq/proof": {access: web.Auditor,
			prepare: func(m *matrix, _ *matrixPerson) matrixCell {
				signTestCheckpoint(m.t, m.h)
				return matrixCell{path: "/audit/events/1/proof"}
			},
			want: always(http.StatusOK)},
		"GET /admin":                  {access: web.Admin, want: always(http.StatusOK)},
		"POST /admin/catalog/refresh": {access: web.Admin, want: always(http.StatusSeeOther)},
		// Dev mode only (the built-in simulator): an empty form is refused,
		// back on the Admin page (web/draft.go).
		"POST /admin/dev/upstream": {access: web.Admin, want: always(http.StatusSeeOther)},
	}
}

func decideAnswer(m *matrix, who *matrixPerson) int {
	if who == m.owner {
		return http.StatusForbidden
	}
	return http.StatusSeeOther
}

func requestPathOf(id int64) string { return fmt.Sprintf("/requests/%d", id) }

func TestAuthorizationMatrix(t *testing.T) {
	t.Parallel()
	table := matrixDecisions()
	var mu sync.Mutex
	seen := map[string]bool{}
	t.Run("modes", func(t *testing.T) {
		for name, newMatrix := range map[string]func(*testing.T) *matrix{"sso": newSSOMatrix, "dev": newDevMatrix} {
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				used := newMatrix(t).run(table)
				mu.Lock()
				defer mu.Unlock()
				for k := range used {
					seen[k] = true
				}
			})
		}
	})
	for key := range table {
		if !seen[key] {
			t.Errorf("the matrix decides %q, but no route has that method and path; remove the matrixDecision", key)
		}
	}
}

// matrixMetricsToken is the scraper's token in the SSO matrix: nobody in
// the matrix carries it.
const matrixMetricsToken = "matrix-metrics-token-0123456789abcdef0123456789"

// newSSOMatrix is the production set-up: people sign in through a real
// OpenID Connect provider; the request's owner is a plain requester.
func newSSOMatrix(t *testing.T) *matrix {
	provider := ssotest.New(t, ssotest.Options{})
	users := []ssotest.User{
		{Subject: "olive", Name: "Olive Owner", Email: "olive@example.test"},
		{Subject: "riley", Name: "Riley Requester", Email: "riley@example.test"},
		{Subject: "avery", Name: "Avery Approver", Email: "avery@example.test", Groups: []string{"approvers"}},
		{Subject: "casey", Name: "Casey Auditor", Email: "casey@example.test", Groups: []string{"auditors"}},
		{Subject: "drew", Name: "Drew Admin", Email: "drew@example.test", Groups: []string{"admins"}},
	}
	for _, u := range users {
		provider.AddUser(u)
	}
	h := newHarness(t, harnessOptions{Metrics: metrics.New(metrics.Options{}), Env: map[string]string{"ROLEGATE_METRICS_TOKEN": matrixMetricsToken}, SSO: func(redirectURL string) *sso.Client {
		c, err := sso.New(context.Background(), sso.Config{Issuer: provider.Issuer(), ClientID: provider.ClientID(),
			ClientSecret: provider.ClientSecret(), RedirectURL: redirectURL})
		if err != nil {
			t.Fatalf("sso client: %v", err)
		}
		return c
	}})
	person := func(name, subject string, roles ...rolegate.PortalRole) *matrixPerson {
		for _, u := range users {
			if u.Subject == subject {
				return &matrixPerson{name: name, roles: append([]rolegate.PortalRole{rolegate.RoleRequester}, roles...),
					person: rolegate.Person{Issuer: provider.Issuer(), Subject: subject, Email: u.Email, Name: u.Name},
					signIn: func() *browser { return ssoSignIn(t, h, subject) }}
			}
		}
		t.Fatalf("no user %q", subject)
		return nil
	}
	m := &matrix{t: t, h: h, mode: "sso", people: []*matrixPerson{
		{name: "anonymous"},
		person("requester", "riley"),
		person("approver", "avery", rolegate.RoleApprover),
		person("auditor", "casey", rolegate.RoleAuditor),
		person("admin", "drew", rolegate.RoleAdmin),
		person("owner", "olive"),
	}}
	m.owner, m.approver = m.people[5], m.people[2]
	return m
}

// newDevMatrix is dev mode, where the dev sign-in routes exist; the
// request's owner is the second approver, so that the matrix also shows an
// approver refused on their own request.
func newDevMatrix(t *testing.T) *matrix {
	h := newHarness(t, harnessOptions{Metrics: metrics.New(metrics.Options{})})
	person := func(name, persona, display string, roles ...rolegate.PortalRole) *matrixPerson {
		return &matrixPerson{name: name, roles: append([]rolegate.PortalRole{rolegate.RoleRequester}, roles...),
			person: rolegate.Person{Issuer: web.DevIssuer, Subject: persona, Name: display},
			signIn: func() *browser { return h.signInAs(persona) }}
	}
	m := &matrix{t: t, h: h, mode: "dev", people: []*matrixPerson{
		{name: "anonymous"},
		person("requester", "requester", "Riley Requester"),
		person("approver", "approver1", "Avery Approver", rolegate.RoleApprover),
		person("auditor", "auditor", "Casey Auditor", rolegate.RoleAuditor),
		person("admin", "admin", "Drew Admin", rolegate.RoleAdmin),
		person("owner", "approver2", "Blake Approver", rolegate.RoleApprover),
	}}
	m.owner, m.approver = m.people[5], m.people[2]
	return m
}

// ssoSignIn signs subject in through the provider, as a browser would:
// /auth/login, the provider (which signs in the login_hint's user at once),
// then /auth/callback.
func ssoSignIn(t *testing.T, h *harness, subject string) *browser {
	t.Helper()
	b := h.newBrowser()
	start := b.get("/auth/login")
	if start.StatusCode != http.StatusSeeOther {
		t.Fatalf("GET /auth/login = %d; want 303", start.StatusCode)
	}
	authURL, err := url.Parse(start.Header.Get("Location"))
	if err != nil {
		t.Fatalf("authorization URL: %v", err)
	}
	q := authURL.Query()
	q.Set("login_hint", subject)
	authURL.RawQuery = q.Encode()
	res, err := b.Get(authURL.String())
	if err != nil {
		t.Fatalf("provider: %v", err)
	}
	res.Body.Close()
	callback := res.Header.Get("Location")
	if !strings.HasPrefix(callback, h.URL+"/auth/callback?") {
		t.Fatalf("provider redirected to %q; want the callback", callback)
	}
	res, err = b.Get(callback)
	if err != nil {
		t.Fatalf("callback: %v", err)
	}
	p := readPage(t, res)
	if p.StatusCode != http.StatusSeeOther {
		t.Fatalf("GET /auth/callback = %d; want 303\n%s", p.StatusCode, p.Body)
	}
	return b
}

func (m *matrix) uniqueName(prefix string) string {
	m.seq++
	return fmt.Sprintf("Matrix %s %s %d", m.mode, prefix, m.seq)
}

func (m *matrix) actor(p *matrixPerson) rolegate.Actor {
	return rolegate.Actor{Principal: rolegate.Principal{Person: p.person, Roles: p.roles}, ClientIP: "127.0.0.1"}
}

// pending files a new pending request as the owner.
func (m *matrix) pending() *rolegate.Request {
	m.t.Helper()
	req, err := m.h.Requests.Create(context.Background(), m.actor(m.owner), rolegate.RequestInput{
		RoleName: m.uniqueName("Role"), Permissions: []string{"api.groups.read"},
		Justification: "Needed for the authorization matrix.",
	}, m.h.Catalog.Catalog())
	if err != nil {
		m.t.Fatalf("file a request: %v", err)
	}
	return req
}

// failed files a request, approves it and fails its provisioning through
// the real queue.
func (m *matrix) failed() *rolegate.Request {
	m.t.Helper()
	ctx := context.Background()
	req := m.pending()
	if _, err := m.h.Requests.ApproveWith(ctx, m.actor(m.approver), req.ID, req.Binding(), "", rolegate.Reauth{}); err != nil {
		m.t.Fatalf("approve #%d: %v", req.ID, err)
	}
	m.drainHandOffs()
	// Jobs of requests approved by earlier cells come first; they fail too.
	for {
		job, err := m.h.App.Services.Provisioning.ClaimJob(ctx, "matrix", time.Minute)
		if err != nil || job == nil {
			m.t.Fatalf("claim the job of #%d: %v", req.ID, err)
		}
		if err := m.h.App.Services.Provisioning.FailJob(ctx, job, rolegate.ActionProvisioningFailed, "OpenAI answered 400 to create: refused in the matrix", nil); err != nil {
			m.t.Fatalf("fail #%d: %v", job.RequestID, err)
		}
		if job.RequestID == req.ID {
			return req
		}
	}
}

func (m *matrix) drainHandOffs() {
	for {
		select {
		case <-m.h.HandedOff:
		default:
			return
		}
	}
}

// run asks every route as every person and returns the decisions used.
func (m *matrix) run(table map[string]matrixDecision) (seen map[string]bool) {
	t := m.t
	seen = map[string]bool{}
	m.tokens = map[*browser]string{}
	m.shown = m.pending()
	browsers := map[string]*browser{}
	for _, p := range m.people {
		if p.signIn != nil {
			browsers[p.name] = p.signIn()
		} else {
			browsers[p.name] = m.h.newBrowser()
		}
	}
	state := openStateReader(t, m.h)

	for _, r := range m.h.Server.Routes() {
		key := r.Method + " " + r.Path
		d, ok := table[key]
		if !ok {
			t.Errorf("route %s has no matrixDecision in the authorization matrix: decide who may use it and add it to matrixDecisions() in matrix_test.go", key)
			continue
		}
		seen[key] = true
		if d.access != r.Access {
			t.Errorf("route %s declares access %s; the matrix decided %s", key, accessName(r.Access), accessName(d.access))
			continue
		}
		for _, who := range m.people {
			c := matrixCell{path: r.Path}
			if d.prepare != nil {
				c = d.prepare(m, who)
			}
			b := browsers[who.name]
			if c.fresh && who.signIn != nil {
				b = who.signIn()
			}
			before := state.fingerprint()
			got := m.ask(b, r.Method, c, who.signIn != nil)
			m.drainHandOffs()
			want, wantSignIn := m.expect(r, d, who)
			name := fmt.Sprintf("%s %s as %s (%s mode)", r.Method, c.path, who.name, m.mode)
			switch {
			case got.StatusCode != want:
				t.Errorf("%s = %d; want %d\n%s", name, got.StatusCode, want, shorten(got.Body))
			case wantSignIn && !strings.HasPrefix(got.Header.Get("Location"), "/auth/login"):
				t.Errorf("%s redirects to %q; want the sign-in", name, got.Header.Get("Location"))
			}
			if r.Method == http.MethodGet {
				if after := state.fingerprint(); after != before {
					t.Errorf("%s changed state:\n before %s\n after  %s", name, before, after)
				}
			}
		}
	}

	// Outside dev mode the dev sign-in does not exist.
	if !m.h.Config.Dev {
		anon := m.h.newBrowser()
		if p := anon.get("/auth/dev"); p.StatusCode != http.StatusNotFound {
			t.Errorf("GET /auth/dev outside dev mode = %d; want 404", p.StatusCode)
		}
		if p := anon.post("/auth/dev", url.Values{"persona": {"admin"}}); p.StatusCode != http.StatusNotFound {
			t.Errorf("POST /auth/dev outside dev mode = %d; want 404", p.StatusCode)
		}
	}

	// A hidden request and one that was never filed look the same.
	riley := browsers["requester"]
	hidden := riley.get(requestPathOf(m.shown.ID))
	never := riley.get(requestPathOf(m.shown.ID + 100000))
	if a, b := stripID(hidden.Body, m.shown.ID), stripID(never.Body, m.shown.ID+100000); a != b {
		t.Errorf("another person's request page differs from a missing one:\n%s\n----\n%s", shorten(a), shorten(b))
	}
	return seen
}

// expect derives the answer from the route's access level, then the
// route's own matrixDecision for those let through.
func (m *matrix) expect(r web.Route, d matrixDecision, who *matrixPerson) (status int, toSignIn bool) {
	switch r.Access {
	case web.Public, web.DevOnly, web.Scraper:
		return d.want(m, who), false
	case web.SignedIn, web.Requester, web.Approver, web.Auditor, web.Admin:
	default:
		m.t.Fatalf("route %s %s has access %d, which the matrix does not know", r.Method, r.Path, r.Access)
	}
	if who.signIn == nil {
		return http.StatusSeeOther, true
	}
	if role := r.Access.Role(); role != "" && !who.has(role) {
		return http.StatusForbidden, false
	}
	return d.want(m, who), false
}

// ask sends the cell's request; signed-in posts carry the session's CSRF
// token (the CSRF checks have their own tests).
func (m *matrix) ask(b *browser, method string, c matrixCell, signedIn bool) page {
	m.t.Helper()
	switch method {
	case http.MethodGet:
		return b.get(c.path)
	case http.MethodPost:
		form := c.form
		if form == nil {
			form = url.Values{}
		}
		if signedIn {
			if m.tokens[b] == "" {
				m.tokens[b] = b.csrfToken()
			}
			form.Set("csrf_token", m.tokens[b])
			return b.post(c.path, form)
		}
		return b.post(c.path, form)
	}
	m.t.Fatalf("the matrix cannot send %s", method)
	return page{}
}

func accessName(a web.Access) string {
	switch a {
	case web.Public:
		return "Public"
	case web.SignedIn:
		return "SignedIn"
	case web.Requester:
		return "Requester"
	case web.Approver:
		return "Approver"
	case web.Auditor:
		return "Auditor"
	case web.Admin:
		return "Admin"
	case web.DevOnly:
		return "DevOnly"
	case web.Scraper:
		return "Scraper"
	}
	return fmt.Sprintf("Access(%d)", int(a))
}

// stripID blanks a request id where a page names it.
func stripID(body string, id int64) string {
	body = strings.ReplaceAll(body, fmt.Sprintf("#%d", id), "#N")
	return strings.ReplaceAll(body, requestPathOf(id), "/requests/N")
}

func shorten(s string) string {
	if len(s) > 600 {
		return s[:600] + "…"
	}
	return s
}

// stateReader reads what a GET must never change: the requests, their
// approvals and the audit trail (except the records of refusals, which a
// GET may add, and of audit exports, which are recorded by design).
type stateReader struct {
	t  *testing.T
	db *sql.DB
}

func openStateReader(t *testing.T, h *harness) *stateReader {
	t.Helper()
	db := testkit.OpenReadOnly(t, h.App.Store.Path())
	return &stateReader{t: t, db: db}
}

func (s *stateReader) fingerprint() string {
	s.t.Helper()
	var requests, approvals string
	var events int
	err := s.db.QueryRow(`SELECT
		(SELECT coalesce(group_concat(id || ':' || status || ':' || updated_at, ','), '') FROM requests),
		(SELECT count(*) FROM approvals),
		(SELECT count(*) FROM audit_events WHERE action NOT IN ('access.denied', 'auth.signin.failed', 'audit.exported'))`).Scan(&requests, &approvals, &events)
	if err != nil {
		s.t.Fatalf("read state: %v", err)
	}
	return fmt.Sprintf("requests=[%s] approvals=%s events=%d", requests, approvals, events)
}
