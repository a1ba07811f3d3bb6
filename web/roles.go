package web

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/rolegate/rolegate/internal/rolegate"
	"github.com/rolegate/rolegate/views"
)

// rolesPerPage keeps the Roles page small whatever the organization's size.
const rolesPerPage = 50

// maxRoleSearch bounds the search text; no name or permission is longer.
const maxRoleSearch = 100

// listRoles shows one page of the organization's picture, searched by part
// of a name or a permission. It reads only the stored picture: no upstream
// call, however many people look.
func (s *Server) listRoles(c echo.Context) error {
	q := strings.TrimSpace(c.QueryParam("q"))
	if len([]rune(q)) > maxRoleSearch {
		q = string([]rune(q)[:maxRoleSearch])
	}
	page := pageParam(c)
	roles, total, err := s.Pictures.ListPictureRoles(ctx(c), rolegate.RoleFilter{Search: q, Limit: rolesPerPage, Offset: (page - 1) * rolesPerPage})
	if err != nil {
		return err
	}
	base := "/roles"
	if q != "" {
		base += "?q=" + url.QueryEscape(q)
	}
	return s.render(c, http.StatusOK, views.RolesPage(s.chrome(c, "roles"), views.RolesView{
		Roles: roles, Search: q, SyncedAt: s.Picture.SyncedAt(),
		Pager: views.Pager{Page: page, PerPage: rolesPerPage, Total: total, BaseURL: base},
	}))
}
