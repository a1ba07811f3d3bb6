package web_test

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rolegate/rolegate/internal/rolegate"
	"github.com/rolegate/rolegate/internal/simulator"
)

var webProjects = []simulator.ProjectSeed{{Name: "Payments"}, {Name: "Research"}, {Name: "Old Bot", Archived: true}}

// The New request form's Scope offers the organization (first, chosen) and
// the active projects by name, never an archived one; choosing a project
// offers the permissions of project roles.
func TestTheScopeFieldOffersTheActiveProjects(t *testing.T) {
	h := newHarness(t, harnessOptions{Projects: webProjects})
	payments := h.Sim.Projects()[0]
	riley := h.signInAs("requester")
	form := riley.get("/requests/new")
	scope := element(form.Body, "scope")
	for _, want := range []string{`<label for="scope">Scope</label>`, `<option value="" selected>Organization</option>`, ">Payments</option>", ">Research</option>"} {
		if !strings.Contains(form.Body, want) {
			t.Errorf("the form has no %q", want)
		}
	}
	if strings.Contains(scope, "Old Bot") {
		t.Errorf("the Scope field offers the archived project: %s", scope)
	}
	if !strings.Contains(form.Body, `value="api.groups.read"`) || strings.Contains(form.Body, `value="api.organization.projects.api_keys.read"`) {
		t.Errorf("the organization's form does not offer exactly the organization's permissions")
	}
	inProject := riley.get("/requests/new?scope=" + payments.ID)
	if !strings.Contains(inProject.Body, `value="api.organization.projects.api_keys.read"`) || strings.Contains(inProject.Body, `value="api.groups.read"`) {
		t.Errorf("a project's form does not offer exactly the project permissions")
	}
	if !strings.Contains(inProject.Body, `<option value="`+payments.ID+`" selected>Payments</option>`) {
		t.Errorf("the project is not the chosen scope")
	}
}

// A project that is archived or unknown is refused beside Scope, by name;
// the live check and the overlap hint speak of the project.
func TestAnArchivedOrUnknownProjectIsRefusedByName(t *testing.T) {
	h := newHarness(t, harnessOptions{Projects: webProjects})
	old := h.Sim.Projects()[2]
	riley := h.signInAs("requester")
	for scope, want := range map[string]string{
		old.ID:      "The project Old Bot (" + old.ID + ") is archived",
		"proj_nope": "The project proj_nope is not one of the organization&#39;s projects",
	} {
		// Refused: back to the form (Post/Redirect/Get), the message beside Scope.
		p := riley.refused(riley.postWithToken("/requests", url.Values{"scope": {scope}, "role_name": {"Key Readers"},
			"permissions": {"api.organization.projects.api_keys.read"}, "justification": {"Needed for the key review."}}), "/requests/new")
		if !strings.Contains(element(p.Body, "scope-error"), want) {
			t.Errorf("filing in %s: scope error %q; want %q", scope, element(p.Body, "scope-error"), want)
		}
		if !strings.Contains(element(p.Body, "perm-api.organization.projects.api_keys.read"), "api.organization.projects.api_keys.read") {
			t.Errorf("the refused form does not offer the project permissions again")
		}
		if !strings.Contains(element(p.Body, "scope"), `<option value="`+scope+`" selected>`) {
			t.Errorf("the refused form does not keep %s chosen: %s", scope, element(p.Body, "scope"))
		}
	}
	if n, _, _ := h.Requests.List(t.Context(), rolegate.RequestFilter{}); len(n) != 0 {
		t.Errorf("%d requests stored after the refusals; want 0", len(n))
	}
}

