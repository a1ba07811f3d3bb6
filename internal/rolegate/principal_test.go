package rolegate

import (
	"slices"
	"testing"
)

func TestRolesFor(t *testing.T) {
	policy := GroupPolicy{
		ApproverGroups: []string{"approvers", "6f1c2a9e-0000-4000-8000-00000000a001"},
		AuditorGroups:  []string{"auditors"},
		ApproverEmails: []string{"alex@example.com"},
		AdminEmails:    []string{" Drew@Example.com "},
	}
	tests := []struct {
		name          string
		groups        []string
		verifiedEmail string
		want          []PortalRole
	}{
		{"no groups, no email", nil, "", []PortalRole{RoleRequester}},
		{"group name", []string{"approvers"}, "", []PortalRole{RoleRequester, RoleApprover}},
		{"group object id", []string{"6f1c2a9e-0000-4000-8000-00000000a001"}, "", []PortalRole{RoleRequester, RoleApprover}},
		{"group names are exact", []string{"Approvers"}, "", []PortalRole{RoleRequester}},
		{"verified email", nil, "alex@example.com", []PortalRole{RoleRequester, RoleApprover}},
		{"email in another case, with spaces", nil, "  ALEX@example.COM ", []PortalRole{RoleRequester, RoleApprover}},
		{"listed email trimmed too", nil, "drew@example.com", []PortalRole{RoleRequester, RoleAdmin}},
		{"unlisted email", nil, "rita@example.com", []PortalRole{RoleRequester}},
		{"groups and email add up", []string{"auditors"}, "alex@example.com", []PortalRole{RoleRequester, RoleApprover, RoleAuditor}},
	}
	for _, tt := range tests {
		if got := policy.RolesFor(tt.groups, tt.verifiedEmail); !slices.Equal(got, tt.want) {
			t.Errorf("%s: RolesFor(%q, %q) = %v; want %v", tt.name, tt.groups, tt.verifiedEmail, got, tt.want)
		}
	}

	// Requesters limited by groups or emails: either one suffices, and
	// nobody else is a requester.
	limited := GroupPolicy{RequesterGroups: []string{"staff"}, RequesterEmails: []string{"contractor@example.com"}}
	for _, tc := range []struct {
		groups []string
		email  string
		want   bool
	}{{[]string{"staff"}, "", true}, {nil, "contractor@example.com", true}, {nil, "other@example.com", false}, {nil, "", false}} {
		if got := slices.Contains(limited.RolesFor(tc.groups, tc.email), RoleRequester); got != tc.want {
			t.Errorf("limited requesters: RolesFor(%q, %q) holds requester = %v; want %v", tc.groups, tc.email, got, tc.want)
		}
	}
	onlyEmails := GroupPolicy{RequesterEmails: []string{"rita@example.com"}}
	if got := onlyEmails.RolesFor(nil, "someone@example.com"); len(got) != 0 {
		t.Errorf("requesters limited by email only: RolesFor(someone) = %v; want none", got)
	}
}
