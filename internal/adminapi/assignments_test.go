package adminapi_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rolegate/rolegate/internal/adminapi"
	"github.com/rolegate/rolegate/internal/rolegate"
	"github.com/rolegate/rolegate/internal/simulator"
)

// directoryUpstream is a simulator with users u0…u6, groups g0…g4 (every
// user in g0, u1 alone in g1) and a project, over real HTTP, counting the
// requests per path.
func directoryUpstream(t *testing.T) (*simulator.Simulator, *atomic.Int32, *adminapi.Client) {
	t.Helper()
	var users []simulator.UserSeed
	var everyone []string
	for i := range 7 {
		email := fmt.Sprintf("u%d@example.test", i)
		users = append(users, simulator.UserSeed{Name: fmt.Sprint("U", i), Email: email})
		everyone = append(everyone, email)
	}
	groups := []simulator.GroupSeed{{Name: "g0", Members: everyone}, {Name: "g1", Members: []string{"u1@example.test"}}}
	for i := 2; i < 5; i++ {
		groups = append(groups, simulator.GroupSeed{Name: fmt.Sprint("g", i)})
	}
	sim := simulator.New(simulator.Options{AdminKey: testKey, Users: users, Groups: groups, Projects: []simulator.ProjectSeed{{Name: "A"}}})
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		sim.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return sim, &calls, adminapi.New(srv.URL+"/v1", adminapi.StaticKey(testKey), srv.Client(), adminapi.WithPageSize(2))
}

