package sqlite_test

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/rolegate/rolegate/internal/rolegate"
)

// sync replaces the picture with roles and returns what it found.
func (lc *lifecycle) sync(roles ...rolegate.UpstreamRole) rolegate.SyncResult {
	lc.t.Helper()
	res, err := lc.picture.ReplacePicture(lc.ctx, rolegate.ScopeOrganization, roles, nil)
	if err != nil {
		lc.t.Fatalf("ReplacePicture: %v", err)
	}
	return res
}

// events counts the audit events of action.
func (lc *lifecycle) events(action string) int {
	return lc.count(`SELECT COUNT(*) FROM audit_events WHERE action = ?`, action)
}

// pictureRole returns role id as the Roles page lists it.
func (lc *lifecycle) pictureRole(id string) (rolegate.PictureRole, bool) {
	lc.t.Helper()
	roles, _, err := lc.picture.ListPictureRoles(lc.ctx, rolegate.RoleFilter{Limit: 200})
	if err != nil {
		lc.t.Fatal(err)
	}
	for _, r := range roles {
		if r.ID == id {
			return r, true
		}
	}
	return rolegate.PictureRole{}, false
}

// provisioned files, approves and provisions a request whose role gets id.
func (lc *lifecycle) provisioned(name, id string, perms ...string) *rolegate.Request {
	lc.t.Helper()
	if len(perms) == 0 {
		perms = []string{"api.groups.read"}
	}
	req := lc.create(name, perms...)
	if _, err := lc.requests.Approve(lc.ctx, lcApprover2, req.ID, req.Binding(), ""); err != nil {
		lc.t.Fatal(err)
	}
	job, err := lc.jobs.ClaimJob(lc.ctx, "worker-1", 60e9)
	if err != nil || job == nil {
		lc.t.Fatalf("ClaimJob = %v, %v", job, err)
	}
	if err := lc.jobs.CompleteJob(lc.ctx, job, rolegate.ProvisionedRole{ID: id, Name: name, Permissions: perms}, false); err != nil {
		lc.t.Fatal(err)
	}
	return lc.get(req.ID)
}

var (
	ownerRole  = rolegate.UpstreamRole{ID: "role_owner", Name: "owner", Permissions: []string{"api.groups.read", "api.groups.write"}, Predefined: true}
	readerRole = rolegate.UpstreamRole{ID: "role_reader", Name: "reader", Permissions: []string{"api.groups.read"}, Predefined: true}
)

func TestFirstSyncIsABaselineWithoutEvents(t *testing.T) {
	lc := newLifecycle(t, 1)
	res := lc.sync(ownerRole, readerRole)
	if !res.Baseline || res.Appeared+res.Changed+res.Deleted != 0 || res.Roles != 2 {
		t.Errorf("first sync = %+v; want a baseline of 2 roles and no differences", res)
	}
	if n := lc.count(`SELECT COUNT(*) FROM audit_events WHERE action LIKE 'upstream.%'`); n != 0 {
		t.Errorf("%d upstream.* events after the baseline; want 0", n)
	}
	r, ok := lc.pictureRole("role_owner")
	if !ok || !r.CreatedOutside() || !r.Predefined || r.Drift != rolegate.DriftNone {
		t.Errorf("owner in the picture = %+v, %v; want a predefined role created outside rolegate", r, ok)
	}
}

// Names collide whatever their case: a role upstream named "owner" makes
// "OWNER" taken, and the name check reads the picture, never the upstream.
func TestRoleNameTakenReadsThePictureIgnoringCase(t *testing.T) {
	lc := newLifecycle(t, 1)
	lc.sync(ownerRole)
	for _, name := range []string{"owner", "OWNER", " Owner "} {
		msg, err := lc.requests.RoleNameTaken(lc.ctx, rolegate.ScopeOrganization, name, lcRequester.Principal)
		if err != nil || !strings.Contains(msg, "already exists in the organization") {
			t.Errorf("RoleNameTaken(%q) = %q, %v; want taken in the organization", name, msg, err)
		}
	}
	lc.sync(readerRole) // owner deleted upstream
	if msg, err := lc.requests.RoleNameTaken(lc.ctx, rolegate.ScopeOrganization, "owner", lcRequester.Principal); err != nil || msg != "" {
		t.Errorf("RoleNameTaken(owner) after its deletion = %q, %v; want free", msg, err)
	}
}

