package storetest

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/rolegate/rolegate/internal/rolegate"
)

// projectCatalog offers one permission of a project's roles and one of the
// organization's.
var projectCatalog = rolegate.NewCatalog([]rolegate.Permission{
	{Name: "api.organization.projects.api_keys.read", Area: "Project API keys", ResourceType: rolegate.ResourceProject},
	{Name: "api.groups.read", Area: "Groups"},
})

// seedProjects puts the picture's projects (proj_a "Alpha", proj_b "Beta",
// proj_old "Old Bot", archived) and one role already in proj_b in the
// store, as a sync of the organization leaves them.
func seedProjects(t *testing.T, s *Store) {
	t.Helper()
	s.Exec(t, `INSERT INTO projects (project_id, name, name_key, archived, first_seen_at, updated_at) VALUES
		('proj_a', 'Alpha', 'alpha', false, 0, 0),
		('proj_b', 'Beta', 'beta', false, 0, 0),
		('proj_old', 'Old Bot', 'old bot', true, 0, 0)`)
	s.Exec(t, `INSERT INTO org_roles (role_id, scope, scope_name, name, name_key, permissions, resource_type, first_seen_at)
		VALUES ('role_b1', 'proj_b', 'Beta', 'Existing Keys', 'existing keys', '["api.organization.projects.api_keys.read"]', 'api.project', 0)`)
	s.Exec(t, `INSERT INTO org_picture (scope, synced_at, roles) VALUES ('', 0, 0), ('proj_a', 0, 0), ('proj_b', 0, 1)`)
}

func (f *requestsFixture) createIn(scope, name string) (*rolegate.Request, error) {
	return f.requests.Create(f.t.Context(), requester, rolegate.RequestInput{
		Scope: scope, ScopeName: "Forged Name", RoleName: name,
		Permissions: []string{"api.organization.projects.api_keys.read"}, Justification: "Needed for the quarterly key review.",
	}, projectCatalog)
}

