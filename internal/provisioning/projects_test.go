package provisioning_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rolegate/rolegate/internal/rolegate"
	"github.com/rolegate/rolegate/internal/simulator"
)

var rigProjectCatalog = rolegate.NewCatalog([]rolegate.Permission{
	{Name: "api.organization.projects.api_keys.read", Area: "Project API keys", ResourceType: rolegate.ResourceProject},
	{Name: "api.organization.projects.users.read", Area: "Project members", ResourceType: rolegate.ResourceProject},
})

var twoProjects = []simulator.ProjectSeed{{Name: "Payments"}, {Name: "Research"}}

// fileIn stores a pending request for a role in project projectID.
func (r *rig) fileIn(projectID, name string) *rolegate.Request {
	r.t.Helper()
	req, err := r.requests.Create(r.ctx, rigRequester, rolegate.RequestInput{
		Scope: projectID, RoleName: name, Permissions: []string{"api.organization.projects.api_keys.read"},
		Description: "Reads the project's keys.", Justification: "Needed for the quarterly key review.",
	}, rigProjectCatalog)
	if err != nil {
		r.t.Fatalf("create %q in %s: %v", name, projectID, err)
	}
	return req
}

func customOf(roles []simulator.Role) []simulator.Role {
	return slices.DeleteFunc(roles, func(r simulator.Role) bool { return r.Predefined })
}

// A project request is created with POST /v1/projects/{id}/roles, once, in
// that project; the organization's path is never used, and every record of
// it names the project.
func TestAProjectRequestIsCreatedInItsProjectOnly(t *testing.T) {
	t.Parallel()
	r := newRig(t, rigOptions{Projects: twoProjects})
	payments, research := r.sim.Projects()[0], r.sim.Projects()[1]
	r.start()
	req := r.fileIn(payments.ID, "Key Readers")
	r.approve(req)

	got := r.settle(req.ID)
	if got.Status != rolegate.StatusProvisioned {
		t.Fatalf("status = %s (%q); want provisioned", got.Status, got.FailureMessage)
	}
	inProject := customOf(r.sim.ProjectRoles(payments.ID))
	if len(inProject) != 1 || inProject[0].ID != got.UpstreamRoleID || got.UpstreamResourceType != "api.project" {
		t.Errorf("roles in the project = %+v, stored %s %s; want exactly the one stored, api.project", inProject, got.UpstreamRoleID, got.UpstreamResourceType)
	}
	if org, other := customOf(r.sim.Roles()), customOf(r.sim.ProjectRoles(research.ID)); len(org) != 0 || len(other) != 0 {
		t.Errorf("roles elsewhere: organization %+v, other project %+v; want none", org, other)
	}
	if path := r.sim.LastCreatePath(); path != "/v1/projects/"+payments.ID+"/roles" || r.sim.CreateCalls() != 1 {
		t.Errorf("sent %d creates, the last to %s; want one, to the project's path", r.sim.CreateCalls(), path)
	}
	sent := rolegate.Call{Method: "POST", Path: r.sim.LastCreatePath()}
	if rolegate.CallBinding(sent, r.sim.LastCreateBody()) != got.Approvals[0].PayloadHash {
		t.Errorf("the call sent does not hash to what the approver approved")
	}
	for _, e := range r.events(req.ID) {
		switch e.Action {
		case rolegate.ActionRequestCreated, rolegate.ActionRequestApproved, rolegate.ActionProvisioningSucceeded:
			d := details(t, e)
			if d["scope"] != payments.ID || d["scope_name"] != "Payments" {
				t.Errorf("%s details = %v; want scope %s named Payments", e.Action, d, payments.ID)
			}
		}
	}
}

// A project archived between the approval and the worker fails the request
// with the upstream's own words, and the role is created nowhere else.
func TestAProjectArchivedAfterApprovalFailsWithTheUpstreamsMessage(t *testing.T) {
	t.Parallel()
	r := newRig(t, rigOptions{Projects: twoProjects})
	payments := r.sim.Projects()[0]
	req := r.fileIn(payments.ID, "Key Readers")
	r.approve(req)
	if err := r.sim.ArchiveProject(payments.ID); err != nil {
		t.Fatal(err)
	}
	r.start()
	got := r.settle(req.ID)
	if got.Status != rolegate.StatusFailed || !strings.Contains(got.FailureMessage, "The project '"+payments.ID+"' is archived") {
		t.Errorf("request = %s %q; want failed with the upstream's message", got.Status, got.FailureMessage)
	}
	if n := r.sim.CreateCalls(); n != 1 || r.sim.LastCreatePath() != "/v1/projects/"+payments.ID+"/roles" {
		t.Errorf("CreateCalls() = %d to %s; want the one refused call to the project", n, r.sim.LastCreatePath())
	}
	if org, proj := customOf(r.sim.Roles()), customOf(r.sim.ProjectRoles(payments.ID)); len(org)+len(proj) != 0 {
		t.Errorf("roles created: organization %+v, project %+v; want none", org, proj)
	}
}

