package picture_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rolegate/rolegate/internal/adminapi"
	"github.com/rolegate/rolegate/internal/app"
	"github.com/rolegate/rolegate/internal/picture"
	"github.com/rolegate/rolegate/internal/rolegate"
	"github.com/rolegate/rolegate/internal/simulator"
	"github.com/rolegate/rolegate/internal/testkit"
)

// projectRig is a picture of an organization with projects, over a real
// SQLite file and the simulator over real HTTP.
type projectRig struct {
	t        *testing.T
	sim      *simulator.Simulator
	client   *adminapi.Client
	path     string
	db       *app.Store
	pic      *picture.Picture
	clock    *testkit.Clock
	projects atomic.Int64 // project list calls
	// failRolesOf is a project whose role list answers 500, when set.
	failRolesOf atomic.Value
}

func newProjectRig(t *testing.T, pageSize int, seeds ...simulator.ProjectSeed) *projectRig {
	t.Helper()
	r := &projectRig{t: t, sim: simulator.New(simulator.Options{AdminKey: key, Projects: seeds}),
		clock: testkit.NewClock(time.Date(2026, 5, 4, 9, 0, 0, 0, time.UTC)), path: filepath.Join(t.TempDir(), "rolegate.db")}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.URL.Path == "/v1/organization/projects" {
			r.projects.Add(1)
		}
		if id, _ := r.failRolesOf.Load().(string); id != "" && req.URL.Path == "/v1/projects/"+id+"/roles" {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusInternalServerError)
			_, _ = w.Write([]byte(`{"error":{"message":"The server had an error.","type":"server_error","param":null,"code":null}}`))
			return
		}
		r.sim.ServeHTTP(w, req)
	}))
	t.Cleanup(srv.Close)
	r.client = adminapi.New(srv.URL+"/v1", adminapi.StaticKey(key), srv.Client(), adminapi.WithPageSize(pageSize))
	r.open()
	return r
}

// open opens the database and a Picture over it, as a (re)started process would.
func (r *projectRig) open() {
	r.t.Helper()
	db, err := app.OpenStore(context.Background(), r.path)
	if err != nil {
		r.t.Fatal(err)
	}
	r.t.Cleanup(func() { db.Close() })
	db.SetClock(r.clock.Now)
	pic, err := picture.New(context.Background(), picture.Options{
		Store: db.Picture, List: r.client.OrganizationRoles, Projects: r.client.OrganizationProjects, ProjectRoles: r.client.ProjectRoles,
		Now: r.clock.Now,
	})
	if err != nil {
		r.t.Fatal(err)
	}
	r.db, r.pic = db, pic
}

func (r *projectRig) sync() error {
	r.t.Helper()
	_, err := r.pic.Sync(context.Background(), nil)
	return err
}

// roles lists the picture's roles as "scope name/role name".
func (r *projectRig) roles() string {
	r.t.Helper()
	roles, err := r.db.Picture.PictureRoles(context.Background())
	if err != nil {
		r.t.Fatal(err)
	}
	var out []string
	for _, x := range roles {
		where := "org"
		if x.Scope != rolegate.ScopeOrganization {
			where = x.ScopeName
		}
		out = append(out, where+"/"+x.Name)
	}
	slices.Sort(out)
	return strings.Join(out, " ")
}

func (r *projectRig) storedProjects() string {
	r.t.Helper()
	ps, err := r.db.Picture.Projects(context.Background())
	if err != nil {
		r.t.Fatal(err)
	}
	var out []string
	for _, p := range ps {
		out = append(out, fmt.Sprintf("%s:%v", p.Name, p.Archived))
	}
	return strings.Join(out, " ")
}

// events lists the audit events of action as "scope:role name".
func (r *projectRig) events(action string) []string {
	r.t.Helper()
	rows, err := testkit.OpenReadOnly(r.t, r.path).Query(
		`SELECT json_extract(details, '$.scope') || ':' || role_name FROM audit_events WHERE action = ? ORDER BY seq`, action)
	if err != nil {
		r.t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			r.t.Fatal(err)
		}
		out = append(out, s)
	}
	return out
}

