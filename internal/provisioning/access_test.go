package provisioning_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/rolegate/rolegate/internal/adminapi"
	"github.com/rolegate/rolegate/internal/rolegate"
	"github.com/rolegate/rolegate/internal/simulator"
)

// Approvers as the directory knows them: Avery is in Research (dev
// groups), Blake in no group.
var (
	accessAvery = rolegate.Actor{Principal: rolegate.Principal{Person: rolegate.Person{Issuer: "test", Subject: "avery", Name: "Avery Approver", Email: "avery@example.test"},
		Roles: []rolegate.PortalRole{rolegate.RoleRequester, rolegate.RoleApprover}}}
	accessBlake = rolegate.Actor{Principal: rolegate.Principal{Person: rolegate.Person{Issuer: "test", Subject: "blake", Name: "Blake Approver", Email: "BLAKE@example.test"},
		Roles: []rolegate.PortalRole{rolegate.RoleRequester, rolegate.RoleApprover}}}
)

// newAccessRig is the rig with dev mode's directory and a project, a
// custom role in the organization and one in the project, and the picture
// read from the simulator as a sync would.
func newAccessRig(t *testing.T) (*rig, simulator.Role, simulator.Role) {
	t.Helper()
	r := newRig(t, rigOptions{Projects: []simulator.ProjectSeed{{Name: "Alpha"}}, Users: simulator.DevUsers(), Groups: simulator.DevGroups()})
	orgRole, err := r.sim.AddRole("Usage Readers", "", []string{"api.usage.read"})
	if err != nil {
		t.Fatal(err)
	}
	projRole, err := r.sim.AddProjectRole(r.sim.Projects()[0].ID, "Key Readers", "", []string{"api.organization.projects.api_keys.read"})
	if err != nil {
		t.Fatal(err)
	}
	client := adminapi.New(r.simURL, r.keys, nil)
	var read rolegate.OrganizationRead
	if read.Roles, err = client.OrganizationRoles(r.ctx); err != nil {
		t.Fatal(err)
	}
	if read.Projects, err = client.OrganizationProjects(r.ctx); err != nil {
		t.Fatal(err)
	}
	read.ProjectRoles = map[string][]rolegate.UpstreamRole{}
	for _, p := range read.Projects {
		if read.ProjectRoles[p.ID], err = client.ProjectRoles(r.ctx, p.ID); err != nil {
			t.Fatal(err)
		}
	}
	dir, err := client.OrganizationDirectory(r.ctx)
	if err != nil {
		t.Fatal(err)
	}
	read.Directory = &dir
	if _, err := r.store.Picture.ReplaceOrganization(r.ctx, read, nil); err != nil {
		t.Fatal(err)
	}
	return r, orgRole, projRole
}

func (r *rig) fileAccess(role simulator.Role, g rolegate.Grantee) *rolegate.Request {
	r.t.Helper()
	req, err := r.store.Requests(rolegate.RequestsConfig{RequiredApprovals: 1, HandedOff: r.worker.Wake}).CreateAccess(r.ctx, rigRequester, rolegate.AccessInput{
		RoleID: role.ID, RoleScope: role.Project, Grantee: g, Until: "", Justification: "Support needs the usage numbers for INC-12.",
	}, rigCatalog, rolegate.AccessConfig{MaxDuration: rolegate.DefaultAccessMaxDuration})
	if err != nil {
		r.t.Fatalf("file access to %s for %s: %v", role.Name, g, err)
	}
	return req
}

func grantee(kind rolegate.GranteeKind, id string) rolegate.Grantee {
	return rolegate.Grantee{Kind: kind, ID: id}
}

// Every assignment path (organization and project, group and user): the
// approved access is assigned once, exactly as approved, and read back;
// Provisioned means the simulator holds exactly that assignment.
func TestAccessIsAssignedOnceOnEveryPath(t *testing.T) {
	r, orgRole, projRole := newAccessRig(t)
	r.start()
	support, _ := r.sim.GroupNamed("Support Team")
	sam, _ := r.sim.UserByEmail("sam@example.test")
	for _, tc := range []struct {
		role simulator.Role
		g    rolegate.Grantee
		kind simulator.PrincipalKind
	}{
		{orgRole, grantee(rolegate.GranteeGroup, support.ID), simulator.PrincipalGroup},
		{orgRole, grantee(rolegate.GranteeUser, sam.ID), simulator.PrincipalUser},
		{projRole, grantee(rolegate.GranteeGroup, support.ID), simulator.PrincipalGroup},
		{projRole, grantee(rolegate.GranteeUser, sam.ID), simulator.PrincipalUser},
	} {
		before := r.sim.AssignCalls()
		req := r.fileAccess(tc.role, tc.g)
		if req.Call().String() != rolegate.AssignCall(tc.role.Project, tc.g).String() || req.Grantee.Name == "" {
			t.Errorf("request %d: call %s, grantee %+v", req.ID, req.Call(), req.Grantee)
		}
		if _, err := r.requests.ApproveWith(r.ctx, accessBlake, req.ID, req.Binding(), "", rolegate.Reauth{}); err != nil {
			t.Fatalf("approve %d: %v", req.ID, err)
		}
		got := r.settle(req.ID)
		want := simulator.Assignment{Kind: tc.kind, PrincipalID: tc.g.ID, Project: tc.role.Project, RoleID: tc.role.ID}
		if got.Status != rolegate.StatusProvisioned || !slices.Contains(r.sim.Assignments(), want) {
			t.Errorf("%s: %s (%s); upstream holds %v", req.Call(), got.Status, got.FailureMessage, r.sim.Assignments())
		}
		if n := r.sim.AssignCalls() - before; n != 1 {
			t.Errorf("%s: %d assign calls; want 1", req.Call(), n)
		}
		if got.UpstreamRoleID != "" {
			t.Errorf("an access request claims the role %s as its own", got.UpstreamRoleID)
		}
	}
	if n := len(r.sim.Assignments()); n != 4 {
		t.Errorf("%d assignments upstream; want the 4 approved", n)
	}
}

