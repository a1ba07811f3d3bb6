package storetest

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rolegate/rolegate/internal/rolegate"
)

// Picture is the organization's picture as the suite drives it: its roles
// and projects, and its directory.
type Picture interface {
	rolegate.PictureStore
	rolegate.DirectoryStore
}

var (
	ownerRole  = rolegate.UpstreamRole{ID: "role_owner", Name: "owner", Permissions: []string{"api.groups.read", "api.groups.write"}, Predefined: true}
	readerRole = rolegate.UpstreamRole{ID: "role_reader", Name: "reader", Permissions: []string{"api.groups.read"}, Predefined: true}
)

// sync replaces the organization's roles in s's picture.
func (f *requestsFixture) sync(s *Store, roles ...rolegate.UpstreamRole) rolegate.SyncResult {
	f.t.Helper()
	res, err := s.Picture.ReplacePicture(f.t.Context(), rolegate.ScopeOrganization, roles, nil)
	if err != nil {
		f.t.Fatalf("ReplacePicture: %v", err)
	}
	return res
}

// events counts the trail's events of action.
func (f *requestsFixture) events(action string) int {
	f.t.Helper()
	return f.store.Rows(f.t, "audit_events", "action = '"+action+"'")
}

// details are the details of the trail's events of action, in order.
func (f *requestsFixture) details(action string) []string {
	f.t.Helper()
	var out []string
	if err := f.store.Trail.WalkAuditTrail(f.t.Context(), func(e rolegate.Event) error {
		if e.Action == action {
			out = append(out, string(e.Details))
		}
		return nil
	}); err != nil {
		f.t.Fatal(err)
	}
	return out
}

// pictureRole is role id as the Roles page lists it.
func (f *requestsFixture) pictureRole(id string) (rolegate.PictureRole, bool) {
	f.t.Helper()
	roles, _, err := f.store.Picture.ListPictureRoles(f.t.Context(), rolegate.RoleFilter{Limit: 200})
	if err != nil {
		f.t.Fatal(err)
	}
	for _, r := range roles {
		if r.ID == id {
			return r, true
		}
	}
	return rolegate.PictureRole{}, false
}

// claimed files and approves a request for name and claims its job: a role
// being created.
func (f *requestsFixture) claimed(name string) (*rolegate.Request, *rolegate.Job) {
	f.t.Helper()
	req := f.create(f.store, name)
	f.approve(req)
	job, err := f.store.Jobs.ClaimJob(f.t.Context(), "worker-1", time.Minute)
	if err != nil || job == nil || job.RequestID != req.ID {
		f.t.Fatalf("ClaimJob = %+v, %v; want request %d's job", job, err, req.ID)
	}
	return req, job
}

// provisioned takes a request for name to its role, whose upstream id is id.
func (f *requestsFixture) provisioned(name, id string) *rolegate.Request {
	f.t.Helper()
	req, job := f.claimed(name)
	if err := f.store.Jobs.CompleteJob(f.t.Context(), job, rolegate.ProvisionedRole{ID: id, Name: name, Permissions: []string{"api.groups.read"}}, false); err != nil {
		f.t.Fatal(err)
	}
	return req
}

