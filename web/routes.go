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

// Route is one entry of the route table.
type Route struct {
	Method  string
	Path    string
	Access  Access
	handler echo.HandlerFunc
}

// Routes is the whole route table, in one place.
func (s *Server) Routes() []Route {
	routes := []Route{
		{http.MethodGet, "/healthz", Public, s.healthz},
		{http.MethodGet, "/readyz", Public, s.readyz},
		{http.MethodGet, "/metrics", Scraper, s.metrics},
		{http.MethodGet, "/static/*", Public, s.staticAsset},

		{http.MethodGet, "/auth/login", Public, s.login},
		{http.MethodGet, "/auth/callback", Public, s.callback},
		{http.MethodGet, "/auth/logout", SignedIn, s.logoutConfirm},
		{http.MethodPost, "/auth/logout", SignedIn, s.logout},

		{http.MethodGet, "/", SignedIn, s.home},
		{http.MethodGet, "/requests/new", Requester, s.newRequestForm},
		{http.MethodPost, "/requests/check", Requester, s.checkRequest},
		{http.MethodPost, "/requests", Requester, s.createRequest},
		{http.MethodGet, "/requests", Requester, s.myRequests},
		{http.MethodGet, "/requests/:id", SignedIn, s.showRequest},
		{http.MethodPost, "/requests/:id/cancel", SignedIn, s.cancelRequest},
		{http.MethodPost, "/requests/:id/approve", Approver, s.approveRequest},
		{http.MethodPost, "/requests/:id/reject", Approver, s.rejectRequest},
		{http.MethodPost, "/requests/:id/retry", Admin, s.retryProvisioning},
		{http.MethodPost, "/requests/:id/abandon", Admin, s.abandonProvisioning},

		{http.MethodGet, "/roles", SignedIn, s.listRoles},

		{http.MethodGet, "/reviews", Approver, s.reviews},

		{http.MethodGet, "/admin", Admin, s.adminPage},
		{http.MethodPost, "/admin/catalog/refresh", Admin, s.refreshCatalog},
	}
	routes = append(routes, s.auditRoutes()...)
	routes = append(routes,
		// The audit trail as a transparency log (audit_proof.go): the latest
		// signed checkpoint, and an event's inclusion proof in it.
		Route{http.MethodGet, "/audit/checkpoints/:size", Auditor, s.checkpointNote},
		Route{http.MethodGet, "/audit/events/:seq/proof", Auditor, s.eventProof},
	)
	if s.DevSimulator != nil {
		routes = append(routes, Route{http.MethodPost, "/admin/dev/upstream", Admin, s.changeSimulatedOrganization})
	}
	if s.SSO == nil {
		routes = append(routes,
			Route{http.MethodGet, "/auth/dev", DevOnly, s.devSignInPage},
			Route{http.MethodPost, "/auth/dev", DevOnly, s.devSignIn},
		)
	}
	return routes
}

// registerRoutes installs the middleware and the route table. Order matters
// and reads top to bottom: every request gets an id, then is logged and
// protected from panics, gets the security headers and a body limit, has
// its form read (so that a body over the limit is a 413 page), then its
// session is loaded; each route then applies its rate limit (sign-in per
// client address, changes and exports per session or, signed out, per
// client address; refused GETs take theirs when refused), checks access
// and, for changes, the CSRF token.
func (s *Server) registerRoutes() {
	e := s.echo
	e.Pre(s.assignRequestID)
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
	for _, r := range s.Routes() {
		if r.Access == DevOnly && !s.Config.Dev {
			continue
		}
		e.Add(r.Method, r.Path, r.handler, s.rateLimit(r), s.authorize(r))
	}
}

// maxBody bounds every request body; the largest legitimate one, a request
// form with 50 permissions and 2,000 characters of justification, is far
// smaller.
const maxBody = "64K"
