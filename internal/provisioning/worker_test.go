package provisioning_test

import (
	"bytes"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rolegate/rolegate/internal/rolegate"
	"github.com/rolegate/rolegate/internal/simulator"
)

func TestAnApprovedRequestBecomesExactlyTheApprovedRole(t *testing.T) {
	t.Parallel()
	r := newRig(t, rigOptions{})
	r.start()
	req := r.approved("Group Reader", "api.groups.read", "api.users.read")

	got := r.settle(req.ID)
	if got.Status != rolegate.StatusProvisioned {
		t.Fatalf("status = %s (%q); want provisioned", got.Status, got.FailureMessage)
	}
	roles := r.customRoles()
	if len(roles) != 1 {
		t.Fatalf("custom roles upstream = %+v; want exactly one", roles)
	}
	if got.UpstreamRoleID != roles[0].ID || got.UpstreamResourceType != "api.organization" {
		t.Errorf("stored role = %q %q; want %q api.organization", got.UpstreamRoleID, got.UpstreamResourceType, roles[0].ID)
	}
	if body := r.sim.LastCreateBody(); !bytes.Equal(body, req.Payload) {
		t.Errorf("sent body = %s; want the approved payload byte for byte: %s", body, req.Payload)
	}
	sent := rolegate.Call{Method: "POST", Path: r.sim.LastCreatePath()}
	if rolegate.CallBinding(sent, r.sim.LastCreateBody()) != got.Approvals[0].PayloadHash {
		t.Errorf("the call sent (%s and its body) does not hash to what the approver approved", sent)
	}
	if n := r.sim.CreateCalls(); n != 1 {
		t.Errorf("CreateCalls() = %d; want 1", n)
	}
	want := []string{rolegate.ActionProvisioningAttempt, rolegate.ActionProvisioningSucceeded}
	if got := r.provisioningActions(req.ID); !slices.Equal(got, want) {
		t.Errorf("timeline after hand-off = %v; want %v", got, want)
	}
	events := r.events(req.ID)
	if d := details(t, events[len(events)-1]); d["role_id"] != roles[0].ID {
		t.Errorf("success event details = %v; want role_id %s", d, roles[0].ID)
	}
}

func TestAnApprovalWakesTheWorkerWithoutWaitingForThePoll(t *testing.T) {
	t.Parallel()
	r := newRig(t, rigOptions{})
	r.start()
	// Let the worker finish its start-up scan and fall asleep (Poll is a minute).
	r.waitFor("the start-up scan", func() bool { return r.queue.claims.Load() >= 1 })

	approvedAt := time.Now()
	r.approved("Group Reader")
	r.waitFor("the create call", func() bool { return r.sim.CreateCalls() == 1 })
	if d := time.Since(approvedAt); d > 10*time.Second {
		t.Errorf("the create call came %v after the approval; want it at once, not at the next poll", d)
	}
}

func TestRateLimitsAreRetriedHonouringRetryAfter(t *testing.T) {
	t.Parallel()
	r := newRig(t, rigOptions{})
	r.sim.FailNext(2, simulator.Fault{Kind: simulator.FaultRateLimit, Op: simulator.OpCreate, RetryAfter: time.Second})
	r.start()
	req := r.approved("Group Reader")

	r.wantProvisionedOnce(req.ID)
	if n := r.sim.CreateCalls(); n != 3 {
		t.Errorf("CreateCalls() = %d; want 3 (two rate-limited, one applied)", n)
	}
	want := []string{
		rolegate.ActionProvisioningAttempt, rolegate.ActionProvisioningRetrying,
		rolegate.ActionProvisioningAttempt, rolegate.ActionProvisioningRetrying,
		rolegate.ActionProvisioningAttempt, rolegate.ActionProvisioningSucceeded,
	}
	if got := r.provisioningActions(req.ID); !slices.Equal(got, want) {
		t.Fatalf("timeline after hand-off = %v; want %v", got, want)
	}
	// Each retry waited at least the second the upstream asked for.
	events := r.events(req.ID)
	for i, e := range events {
		if e.Action != rolegate.ActionProvisioningRetrying {
			continue
		}
		d := details(t, e)
		if msg, _ := d["error"].(string); !strings.Contains(msg, "429") || !strings.Contains(msg, "Rate limit") {
			t.Errorf("retry event error = %q; want the upstream's 429 and message", msg)
		}
		wait, err := time.ParseDuration(d["retry_in"].(string))
		if err != nil || wait < time.Second {
			t.Errorf("retry_in = %v; want at least the Retry-After of 1s", d["retry_in"])
		}
		next := events[i+1]
		if gap := next.At.Sub(e.At); gap < time.Second-time.Millisecond {
			t.Errorf("the next attempt came %v after the retry was scheduled; want at least 1s", gap)
		}
		if d := details(t, next); d["reconcile"] != true {
			t.Errorf("the attempt after a retry = %v; want reconcile true", d)
		}
	}
}

