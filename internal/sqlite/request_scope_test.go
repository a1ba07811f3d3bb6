package sqlite_test

import (
	"strings"
	"testing"

	"github.com/rolegate/rolegate/internal/rolegate"
)

var lcProjectCatalog = rolegate.NewCatalog([]rolegate.Permission{
	{Name: "api.organization.projects.api_keys.read", Area: "Project API keys", ResourceType: rolegate.ResourceProject},
})

// withProjects puts projects in the picture, each with the roles given by
// its id, as a sync would.
func (lc *lifecycle) withProjects(projects []rolegate.Project, roles map[string][]rolegate.UpstreamRole) {
	lc.t.Helper()
	if _, err := lc.picture.ReplaceOrganization(lc.ctx, rolegate.OrganizationRead{Projects: projects, ProjectRoles: roles}, nil); err != nil {
		lc.t.Fatal(err)
	}
}

func (lc *lifecycle) createIn(scope, name string) (*rolegate.Request, error) {
	return lc.requests.Create(lc.ctx, lcRequester, rolegate.RequestInput{
		Scope: scope, RoleName: name, Permissions: []string{"api.organization.projects.api_keys.read"},
		Justification: "Needed for the quarterly key review.",
	}, lcProjectCatalog)
}

// A project request records the project's id and its name from the
// picture, and binds its approvals to the project's path.
func TestARequestInAProjectRecordsItsScopeAndCall(t *testing.T) {
	lc := newLifecycle(t, 1)
	lc.withProjects([]rolegate.Project{{ID: "proj_pay", Name: "Payments"}}, nil)
	req, err := lc.requests.Create(lc.ctx, lcRequester, rolegate.RequestInput{
		Scope: "proj_pay", ScopeName: "Forged Name", RoleName: "Key Readers", Permissions: []string{"api.organization.projects.api_keys.read"},
		Justification: "Needed for the quarterly key review.",
	}, lcProjectCatalog)
	if err != nil {
		t.Fatal(err)
	}
	got := lc.get(req.ID)
	if got.Scope != "proj_pay" || got.ScopeName != "Payments" {
		t.Errorf("stored scope = %q %q; want proj_pay named Payments (from the picture, never the form)", got.Scope, got.ScopeName)
	}
	if got.Call().String() != "POST /v1/projects/proj_pay/roles" || got.BindingVersion != rolegate.BindingCall ||
		got.Binding() != rolegate.CallBinding(got.Call(), got.Payload) || got.Binding() == got.PayloadHash {
		t.Errorf("call %s, binding v%d %s; want the project's path, v2, the whole call's hash", got.Call(), got.BindingVersion, got.Binding())
	}
}

// A project that is archived, unknown or not in the picture is refused
// beside the Scope field, by name, and nothing is stored.
func TestARequestInAnArchivedOrUnknownProjectIsRefused(t *testing.T) {
	lc := newLifecycle(t, 1)
	lc.withProjects([]rolegate.Project{{ID: "proj_pay", Name: "Payments"}, {ID: "proj_old", Name: "Old Bot", Archived: true}}, nil)
	for _, tc := range []struct{ scope, want string }{
		{"proj_old", "The project Old Bot (proj_old) is archived"},
		{"proj_nope", "The project proj_nope is not one of the organization's projects"},
		{"proj/../x", "Pick the organization or one of its active projects."},
	} {
		_, err := lc.createIn(tc.scope, "Key Readers")
		if msg := rolegate.ErrorFields(err)[rolegate.FieldScope]; !strings.Contains(msg, tc.want) {
			t.Errorf("Create in %q: scope error %q (%v); want %q", tc.scope, msg, err, tc.want)
		}
	}
	if n := lc.count(`SELECT COUNT(*) FROM requests`); n != 0 {
		t.Errorf("%d requests stored after refusals; want 0", n)
	}
}

// Names are unique within their scope: the same name may be asked for in
// the organization and in each project, but not twice in one, and a role
// already in a project takes its name there only.
func TestRoleNamesAreUniquePerScope(t *testing.T) {
	lc := newLifecycle(t, 1)
	lc.withProjects([]rolegate.Project{{ID: "proj_a", Name: "A"}, {ID: "proj_b", Name: "B"}}, map[string][]rolegate.UpstreamRole{
		"proj_b": {{ID: "role_b1", Name: "Existing Keys", Permissions: []string{"api.organization.projects.api_keys.read"}}},
	})
	lc.create("Key Readers")
	if _, err := lc.createIn("proj_a", "Key Readers"); err != nil {
		t.Fatalf("the organization's name in a project: %v", err)
	}
	if _, err := lc.createIn("proj_b", "key readers"); err != nil {
		t.Fatalf("the same name in another project: %v", err)
	}
	_, err := lc.createIn("proj_a", "KEY READERS")
	if msg := rolegate.ErrorFields(err)[rolegate.FieldRoleName]; !strings.Contains(msg, "already asks for a role with this name in this project") {
		t.Errorf("twice in one project: %q (%v)", msg, err)
	}
	for _, tc := range []struct{ scope, name, want string }{
		{"proj_b", "Existing Keys", "A role with this name already exists in this project."},
		{"proj_a", "Existing Keys", ""},
		{rolegate.ScopeOrganization, "Existing Keys", ""},
		{"proj_a", "Key Readers", "already asks for a role with this name in this project."},
	} {
		got, err := lc.requests.RoleNameTaken(lc.ctx, tc.scope, tc.name, lcRequester.Principal)
		if err != nil || (tc.want == "") != (got == "") || !strings.Contains(got, tc.want) {
			t.Errorf("RoleNameTaken(%q, %q) = %q, %v; want %q", tc.scope, tc.name, got, err, tc.want)
		}
	}
}
