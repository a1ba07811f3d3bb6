package sqlite_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rolegate/rolegate/internal/rolegate"
	"github.com/rolegate/rolegate/internal/sqlite"
	"github.com/rolegate/rolegate/internal/testkit"
)

// notifyFixture is a real database file whose people have signed in before
// (the people table), with notifications turned on for email and one
// webhook, and a clock moved by hand.
type notifyFixture struct {
	t        *testing.T
	ctx      context.Context
	db       *sqlite.DB
	requests *sqlite.Requests
	catalog  *rolegate.Catalog
	clock    *testkit.Clock
	woken    atomic.Int64
	stores
}

var (
	ntRiley  = ntActor("riley", "Riley Requester", "riley@example.com", rolegate.RoleRequester)
	ntAvery  = ntActor("avery", "Avery Approver", "avery@example.com", rolegate.RoleRequester, rolegate.RoleApprover)
	ntBlake  = ntActor("blake", "Blake Approver", "Blake@Example.com", rolegate.RoleRequester, rolegate.RoleApprover)
	ntParker = ntActor("parker", "Parker Both", "parker@example.com", rolegate.RoleRequester, rolegate.RoleApprover)
	ntQuinn  = ntActor("quinn", "Quinn Noaddress", "", rolegate.RoleRequester, rolegate.RoleApprover)
	ntDrew   = ntActor("drew", "Drew Admin", "drew@example.com", rolegate.RoleRequester, rolegate.RoleAdmin)
	ntCasey  = ntActor("casey", "Casey Auditor", "casey@example.com", rolegate.RoleRequester, rolegate.RoleAuditor)
)

func ntActor(subject, name, email string, roles ...rolegate.PortalRole) rolegate.Actor {
	return rolegate.Actor{Principal: rolegate.Principal{
		Person: rolegate.Person{Issuer: "https://idp.example.com", Subject: subject, Name: name, Email: email},
		Roles:  roles,
	}}
}

const ntWebhookID = "webhook:0011223344556677"

func newNotifyFixture(t *testing.T, on bool) *notifyFixture {
	t.Helper()
	ctx := context.Background()
	db, path, clock := openOnClock(t)
	f := &notifyFixture{t: t, ctx: ctx, db: db, clock: clock, stores: storesOf(db)}
	if on {
		db.SetNotifications(rolegate.NotificationTargets{
			Email:    true,
			Webhooks: []rolegate.WebhookTarget{{ID: ntWebhookID, Label: "webhook https://chat.example.com (00112233)"}},
			Wake:     func() { f.woken.Add(1) },
		})
	}
	// Everyone signed in once: the people table is where approvers' and
	// admins' addresses come from. Written through a second connection, as
	// sign-in would have.
	raw := testkit.OpenDB(t, path)
	for _, a := range []rolegate.Actor{ntRiley, ntAvery, ntBlake, ntParker, ntQuinn, ntDrew, ntCasey} {
		if _, err := raw.ExecContext(ctx, `INSERT INTO people (person_key, issuer, subject, email, name, roles, last_seen_at)
			VALUES (?, ?, ?, ?, ?, ?, ?)`, a.Key(), a.Issuer, a.Subject, a.Email, a.Name, a.RoleNames(), f.clock.Now().UnixMilli()); err != nil {
			t.Fatalf("insert person %s: %v", a.Subject, err)
		}
	}
	f.requests = sqlite.NewRequests(db, rolegate.RequestsConfig{RequiredApprovals: 1, ExpireAfter: 72 * time.Hour})
	f.catalog = rolegate.NewCatalog([]rolegate.Permission{
		{Name: "api.groups.read", Area: "Groups"},
		{Name: "api.users.write", Area: "Users", Sensitive: true},
	})
	return f
}

