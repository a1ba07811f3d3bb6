package provisioning_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rolegate/rolegate/internal/adminapi"
	"github.com/rolegate/rolegate/internal/provisioning"
	"github.com/rolegate/rolegate/internal/rolegate"
	"github.com/rolegate/rolegate/internal/simulator"
	"github.com/rolegate/rolegate/internal/testkit"
)

// removalRig is the access rig with a clock the test moves and a Remover.
type removalRig struct {
	*rig
	clock    *testkit.Clock
	removals rolegate.RemovalQueue
	rcfg     provisioning.RemoverConfig
	remover  *provisioning.Remover
	stopRm   func()
	orgRole  simulator.Role
	support  simulator.Group
}

func newRemovalRig(t *testing.T) *removalRig {
	t.Helper()
	r, orgRole, _ := newAccessRig(t)
	clock := testkit.NewRunningClock()
	r.store.SetClock(clock.Now)
	support, _ := r.sim.GroupNamed("Support Team")
	rr := &removalRig{rig: r, clock: clock, removals: r.store.Removals, orgRole: orgRole, support: support, stopRm: func() {}}
	rr.rcfg = provisioning.RemoverConfig{
		Queue: r.store.Removals, Upstream: adminapi.New(r.simURL, r.keys, nil), Logger: r.cfg.Logger,
		MaxAttempts: 3, BackoffBase: 10 * time.Millisecond, BackoffMax: 50 * time.Millisecond, Poll: time.Minute,
	}
	t.Cleanup(func() { rr.stopRm() })
	r.start()
	return rr
}

// startRemover runs a Remover, as a (re)started process would.
func (rr *removalRig) startRemover() {
	rr.remover = provisioning.NewRemover(rr.rcfg)
	ctx, cancel := context.WithCancel(rr.ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		rr.remover.Run(ctx)
	}()
	rr.stopRm = func() {
		cancel()
		<-done
	}
}

// advance moves the clock and wakes the Remover.
func (rr *removalRig) advance(d time.Duration) {
	rr.clock.Advance(d)
	if rr.remover != nil {
		rr.remover.Wake()
	}
}

// provisionedGrant files access for Support Team ending at until (as
// typed), has Blake approve it, and waits for it to be provisioned.
func (rr *removalRig) provisionedGrant(until string) *rolegate.Request {
	rr.t.Helper()
	req, err := rr.store.Requests(rolegate.RequestsConfig{RequiredApprovals: 1, HandedOff: rr.worker.Wake}).CreateAccess(rr.ctx, rigRequester, rolegate.AccessInput{
		RoleID: rr.orgRole.ID, Grantee: grantee(rolegate.GranteeGroup, rr.support.ID), Until: until,
		Justification: "Support needs the usage numbers for INC-12.",
	}, rigCatalog, rolegate.AccessConfig{MaxDuration: rolegate.DefaultAccessMaxDuration})
	if err != nil {
		rr.t.Fatal(err)
	}
	if _, err := rr.requests.ApproveWith(rr.ctx, accessBlake, req.ID, req.Binding(), "", rolegate.Reauth{}); err != nil {
		rr.t.Fatal(err)
	}
	if got := rr.settle(req.ID); got.Status != rolegate.StatusProvisioned || got.Grant == nil || got.Grant.State != rolegate.GrantActive {
		rr.t.Fatalf("request %d: %s, grant %+v (%s)", req.ID, got.Status, got.Grant, got.FailureMessage)
	}
	return req
}

func (rr *removalRig) assignment() simulator.Assignment {
	return simulator.Assignment{Kind: simulator.PrincipalGroup, PrincipalID: rr.support.ID, RoleID: rr.orgRole.ID}
}

// waitGrant waits for the request's grant to reach state.
func (rr *removalRig) waitGrant(id int64, state rolegate.GrantState) *rolegate.Request {
	rr.t.Helper()
	var req *rolegate.Request
	rr.waitFor("the grant of request "+string(state), func() bool {
		req = rr.get(id)
		return req.Grant != nil && req.Grant.State == state
	})
	return req
}

func (rr *removalRig) overdue() int {
	rr.t.Helper()
	n, err := rr.removals.OverdueAssignments(rr.ctx)
	if err != nil {
		rr.t.Fatal(err)
	}
	return n
}

// inTwoDays is an Until two days after the rig's clock, to the minute.
func (rr *removalRig) inTwoDays() (string, time.Time) {
	until := rr.clock.Now().Add(48 * time.Hour).UTC().Truncate(time.Minute)
	return until.Format("2006-01-02T15:04"), until
}

