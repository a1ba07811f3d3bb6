package e2e

import (
	"fmt"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/rolegate/rolegate/internal/simulator"
	"github.com/rolegate/rolegate/internal/sso/ssotest"
	"github.com/rolegate/rolegate/internal/testkit"
)

// Design a role, and grant it (issue 17), in the browser: Riley has a
// custom role created, then asks from its page for access to it for the
// group Research. Avery, a member of Research, may not approve and is told
// why; Blake approves. Provisioned means exactly that one assignment
// upstream. Drew's Revoke access removes it, once, and the request shows
// Revoked with the reason. The organization's directory is dev mode's:
// Riley and Avery are in Research, Blake is not.
func TestAccessToACustomRoleIsGrantedToAGroupAndRevoked(t *testing.T) {
	testkit.NeedsBrowser(t)
	t.Parallel()
	p := startPortalWithOrganization(t, map[string]string{"ROLEGATE_SYNC_EVERY": "1s"}, ssotest.Profile{},
		simulator.Options{Users: simulator.DevUsers(), Groups: simulator.DevGroups()})
	b := newBrowser(t)
	research, _ := p.Sim.GroupNamed("Research")

	requester := p.signIn(t, b, riley)
	requester.follow(link("New request"))
	requester.typeInto("Role name", "Usage Readers")
	requester.click(permissionBox("api.usage.read"))
	requester.typeInto("Justification", "Research reads usage while the quarter closes.")
	requester.follow(button("Submit request"))
	roleRequest := requester.requestID()
	blakeSees := p.signIn(t, b, blake)
	openFromReviews(blakeSees, "Usage Readers")
	blakeSees.follow(button("Approve"))
	blakeSees.waitForStatus("Provisioned", 15*time.Second)
	roleID := p.upstreamRoleID("Usage Readers")

	// Once the organization's picture shows the new role, its page offers
	// access to it.
	requester.visit(fmt.Sprintf("/requests/%d", roleRequest))
	requester.waitUntil("the request page to offer Request access to this role", func() bool {
		if requester.count(link("Request access to this role")) == 1 {
			return true
		}
		requester.do("reload", chromedp.Reload())
		return false
	})
	requester.follow(link("Request access to this role"))
	if got := fieldValue(requester, "Role"); got != "Usage Readers (organization)" {
		t.Errorf("Role starts as %q; want the role of the request", got)
	}
	if got := fieldValue(requester, "Grant to"); got != "Riley Requester <riley@example.test>" {
		t.Errorf("Grant to starts as %q; want Riley, matched by the email of the sign-in", got)
	}
	requester.seeText("Granted to the user Riley Requester (riley@example.test).")
	requester.clearField("Grant to")
	requester.typeInto("Grant to", "Research (group)")
	requester.seeText("Granted to the group Research.")
	requester.seeText("POST /v1/organization/groups/" + research.ID + "/roles")
	requester.typeInto("Justification", "Research reads usage while the quarter closes.")
	requester.follow(button("Submit request"))
	if got := requester.status(); got != "Pending" {
		t.Fatalf("the access request shows %q; want Pending", got)
	}
	id := requester.requestID()
	requester.seeText("group Research")

	// Avery is in Research: no Approve, and why.
	averySees := p.signIn(t, b, avery)
	averySees.visit(fmt.Sprintf("/requests/%d", id))
	averySees.seeText("you are a member of the group Research")
	if n := averySees.count(button("Approve")); n != 0 {
		t.Errorf("Avery, a member of Research, is offered Approve")
	}

	blakeSees.follow(link("Reviews"))
	blakeSees.seeText("Access for the group Research")
	blakeSees.visit(fmt.Sprintf("/requests/%d", id))
	blakeSees.follow(button("Approve"))
	blakeSees.waitForStatus("Provisioned", 15*time.Second)
	want := simulator.Assignment{Kind: simulator.PrincipalGroup, PrincipalID: research.ID, RoleID: roleID}
	if got := p.Sim.Assignments(); len(got) != 1 || got[0] != want || p.Sim.AssignCalls() != 1 {
		t.Fatalf("upstream assignments = %+v after %d assign calls; want exactly %+v, once", got, p.Sim.AssignCalls(), want)
	}

	admin := p.signIn(t, b, drew)
	admin.visit(fmt.Sprintf("/requests/%d", id))
	admin.typeInto("Reason", "The quarter is closed.")
	admin.follow(button("Revoke access"))
	admin.waitForStatus("Revoked", 15*time.Second)
	admin.seeText("The quarter is closed.")
	if got := p.Sim.Assignments(); len(got) != 0 || p.Sim.UnassignCalls() != 1 {
		t.Errorf("upstream assignments = %+v after %d removals; want none, removed once", got, p.Sim.UnassignCalls())
	}
	requester.follow(link("My requests"))
	requester.seeText("Revoked")
}
