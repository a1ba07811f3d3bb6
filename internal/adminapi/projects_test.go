package adminapi_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/rolegate/rolegate/internal/adminapi"
	"github.com/rolegate/rolegate/internal/simulator"
)

func newUpstreamWithProjects(t *testing.T, seeds ...simulator.ProjectSeed) (*simulator.Simulator, *atomic.Int32, func(...adminapi.Option) *adminapi.Client) {
	t.Helper()
	sim := simulator.New(simulator.Options{AdminKey: testKey, Projects: seeds})
	var projectLists atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet && r.URL.Path == "/v1/organization/projects" {
			projectLists.Add(1)
		}
		sim.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return sim, &projectLists, func(opts ...adminapi.Option) *adminapi.Client {
		return adminapi.New(srv.URL+"/v1", adminapi.StaticKey(testKey), srv.Client(), opts...)
	}
}

func TestListProjectsFollowsEveryPageArchivedIncluded(t *testing.T) {
	var seeds []simulator.ProjectSeed
	for i := range 7 {
		seeds = append(seeds, simulator.ProjectSeed{Name: fmt.Sprint("P", i), Archived: i == 3})
	}
	_, calls, client := newUpstreamWithProjects(t, seeds...)
	got, err := client(adminapi.WithPageSize(2)).ListProjects(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, p := range got {
		names = append(names, fmt.Sprintf("%s:%v", p.Name, p.Archived))
	}
	want := "P0:false P1:false P2:false P3:true P4:false P5:false P6:false"
	if strings.Join(names, " ") != want {
		t.Errorf("ListProjects = %v; want %s", names, want)
	}
	if n := calls.Load(); n != 4 {
		t.Errorf("%d list calls for 7 projects two a page; want 4", n)
	}
}

func TestProjectRolesAreCreatedInTheirProjectOnly(t *testing.T) {
	sim, _, client := newUpstreamWithProjects(t, simulator.ProjectSeed{Name: "A"}, simulator.ProjectSeed{Name: "Old", Archived: true})
	c := client(adminapi.WithPageSize(1))
	a, old := sim.Projects()[0].ID, sim.Projects()[1].ID
	body := []byte(`{"role_name":"Key Managers","permissions":["api.organization.projects.api_keys.read"]}`)

	role, err := c.CreateProjectRole(t.Context(), a, body)
	if err != nil {
		t.Fatal(err)
	}
	if string(sim.LastCreateBody()) != string(body) || sim.LastCreatePath() != "/v1/projects/"+a+"/roles" {
		t.Errorf("sent %s to %s; want the exact body to the project's path", sim.LastCreateBody(), sim.LastCreatePath())
	}
	if role.ResourceType != "api.project" || customNames(sim.Roles()) != "" {
		t.Errorf("created %+v; organization custom roles %q; want a project role and none in the organization", role, customNames(sim.Roles()))
	}
	back, err := c.GetProjectRole(t.Context(), a, role.ID)
	if err != nil || back.Name != "Key Managers" {
		t.Errorf("GetProjectRole = %+v, %v", back, err)
	}
	roles, err := c.ListProjectRoles(t.Context(), a)
	if err != nil || len(roles) != 3 {
		t.Errorf("ListProjectRoles (a page of one) = %d roles, %v; want owner, member, Key Managers", len(roles), err)
	}

	// An archived project: a permanent failure with the upstream's words.
	_, err = c.CreateProjectRole(t.Context(), old, body)
	e := asError(t, err)
	if e.Kind != adminapi.Permanent || e.Status != 400 || !strings.Contains(e.Message, "is archived") {
		t.Errorf("archived project: %+v; want a permanent 400 saying it is archived", e)
	}
	// No project id is refused before anything is sent: never the organization's path.
	calls := sim.CreateCalls()
	_, err = c.CreateProjectRole(t.Context(), "", body)
	if e := asError(t, err); e.Kind != adminapi.Permanent || sim.CreateCalls() != calls {
		t.Errorf("empty project id: %+v after %d calls; want refused, nothing sent", e, sim.CreateCalls()-calls)
	}
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
