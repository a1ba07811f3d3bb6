package simulator_test

import (
	"context"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/rolegate/rolegate/internal/simulator"
)

// Projects and project roles, as the official SDK asks for them and as the
// simulator answers, successes and refusals alike, fit the RBAC excerpt.
func TestProjectsAndProjectRolesFollowTheRBACContract(t *testing.T) {
	sim := simulator.New(simulator.Options{AdminKey: adminKey, Projects: []simulator.ProjectSeed{
		{Name: "Alpha"}, {Name: "Beta"}, {Name: "Gamma", Archived: true}, {Name: "Delta"},
	}})
	check := &conformance{contract: loadContractFile(t, rbacContractFile), next: sim}
	srv := httptest.NewServer(check)
	defer srv.Close()
	client := openai.NewClient(
		option.WithBaseURL(srv.URL+"/v1"),
		option.WithAdminAPIKey(adminKey),
		option.WithHTTPClient(srv.Client()),
		option.WithMaxRetries(0),
	)
	projects := client.Admin.Organization.Projects
	ctx := context.Background()

	// Every page, two at a time, with and without the archived project.
	for _, archived := range []bool{false, true} {
		iter := projects.ListAutoPaging(ctx, openai.AdminOrganizationProjectListParams{Limit: openai.Int(2), IncludeArchived: openai.Bool(archived)})
		var names []string
		for iter.Next() {
			names = append(names, iter.Current().Name+":"+iter.Current().Status)
		}
		want := "Alpha:active Beta:active Delta:active"
		if archived {
			want = "Alpha:active Beta:active Gamma:archived Delta:active"
		}
		if iter.Err() != nil || strings.Join(names, " ") != want {
			t.Errorf("projects (include_archived=%v) = %v, %v; want %s", archived, names, iter.Err(), want)
		}
	}
	all := sim.Projects()
	alpha, gamma := all[0], all[2]
	if _, err := projects.Get(ctx, gamma.ID); err != nil {
		t.Error(err)
	}
	made, err := projects.New(ctx, openai.AdminOrganizationProjectNewParams{Name: "Epsilon"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := projects.Update(ctx, made.ID, openai.AdminOrganizationProjectUpdateParams{Name: openai.String("Epsilon 2")}); err != nil {
		t.Error(err)
	}

	roles := projects.Roles
	created, err := roles.New(ctx, alpha.ID, openai.AdminOrganizationProjectRoleNewParams{
		RoleName:    "API Project Key Manager",
		Permissions: []string{"api.organization.projects.api_keys.read", "api.organization.projects.api_keys.write"},
		Description: openai.String("Allows managing API keys for the project"),
	})
	if err != nil {
		t.Fatal(err)
	}
	if created.ResourceType != "api.project" {
		t.Errorf("resource_type = %q; want api.project", created.ResourceType)
	}
	iter := roles.ListAutoPaging(ctx, alpha.ID, openai.AdminOrganizationProjectRoleListParams{Limit: openai.Int(1)})
	n := 0
	for iter.Next() {
		n++
	}
	if iter.Err() != nil || n != 3 {
		t.Errorf("project roles: %d, %v; want the owner, the member and the new one", n, iter.Err())
	}
	if _, err := roles.Get(ctx, alpha.ID, created.ID); err != nil {
		t.Error(err)
	}
	if _, err := roles.Update(ctx, alpha.ID, created.ID, openai.AdminOrganizationProjectRoleUpdateParams{RoleName: openai.String("Key Managers")}); err != nil {
		t.Error(err)
	}
	if _, err := roles.Delete(ctx, alpha.ID, created.ID); err != nil {
		t.Error(err)
	}

	// Refusals: an archived project, an unknown one, a name taken in the
	// project, an organization permission in a project, a role of another
	// scope, a rate limit.
	body := openai.AdminOrganizationProjectRoleNewParams{RoleName: "Readers", Permissions: []string{"api.organization.projects.users.read"}}
	wantAPIError(t, 400, "archived", failed(roles.New(ctx, gamma.ID, body)))
	wantAPIError(t, 404, "No project found", failed(roles.New(ctx, "proj_nope", body)))
	wantAPIError(t, 404, "No project found", failed(roles.List(ctx, "proj_nope", openai.AdminOrganizationProjectRoleListParams{})))
	wantAPIError(t, 400, "already exists in this project", failed(roles.New(ctx, alpha.ID, openai.AdminOrganizationProjectRoleNewParams{RoleName: "owner", Permissions: body.Permissions})))
	wantAPIError(t, 400, "unknown permission", failed(roles.New(ctx, alpha.ID, openai.AdminOrganizationProjectRoleNewParams{RoleName: "x", Permissions: []string{"api.groups.read"}})))
	orgRole := sim.Roles()[0]
	wantAPIError(t, 404, "No role found", failed(roles.Get(ctx, alpha.ID, orgRole.ID)))
	wantAPIError(t, 400, "archived", failed(projects.Update(ctx, gamma.ID, openai.AdminOrganizationProjectUpdateParams{Name: openai.String("Back")})))
	wantAPIError(t, 404, "No project found", failed(projects.Get(ctx, "proj_nope")))
	sim.FailNext(1, simulator.Fault{Kind: simulator.FaultRateLimit, Op: simulator.OpListProjects, RetryAfter: time.Second})
	wantAPIError(t, 429, "Rate limit", failed(projects.List(ctx, openai.AdminOrganizationProjectListParams{})))

	if check.checked < 20 {
		t.Errorf("only %d exchanges checked", check.checked)
	}
	for _, p := range check.problems {
		t.Error(p)
	}
}

// failed keeps the error of a call's results.
func failed[T any](_ T, err error) error { return err }

// wantAPIError checks that a call failed with an upstream error of status
// whose message holds want.
func wantAPIError(t *testing.T, status int, want string, err error) {
	t.Helper()
	var apiErr *openai.Error
	if !errors.As(err, &apiErr) {
		t.Errorf("err = %v; want an upstream %d", err, status)
		return
	}
	if apiErr.StatusCode != status || !strings.Contains(apiErr.Message, want) {
		t.Errorf("upstream answered %d %q; want %d with %q", apiErr.StatusCode, apiErr.Message, status, want)
	}
}

// What the RBAC contract forbids about projects, the simulator refuses, in
// the ErrorResponse shape.
func TestProjectRequestsOutsideTheContractAreRefused(t *testing.T) {
	c := loadContractFile(t, rbacContractFile)
	sim := simulator.New(simulator.Options{AdminKey: adminKey, Projects: []simulator.ProjectSeed{{Name: "Alpha"}}})
	pid := sim.Projects()[0].ID
	for _, tc := range []struct {
		name, method, target, body string
		status                     int
	}{
		{"project role without role_name", "POST", "/v1/projects/" + pid + "/roles", `{"permissions":["api.organization.projects.users.read"]}`, 400},
		{"project role permissions not an array", "POST", "/v1/projects/" + pid + "/roles", `{"role_name":"x","permissions":"api.organization.projects.users.read"}`, 400},
		{"project roles limit above 1000", "GET", "/v1/projects/" + pid + "/roles?limit=1001", "", 400},
		{"projects limit not an integer", "GET", "/v1/organization/projects?limit=many", "", 400},
		{"include_archived not a boolean", "GET", "/v1/organization/projects?include_archived=maybe", "", 400},
		{"project without a name", "POST", "/v1/organization/projects", `{}`, 400},
		{"no bearer key", "GET", "/v1/organization/projects", "", 401},
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
	if got := len(sim.ProjectRoles(pid)); got != 2 {
		t.Errorf("project roles after the refusals: %d; want the two predefined ones", got)
	}
}
