package sqlite_test

import (
	"reflect"
	"testing"

	"github.com/rolegate/rolegate/internal/rolegate"
)

// GetRecord reads the request page's parts in one statement
// (request_record.go); each part must be what the reads of that part
// alone give: the request with its approvals and grant (Get), its
// timeline (RequestEvents), its notifications and its role in the picture.
func TestGetRecordIsWhatEachPartsOwnReadGives(t *testing.T) {
	lc := newLifecycle(t, 2)
	lc.db.SetNotifications(rolegate.NotificationTargets{Webhooks: []rolegate.WebhookTarget{{ID: ntWebhookID, Label: "webhook"}}})
	lc.sync(ownerRole)
	// A role request through its whole life, approved twice (with a
	// comment), created, then changed upstream (drift on its role).
	req := lc.create("Dashboard Reader", "api.groups.read")
	if _, err := lc.requests.Approve(lc.ctx, lcApprover1, req.ID, req.Binding(), "Looks right."); err != nil {
		t.Fatal(err)
	}
	req = lc.provisioned2(req)
	lc.sync(ownerRole, rolegate.UpstreamRole{ID: "role_dash", Name: "Dashboard Reader", Permissions: []string{"api.groups.read", "api.groups.write"}})
	// An access request to that role for a group of the directory.
	dir := &rolegate.Directory{Groups: []rolegate.Group{{ID: "group_sup", Name: "Support"}}}
	if _, err := lc.picture.ReplaceOrganization(lc.ctx, rolegate.OrganizationRead{
		Roles:     []rolegate.UpstreamRole{ownerRole, {ID: "role_dash", Name: "Dashboard Reader", Permissions: []string{"api.groups.read", "api.groups.write"}}},
		Directory: dir,
	}, nil); err != nil {
		t.Fatal(err)
	}
	access, err := lc.requests.CreateAccess(lc.ctx, lcRequester, rolegate.AccessInput{
		RoleID: "role_dash", Grantee: rolegate.Grantee{Kind: rolegate.GranteeGroup, ID: "group_sup"}, Until: "2026-03-20",
		Justification: "Support reads the dashboards for INC-7.",
	}, lc.catalog, rolegate.AccessConfig{MaxDuration: rolegate.DefaultAccessMaxDuration})
	if err != nil {
		t.Fatal(err)
	}
	for _, by := range []rolegate.Actor{lcApprover1, lcApprover2} {
		if _, err := lc.requests.Approve(lc.ctx, by, access.ID, access.Binding(), ""); err != nil {
			t.Fatal(err)
		}
	}
	job, err := lc.jobs.ClaimJob(lc.ctx, "worker-1", 60e9)
	if err != nil || job == nil || job.RequestID != access.ID {
		t.Fatalf("ClaimJob = %+v, %v; want the access request's job", job, err)
	}
	if err := lc.jobs.CompleteJob(lc.ctx, job, rolegate.ProvisionedRole{ID: "role_dash", Name: req.RoleName, Permissions: req.Permissions}, false); err != nil {
		t.Fatal(err)
	}
	pending := lc.create("Still Pending", "api.users.read")

	for _, id := range []int64{req.ID, access.ID, pending.ID} {
		rec, err := lc.requests.GetRecord(lc.ctx, id)
		if err != nil {
			t.Fatalf("GetRecord(%d): %v", id, err)
		}
		want, err := lc.requests.Get(lc.ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(rec.Request, want) {
			t.Errorf("GetRecord(%d).Request = %+v; want Get's %+v", id, rec.Request, want)
		}
		events, err := lc.trail.RequestEvents(lc.ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(rec.Events, events) {
			t.Errorf("GetRecord(%d).Events = %+v; want RequestEvents' %+v", id, rec.Events, events)
		}
		notes, err := lc.outbox.NotificationsOf(lc.ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(rec.Notifications, notes) {
			t.Errorf("GetRecord(%d).Notifications = %+v; want NotificationsOf's %+v", id, rec.Notifications, notes)
		}
		var role *rolegate.PictureRole
		if want.UpstreamRoleID != "" {
			roles, _, err := lc.picture.ListPictureRoles(lc.ctx, rolegate.RoleFilter{Search: want.RoleName})
			if err != nil {
				t.Fatal(err)
			}
			for i := range roles {
				if roles[i].RequestID == id {
					role = &roles[i]
				}
			}
		}
		if !reflect.DeepEqual(rec.Role, role) {
			t.Errorf("GetRecord(%d).Role = %+v; want the picture's %+v", id, rec.Role, role)
		}
	}
	// What the parts hold, so that agreeing is not agreeing on nothing.
	rec, _ := lc.requests.GetRecord(lc.ctx, req.ID)
	if len(rec.Request.Approvals) != 2 || rec.Request.Approvals[0].Comment != "Looks right." || len(rec.Events) < 5 ||
		len(rec.Notifications) == 0 || rec.Role == nil || rec.Role.Drift == "" {
		t.Errorf("GetRecord(%d) = %d approvals, %d events, %d notifications, role %+v; want two approvals (the first with its comment), the timeline, the webhook's notifications and the drifted role",
			req.ID, len(rec.Request.Approvals), len(rec.Events), len(rec.Notifications), rec.Role)
	}
	if rec, _ := lc.requests.GetRecord(lc.ctx, access.ID); rec.Request.Status != rolegate.StatusProvisioned || rec.Request.Grant == nil {
		t.Errorf("GetRecord(%d).Request = %s with grant %+v; want the access provisioned with its grant", access.ID, rec.Request.Status, rec.Request.Grant)
	}
}

// provisioned2 gives req its second approval, then creates its role.
func (lc *lifecycle) provisioned2(req *rolegate.Request) *rolegate.Request {
	lc.t.Helper()
	if _, err := lc.requests.Approve(lc.ctx, lcApprover2, req.ID, req.Binding(), ""); err != nil {
		lc.t.Fatal(err)
	}
	job, err := lc.jobs.ClaimJob(lc.ctx, "worker-1", 60e9)
	if err != nil || job == nil {
		lc.t.Fatalf("ClaimJob = %v, %v", job, err)
	}
	if err := lc.jobs.CompleteJob(lc.ctx, job, rolegate.ProvisionedRole{ID: "role_dash", Name: req.RoleName, Permissions: req.Permissions}, false); err != nil {
		lc.t.Fatal(err)
	}
	return lc.get(req.ID)
}
