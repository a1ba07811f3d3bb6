package rolegate_test

import (
	"strings"
	"testing"
	"time"

	"github.com/rolegate/rolegate/internal/rolegate"
)

var (
	support = rolegate.Grantee{Kind: rolegate.GranteeGroup, ID: "group_support", Name: "Support Team"}
	riley   = rolegate.Grantee{Kind: rolegate.GranteeUser, ID: "user_riley", Name: "Riley Requester", Email: "riley@example.test"}
)

// The assign and remove calls of every path: organization or project,
// group or user; a project role's call stays in its project.
func TestAssignAndRemoveCallsOfEveryPath(t *testing.T) {
	for _, tc := range []struct {
		scope   string
		grantee rolegate.Grantee
		assign  string
	}{
		{rolegate.ScopeOrganization, support, "POST /v1/organization/groups/group_support/roles"},
		{rolegate.ScopeOrganization, riley, "POST /v1/organization/users/user_riley/roles"},
		{"proj_a", support, "POST /v1/projects/proj_a/groups/group_support/roles"},
		{"proj_a", riley, "POST /v1/projects/proj_a/users/user_riley/roles"},
	} {
		if got := rolegate.AssignCall(tc.scope, tc.grantee).String(); got != tc.assign {
			t.Errorf("AssignCall(%q, %s) = %s; want %s", tc.scope, tc.grantee, got, tc.assign)
		}
		wantRemove := "DELETE" + strings.TrimPrefix(tc.assign, "POST") + "/role_x"
		if got := rolegate.RemoveCall(tc.scope, tc.grantee, "role_x").String(); got != wantRemove {
			t.Errorf("RemoveCall(%q, %s) = %s; want %s", tc.scope, tc.grantee, got, wantRemove)
		}
	}
}

// An approval binds the whole assign call: another role, another grantee,
// another kind of grantee or another scope is another binding, and the
// body is exactly {"role_id":"…"}.
func TestAnAccessApprovalBindsTheWholeCall(t *testing.T) {
	body, hash := rolegate.AssignPayload("role_1")
	if string(body) != `{"role_id":"role_1"}` || hash != rolegate.PayloadHash(body) {
		t.Errorf("AssignPayload = %s, %s", body, hash)
	}
	base := rolegate.AssignBinding(rolegate.ScopeOrganization, support, "role_1")
	if want := rolegate.CallBinding(rolegate.AssignCall(rolegate.ScopeOrganization, support), body); base != want {
		t.Errorf("AssignBinding = %s; want the call binding %s", base, want)
	}
	asUser := support
	asUser.Kind = rolegate.GranteeUser
	for name, other := range map[string]string{
		"another role":       rolegate.AssignBinding(rolegate.ScopeOrganization, support, "role_2"),
		"another grantee":    rolegate.AssignBinding(rolegate.ScopeOrganization, riley, "role_1"),
		"a user of that id":  rolegate.AssignBinding(rolegate.ScopeOrganization, asUser, "role_1"),
		"a project's path":   rolegate.AssignBinding("proj_a", support, "role_1"),
		"the create binding": rolegate.CallBinding(rolegate.CallFor(rolegate.ScopeOrganization), body),
	} {
		if other == base {
			t.Errorf("%s binds the same as the approved call", name)
		}
	}
}

func TestUntilIsADateOrADateAndTimeInUTC(t *testing.T) {
	for _, tc := range []struct {
		typed string
		want  string
		ok    bool
	}{
		{"", "0001-01-01T00:00:00Z", true},
		{"2026-12-31", "2027-01-01T00:00:00Z", true}, // the whole of the 31st
		{" 2026-12-31T17:30 ", "2026-12-31T17:30:00Z", true},
		{"2026-12-31T17:30:15", "2026-12-31T17:30:15Z", true},
		{"2026-12-31T17:30:00+01:00", "2026-12-31T16:30:00Z", true},
		{"31/12/2026", "", false},
		{"tomorrow", "", false},
		{"2026-02-30", "", false},
	} {
		got, ok := rolegate.ParseUntil(tc.typed)
		if ok != tc.ok || (ok && got.Format(time.RFC3339) != tc.want) {
			t.Errorf("ParseUntil(%q) = %v, %v; want %s, %v", tc.typed, got, ok, tc.want, tc.ok)
		}
	}
}

