package simulator

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
)

// Role assignments: a role given to a group or a user, at the level of
// the organization (an organization role) or of a project (one of that
// project's roles):
//
//	GET|POST        /v1/organization/{groups|users}/{id}/roles
//	GET|DELETE      /v1/organization/{groups|users}/{id}/roles/{role_id}
//	GET|POST        /v1/projects/{project_id}/{groups|users}/{id}/roles
//	GET|DELETE      /v1/projects/{project_id}/{groups|users}/{id}/roles/{role_id}
//
// What the excerpt leaves open, the simulator decides the strict way, so
// that a client that copes with it copes with the upstream: assigning a
// role the principal already holds directly is refused (400), not
// repeated; removing one it does not hold is a 404; a role only reaches a
// principal in its own scope. A user's lists and retrieve also show the
// roles they hold through their groups, with assignment_sources naming
// each group (and the user, when they hold it directly as well); null
// when the role is held directly only. Such an inherited role cannot be
// removed from the user. Project membership is not simulated: any user of
// the organization can be given a project's role.

// PrincipalKind says who holds an assignment.
type PrincipalKind string

// The principals a role can be assigned to.
const (
	PrincipalGroup PrincipalKind = "group"
	PrincipalUser  PrincipalKind = "user"
)

// Assignment is one role given to one group or user.
type Assignment struct {
	Kind        PrincipalKind
	PrincipalID string
	// Project is the project id of a project-level assignment; empty at
	// the organization's level.
	Project string
	RoleID  string
}

// ErrNoSuchAssignment is returned for an assignment the organization does not hold.
var ErrNoSuchAssignment = errors.New("simulator: no such role assignment")

// assignedRoleJSON is the AssignedRoleDetails schema.
type assignedRoleJSON struct {
	ID                string             `json:"id"`
	Name              string             `json:"name"`
	Permissions       []string           `json:"permissions"`
	ResourceType      string             `json:"resource_type"`
	PredefinedRole    bool               `json:"predefined_role"`
	Description       *string            `json:"description"`
	CreatedAt         *int64             `json:"created_at"`
	UpdatedAt         *int64             `json:"updated_at"`
	CreatedBy         *string            `json:"created_by"`
	CreatedByUserObj  map[string]any     `json:"created_by_user_obj"`
	Metadata          map[string]any     `json:"metadata"`
	AssignmentSources []assignmentSource `json:"assignment_sources"`
}

type assignmentSource struct {
	PrincipalID   string `json:"principal_id"`
	PrincipalType string `json:"principal_type"`
}

type assignedRoleListJSON struct {
	Object  string             `json:"object"`
	Data    []assignedRoleJSON `json:"data"`
	HasMore bool               `json:"has_more"`
	Next    *string            `json:"next"`
}

type groupRoleJSON struct {
	Object string           `json:"object"`
	Group  groupSummaryJSON `json:"group"`
	Role   roleJSON         `json:"role"`
}

type userRoleJSON struct {
	Object string   `json:"object"`
	User   userJSON `json:"user"`
	Role   roleJSON `json:"role"`
}

type assignmentDeletedJSON struct {
	Object  string `json:"object"`
	Deleted bool   `json:"deleted"`
}

func assignedToJSON(r Role, sources []assignmentSource) assignedRoleJSON {
	perms := slices.Clone(r.Permissions)
	if perms == nil {
		perms = []string{}
	}
	return assignedRoleJSON{
		ID: r.ID, Name: r.Name, Permissions: perms, ResourceType: r.ResourceType, PredefinedRole: r.Predefined,
		Description: ptr(r.Description), Metadata: map[string]any{}, AssignmentSources: sources,
	}
}

// principalOf reads the principal of an assignment path.
func principalOf(kind PrincipalKind, r *http.Request) Assignment {
	a := Assignment{Kind: kind, Project: r.PathValue("project_id"), RoleID: r.PathValue("role_id")}
	if kind == PrincipalGroup {
		a.PrincipalID = r.PathValue("group_id")
	} else {
		a.PrincipalID = r.PathValue("user_id")
	}
	return a
}

