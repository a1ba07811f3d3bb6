package simulator_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/rolegate/rolegate/internal/simulator"
)

type projectBody struct {
	ID         string  `json:"id"`
	Object     string  `json:"object"`
	Name       string  `json:"name"`
	CreatedAt  int64   `json:"created_at"`
	ArchivedAt *int64  `json:"archived_at"`
	Status     *string `json:"status"`
}

type projectListBody struct {
	Object  string        `json:"object"`
	Data    []projectBody `json:"data"`
	FirstID *string       `json:"first_id"`
	LastID  *string       `json:"last_id"`
	HasMore bool          `json:"has_more"`
}

func newSimulatorWithProjects(seeds ...simulator.ProjectSeed) *simulator.Simulator {
	return simulator.New(simulator.Options{AdminKey: adminKey, Projects: seeds})
}

func TestProjectsPageWithFirstAndLastID(t *testing.T) {
	sim := newSimulatorWithProjects(simulator.ProjectSeed{Name: "P1"}, simulator.ProjectSeed{Name: "P2", Archived: true},
		simulator.ProjectSeed{Name: "P3"}, simulator.ProjectSeed{Name: "P4"})
	ids := map[string]string{}
	for _, p := range sim.Projects() {
		ids[p.Name] = p.ID
	}

	first := decode[projectListBody](t, do(t, sim, "GET", "/v1/organization/projects?limit=2", ""))
	if got := projectNames(first.Data); got != "P1 P3" || !first.HasMore || *first.FirstID != ids["P1"] || *first.LastID != ids["P3"] {
		t.Fatalf("first page = %s first=%v last=%v more=%v; want P1 P3 (archived P2 left out), more", got, *first.FirstID, *first.LastID, first.HasMore)
	}
	second := decode[projectListBody](t, do(t, sim, "GET", "/v1/organization/projects?limit=2&after="+*first.LastID, ""))
	if got := projectNames(second.Data); got != "P4" || second.HasMore {
		t.Errorf("second page = %s more=%v; want P4, no more", got, second.HasMore)
	}
	all := decode[projectListBody](t, do(t, sim, "GET", "/v1/organization/projects?include_archived=true&after="+ids["P1"], ""))
	if got := projectNames(all.Data); got != "P2 P3 P4" {
		t.Errorf("with archived after P1 = %s; want P2 P3 P4", got)
	}
	if all.Data[0].ArchivedAt == nil || *all.Data[0].Status != "archived" || *all.Data[1].Status != "active" || all.Data[1].ArchivedAt != nil {
		t.Errorf("statuses = %+v; want P2 archived with archived_at, P3 active with null", all.Data[:2])
	}
	empty := decode[projectListBody](t, do(t, sim, "GET", "/v1/organization/projects?after="+ids["P4"], ""))
	if len(empty.Data) != 0 || empty.FirstID != nil || empty.LastID != nil || empty.HasMore {
		t.Errorf("past the end = %+v; want no data, null ids", empty)
	}
	wantError(t, do(t, sim, "GET", "/v1/organization/projects?limit=101", ""), http.StatusBadRequest)
	wantError(t, do(t, sim, "GET", "/v1/organization/projects?after=proj_nope", ""), http.StatusBadRequest)
}

func projectNames(ps []projectBody) string {
	var out []string
	for _, p := range ps {
		out = append(out, p.Name)
	}
	return strings.Join(out, " ")
}