// The picture holds the projects (archived ones too) and the roles of every
// active project, beside the organization's, and keeps them across a restart.
func TestThePictureHoldsEveryActiveProjectsRoles(t *testing.T) {
	r := newProjectRig(t, 2, simulator.ProjectSeed{Name: "Alpha"}, simulator.ProjectSeed{Name: "Old", Archived: true},
		simulator.ProjectSeed{Name: "Beta"})
	if err := r.sync(); err != nil {
		t.Fatal(err)
	}
	want := "Alpha/member Alpha/owner Beta/member Beta/owner org/owner org/reader"
	if got := r.roles(); got != want {
		t.Errorf("picture = %s; want %s (nothing of the archived project)", got, want)
	}
	if got := r.storedProjects(); got != "Alpha:false Beta:false Old:true" {
		t.Errorf("projects = %s", got)
	}
	if n := r.projects.Load(); n != 2 {
		t.Errorf("%d project list calls for 3 projects two a page; want 2", n)
	}

	r.open() // a restart: the picture is read from the file
	if got := r.roles(); got != want {
		t.Errorf("after a restart the picture = %s; want %s", got, want)
	}
	if got := r.storedProjects(); got != "Alpha:false Beta:false Old:true" {
		t.Errorf("after a restart projects = %s", got)
	}
}

// A role created in a project outside rolegate is recorded once, with its
// project; an archived project's roles leave the picture without being
// called deleted.
func TestProjectDriftIsRecordedWithItsScope(t *testing.T) {
	r := newProjectRig(t, 100, simulator.ProjectSeed{Name: "Alpha"}, simulator.ProjectSeed{Name: "Beta"})
	if err := r.sync(); err != nil {
		t.Fatal(err)
	}
	alpha, beta := r.sim.Projects()[0], r.sim.Projects()[1]
	role, err := r.sim.AddProjectRole(alpha.ID, "Key Managers", "", []string{"api.organization.projects.api_keys.read"})
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := r.sync(); err != nil {
			t.Fatal(err)
		}
	}
	if got := r.events(rolegate.ActionUpstreamRoleAppeared); !slices.Equal(got, []string{alpha.ID + ":Key Managers"}) {
		t.Errorf("appeared events = %q; want one, for Key Managers in %s", got, alpha.ID)
	}
	if err := r.sim.DeleteRole(role.ID); err != nil {
		t.Fatal(err)
	}
	if err := r.sim.ArchiveProject(beta.ID); err != nil {
		t.Fatal(err)
	}
	if err := r.sync(); err != nil {
		t.Fatal(err)
	}
	if got := r.events(rolegate.ActionUpstreamRoleDeleted); !slices.Equal(got, []string{alpha.ID + ":Key Managers"}) {
		t.Errorf("deleted events = %q; want one, for Key Managers in %s (Beta's roles were archived, not deleted)", got, alpha.ID)
	}
	if got := r.roles(); got != "Alpha/member Alpha/owner org/owner org/reader" {
		t.Errorf("picture = %s; want Beta's roles gone with its archiving", got)
	}
	if got := r.storedProjects(); got != "Alpha:false Beta:true" {
		t.Errorf("projects = %s", got)
	}
}

// A read that fails on one project's roles changes nothing: not the
// organization's roles, not the projects.
func TestAReadFailingOnAProjectChangesNothing(t *testing.T) {
	r := newProjectRig(t, 100, simulator.ProjectSeed{Name: "Alpha"}, simulator.ProjectSeed{Name: "Beta"})
	if err := r.sync(); err != nil {
		t.Fatal(err)
	}
	before := r.roles()
	if _, err := r.sim.AddRole("Org Role", "", []string{"api.groups.read"}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.sim.AddProject("Gamma"); err != nil {
		t.Fatal(err)
	}
	// The organization's list and Alpha's answer; Beta's fails.
	r.failRolesOf.Store(r.sim.Projects()[1].ID)
	r.clock.Advance(time.Minute)
	if err := r.sync(); err == nil {
		t.Fatal("a sync whose lists failed succeeded")
	}
	if got := r.roles(); got != before {
		t.Errorf("picture after a failed read = %s; want it unchanged: %s", got, before)
	}
	if got := r.storedProjects(); got != "Alpha:false Beta:false" {
		t.Errorf("projects after a failed read = %s; want unchanged", got)
	}
}