func TestServerErrorsSpendTheBudgetThenAnAdminRetrySucceeds(t *testing.T) {
	t.Parallel()
	r := newRig(t, rigOptions{MaxAttempts: 3})
	r.sim.FailNext(3, simulator.Fault{Kind: simulator.FaultServerError, Op: simulator.OpCreate, Message: "The server is on fire."})
	r.start()
	req := r.approved("Group Reader")

	got := r.settle(req.ID)
	if got.Status != rolegate.StatusFailed {
		t.Fatalf("status = %s; want failed once 3 attempts are spent", got.Status)
	}
	for _, want := range []string{"Gave up after 3 attempts", "500", "The server is on fire."} {
		if !strings.Contains(got.FailureMessage, want) {
			t.Errorf("failure message = %q; want it to contain %q", got.FailureMessage, want)
		}
	}
	if roles := r.customRoles(); len(roles) != 0 {
		t.Errorf("custom roles upstream = %+v; want none", roles)
	}
	attempts := 0
	for _, a := range r.actions(req.ID) {
		if a == rolegate.ActionProvisioningAttempt {
			attempts++
		}
	}
	if attempts != 3 {
		t.Errorf("%d attempts on the timeline; want 3", attempts)
	}

	if _, err := r.requests.RetryProvisioning(r.ctx, rigAdmin, req.ID); err != nil {
		t.Fatalf("an admin's RetryProvisioning: %v", err)
	}
	got = r.settle(req.ID)
	if got.Status != rolegate.StatusProvisioned || got.FailureMessage != "" {
		t.Fatalf("after the admin's retry: %s %q; want provisioned, the failure cleared", got.Status, got.FailureMessage)
	}
	if roles := r.customRoles(); len(roles) != 1 || roles[0].ID != got.UpstreamRoleID {
		t.Errorf("custom roles upstream = %+v; want exactly the one stored", roles)
	}
	if n := r.sim.CreateCalls(); n != 4 {
		t.Errorf("CreateCalls() = %d; want 4", n)
	}
}

func TestADuplicateNameFailsAtOnceWithTheUpstreamsMessage(t *testing.T) {
	t.Parallel()
	r := newRig(t, rigOptions{})
	r.start()
	// Someone made the role outside rolegate; it is not rolegate's to adopt.
	r.createBehindRolegate(`{"role_name":"Group Reader","permissions":["api.groups.read"]}`)
	req := r.approved("Group Reader")

	got := r.settle(req.ID)
	if got.Status != rolegate.StatusFailed {
		t.Fatalf("status = %s; want failed", got.Status)
	}
	if !strings.Contains(got.FailureMessage, "400") || !strings.Contains(got.FailureMessage, "A role named 'Group Reader' already exists in this organization.") {
		t.Errorf("failure message = %q; want the upstream's 400 and its message", got.FailureMessage)
	}
	want := []string{rolegate.ActionProvisioningAttempt, rolegate.ActionProvisioningFailed}
	if got := r.provisioningActions(req.ID); !slices.Equal(got, want) {
		t.Errorf("timeline after hand-off = %v; want %v (no retry)", got, want)
	}
	if n := len(r.customRoles()); n != 1 {
		t.Errorf("%d custom roles upstream; want only the one made outside", n)
	}
}