func TestProjectRoleNamesAreUniquePerProject(t *testing.T) {
	sim := newSimulatorWithProjects(simulator.ProjectSeed{Name: "A"}, simulator.ProjectSeed{Name: "B"})
	a, b := sim.Projects()[0].ID, sim.Projects()[1].ID
	body := `{"role_name":"Key Managers","permissions":["api.organization.projects.api_keys.read"]}`

	created := decode[roleBody](t, do(t, sim, "POST", "/v1/projects/"+a+"/roles", body))
	if created.ResourceType != "api.project" {
		t.Errorf("resource_type = %q; want api.project", created.ResourceType)
	}
	e := wantError(t, do(t, sim, "POST", "/v1/projects/"+a+"/roles", body), http.StatusBadRequest)
	if !strings.Contains(e.Error.Message, "already exists in this project") {
		t.Errorf("duplicate in a project: %q", e.Error.Message)
	}
	// The same name in another project, and in the organization, is free.
	decode[roleBody](t, do(t, sim, "POST", "/v1/projects/"+b+"/roles", body))
	decode[roleBody](t, do(t, sim, "POST", "/v1/organization/roles", `{"role_name":"Key Managers","permissions":["api.api_keys.read"]}`))

	if got := customNames(sim.ProjectRoles(a)); got != "Key Managers" {
		t.Errorf("ProjectRoles(A) custom = %q", got)
	}
	if got := customNames(sim.Roles()); got != "Key Managers" {
		t.Errorf("Roles() custom = %q; want only the organization's", got)
	}
	if sim.CreateCalls() != 4 || sim.LastCreatePath() != "/v1/organization/roles" {
		t.Errorf("CreateCalls = %d, LastCreatePath = %q", sim.CreateCalls(), sim.LastCreatePath())
	}

	// A project's path never reaches a role of another scope.
	wantError(t, do(t, sim, "GET", "/v1/projects/"+b+"/roles/"+created.ID, ""), http.StatusNotFound)
	wantError(t, do(t, sim, "DELETE", "/v1/organization/roles/"+created.ID, ""), http.StatusNotFound)
	if a := do(t, sim, "DELETE", "/v1/projects/"+a+"/roles/"+created.ID, ""); a.Status != http.StatusOK {
		t.Errorf("delete in its project: %d %s", a.Status, a.Body)
	}
	// Organization permissions are not a project's, nor the reverse.
	wantError(t, do(t, sim, "POST", "/v1/projects/"+a+"/roles", `{"role_name":"x","permissions":["api.groups.read"]}`), http.StatusBadRequest)
	wantError(t, do(t, sim, "POST", "/v1/organization/roles", `{"role_name":"x","permissions":["api.organization.projects.users.read"]}`), http.StatusBadRequest)
}

func customNames(roles []simulator.Role) string {
	var out []string
	for _, r := range roles {
		if !r.Predefined {
			out = append(out, r.Name)
		}
	}
	return strings.Join(out, ",")
}

func TestArchivedProjectRefusesChangesButStaysReadable(t *testing.T) {
	sim := newSimulatorWithProjects(simulator.ProjectSeed{Name: "A"})
	p := sim.Projects()[0]
	role, err := sim.AddProjectRole(p.ID, "Keys", "", []string{"api.organization.projects.api_keys.read"})
	if err != nil {
		t.Fatal(err)
	}
	if err := sim.ArchiveProject(p.ID); err != nil {
		t.Fatal(err)
	}
	body := `{"role_name":"New","permissions":["api.organization.projects.api_keys.read"]}`
	for _, tc := range []struct{ method, path, body string }{
		{"POST", "/v1/projects/" + p.ID + "/roles", body},
		{"POST", "/v1/projects/" + p.ID + "/roles/" + role.ID, `{"role_name":"Renamed"}`},
		{"DELETE", "/v1/projects/" + p.ID + "/roles/" + role.ID, ""},
	} {
		e := wantError(t, do(t, sim, tc.method, tc.path, tc.body), http.StatusBadRequest)
		if want := fmt.Sprintf("The project '%s' is archived.", p.ID); !strings.Contains(e.Error.Message, want) || deref(e.Error.Param) != "project_id" {
			t.Errorf("%s %s: %q (param %s); want %q", tc.method, tc.path, e.Error.Message, deref(e.Error.Param), want)
		}
	}
	list := decode[listBody](t, do(t, sim, "GET", "/v1/projects/"+p.ID+"/roles", ""))
	if len(list.Data) != 3 {
		t.Errorf("archived project's roles: %d; want owner, member and Keys", len(list.Data))
	}
	if _, err := sim.AddProjectRole(p.ID, "Other", "", nil); err == nil {
		t.Error("AddProjectRole in an archived project succeeded")
	}
	if got := customNames(sim.ProjectRoles(p.ID)); got != "Keys" {
		t.Errorf("custom roles = %q; want only Keys", got)
	}
	e := wantError(t, do(t, sim, "POST", "/v1/projects/proj_unknown/roles", body), http.StatusNotFound)
	if !strings.Contains(e.Error.Message, "proj_unknown") {
		t.Errorf("unknown project: %q", e.Error.Message)
	}
}

func TestDevProjectsAreTwoActiveAndOneArchived(t *testing.T) {
	sim := newSimulatorWithProjects(simulator.DevProjects()...)
	var active, archived int
	for _, p := range sim.Projects() {
		if p.Archived() {
			archived++
		} else {
			active++
		}
		if got := len(sim.ProjectRoles(p.ID)); got != 2 {
			t.Errorf("%s has %d roles; want the predefined owner and member", p.Name, got)
		}
	}
	if active != 2 || archived != 1 {
		t.Errorf("dev projects: %d active, %d archived; want 2 and 1", active, archived)
	}
}