func (f *notifyFixture) file(by rolegate.Actor, roleName string, perms ...string) *rolegate.Request {
	f.t.Helper()
	if len(perms) == 0 {
		perms = []string{"api.groups.read"}
	}
	req, err := f.requests.Create(f.ctx, by, rolegate.RequestInput{
		RoleName: roleName, Permissions: perms, Description: "Reads groups.",
		Justification: "Needed for the <b>quarterly</b> review.",
	}, f.catalog)
	if err != nil {
		f.t.Fatalf("create %q: %v", roleName, err)
	}
	return req
}

func (f *notifyFixture) approve(by rolegate.Actor, req *rolegate.Request, comment string) {
	f.t.Helper()
	if _, err := f.requests.Approve(f.ctx, by, req.ID, req.Binding(), comment); err != nil {
		f.t.Fatalf("approve #%d by %s: %v", req.ID, by.Subject, err)
	}
}

func (f *notifyFixture) claimJob() *rolegate.Job {
	f.t.Helper()
	job, err := f.jobs.ClaimJob(f.ctx, "test-worker", time.Minute)
	if err != nil || job == nil {
		f.t.Fatalf("ClaimJob = %v, %v; want a job", job, err)
	}
	return job
}

// queued returns the notifications of a request caused by events with the
// given action, as "channel audience recipient" lines, sorted.
func (f *notifyFixture) queued(reqID int64, event string) ([]string, []rolegate.Notification) {
	f.t.Helper()
	all, err := f.outbox.NotificationsOf(f.ctx, reqID)
	if err != nil {
		f.t.Fatal(err)
	}
	var lines []string
	var picked []rolegate.Notification
	for _, n := range all {
		if n.Facts.Event != event {
			continue
		}
		lines = append(lines, fmt.Sprintf("%s %s %s", n.Channel, n.Audience, n.Recipient))
		picked = append(picked, n)
	}
	slices.Sort(lines)
	return lines, picked
}