func TestAConnectionDroppedAfterTheCreateIsReconciledNotRepeated(t *testing.T) {
	t.Parallel()
	r := newRig(t, rigOptions{})
	r.sim.FailNext(1, simulator.Fault{Kind: simulator.FaultDropConnection, Op: simulator.OpCreate})
	r.start()
	req := r.approved("Group Reader")

	got := r.settle(req.ID)
	if got.Status != rolegate.StatusProvisioned {
		t.Fatalf("status = %s (%q); want provisioned", got.Status, got.FailureMessage)
	}
	roles := r.customRoles()
	if len(roles) != 1 || roles[0].ID != got.UpstreamRoleID {
		t.Fatalf("custom roles upstream = %+v; want exactly one, the one stored (%s)", roles, got.UpstreamRoleID)
	}
	if n := r.sim.CreateCalls(); n != 1 {
		t.Errorf("CreateCalls() = %d; want 1: the second attempt must find the role, not create it", n)
	}
	want := []string{rolegate.ActionProvisioningAttempt, rolegate.ActionProvisioningRetrying,
		rolegate.ActionProvisioningAttempt, rolegate.ActionProvisioningAdopted}
	if got := r.provisioningActions(req.ID); !slices.Equal(got, want) {
		t.Errorf("timeline after hand-off = %v; want %v", got, want)
	}
}

func TestAHungCreateIsAbandonedAfterTheCallTimeoutAndRetried(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name      string
		fault     simulator.FaultKind
		creates   int
		lastEvent string
	}{
		{"hung before applying", simulator.FaultHang, 2, rolegate.ActionProvisioningSucceeded},
		{"hung after applying", simulator.FaultHangAfterApply, 1, rolegate.ActionProvisioningAdopted},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := newRig(t, rigOptions{CallTimeout: 300 * time.Millisecond})
			r.sim.FailNext(1, simulator.Fault{Kind: tc.fault, Op: simulator.OpCreate})
			r.start()
			req := r.approved("Group Reader")

			r.wantProvisionedOnce(req.ID)
			if n := r.sim.CreateCalls(); n != tc.creates {
				t.Errorf("CreateCalls() = %d; want %d", n, tc.creates)
			}
			actions := r.actions(req.ID)
			if last := actions[len(actions)-1]; last != tc.lastEvent {
				t.Errorf("last event = %s; want %s", last, tc.lastEvent)
			}
			events := r.events(req.ID)
			for _, e := range events {
				if e.Action == rolegate.ActionProvisioningRetrying {
					if msg, _ := details(t, e)["error"].(string); !strings.Contains(msg, "no answer in time") {
						t.Errorf("retry reason = %q; want the timeout explained", msg)
					}
				}
			}
		})
	}
}

func TestASameNamedRoleWithOtherPermissionsIsAConflictNotAnAdoption(t *testing.T) {
	t.Parallel()
	r := newRig(t, rigOptions{})
	// The first attempt fails retryably, so the second one reconciles; by
	// then a role of that name, with more permissions, exists upstream.
	other := r.createBehindRolegate(`{"role_name":"Group Reader","permissions":["api.groups.read","api.groups.write"],"description":"Reads groups for the access review."}`)
	r.sim.FailNext(1, simulator.Fault{Kind: simulator.FaultServerError, Op: simulator.OpCreate})
	r.start()
	req := r.approved("Group Reader")

	got := r.settle(req.ID)
	if got.Status != rolegate.StatusFailed {
		t.Fatalf("status = %s; want failed", got.Status)
	}
	for _, want := range []string{"already exists upstream", other.ID, "api.groups.write", "not adopted"} {
		if !strings.Contains(got.FailureMessage, want) {
			t.Errorf("failure message = %q; want it to contain %q", got.FailureMessage, want)
		}
	}
	if got.UpstreamRoleID != "" {
		t.Errorf("UpstreamRoleID = %q; want none: the role is not this request's", got.UpstreamRoleID)
	}
	if n := r.sim.CreateCalls(); n != 2 {
		t.Errorf("CreateCalls() = %d; want 2 (the one outside, and our failed first attempt)", n)
	}
	if n := len(r.customRoles()); n != 1 {
		t.Errorf("%d custom roles upstream; want 1", n)
	}
}

