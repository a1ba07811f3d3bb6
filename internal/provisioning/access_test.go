package provisioning_test

import (
	"slices"
	"testing"

	"github.com/rolegate/rolegate/internal/adminapi"
	"github.com/rolegate/rolegate/internal/rolegate"
	"github.com/rolegate/rolegate/internal/simulator"
)

// An approver as the directory knows them: Blake is in no group (the
// self-benefit rule itself is the store's, tested in internal/storetest).
var accessBlake = rolegate.Actor{Principal: rolegate.Principal{Person: rolegate.Person{Issuer: "test", Subject: "blake", Name: "Blake Approver", Email: "BLAKE@example.test"},
	Roles: []rolegate.PortalRole{rolegate.RoleRequester, rolegate.RoleApprover}}}

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
