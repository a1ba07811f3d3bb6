package adminapi

import (
	"bytes"
	"context"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/packages/pagination"

	"github.com/rolegate/rolegate/internal/rolegate"
)

// Role assignments: a role given to a group or a user, at the
// organization's level or a project's. Assigning sends the approved body
// byte for byte and is never retried here, like creating a role: after a
// Retryable failure the assignment may exist upstream, which the caller
// must look for (FindAssignment) before sending again.

// PrincipalKind is who receives a role.
type PrincipalKind string

// The principals a role can be assigned to.
const (
	PrincipalGroup PrincipalKind = "group"
	PrincipalUser  PrincipalKind = "user"
)

// Principal is a group or user, at the organization's level (Project
// empty) or in one project.
type Principal struct {
	Kind    PrincipalKind
	ID      string
	Project string
}

// RolesPath is the path of p's role assignments under /v1:
// /organization/groups/{id}/roles, /projects/{project_id}/users/{id}/roles
// and the like. It is what an approval binds, with the method and body.
func (p Principal) RolesPath() string {
	base := "/organization/"
	if p.Project != "" {
		base = "/projects/" + p.Project + "/"
	}
	return base + string(p.Kind) + "s/" + p.ID + "/roles"
}

func (p Principal) valid() bool {
	return p.ID != "" && (p.Kind == PrincipalGroup || p.Kind == PrincipalUser)
}

// AssignedRole is a role a principal holds, and where from.
type AssignedRole struct {
	Role
	// Sources are the principals the role comes from when it is inherited
	// (a user's role through a group), empty when the upstream says it is
	// held directly only.
	Sources []Principal
}

// Direct reports whether p holds the role itself, not only through a
// group: an assignment rolegate made is a direct one.
func (a AssignedRole) Direct(p Principal) bool {
	if len(a.Sources) == 0 {
		return true
	}
	for _, s := range a.Sources {
		if s.Kind == p.Kind && s.ID == p.ID {
			return true
		}
	}
	return false
}

func badPrincipal(op string) error {
	return &Error{Op: op, Kind: Permanent, Message: "no group or user id"}
}

// ListAssignedRoles returns every role p holds in its scope (for a user,
// also those held through a group), following all pages.
func (cl *Client) ListAssignedRoles(ctx context.Context, p Principal) ([]AssignedRole, error) {
	const op = "list role assignments"
	if !p.valid() {
		return nil, badPrincipal(op)
	}
	c, opts, err := cl.begin(op)
	if err != nil {
		return nil, err
	}
	limit := openai.Int(cl.pageSize)
	switch {
	case p.Kind == PrincipalGroup && p.Project == "":
		page, err := cl.groupRoles.List(ctx, p.ID, openai.AdminOrganizationGroupRoleListParams{Limit: limit}, opts...)
		return assigned(c, cl, page, err, func(r openai.AdminOrganizationGroupRoleListResponse) AssignedRole {
			out := AssignedRole{Role: Role{ID: r.ID, Name: r.Name, Description: r.Description, Permissions: r.Permissions, ResourceType: r.ResourceType, Predefined: r.PredefinedRole}}
			for _, s := range r.AssignmentSources {
				out.Sources = append(out.Sources, Principal{Kind: PrincipalKind(s.PrincipalType), ID: s.PrincipalID, Project: p.Project})
			}
			return out
		})
	case p.Kind == PrincipalUser && p.Project == "":
		page, err := cl.userRoles.List(ctx, p.ID, openai.AdminOrganizationUserRoleListParams{Limit: limit}, opts...)
		return assigned(c, cl, page, err, func(r openai.AdminOrganizationUserRoleListResponse) AssignedRole {
			out := AssignedRole{Role: Role{ID: r.ID, Name: r.Name, Description: r.Description, Permissions: r.Permissions, ResourceType: r.ResourceType, Predefined: r.PredefinedRole}}
			for _, s := range r.AssignmentSources {
				out.Sources = append(out.Sources, Principal{Kind: PrincipalKind(s.PrincipalType), ID: s.PrincipalID, Project: p.Project})
			}
			return out
		})
	case p.Kind == PrincipalGroup:
		page, err := cl.projGroupRoles.List(ctx, p.Project, p.ID, openai.AdminOrganizationProjectGroupRoleListParams{Limit: limit}, opts...)
		return assigned(c, cl, page, err, func(r openai.AdminOrganizationProjectGroupRoleListResponse) AssignedRole {
			out := AssignedRole{Role: Role{ID: r.ID, Name: r.Name, Description: r.Description, Permissions: r.Permissions, ResourceType: r.ResourceType, Predefined: r.PredefinedRole}}
			for _, s := range r.AssignmentSources {
				out.Sources = append(out.Sources, Principal{Kind: PrincipalKind(s.PrincipalType), ID: s.PrincipalID, Project: p.Project})
			}
			return out
		})
	default:
		page, err := cl.projUserRoles.List(ctx, p.Project, p.ID, openai.AdminOrganizationProjectUserRoleListParams{Limit: limit}, opts...)
		return assigned(c, cl, page, err, func(r openai.AdminOrganizationProjectUserRoleListResponse) AssignedRole {
			out := AssignedRole{Role: Role{ID: r.ID, Name: r.Name, Description: r.Description, Permissions: r.Permissions, ResourceType: r.ResourceType, Predefined: r.PredefinedRole}}
			for _, s := range r.AssignmentSources {
				out.Sources = append(out.Sources, Principal{Kind: PrincipalKind(s.PrincipalType), ID: s.PrincipalID, Project: p.Project})
			}
			return out
		})
	}
}