func TestAReadBackMismatchIsRecordedAndNeverAccepted(t *testing.T) {
	t.Parallel()
	r := newRig(t, rigOptions{})
	r.sim.FailNext(1, simulator.Fault{Kind: simulator.FaultAlterStored, Op: simulator.OpCreate, Alter: func(role *simulator.Role) {
		role.Permissions = append(role.Permissions, "api.users.write")
	}})
	r.start()
	req := r.approved("Group Reader")

	got := r.settle(req.ID)
	if got.Status != rolegate.StatusFailed {
		t.Fatalf("status = %s; want failed: the role upstream is not what was approved", got.Status)
	}
	roles := r.customRoles()
	if len(roles) != 1 {
		t.Fatalf("custom roles = %+v; want the one created", roles)
	}
	for _, want := range []string{roles[0].ID, "api.users.write", "left in place"} {
		if !strings.Contains(got.FailureMessage, want) {
			t.Errorf("failure message = %q; want it to contain %q", got.FailureMessage, want)
		}
	}
	events := r.events(req.ID)
	last := events[len(events)-1]
	if last.Action != rolegate.ActionProvisioningMismatch || last.Outcome != rolegate.OutcomeFailure {
		t.Fatalf("last event = %s %s; want %s failure", last.Action, last.Outcome, rolegate.ActionProvisioningMismatch)
	}
	if d := details(t, last); d["role_id"] != roles[0].ID {
		t.Errorf("mismatch details = %v; want the role id", d)
	}

	// An admin's retry looks again and still refuses the altered role.
	if _, err := r.requests.RetryProvisioning(r.ctx, rigAdmin, req.ID); err != nil {
		t.Fatal(err)
	}
	r.waitFor("the retry to end", func() bool {
		actions := r.actions(req.ID)
		return actions[len(actions)-1] == rolegate.ActionProvisioningFailed
	})
	if got := r.get(req.ID); got.Status != rolegate.StatusFailed || !strings.Contains(got.FailureMessage, "not adopted") {
		t.Errorf("after the retry: %s %q; want failed again, the role not adopted", got.Status, got.FailureMessage)
	}
	if n := r.sim.CreateCalls(); n != 1 {
		t.Errorf("CreateCalls() = %d; want 1", n)
	}
}

func TestAPayloadChangedAfterApprovalIsNeverSent(t *testing.T) {
	t.Parallel()
	r := newRig(t, rigOptions{})
	req := r.approved("Group Reader")
	// A hand edit of the database between the approval and the worker.
	tampered := `{"role_name":"Group Reader","permissions":["api.users.write"]}`
	r.handEdit(`UPDATE requests SET payload = ? WHERE id = ?`, []byte(tampered), req.ID)
	r.start()
	r.wantFailedUnsent(req.ID, "does not match the one approved; nothing was sent")
}

func TestARequestShortOfApprovalsOnFileIsNeverSent(t *testing.T) {
	t.Parallel()
	r := newRig(t, rigOptions{})
	req := r.approved("Group Reader")
	r.handEdit(`UPDATE requests SET required_approvals = 2 WHERE id = ?`, req.ID)
	r.start()
	r.wantFailedUnsent(req.ID, "1 of the 2 approvals")
}

// handEdit changes the database behind the service's back.
func (r *rig) handEdit(stmt string, args ...any) {
	r.t.Helper()
	if _, err := r.raw().Exec(stmt, args...); err != nil {
		r.t.Fatalf("%s: %v", stmt, err)
	}
}

// wantFailedUnsent checks that request id ends failed, saying why, and
// that nothing reached the upstream.
func (r *rig) wantFailedUnsent(id int64, why string) {
	r.t.Helper()
	if got := r.settle(id); got.Status != rolegate.StatusFailed || !strings.Contains(got.FailureMessage, why) {
		r.t.Errorf("request = %s %q; want failed: %s", got.Status, got.FailureMessage, why)
	}
	if n := r.sim.CreateCalls(); n != 0 {
		r.t.Errorf("CreateCalls() = %d; want 0", n)
	}
}

