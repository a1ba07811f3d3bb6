package sqlite_test

import (
	"fmt"
	"slices"
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

// The picture store's own tests are in the conformance suite
// (internal/storetest's picture.go); what stays here needs SQLite's
// fixtures (the notifier's, the trail's request events).

var ownerRole = rolegate.UpstreamRole{ID: "role_owner", Name: "owner", Permissions: []string{"api.groups.read", "api.groups.write"}, Predefined: true}

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
