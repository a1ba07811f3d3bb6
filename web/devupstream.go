package web

import (
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/rolegate/rolegate/internal/rolegate"
	"github.com/rolegate/rolegate/internal/simulator"
)

// changeSimulatedOrganization changes the built-in simulator's organization
// behind rolegate's back, as someone in OpenAI's console would: a newcomer
// in dev mode can watch the picture notice it (a name taken while typing,
// Created, Changed or Deleted outside rolegate, the audit events, the
// admins' notifications). Only an admin, only in dev mode with the
// simulator; nothing here goes through rolegate's own records.
func (s *Server) changeSimulatedOrganization(c echo.Context) error {
	if err := s.changeSimulator(c); err != nil {
		if rolegate.ErrorCode(err) == rolegate.EINVALID {
			return s.refusePost(c, "/admin", draft{Form: draftAdmin, Problem: rolegate.ErrorMessage(err)})
		}
		return err
	}
	s.setFlash(c, "/admin", flashNote{Key: "upstream"})
	return redirectAfterPost(c, "/admin")
}

// changeSimulator makes the change the form asks for, or says why not.
func (s *Server) changeSimulator(c echo.Context) error {
	sim := s.DevSimulator
	id := c.FormValue("role_id")
	name := strings.TrimSpace(c.FormValue("role_name"))
	description := strings.TrimSpace(c.FormValue("description"))
	perms := splitPermissions(c.FormValue("permissions"))
	var err error
	switch c.FormValue("action") {
	case "add":
		if msg := rolegate.ValidateRoleName(name); msg != "" {
			return rolegate.Errorf(rolegate.EINVALID, "Role name: %s", msg)
		}
		_, err = sim.AddRole(name, description, perms)
	case "change":
		if name != "" {
			if msg := rolegate.ValidateRoleName(name); msg != "" {
				return rolegate.Errorf(rolegate.EINVALID, "Role name: %s", msg)
			}
		}
		_, err = sim.ChangeRole(id, func(r *simulator.Role) {
			if name != "" {
				r.Name = name
			}
			if len(perms) > 0 {
				r.Permissions = perms
			}
			if description != "" {
				r.Description = description
			}
		})
	case "delete":
		err = sim.DeleteRole(id)
	default:
		return rolegate.Errorf(rolegate.EINVALID, "Choose to add, change or delete a role.")
	}
	if err != nil {
		return rolegate.Errorf(rolegate.EINVALID, "The simulated organization refused the change: %s", strings.TrimPrefix(err.Error(), "simulator: "))
	}
	return nil
}

// splitPermissions reads a list of permissions separated by commas, spaces
// or new lines.
func splitPermissions(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == '\n' || r == '\r' || r == '\t' })
}

// devRoles are the simulated organization's custom roles, for the dev
// controls on the admin page (nil outside dev mode).
func (s *Server) devRoles() []rolegate.ExistingRole {
	if s.DevSimulator == nil {
		return nil
	}
	out := []rolegate.ExistingRole{}
	for _, r := range s.DevSimulator.Roles() {
		if !r.Predefined {
			out = append(out, rolegate.ExistingRole{ID: r.ID, Name: r.Name, Permissions: r.Permissions})
		}
	}
	return out
}
