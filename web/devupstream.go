package web

import (
	"cmp"
	"fmt"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/rolegate/rolegate/internal/rolegate"
	"github.com/rolegate/rolegate/internal/simulator"
	"github.com/rolegate/rolegate/views"
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
	key := "upstream"
	if c.FormValue("action") == "unassign" {
		key = "unassigned"
	}
	s.setFlash(c, "/admin", flashNote{Key: key})
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
	case "unassign":
		a, ok := parseDevAssignment(c.FormValue("assignment"))
		if !ok {
			return rolegate.Errorf(rolegate.EINVALID, "Choose the assignment to remove.")
		}
		err = sim.UnassignRole(a)
	default:
		return rolegate.Errorf(rolegate.EINVALID, "Choose to add, change or delete a role, or to remove an assignment.")
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

// devAssignments are the simulated organization's role assignments, for
// the dev controls on the admin page (nil outside dev mode).
func (s *Server) devAssignments() []views.DevAssignment {
	if s.DevSimulator == nil {
		return nil
	}
	sim := s.DevSimulator
	roleNames, projectNames := map[string]string{}, map[string]string{}
	for _, r := range sim.Roles() {
		roleNames[r.ID] = r.Name
	}
	for _, p := range sim.Projects() {
		projectNames[p.ID] = p.Name
		for _, r := range sim.ProjectRoles(p.ID) {
			roleNames[r.ID] = r.Name
		}
	}
	who := map[string]string{}
	for _, g := range sim.Groups() {
		who[g.ID] = "group " + g.Name
	}
	for _, u := range sim.Users() {
		who[u.ID] = "user " + u.Email
	}
	var out []views.DevAssignment
	for _, a := range sim.Assignments() {
		where := "organization"
		if a.Project != "" {
			where = "project " + cmp.Or(projectNames[a.Project], a.Project)
		}
		out = append(out, views.DevAssignment{
			Key:   strings.Join([]string{string(a.Kind), a.PrincipalID, a.Project, a.RoleID}, "|"),
			Label: fmt.Sprintf("%s → %s (%s)", cmp.Or(roleNames[a.RoleID], a.RoleID), cmp.Or(who[a.PrincipalID], a.PrincipalID), where),
		})
	}
	return out
}

// parseDevAssignment reads an assignment as devAssignments wrote its key.
func parseDevAssignment(key string) (simulator.Assignment, bool) {
	parts := strings.Split(key, "|")
	if len(parts) != 4 || parts[1] == "" || parts[3] == "" {
		return simulator.Assignment{}, false
	}
	kind := simulator.PrincipalKind(parts[0])
	if kind != simulator.PrincipalGroup && kind != simulator.PrincipalUser {
		return simulator.Assignment{}, false
	}
	return simulator.Assignment{Kind: kind, PrincipalID: parts[1], Project: parts[2], RoleID: parts[3]}, true
}
