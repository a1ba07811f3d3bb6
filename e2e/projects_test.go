package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/rolegate/rolegate/internal/simulator"
	"github.com/rolegate/rolegate/internal/sso/ssotest"
	"github.com/rolegate/rolegate/internal/testkit"
)

// chooseScope picks the project named name in the New request form's Scope
// field, as a person would with the keyboard, and waits for the project
// permissions to be offered.
func chooseScope(pe *person, name, projectPerm string) {
	pe.t.Helper()
	pe.do("choose the scope "+name, chromedp.SendKeys(field("Scope"), name))
	pe.see(permissionBox(projectPerm))
}

// A project role, from the form to the upstream: filed with Scope = a
// project, approved, Provisioned, and created in that project only (the
// organization's path is never used); the request page names the project.
func TestAProjectRoleIsFiledApprovedAndProvisionedInItsProject(t *testing.T) {
	testkit.NeedsBrowser(t)
	t.Parallel()
	p := startPortalWithProjects(t, nil, ssotest.Profile{}, []simulator.ProjectSeed{
		{Name: "Payments"}, {Name: "Research"}, {Name: "Legacy Bot", Archived: true},
	})
	payments := p.Sim.Projects()[0]
	b := newBrowser(t)
	const perm = "api.organization.projects.api_keys.read"

	requester := p.signIn(t, b, riley)
	requester.follow(link("New request"))
	if opts := strings.Join(requester.texts(`//select[@id='scope']/option`), ","); opts != "Organization,Payments,Research" {
		t.Errorf("Scope offers %q; want the organization and the two active projects", opts)
	}
	if n := requester.count(permissionBox(perm)); n != 0 {
		t.Errorf("the organization's form offers the project permission %s", perm)
	}
	chooseScope(requester, "Payments", perm)
	if n := requester.count(permissionBox("api.groups.read")); n != 0 {
		t.Errorf("a project's form still offers the organization's permissions")
	}
	requester.typeInto("Role name", "Payments key readers")
	requester.click(permissionBox(perm))
	requester.typeInto("Justification", "The payments team reviews its API keys every month.")
	requester.seeText("POST /v1/projects/" + payments.ID + "/roles")
	requester.follow(button("Submit request"))
	if got := requester.status(); got != "Pending" {
		t.Fatalf("the submitted request shows %q; want Pending", got)
	}
	id := requester.requestID()
	requester.seeText("Project Payments")
	requester.seeText(payments.ID)

	approver := p.signIn(t, b, avery)
	openFromReviews(approver, "Payments key readers")
	approver.seeText("Project Payments")
	approver.follow(button("Approve"))
	approver.waitForStatus("Provisioned", 15*time.Second)

	var inProject []simulator.Role
	for _, r := range p.Sim.ProjectRoles(payments.ID) {
		if !r.Predefined {
			inProject = append(inProject, r)
		}
	}
	if len(inProject) != 1 || inProject[0].Name != "Payments key readers" || inProject[0].ResourceType != "api.project" {
		t.Fatalf("custom roles in the project = %+v; want exactly the one approved", inProject)
	}
	for _, r := range p.Sim.Roles() {
		if !r.Predefined {
			t.Errorf("a custom role was created in the organization: %+v", r)
		}
	}
	if n := p.Sim.CreateCalls(); n != 1 || p.Sim.LastCreatePath() != "/v1/projects/"+payments.ID+"/roles" {
		t.Errorf("%d create calls, the last to %s; want one, to the project's path", n, p.Sim.LastCreatePath())
	}
	requester.visit(fmt.Sprintf("/requests/%d", id))
	requester.seeText(inProject[0].ID)
	requester.seeText("Project Payments")
	requester.follow(link("My requests"))
	requester.seeText("Payments")
}