// The directory is read whole, every page of each of its lists (groups
// and members page with next, users with last_id), two at a time here.
func TestOrganizationDirectoryReadsEveryPage(t *testing.T) {
	sim, calls, c := directoryUpstream(t)
	dir, err := c.OrganizationDirectory(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(dir.Groups) != 5 || len(dir.Users) != 7 {
		t.Fatalf("read %d groups and %d users; want 5 and 7", len(dir.Groups), len(dir.Users))
	}
	g0, _ := sim.GroupNamed("g0")
	g1, _ := sim.GroupNamed("g1")
	u1, _ := sim.UserByEmail("u1@example.test")
	if len(dir.Members[g0.ID]) != 7 || !slices.Equal(dir.Members[g1.ID], []string{u1.ID}) {
		t.Errorf("members: g0 %d, g1 %v; want all 7 and u1 alone", len(dir.Members[g0.ID]), dir.Members[g1.ID])
	}
	if dir.Users[3].Email != "u3@example.test" || dir.Groups[4].Name != "g4" {
		t.Errorf("users %v, groups %v", dir.Users, dir.Groups)
	}
	// groups: 3 pages; users: 4; g0's members: 4; g1…g4: one each.
	if n := calls.Load(); n != 3+4+4+4 {
		t.Errorf("%d requests; want 15 (every page, nothing more)", n)
	}
}

// A failure on any page fails the whole read, with the upstream's words,
// so the picture is never replaced by part of the directory.
func TestOrganizationDirectoryFailsWhole(t *testing.T) {
	sim, _, c := directoryUpstream(t)
	sim.FailNext(1, simulator.Fault{Kind: simulator.FaultRateLimit, Op: simulator.OpListGroupUsers, RetryAfter: 3 * time.Second})
	_, err := c.OrganizationDirectory(t.Context())
	if err == nil || !strings.Contains(err.Error(), "Rate limit") {
		t.Fatalf("err = %v; want the rate limit", err)
	}
	if e := asError(t, err); e.Kind != adminapi.Retryable || e.RetryAfter != 3*time.Second {
		t.Errorf("err = %+v; want retryable after 3s", e)
	}
}

// Every assignment path: assign with the approved body byte for byte,
// find it, unassign it; at the organization's level and a project's, for
// a group and a user.
func TestEveryAssignmentPath(t *testing.T) {
	sim, _, c := directoryUpstream(t)
	g1, _ := sim.GroupNamed("g1")
	u2, _ := sim.UserByEmail("u2@example.test")
	proj := sim.Projects()[0].ID
	orgRole, _ := sim.AddRole("Usage Readers", "", []string{"api.usage.read"})
	projRole, _ := sim.AddProjectRole(proj, "Key Readers", "", []string{"api.organization.projects.api_keys.read"})

	for _, tc := range []struct {
		p    adminapi.Principal
		role string
		path string
	}{
		{adminapi.Principal{Kind: adminapi.PrincipalGroup, ID: g1.ID}, orgRole.ID, "/v1/organization/groups/" + g1.ID + "/roles"},
		{adminapi.Principal{Kind: adminapi.PrincipalUser, ID: u2.ID}, orgRole.ID, "/v1/organization/users/" + u2.ID + "/roles"},
		{adminapi.Principal{Kind: adminapi.PrincipalGroup, ID: g1.ID, Project: proj}, projRole.ID, "/v1/projects/" + proj + "/groups/" + g1.ID + "/roles"},
		{adminapi.Principal{Kind: adminapi.PrincipalUser, ID: u2.ID, Project: proj}, projRole.ID, "/v1/projects/" + proj + "/users/" + u2.ID + "/roles"},
	} {
		t.Run(tc.path, func(t *testing.T) {
			if "/v1"+tc.p.RolesPath() != tc.path {
				t.Errorf("RolesPath() = %s; want %s", tc.p.RolesPath(), tc.path)
			}
			body := `{"role_id": "` + tc.role + `"}` // spaced as approved: sent as it is
			if err := c.AssignRole(t.Context(), tc.p, []byte(body)); err != nil {
				t.Fatal(err)
			}
			if got, want := sim.LastAssignCall(), "POST "+tc.path+" "+body; got != want {
				t.Errorf("sent %s; want %s", got, want)
			}
			held, found, err := c.FindAssignment(t.Context(), tc.p, tc.role)
			if err != nil || !found || !held.Direct(tc.p) || held.Name == "" {
				t.Errorf("FindAssignment = %+v, %v, %v; want it, held directly", held, found, err)
			}
			e := asError(t, c.AssignRole(t.Context(), tc.p, []byte(body)))
			if e.Kind != adminapi.Permanent || e.Status != 400 || !strings.Contains(e.Message, "already assigned") {
				t.Errorf("assigning again: %+v; want the upstream's permanent refusal", e)
			}
			if err := c.UnassignRole(t.Context(), tc.p, tc.role); err != nil {
				t.Fatal(err)
			}
			if _, found, err := c.FindAssignment(t.Context(), tc.p, tc.role); err != nil || found {
				t.Errorf("after unassigning: found %v, %v", found, err)
			}
			e = asError(t, c.UnassignRole(t.Context(), tc.p, tc.role))
			if e.Status != 404 {
				t.Errorf("unassigning again: %+v; want a 404", e)
			}
		})
	}
	if len(sim.Assignments()) != 0 {
		t.Errorf("left upstream: %v", sim.Assignments())
	}
}

// A user's role held only through a group is found, and said not to be
// direct: rolegate must never count it as its own assignment.
func TestRoleHeldThroughAGroupIsNotDirect(t *testing.T) {
	sim, _, c := directoryUpstream(t)
	g1, _ := sim.GroupNamed("g1")
	u1, _ := sim.UserByEmail("u1@example.test")
	role, _ := sim.AddRole("Usage Readers", "", []string{"api.usage.read"})
	if err := sim.AssignRole(simulator.Assignment{Kind: simulator.PrincipalGroup, PrincipalID: g1.ID, RoleID: role.ID}); err != nil {
		t.Fatal(err)
	}
	user := adminapi.Principal{Kind: adminapi.PrincipalUser, ID: u1.ID}
	held, found, err := c.FindAssignment(t.Context(), user, role.ID)
	if err != nil || !found || held.Direct(user) || len(held.Sources) != 1 || held.Sources[0].ID != g1.ID {
		t.Errorf("FindAssignment = %+v, %v, %v; want it through g1 only", held, found, err)
	}
}

// HeldRoles answers the form's live check: a user's role through a group
// names the group, a role of their own is direct.
func TestHeldRolesNamesTheGroupARoleComesThrough(t *testing.T) {
	sim, _, c := directoryUpstream(t)
	g1, _ := sim.GroupNamed("g1")
	u1, _ := sim.UserByEmail("u1@example.test")
	viaGroup, _ := sim.AddRole("Usage Readers", "", []string{"api.usage.read"})
	own, _ := sim.AddRole("Own Role", "", []string{"api.usage.read"})
	for _, a := range []simulator.Assignment{
		{Kind: simulator.PrincipalGroup, PrincipalID: g1.ID, RoleID: viaGroup.ID},
		{Kind: simulator.PrincipalUser, PrincipalID: u1.ID, RoleID: own.ID},
	} {
		if err := sim.AssignRole(a); err != nil {
			t.Fatal(err)
		}
	}
	held, err := c.HeldRoles(t.Context(), rolegate.ScopeOrganization, rolegate.Grantee{Kind: rolegate.GranteeUser, ID: u1.ID})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]rolegate.HeldRole{
		viaGroup.ID: {RoleID: viaGroup.ID, ViaGroups: []string{g1.ID}},
		own.ID:      {RoleID: own.ID, Direct: true},
	}
	if len(held) != len(want) {
		t.Fatalf("HeldRoles = %+v; want %+v", held, want)
	}
	for _, h := range held {
		if w := want[h.RoleID]; h.Direct != w.Direct || !slices.Equal(h.ViaGroups, w.ViaGroups) {
			t.Errorf("held %+v; want %+v", h, w)
		}
	}
	group, err := c.HeldRoles(t.Context(), rolegate.ScopeOrganization, rolegate.Grantee{Kind: rolegate.GranteeGroup, ID: g1.ID})
	if err != nil || len(group) != 1 || !group[0].Direct || len(group[0].ViaGroups) != 0 {
		t.Errorf("the group's HeldRoles = %+v, %v; want its one role, direct", group, err)
	}
}

