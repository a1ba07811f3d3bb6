package simulator_test

import (
	"context"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/rolegate/rolegate/internal/simulator"
)

// directoryFixture is an organization with three users, two groups (Ada
// and Bo in Support, Cy in Sales) and one project.
func directoryFixture() *simulator.Simulator {
	return simulator.New(simulator.Options{
		AdminKey: adminKey,
		Projects: []simulator.ProjectSeed{{Name: "Alpha"}, {Name: "Old", Archived: true}},
		Users:    []simulator.UserSeed{{Name: "Ada", Email: "ada@example.test"}, {Name: "Bo", Email: "bo@example.test"}, {Name: "Cy", Email: "cy@example.test"}},
		Groups: []simulator.GroupSeed{
			{Name: "Support", Members: []string{"ada@example.test", "bo@example.test"}},
			{Name: "Sales", Members: []string{"cy@example.test"}},
		},
	})
}

func sdkClient(srv *httptest.Server) openai.Client {
	return openai.NewClient(
		option.WithBaseURL(srv.URL+"/v1"),
		option.WithAdminAPIKey(adminKey),
		option.WithHTTPClient(srv.Client()),
		option.WithMaxRetries(0),
	)
}

// Groups, users and group membership, as the official SDK asks for them
// (every page of both pagination styles) and as the simulator answers,
// fit the RBAC excerpt.
func TestGroupsUsersAndMembershipFollowTheRBACContract(t *testing.T) {
	sim := directoryFixture()
	check := &conformance{contract: loadContractFile(t, rbacContractFile), next: sim}
	srv := httptest.NewServer(check)
	defer srv.Close()
	org := sdkClient(srv).Admin.Organization
	ctx := context.Background()

	if _, err := org.Groups.New(ctx, openai.AdminOrganizationGroupNewParams{Name: "Research"}); err != nil {
		t.Fatal(err)
	}
	for _, order := range []openai.AdminOrganizationGroupListParamsOrder{"", "asc", "desc"} {
		iter := org.Groups.ListAutoPaging(ctx, openai.AdminOrganizationGroupListParams{Limit: openai.Int(1), Order: order})
		var got []string
		for iter.Next() {
			got = append(got, iter.Current().Name)
		}
		want := "Support Sales Research"
		if order == "desc" {
			want = "Research Sales Support"
		}
		if iter.Err() != nil || strings.Join(got, " ") != want {
			t.Errorf("groups (order %q, a page each) = %v, %v; want %s", order, got, iter.Err(), want)
		}
	}

	// Users page with first_id/last_id (ConversationCursorPage).
	iter := org.Users.ListAutoPaging(ctx, openai.AdminOrganizationUserListParams{Limit: openai.Int(2)})
	var users []string
	for iter.Next() {
		users = append(users, iter.Current().Email)
	}
	if iter.Err() != nil || strings.Join(users, " ") != "ada@example.test bo@example.test cy@example.test" {
		t.Errorf("users (two a page) = %v, %v", users, iter.Err())
	}
	byEmail, err := org.Users.List(ctx, openai.AdminOrganizationUserListParams{Emails: []string{"BO@example.test"}})
	if err != nil || len(byEmail.Data) != 1 || byEmail.Data[0].Name != "Bo" {
		t.Errorf("users with email bo = %+v, %v; want Bo alone", byEmail, err)
	}
	bo := byEmail.Data[0]
	if _, err := org.Users.Get(ctx, bo.ID); err != nil {
		t.Error(err)
	}

	// Group members: newest first by default, every page.
	support, _ := sim.GroupNamed("Support")
	if _, err := org.Groups.Users.New(ctx, support.ID, openai.AdminOrganizationGroupUserNewParams{UserID: users3(sim)[2].ID}); err != nil {
		t.Fatal(err)
	}
	members := org.Groups.Users.ListAutoPaging(ctx, support.ID, openai.AdminOrganizationGroupUserListParams{Limit: openai.Int(1)})
	var names []string
	for members.Next() {
		names = append(names, members.Current().Name)
	}
	if members.Err() != nil || strings.Join(names, " ") != "Cy Bo Ada" {
		t.Errorf("Support's members (default order, a page each) = %v, %v; want Cy Bo Ada", names, members.Err())
	}

	// Refusals: an unknown group, an unknown user, a rate limit.
	wantAPIError(t, 404, "No group found", failed(org.Groups.Users.List(ctx, "group_nope", openai.AdminOrganizationGroupUserListParams{})))
	wantAPIError(t, 404, "No user found", failed(org.Groups.Users.New(ctx, support.ID, openai.AdminOrganizationGroupUserNewParams{UserID: "user_nope"})))
	wantAPIError(t, 404, "No user found", failed(org.Users.Get(ctx, "user_nope")))
	for _, op := range []simulator.Op{simulator.OpListGroups, simulator.OpListUsers, simulator.OpListGroupUsers} {
		sim.FailNext(1, simulator.Fault{Kind: simulator.FaultRateLimit, Op: op, RetryAfter: time.Second})
	}
	wantAPIError(t, 429, "Rate limit", failed(org.Groups.List(ctx, openai.AdminOrganizationGroupListParams{})))
	wantAPIError(t, 429, "Rate limit", failed(org.Users.List(ctx, openai.AdminOrganizationUserListParams{})))
	wantAPIError(t, 429, "Rate limit", failed(org.Groups.Users.List(ctx, support.ID, openai.AdminOrganizationGroupUserListParams{})))

	if check.checked < 20 {
		t.Errorf("only %d exchanges checked", check.checked)
	}
	for _, p := range check.problems {
		t.Error(p)
	}
}