func TestEveryTransitionQueuesItsNotificationsForTheRightPeople(t *testing.T) {
	f := newNotifyFixture(t, true)
	hook := "webhook channel " + ntWebhookID

	// Filed: every approver who may decide hears of it by email (not the
	// requester, not an approver without an address), and the webhook.
	granted := f.file(ntRiley, "finance-reader")
	got, _ := f.queued(granted.ID, rolegate.ActionRequestCreated)
	want := []string{"email approver Blake@Example.com", "email approver avery@example.com", "email approver parker@example.com", hook}
	if !slices.Equal(got, want) {
		t.Errorf("request.created queued %q; want %q", got, want)
	}
	if f.woken.Load() == 0 {
		t.Error("the worker was not woken when notifications were queued")
	}

	// An approver's own request is not sent to them for review.
	own := f.file(ntParker, "parker-tools")
	got, _ = f.queued(own.ID, rolegate.ActionRequestCreated)
	want = []string{"email approver Blake@Example.com", "email approver avery@example.com", hook}
	if !slices.Equal(got, want) {
		t.Errorf("an approver's own request queued %q; want %q", got, want)
	}

	// Approved: the requester, told by whom and with the comment.
	f.approve(ntAvery, granted, "Fine for the <i>audit</i>.")
	got, ns := f.queued(granted.ID, rolegate.ActionRequestApproved)
	want = []string{"email requester riley@example.com", hook}
	if !slices.Equal(got, want) {
		t.Errorf("the approval queued %q; want %q", got, want)
	}
	for _, n := range ns {
		if n.Facts.Status != rolegate.StatusApproved || n.Facts.Actor.Name != "Avery Approver" {
			t.Errorf("%s: status %q by %q; want approved by Avery Approver", n.Recipient, n.Facts.Status, n.Facts.Actor.Name)
		}
		if n.Channel == rolegate.ChannelEmail {
			wantApprovals := []rolegate.NoticeApproval{{Name: "Avery Approver", Comment: "Fine for the <i>audit</i>."}}
			if !slices.Equal(n.Facts.Approvals, wantApprovals) {
				t.Errorf("approval notice approvals = %v; want %v", n.Facts.Approvals, wantApprovals)
			}
		}
	}

	// Provisioned: the requester and the approvers who approved it.
	job := f.claimJob()
	if err := f.jobs.CompleteJob(f.ctx, job, rolegate.ProvisionedRole{ID: "role_abc123", Name: "finance-reader",
		Permissions: []string{"api.groups.read"}, ResourceType: "api.organization"}, false); err != nil {
		t.Fatal(err)
	}
	got, ns = f.queued(granted.ID, rolegate.ActionProvisioningSucceeded)
	want = []string{"email approver avery@example.com", "email requester riley@example.com", hook}
	if !slices.Equal(got, want) {
		t.Errorf("provisioning.succeeded queued %q; want %q", got, want)
	}
	for _, n := range ns {
		if n.Facts.RoleName != "finance-reader" || n.Facts.Status != rolegate.StatusProvisioned {
			t.Errorf("%s: role %q status %q; want finance-reader provisioned", n.Recipient, n.Facts.RoleName, n.Facts.Status)
		}
		if n.Channel == rolegate.ChannelEmail && n.Facts.RoleID != "role_abc123" {
			t.Errorf("%s: role id %q; want role_abc123", n.Recipient, n.Facts.RoleID)
		}
	}

	// Rejected: the requester, with the comment.
	rejected := f.file(ntRiley, "too-broad")
	if _, err := f.requests.Reject(f.ctx, ntBlake, rejected.ID, "Ask for read only."); err != nil {
		t.Fatal(err)
	}
	got, ns = f.queued(rejected.ID, rolegate.ActionRequestRejected)
	if want := []string{"email requester riley@example.com", hook}; !slices.Equal(got, want) {
		t.Errorf("the rejection queued %q; want %q", got, want)
	}
	for _, n := range ns {
		if n.Channel == rolegate.ChannelEmail && n.Facts.Comment != "Ask for read only." {
			t.Errorf("rejection comment = %q; want %q", n.Facts.Comment, "Ask for read only.")
		}
	}

	// Failed: the requester and the admins, with the redacted message.
	failing := f.file(ntRiley, "will-fail")
	f.approve(ntBlake, failing, "")
	job = f.claimJob()
	if err := f.jobs.FailJob(f.ctx, job, rolegate.ActionProvisioningFailed, "OpenAI answered 400 to create: invalid permission", nil); err != nil {
		t.Fatal(err)
	}
	got, ns = f.queued(failing.ID, rolegate.ActionProvisioningFailed)
	if want := []string{"email admin drew@example.com", "email requester riley@example.com", hook}; !slices.Equal(got, want) {
		t.Errorf("provisioning.failed queued %q; want %q", got, want)
	}
	for _, n := range ns {
		if n.Channel == rolegate.ChannelEmail && n.Facts.Failure != "OpenAI answered 400 to create: invalid permission" {
			t.Errorf("%s: failure %q; want the provisioner's message", n.Recipient, n.Facts.Failure)
		}
	}

	// Cancelled: only the webhook (nobody has to act).
	cancelled := f.file(ntRiley, "changed-my-mind")
	if _, err := f.requests.Cancel(f.ctx, ntRiley, cancelled.ID); err != nil {
		t.Fatal(err)
	}
	if got, _ := f.queued(cancelled.ID, rolegate.ActionRequestCancelled); !slices.Equal(got, []string{hook}) {
		t.Errorf("the cancellation queued %q; want only the webhook", got)
	}

	// A partial approval is not a decision: nobody is told.
	sensitive := f.file(ntRiley, "user-admin", "api.users.write")
	f.approve(ntAvery, sensitive, "One of two.")
	if got, _ := f.queued(sensitive.ID, rolegate.ActionRequestApproved); len(got) != 0 {
		t.Errorf("a partial approval queued %q; want nothing", got)
	}

	// Expired: the requester.
	f.clock.Advance(73 * time.Hour)
	if _, err := f.requests.ExpireDue(f.ctx); err != nil {
		t.Fatal(err)
	}
	if got, _ := f.queued(sensitive.ID, rolegate.ActionRequestExpired); !slices.Equal(got, []string{"email requester riley@example.com", hook}) {
		t.Errorf("the expiry queued %q; want the requester and the webhook", got)
	}
}

