package picture_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
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

// directoryRig is a picture with the organization's directory, over a real
// SQLite file and the simulator over real HTTP.
type directoryRig struct {
	t         *testing.T
	sim       *simulator.Simulator
	client    *adminapi.Client
	path      string
	db        *app.Store
	pic       *picture.Picture
	clock     *testkit.Clock
	failUsers atomic.Bool // the users list answers 500
}

func newDirectoryRig(t *testing.T) *directoryRig {
	t.Helper()
	r := &directoryRig{t: t, clock: testkit.NewClock(time.Date(2026, 5, 4, 9, 0, 0, 0, time.UTC)), path: filepath.Join(t.TempDir(), "rolegate.db")}
	r.sim = simulator.New(simulator.Options{AdminKey: key, Projects: []simulator.ProjectSeed{{Name: "Alpha"}},
		Users: simulator.DevUsers(), Groups: simulator.DevGroups()})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if r.failUsers.Load() && req.URL.Path == "/v1/organization/users" {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusInternalServerError)
			_, _ = w.Write([]byte(`{"error":{"message":"The server had an error.","type":"server_error","param":null,"code":null}}`))
			return
		}
		r.sim.ServeHTTP(w, req)
	}))
	t.Cleanup(srv.Close)
	r.client = adminapi.New(srv.URL+"/v1", adminapi.StaticKey(key), srv.Client(), adminapi.WithPageSize(2))
	r.open()
	return r
}

func (r *directoryRig) open() {
	r.t.Helper()
	db, err := app.OpenStore(context.Background(), r.path)
	if err != nil {
		r.t.Fatal(err)
	}
	r.t.Cleanup(func() { db.Close() })
	db.SetClock(r.clock.Now)
	pic, err := picture.New(context.Background(), picture.Options{
		Store: db.Picture, List: r.client.OrganizationRoles, Projects: r.client.OrganizationProjects,
		ProjectRoles: r.client.ProjectRoles, Directory: r.client.OrganizationDirectory, Now: r.clock.Now,
	})
	if err != nil {
		r.t.Fatal(err)
	}
	r.t.Cleanup(pic.Close)
	r.db, r.pic = db, pic
}

func (r *directoryRig) sync() error {
	r.t.Helper()
	r.clock.Advance(time.Minute)
	_, err := r.pic.Sync(context.Background(), nil)
	return err
}

// groupsOf says which groups the user with email is in, as the picture holds it.
func (r *directoryRig) groupsOf(email string) string {
	r.t.Helper()
	ctx := context.Background()
	u, ok, err := r.db.Picture.UserByEmail(ctx, email)
	if err != nil {
		r.t.Fatal(err)
	}
	if !ok {
		return "(no such user)"
	}
	groups, err := r.db.Picture.GroupsOf(ctx, u.ID)
	if err != nil {
		r.t.Fatal(err)
	}
	var names []string
	for _, g := range groups {
		names = append(names, g.Name)
	}
	return strings.Join(names, ",")
}

func (r *directoryRig) groupNames() string {
	r.t.Helper()
	groups, err := r.db.Picture.Groups(context.Background())
	if err != nil {
		r.t.Fatal(err)
	}
	var names []string
	for _, g := range groups {
		names = append(names, g.Name)
	}
	return strings.Join(names, ",")
}

// The picture holds the organization's groups, users and membership, read
// whole with the roles, and keeps them across a restart; a sign-in's email
// finds its user whatever its case.
func TestThePictureHoldsGroupsUsersAndMembership(t *testing.T) {
	r := newDirectoryRig(t)
	if err := r.sync(); err != nil {
		t.Fatal(err)
	}
	if got := r.groupNames(); got != "Platform Admins,Research,Support Team" {
		t.Errorf("groups = %s", got)
	}
	if got := r.groupsOf("Riley@Example.test"); got != "Research,Support Team" {
		t.Errorf("Riley's groups = %s; want Research and Support Team", got)
	}
	users, err := r.db.Picture.Users(context.Background())
	if err != nil || len(users) != len(simulator.DevUsers()) {
		t.Errorf("users = %v, %v; want every dev user", users, err)
	}
	support, _ := r.sim.GroupNamed("Support Team")
	members, err := r.db.Picture.GroupMembers(context.Background(), support.ID)
	if err != nil || fmt.Sprint(len(members)) != "2" || members[0].Name != "Riley Requester" {
		t.Errorf("Support Team's members = %v, %v", members, err)
	}
	synced, err := r.db.Picture.DirectorySyncedAt(context.Background())
	if err != nil || !synced.Equal(r.clock.Now()) {
		t.Errorf("directory synced at %v, %v; want %v", synced, err, r.clock.Now())
	}

	r.open() // a restart: read from the file, before any sync
	if got := r.groupsOf("riley@example.test"); got != "Research,Support Team" {
		t.Errorf("after a restart Riley's groups = %s", got)
	}
}

// Changes behind rolegate's back reach the picture at the next sync: a
// user added to a group, a user leaving one, a new group, a new user.
func TestTheDirectoryStaysFresh(t *testing.T) {
	r := newDirectoryRig(t)
	if err := r.sync(); err != nil {
		t.Fatal(err)
	}
	avery, _ := r.sim.UserByEmail("avery@example.test")
	riley, _ := r.sim.UserByEmail("riley@example.test")
	support, _ := r.sim.GroupNamed("Support Team")
	research, _ := r.sim.GroupNamed("Research")
	if err := r.sim.AddGroupMember(support.ID, avery.ID); err != nil {
		t.Fatal(err)
	}
	if err := r.sim.RemoveGroupMember(research.ID, riley.ID); err != nil {
		t.Fatal(err)
	}
	ops, _ := r.sim.AddGroup("Ops")
	newcomer, _ := r.sim.AddUser("Nia Newcomer", "nia@example.test")
	if err := r.sim.AddGroupMember(ops.ID, newcomer.ID); err != nil {
		t.Fatal(err)
	}
	if got := r.groupsOf("avery@example.test"); got != "Research" {
		t.Errorf("before the sync Avery's groups = %s; want the picture's (Research)", got)
	}
	if err := r.sync(); err != nil {
		t.Fatal(err)
	}
	for email, want := range map[string]string{
		"avery@example.test": "Research,Support Team",
		"riley@example.test": "Support Team",
		"nia@example.test":   "Ops",
	} {
		if got := r.groupsOf(email); got != want {
			t.Errorf("%s's groups = %s; want %s", email, got, want)
		}
	}
}

// A read that fails on the directory changes nothing, the roles included:
// the picture is replaced only by a complete read.
func TestAReadFailingOnTheDirectoryChangesNothing(t *testing.T) {
	r := newDirectoryRig(t)
	if err := r.sync(); err != nil {
		t.Fatal(err)
	}
	if _, err := r.sim.AddGroup("Ops"); err != nil {
		t.Fatal(err)
	}
	if _, err := r.sim.AddRole("Org Role", "", []string{"api.groups.read"}); err != nil {
		t.Fatal(err)
	}
	r.failUsers.Store(true)
	if err := r.sync(); err == nil {
		t.Fatal("a sync whose users list failed succeeded")
	}
	if got := r.groupNames(); got != "Platform Admins,Research,Support Team" {
		t.Errorf("groups after a failed read = %s; want unchanged", got)
	}
	roles, _ := r.db.Picture.PictureRoles(context.Background())
	for _, role := range roles {
		if role.Name == "Org Role" && role.Scope == rolegate.ScopeOrganization {
			t.Errorf("a role reached the picture through a failed read")
		}
	}
}
