package rolegate

import (
	"slices"
	"strings"
)

// PortalRole is what a person may do in the portal, derived from their groups.
type PortalRole string

const (
	RoleRequester PortalRole = "requester"
	RoleApprover  PortalRole = "approver"
	RoleAuditor   PortalRole = "auditor"
	RoleAdmin     PortalRole = "admin"
)

// AllPortalRoles lists the roles in display order.
var AllPortalRoles = []PortalRole{RoleRequester, RoleApprover, RoleAuditor, RoleAdmin}

// Person identifies someone by their identity provider's (issuer, subject);
// email and name are for display and notifications only.
type Person struct {
	Issuer  string
	Subject string
	Email   string
	Name    string
}

// Key is the stable identity of a person: never the email.
func (p Person) Key() string { return p.Issuer + "|" + p.Subject }

// DisplayName is the name, else the email, else the subject.
func (p Person) DisplayName() string {
	switch {
	case p.Name != "":
		return p.Name
	case p.Email != "":
		return p.Email
	default:
		return p.Subject
	}
}

// Principal is a signed-in person with the portal roles they hold now.
type Principal struct {
	Person
	Roles []PortalRole
}

// Has reports whether the principal holds role.
func (p Principal) Has(role PortalRole) bool { return slices.Contains(p.Roles, role) }

// RoleNames returns the roles as a comma-separated list, for the audit trail.
func (p Principal) RoleNames() string {
	names := make([]string, len(p.Roles))
	for i, r := range p.Roles {
		names[i] = string(r)
	}
	return strings.Join(names, ",")
}

// GroupPolicy maps identity-provider groups to portal roles.
type GroupPolicy struct {
	RequesterGroups []string // empty: everyone signed in is a requester
	ApproverGroups  []string
	AuditorGroups   []string
	AdminGroups     []string
}

// RolesFor returns the portal roles that the given groups grant.
func (g GroupPolicy) RolesFor(groups []string) []PortalRole {
	in := func(want []string) bool {
		for _, w := range want {
			if slices.Contains(groups, w) {
				return true
			}
		}
		return false
	}
	var roles []PortalRole
	if len(g.RequesterGroups) == 0 || in(g.RequesterGroups) {
		roles = append(roles, RoleRequester)
	}
	if in(g.ApproverGroups) {
		roles = append(roles, RoleApprover)
	}
	if in(g.AuditorGroups) {
		roles = append(roles, RoleAuditor)
	}
	if in(g.AdminGroups) {
		roles = append(roles, RoleAdmin)
	}
	return roles
}
