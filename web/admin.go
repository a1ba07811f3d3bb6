package web

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/rolegate/rolegate/internal/rolegate"
	"github.com/rolegate/rolegate/views"
)

// adminPage shows the failed provisioning that still needs a decision
// (retry or abandon) and the catalog's state.
func (s *Server) adminPage(c echo.Context) error {
	failed, _, err := s.Requests.List(ctx(c), rolegate.RequestFilter{Statuses: []rolegate.Status{rolegate.StatusFailed}, NotAbandoned: true, Limit: 200})
	if err != nil {
		return err
	}
	roles, at := s.Catalog.Roles()
	v := views.AdminView{Failed: failed, CatalogSize: s.Catalog.Catalog().Len(), UpstreamRoles: roles, DevRoles: s.devRoles(), DevAssignments: s.devAssignments(), SignIn: s.adminSignIn()}
	v.CatalogRefreshed = at
	d, refused, err := s.takeDraft(c, draftAdmin)
	if err != nil {
		return err
	}
	if refused {
		v.Problem = d.Problem
	}
	return s.render(c, http.StatusOK, views.AdminPage(s.chrome(c, "admin"), v))
}

// adminSignIn describes how approving re-authenticates.
func (s *Server) adminSignIn() views.AdminSignIn {
	a := views.AdminSignIn{Mode: s.Config.ApproveReauth, MaxAge: s.Config.ApproveMaxAuthAge.String(), DevSignIn: s.SSO == nil}
	if s.SSO != nil {
		if states, listed := s.SSO.StatesAuthTime(); listed {
			a.ProviderStatesAuthTime = map[bool]string{true: "yes", false: "no"}[states]
		}
	}
	return a
}

// refreshCatalog reads the organization's roles again now (the picture is
// also synced every ROLEGATE_SYNC_EVERY); the catalog follows the picture.
func (s *Server) refreshCatalog(c echo.Context) error {
	actor := s.actor(c)
	if _, err := s.Picture.Sync(ctx(c), &actor); err != nil {
		s.Logger.Error("catalog refresh", "err", err)
		return s.refusePost(c, "/admin", draft{Form: draftAdmin,
			Problem: "The organization's roles could not be read: " + rolegate.ErrorMessage(err)})
	}
	s.setFlash(c, "/admin", flashNote{Key: "refreshed"})
	return redirectAfterPost(c, "/admin")
}