func users3(sim *simulator.Simulator) []simulator.User { return sim.Users() }

// Every assignment path (organization and project, group and user): list,
// assign, retrieve, unassign, with the SDK, and every answer and refusal
// fits the RBAC excerpt.
func TestRoleAssignmentsFollowTheRBACContract(t *testing.T) {
	sim := directoryFixture()
	check := &conformance{contract: loadContractFile(t, rbacContractFile), next: sim}
	srv := httptest.NewServer(check)
	defer srv.Close()
	client := sdkClient(srv)
	org := client.Admin.Organization
	ctx := context.Background()

	support, _ := sim.GroupNamed("Support")
	ada, _ := sim.UserByEmail("ada@example.test")
	alpha, old := sim.Projects()[0], sim.Projects()[1]
	orgRole, err := sim.AddRole("Usage Readers", "", []string{"api.usage.read"})
	if err != nil {
		t.Fatal(err)
	}
	projRole, err := sim.AddProjectRole(alpha.ID, "Key Readers", "", []string{"api.organization.projects.api_keys.read"})
	if err != nil {
		t.Fatal(err)
	}

	// Organization level, group.
	gr, err := org.Groups.Roles.New(ctx, support.ID, openai.AdminOrganizationGroupRoleNewParams{RoleID: orgRole.ID})
	if err != nil {
		t.Fatal(err)
	}
	if gr.Group.ID != support.ID || gr.Role.ID != orgRole.ID {
		t.Errorf("assign to group answered %+v", gr)
	}
	if got := sim.LastAssignCall(); got != `POST /v1/organization/groups/`+support.ID+`/roles {"role_id":"`+orgRole.ID+`"}` {
		t.Errorf("LastAssignCall = %s", got)
	}
	wantAPIError(t, 400, "already assigned", failed(org.Groups.Roles.New(ctx, support.ID, openai.AdminOrganizationGroupRoleNewParams{RoleID: orgRole.ID})))
	gl, err := org.Groups.Roles.List(ctx, support.ID, openai.AdminOrganizationGroupRoleListParams{})
	if err != nil || len(gl.Data) != 1 || gl.Data[0].ID != orgRole.ID {
		t.Errorf("Support's roles = %+v, %v", gl, err)
	}
	if _, err := org.Groups.Roles.Get(ctx, support.ID, orgRole.ID); err != nil {
		t.Error(err)
	}

	// Organization level, user: Ada holds it through Support, and then
	// directly as well; the sources say so.
	inherited, err := org.Users.Roles.Get(ctx, ada.ID, orgRole.ID)
	if err != nil || len(inherited.AssignmentSources) != 1 || inherited.AssignmentSources[0].PrincipalID != support.ID {
		t.Errorf("Ada's role through Support = %+v, %v; want one source, the group", inherited, err)
	}
	wantAPIError(t, 400, "inherited from group", failed(org.Users.Roles.Delete(ctx, ada.ID, orgRole.ID)))
	if _, err := org.Users.Roles.New(ctx, ada.ID, openai.AdminOrganizationUserRoleNewParams{RoleID: orgRole.ID}); err != nil {
		t.Fatal(err)
	}
	both, err := org.Users.Roles.List(ctx, ada.ID, openai.AdminOrganizationUserRoleListParams{})
	if err != nil || len(both.Data) != 1 || len(both.Data[0].AssignmentSources) != 2 {
		t.Errorf("Ada's roles = %+v, %v; want the role once, from herself and Support", both, err)
	}
	if _, err := org.Users.Roles.Delete(ctx, ada.ID, orgRole.ID); err != nil {
		t.Error(err)
	}
	if _, err := org.Groups.Roles.Delete(ctx, support.ID, orgRole.ID); err != nil {
		t.Error(err)
	}
	wantAPIError(t, 404, "No role assignment", failed(org.Groups.Roles.Get(ctx, support.ID, orgRole.ID)))
	wantAPIError(t, 404, "No role assignment", failed(org.Groups.Roles.Delete(ctx, support.ID, orgRole.ID)))

	// Project level, group and user.
	pg := org.Projects.Groups.Roles
	if _, err := pg.New(ctx, alpha.ID, support.ID, openai.AdminOrganizationProjectGroupRoleNewParams{RoleID: projRole.ID}); err != nil {
		t.Fatal(err)
	}
	if _, err := pg.Get(ctx, alpha.ID, support.ID, projRole.ID); err != nil {
		t.Error(err)
	}
	pgl, err := pg.List(ctx, alpha.ID, support.ID, openai.AdminOrganizationProjectGroupRoleListParams{})
	if err != nil || len(pgl.Data) != 1 {
		t.Errorf("Support's roles in Alpha = %+v, %v", pgl, err)
	}
	if _, err := pg.Delete(ctx, alpha.ID, support.ID, projRole.ID); err != nil {
		t.Error(err)
	}
	pu := org.Projects.Users.Roles
	if _, err := pu.New(ctx, alpha.ID, ada.ID, openai.AdminOrganizationProjectUserRoleNewParams{RoleID: projRole.ID}); err != nil {
		t.Fatal(err)
	}
	if _, err := pu.Get(ctx, alpha.ID, ada.ID, projRole.ID); err != nil {
		t.Error(err)
	}
	// The owner and member roles too, a page each.
	for _, r := range sim.ProjectRoles(alpha.ID)[:2] {
		if _, err := pu.New(ctx, alpha.ID, ada.ID, openai.AdminOrganizationProjectUserRoleNewParams{RoleID: r.ID}); err != nil {
			t.Fatal(err)
		}
	}
	pages := pu.ListAutoPaging(ctx, alpha.ID, ada.ID, openai.AdminOrganizationProjectUserRoleListParams{Limit: openai.Int(1)})
	var held []string
	for pages.Next() {
		held = append(held, pages.Current().Name)
	}
	if pages.Err() != nil || strings.Join(held, ",") != "owner,member,Key Readers" {
		t.Errorf("Ada's roles in Alpha (a page each) = %v, %v", held, pages.Err())
	}
	if _, err := pu.Delete(ctx, alpha.ID, ada.ID, projRole.ID); err != nil {
		t.Error(err)
	}

	// Refusals: a role of another scope, an unknown principal, project or
	// role, an archived project, and a rate limit on each operation.
	wantAPIError(t, 404, "No role found", failed(org.Groups.Roles.New(ctx, support.ID, openai.AdminOrganizationGroupRoleNewParams{RoleID: projRole.ID})))
	wantAPIError(t, 404, "No role found", failed(pg.New(ctx, alpha.ID, support.ID, openai.AdminOrganizationProjectGroupRoleNewParams{RoleID: orgRole.ID})))
	wantAPIError(t, 404, "No group found", failed(org.Groups.Roles.New(ctx, "group_nope", openai.AdminOrganizationGroupRoleNewParams{RoleID: orgRole.ID})))
	wantAPIError(t, 404, "No user found", failed(org.Users.Roles.List(ctx, "user_nope", openai.AdminOrganizationUserRoleListParams{})))
	wantAPIError(t, 404, "No project found", failed(pu.New(ctx, "proj_nope", ada.ID, openai.AdminOrganizationProjectUserRoleNewParams{RoleID: projRole.ID})))
	wantAPIError(t, 400, "archived", failed(pu.New(ctx, old.ID, ada.ID, openai.AdminOrganizationProjectUserRoleNewParams{RoleID: sim.ProjectRoles(old.ID)[0].ID})))
	wantAPIError(t, 404, "No role found", failed(org.Users.Roles.New(ctx, ada.ID, openai.AdminOrganizationUserRoleNewParams{RoleID: "role_nope"})))
	for _, op := range []simulator.Op{simulator.OpAssign, simulator.OpListAssignments, simulator.OpRetrieveAssignment, simulator.OpUnassign} {
		sim.FailNext(1, simulator.Fault{Kind: simulator.FaultRateLimit, Op: op, RetryAfter: 2 * time.Second})
	}
	wantAPIError(t, 429, "Rate limit", failed(org.Users.Roles.New(ctx, ada.ID, openai.AdminOrganizationUserRoleNewParams{RoleID: orgRole.ID})))
	wantAPIError(t, 429, "Rate limit", failed(org.Users.Roles.List(ctx, ada.ID, openai.AdminOrganizationUserRoleListParams{})))
	wantAPIError(t, 429, "Rate limit", failed(org.Users.Roles.Get(ctx, ada.ID, orgRole.ID)))
	wantAPIError(t, 429, "Rate limit", failed(org.Users.Roles.Delete(ctx, ada.ID, orgRole.ID)))
	sim.FailNext(1, simulator.Fault{Kind: simulator.FaultServerError, Op: simulator.OpAssign})
	wantAPIError(t, 500, "server had an error", failed(org.Users.Roles.New(ctx, ada.ID, openai.AdminOrganizationUserRoleNewParams{RoleID: orgRole.ID})))

	if got := len(sim.Assignments()); got != 2 {
		t.Errorf("assignments left: %v; want Ada's owner and member in Alpha", sim.Assignments())
	}
	if check.checked < 35 {
		t.Errorf("only %d exchanges checked", check.checked)
	}
	for _, p := range check.problems {
		t.Error(p)
	}
}