// principalRefusalLocked says how a request about a's principal in a's
// scope is refused, or nil: the project must exist (and be active for a
// change), and so must the group or user.
func (s *Simulator) principalRefusalLocked(a Assignment, change bool) func(http.ResponseWriter) {
	if refuse := s.scopeRefusalLocked(a.Project, change); refuse != nil {
		return refuse
	}
	if a.Kind == PrincipalGroup && s.groupIndexLocked(a.PrincipalID) < 0 {
		return func(w http.ResponseWriter) { groupNotFound(w, a.PrincipalID) }
	}
	if a.Kind == PrincipalUser && s.userIndexLocked(a.PrincipalID) < 0 {
		return func(w http.ResponseWriter) { userNotFound(w, a.PrincipalID) }
	}
	return nil
}

func (s *Simulator) assignmentIndexLocked(a Assignment) int {
	return slices.Index(s.assignments, a)
}

// heldLocked returns the roles principal holds in scope, directly or (for
// a user) through a group, each with its sources (nil: directly only), in
// the order the roles were created.
func (s *Simulator) heldLocked(kind PrincipalKind, id, scope string) ([]Role, map[string][]assignmentSource) {
	sources := map[string][]assignmentSource{}
	direct := map[string]bool{}
	for _, a := range s.assignments {
		if a.Project != scope {
			continue
		}
		switch {
		case a.Kind == kind && a.PrincipalID == id:
			direct[a.RoleID] = true
			if _, ok := sources[a.RoleID]; !ok {
				sources[a.RoleID] = nil
			}
		case kind == PrincipalUser && a.Kind == PrincipalGroup && slices.Contains(s.members[a.PrincipalID], id):
			sources[a.RoleID] = append(sources[a.RoleID], assignmentSource{PrincipalID: a.PrincipalID, PrincipalType: string(PrincipalGroup)})
		}
	}
	for roleID, src := range sources {
		if src != nil && direct[roleID] {
			sources[roleID] = append([]assignmentSource{{PrincipalID: id, PrincipalType: string(PrincipalUser)}}, src...)
		}
	}
	var roles []Role
	for _, r := range s.roles {
		if _, ok := sources[r.ID]; ok && r.Project == scope {
			roles = append(roles, r.clone())
		}
	}
	return roles, sources
}

func (s *Simulator) listAssignments(kind PrincipalKind) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		a := principalOf(kind, r)
		q, ok := readListQuery(w, r, maxLimit, false)
		if !ok {
			return
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		if refuse := s.principalRefusalLocked(a, false); refuse != nil {
			refuse(w)
			return
		}
		roles, sources := s.heldLocked(kind, a.PrincipalID, a.Project)
		ids := make([]string, len(roles))
		for i, role := range roles {
			ids[i] = role.ID
		}
		page, more, ok := pageOf(ids, q)
		if !ok {
			badCursor(w, q.after)
			return
		}
		out := assignedRoleListJSON{Object: "list", Data: []assignedRoleJSON{}, HasMore: more}
		for _, id := range page {
			role := roles[slices.Index(ids, id)]
			out.Data = append(out.Data, assignedToJSON(role, sources[id]))
		}
		if more {
			out.Next = ptr(page[len(page)-1])
		}
		writeJSON(w, http.StatusOK, out)
	}
}

func (s *Simulator) assignRole(kind PrincipalKind) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		a := principalOf(kind, r)
		s.mu.Lock()
		refuse := s.principalRefusalLocked(a, false)
		s.mu.Unlock()
		if refuse != nil {
			refuse(w)
			return
		}
		fields, ok := decodeObject(w, r, "role_id")
		if !ok {
			return
		}
		raw, present := fields["role_id"]
		if !present {
			invalidRequest(w, "role_id", "Missing required parameter: 'role_id'.")
			return
		}
		if isNull(raw) || json.Unmarshal(raw, &a.RoleID) != nil {
			invalidRequest(w, "role_id", "Invalid type for 'role_id': expected a string.")
			return
		}

		s.mu.Lock()
		defer s.mu.Unlock()
		// Checked again under the lock: the project may have been archived
		// (or the principal removed) while the body was read.
		if refuse := s.principalRefusalLocked(a, true); refuse != nil {
			refuse(w)
			return
		}
		i := s.indexInLocked(a.Project, a.RoleID)
		if i < 0 {
			roleNotFound(w, a.RoleID)
			return
		}
		if s.assignmentIndexLocked(a) >= 0 {
			invalidRequest(w, "role_id", fmt.Sprintf("The role '%s' is already assigned to this %s.", s.roles[i].Name, kind))
			return
		}
		s.assignments = append(s.assignments, a)
		role := toJSON(s.roles[i].clone())
		if kind == PrincipalGroup {
			writeJSON(w, http.StatusOK, groupRoleJSON{Object: "group.role", Group: groupSummary(s.groups[s.groupIndexLocked(a.PrincipalID)]), Role: role})
			return
		}
		writeJSON(w, http.StatusOK, userRoleJSON{Object: "user.role", User: userToJSON(s.users[s.userIndexLocked(a.PrincipalID)]), Role: role})
	}
}