// Until is bounded by ROLEGATE_ACCESS_MAX_DURATION: empty is the longest
// allowed (no end with 0), the past and beyond the bound are refused
// beside the field.
func TestUntilIsBoundedByTheMaximumDuration(t *testing.T) {
	now := time.Date(2026, 12, 3, 18, 0, 0, 0, time.UTC)
	max := rolegate.DefaultAccessMaxDuration
	for _, tc := range []struct {
		typed string
		max   time.Duration
		want  string // RFC 3339, or the start of the message
	}{
		{"", max, "2027-03-03T18:00:00Z"},
		{"", 0, "0001-01-01T00:00:00Z"},
		{"2026-12-10", max, "2026-12-11T00:00:00Z"},
		{"2030-01-01", 0, "2030-01-02T00:00:00Z"},
		{"2026-12-03T18:00", max, "The end of access must be in the future."},
		{"2026-12-01", max, "The end of access must be in the future."},
		{"2027-03-04", max, "Access can last at most 90 days: pick a date on or before 2027-03-03."},
		{"soon", max, "Enter the date access ends"},
	} {
		got, msg := rolegate.ResolveUntil(tc.typed, now, tc.max)
		text := msg
		if msg == "" {
			text = got.Format(time.RFC3339)
		}
		if !strings.HasPrefix(text, tc.want) {
			t.Errorf("ResolveUntil(%q, max %v) = %q; want %q", tc.typed, tc.max, text, tc.want)
		}
	}
}

// Bad input is refused beside its field, naming what does not exist; a
// project's role granted outside its project is refused as crossing
// projects.
func TestAccessInputIsRefusedBesideItsField(t *testing.T) {
	now := time.Date(2026, 12, 3, 18, 0, 0, 0, time.UTC)
	orgRole := rolegate.UpstreamRole{ID: "role_org", Name: "Usage Readers", Permissions: []string{"api.usage.read"}}
	projRole := rolegate.UpstreamRole{ID: "role_p", Scope: "proj_a", ScopeName: "Alpha", Name: "Key Readers"}
	good := rolegate.AccessInput{RoleID: "role_org", Grantee: support, Justification: "Support needs the usage numbers for INC-12."}
	facts := rolegate.AccessFacts{Role: orgRole, RoleFound: true, Grantee: support, GranteeFound: true}

	until, errs := rolegate.ValidateAccess(good, facts, now, rolegate.DefaultAccessMaxDuration)
	if errs != nil || !until.Equal(now.Add(rolegate.DefaultAccessMaxDuration)) {
		t.Fatalf("a good input: %v, %v", until, errs)
	}
	projFacts := rolegate.AccessFacts{Role: projRole, RoleFound: true, Project: rolegate.Project{ID: "proj_a", Name: "Alpha"}, ProjectFound: true, Grantee: support, GranteeFound: true}
	inProject := good
	inProject.RoleID, inProject.RoleScope = "role_p", "proj_a"
	if _, errs := rolegate.ValidateAccess(inProject, projFacts, now, 0); errs != nil {
		t.Errorf("a project role in its project: %v", errs)
	}

	for _, tc := range []struct {
		name   string
		change func(*rolegate.AccessInput, *rolegate.AccessFacts)
		field  rolegate.Field
		want   string
	}{
		{"no role", func(in *rolegate.AccessInput, _ *rolegate.AccessFacts) { in.RoleID = "" }, rolegate.FieldRole, "Pick the role"},
		{"unknown role", func(in *rolegate.AccessInput, f *rolegate.AccessFacts) { in.RoleID, f.RoleFound = "role_gone", false }, rolegate.FieldRole, "The role role_gone is not one"},
		{"a project role outside its project", func(in *rolegate.AccessInput, f *rolegate.AccessFacts) {
			in.RoleID, in.RoleScope, *f = "role_p", "proj_b", projFacts
		}, rolegate.FieldRole, "belongs to the project Alpha (proj_a), not to the project proj_b"},
		{"a project role at the organization's level", func(in *rolegate.AccessInput, f *rolegate.AccessFacts) {
			in.RoleID, in.RoleScope, *f = "role_p", "", projFacts
		}, rolegate.FieldRole, "not to the organization"},
		{"an archived project", func(in *rolegate.AccessInput, f *rolegate.AccessFacts) {
			in.RoleID, in.RoleScope, *f = "role_p", "proj_a", projFacts
			f.Project.Archived = true
		}, rolegate.FieldRole, "The project Alpha of the role Key Readers is archived"},
		{"no grantee", func(in *rolegate.AccessInput, _ *rolegate.AccessFacts) { in.Grantee = rolegate.Grantee{} }, rolegate.FieldGrantee, "Pick a group or a person"},
		{"unknown group", func(in *rolegate.AccessInput, f *rolegate.AccessFacts) {
			in.Grantee.ID, f.GranteeFound = "group_gone", false
		}, rolegate.FieldGrantee, "The group group_gone is not one of the organization's groups"},
		{"unknown user", func(in *rolegate.AccessInput, f *rolegate.AccessFacts) {
			in.Grantee, f.GranteeFound = rolegate.Grantee{Kind: rolegate.GranteeUser, ID: "user_gone"}, false
		}, rolegate.FieldGrantee, "The user user_gone is not one of the organization's users"},
		{"a forged grantee kind", func(in *rolegate.AccessInput, _ *rolegate.AccessFacts) { in.Grantee.Kind = "robot" }, rolegate.FieldGrantee, "Pick a group or a person"},
		{"until in the past", func(in *rolegate.AccessInput, _ *rolegate.AccessFacts) { in.Until = "2026-01-01" }, rolegate.FieldUntil, "The end of access must be in the future."},
		{"until malformed", func(in *rolegate.AccessInput, _ *rolegate.AccessFacts) { in.Until = "next week" }, rolegate.FieldUntil, "Enter the date"},
		{"no justification", func(in *rolegate.AccessInput, _ *rolegate.AccessFacts) { in.Justification = "  " }, rolegate.FieldJustification, "Say why this access is needed."},
		{"hidden characters", func(in *rolegate.AccessInput, _ *rolegate.AccessFacts) {
			in.Justification = "Needed for \u202eINC-12 today"
		}, rolegate.FieldJustification, "invisible characters"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in, f := good, facts
			tc.change(&in, &f)
			_, errs := rolegate.ValidateAccess(in, f, now, rolegate.DefaultAccessMaxDuration)
			if !strings.Contains(errs[tc.field], tc.want) {
				t.Errorf("message beside %s = %q; want %q (all: %v)", tc.field, errs[tc.field], tc.want, errs)
			}
		})
	}
}