func assigned[T any](c *call, cl *Client, page *pagination.NextCursorPage[T], err error, convert func(T) AssignedRole) ([]AssignedRole, error) {
	items, err := collectNext(c, cl.timeout, page, err)
	if err != nil {
		return nil, err
	}
	out := make([]AssignedRole, 0, len(items))
	for _, it := range items {
		r := convert(it)
		r.Permissions = append([]string(nil), r.Permissions...)
		out = append(out, r)
	}
	return out, nil
}

// FindAssignment looks for roleID among the roles p holds (every page of
// p's list, so that an unknown group, user or project is an error, not
// "not assigned"). found is true whether p holds it directly or, for a
// user, through a group: AssignedRole.Direct tells which.
func (cl *Client) FindAssignment(ctx context.Context, p Principal, roleID string) (AssignedRole, bool, error) {
	roles, err := cl.ListAssignedRoles(ctx, p)
	if err != nil {
		return AssignedRole{}, false, err
	}
	for _, r := range roles {
		if r.ID == roleID {
			return r, true, nil
		}
	}
	return AssignedRole{}, false, nil
}

// AssignRole sends body, the approved JSON payload ({"role_id": …}),
// exactly as given, to POST {p.RolesPath()}. It is never retried here.
func (cl *Client) AssignRole(ctx context.Context, p Principal, body []byte) error {
	const op = "assign role"
	if !p.valid() {
		return badPrincipal(op)
	}
	c, opts, err := cl.begin(op)
	if err != nil {
		return err
	}
	// The empty params are replaced by the raw body: no re-encoding.
	opts = append(opts, option.WithRequestBody("application/json", bytes.Clone(body)))
	switch {
	case p.Kind == PrincipalGroup && p.Project == "":
		_, err = cl.groupRoles.New(ctx, p.ID, openai.AdminOrganizationGroupRoleNewParams{}, opts...)
	case p.Kind == PrincipalUser && p.Project == "":
		_, err = cl.userRoles.New(ctx, p.ID, openai.AdminOrganizationUserRoleNewParams{}, opts...)
	case p.Kind == PrincipalGroup:
		_, err = cl.projGroupRoles.New(ctx, p.Project, p.ID, openai.AdminOrganizationProjectGroupRoleNewParams{}, opts...)
	default:
		_, err = cl.projUserRoles.New(ctx, p.Project, p.ID, openai.AdminOrganizationProjectUserRoleNewParams{}, opts...)
	}
	if err != nil {
		return c.fail(err, cl.timeout)
	}
	return nil
}

// UnassignRole removes roleID from p (DELETE {p.RolesPath()}/{role_id}).
// A 404 means the assignment is not there (any more): the caller decides
// whether that is done or drift.
func (cl *Client) UnassignRole(ctx context.Context, p Principal, roleID string) error {
	const op = "unassign role"
	if !p.valid() || roleID == "" {
		return badPrincipal(op)
	}
	c, opts, err := cl.begin(op)
	if err != nil {
		return err
	}
	switch {
	case p.Kind == PrincipalGroup && p.Project == "":
		_, err = cl.groupRoles.Delete(ctx, p.ID, roleID, opts...)
	case p.Kind == PrincipalUser && p.Project == "":
		_, err = cl.userRoles.Delete(ctx, p.ID, roleID, opts...)
	case p.Kind == PrincipalGroup:
		_, err = cl.projGroupRoles.Delete(ctx, p.Project, p.ID, roleID, opts...)
	default:
		_, err = cl.projUserRoles.Delete(ctx, p.Project, p.ID, roleID, opts...)
	}
	if err != nil {
		return c.fail(err, cl.timeout)
	}
	return nil
}

// HeldRoles is rolegate.AssignmentReader: the roles g holds in scope (the
// organization, or a project's id), directly or, for a user, through the
// groups the upstream names as their sources.
func (cl *Client) HeldRoles(ctx context.Context, scope string, g rolegate.Grantee) ([]rolegate.HeldRole, error) {
	p := Principal{Kind: PrincipalKind(g.Kind), ID: g.ID}
	if scope != rolegate.ScopeOrganization {
		p.Project = scope
	}
	roles, err := cl.ListAssignedRoles(ctx, p)
	if err != nil {
		return nil, err
	}
	out := make([]rolegate.HeldRole, 0, len(roles))
	for _, r := range roles {
		h := rolegate.HeldRole{RoleID: r.ID, Direct: r.Direct(p)}
		for _, s := range r.Sources {
			if s.Kind == PrincipalGroup && !(p.Kind == PrincipalGroup && s.ID == p.ID) {
				h.ViaGroups = append(h.ViaGroups, s.ID)
			}
		}
		out = append(out, h)
	}
	return out, nil
}
