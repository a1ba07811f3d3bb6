package rolegate

import (
	"strings"
	"testing"
)

var pickRoles = []UpstreamRole{
	{ID: "role_org_reader", Scope: ScopeOrganization, Name: "Support Reader"},
	{ID: "role_proj_reader", Scope: "proj_bot", ScopeName: "Support Bot", Name: "Support Reader"},
	{ID: "role_billing", Scope: ScopeOrganization, Name: "Billing Admin"},
}

func TestPickRole(t *testing.T) {
	for _, tc := range []struct {
		name, typed, wantID, wantMsg string
	}{
		{"its label picks it", "Support Reader (project Support Bot)", "role_proj_reader", ""},
		{"the label in any case", "support reader (ORGANIZATION)", "role_org_reader", ""},
		{"its id picks it", "role_billing", "role_billing", ""},
		{"a name only one role has picks it", " billing admin ", "role_billing", ""},
		{"a name two roles share asks which", "Support Reader", "", "Several roles are named Support Reader: pick one of Support Reader (organization) or Support Reader (project Support Bot)."},
		{"part of a name only suggests", "bill", "", "No role is named bill. Did you mean Billing Admin (organization)?"},
		{"nothing like it", "owner", "", "No role of the organization's picture has a name containing owner."},
		{"empty", "  ", "", "Pick the role to grant: type part of its name."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, msg := PickRole(pickRoles, tc.typed)
			if got.ID != tc.wantID || msg != tc.wantMsg {
				t.Fatalf("PickRole(%q) = %q, %q; want %q, %q", tc.typed, got.ID, msg, tc.wantID, tc.wantMsg)
			}
		})
	}
}

func TestPickGrantee(t *testing.T) {
	groups := []Group{{ID: "group_support", Name: "Support Team"}, {ID: "group_ops", Name: "Ops"}}
	users := []User{
		{ID: "user_riley", Name: "Riley Requester", Email: "riley@example.test"},
		{ID: "user_ops", Name: "Ops", Email: "ops@example.test"},
		{ID: "user_noemail", Name: "Sam"},
	}
	for _, tc := range []struct {
		name, typed, wantID, wantMsg string
	}{
		{"a group's label", "Support Team (group)", "group_support", ""},
		{"a group's exact name", "support team", "group_support", ""},
		{"a user's label", "Riley Requester <riley@example.test>", "user_riley", ""},
		{"a user's email in any case", "RILEY@example.test", "user_riley", ""},
		{"a user without email by label", "Sam (user user_noemail)", "user_noemail", ""},
		{"a name a group and a user share asks which", "Ops", "", "Several groups or people are named Ops: pick one of Ops (group) or Ops <ops@example.test>."},
		{"part of a name only suggests", "riley", "", "No group or person is named riley. Did you mean Riley Requester <riley@example.test>?"},
		{"unknown", "nobody@example.test", "", "No group or user of the organization, as rolegate last read them, matches nobody@example.test."},
		{"empty", "", "", "Pick a group or a person to grant the role to."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, msg := PickGrantee(groups, users, tc.typed)
			if got.ID != tc.wantID || msg != tc.wantMsg {
				t.Fatalf("PickGrantee(%q) = %q, %q; want %q, %q", tc.typed, got.ID, msg, tc.wantID, tc.wantMsg)
			}
		})
	}
}

func TestPickShowsTypedControlCharactersEscaped(t *testing.T) {
	_, msg := PickRole(pickRoles, "x\u202ey")
	if strings.ContainsRune(msg, '\u202e') {
		t.Fatalf("message carries the raw control character: %q", msg)
	}
}

func TestHoldingMessage(t *testing.T) {
	role := UpstreamRole{ID: "role_x", Name: "Triage"}
	names := func(id string) string { return map[string]string{"group_support": "Support Team"}[id] }
	user := Grantee{Kind: GranteeUser, ID: "user_riley", Name: "Riley Requester"}
	group := Grantee{Kind: GranteeGroup, ID: "group_support", Name: "Support Team"}
	for _, tc := range []struct {
		name string
		g    Grantee
		held []HeldRole
		want string
	}{
		{"not held", user, []HeldRole{{RoleID: "role_other", Direct: true}}, ""},
		{"held by the group", group, []HeldRole{{RoleID: "role_x", Direct: true}}, "The group Support Team already holds the role Triage: there is nothing to grant."},
		{"held by the user directly", user, []HeldRole{{RoleID: "role_x", Direct: true, ViaGroups: []string{"group_support"}}}, "Riley Requester already holds the role Triage: there is nothing to grant."},
		{"held through a group", user, []HeldRole{{RoleID: "role_x", ViaGroups: []string{"group_support", "group_gone"}}}, "Riley Requester already holds the role Triage through the groups Support Team, group_gone; a grant of their own would outlast leaving it."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := HoldingMessage(tc.g, role, tc.held, names); got != tc.want {
				t.Fatalf("got %q\nwant %q", got, tc.want)
			}
		})
	}
}