func TestEachDifferenceIsRecordedOnceAcrossManySyncs(t *testing.T) {
	lc := newLifecycle(t, 1)
	lc.sync(ownerRole, readerRole)
	extra := rolegate.UpstreamRole{ID: "role_x", Name: "Made Elsewhere", Permissions: []string{"api.users.read"}}
	changed := extra
	changed.Permissions = []string{"api.users.read", "api.users.write"}
	steps := []struct {
		desc                       string
		roles                      []rolegate.UpstreamRole
		appeared, changed, deleted int // totals in the trail afterwards
	}{
		{"a role appears", []rolegate.UpstreamRole{ownerRole, readerRole, extra}, 1, 0, 0},
		{"the same again", []rolegate.UpstreamRole{ownerRole, readerRole, extra}, 1, 0, 0},
		{"listed in another order", []rolegate.UpstreamRole{extra, readerRole, ownerRole}, 1, 0, 0},
		{"it is changed", []rolegate.UpstreamRole{ownerRole, readerRole, changed}, 1, 1, 0},
		{"the same again", []rolegate.UpstreamRole{ownerRole, readerRole, changed}, 1, 1, 0},
		{"it is deleted", []rolegate.UpstreamRole{ownerRole, readerRole}, 1, 1, 1},
		{"the same again", []rolegate.UpstreamRole{ownerRole, readerRole}, 1, 1, 1},
	}
	for i, st := range steps {
		for range 3 {
			lc.sync(st.roles...)
		}
		got := [3]int{lc.events(rolegate.ActionUpstreamRoleAppeared), lc.events(rolegate.ActionUpstreamRoleChanged), lc.events(rolegate.ActionUpstreamRoleDeleted)}
		if want := [3]int{st.appeared, st.changed, st.deleted}; got != want {
			t.Fatalf("step %d (%s): appeared, changed, deleted events = %v; want %v", i+1, st.desc, got, want)
		}
	}
	// An outside role's change says what changed since it was last seen.
	var details string
	if err := lc.raw.QueryRow(`SELECT details FROM audit_events WHERE action = ?`, rolegate.ActionUpstreamRoleChanged).Scan(&details); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(details, `"added":["api.users.write"]`) || !strings.Contains(details, "previous sync") {
		t.Errorf("changed event details = %s; want the added permission, compared with the previous sync", details)
	}
	lc.verifyChain()
}

func TestDriftOfARoleRolegateCreated(t *testing.T) {
	lc := newLifecycle(t, 1)
	req := lc.provisioned("Group Reader", "role_gr", "api.groups.read")
	created := rolegate.UpstreamRole{ID: "role_gr", Name: "Group Reader", Permissions: []string{"api.groups.read"}}
	lc.sync(ownerRole, created)
	r, ok := lc.pictureRole("role_gr")
	if !ok || r.RequestID != req.ID || r.Drift != rolegate.DriftNone {
		t.Fatalf("created role in the picture = %+v, %v; want request #%d and no drift", r, ok, req.ID)
	}

	widened := created
	widened.Permissions = []string{"api.groups.read", "api.groups.write"}
	widened.Description = "edited in the console"
	for range 3 {
		lc.sync(ownerRole, widened)
	}
	r, _ = lc.pictureRole("role_gr")
	if r.Drift != rolegate.DriftChanged || len(r.Differences) != 2 {
		t.Fatalf("widened role = %+v; want Changed outside rolegate with 2 differences", r)
	}
	if d := r.Differences[1]; d.Field != "permissions" || !slices.Equal(d.Added, []string{"api.groups.write"}) {
		t.Errorf("permissions difference = %+v; want api.groups.write added", d)
	}
	if got := lc.actions(req.ID); !slices.Equal(got[len(got)-1:], []string{rolegate.ActionUpstreamRoleChanged}) ||
		lc.events(rolegate.ActionUpstreamRoleChanged) != 1 {
		t.Errorf("request timeline = %q (%d changed events); want one %s at its end", got, lc.events(rolegate.ActionUpstreamRoleChanged), rolegate.ActionUpstreamRoleChanged)
	}
	var details string
	if err := lc.raw.QueryRow(`SELECT details FROM audit_events WHERE action = ?`, rolegate.ActionUpstreamRoleChanged).Scan(&details); err != nil {
		t.Fatal(err)
	}
	var d struct {
		Differences []rolegate.Difference `json:"differences"`
	}
	if err := json.Unmarshal([]byte(details), &d); err != nil || len(d.Differences) != 2 || !strings.Contains(details, "approved request") {
		t.Errorf("changed event details = %s; want the 2 differences from the approved request", details)
	}

	// Changed again, differently: a new difference, recorded once more.
	renamed := widened
	renamed.Name = "Group Writer"
	lc.sync(ownerRole, renamed)
	lc.sync(ownerRole, renamed)
	if n := lc.events(rolegate.ActionUpstreamRoleChanged); n != 2 {
		t.Errorf("%d changed events after a second, different change; want 2", n)
	}

	// Deleted: it stays in the picture, marked, and is recorded once.
	for range 3 {
		lc.sync(ownerRole)
	}
	r, ok = lc.pictureRole("role_gr")
	if !ok || r.Drift != rolegate.DriftDeleted || r.DeletedAt.IsZero() || r.RequestID != req.ID {
		t.Errorf("deleted role = %+v, %v; want Deleted outside rolegate, still linked to #%d", r, ok, req.ID)
	}
	if n := lc.events(rolegate.ActionUpstreamRoleDeleted); n != 1 {
		t.Errorf("%d deleted events; want 1", n)
	}
	if got, ok, err := lc.picture.RequestRole(lc.ctx, req.ID); err != nil || !ok || got.Drift != rolegate.DriftDeleted {
		t.Errorf("RequestRole(%d) = %+v, %v, %v; want the deleted role", req.ID, got, ok, err)
	}
	stats, err := lc.picture.PictureStats(lc.ctx)
	if err != nil || stats.Drifted != 1 || stats.Roles != 1 || stats.SyncedAt.IsZero() {
		t.Errorf("rolegate.PictureStats = %+v, %v; want 1 role, 1 drifted, a sync time", stats, err)
	}
	lc.verifyChain()
}