// Nobody approves access they would receive: not as the user it goes
// to, not as a member of the group it goes to (by the upstream's
// membership); the refusal says why. An approver in another group, or
// who is no user of the organization, may.
func TestNobodyApprovesAccessTheyWouldReceive(t *testing.T) {
	avery := rolegate.Beneficiary{Found: true, User: rolegate.User{ID: "user_avery"},
		Groups: []rolegate.Group{{ID: "group_research", Name: "Research"}, {ID: "group_support", Name: "Support Team"}}}
	err := rolegate.CheckSelfBenefit(support, avery)
	if rolegate.ErrorCode(err) != rolegate.EFORBIDDEN || !strings.Contains(rolegate.ErrorMessage(err), "you are a member of the group Support Team") {
		t.Errorf("a member of the group approving: %v", err)
	}
	rileyAsApprover := rolegate.Beneficiary{Found: true, User: rolegate.User{ID: "user_riley"}}
	if err := rolegate.CheckSelfBenefit(riley, rileyAsApprover); rolegate.ErrorCode(err) != rolegate.EFORBIDDEN ||
		!strings.Contains(rolegate.ErrorMessage(err), "granted to you") {
		t.Errorf("the user approving their own access: %v", err)
	}
	blake := rolegate.Beneficiary{Found: true, User: rolegate.User{ID: "user_blake"}, Groups: []rolegate.Group{{ID: "group_research"}}}
	for name, b := range map[string]rolegate.Beneficiary{"outside the group": blake, "no user of the organization": {}} {
		if err := rolegate.CheckSelfBenefit(support, b); err != nil {
			t.Errorf("an approver %s: %v", name, err)
		}
	}
	if err := rolegate.CheckSelfBenefit(riley, avery); err != nil {
		t.Errorf("another user's access: %v", err)
	}
}