// Nobody approves access they would receive: Avery is in Research as the
// organization's group membership shows, so Avery cannot approve access
// for Research, and the refusal says why; Blake can.
func TestAnApproverInTheGroupCannotApproveItsAccess(t *testing.T) {
	r, orgRole, _ := newAccessRig(t)
	research, _ := r.sim.GroupNamed("Research")
	req := r.fileAccess(orgRole, grantee(rolegate.GranteeGroup, research.ID))
	_, err := r.requests.ApproveWith(r.ctx, accessAvery, req.ID, req.Binding(), "", rolegate.Reauth{})
	if rolegate.ErrorCode(err) != rolegate.EFORBIDDEN || !strings.Contains(rolegate.ErrorMessage(err), "member of the group Research") {
		t.Fatalf("Avery approving access for Research: %v", err)
	}
	if got := r.get(req.ID); got.Status != rolegate.StatusPending || got.ApprovalCount() != 0 {
		t.Errorf("after the refusal: %s with %d approvals", got.Status, got.ApprovalCount())
	}
	if _, err := r.requests.ApproveWith(r.ctx, accessBlake, req.ID, req.Binding(), "", rolegate.Reauth{}); err != nil {
		t.Errorf("Blake approving: %v", err)
	}
}

// An assignment that is already there (an earlier attempt whose answer
// was lost) is adopted, not assigned twice.
func TestALostAssignIsAdoptedNotRepeated(t *testing.T) {
	r, orgRole, _ := newAccessRig(t)
	support, _ := r.sim.GroupNamed("Support Team")
	r.sim.FailNext(1, simulator.Fault{Kind: simulator.FaultDropConnection, Op: simulator.OpAssign})
	r.start()
	req := r.fileAccess(orgRole, grantee(rolegate.GranteeGroup, support.ID))
	if _, err := r.requests.ApproveWith(r.ctx, accessBlake, req.ID, req.Binding(), "", rolegate.Reauth{}); err != nil {
		t.Fatal(err)
	}
	got := r.settle(req.ID)
	if got.Status != rolegate.StatusProvisioned || r.sim.AssignCalls() != 1 || len(r.sim.Assignments()) != 1 {
		t.Errorf("%s; %d assign calls, upstream %v; want provisioned by adoption after one call", got.Status, r.sim.AssignCalls(), r.sim.Assignments())
	}
	if acts := r.provisioningActions(req.ID); !slices.Contains(acts, rolegate.ActionProvisioningAdopted) {
		t.Errorf("timeline %v; want the adoption", acts)
	}
}

// Bad input is refused naming what does not exist, and the same grant
// cannot be open twice.
func TestAccessRequestsAreCheckedAgainstThePicture(t *testing.T) {
	r, orgRole, projRole := newAccessRig(t)
	support, _ := r.sim.GroupNamed("Support Team")
	reqs := r.store.Requests(rolegate.RequestsConfig{RequiredApprovals: 1})
	file := func(in rolegate.AccessInput) error {
		in.Justification = "Support needs the usage numbers for INC-12."
		_, err := reqs.CreateAccess(r.ctx, rigRequester, in, rigCatalog, rolegate.AccessConfig{MaxDuration: rolegate.DefaultAccessMaxDuration})
		return err
	}
	g := grantee(rolegate.GranteeGroup, support.ID)
	for _, tc := range []struct {
		in    rolegate.AccessInput
		field rolegate.Field
		want  string
	}{
		{rolegate.AccessInput{RoleID: "role_gone", Grantee: g}, rolegate.FieldRole, "The role role_gone is not one"},
		{rolegate.AccessInput{RoleID: orgRole.ID, Grantee: grantee(rolegate.GranteeGroup, "group_gone")}, rolegate.FieldGrantee, "The group group_gone"},
		{rolegate.AccessInput{RoleID: projRole.ID, RoleScope: "", Grantee: g}, rolegate.FieldRole, "can only be granted within its project"},
		{rolegate.AccessInput{RoleID: orgRole.ID, Grantee: g, Until: "2001-01-01"}, rolegate.FieldUntil, "in the future"},
	} {
		err := file(tc.in)
		if msg := rolegate.ErrorFields(err)[tc.field]; !strings.Contains(msg, tc.want) {
			t.Errorf("%+v: %v; want %q beside %s", tc.in, err, tc.want, tc.field)
		}
	}
	if err := file(rolegate.AccessInput{RoleID: orgRole.ID, Grantee: g}); err != nil {
		t.Fatal(err)
	}
	err := file(rolegate.AccessInput{RoleID: orgRole.ID, Grantee: g})
	if msg := rolegate.ErrorFields(err)[rolegate.FieldGrantee]; !strings.Contains(msg, "An open request already asks for the role Usage Readers") {
		t.Errorf("the same grant twice: %v", err)
	}
	// An access request for a role does not take the role's name.
	if msg, err := reqs.RoleNameTaken(r.ctx, rolegate.ScopeOrganization, "Usage Readers", rigApprover.Principal); err != nil || strings.Contains(msg, "Request #") {
		t.Errorf("name check after an access request: %q, %v", msg, err)
	}
}