// Time-bound access ends by itself: the requester is reminded a day
// before (once), and at Until the assignment is removed upstream exactly
// once; the request then says why. Until then an assignment past its end
// is counted as overdue.
func TestAccessEndsByItselfAtUntil(t *testing.T) {
	rr := newRemovalRig(t)
	typed, until := rr.inTwoDays()
	req := rr.provisionedGrant(typed)
	if !rr.get(req.ID).AccessUntil.Equal(until) {
		t.Errorf("Until = %v; want %v", rr.get(req.ID).AccessUntil, until)
	}
	rr.startRemover()
	rr.advance(25 * time.Hour)
	rr.waitFor("the reminder a day before", func() bool { return slices.Contains(rr.actions(req.ID), rolegate.ActionAccessEndingSoon) })
	rr.advance(time.Hour)
	if !slices.Contains(r2(rr.sim.Assignments()), rr.assignment()) {
		t.Fatal("the assignment is gone before its end")
	}
	rr.stopRm()
	rr.advance(23 * time.Hour) // past Until, with no Remover running
	if n := rr.overdue(); n != 1 {
		t.Errorf("overdue assignments with the Remover stopped = %d; want 1", n)
	}
	rr.startRemover()
	got := rr.waitGrant(req.ID, rolegate.GrantRevoked)
	if slices.Contains(rr.sim.Assignments(), rr.assignment()) || rr.sim.UnassignCalls() != 1 {
		t.Errorf("upstream %v after %d DELETEs; want the assignment removed by one", rr.sim.Assignments(), rr.sim.UnassignCalls())
	}
	if got.Grant.EndCause != rolegate.EndExpired || !strings.HasPrefix(got.Grant.EndReason, "Access ended as planned at") {
		t.Errorf("grant %+v; want ended as planned", got.Grant)
	}
	if n := rr.overdue(); n != 0 {
		t.Errorf("overdue assignments after the removal = %d", n)
	}
	acts := rr.actions(req.ID)
	if countOf(acts, rolegate.ActionAccessEndingSoon) != 1 || countOf(acts, rolegate.ActionAccessRemoved) != 1 {
		t.Errorf("timeline %v; want one reminder and one removal", acts)
	}
	if want := "DELETE /v1/organization/groups/" + rr.support.ID + "/roles/" + rr.orgRole.ID; rr.sim.LastAssignCall() != want {
		t.Errorf("last call %q; want %q", rr.sim.LastAssignCall(), want)
	}
}

func r2(a []simulator.Assignment) []simulator.Assignment { return a }

func countOf(list []string, s string) int {
	n := 0
	for _, x := range list {
		if x == s {
			n++
		}
	}
	return n
}

// An admin ends access early with Revoke access; a reason is required.
func TestAnAdminRevokesAccessWithAReason(t *testing.T) {
	rr := newRemovalRig(t)
	req := rr.provisionedGrant("")
	if _, err := rr.removals.Revoke(rr.ctx, rigAdmin, req.ID, "  "); rolegate.ErrorFields(err)[rolegate.FieldComment] == "" {
		t.Errorf("revoking without a reason: %v; want the reason asked for", err)
	}
	if _, err := rr.removals.Revoke(rr.ctx, accessBlake, req.ID, "Done."); rolegate.ErrorCode(err) != rolegate.EFORBIDDEN {
		t.Errorf("an approver revoking: %v", err)
	}
	if _, err := rr.removals.Revoke(rr.ctx, rigAdmin, req.ID, "The incident is closed."); err != nil {
		t.Fatal(err)
	}
	rr.startRemover()
	got := rr.waitGrant(req.ID, rolegate.GrantRevoked)
	if got.Grant.EndCause != rolegate.EndRevoked || got.Grant.EndReason != "The incident is closed." || got.Grant.EndedBy != "Drew Admin" {
		t.Errorf("grant %+v", got.Grant)
	}
	if len(rr.sim.Assignments()) != 0 || rr.sim.UnassignCalls() != 1 {
		t.Errorf("upstream %v after %d DELETEs", rr.sim.Assignments(), rr.sim.UnassignCalls())
	}
	if _, err := rr.removals.Revoke(rr.ctx, rigAdmin, req.ID, "Again."); rolegate.ErrorCode(err) != rolegate.ECONFLICT {
		t.Errorf("revoking twice: %v", err)
	}
}

// An assignment removed upstream before Until is recorded as drift, and
// not removed twice.
func TestAnAssignmentRemovedEarlyUpstreamIsDrift(t *testing.T) {
	rr := newRemovalRig(t)
	typed, _ := rr.inTwoDays()
	req := rr.provisionedGrant(typed)
	if err := rr.sim.UnassignRole(rr.assignment()); err != nil {
		t.Fatal(err)
	}
	rr.startRemover()
	rr.advance(49 * time.Hour)
	got := rr.waitGrant(req.ID, rolegate.GrantRevoked)
	if got.Grant.EndCause != rolegate.EndDrift || rr.sim.UnassignCalls() != 0 {
		t.Errorf("grant %+v after %d DELETEs; want drift and none", got.Grant, rr.sim.UnassignCalls())
	}
	if !slices.Contains(rr.actions(req.ID), rolegate.ActionAccessDrift) {
		t.Errorf("timeline %v; want the drift", rr.actions(req.ID))
	}
}