func TestAPersonReachedForTwoReasonsGetsOneMessageForTheWiderRole(t *testing.T) {
	f := newNotifyFixture(t, true)
	// Drew is an admin and files a request that fails: one email, as admin.
	req := f.file(ntDrew, "drew-tools")
	f.approve(ntAvery, req, "")
	if err := f.jobs.FailJob(f.ctx, f.claimJob(), rolegate.ActionProvisioningFailed, "OpenAI answered 400 to create: nope", nil); err != nil {
		t.Fatal(err)
	}
	got, _ := f.queued(req.ID, rolegate.ActionProvisioningFailed)
	want := []string{"email admin drew@example.com", "webhook channel " + ntWebhookID}
	if !slices.Equal(got, want) {
		t.Errorf("queued %q; want %q", got, want)
	}
}

func TestAWebhookIsToldOnlyWhatAChannelMaySee(t *testing.T) {
	f := newNotifyFixture(t, true)
	req := f.file(ntRiley, "finance-reader")
	_, ns := f.queued(req.ID, rolegate.ActionRequestCreated)
	for _, n := range ns {
		raw, _ := json.Marshal(n.Facts)
		switch n.Channel {
		case rolegate.ChannelWebhook:
			want := rolegate.NotificationFacts{Event: rolegate.ActionRequestCreated, Kind: rolegate.NoticeSubmitted,
				RequestID: req.ID, RoleName: "finance-reader", Status: rolegate.StatusPending,
				Actor: rolegate.NoticePerson{Name: "Riley Requester", Email: "riley@example.com"}, At: f.clock.Now(),
				Scope: rolegate.ScopeLabelOrganization}
			if !equalFacts(n.Facts, want) {
				t.Errorf("webhook facts = %s; want only the event, request (with its scope), actor and time", raw)
			}
		case rolegate.ChannelEmail:
			if n.Facts.Justification == "" || len(n.Facts.Permissions) == 0 || n.Facts.Requester == nil {
				t.Errorf("approver facts = %s; want the whole request to review", raw)
			}
		}
	}
}

func equalFacts(a, b rolegate.NotificationFacts) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return string(ja) == string(jb)
}