func testScopes(t *testing.T, e Engine) {
	// A request in a project is named from the picture, bound to the whole
	// call to the project's path (binding version 2), and goes to its role
	// with its scope in the job, in the events that say where the role is
	// created and in its notifications (the webhooks' facts).
	t.Run("AProjectRequestToItsRole", func(t *testing.T) {
		f := newRequestsFixture(t, e)
		f.store.SetNotifications(webhooks)
		seedProjects(t, f.store)
		req, err := f.createIn("proj_a", "Key Readers")
		if err != nil {
			t.Fatalf("Create in proj_a: %v", err)
		}
		got, err := f.requests.Get(t.Context(), req.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Scope != "proj_a" || got.ScopeName != "Alpha" {
			t.Errorf("stored scope = %q %q; want proj_a named Alpha (from the picture, never the form)", got.Scope, got.ScopeName)
		}
		if got.Call().String() != "POST /v1/projects/proj_a/roles" || got.BindingVersion != rolegate.BindingCall ||
			got.Binding() != rolegate.CallBinding(got.Call(), got.Payload) || got.Binding() == got.PayloadHash {
			t.Errorf("call %s, binding v%d %s; want the project's path, v2, the whole call's hash", got.Call(), got.BindingVersion, got.Binding())
		}
		if _, err := f.requests.ApproveWith(t.Context(), approver, req.ID, got.PayloadHash, "fine", rolegate.Reauth{}); rolegate.ErrorCode(err) != rolegate.ECONFLICT {
			t.Errorf("an approval of the body alone = %v; want a conflict (the binding is the whole call)", err)
		}
		if _, err := f.requests.ApproveWith(t.Context(), approver, req.ID, got.Binding(), "fine", rolegate.Reauth{}); err != nil {
			t.Fatalf("approve with the binding: %v", err)
		}
		job, err := f.store.Jobs.ClaimJob(t.Context(), "worker-1", time.Minute)
		if err != nil || job == nil || job.RequestID != req.ID {
			t.Fatalf("ClaimJob = %+v, %v; want request %d", job, err, req.ID)
		}
		if job.Scope != "proj_a" || job.BindingVersion != rolegate.BindingCall || len(job.ApprovedHashes) != 1 || job.ApprovedHashes[0] != got.Binding() {
			t.Errorf("job scope %q, binding v%d, approved %v; want proj_a, v2, the call's binding", job.Scope, job.BindingVersion, job.ApprovedHashes)
		}
		role := rolegate.ProvisionedRole{ID: "role_p1", Name: "Key Readers", ResourceType: rolegate.ResourceProject,
			Permissions: []string{"api.organization.projects.api_keys.read"}}
		if err := f.store.Jobs.CompleteJob(t.Context(), job, role, false); err != nil {
			t.Fatalf("CompleteJob: %v", err)
		}
		rec, err := f.requests.GetRecord(t.Context(), req.ID)
		if err != nil {
			t.Fatal(err)
		}
		if rec.Request.Status != rolegate.StatusProvisioned || rec.Request.UpstreamRoleID != "role_p1" ||
			rec.Request.UpstreamResourceType != rolegate.ResourceProject || rec.Request.Scope != "proj_a" {
			t.Errorf("the request ends %s with role %q (%s) in %q; want provisioned with role_p1 (api.project) in proj_a",
				rec.Request.Status, rec.Request.UpstreamRoleID, rec.Request.UpstreamResourceType, rec.Request.Scope)
		}
		scoped := map[string]bool{}
		for _, ev := range rec.Events {
			switch ev.Action {
			case rolegate.ActionRequestCreated, rolegate.ActionRequestApproved, rolegate.ActionProvisioningSucceeded:
			default:
				continue // the events that say where the role is created
			}
			scoped[ev.Action] = true
			var d struct {
				Scope     string `json:"scope"`
				ScopeName string `json:"scope_name"`
			}
			if err := json.Unmarshal(ev.Details, &d); err != nil {
				t.Fatal(err)
			}
			if d.Scope != "proj_a" || d.ScopeName != "Alpha" {
				t.Errorf("event %d (%s) names scope %q %q; want proj_a Alpha: %s", ev.Seq, ev.Action, d.Scope, d.ScopeName, ev.Details)
			}
		}
		if len(scoped) != 3 {
			t.Errorf("the timeline's events that name the scope: %v; want its creation, approval and success", scoped)
		}
		batch, err := f.store.Outbox.ClaimNotifications(t.Context(), 50, time.Minute)
		if err != nil || len(batch) == 0 {
			t.Fatalf("ClaimNotifications = %d, %v; want the request's webhooks", len(batch), err)
		}
		for _, n := range batch {
			if n.Facts.Scope != "proj_a" || n.Facts.ScopeName != "Alpha" {
				t.Errorf("notification %d (event %d) carries scope %q %q; want proj_a Alpha", n.ID, n.EventSeq, n.Facts.Scope, n.Facts.ScopeName)
			}
		}
		verifyTrail(t, f.store)
	})

	// A project that is archived, unknown or malformed is refused beside
	// the Scope field, by name, and nothing is stored.
	t.Run("ArchivedOrUnknownProjectsAreRefused", func(t *testing.T) {
		f := newRequestsFixture(t, e)
		seedProjects(t, f.store)
		for _, tc := range []struct{ scope, want string }{
			{"proj_old", "The project Old Bot (proj_old) is archived"},
			{"proj_nope", "The project proj_nope is not one of the organization's projects"},
			{"proj/../x", "Pick the organization or one of its active projects."},
		} {
			_, err := f.createIn(tc.scope, "Key Readers")
			if msg := rolegate.ErrorFields(err)[rolegate.FieldScope]; !strings.Contains(msg, tc.want) {
				t.Errorf("Create in %q: scope error %q (%v); want %q", tc.scope, msg, err, tc.want)
			}
		}
		if n := f.store.Rows(t, "requests", ""); n != 0 {
			t.Errorf("%d requests stored after refusals; want 0", n)
		}
	})

	// Names are unique within their scope: one taken in a project (by an
	// open request, or by a role already there) is free in another project
	// and in the organization, and refused twice in one project.
	t.Run("NamesAreUniquePerScope", func(t *testing.T) {
		f := newRequestsFixture(t, e)
		seedProjects(t, f.store)
		f.create(f.store, "Key Readers")
		if _, err := f.createIn("proj_a", "Key Readers"); err != nil {
			t.Fatalf("the organization's name in a project: %v", err)
		}
		if _, err := f.createIn("proj_b", "key readers"); err != nil {
			t.Fatalf("the same name in another project: %v", err)
		}
		_, err := f.createIn("proj_a", "KEY READERS")
		if msg := rolegate.ErrorFields(err)[rolegate.FieldRoleName]; !strings.Contains(msg, "already asks for a role with this name in this project") {
			t.Errorf("twice in one project: %q (%v)", msg, err)
		}
		for _, tc := range []struct{ scope, name, want string }{
			{"proj_b", "Existing Keys", "A role with this name already exists in this project."},
			{"proj_a", "Existing Keys", ""},
			{rolegate.ScopeOrganization, "Existing Keys", ""},
			{"proj_a", "Key Readers", "already asks for a role with this name in this project."},
			{rolegate.ScopeOrganization, "Key Readers", "already asks for a role with this name."},
		} {
			got, err := f.requests.RoleNameTaken(t.Context(), tc.scope, tc.name, requester.Principal)
			if err != nil || (tc.want == "") != (got == "") || !strings.Contains(got, tc.want) {
				t.Errorf("RoleNameTaken(%q, %q) = %q, %v; want %q", tc.scope, tc.name, got, err, tc.want)
			}
		}
		if _, err := f.createIn("proj_b", "existing keys"); rolegate.ErrorFields(err)[rolegate.FieldRoleName] == "" {
			t.Errorf("a name of a role already in the project = %v; want it refused", err)
		}
	})

	// A request filed before binding versions (version 1: its approvals
	// bind to the body alone, its call is the organization's) keeps its
	// version through approval and claim, so it provisions as before.
	t.Run("ABindingVersionIsKept", func(t *testing.T) {
		f := newRequestsFixture(t, e)
		req := f.create(f.store, "Legacy Role")
		if req.BindingVersion != rolegate.BindingCall {
			t.Fatalf("a new organization request has binding v%d; want v2", req.BindingVersion)
		}
		// As SQLite's migration 00012 left the requests filed before it.
		f.store.Exec(t, `UPDATE requests SET binding_version = 1, binding_hash = payload_hash`)
		got, err := f.requests.Get(t.Context(), req.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.BindingVersion != rolegate.BindingBody || got.Binding() != got.PayloadHash {
			t.Fatalf("the old request reads as binding v%d %s; want v1, its payload's hash", got.BindingVersion, got.Binding())
		}
		if _, err := f.requests.ApproveWith(t.Context(), approver, req.ID, got.PayloadHash, "fine", rolegate.Reauth{}); err != nil {
			t.Fatalf("approve a v1 request with its payload's hash: %v", err)
		}
		job, err := f.store.Jobs.ClaimJob(t.Context(), "worker-1", time.Minute)
		if err != nil || job == nil {
			t.Fatalf("ClaimJob = %+v, %v", job, err)
		}
		if job.BindingVersion != rolegate.BindingBody || job.Scope != rolegate.ScopeOrganization ||
			len(job.ApprovedHashes) != 1 || job.ApprovedHashes[0] != got.PayloadHash {
			t.Errorf("job binding v%d in %q, approved %v; want v1 in the organization, the payload's hash", job.BindingVersion, job.Scope, job.ApprovedHashes)
		}
	})
}
