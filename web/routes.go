package web

import (
	"net/http"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"github.com/rolegate/rolegate/internal/rolegate"
)

// Access is who may reach a route. Every route states one; the
// authorization matrix test walks this table.
type Access int

const (
	Public    Access = iota // anyone, signed in or not
	SignedIn                // any signed-in person (the handler may narrow it, e.g. a request's owner)
	Requester               // portal role requester
	Approver                // portal role approver
	Auditor                 // portal role auditor
	Admin                   // portal role admin
	DevOnly                 // public, and only registered in dev mode
	Scraper                 // the metrics scraper: its bearer token or its own listener, never a session (see metrics)
)

// Role is the portal role an access level needs, "" when none.
func (a Access) Role() rolegate.PortalRole {
	switch a {
	case Requester:
		return rolegate.RoleRequester
	case Approver:
		return rolegate.RoleApprover
	case Auditor:
		return rolegate.RoleAuditor
	case Admin:
		return rolegate.RoleAdmin
	}
	return ""
}

// SessionUse says whether a route looks up the signed-in session.
type SessionUse int

const (
	// UsesSession: the session cookie is looked up, so that the page (and
	// its error page) knows who is signed in.
	UsesSession SessionUse = iota
	// NoSession: the cookie is never looked up. Assets and the probes must
	// answer for themselves when the database does not.
	NoSession
)

// Limit is the rate limit a route takes on the way in (ratelimit.go). A
// refused GET takes a Forms token when it is refused, whatever its Limit
// (recordDenied): each refusal may write an access.denied event.
type Limit int

const (
	NoLimit      Limit = iota // reads that write nothing
	SignInLimit               // per client address: each sign-in writes a row and calls the identity provider
	FormsLimit                // per session (signed out: per client address): every change, the form's live checks included
	ExportsLimit              // per session: each export reads the trail and records itself
)

// Route is one entry of the route table, with every fact the middleware
// needs about it: who may reach it, whether the session is looked up, and
// which rate limit it takes.
type Route struct {
	Method  string
	Path    string
	Access  Access
	Session SessionUse
	Limit   Limit
	handler echo.HandlerFunc
}

// Routes is the whole route table, in one place.
func (s *Server) Routes() []Route {
	const get, post = http.MethodGet, http.MethodPost
	routes := []Route{
		{get, "/healthz", Public, NoSession, NoLimit, s.healthz},
		{get, "/readyz", Public, NoSession, NoLimit, s.readyz},
		{get, "/metrics", Scraper, NoSession, NoLimit, s.metrics},
		{get, "/static/*", Public, NoSession, NoLimit, s.staticAsset},

		{get, "/auth/login", Public, UsesSession, SignInLimit, s.login},
		{get, "/auth/callback", Public, UsesSession, SignInLimit, s.callback},
		{get, "/auth/logout", SignedIn, UsesSession, NoLimit, s.logoutConfirm},
		{post, "/auth/logout", SignedIn, UsesSession, FormsLimit, s.logout},

		{get, "/", SignedIn, UsesSession, NoLimit, s.home},
		{get, "/requests/new", Requester, UsesSession, NoLimit, s.newRequestForm},
		{post, "/requests/check", Requester, UsesSession, FormsLimit, s.checkRequest},
		{post, "/requests", Requester, UsesSession, FormsLimit, s.createRequest},
		{get, "/requests", Requester, UsesSession, NoLimit, s.myRequests},
		{get, "/requests/:id", SignedIn, UsesSession, NoLimit, s.showRequest},
		{post, "/requests/:id/cancel", SignedIn, UsesSession, FormsLimit, s.cancelRequest},
		{post, "/requests/:id/approve", Approver, UsesSession, FormsLimit, s.approveRequest},
		{post, "/requests/:id/reject", Approver, UsesSession, FormsLimit, s.rejectRequest},
		{post, "/requests/:id/retry", Admin, UsesSession, FormsLimit, s.retryProvisioning},
		{post, "/requests/:id/abandon", Admin, UsesSession, FormsLimit, s.abandonProvisioning},

		{post, "/requests/:id/revoke", Admin, UsesSession, FormsLimit, s.revokeAccess},
		{post, "/requests/:id/retry-removal", Admin, UsesSession, FormsLimit, s.retryRemoval},

		{get, "/access/new", Requester, UsesSession, NoLimit, s.newAccessForm},
		{post, "/access/check", Requester, UsesSession, FormsLimit, s.checkAccess},
		{post, "/access", Requester, UsesSession, FormsLimit, s.createAccess},

		{get, "/roles", SignedIn, UsesSession, NoLimit, s.listRoles},

		{get, "/reviews", Approver, UsesSession, NoLimit, s.reviews},

		{get, "/admin", Admin, UsesSession, NoLimit, s.adminPage},
		{post, "/admin/catalog/refresh", Admin, UsesSession, FormsLimit, s.refreshCatalog},
	}
	routes = append(routes, s.auditRoutes()...)
	routes = append(routes,
		// The audit trail as a transparency log (audit_proof.go): the latest
		// signed checkpoint, and an event's inclusion proof in it (a
		// one-line export, limited as one).
		Route{get, "/audit/checkpoints/:size", Auditor, UsesSession, NoLimit, s.checkpointNote},
		Route{get, "/audit/events/:seq/proof", Auditor, UsesSession, ExportsLimit, s.eventProof},
	)
	if s.DevSimulator != nil {
		routes = append(routes, Route{post, "/admin/dev/upstream", Admin, UsesSession, FormsLimit, s.changeSimulatedOrganization})
	}
	if s.SSO == nil {
		routes = append(routes,
			Route{get, "/auth/dev", DevOnly, UsesSession, SignInLimit, s.devSignInPage},
			Route{post, "/auth/dev", DevOnly, UsesSession, SignInLimit, s.devSignIn},
		)
	}
	return routes
}