func TestNothingIsQueuedWhenNotificationsAreOff(t *testing.T) {
	f := newNotifyFixture(t, false)
	req := f.file(ntRiley, "finance-reader")
	f.approve(ntAvery, req, "")
	all, err := f.outbox.NotificationsOf(f.ctx, req.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 0 {
		t.Errorf("NotificationsOf = %d rows; want none without SetNotifications", len(all))
	}
}

func TestAFailedTransitionQueuesNothing(t *testing.T) {
	f := newNotifyFixture(t, true)
	req := f.file(ntRiley, "finance-reader")
	before, _ := f.outbox.NotificationsOf(f.ctx, req.ID)
	// A stale payload hash is refused: no approval, no notification.
	if _, err := f.requests.Approve(f.ctx, ntAvery, req.ID, "stale", ""); rolegate.ErrorCode(err) != rolegate.ECONFLICT {
		t.Fatalf("Approve with a stale hash = %v; want a conflict", err)
	}
	// Nobody rejects their own request.
	if _, err := f.requests.Reject(f.ctx, ntRiley, req.ID, "no"); err == nil {
		t.Fatal("the requester rejected their own request")
	}
	after, _ := f.outbox.NotificationsOf(f.ctx, req.ID)
	if len(after) != len(before) {
		t.Errorf("refused transitions queued %d notifications; want none", len(after)-len(before))
	}
}

func TestClaimingSendingAndRecordingOutcomes(t *testing.T) {
	f := newNotifyFixture(t, true)
	req := f.file(ntRiley, "finance-reader") // 3 approver emails + 1 webhook

	claimed, err := f.outbox.ClaimNotifications(f.ctx, 2, time.Minute)
	if err != nil || len(claimed) != 2 {
		t.Fatalf("ClaimNotifications(2) = %d rows, %v; want 2", len(claimed), err)
	}
	for _, n := range claimed {
		if n.State != "sending" || n.Attempts != 1 {
			t.Errorf("claimed #%d: state %q attempts %d; want sending, 1", n.ID, n.State, n.Attempts)
		}
	}
	rest, _ := f.outbox.ClaimNotifications(f.ctx, 10, time.Minute)
	if len(rest) != 2 {
		t.Fatalf("second claim = %d rows; want the other 2 (claimed rows are leased)", len(rest))
	}
	if again, _ := f.outbox.ClaimNotifications(f.ctx, 10, time.Minute); len(again) != 0 {
		t.Fatalf("third claim = %d rows; want none while leased", len(again))
	}

	sent, retried, failed, lost := claimed[0], claimed[1], rest[0], rest[1]
	if err := f.outbox.NotificationSent(f.ctx, &sent); err != nil {
		t.Fatalf("NotificationSent: %v", err)
	}
	if err := f.outbox.RetryNotificationLater(f.ctx, &retried, 30*time.Second, "connect: connection refused"); err != nil {
		t.Fatalf("RetryNotificationLater: %v", err)
	}
	if err := f.outbox.NotificationFailed(f.ctx, &failed, "the mail server answered RCPT TO with 550 no such user"); err != nil {
		t.Fatalf("NotificationFailed: %v", err)
	}

	// The retry is due after its delay, not before.
	if due, _ := f.outbox.ClaimNotifications(f.ctx, 10, time.Minute); len(due) != 0 {
		t.Errorf("claimed %d rows before the retry delay; want none", len(due))
	}
	if next, _ := f.outbox.NextNotificationDue(f.ctx); !next.Equal(f.clock.Now().Add(30 * time.Second)) {
		t.Errorf("NextNotificationDue = %v; want the retry time %v", next, f.clock.Now().Add(30*time.Second))
	}
	f.clock.Advance(time.Minute + time.Second)
	due, _ := f.outbox.ClaimNotifications(f.ctx, 10, time.Minute)
	ids := func(ns []rolegate.Notification) []int64 {
		var out []int64
		for _, n := range ns {
			out = append(out, n.ID)
		}
		slices.Sort(out)
		return out
	}
	// Both the retried one and the one whose lease ran out come back.
	if got, want := ids(due), ids([]rolegate.Notification{retried, lost}); !slices.Equal(got, want) {
		t.Fatalf("after the delay claimed %v; want %v", got, want)
	}
	for _, n := range due {
		if n.Attempts != 2 {
			t.Errorf("#%d attempts = %d; want 2", n.ID, n.Attempts)
		}
	}
	// The first claim of the lost one can no longer record anything.
	if err := f.outbox.NotificationSent(f.ctx, &lost); !errors.Is(err, rolegate.ErrNotificationLeaseLost) {
		t.Errorf("recording with a lost lease = %v; want rolegate.ErrNotificationLeaseLost", err)
	}

	// Final outcomes are in the audit trail, with channel and recipient.
	events, _ := f.trail.RequestEvents(f.ctx, req.ID)
	var outcomes []string
	for _, e := range events {
		if strings.HasPrefix(e.Action, "notification.") {
			var d map[string]any
			_ = json.Unmarshal(e.Details, &d)
			outcomes = append(outcomes, fmt.Sprintf("%s %s %s %v %v", e.Action, e.Outcome, d["channel"], d["recipient"], d["error"]))
			if e.ActorName != "rolegate notifier" || e.RoleName != "finance-reader" {
				t.Errorf("%s: actor %q role %q; want rolegate notifier, finance-reader", e.Action, e.ActorName, e.RoleName)
			}
		}
	}
	want := []string{
		fmt.Sprintf("notification.sent success %s %s <nil>", sent.Channel, sent.Label),
		fmt.Sprintf("notification.failed failure %s %s the mail server answered RCPT TO with 550 no such user", failed.Channel, failed.Label),
	}
	if !slices.Equal(outcomes, want) {
		t.Errorf("audit outcomes = %q; want %q", outcomes, want)
	}
	all, _ := f.outbox.NotificationsOf(f.ctx, req.ID)
	states := map[int64]string{}
	for _, n := range all {
		states[n.ID] = n.State
	}
	if states[sent.ID] != "sent" || states[failed.ID] != "failed" {
		t.Errorf("states = %v; want #%d sent and #%d failed", states, sent.ID, failed.ID)
	}
}

func TestReleasingLeasesAtStartResendsWhatWasInFlight(t *testing.T) {
	f := newNotifyFixture(t, true)
	f.file(ntRiley, "finance-reader")
	claimed, _ := f.outbox.ClaimNotifications(f.ctx, 10, time.Hour)
	if len(claimed) != 4 {
		t.Fatalf("claimed %d; want 4", len(claimed))
	}
	n, err := f.outbox.ReleaseNotificationLeases(f.ctx)
	if err != nil || n != 4 {
		t.Fatalf("ReleaseNotificationLeases = %d, %v; want 4", n, err)
	}
	again, _ := f.outbox.ClaimNotifications(f.ctx, 10, time.Hour)
	if len(again) != 4 {
		t.Errorf("claimable after release = %d; want 4 at once, not after the hour-long lease", len(again))
	}
}

func TestApproversAreRemindedOncePerInterval(t *testing.T) {
	f := newNotifyFixture(t, true)
	req := f.file(ntRiley, "user-admin", "api.users.write") // needs two approvals
	f.approve(ntAvery, req, "")
	decided := f.file(ntRiley, "decided")
	f.approve(ntBlake, decided, "")

	remind := func() int {
		t.Helper()
		n, err := f.requests.RemindPending(f.ctx, 24*time.Hour)
		if err != nil {
			t.Fatalf("RemindPending: %v", err)
		}
		return n
	}
	reminders := func() []string {
		got, _ := f.queued(req.ID, rolegate.ActionRequestReminder)
		return got
	}

	// remindAfter moves the clock by d, reminds, and wants n requests reminded.
	remindAfter := func(d time.Duration, when string, n int) {
		t.Helper()
		f.clock.Advance(d)
		if got := remind(); got != n {
			t.Errorf("%s reminded %d requests; want %d", when, got, n)
		}
	}
	remindAfter(23*time.Hour, "after 23h", 0)
	remindAfter(time.Hour, "after 24h (the decided one is not pending)", 1)
	// Avery already approved and Riley filed it: Blake and Parker are left.
	want := []string{"email approver Blake@Example.com", "email approver parker@example.com", "webhook channel " + ntWebhookID}
	if got := reminders(); !slices.Equal(got, want) {
		t.Errorf("the reminder queued %q; want %q", got, want)
	}
	remindAfter(23*time.Hour, "23h after the first reminder", 0)
	remindAfter(time.Hour, "24h after the first reminder", 1)
	if got := reminders(); len(got) != 2*len(want) {
		t.Errorf("after two reminders %d rows; want %d", len(got), 2*len(want))
	}
	// At its 72-hour deadline a request is about to expire: no reminder.
	remindAfter(24*time.Hour, "at the deadline", 0)
	if count := f.countEvents(req.ID, rolegate.ActionRequestReminder); count != 2 {
		t.Errorf("request.reminder events = %d; want 2", count)
	}
}

func TestDeliveredRowsArePrunedButTheirOutcomeStays(t *testing.T) {
	f := newNotifyFixture(t, true)
	req := f.file(ntRiley, "finance-reader")
	claimed, _ := f.outbox.ClaimNotifications(f.ctx, 10, time.Minute)
	for i := range claimed {
		if err := f.outbox.NotificationSent(f.ctx, &claimed[i]); err != nil {
			t.Fatal(err)
		}
	}
	f.clock.Advance(31 * 24 * time.Hour)
	n, err := f.outbox.DeleteOldNotifications(f.ctx, 30*24*time.Hour)
	if err != nil || n != 4 {
		t.Fatalf("DeleteOldNotifications = %d, %v; want 4", n, err)
	}
	if sent := f.countEvents(req.ID, rolegate.ActionNotificationSent); sent != 4 {
		t.Errorf("notification.sent events = %d; want 4 (the trail is never pruned)", sent)
	}
}

// countEvents counts the events of action in request id's timeline.
func (f *notifyFixture) countEvents(id int64, action string) int {
	f.t.Helper()
	events, err := f.trail.RequestEvents(f.ctx, id)
	if err != nil {
		f.t.Fatal(err)
	}
	n := 0
	for _, e := range events {
		if e.Action == action {
			n++
		}
	}
	return n
}

// The notifications on a request's record are those queued about it.
func TestARequestsRecordHoldsItsNotifications(t *testing.T) {
	f := newNotifyFixture(t, true)
	req := f.file(ntRiley, "Record Reader")
	all, err := f.outbox.NotificationsOf(f.ctx, req.ID)
	if err != nil || len(all) == 0 {
		t.Fatalf("NotificationsOf(%d) = %d, %v; want the approvers' and the webhook's", req.ID, len(all), err)
	}
	rec, err := f.requests.GetRecord(f.ctx, req.ID)
	if err != nil {
		t.Fatal(err)
	}
	ids := func(ns []rolegate.Notification) (out []int64) {
		for _, n := range ns {
			out = append(out, n.ID)
		}
		return out
	}
	if got, want := ids(rec.Notifications), ids(all); !slices.Equal(got, want) {
		t.Errorf("GetRecord(%d).Notifications = %v; want %v", req.ID, got, want)
	}
}

// A project request's notifications name its project, on every channel:
// the webhooks' facts carry the scope (the project's id and name), like the
// audit events they come from.
func TestNotificationsOfAProjectRequestCarryItsScope(t *testing.T) {
	f := newNotifyFixture(t, true)
	if _, err := f.picture.ReplaceOrganization(f.ctx, rolegate.OrganizationRead{Projects: []rolegate.Project{{ID: "proj_pay", Name: "Payments"}}}, nil); err != nil {
		t.Fatal(err)
	}
	req, err := f.requests.Create(f.ctx, ntRiley, rolegate.RequestInput{
		Scope: "proj_pay", RoleName: "key-readers", Permissions: []string{"api.organization.projects.api_keys.read"},
		Justification: "Needed for the key review.",
	}, rolegate.NewCatalog([]rolegate.Permission{{Name: "api.organization.projects.api_keys.read", ResourceType: rolegate.ResourceProject}}))
	if err != nil {
		t.Fatal(err)
	}
	_, ns := f.queued(req.ID, rolegate.ActionRequestCreated)
	if len(ns) == 0 {
		t.Fatal("nothing queued")
	}
	for _, n := range ns {
		if n.Facts.Scope != "proj_pay" || n.Facts.ScopeName != "Payments" {
			t.Errorf("%s facts scope = %q %q; want proj_pay, Payments", n.Channel, n.Facts.Scope, n.Facts.ScopeName)
		}
	}
}