func testPicture(t *testing.T, e Engine) {
	// The first read is the baseline: the roles already there are not news.
	t.Run("FirstSyncIsABaselineWithoutEvents", func(t *testing.T) {
		f := newRequestsFixture(t, e)
		if at, err := f.store.Picture.PictureSyncedAt(t.Context(), rolegate.ScopeOrganization); err != nil || !at.IsZero() {
			t.Fatalf("PictureSyncedAt before any sync = %s, %v; want never", at, err)
		}
		res := f.sync(f.store, ownerRole, readerRole)
		if !res.Baseline || res.Appeared+res.Changed+res.Deleted != 0 || res.Roles != 2 {
			t.Errorf("first sync = %+v; want a baseline of 2 roles and no differences", res)
		}
		if n := f.store.Rows(t, "audit_events", "action LIKE 'upstream.%'"); n != 0 {
			t.Errorf("%d upstream.* events after the baseline; want 0", n)
		}
		r, ok := f.pictureRole("role_owner")
		if !ok || !r.CreatedOutside() || !r.Predefined || r.Drift != rolegate.DriftNone {
			t.Errorf("owner in the picture = %+v, %v; want a predefined role created outside rolegate", r, ok)
		}
		if at, err := f.store.Picture.PictureSyncedAt(t.Context(), rolegate.ScopeOrganization); err != nil || !at.Equal(start) {
			t.Errorf("PictureSyncedAt = %s, %v; want %s", at, err, start)
		}
		roles, err := f.store.Picture.PictureRoles(t.Context())
		if err != nil || len(roles) != 2 || roles[0].Name != "owner" || !slices.Equal(roles[0].Permissions, ownerRole.Permissions) {
			t.Errorf("PictureRoles = %+v, %v; want owner and reader", roles, err)
		}
	})

	// Names collide whatever their case, and the check reads the picture.
	t.Run("RoleNameTakenReadsThePictureIgnoringCase", func(t *testing.T) {
		f := newRequestsFixture(t, e)
		f.sync(f.store, ownerRole)
		for _, name := range []string{"owner", "OWNER", " Owner "} {
			msg, err := f.requests.RoleNameTaken(t.Context(), rolegate.ScopeOrganization, name, requester.Principal)
			if err != nil || !strings.Contains(msg, "already exists in the organization") {
				t.Errorf("RoleNameTaken(%q) = %q, %v; want taken in the organization", name, msg, err)
			}
		}
		f.sync(f.store, readerRole) // owner deleted upstream
		if msg, err := f.requests.RoleNameTaken(t.Context(), rolegate.ScopeOrganization, "owner", requester.Principal); err != nil || msg != "" {
			t.Errorf("RoleNameTaken(owner) after its deletion = %q, %v; want free", msg, err)
		}
	})

	// A role that appears, changes and goes outside rolegate is recorded
	// once each, however many syncs see it.
	t.Run("EachDifferenceIsRecordedOnce", func(t *testing.T) {
		f := newRequestsFixture(t, e)
		f.sync(f.store, ownerRole, readerRole)
		extra := rolegate.UpstreamRole{ID: "role_x", Name: "Made Elsewhere", Permissions: []string{"api.users.read"}}
		changed := extra
		changed.Permissions = []string{"api.users.read", "api.users.write"}
		steps := []struct {
			desc                       string
			roles                      []rolegate.UpstreamRole
			appeared, changed, deleted int // totals in the trail afterwards
		}{
			{"a role appears", []rolegate.UpstreamRole{ownerRole, readerRole, extra}, 1, 0, 0},
			{"listed in another order", []rolegate.UpstreamRole{extra, readerRole, ownerRole}, 1, 0, 0},
			{"it is changed", []rolegate.UpstreamRole{ownerRole, readerRole, changed}, 1, 1, 0},
			{"it is deleted", []rolegate.UpstreamRole{ownerRole, readerRole}, 1, 1, 1},
		}
		for i, st := range steps {
			for range 3 {
				f.sync(f.store, st.roles...)
			}
			got := [3]int{f.events(rolegate.ActionUpstreamRoleAppeared), f.events(rolegate.ActionUpstreamRoleChanged), f.events(rolegate.ActionUpstreamRoleDeleted)}
			if want := [3]int{st.appeared, st.changed, st.deleted}; got != want {
				t.Fatalf("step %d (%s): appeared, changed, deleted events = %v; want %v", i+1, st.desc, got, want)
			}
		}
		// An outside role's change says what changed since it was last seen.
		if d := f.details(rolegate.ActionUpstreamRoleChanged); len(d) != 1 ||
			!strings.Contains(d[0], `"added":["api.users.write"]`) || !strings.Contains(d[0], "previous sync") {
			t.Errorf("changed event details = %q; want the added permission, compared with the previous sync", d)
		}
		verifyTrail(t, f.store)
	})

	// A role rolegate created that is changed upstream drifts from what
	// was approved, once per difference; deleted, it stays, marked.
	t.Run("DriftOfARoleRolegateCreated", func(t *testing.T) {
		f := newRequestsFixture(t, e)
		req := f.provisioned("Group Reader", "role_gr")
		created := rolegate.UpstreamRole{ID: "role_gr", Name: "Group Reader", Permissions: []string{"api.groups.read"}}
		f.sync(f.store, ownerRole, created)
		r, ok := f.pictureRole("role_gr")
		if !ok || r.RequestID != req.ID || r.Drift != rolegate.DriftNone {
			t.Fatalf("created role in the picture = %+v, %v; want request #%d and no drift", r, ok, req.ID)
		}
		widened := created
		widened.Permissions = []string{"api.groups.read", "api.groups.write"}
		widened.Description = "edited in the console"
		for range 3 {
			f.sync(f.store, ownerRole, widened)
		}
		r, _ = f.pictureRole("role_gr")
		if r.Drift != rolegate.DriftChanged || len(r.Differences) != 2 {
			t.Fatalf("widened role = %+v; want Changed outside rolegate with 2 differences", r)
		}
		if d := r.Differences[1]; d.Field != "permissions" || !slices.Equal(d.Added, []string{"api.groups.write"}) {
			t.Errorf("permissions difference = %+v; want api.groups.write added", d)
		}
		if d := f.details(rolegate.ActionUpstreamRoleChanged); len(d) != 1 || !strings.Contains(d[0], "approved request") {
			t.Errorf("changed events = %q; want one, its differences from the approved request", d)
		}
		rec, err := f.requests.GetRecord(t.Context(), req.ID)
		if err != nil || rec.Role == nil || rec.Role.Drift != rolegate.DriftChanged || rec.Events[len(rec.Events)-1].Action != rolegate.ActionUpstreamRoleChanged {
			t.Errorf("the request's record = %+v, %v; want its role changed and the change at the end of its timeline", rec, err)
		}
		// Changed again, differently: a new difference, recorded once more.
		renamed := widened
		renamed.Name = "Group Writer"
		f.sync(f.store, ownerRole, renamed)
		f.sync(f.store, ownerRole, renamed)
		if n := f.events(rolegate.ActionUpstreamRoleChanged); n != 2 {
			t.Errorf("%d changed events after a second, different change; want 2", n)
		}
		for range 3 {
			f.sync(f.store, ownerRole)
		}
		r, ok = f.pictureRole("role_gr")
		if !ok || r.Drift != rolegate.DriftDeleted || r.DeletedAt.IsZero() || r.RequestID != req.ID {
			t.Errorf("deleted role = %+v, %v; want Deleted outside rolegate, still linked to #%d", r, ok, req.ID)
		}
		if n := f.events(rolegate.ActionUpstreamRoleDeleted); n != 1 {
			t.Errorf("%d deleted events; want 1", n)
		}
		if got, ok, err := f.store.Picture.RequestRole(t.Context(), req.ID); err != nil || !ok || got.Drift != rolegate.DriftDeleted {
			t.Errorf("RequestRole(%d) = %+v, %v, %v; want the deleted role", req.ID, got, ok, err)
		}
		stats, err := f.store.Picture.PictureStats(t.Context())
		if err != nil || stats.Drifted != 1 || stats.Roles != 1 || !stats.SyncedAt.Equal(start) {
			t.Errorf("PictureStats = %+v, %v; want 1 role, 1 drifted, synced at %s", stats, err, start)
		}
		verifyTrail(t, f.store)
	})

	// The worker may create a role a moment before its request records the
	// id: a sync that sees it then takes it as rolegate's.
	t.Run("ARoleBeingProvisionedIsNotCreatedOutside", func(t *testing.T) {
		f := newRequestsFixture(t, e)
		f.sync(f.store, ownerRole)
		req, _ := f.claimed("Group Reader")
		f.sync(f.store, ownerRole, rolegate.UpstreamRole{ID: "role_new", Name: "group reader", Permissions: []string{"api.groups.read"}})
		if n := f.events(rolegate.ActionUpstreamRoleAppeared); n != 0 {
			t.Errorf("%d appeared events for a role being provisioned; want 0", n)
		}
		if r, _ := f.pictureRole("role_new"); r.RequestID != req.ID {
			t.Errorf("role being provisioned links to request %d; want %d", r.RequestID, req.ID)
		}
	})

	// The Roles page's list: by name, paged, searched by part of a name or
	// a permission whatever the case, with no wildcard.
	t.Run("ListPictureRolesSearchesAndPages", func(t *testing.T) {
		f := newRequestsFixture(t, e)
		var roles []rolegate.UpstreamRole
		for i := range 120 {
			roles = append(roles, rolegate.UpstreamRole{ID: fmt.Sprintf("role_%03d", i), Name: fmt.Sprintf("Team %03d Reader", i),
				Permissions: []string{"api.groups.read", fmt.Sprintf("api.team_%03d.read", i)}})
		}
		f.sync(f.store, roles...)
		for _, tt := range []struct {
			search        string
			offset, limit int
			total         int
			first         string
		}{
			{"", 0, 50, 120, "Team 000 Reader"},
			{"", 100, 50, 120, "Team 100 Reader"},
			{"team 04", 0, 50, 10, "Team 040 Reader"},
			{"TEAM_117", 0, 50, 1, "Team 117 Reader"},
			{"groups.read", 0, 5, 120, "Team 000 Reader"},
			{"50%", 0, 50, 0, ""},
			{"team_", 0, 50, 120, "Team 000 Reader"},
			{"reader\napi", 0, 50, 0, ""},
		} {
			got, total, err := f.store.Picture.ListPictureRoles(t.Context(), rolegate.RoleFilter{Search: tt.search, Offset: tt.offset, Limit: tt.limit})
			if err != nil {
				t.Fatal(err)
			}
			first := ""
			if len(got) > 0 {
				first = got[0].Name
			}
			if total != tt.total || first != tt.first || len(got) > tt.limit {
				t.Errorf("ListPictureRoles(%q, offset %d) = %d rows of %d, first %q; want %d in all, first %q",
					tt.search, tt.offset, len(got), total, first, tt.total, tt.first)
			}
		}
	})

	// One read of the organization holds its projects and every active
	// project's roles; an archived project's roles leave without being
	// called deleted; a project seen for the first time is its baseline.
	t.Run("ProjectsAndTheirRoles", func(t *testing.T) {
		f := newRequestsFixture(t, e)
		alphaRole := rolegate.UpstreamRole{ID: "role_a1", Name: "owner", Permissions: []string{"api.organization.projects.api_keys.read"}, Predefined: true}
		betaRole := rolegate.UpstreamRole{ID: "role_b1", Name: "owner", Permissions: []string{"api.organization.projects.api_keys.read"}, Predefined: true}
		read := rolegate.OrganizationRead{
			Roles:        []rolegate.UpstreamRole{ownerRole},
			Projects:     []rolegate.Project{{ID: "proj_b", Name: "beta"}, {ID: "proj_a", Name: "Alpha"}, {ID: "proj_old", Name: "Old", Archived: true}},
			ProjectRoles: map[string][]rolegate.UpstreamRole{"proj_a": {alphaRole}, "proj_b": {betaRole}},
		}
		res, err := f.store.Picture.ReplaceOrganization(t.Context(), read, nil)
		if err != nil || res.Roles != 3 || !res.Baseline || res.Appeared != 0 {
			t.Fatalf("ReplaceOrganization = %+v, %v; want a baseline of 3 roles", res, err)
		}
		projects := func(s *Store) string {
			t.Helper()
			ps, err := s.Picture.Projects(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			var out []string
			for _, p := range ps {
				out = append(out, fmt.Sprintf("%s:%s:%v", p.ID, p.Name, p.Archived))
			}
			return strings.Join(out, " ")
		}
		if got := projects(f.store); got != "proj_a:Alpha:false proj_b:beta:false proj_old:Old:true" {
			t.Errorf("Projects = %s; want the active ones by name, then the archived", got)
		}
		r, ok := f.pictureRole("role_a1")
		if !ok || r.Scope != "proj_a" || r.ScopeName != "Alpha" {
			t.Errorf("Alpha's owner = %+v, %v; want it in proj_a named Alpha", r, ok)
		}
		if msg, err := f.requests.RoleNameTaken(t.Context(), "proj_a", "OWNER", requester.Principal); err != nil || !strings.Contains(msg, "in this project") {
			t.Errorf("RoleNameTaken(proj_a, OWNER) = %q, %v; want taken in this project", msg, err)
		}
		// Beta is archived, a role appears in Alpha, and Gamma is new with
		// a role of its own (its baseline, no event).
		read.Projects = []rolegate.Project{{ID: "proj_a", Name: "Alpha"}, {ID: "proj_b", Name: "beta", Archived: true}, {ID: "proj_c", Name: "Gamma"}}
		read.ProjectRoles = map[string][]rolegate.UpstreamRole{
			"proj_a": {alphaRole, {ID: "role_a2", Name: "Key Managers", Permissions: []string{"api.organization.projects.api_keys.read"}}},
			"proj_c": {{ID: "role_c1", Name: "owner", Predefined: true}},
		}
		f.clock.Advance(time.Minute)
		res, err = f.store.Picture.ReplaceOrganization(t.Context(), read, nil)
		if err != nil || res.Appeared != 1 || res.Deleted != 0 || res.Roles != 4 {
			t.Errorf("second ReplaceOrganization = %+v, %v; want 4 roles, 1 appeared (in Alpha), none deleted", res, err)
		}
		if _, ok := f.pictureRole("role_b1"); ok {
			t.Errorf("the archived project's role is still in the picture")
		}
		if n := f.events(rolegate.ActionUpstreamRoleAppeared); n != 1 {
			t.Errorf("%d appeared events; want 1", n)
		}
		if at, err := f.store.Picture.PictureSyncedAt(t.Context(), "proj_b"); err != nil || !at.IsZero() {
			t.Errorf("PictureSyncedAt(the archived project) = %s, %v; want never", at, err)
		}
		// Another process (or a restart) reads the same projects.
		again := e.Again(t, f.store, f.clock.Now)
		if got := projects(again); got != "proj_a:Alpha:false proj_c:Gamma:false proj_b:beta:true" {
			t.Errorf("Projects from another process = %s", got)
		}
		// A read without projects leaves them as they are.
		if _, err := f.store.Picture.ReplaceOrganization(t.Context(), rolegate.OrganizationRead{Roles: []rolegate.UpstreamRole{ownerRole}}, nil); err != nil {
			t.Fatal(err)
		}
		if got := projects(f.store); got != "proj_a:Alpha:false proj_c:Gamma:false proj_b:beta:true" {
			t.Errorf("Projects after a read without them = %s; want them unchanged", got)
		}
		verifyTrail(t, f.store)
	})

	// An admin's resync is recorded as catalog.refreshed; a background
	// one is not.
	t.Run("AnAdminsResyncIsRecorded", func(t *testing.T) {
		f := newRequestsFixture(t, e)
		f.sync(f.store, ownerRole)
		if _, err := f.store.Picture.ReplaceOrganization(t.Context(), rolegate.OrganizationRead{Roles: []rolegate.UpstreamRole{ownerRole, readerRole}}, &approver); err != nil {
			t.Fatal(err)
		}
		if n := f.events(rolegate.ActionCatalogRefreshed); n != 1 {
			t.Errorf("%d catalog.refreshed events; want the admin's one", n)
		}
	})

	// The directory: groups and users by name, who is in which group, a
	// user found by email whatever its case; replaced whole by each read,
	// left alone by a read without it.
	t.Run("Directory", func(t *testing.T) {
		f := newRequestsFixture(t, e)
		if at, err := f.store.Picture.DirectorySyncedAt(t.Context()); err != nil || !at.IsZero() {
			t.Fatalf("DirectorySyncedAt before any read = %s, %v; want never", at, err)
		}
		dir := rolegate.Directory{
			Groups: []rolegate.Group{{ID: "group_2", Name: "payments"}, {ID: "group_1", Name: "Finance"}},
			Users: []rolegate.User{{ID: "user_b", Name: "Blake", Email: "Blake@Example.com"}, {ID: "user_a", Name: "Avery", Email: "avery@example.com"},
				{ID: "user_c", Name: "Casey"}},
			Members: map[string][]string{"group_1": {"user_a", "user_b", "user_a"}, "group_2": {"user_b", "user_gone"}},
		}
		if _, err := f.store.Picture.ReplaceOrganization(t.Context(), rolegate.OrganizationRead{Roles: []rolegate.UpstreamRole{ownerRole}, Directory: &dir}, nil); err != nil {
			t.Fatal(err)
		}
		p := f.store.Picture
		groups := func(gs []rolegate.Group, err error) string {
			t.Helper()
			if err != nil {
				t.Fatal(err)
			}
			var out []string
			for _, g := range gs {
				out = append(out, g.ID+":"+g.Name)
			}
			return strings.Join(out, " ")
		}
		users := func(us []rolegate.User, err error) string {
			t.Helper()
			if err != nil {
				t.Fatal(err)
			}
			var out []string
			for _, u := range us {
				out = append(out, u.ID+":"+u.Name+":"+u.Email)
			}
			return strings.Join(out, " ")
		}
		if got := groups(p.Groups(t.Context())); got != "group_1:Finance group_2:payments" {
			t.Errorf("Groups = %s", got)
		}
		if got := users(p.Users(t.Context())); got != "user_a:Avery:avery@example.com user_b:Blake:Blake@Example.com user_c:Casey:" {
			t.Errorf("Users = %s", got)
		}
		if got := groups(p.GroupsOf(t.Context(), "user_b")); got != "group_1:Finance group_2:payments" {
			t.Errorf("GroupsOf(user_b) = %s", got)
		}
		if got := users(p.GroupMembers(t.Context(), "group_2")); got != "user_b:Blake:Blake@Example.com user_gone:user_gone:" {
			t.Errorf("GroupMembers(group_2) = %s; want Blake, and the unknown member by id", got)
		}
		if u, ok, err := p.UserByEmail(t.Context(), " blake@EXAMPLE.com "); err != nil || !ok || u.ID != "user_b" {
			t.Errorf("UserByEmail(blake) = %+v, %v, %v; want user_b", u, ok, err)
		}
		if _, ok, err := p.UserByEmail(t.Context(), ""); err != nil || ok {
			t.Errorf("UserByEmail(\"\") = %v, %v; want nobody", ok, err)
		}
		if g, ok, err := p.Group(t.Context(), "group_1"); err != nil || !ok || g.Name != "Finance" {
			t.Errorf("Group(group_1) = %+v, %v, %v", g, ok, err)
		}
		if _, ok, err := p.User(t.Context(), "user_gone"); err != nil || ok {
			t.Errorf("User(user_gone) = %v, %v; want not found", ok, err)
		}
		// The next read: Finance gone, Blake renamed and out of payments.
		f.clock.Advance(time.Minute)
		dir = rolegate.Directory{
			Groups:  []rolegate.Group{{ID: "group_2", Name: "payments"}},
			Users:   []rolegate.User{{ID: "user_b", Name: "Blake B", Email: "blake@example.com"}},
			Members: map[string][]string{},
		}
		if _, err := f.store.Picture.ReplaceOrganization(t.Context(), rolegate.OrganizationRead{Roles: []rolegate.UpstreamRole{ownerRole}, Directory: &dir}, nil); err != nil {
			t.Fatal(err)
		}
		if _, err := f.store.Picture.ReplaceOrganization(t.Context(), rolegate.OrganizationRead{Roles: []rolegate.UpstreamRole{ownerRole}}, nil); err != nil {
			t.Fatal(err)
		}
		if got := groups(p.Groups(t.Context())) + " / " + users(p.Users(t.Context())) + " / " + groups(p.GroupsOf(t.Context(), "user_b")); got != "group_2:payments / user_b:Blake B:blake@example.com / " {
			t.Errorf("after the second read: %s", got)
		}
		if at, err := p.DirectorySyncedAt(t.Context()); err != nil || !at.Equal(start.Add(time.Minute)) {
			t.Errorf("DirectorySyncedAt = %s, %v; want the second read's time", at, err)
		}
	})

	// The metrics' counts: requests by status, the queue, the picture.
	t.Run("Counts", func(t *testing.T) {
		f := newRequestsFixture(t, e)
		f.sync(f.store, ownerRole)
		f.create(f.store, "Pending One")
		f.create(f.store, "Pending Two")
		f.claimed("Being Created")
		counts, err := f.store.Counts.CountByStatus(t.Context())
		if err != nil || counts[rolegate.StatusPending] != 2 || counts[rolegate.StatusProvisioning] != 1 || len(counts) != 2 {
			t.Errorf("CountByStatus = %v, %v; want 2 pending, 1 provisioning", counts, err)
		}
		q, err := f.store.Counts.QueueStats(t.Context())
		if err != nil || q.Depth != 1 || q.LeaseExpiry.IsZero() {
			t.Errorf("QueueStats = %+v, %v; want one running job with its lease", q, err)
		}
		p, err := f.store.Counts.PictureStats(t.Context())
		if err != nil || p.Roles != 1 || p.Drifted != 0 || !p.SyncedAt.Equal(start) {
			t.Errorf("PictureStats = %+v, %v; want one role synced at %s", p, err, start)
		}
	})
}

// testPictureTwoProcesses syncs from two processes at once, as every node
// runs its own periodic sync: each difference is still recorded once.
func testPictureTwoProcesses(t *testing.T, e Engine) {
	t.Run("SyncsAtOnceRecordEachDifferenceOnce", func(t *testing.T) {
		f := newRequestsFixture(t, e)
		second := e.Again(t, f.store, f.clock.Now)
		f.sync(f.store, ownerRole)
		read := rolegate.OrganizationRead{
			Roles:        []rolegate.UpstreamRole{ownerRole, {ID: "role_x", Name: "Made Elsewhere", Permissions: []string{"api.users.read"}}},
			Projects:     []rolegate.Project{{ID: "proj_a", Name: "Alpha"}},
			ProjectRoles: map[string][]rolegate.UpstreamRole{"proj_a": {{ID: "role_a1", Name: "owner", Predefined: true}}},
		}
		var wg sync.WaitGroup
		for _, s := range []*Store{f.store, second, f.store, second} {
			wg.Go(func() {
				if _, err := s.Picture.ReplaceOrganization(t.Context(), read, nil); err != nil {
					t.Errorf("ReplaceOrganization: %v", err)
				}
			})
		}
		wg.Wait()
		if n := f.events(rolegate.ActionUpstreamRoleAppeared); n != 1 {
			t.Errorf("%d appeared events from 4 syncs at once; want 1", n)
		}
		if n := f.store.Rows(t, "org_roles", ""); n != 3 {
			t.Errorf("%d roles in the picture; want 3", n)
		}
		verifyTrail(t, f.store)
	})
}