func (s *Simulator) retrieveAssignment(kind PrincipalKind) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		a := principalOf(kind, r)
		s.mu.Lock()
		defer s.mu.Unlock()
		if refuse := s.principalRefusalLocked(a, false); refuse != nil {
			refuse(w)
			return
		}
		roles, sources := s.heldLocked(kind, a.PrincipalID, a.Project)
		for _, role := range roles {
			if role.ID == a.RoleID {
				writeJSON(w, http.StatusOK, assignedToJSON(role, sources[role.ID]))
				return
			}
		}
		assignmentNotFound(w, kind, a.RoleID)
	}
}

func (s *Simulator) unassignRole(kind PrincipalKind) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		a := principalOf(kind, r)
		s.mu.Lock()
		defer s.mu.Unlock()
		if refuse := s.principalRefusalLocked(a, true); refuse != nil {
			refuse(w)
			return
		}
		i := s.assignmentIndexLocked(a)
		if i < 0 {
			if _, sources := s.heldLocked(kind, a.PrincipalID, a.Project); len(sources[a.RoleID]) > 0 {
				groups := make([]string, 0, len(sources[a.RoleID]))
				for _, src := range sources[a.RoleID] {
					groups = append(groups, src.PrincipalID)
				}
				invalidRequest(w, "role_id", fmt.Sprintf("The role '%s' is inherited from group %s and cannot be removed from the user.",
					a.RoleID, strings.Join(groups, ", ")))
				return
			}
			assignmentNotFound(w, kind, a.RoleID)
			return
		}
		s.assignments = slices.Delete(s.assignments, i, i+1)
		writeJSON(w, http.StatusOK, assignmentDeletedJSON{Object: string(kind) + ".role.deleted", Deleted: true})
	}
}

func assignmentNotFound(w http.ResponseWriter, kind PrincipalKind, roleID string) {
	writeError(w, http.StatusNotFound, "invalid_request_error",
		fmt.Sprintf("No role assignment found for role '%s' on this %s.", roleID, kind), ptr("role_id"), nil)
}

// dropAssignmentsOfLocked forgets every assignment of a deleted role.
func (s *Simulator) dropAssignmentsOfLocked(roleID string) {
	s.assignments = slices.DeleteFunc(s.assignments, func(a Assignment) bool { return a.RoleID == roleID })
}

// Out-of-band assignments, as someone in OpenAI's console would make them;
// they are not counted as assign or unassign calls.

// Assignments returns a copy of every assignment, in the order they were made.
func (s *Simulator) Assignments() []Assignment {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.assignments)
}

// AssignRole gives a's role to a's principal outside rolegate. The role
// must be of a's scope; an assignment already there is left as it is.
func (s *Simulator) AssignRole(a Assignment) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case a.Project != "" && s.projectIndexLocked(a.Project) < 0:
		return ErrNoSuchProject
	case a.Kind == PrincipalGroup && s.groupIndexLocked(a.PrincipalID) < 0:
		return ErrNoSuchGroup
	case a.Kind == PrincipalUser && s.userIndexLocked(a.PrincipalID) < 0:
		return ErrNoSuchUser
	case a.Kind != PrincipalGroup && a.Kind != PrincipalUser:
		return fmt.Errorf("simulator: unknown principal kind %q", a.Kind)
	case s.indexInLocked(a.Project, a.RoleID) < 0:
		return ErrNoSuchRole
	}
	if s.assignmentIndexLocked(a) < 0 {
		s.assignments = append(s.assignments, a)
	}
	return nil
}

// UnassignRole removes assignment a outside rolegate, as if someone had
// ended it early in OpenAI's console.
func (s *Simulator) UnassignRole(a Assignment) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	i := s.assignmentIndexLocked(a)
	if i < 0 {
		return ErrNoSuchAssignment
	}
	s.assignments = slices.Delete(s.assignments, i, i+1)
	return nil
}
