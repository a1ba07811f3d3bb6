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

// GroupPolicy maps identity-provider groups, and verified emails, to
// portal roles. Group values are compared exactly: names, or the object ids
// some providers send (Microsoft Entra ID).
type GroupPolicy struct {
	RequesterGroups []string // with RequesterEmails empty too: everyone signed in is a requester
	ApproverGroups  []string
	AuditorGroups   []string
	AdminGroups     []string
	// Emails holding each role beside the groups, for providers that
	// release no groups claim; compared case-insensitively.
	RequesterEmails []string
	ApproverEmails  []string
	AuditorEmails   []string
	AdminEmails     []string
}

// RolesFor returns the portal roles that the given groups grant, and that
// verifiedEmail grants when not empty. The caller passes an email only
// when the provider said it is verified: at many providers anyone can put
// any address on their own account.
func (g GroupPolicy) RolesFor(groups []string, verifiedEmail string) []PortalRole {
	email := strings.ToLower(strings.TrimSpace(verifiedEmail))
	holds := func(wantGroups, wantEmails []string) bool {
		for _, w := range wantGroups {
			if slices.Contains(groups, w) {
				return true
			}
		}
		if email == "" {
			return false
		}
		return slices.ContainsFunc(wantEmails, func(e string) bool { return strings.EqualFold(strings.TrimSpace(e), email) })
	}
	var roles []PortalRole
	if (len(g.RequesterGroups) == 0 && len(g.RequesterEmails) == 0) || holds(g.RequesterGroups, g.RequesterEmails) {
		roles = append(roles, RoleRequester)
	}
	if holds(g.ApproverGroups, g.ApproverEmails) {
		roles = append(roles, RoleApprover)
	}
	if holds(g.AuditorGroups, g.AuditorEmails) {
		roles = append(roles, RoleAuditor)
	}
	if holds(g.AdminGroups, g.AdminEmails) {
		roles = append(roles, RoleAdmin)
	}
	return roles
}