// What the RBAC contract forbids about groups, users and assignments, the
// simulator refuses, in the ErrorResponse shape.
func TestAssignmentRequestsOutsideTheContractAreRefused(t *testing.T) {
	c := loadContractFile(t, rbacContractFile)
	sim := directoryFixture()
	gid, uid, pid := sim.Groups()[0].ID, sim.Users()[0].ID, sim.Projects()[0].ID
	for _, tc := range []struct {
		name, method, target, body string
		status                     int
	}{
		{"assign without role_id", "POST", "/v1/organization/groups/" + gid + "/roles", `{}`, 400},
		{"assign role_id not a string", "POST", "/v1/organization/users/" + uid + "/roles", `{"role_id":7}`, 400},
		{"project assign without role_id", "POST", "/v1/projects/" + pid + "/users/" + uid + "/roles", `{}`, 400},
		{"assignments limit above 1000", "GET", "/v1/organization/groups/" + gid + "/roles?limit=1001", "", 400},
		{"assignments order outside the enum", "GET", "/v1/projects/" + pid + "/groups/" + gid + "/roles?order=up", "", 400},
		{"groups limit above 1000", "GET", "/v1/organization/groups?limit=5000", "", 400},
		{"group members order outside the enum", "GET", "/v1/organization/groups/" + gid + "/users?order=sideways", "", 400},
		{"group without a name", "POST", "/v1/organization/groups", `{}`, 400},
		{"member without user_id", "POST", "/v1/organization/groups/" + gid + "/users", `{}`, 400},
		{"users limit not an integer", "GET", "/v1/organization/users?limit=lots", "", 400},
		{"no bearer key", "GET", "/v1/organization/groups", "", 401},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest(tc.method, tc.target, strings.NewReader(tc.body))
			req.Header.Set("Content-Type", "application/json")
			if tc.status != 401 {
				req.Header.Set("Authorization", "Bearer "+adminKey)
			}
			in, err := c.checkRequest(req)
			if err == nil {
				t.Fatalf("the contract accepts this request; the case is wrong")
			}
			rec := httptest.NewRecorder()
			sim.ServeHTTP(rec, req)
			if rec.Code != tc.status {
				t.Errorf("status = %d; want %d\n%s", rec.Code, tc.status, rec.Body)
			}
			if err := c.checkResponse(in, rec.Code, rec.Header(), rec.Body.Bytes()); err != nil {
				t.Errorf("refusal does not fit ErrorResponse: %v\n%s", err, rec.Body)
			}
		})
	}
	if len(sim.Assignments()) != 0 || len(sim.Groups()) != 2 {
		t.Errorf("after the refusals: %d assignments, %d groups; want none and the two", len(sim.Assignments()), len(sim.Groups()))
	}
}

