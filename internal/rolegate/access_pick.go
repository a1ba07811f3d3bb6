package rolegate

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
)

// Picking the role and the grantee of an access request from what a
// person typed (issue 17). The form offers every role of the picture and
// every group and user of the directory by a label; a person may also type
// a role's exact name or id, a group's exact name, or a user's email.
// Nothing is picked from a partial match: a part of a name only suggests.

// maxSuggestions bounds the "did you mean" list of a message.
const maxSuggestions = 5

// RoleLabel names a role on the Request access form: its name and where
// it lives, "Support Reader (organization)" or "Triage (project Support
// Bot)".
func RoleLabel(r UpstreamRole) string {
	if r.Scope == ScopeOrganization {
		return r.Name + " (organization)"
	}
	return r.Name + " (project " + cmp.Or(r.ScopeName, r.Scope) + ")"
}

// PickRole is the role typed names among roles: its label, its id, or its
// exact name when only one role has it (case does not matter). When none
// or several match, the message says so and suggests the roles whose
// names contain what was typed.
func PickRole(roles []UpstreamRole, typed string) (UpstreamRole, string) {
	t := strings.TrimSpace(typed)
	if t == "" {
		return UpstreamRole{}, "Pick the role to grant: type part of its name."
	}
	var named, containing []UpstreamRole
	for _, r := range roles {
		switch {
		case strings.EqualFold(RoleLabel(r), t), r.ID == t:
			return r, ""
		case strings.EqualFold(r.Name, t):
			named = append(named, r)
		case strings.Contains(strings.ToLower(r.Name), strings.ToLower(t)):
			containing = append(containing, r)
		}
	}
	shown := printable(truncate(t, 80))
	switch {
	case len(named) == 1:
		return named[0], ""
	case len(named) > 1:
		return UpstreamRole{}, fmt.Sprintf("Several roles are named %s: pick one of %s.", shown, roleLabels(named))
	case len(containing) > 0:
		return UpstreamRole{}, fmt.Sprintf("No role is named %s. Did you mean %s?", shown, roleLabels(containing))
	}
	return UpstreamRole{}, fmt.Sprintf("No role of the organization's picture has a name containing %s.", shown)
}

func roleLabels(roles []UpstreamRole) string {
	labels := make([]string, 0, min(len(roles), maxSuggestions))
	for _, r := range roles[:min(len(roles), maxSuggestions)] {
		labels = append(labels, RoleLabel(r))
	}
	return orList(labels, len(roles))
}

// GranteeLabel names a group or user on the form: "Support Team (group)",
// "Riley Requester <riley@example.test>", or a user without an email by
// name and id.
func GranteeLabel(g Grantee) string {
	if g.Kind == GranteeGroup {
		return cmp.Or(g.Name, g.ID) + " (group)"
	}
	if g.Email == "" {
		return cmp.Or(g.Name, g.ID) + " (user " + g.ID + ")"
	}
	if g.Name == "" || strings.EqualFold(g.Name, g.Email) {
		return g.Email
	}
	return g.Name + " <" + g.Email + ">"
}

// GroupGrantee and UserGrantee are the directory's entries as grantees.
func GroupGrantee(g Group) Grantee { return Grantee{Kind: GranteeGroup, ID: g.ID, Name: g.Name} }
func UserGrantee(u User) Grantee {
	return Grantee{Kind: GranteeUser, ID: u.ID, Name: u.Name, Email: u.Email}
}

// PickGrantee is the group or user typed names: a label, a user's email,
// or the exact name of one group or one user. When none or several
// match, the message says so and suggests those whose name or email
// contains what was typed.
func PickGrantee(groups []Group, users []User, typed string) (Grantee, string) {
	t := strings.TrimSpace(typed)
	if t == "" {
		return Grantee{}, "Pick a group or a person to grant the role to."
	}
	lt := strings.ToLower(t)
	var named, containing []Grantee
	consider := func(g Grantee, name, email string) bool {
		switch {
		case strings.EqualFold(GranteeLabel(g), t), g.ID == t, email != "" && strings.EqualFold(email, t):
			return true
		case strings.EqualFold(name, t):
			named = append(named, g)
		case strings.Contains(strings.ToLower(name), lt) || strings.Contains(strings.ToLower(email), lt):
			containing = append(containing, g)
		}
		return false
	}
	for _, grp := range groups {
		if g := GroupGrantee(grp); consider(g, grp.Name, "") {
			return g, ""
		}
	}
	for _, u := range users {
		if g := UserGrantee(u); consider(g, u.Name, u.Email) {
			return g, ""
		}
	}
	shown := printable(truncate(t, 80))
	switch {
	case len(named) == 1:
		return named[0], ""
	case len(named) > 1:
		return Grantee{}, fmt.Sprintf("Several groups or people are named %s: pick one of %s.", shown, granteeLabels(named))
	case len(containing) > 0:
		return Grantee{}, fmt.Sprintf("No group or person is named %s. Did you mean %s?", shown, granteeLabels(containing))
	}
	return Grantee{}, fmt.Sprintf("No group or user of the organization, as rolegate last read them, matches %s.", shown)
}

func granteeLabels(gs []Grantee) string {
	labels := make([]string, 0, min(len(gs), maxSuggestions))
	for _, g := range gs[:min(len(gs), maxSuggestions)] {
		labels = append(labels, GranteeLabel(g))
	}
	return orList(labels, len(gs))
}

// orList joins labels as "A, B or C", saying how many more there were.
func orList(labels []string, total int) string {
	if total > len(labels) {
		return strings.Join(labels, ", ") + fmt.Sprintf(" (or %d more)", total-len(labels))
	}
	if len(labels) == 1 {
		return labels[0]
	}
	return strings.Join(labels[:len(labels)-1], ", ") + " or " + labels[len(labels)-1]
}

// HeldRole is a role a group or user holds upstream now: directly, and/or
// through the groups listed (for a user, as the upstream shows it).
type HeldRole struct {
	RoleID    string
	Direct    bool
	ViaGroups []string // group ids
}

// AssignmentReader reads which roles a group or user holds upstream, in
// the scope given (the organization, or a project's id). The form's live
// check asks it; filing and provisioning never trust it (provisioning
// looks again before assigning).
type AssignmentReader interface {
	HeldRoles(ctx context.Context, scope string, g Grantee) ([]HeldRole, error)
}

// HoldingMessage says when g already holds role: directly, or for a user
// through a group (named by groupName); "" when not.
func HoldingMessage(g Grantee, role UpstreamRole, held []HeldRole, groupName func(id string) string) string {
	i := slices.IndexFunc(held, func(h HeldRole) bool { return h.RoleID == role.ID })
	if i < 0 {
		return ""
	}
	h := held[i]
	who := "The group " + cmp.Or(g.Name, g.ID)
	if g.Kind == GranteeUser {
		who = cmp.Or(g.Name, g.Email, g.ID)
	}
	if h.Direct || len(h.ViaGroups) == 0 {
		return fmt.Sprintf("%s already holds the role %s: there is nothing to grant.", who, role.Name)
	}
	names := make([]string, 0, len(h.ViaGroups))
	for _, id := range h.ViaGroups {
		names = append(names, cmp.Or(groupName(id), id))
	}
	via := "the group " + names[0]
	if len(names) > 1 {
		via = "the groups " + strings.Join(names, ", ")
	}
	return fmt.Sprintf("%s already holds the role %s through %s; a grant of their own would outlast leaving it.", who, role.Name, via)
}