func TestAJobOfADeadWorkerIsReclaimedWhenItsLeaseEnds(t *testing.T) {
	t.Parallel()
	r := newRig(t, rigOptions{NoWake: true})
	r.start()
	// The worker's start-up scan finds nothing; then it sleeps for the poll.
	r.waitFor("the start-up scan", func() bool { return r.queue.claims.Load() >= 1 })
	req := r.approved("Group Reader")
	// A worker claims the job and dies without a word. The lease starts
	// inside ClaimJob, so the time before the call is a lower bound for
	// it (read after the call, a slow return would shorten the lease seen).
	claimedAt := time.Now()
	dead, err := r.store.Jobs.ClaimJob(r.ctx, "dead-worker", 400*time.Millisecond)
	if err != nil || dead == nil {
		t.Fatalf("dead worker's claim = %v, %v", dead, err)
	}
	r.worker.Wake(req.ID)

	got := r.settle(req.ID)
	if got.Status != rolegate.StatusProvisioned {
		t.Fatalf("status = %s (%q); want provisioned", got.Status, got.FailureMessage)
	}
	// The lease is stored in whole milliseconds: allow the one lost.
	if d := time.Since(claimedAt); d < 399*time.Millisecond {
		t.Errorf("reclaimed after %v; want only once the 400ms lease ran out", d)
	}
	if roles := r.customRoles(); len(roles) != 1 || r.sim.CreateCalls() != 1 {
		t.Errorf("custom roles = %+v after %d creates; want one role, one create", roles, r.sim.CreateCalls())
	}
	if err := r.store.Jobs.CompleteJob(r.ctx, dead, rolegate.ProvisionedRole{ID: "role_bogus"}, false); err == nil {
		t.Error("the dead worker completed the job after losing its lease")
	}
	if got := r.get(req.ID); got.UpstreamRoleID == "role_bogus" {
		t.Error("the dead worker overwrote the role id")
	}
	var reclaimed bool
	for _, e := range r.events(req.ID) {
		if e.Action == rolegate.ActionProvisioningAttempt {
			if d := details(t, e); d["attempt"] == float64(2) && d["reconcile"] == true && d["reason"] != nil {
				reclaimed = true
			}
		}
	}
	if !reclaimed {
		t.Errorf("no attempt 2 says the lease expired; timeline %v", r.actions(req.ID))
	}
}

func TestAStopDuringAHungCreateResumesOnTheNextStartWithoutASecondRole(t *testing.T) {
	t.Parallel()
	r := newRig(t, rigOptions{})
	release := make(chan struct{})
	defer close(release)
	r.sim.FailNext(1, simulator.Fault{Kind: simulator.FaultHangAfterApply, Op: simulator.OpCreate, Release: release})
	r.start()
	req := r.approved("Group Reader")
	r.waitFor("the create to hang", func() bool { return r.sim.CreateCalls() == 1 })

	r.restart() // the first worker stops mid-call; a new one starts on the same database

	r.wantProvisionedOnce(req.ID)
	if n := r.sim.CreateCalls(); n != 1 {
		t.Errorf("CreateCalls() = %d; want 1 (the role was adopted)", n)
	}
}

// wantProvisionedOnce waits for request id to settle and wants it
// provisioned, with exactly one custom role upstream: the one it stores.
func (r *rig) wantProvisionedOnce(id int64) *rolegate.Request {
	r.t.Helper()
	got := r.settle(id)
	if got.Status != rolegate.StatusProvisioned {
		r.t.Fatalf("status = %s (%q); want provisioned", got.Status, got.FailureMessage)
	}
	if roles := r.customRoles(); len(roles) != 1 || roles[0].ID != got.UpstreamRoleID {
		r.t.Errorf("custom roles upstream = %+v; want exactly the one stored (%s)", roles, got.UpstreamRoleID)
	}
	return got
}
