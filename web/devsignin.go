package web

import (
	"net"
	"net/http"
	"net/netip"

	"github.com/labstack/echo/v4"

	"github.com/rolegate/rolegate/internal/rolegate"
	"github.com/rolegate/rolegate/internal/sso"
	"github.com/rolegate/rolegate/views"
)

// DevIssuer is the issuer recorded for dev-mode people.
const DevIssuer = "rolegate-dev"

// Dev-mode group names; cmd/rolegate uses them as defaults in dev mode.
const (
	DevApproverGroup = "rolegate-approvers"
	DevAuditorGroup  = "rolegate-auditors"
	DevAdminGroup    = "rolegate-admins"
)

// devPersonas are the people of dev mode: one of each kind a newcomer needs
// to try every screen (a requester, two approvers, so that one can approve
// after the other, an auditor, an admin).
var devPersonas = []views.Persona{
	{ID: "requester", Name: "Riley Requester", Email: "riley@example.test", Blurb: "Files role requests."},
	{ID: "approver1", Name: "Avery Approver", Email: "avery@example.test", Groups: []string{DevApproverGroup}, Blurb: "Reviews requests."},
	{ID: "approver2", Name: "Blake Approver", Email: "blake@example.test", Groups: []string{DevApproverGroup}, Blurb: "A second approver."},
	{ID: "auditor", Name: "Casey Auditor", Email: "casey@example.test", Groups: []string{DevAuditorGroup}, Blurb: "Reads the audit trail."},
	{ID: "admin", Name: "Drew Admin", Email: "drew@example.test", Groups: []string{DevAdminGroup}, Blurb: "Retries failed provisioning."},
}

// devSignInAllowed is checked by both dev handlers on top of the route
// table (which registers them only in dev mode without an issuer): dev mode
// itself, no identity provider, and a browser on this machine. The peer
// address is used, never X-Forwarded-For, which anyone can write.
func (s *Server) devSignInAllowed(c echo.Context) bool {
	if !s.Config.Dev || s.SSO != nil {
		return false
	}
	host, _, err := net.SplitHostPort(c.Request().RemoteAddr)
	if err != nil {
		return false
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.Unmap().IsLoopback()
}

// devSignInPage replaces SSO in dev mode (registered only then).
func (s *Server) devSignInPage(c echo.Context) error {
	if !s.devSignInAllowed(c) {
		return echo.ErrNotFound
	}
	return s.render(c, http.StatusOK, views.DevSignInPage(s.chrome(c, ""), devPersonas, sso.SafeReturnPath(c.QueryParam("return_to"))))
}

// devSignIn signs in the chosen persona through the same session code as SSO.
func (s *Server) devSignIn(c echo.Context) error {
	if !s.devSignInAllowed(c) {
		return echo.ErrNotFound
	}
	id := c.FormValue("persona")
	for _, p := range devPersonas {
		if p.ID != id {
			continue
		}
		principal := rolegate.Principal{
			Person: rolegate.Person{Issuer: DevIssuer, Subject: p.ID, Email: p.Email, Name: p.Name},
			Roles:  s.groupPolicy().RolesFor(p.Groups, p.Email),
		}
		if err := s.beginSession(c, principal, rolegate.SessionAuth{AuthTime: s.Now()}); err != nil {
			return err
		}
		return c.Redirect(http.StatusSeeOther, sso.SafeReturnPath(c.FormValue("return_to")))
	}
	return rolegate.Errorf(rolegate.EINVALID, "Pick one of the people offered.")
}