// Behind a client's back: an assignment removed in the console, a user
// added to a group, a role deleted with its assignments; assign calls are
// counted whatever their outcome, out-of-band changes are not.
func TestAssignmentsChangeBehindAClientsBack(t *testing.T) {
	sim := directoryFixture()
	support, _ := sim.GroupNamed("Support")
	sales, _ := sim.GroupNamed("Sales")
	ada, _ := sim.UserByEmail("ada@example.test")
	role, _ := sim.AddRole("Usage Readers", "", []string{"api.usage.read"})
	a := simulator.Assignment{Kind: simulator.PrincipalGroup, PrincipalID: sales.ID, RoleID: role.ID}

	if got := do(t, sim, "POST", "/v1/organization/groups/"+sales.ID+"/roles", `{"role_id":"`+role.ID+`"}`); got.Status != 200 {
		t.Fatalf("assign: %d %s", got.Status, got.Body)
	}
	if err := sim.UnassignRole(a); err != nil {
		t.Fatal(err)
	}
	wantError(t, do(t, sim, "DELETE", "/v1/organization/groups/"+sales.ID+"/roles/"+role.ID, ""), 404)
	if sim.AssignCalls() != 1 || sim.UnassignCalls() != 1 {
		t.Errorf("calls: %d assign, %d unassign; want 1 and 1", sim.AssignCalls(), sim.UnassignCalls())
	}

	if err := sim.AssignRole(a); err != nil {
		t.Fatal(err)
	}
	// Ada is not in Sales: she does not hold its role, until she is added.
	wantError(t, do(t, sim, "GET", "/v1/organization/users/"+ada.ID+"/roles/"+role.ID, ""), 404)
	if err := sim.AddGroupMember(sales.ID, ada.ID); err != nil {
		t.Fatal(err)
	}
	if got := do(t, sim, "GET", "/v1/organization/users/"+ada.ID+"/roles/"+role.ID, ""); got.Status != 200 || !strings.Contains(string(got.Body), sales.ID) {
		t.Errorf("Ada through Sales: %d %s", got.Status, got.Body)
	}
	if !slices.Contains(sim.GroupMembers(sales.ID), ada.ID) || slices.Contains(sim.GroupMembers(support.ID), sales.ID) {
		t.Errorf("members: Sales %v, Support %v", sim.GroupMembers(sales.ID), sim.GroupMembers(support.ID))
	}
	if err := sim.DeleteRole(role.ID); err != nil {
		t.Fatal(err)
	}
	if len(sim.Assignments()) != 0 {
		t.Errorf("a deleted role's assignments stay: %v", sim.Assignments())
	}
}

// A dropped connection after an assign leaves the assignment in place: a
// client that heard nothing must look before assigning again.
func TestAssignWhoseAnswerIsLostStillAssigns(t *testing.T) {
	sim := directoryFixture()
	srv := httptest.NewServer(sim)
	defer srv.Close()
	org := sdkClient(srv).Admin.Organization
	support, _ := sim.GroupNamed("Support")
	role, _ := sim.AddRole("Usage Readers", "", []string{"api.usage.read"})
	sim.FailNext(1, simulator.Fault{Kind: simulator.FaultDropConnection, Op: simulator.OpAssign})
	if _, err := org.Groups.Roles.New(context.Background(), support.ID, openai.AdminOrganizationGroupRoleNewParams{RoleID: role.ID}); err == nil {
		t.Fatal("the assign answered; want a dropped connection")
	}
	if _, err := org.Groups.Roles.Get(context.Background(), support.ID, role.ID); err != nil {
		t.Errorf("the assignment is not there after the dropped answer: %v", err)
	}
}