// A role with a sensitive permission needs one more approval to be
// granted, as it did to be created.
func TestGrantingASensitiveRoleNeedsOneMoreApproval(t *testing.T) {
	catalog := rolegate.NewCatalog([]rolegate.Permission{{Name: "api.usage.read"}, {Name: "api.organization.admin_api_keys.write", Sensitive: true}})
	plain := rolegate.UpstreamRole{Permissions: []string{"api.usage.read"}}
	sensitive := rolegate.UpstreamRole{Permissions: []string{"api.usage.read", "api.organization.admin_api_keys.write"}}
	if got := rolegate.AccessRequiredApprovals(1, plain, catalog); got != 1 {
		t.Errorf("plain role: %d approvals; want 1", got)
	}
	if got := rolegate.AccessRequiredApprovals(2, sensitive, catalog); got != 3 {
		t.Errorf("sensitive role, base 2: %d approvals; want 3", got)
	}
}

// The requester is told a day before access ends, once; at Until the
// removal is due; access without an end never is.
func TestWhatIsDueAsAccessEnds(t *testing.T) {
	until := time.Date(2026, 12, 10, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		now      time.Time
		reminded bool
		want     rolegate.AccessEnding
	}{
		{until.Add(-48 * time.Hour), false, rolegate.AccessRunning},
		{until.Add(-24 * time.Hour), false, rolegate.AccessRemindDue},
		{until.Add(-time.Hour), true, rolegate.AccessRunning},
		{until, true, rolegate.AccessRemovalDue},
		{until.Add(time.Hour), false, rolegate.AccessRemovalDue},
	} {
		if got := rolegate.EndingAt(until, tc.reminded, tc.now); got != tc.want {
			t.Errorf("EndingAt(%v, reminded %v, %v) = %v; want %v", until, tc.reminded, tc.now, got, tc.want)
		}
	}
	if got := rolegate.EndingAt(time.Time{}, false, until); got != rolegate.AccessRunning {
		t.Errorf("access without an end: %v", got)
	}
}

func TestKindsAndGranteesAreNamedForPeople(t *testing.T) {
	if rolegate.KindAccess.Label() != "Access" || rolegate.KindRole.Label() != "New role" {
		t.Errorf("labels: %q, %q", rolegate.KindAccess.Label(), rolegate.KindRole.Label())
	}
	if support.String() != "group Support Team" || riley.String() != "user Riley Requester (riley@example.test)" {
		t.Errorf("grantees: %q, %q", support, riley)
	}
}

// The messages of an access request say what is granted to whom and
// until when; the requester is told when access ends, and why; webhooks
// carry the request's kind.
func TestAccessNoticesSayWhatIsGrantedToWhom(t *testing.T) {
	until := time.Date(2026, 12, 10, 0, 0, 0, 0, time.UTC)
	f := rolegate.NotificationFacts{Kind: rolegate.NoticeSubmitted, RequestID: 7, RoleName: "Usage Readers", Status: rolegate.StatusPending,
		RequestKind: "access", Grantee: support.String(), Until: until, RequiredApprovals: 1,
		Requester: &rolegate.NoticePerson{Name: "Riley Requester"}}
	m := rolegate.DescribeNotice(f, rolegate.AudienceApprover)
	if !strings.Contains(m.Heading, `Riley Requester asks for the role "Usage Readers" to be granted to the group Support Team, until`) ||
		!strings.Contains(m.Subject, "access to the role") {
		t.Errorf("submitted: %q / %q", m.Subject, m.Heading)
	}
	f.Kind, f.Comment, f.Status = rolegate.NoticeAccessEnded, "The incident is closed.", rolegate.StatusProvisioned
	m = rolegate.DescribeNotice(f, rolegate.AudienceRequester)
	var reason string
	for _, field := range m.Fields {
		if field.Label == "Reason" {
			reason = field.Value
		}
	}
	if !strings.Contains(m.Heading, "no longer holds the role") || reason != "The incident is closed." {
		t.Errorf("ended: %q, reason %q", m.Heading, reason)
	}
	if ch := f.For(rolegate.AudienceChannel); ch.RequestKind != "access" || ch.Grantee != "" || ch.Comment != "" {
		t.Errorf("a webhook's facts: %+v; want the kind and nothing of the grant's detail", ch)
	}
}