// registerRoutes installs the middleware and the route table. Order matters
// and reads top to bottom: every request gets an id, then the facts of its
// route from the table (withRoute), then is logged and protected from
// panics, gets the security headers and a body limit, has its form read
// (so that a body over the limit is a 413 page), then its session is
// loaded unless the route says NoSession; each route then takes its rate
// limit (refused GETs take theirs when refused), checks access and, for
// changes, the CSRF token.
func (s *Server) registerRoutes() {
	e := s.echo
	routes := s.Routes()
	e.Pre(s.assignRequestID)
	e.Use(routeFacts(routes))
	e.Use(s.logRequests)
	e.Use(middleware.RecoverWithConfig(middleware.RecoverConfig{
		DisableStackAll:   true,
		DisablePrintStack: true,
		LogErrorFunc: func(c echo.Context, err error, stack []byte) error {
			s.Logger.Error("panic", "err", err, "path", c.Request().URL.Path, "request_id", requestIDFrom(ctx(c)), "stack", string(stack))
			return err
		},
	}))
	e.Use(s.securityHeaders)
	e.Use(middleware.BodyLimit(maxBody))
	e.Use(s.readForm)
	e.Use(s.loadSession)
	for _, r := range routes {
		if r.Access == DevOnly && !s.Config.Dev {
			continue
		}
		e.Add(r.Method, r.Path, r.handler, s.rateLimit(r), s.authorize(r))
	}
}

// routeFacts puts the matched route's table entry on the request's context,
// for the middleware that runs before the route's own (Echo has matched
// the route by then). A request that matches no route gets none, and the
// defaults: its session is looked up, so that its error page knows who is
// signed in.
func routeFacts(routes []Route) echo.MiddlewareFunc {
	byKey := make(map[string]Route, len(routes))
	for _, r := range routes {
		byKey[r.Method+" "+r.Path] = r
	}
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			if r, ok := byKey[c.Request().Method+" "+c.Path()]; ok {
				c.SetRequest(c.Request().WithContext(withRoute(ctx(c), r)))
			}
			return next(c)
		}
	}
}

// maxBody bounds every request body; the largest legitimate one, a request
// form with 50 permissions and 2,000 characters of justification, is far
// smaller.
const maxBody = "64K"