// A request filed in a project names it everywhere: the request page (its
// name and id, and the call), My requests and Reviews.
func TestAProjectRequestShowsItsScope(t *testing.T) {
	h := newHarness(t, harnessOptions{Projects: webProjects})
	payments := h.Sim.Projects()[0]
	if _, err := h.Sim.AddProjectRole(payments.ID, "Key Auditors", "", []string{"api.organization.projects.api_keys.read"}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.Picture.Sync(t.Context(), nil); err != nil {
		t.Fatal(err)
	}
	riley := h.signInAs("requester")
	check := riley.postWithToken("/requests/check", url.Values{"scope": {payments.ID}, "role_name": {"Key Auditors"},
		"permissions": {"api.organization.projects.api_keys.read"}})
	if got := text(element(check.Body, "name-check")); !strings.Contains(got, "already exists in this project") {
		t.Errorf("live name check in the project = %q; want taken in this project", got)
	}
	if got := text(element(check.Body, "overlap-check")); !strings.Contains(got, "The existing role Key Auditors in this project already grants") {
		t.Errorf("overlap hint = %q; want the project's role named as in this project", got)
	}
	if got := text(element(check.Body, "preview-call")); got != "POST /v1/projects/"+payments.ID+"/roles" {
		t.Errorf("preview call = %q", got)
	}
	org := riley.postWithToken("/requests/check", url.Values{"role_name": {"Key Auditors"}, "permissions": {"api.groups.read"}})
	if got := text(element(org.Body, "name-check")); got != "The name is available." {
		t.Errorf("the project's name in the organization = %q; want available", got)
	}

	res := riley.postWithToken("/requests", url.Values{"scope": {payments.ID}, "role_name": {"Key Readers"},
		"permissions": {"api.organization.projects.api_keys.read"}, "justification": {"Needed for the key review."}})
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("file in a project: %d\n%s", res.StatusCode, res.Body)
	}
	page := riley.get(res.Header.Get("Location"))
	if got := text(element(page.Body, "request-scope")); !strings.HasPrefix(got, "Project Payments") || !strings.Contains(got, payments.ID) {
		t.Errorf("request page Scope = %q; want the project's name and id", got)
	}
	if got := text(element(page.Body, "request-call")); got != "POST /v1/projects/"+payments.ID+"/roles" {
		t.Errorf("request page call = %q", got)
	}
	if mine := riley.get("/requests"); !strings.Contains(text(element(mine.Body, "requests")), "Payments") {
		t.Errorf("My requests does not show the project")
	}
	if reviews := h.signInAs("approver1").get("/reviews"); !strings.Contains(text(element(reviews.Body, "requests")), "Payments") {
		t.Errorf("Reviews does not show the project")
	}

	id, err := strconv.ParseInt(strings.TrimPrefix(res.Header.Get("Location"), "/requests/"), 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	h.provisionRequest(id)
	page = riley.get(requestURL(id))
	wantIn(t, "provisioned in a project", page, "next-step",
		[]string{"now exists in the project Payments", "in the project's settings"}, []string{"in the organization"})
}

// The Audit page filters by scope: a project's events (its requests', and
// the picture's about its roles), or the organization's.
func TestTheAuditPageFiltersByScope(t *testing.T) {
	h := newHarness(t, harnessOptions{Projects: webProjects})
	payments := h.Sim.Projects()[0]
	riley := h.signInAs("requester")
	for _, f := range []url.Values{
		{"scope": {payments.ID}, "role_name": {"Payments Key Readers"}, "permissions": {"api.organization.projects.api_keys.read"}, "justification": {"Needed for the key review."}},
		{"role_name": {"Org Group Readers"}, "permissions": {"api.groups.read"}, "justification": {"Needed for the access review."}},
	} {
		if p := riley.postWithToken("/requests", f); p.StatusCode != http.StatusSeeOther {
			t.Fatalf("file: %d\n%s", p.StatusCode, p.Body)
		}
	}
	casey := h.signInAs("auditor")
	page := casey.get("/audit")
	if !strings.Contains(page.Body, `<label for="audit-scope">Scope</label>`) || !strings.Contains(element(page.Body, "audit-scope"), "Old Bot (archived)") {
		t.Errorf("the Audit page has no Scope filter offering every project")
	}
	projectPage := casey.get("/audit?scope=" + payments.ID)
	inProject := text(element(projectPage.Body, "audit-results"))
	rows := strings.Count(element(projectPage.Body, "audit-rows"), "<tr")
	if got := text(element(projectPage.Body, "audit-count")); !strings.Contains(got, fmt.Sprint(rows)) {
		t.Errorf("the count of the project's events = %q; want the %d rows shown", got, rows)
	}
	if !strings.Contains(inProject, "Payments Key Readers") || strings.Contains(inProject, "Org Group Readers") {
		t.Errorf("events of the project = %q; want its request's only", inProject)
	}
	inOrg := text(element(casey.get("/audit?scope=organization").Body, "audit-results"))
	if !strings.Contains(inOrg, "Org Group Readers") || strings.Contains(inOrg, "Payments Key Readers") {
		t.Errorf("events of the organization = %q; want its request's only", inOrg)
	}
	// The page's export links carry the filter, and the exports hold the
	// project's events only.
	if link := `href="/audit/export.jsonl?scope=` + payments.ID + `"`; !strings.Contains(projectPage.Body, link) {
		t.Errorf("the filtered page has no export link %s", link)
	}
	export := casey.get("/audit/export.jsonl?scope=" + payments.ID)
	if export.StatusCode != http.StatusOK || !strings.Contains(export.Body, "Payments Key Readers") || strings.Contains(export.Body, "Org Group Readers") {
		t.Errorf("the project's JSON Lines export = %d:\n%s\nwant its request's events only", export.StatusCode, export.Body)
	}
	if csv := casey.get("/audit/export.csv?scope=organization"); !strings.Contains(csv.Body, "Org Group Readers") || strings.Contains(csv.Body, "Payments Key Readers") {
		t.Errorf("the organization's CSV export = %d:\n%s\nwant its request's events only", csv.StatusCode, csv.Body)
	}
	if bad := casey.get("/audit?scope=" + url.QueryEscape("a b")); bad.StatusCode != http.StatusUnprocessableEntity ||
		!strings.Contains(element(bad.Body, "audit-scope-error"), "Scope must be organization or a project") {
		t.Errorf("a bad scope = %d %q; want 422 with the reason", bad.StatusCode, element(bad.Body, "audit-scope-error"))
	}
}

// A project role created through rolegate and then changed upstream is
// drift like an organization role's: the picture compares it within its
// project, and the Roles page (under the project's name) and the request
// page say so.
func TestDriftOfAProjectRoleShowsOnTheRolesPageAndTheRequestPage(t *testing.T) {
	h := newHarness(t, harnessOptions{Projects: webProjects})
	payments := h.Sim.Projects()[0]
	riley := h.signInAs("requester")
	res := riley.postWithToken("/requests", url.Values{"scope": {payments.ID}, "role_name": {"Key Readers"},
		"permissions": {"api.organization.projects.api_keys.read"}, "justification": {"Needed for the key review."}})
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("file in a project: %d\n%s", res.StatusCode, res.Body)
	}
	list, _, err := h.Requests.List(t.Context(), rolegate.RequestFilter{})
	if err != nil || len(list) != 1 {
		t.Fatalf("requests = %d, %v; want the one filed", len(list), err)
	}
	req, err := h.Requests.Get(t.Context(), list[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.Requests.ApproveWith(t.Context(), devActor("approver-x", "Xavi Approver", rolegate.RoleApprover), req.ID, req.Binding(), "", rolegate.Reauth{}); err != nil {
		t.Fatal(err)
	}
	created, err := h.Sim.AddProjectRole(payments.ID, "Key Readers", "", []string{"api.organization.projects.api_keys.read"}) // as the worker would
	if err != nil {
		t.Fatal(err)
	}
	job, err := h.App.Services.Provisioning.ClaimJob(t.Context(), "worker", time.Minute)
	if err != nil || job == nil || job.Scope != payments.ID {
		t.Fatalf("ClaimJob = %+v, %v; want the project's job", job, err)
	}
	if err := h.App.Services.Provisioning.CompleteJob(t.Context(), job, rolegate.ProvisionedRole{ID: created.ID, Name: created.Name,
		Permissions: created.Permissions, ResourceType: rolegate.ResourceProject}, false); err != nil {
		t.Fatal(err)
	}
	if _, err := h.Sim.ChangeRole(created.ID, func(r *simulator.Role) {
		r.Permissions = append(r.Permissions, "api.organization.projects.api_keys.write")
	}); err != nil {
		t.Fatal(err)
	}
	drew := h.signInAs("admin")
	if res := drew.postWithToken("/admin/catalog/refresh", nil); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("resync = %d; want 303", res.StatusCode)
	}
	roles := drew.get("/roles?q=key+readers").Body
	for _, want := range []string{fmt.Sprintf(`href="/requests/%d"`, req.ID), "<td>Payments</td>", "Changed outside rolegate",
		"added: <code>api.organization.projects.api_keys.write</code>"} {
		if !strings.Contains(roles, want) {
			t.Errorf("Roles page has no %q", want)
		}
	}
	page := riley.get(fmt.Sprintf("/requests/%d", req.ID)).Body
	for _, want := range []string{"Changed outside rolegate", "api.organization.projects.api_keys.write"} {
		if !strings.Contains(page, want) {
			t.Errorf("request page has no %q", want)
		}
	}
}
