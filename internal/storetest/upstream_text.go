package storetest

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/rolegate/rolegate/internal/adminapi"
	"github.com/rolegate/rolegate/internal/picture"
	"github.com/rolegate/rolegate/internal/rolegate"
	"github.com/rolegate/rolegate/internal/simulator"
	"github.com/rolegate/rolegate/internal/testkit"
)

// testUpstreamText: an upstream role whose name or description holds a
// NUL (which PostgreSQL's text cannot hold) is synced alike on every
// engine, the NUL stored as U+FFFD (rolegate.UpstreamText); the picture
// then stays as it is from sync to sync, and a real change to the role is
// still news, once.
func testUpstreamText(t *testing.T, e Engine) {
	// Through the real read: a role made behind rolegate's back in the
	// simulator, read over HTTP by the Admin API client, synced by the
	// picture into the store.
	t.Run("ARoleWithNULSyncsAlike", func(t *testing.T) {
		clock := testkit.NewClock(start)
		s := e.Open(t, clock.Now)
		const key = "sk-admin-storetest"
		sim := simulator.New(simulator.Options{AdminKey: key})
		srv := httptest.NewServer(sim)
		t.Cleanup(srv.Close)
		client := adminapi.New(srv.URL+"/v1", adminapi.StaticKey(key), srv.Client())
		pic, err := picture.New(context.Background(), picture.Options{Store: s.Picture, List: client.OrganizationRoles, Now: clock.Now})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(pic.Close)
		sync := func() rolegate.SyncResult {
			t.Helper()
			clock.Advance(time.Minute)
			res, err := pic.Sync(t.Context(), nil)
			if err != nil {
				t.Fatalf("sync: %v", err)
			}
			return res
		}
		sync() // the baseline
		added, err := sim.AddRole("Night\x00shift", "Reads\x00groups", []string{"api.groups.read"})
		if err != nil {
			t.Fatal(err)
		}
		if res := sync(); res.Appeared != 1 || res.Changed != 0 {
			t.Fatalf("sync after a role with NUL appeared = %+v; want it appeared", res)
		}
		roles, err := s.Picture.PictureRoles(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		var got rolegate.UpstreamRole
		for _, r := range roles {
			if r.ID == added.ID {
				got = r
			}
		}
		if got.Name != "Night\uFFFDshift" || got.Description != "Reads\uFFFDgroups" {
			t.Errorf("the role in the picture = %q, %q; want the NUL stored as U+FFFD", got.Name, got.Description)
		}
		if res := sync(); res.Appeared+res.Changed+res.Deleted != 0 {
			t.Errorf("a sync with nothing changed upstream = %+v; want no difference (the stored text is the upstream's, normalized)", res)
		}
		if _, err := sim.ChangeRole(added.ID, func(r *simulator.Role) { r.Description = "Reads\x00groups and users" }); err != nil {
			t.Fatal(err)
		}
		if res := sync(); res.Changed != 1 {
			t.Errorf("sync after the role's description changed upstream = %+v; want it changed", res)
		}
		if res := sync(); res.Appeared+res.Changed+res.Deleted != 0 {
			t.Errorf("the sync after = %+v; want no difference", res)
		}
		// The trail names the role as the picture does, and verifies.
		var names []string
		if err := s.Trail.WalkAuditTrail(t.Context(), func(ev rolegate.Event) error {
			if strings.HasPrefix(ev.Action, "upstream.") {
				names = append(names, ev.RoleName)
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if strings.Join(names, ",") != "Night\uFFFDshift,Night\uFFFDshift" {
			t.Errorf("the trail's upstream events name %q; want the role appeared and changed, as the picture names it", names)
		}
		verifyTrail(t, s)
	})

	// A project, a group and a user named with NUL: the projects and the
	// directory are read in the same sync, and stored alike too.
	t.Run("ProjectsAndDirectoryWithNULSyncAlike", func(t *testing.T) {
		clock := testkit.NewClock(start)
		s := e.Open(t, clock.Now)
		const key = "sk-admin-storetest"
		sim := simulator.New(simulator.Options{AdminKey: key,
			Projects: []simulator.ProjectSeed{{Name: "Lab\x00one"}},
			Users:    []simulator.UserSeed{{Name: "Ann\x00Lee", Email: "ann@example.com"}},
			Groups:   []simulator.GroupSeed{{Name: "Ops\x00team", Members: []string{"ann@example.com"}}},
		})
		srv := httptest.NewServer(sim)
		t.Cleanup(srv.Close)
		client := adminapi.New(srv.URL+"/v1", adminapi.StaticKey(key), srv.Client())
		pic, err := picture.New(context.Background(), picture.Options{Store: s.Picture, List: client.OrganizationRoles,
			Projects: client.OrganizationProjects, ProjectRoles: client.ProjectRoles, Directory: client.OrganizationDirectory, Now: clock.Now})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(pic.Close)
		for range 2 {
			clock.Advance(time.Minute)
			if _, err := pic.Sync(t.Context(), nil); err != nil {
				t.Fatalf("sync: %v", err)
			}
		}
		projects, err := s.Picture.Projects(t.Context())
		if err != nil || len(projects) != 1 || projects[0].Name != "Lab\uFFFDone" {
			t.Errorf("Projects = %+v, %v; want Lab\uFFFDone", projects, err)
		}
		groups, err := s.Picture.Groups(t.Context())
		if err != nil || len(groups) != 1 || groups[0].Name != "Ops\uFFFDteam" {
			t.Errorf("Groups = %+v, %v; want Ops\uFFFDteam", groups, err)
		}
		users, err := s.Picture.Users(t.Context())
		if err != nil || len(users) != 1 || users[0].Name != "Ann\uFFFDLee" {
			t.Errorf("Users = %+v, %v; want Ann\uFFFDLee", users, err)
		}
		if len(groups) == 1 {
			if members, err := s.Picture.GroupMembers(t.Context(), groups[0].ID); err != nil || len(members) != 1 {
				t.Errorf("GroupMembers = %+v, %v; want Ann", members, err)
			}
		}
	})

	// The store's own door: roles given to it directly are normalized too
	// (and text that is not UTF-8 made valid, which PostgreSQL also
	// refuses), whatever read them.
	t.Run("TheStoreNormalizesWhatItIsGiven", func(t *testing.T) {
		f := newRequestsFixture(t, e)
		odd := rolegate.UpstreamRole{ID: "role_odd", Name: "odd\x00name", Description: "bad \xff byte\x00", Permissions: []string{"api.groups.read"}}
		f.sync(f.store, ownerRole)
		if res := f.sync(f.store, ownerRole, odd); res.Appeared != 1 {
			t.Errorf("sync = %+v; want the odd role appeared", res)
		}
		r, ok := f.pictureRole("role_odd")
		if !ok || r.Name != "odd\uFFFDname" || r.Description != "bad \uFFFD byte\uFFFD" {
			t.Errorf("the odd role in the picture = %q, %q (%v); want valid text without NUL", r.Name, r.Description, ok)
		}
		if res := f.sync(f.store, ownerRole, odd); res.Appeared+res.Changed+res.Deleted != 0 {
			t.Errorf("the same roles again = %+v; want no difference", res)
		}
	})
}