// The provisioning worker may create a role a moment before its request
// records the id: a sync that sees it then takes it as rolegate's, not as
// one created outside.
func TestARoleBeingProvisionedIsNotCreatedOutside(t *testing.T) {
	lc := newLifecycle(t, 1)
	lc.sync(ownerRole)
	req := lc.provisioning("Group Reader")
	lc.sync(ownerRole, rolegate.UpstreamRole{ID: "role_new", Name: "Group Reader", Permissions: []string{"api.groups.read"}})
	if n := lc.events(rolegate.ActionUpstreamRoleAppeared); n != 0 {
		t.Errorf("%d appeared events for a role being provisioned; want 0", n)
	}
	if r, _ := lc.pictureRole("role_new"); r.RequestID != req.ID {
		t.Errorf("role being provisioned links to request %d; want %d", r.RequestID, req.ID)
	}
}

func TestListPictureRolesSearchesAndPages(t *testing.T) {
	lc := newLifecycle(t, 1)
	var roles []rolegate.UpstreamRole
	for i := range 120 {
		roles = append(roles, rolegate.UpstreamRole{ID: fmt.Sprintf("role_%03d", i), Name: fmt.Sprintf("Team %03d Reader", i),
			Permissions: []string{"api.groups.read", fmt.Sprintf("api.team_%03d.read", i)}})
	}
	lc.sync(roles...)
	tests := []struct {
		search        string
		offset, limit int
		total         int
		first         string
	}{
		{"", 0, 50, 120, "Team 000 Reader"},
		{"", 100, 50, 120, "Team 100 Reader"},
		{"team 04", 0, 50, 10, "Team 040 Reader"},
		{"TEAM_117", 0, 50, 1, "Team 117 Reader"}, // a permission, in another case
		{"groups.read", 0, 5, 120, "Team 000 Reader"},
		{"50%", 0, 50, 0, ""}, // no wildcard
		{"reader\napi", 0, 50, 0, ""},
	}
	for _, tt := range tests {
		got, total, err := lc.picture.ListPictureRoles(lc.ctx, rolegate.RoleFilter{Search: tt.search, Offset: tt.offset, Limit: tt.limit})
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
}

// Drift on a role rolegate created reaches the admins (email) and the
// webhooks once per difference, however many syncs see it; a role created
// outside rolegate notifies nobody.
func TestDriftNotifiesTheAdminsOncePerDifference(t *testing.T) {
	f := newNotifyFixture(t, true)
	req := f.file(ntRiley, "Group Reader")
	f.approve(ntAvery, req, "")
	job := f.claimJob()
	if err := f.jobs.CompleteJob(f.ctx, job, rolegate.ProvisionedRole{ID: "role_gr", Name: "Group Reader", Permissions: []string{"api.groups.read"}}, false); err != nil {
		t.Fatal(err)
	}
	sync := func(roles ...rolegate.UpstreamRole) {
		t.Helper()
		if _, err := f.picture.ReplacePicture(f.ctx, rolegate.ScopeOrganization, roles, nil); err != nil {
			t.Fatal(err)
		}
	}
	created := rolegate.UpstreamRole{ID: "role_gr", Name: "Group Reader", Description: "Reads groups.", Permissions: []string{"api.groups.read"}}
	sync(created)
	drift := func() (admin, others, webhooks int) {
		t.Helper()
		all, err := f.outbox.NotificationsOf(f.ctx, req.ID)
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range all {
			if n.Facts.Kind != rolegate.NoticeDrift {
				continue
			}
			switch {
			case n.Channel == rolegate.ChannelWebhook:
				webhooks++
			case n.Audience == rolegate.AudienceAdmin && n.Recipient == "drew@example.com":
				admin++
			default:
				others++
			}
		}
		return
	}
	if a, o, w := drift(); a+o+w != 0 {
		t.Fatalf("drift notifications before any drift: %d/%d/%d", a, o, w)
	}
	changed := created
	changed.Permissions = []string{"api.groups.read", "api.users.write"}
	outside := rolegate.UpstreamRole{ID: "role_x", Name: "Made Elsewhere", Permissions: []string{"api.groups.read"}}
	for range 3 {
		sync(changed, outside)
	}
	if a, o, w := drift(); a != 1 || o != 0 || w != 1 {
		t.Errorf("after a change seen by 3 syncs: admin %d, others %d, webhooks %d; want 1, 0, 1", a, o, w)
	}
	for range 3 {
		sync(outside)
	}
	if a, o, w := drift(); a != 2 || o != 0 || w != 2 {
		t.Errorf("after the deletion seen by 3 syncs: admin %d, others %d, webhooks %d; want 2, 0, 2", a, o, w)
	}
	all, _ := f.outbox.NotificationsOf(f.ctx, req.ID)
	var kinds []string
	for _, n := range all {
		if n.Channel == rolegate.ChannelEmail && n.Facts.Kind == rolegate.NoticeDrift {
			kinds = append(kinds, fmt.Sprintf("deleted=%v role=%s differences=%d", n.Facts.Deleted, n.Facts.RoleID, len(n.Facts.Differences)))
		}
	}
	if want := []string{"deleted=false role=role_gr differences=1", "deleted=true role=role_gr differences=0"}; !slices.Equal(kinds, want) {
		t.Errorf("admin drift notices = %q; want %q", kinds, want)
	}
}

// A request's record is what its page shows, from one snapshot: the
// request, its timeline, its notifications and the role it created, each
// as the store's own reads give it.
func TestARequestsRecordHoldsWhatItsPageShows(t *testing.T) {
	lc := newLifecycle(t, 1)
	lc.sync(ownerRole)
	req := lc.provisioned("Dashboard Reader", "role_dash")
	lc.sync(ownerRole, rolegate.UpstreamRole{ID: "role_dash", Name: "Dashboard Reader", Permissions: []string{"api.groups.read"}})

	rec, err := lc.requests.GetRecord(lc.ctx, req.ID)
	if err != nil {
		t.Fatal(err)
	}
	if rec.Request.Status != rolegate.StatusProvisioned || rec.Request.ApprovalCount() != 1 {
		t.Errorf("GetRecord(%d).Request = %s with %d approvals; want provisioned with 1", req.ID, rec.Request.Status, rec.Request.ApprovalCount())
	}
	events, _ := lc.trail.RequestEvents(lc.ctx, req.ID)
	if len(rec.Events) != len(events) || rec.Events[len(rec.Events)-1].Action != rolegate.ActionProvisioningSucceeded {
		t.Errorf("GetRecord(%d).Events = %d events ending %q; want the %d of its timeline, ending with the role's creation",
			req.ID, len(rec.Events), rec.Events[len(rec.Events)-1].Action, len(events))
	}
	if rec.Role == nil || rec.Role.ID != "role_dash" || rec.Role.RequestID != req.ID {
		t.Errorf("GetRecord(%d).Role = %+v; want role_dash as the picture shows it", req.ID, rec.Role)
	}
	if len(rec.Notifications) != 0 {
		t.Errorf("GetRecord(%d).Notifications = %d; want none (notifications are off)", req.ID, len(rec.Notifications))
	}

	pending := lc.create("Still Pending", "api.users.read")
	if rec, err := lc.requests.GetRecord(lc.ctx, pending.ID); err != nil || rec.Role != nil || rec.Request.Status != rolegate.StatusPending || len(rec.Events) != 1 {
		t.Errorf("GetRecord(a pending request) = %+v, %v; want it pending with its one event and no role", rec, err)
	}
	if _, err := lc.requests.GetRecord(lc.ctx, 9999); rolegate.ErrorCode(err) != rolegate.ENOTFOUND {
		t.Errorf("GetRecord(9999) error = %v; want not found", err)
	}
}
