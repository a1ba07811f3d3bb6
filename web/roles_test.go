package web_test

import (
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/rolegate/rolegate/internal/rolegate"
	"github.com/rolegate/rolegate/internal/simulator"
	"github.com/rolegate/rolegate/internal/testkit"
)

func TestRolesPageShowsEveryRoleToEverySignedInPerson(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	for i := range 60 {
		if _, err := h.Sim.AddRole(fmt.Sprintf("Team %02d Reader", i), "", []string{"api.groups.read", fmt.Sprintf("api.team_%02d.read", i)}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := h.Picture.Sync(t.Context(), nil); err != nil {
		t.Fatal(err)
	}
	casey := h.signInAs("auditor") // not a requester: the page is for everyone
	home := casey.get("/")
	if !strings.Contains(home.Body, `href="/roles"`) || !strings.Contains(home.Body, ">Roles</a>") {
		t.Errorf("the navigation has no Roles link")
	}
	p := casey.get("/roles")
	for _, want := range []string{"Team 00 Reader", "<code>api.team_00.read</code>", "Created outside rolegate", "Organization", "Page 1 of 2", "62 in all", `name="q"`, ">Search</button>"} {
		if !strings.Contains(p.Body, want) {
			t.Errorf("GET /roles has no %q", want)
		}
	}
	if strings.Contains(p.Body, "Team 59 Reader") {
		t.Errorf("the first page shows the last role: it is not paged")
	}
	for _, tt := range []struct{ q, want, not string }{
		{"team 5", "Team 59 Reader", "Team 00 Reader"},
		{"API.TEAM_07", "Team 07 Reader", "Team 08 Reader"},
		{"groups.write", "owner", "Team 00 Reader"}, // only the predefined owner grants it
		{"<script>", "No role matches", "<script>"},
	} {
		p := casey.get("/roles?q=" + url.QueryEscape(tt.q))
		if !strings.Contains(p.Body, tt.want) || strings.Contains(p.Body, tt.not) {
			t.Errorf("GET /roles?q=%s: want %q and not %q", tt.q, tt.want, tt.not)
		}
	}
	if p := casey.get("/roles?q=team&page=2"); !strings.Contains(p.Body, "Team 50 Reader") || !strings.Contains(p.Body, "q=team&amp;page=1") {
		t.Errorf("page 2 of a search does not keep the search in its links")
	}
}

// The live check never trusts a picture older than 30 s: a role created
// upstream by anyone is taken by the next check after that; when the
// upstream cannot be read, the check says so instead of "available", and
// the submission is refused rather than accepted unchecked.
func TestLiveCheckSeesTheOrganizationWithin30Seconds(t *testing.T) {
	clk := testkit.NewClock(time.Now())
	h := newHarness(t, harnessOptions{Now: clk.Now})
	riley := h.signInAs("requester")
	check := func() string {
		return riley.htmxPost("/requests/check", url.Values{"role_name": {"existing role 795075"}}).Body
	}
	if body := check(); !strings.Contains(body, "The name is available.") {
		t.Fatalf("a free name is not available:\n%s", body)
	}
	if _, err := h.Sim.AddRole("Existing Role 795075", "", []string{"api.groups.read"}); err != nil {
		t.Fatal(err)
	}
	clk.Advance(31 * time.Second)
	if body := check(); !strings.Contains(body, "already exists in the organization") {
		t.Errorf("a role created upstream 31 s ago is not taken:\n%s", body)
	}

	clk.Advance(31 * time.Second)
	h.Sim.FailNext(1, simulator.Fault{Op: simulator.OpList, Kind: simulator.FaultServerError})
	body := riley.htmxPost("/requests/check", url.Values{"role_name": {"Another Fresh Name"}}).Body
	if !strings.Contains(body, "could not check the organization just now") || strings.Contains(body, "available") {
		t.Errorf("the check with the upstream down does not say so:\n%s", body)
	}
	res := riley.refused(riley.postWithToken("/requests", url.Values{
		"role_name": {"Another Fresh Name"}, "permissions": {"api.groups.read"}, "justification": {"Needed for the quarterly access review."},
	}), "/requests/new")
	if !strings.Contains(res.Body, "could not check the organization just now") {
		t.Errorf("submitting with the upstream down: the form does not say the organization could not be checked")
	}
	if list, _, _ := h.Requests.List(t.Context(), rolegate.RequestFilter{}); len(list) != 0 {
		t.Errorf("%d requests filed while the organization could not be checked; want 0", len(list))
	}
}

// A role rolegate created and someone then changed upstream is marked on
// the Roles page and on its request's page, with what differs.
func TestDriftShowsOnTheRolesPageAndTheRequestPage(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	riley := h.signInAs("requester")
	id := h.fileRequest(riley, "Group Reader", "api.groups.read")
	req, err := h.Requests.Get(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.Requests.ApproveWith(t.Context(), devActor("approver-x", "Xavi Approver", rolegate.RoleApprover), id, req.Binding(), "", rolegate.Reauth{}); err != nil {
		t.Fatal(err)
	}
	created, err := h.Sim.AddRole("Group Reader", "", []string{"api.groups.read"}) // as the worker would
	if err != nil {
		t.Fatal(err)
	}
	job, err := h.App.Services.Provisioning.ClaimJob(t.Context(), "worker", time.Minute)
	if err != nil || job == nil {
		t.Fatalf("ClaimJob = %v, %v", job, err)
	}
	if err := h.App.Services.Provisioning.CompleteJob(t.Context(), job, rolegate.ProvisionedRole{ID: created.ID, Name: created.Name, Permissions: created.Permissions}, false); err != nil {
		t.Fatal(err)
	}
	if _, err := h.Sim.ChangeRole(created.ID, func(r *simulator.Role) { r.Permissions = append(r.Permissions, "api.groups.write") }); err != nil {
		t.Fatal(err)
	}
	drew := h.signInAs("admin")
	if res := drew.postWithToken("/admin/catalog/refresh", nil); res.StatusCode != 303 {
		t.Fatalf("resync = %d; want 303", res.StatusCode)
	}
	roles := drew.get("/roles?q=group+reader").Body
	for _, want := range []string{fmt.Sprintf(`href="/requests/%d"`, id), "Changed outside rolegate", "added: <code>api.groups.write</code>"} {
		if !strings.Contains(roles, want) {
			t.Errorf("Roles page has no %q", want)
		}
	}
	page := riley.get(fmt.Sprintf("/requests/%d", id)).Body
	for _, want := range []string{"Changed outside rolegate", "api.groups.write"} {
		if !strings.Contains(page, want) {
			t.Errorf("request page has no %q", want)
		}
	}
}

// In dev mode an admin changes the simulated organization out of band from
// the admin page, and watches rolegate notice: one audit event for each
// difference, the Roles page marking the role.
func TestDevControlsChangeTheSimulatedOrganization(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	drew := h.signInAs("admin")
	if p := drew.get("/admin"); !strings.Contains(p.Body, "Simulated organization (dev mode)") || !strings.Contains(p.Body, "Add outside rolegate") {
		t.Fatalf("the admin page has no dev controls")
	}
	if p := h.signInAs("requester").postWithToken("/admin/dev/upstream", url.Values{"action": {"add"}, "role_name": {"Sneaky"}}); p.StatusCode != 403 && p.StatusCode != 404 {
		t.Errorf("a requester changing the simulated organization = %d; want refused", p.StatusCode)
	}
	resync := func() {
		t.Helper()
		if res := drew.postWithToken("/admin/catalog/refresh", nil); res.StatusCode != 303 {
			t.Fatalf("resync = %d", res.StatusCode)
		}
	}
	post := func(form url.Values) {
		t.Helper()
		if res := drew.postWithToken("/admin/dev/upstream", form); res.StatusCode != 303 || res.Header.Get("Location") != "/admin" {
			t.Fatalf("dev change %v = %d %s; want 303 to the admin page", form, res.StatusCode, res.Header.Get("Location"))
		}
	}
	post(url.Values{"action": {"add"}, "role_name": {"Console Role"}, "permissions": {"api.groups.read, api.users.read"}})
	resync()
	if p := drew.get("/roles?q=console"); !strings.Contains(p.Body, "Console Role") || !strings.Contains(p.Body, "Created outside rolegate") {
		t.Errorf("the role added out of band is not on the Roles page as created outside rolegate")
	}
	role, ok := h.Sim.RoleNamed("Console Role")
	if !ok {
		t.Fatal("the simulator has no Console Role")
	}
	post(url.Values{"action": {"change"}, "role_id": {role.ID}, "permissions": {"api.groups.read"}})
	resync()
	post(url.Values{"action": {"delete"}, "role_id": {role.ID}})
	resync()
	resync()
	for _, action := range []string{rolegate.ActionUpstreamRoleAppeared, rolegate.ActionUpstreamRoleChanged, rolegate.ActionUpstreamRoleDeleted} {
		events, _, err := h.App.Store.Audit.SearchEvents(t.Context(), rolegate.AuditFilter{Action: action, Limit: 10})
		if err != nil {
			t.Fatal(err)
		}
		if len(events) != 1 {
			t.Errorf("%d %s events; want 1", len(events), action)
		}
	}
	// Refused: back on the Admin page, which says why once.
	if p := drew.refused(drew.postWithToken("/admin/dev/upstream", url.Values{"action": {"delete"}, "role_id": {"role_nope"}}), "/admin"); !strings.Contains(summary(p), "Nothing was changed: The simulated organization refused the change") {
		t.Errorf("deleting an unknown role: the Admin page says %q; want the refusal", summary(p))
	}
	if p := drew.get("/admin"); summary(p) != "" {
		t.Errorf("reloading the Admin page shows the refusal again: %q", summary(p))
	}

	// A resync that cannot read the organization is refused the same way.
	h.Sim.FailNext(100, simulator.Fault{Op: simulator.OpList, Kind: simulator.FaultServerError})
	if p := drew.refused(drew.postWithToken("/admin/catalog/refresh", nil), "/admin"); !strings.Contains(summary(p), "The organization's roles could not be read") {
		t.Errorf("a resync with the upstream down: the Admin page says %q; want that the roles could not be read", summary(p))
	}
	if n := h.Sim.CreateCalls(); n != 0 {
		t.Errorf("%d create calls; want 0", n)
	}
}

// The Roles page shows every active project's roles under the project's
// name, beside the organization's; an archived project's are not there.
func TestRolesPageShowsProjectRolesByProject(t *testing.T) {
	h := newHarness(t, harnessOptions{Projects: []simulator.ProjectSeed{{Name: "Payments"}, {Name: "Old Bot", Archived: true}}})
	payments := h.Sim.Projects()[0]
	if _, err := h.Sim.AddProjectRole(payments.ID, "Payments Key Readers", "", []string{"api.organization.projects.api_keys.read"}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.Picture.Sync(t.Context(), nil); err != nil {
		t.Fatal(err)
	}
	p := h.signInAs("requester").get("/roles?q=payments")
	for _, want := range []string{"Payments Key Readers", "<td>Payments</td>", "<code>api.organization.projects.api_keys.read</code>", "Created outside rolegate"} {
		if !strings.Contains(p.Body, want) {
			t.Errorf("GET /roles?q=payments has no %q", want)
		}
	}
	if all := h.signInAs("requester").get("/roles"); strings.Contains(all.Body, "Old Bot") {
		t.Errorf("the Roles page shows the archived project's roles")
	}
}