// An unknown group is an error naming it, not "not assigned"; faults are
// classified as for roles.
func TestAssignmentFailures(t *testing.T) {
	sim, _, c := directoryUpstream(t)
	role, _ := sim.AddRole("Usage Readers", "", []string{"api.usage.read"})
	g1, _ := sim.GroupNamed("g1")
	_, _, err := c.FindAssignment(t.Context(), adminapi.Principal{Kind: adminapi.PrincipalGroup, ID: "group_gone"}, role.ID)
	if e := asError(t, err); e.Status != 404 || !strings.Contains(e.Message, "group_gone") {
		t.Errorf("unknown group: %+v", e)
	}
	p := adminapi.Principal{Kind: adminapi.PrincipalGroup, ID: g1.ID}
	sim.FailNext(1, simulator.Fault{Kind: simulator.FaultServerError, Op: simulator.OpAssign})
	if e := asError(t, c.AssignRole(t.Context(), p, []byte(`{"role_id":"`+role.ID+`"}`))); e.Kind != adminapi.Retryable {
		t.Errorf("500: %+v; want retryable", e)
	}
	sim.FailNext(1, simulator.Fault{Kind: simulator.FaultDropConnection, Op: simulator.OpAssign})
	if e := asError(t, c.AssignRole(t.Context(), p, []byte(`{"role_id":"`+role.ID+`"}`))); e.Kind != adminapi.Retryable {
		t.Errorf("dropped connection: %+v; want retryable", e)
	}
	// The dropped answer's assignment is there: found before any repeat.
	if _, found, err := c.FindAssignment(t.Context(), p, role.ID); err != nil || !found {
		t.Errorf("after the dropped answer: found %v, %v; want the assignment", found, err)
	}
	sim.FailNext(1, simulator.Fault{Kind: simulator.FaultRateLimit, Op: simulator.OpUnassign, RetryAfter: 2 * time.Second})
	if e := asError(t, c.UnassignRole(t.Context(), p, role.ID)); e.Kind != adminapi.Retryable || e.RetryAfter != 2*time.Second {
		t.Errorf("429 on unassign: %+v", e)
	}
	if e := asError(t, c.AssignRole(t.Context(), adminapi.Principal{Kind: "robot", ID: "x"}, []byte(`{}`))); e.Kind != adminapi.Permanent {
		t.Errorf("no principal: %+v", e)
	}
	if sim.AssignCalls() != 2 {
		t.Errorf("%d assign calls reached the upstream; want 2", sim.AssignCalls())
	}
}