// Active grants are looked at upstream: access without an end whose
// assignment was removed outside rolegate is ended as drift at once (the
// requester told, nothing removed), while one still held stays active.
func TestDriftIsFoundBeforeTheEndOfAccess(t *testing.T) {
	rr := newRemovalRig(t)
	gone := rr.provisionedGrant("")
	research, _ := rr.sim.GroupNamed("Research")
	kept, err := rr.store.Requests(rolegate.RequestsConfig{RequiredApprovals: 1, HandedOff: rr.worker.Wake}).CreateAccess(rr.ctx, rigRequester, rolegate.AccessInput{
		RoleID: rr.orgRole.ID, Grantee: grantee(rolegate.GranteeGroup, research.ID), Justification: "Research needs the usage numbers too.",
	}, rigCatalog, rolegate.AccessConfig{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rr.requests.ApproveWith(rr.ctx, accessBlake, kept.ID, kept.Binding(), "", rolegate.Reauth{}); err != nil {
		t.Fatal(err)
	}
	rr.settle(kept.ID)
	if err := rr.sim.UnassignRole(rr.assignment()); err != nil {
		t.Fatal(err)
	}

	ended, err := provisioning.NewRemover(rr.rcfg).Verify(rr.ctx)
	if err != nil || ended != 1 {
		t.Fatalf("Verify = %d, %v; want the one grant removed outside rolegate", ended, err)
	}
	got := rr.get(gone.ID)
	if got.Grant.State != rolegate.GrantRevoked || got.Grant.EndCause != rolegate.EndDrift || !got.Grant.Revoked() {
		t.Errorf("the grant removed upstream is %+v; want revoked, as drift", got.Grant)
	}
	if !slices.Contains(rr.actions(gone.ID), rolegate.ActionAccessDrift) {
		t.Errorf("timeline %v; want the drift", rr.actions(gone.ID))
	}
	if still := rr.get(kept.ID); still.Grant.State != rolegate.GrantActive {
		t.Errorf("the grant still held upstream is %+v; want active", still.Grant)
	}
	if again, err := provisioning.NewRemover(rr.rcfg).Verify(rr.ctx); err != nil || again != 0 {
		t.Errorf("a second Verify = %d, %v; want nothing more", again, err)
	}
	if n := rr.sim.UnassignCalls(); n != 0 {
		t.Errorf("%d DELETEs; want none", n)
	}
}

// A process that stops while its DELETE is in flight (applied upstream,
// never answered) is followed by one that looks first: the removal
// completes as rolegate's own, with exactly one DELETE sent.
func TestARemovalInterruptedMidCallHappensOnce(t *testing.T) {
	rr := newRemovalRig(t)
	req := rr.provisionedGrant("")
	rr.sim.FailNext(1, simulator.Fault{Kind: simulator.FaultHangAfterApply, Op: simulator.OpUnassign})
	if _, err := rr.removals.Revoke(rr.ctx, rigAdmin, req.ID, "The incident is closed."); err != nil {
		t.Fatal(err)
	}
	rr.startRemover()
	rr.waitFor("the DELETE to be applied upstream", func() bool { return len(rr.sim.Assignments()) == 0 })
	rr.stopRm() // the process dies with the call in flight
	if got := rr.get(req.ID); got.Grant.State != rolegate.GrantRemoving {
		t.Fatalf("after the stop: %+v", got.Grant)
	}
	rr.startRemover() // a new process
	got := rr.waitGrant(req.ID, rolegate.GrantRevoked)
	if got.Grant.EndCause != rolegate.EndRevoked || rr.sim.UnassignCalls() != 1 {
		t.Errorf("grant %+v after %d DELETEs; want revoked by rolegate with one DELETE", got.Grant, rr.sim.UnassignCalls())
	}
}

// A removal that keeps failing is retried, then Failed with the message,
// counted overdue, until an admin retries it.
func TestAFailingRemovalFailsThenAnAdminRetries(t *testing.T) {
	rr := newRemovalRig(t)
	req := rr.provisionedGrant("")
	rr.sim.FailNext(3, simulator.Fault{Kind: simulator.FaultServerError, Op: simulator.OpUnassign})
	if _, err := rr.removals.Revoke(rr.ctx, rigAdmin, req.ID, "The incident is closed."); err != nil {
		t.Fatal(err)
	}
	rr.startRemover()
	got := rr.waitGrant(req.ID, rolegate.GrantFailed)
	if !strings.Contains(got.Grant.LastError, "Gave up after 3 attempts") || len(rr.sim.Assignments()) != 1 {
		t.Errorf("grant %+v, upstream %v", got.Grant, rr.sim.Assignments())
	}
	if _, err := rr.removals.RetryRemoval(rr.ctx, rigAdmin, req.ID); err != nil {
		t.Fatal(err)
	}
	rr.remover.Wake()
	rr.waitGrant(req.ID, rolegate.GrantRevoked)
	if len(rr.sim.Assignments()) != 0 {
		t.Errorf("upstream %v after the retry", rr.sim.Assignments())
	}
}