// The approvals bind the path too: a request moved to another scope after
// its approval (a forged change of the stored call) is never sent, to the
// other project or to the organization.
func TestAScopeChangedAfterApprovalIsNeverSent(t *testing.T) {
	t.Parallel()
	for _, to := range []string{"other project", "organization"} {
		t.Run(to, func(t *testing.T) {
			t.Parallel()
			r := newRig(t, rigOptions{Projects: twoProjects})
			payments, research := r.sim.Projects()[0], r.sim.Projects()[1]
			req := r.fileIn(payments.ID, "Key Readers")
			r.approve(req)
			target := research.ID
			if to == "organization" {
				target = ""
			}
			r.handEdit(`UPDATE requests SET scope = ?, scope_name = '' WHERE id = ?`, target, req.ID)
			r.start()
			r.wantFailedUnsent(req.ID, "does not match the one approved; nothing was sent")
		})
	}
}

// A request filed and approved before bindings covered the call (binding
// version 1: its approvals hold the body's hash) provisions exactly as
// before, to the organization's path; such a request moved into a project
// is refused, since its approvals never covered a project's path.
func TestARequestBoundToItsBodyAloneProvisionsAsBefore(t *testing.T) {
	t.Parallel()
	t.Run("as filed", func(t *testing.T) {
		t.Parallel()
		r := newRig(t, rigOptions{})
		req := r.file("Group Reader")
		r.handEdit(`UPDATE requests SET binding_version = 1, binding_hash = payload_hash WHERE id = ?`, req.ID)
		old := r.get(req.ID)
		if old.Binding() != old.PayloadHash {
			t.Fatalf("a version 1 request binds to %s; want its payload's hash", old.Binding())
		}
		r.approve(old)
		r.start()
		got := r.wantProvisionedOnce(req.ID)
		if got.Approvals[0].PayloadHash != rolegate.PayloadHash(r.sim.LastCreateBody()) || r.sim.LastCreatePath() != "/v1/organization/roles" {
			t.Errorf("sent %s to %s; want the approved body to the organization's path", r.sim.LastCreateBody(), r.sim.LastCreatePath())
		}
	})
	t.Run("moved into a project", func(t *testing.T) {
		t.Parallel()
		r := newRig(t, rigOptions{Projects: twoProjects})
		req := r.file("Group Reader")
		r.handEdit(`UPDATE requests SET binding_version = 1, binding_hash = payload_hash WHERE id = ?`, req.ID)
		r.approve(r.get(req.ID))
		r.handEdit(`UPDATE requests SET scope = ? WHERE id = ?`, r.sim.Projects()[0].ID, req.ID)
		r.start()
		r.wantFailedUnsent(req.ID, "covers only POST /v1/organization/roles")
	})
}

// Reconcile before a repeat lists the roles of the request's project: a
// create applied upstream whose answer never came is adopted there, once.
func TestAProjectCreateWhoseAnswerWasLostIsAdoptedFromItsProject(t *testing.T) {
	t.Parallel()
	r := newRig(t, rigOptions{Projects: twoProjects, CallTimeout: 300 * time.Millisecond})
	payments := r.sim.Projects()[0]
	r.sim.FailNext(1, simulator.Fault{Kind: simulator.FaultHangAfterApply, Op: simulator.OpCreate})
	r.start()
	req := r.fileIn(payments.ID, "Key Readers")
	r.approve(req)
	got := r.settle(req.ID)
	if got.Status != rolegate.StatusProvisioned {
		t.Fatalf("status = %s (%q); want provisioned", got.Status, got.FailureMessage)
	}
	if roles := customOf(r.sim.ProjectRoles(payments.ID)); len(roles) != 1 || roles[0].ID != got.UpstreamRoleID || r.sim.CreateCalls() != 1 {
		t.Errorf("project roles = %+v after %d creates; want the one adopted", roles, r.sim.CreateCalls())
	}
	if actions := r.actions(req.ID); actions[len(actions)-1] != rolegate.ActionProvisioningAdopted {
		t.Errorf("last event = %s; want %s", actions[len(actions)-1], rolegate.ActionProvisioningAdopted)
	}
}
