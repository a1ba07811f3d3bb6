package storetest

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rolegate/rolegate/internal/rolegate"
)

// Access requests (issue 17) and the end of access: what the store keeps
// of them, on every engine. The worker that assigns and removes upstream
// is internal/provisioning's (its tests run it against the simulator);
// here the store's part: filing against the picture, the self-benefit
// rule read in the approval's transaction, the grant a completed job
// leaves, and the removal queue with its leases.

var (
	usageReaders = rolegate.UpstreamRole{ID: "role_usage", Name: "Usage Readers", Permissions: []string{"api.groups.read"}, ResourceType: "api.organization"}
	keyReaders   = rolegate.UpstreamRole{ID: "role_keys", Scope: "proj_alpha", ScopeName: "Alpha", Name: "Key Readers", Permissions: []string{"api.groups.read"}, ResourceType: "api.project"}
	research     = rolegate.Group{ID: "group_research", Name: "Research"}
	support      = rolegate.Group{ID: "group_support", Name: "Support Team"}
	samUser      = rolegate.User{ID: "user_sam", Name: "Sam Support", Email: "sam@example.test"}
	averyUser    = rolegate.User{ID: "user_avery", Name: "Avery Approver", Email: "Avery@Example.test"}
	blake        = rolegate.Actor{Principal: rolegate.Principal{
		Person: rolegate.Person{Issuer: "https://idp.test", Subject: "blake", Email: "blake@example.test", Name: "Blake Approver"},
		Roles:  []rolegate.PortalRole{rolegate.RoleRequester, rolegate.RoleApprover},
	}}
	admin = rolegate.Actor{Principal: rolegate.Principal{
		Person: rolegate.Person{Issuer: "https://idp.test", Subject: "drew", Email: "drew@example.test", Name: "Drew Admin"},
		Roles:  []rolegate.PortalRole{rolegate.RoleRequester, rolegate.RoleAdmin},
	}}
	noLimit = rolegate.AccessConfig{MaxDuration: rolegate.DefaultAccessMaxDuration}
)

// seedAccess gives s's picture a role in the organization and one in the
// project Alpha, and a directory in which Avery (the approver) is in
// Research and Sam in Support Team.
func (f *requestsFixture) seedAccess(s *Store) {
	f.t.Helper()
	read := rolegate.OrganizationRead{
		Roles:        []rolegate.UpstreamRole{ownerRole, usageReaders},
		Projects:     []rolegate.Project{{ID: "proj_alpha", Name: "Alpha"}},
		ProjectRoles: map[string][]rolegate.UpstreamRole{"proj_alpha": {keyReaders}},
		Directory: &rolegate.Directory{
			Groups:  []rolegate.Group{research, support},
			Users:   []rolegate.User{samUser, averyUser},
			Members: map[string][]string{research.ID: {averyUser.ID}, support.ID: {samUser.ID}},
		},
	}
	if _, err := s.Picture.ReplaceOrganization(f.t.Context(), read, nil); err != nil {
		f.t.Fatalf("seed the picture: %v", err)
	}
}

func (f *requestsFixture) fileAccess(role rolegate.UpstreamRole, g rolegate.Grantee, until string) *rolegate.Request {
	f.t.Helper()
	req, err := f.requests.CreateAccess(f.t.Context(), requester, rolegate.AccessInput{
		RoleID: role.ID, RoleScope: role.Scope, Grantee: g, Until: until, Justification: "Support needs the usage numbers for INC-12.",
	}, catalog, noLimit)
	if err != nil {
		f.t.Fatalf("file access to %s for %s: %v", role.Name, g, err)
	}
	return req
}

// granted files access to usageReaders for Sam until until, approves it,
// and runs its job to completion: the grant is active.
func (f *requestsFixture) granted(until string) *rolegate.Request {
	f.t.Helper()
	req := f.fileAccess(usageReaders, rolegate.Grantee{Kind: rolegate.GranteeUser, ID: samUser.ID}, until)
	if _, err := f.requests.ApproveWith(f.t.Context(), blake, req.ID, req.Binding(), "", rolegate.Reauth{}); err != nil {
		f.t.Fatalf("approve %d: %v", req.ID, err)
	}
	job, err := f.store.Jobs.ClaimJob(f.t.Context(), "worker-1", time.Minute)
	if err != nil || job == nil || job.RequestID != req.ID {
		f.t.Fatalf("ClaimJob = %+v, %v; want request %d's job", job, err, req.ID)
	}
	if job.Kind != rolegate.KindAccess || job.AccessRoleID != usageReaders.ID || job.Grantee.ID != samUser.ID {
		f.t.Fatalf("the claimed job is %+v; want the assignment of %s to %s", job, usageReaders.ID, samUser.ID)
	}
	if err := f.store.Jobs.CompleteJob(f.t.Context(), job, rolegate.ProvisionedRole{ID: usageReaders.ID, Name: usageReaders.Name}, false); err != nil {
		f.t.Fatalf("CompleteJob: %v", err)
	}
	return f.get(req.ID)
}

func (f *requestsFixture) get(id int64) *rolegate.Request {
	f.t.Helper()
	req, err := f.requests.Get(f.t.Context(), id)
	if err != nil {
		f.t.Fatalf("Get(%d): %v", id, err)
	}
	return req
}

func (f *requestsFixture) claimRemoval(q rolegate.RemovalQueue, owner string) *rolegate.Removal {
	f.t.Helper()
	rm, err := q.ClaimRemoval(f.t.Context(), owner, time.Minute)
	if err != nil {
		f.t.Fatalf("ClaimRemoval(%s): %v", owner, err)
	}
	return rm
}

func (f *requestsFixture) overdue() int {
	f.t.Helper()
	n, err := f.store.Removals.OverdueAssignments(f.t.Context())
	if err != nil {
		f.t.Fatal(err)
	}
	return n
}

func testAccess(t *testing.T, e Engine) {
	// Bad input is refused naming what does not exist, and the same grant
	// cannot be open twice; an access request takes no role's name.
	t.Run("CheckedAgainstThePicture", func(t *testing.T) {
		f := newRequestsFixture(t, e)
		f.seedAccess(f.store)
		g := rolegate.Grantee{Kind: rolegate.GranteeGroup, ID: support.ID}
		file := func(in rolegate.AccessInput) error {
			in.Justification = "Support needs the usage numbers for INC-12."
			_, err := f.requests.CreateAccess(t.Context(), requester, in, catalog, noLimit)
			return err
		}
		for _, tc := range []struct {
			in    rolegate.AccessInput
			field rolegate.Field
			want  string
		}{
			{rolegate.AccessInput{RoleID: "role_gone", Grantee: g}, rolegate.FieldRole, "The role role_gone is not one"},
			{rolegate.AccessInput{RoleID: usageReaders.ID, Grantee: rolegate.Grantee{Kind: rolegate.GranteeGroup, ID: "group_gone"}}, rolegate.FieldGrantee, "The group group_gone"},
			{rolegate.AccessInput{RoleID: usageReaders.ID, Grantee: rolegate.Grantee{Kind: rolegate.GranteeUser, ID: "user_gone"}}, rolegate.FieldGrantee, "The user user_gone"},
			{rolegate.AccessInput{RoleID: keyReaders.ID, RoleScope: "", Grantee: g}, rolegate.FieldRole, "can only be granted within its project"},
			{rolegate.AccessInput{RoleID: usageReaders.ID, Grantee: g, Until: "2001-01-01"}, rolegate.FieldUntil, "in the future"},
		} {
			err := file(tc.in)
			if msg := rolegate.ErrorFields(err)[tc.field]; !strings.Contains(msg, tc.want) {
				t.Errorf("CreateAccess(%+v) = %v; want %q beside %s", tc.in, err, tc.want, tc.field)
			}
		}
		req := f.fileAccess(keyReaders, g, "")
		if req.Scope != keyReaders.Scope || req.ScopeName != "Alpha" || req.Grantee.Name != support.Name || req.AccessRoleID != keyReaders.ID {
			t.Errorf("the project role's request is %+v; want it in Alpha, for %s", req, support.Name)
		}
		got := f.get(req.ID)
		if got.Kind != rolegate.KindAccess || got.Grantee != req.Grantee || !got.AccessUntil.Equal(req.AccessUntil) || got.Binding() != req.Binding() || got.Grant != nil {
			t.Errorf("read back: %+v; want what was filed (%+v), without a grant yet", got, req)
		}
		open := f.fileAccess(usageReaders, g, "")
		if id, found, err := f.requests.OpenGrant(t.Context(), rolegate.ScopeOrganization, usageReaders.ID, g); err != nil || !found || id != open.ID {
			t.Errorf("OpenGrant = %d, %v, %v; want request %d", id, found, err, open.ID)
		}
		if _, found, err := f.requests.OpenGrant(t.Context(), rolegate.ScopeOrganization, usageReaders.ID, rolegate.Grantee{Kind: rolegate.GranteeGroup, ID: research.ID}); err != nil || found {
			t.Errorf("OpenGrant for another group = %v, %v; want none", found, err)
		}
		err := file(rolegate.AccessInput{RoleID: usageReaders.ID, Grantee: g})
		if msg := rolegate.ErrorFields(err)[rolegate.FieldGrantee]; !strings.Contains(msg, "An open request already asks for the role Usage Readers") {
			t.Errorf("the same grant twice: %v", err)
		}
		if msg, err := f.requests.RoleNameTaken(t.Context(), rolegate.ScopeOrganization, "Usage Readers", approver.Principal); err != nil || strings.Contains(msg, "Request #") {
			t.Errorf("RoleNameTaken after an access request = %q, %v; want no request named", msg, err)
		}
	})

	// Nobody approves access they would receive: Avery is in Research and
	// is the user avery@ as the directory shows (read in the approval's
	// transaction, the email compared without case); Blake approves.
	t.Run("NoApprovalOfOnesOwnAccess", func(t *testing.T) {
		f := newRequestsFixture(t, e)
		f.seedAccess(f.store)
		forResearch := f.fileAccess(usageReaders, rolegate.Grantee{Kind: rolegate.GranteeGroup, ID: research.ID}, "")
		forAvery := f.fileAccess(usageReaders, rolegate.Grantee{Kind: rolegate.GranteeUser, ID: averyUser.ID}, "")
		for _, tc := range []struct {
			req  *rolegate.Request
			want string
		}{
			{forResearch, "member of the group Research"},
			{forAvery, "granted to you"},
		} {
			_, err := f.requests.ApproveWith(t.Context(), approver, tc.req.ID, tc.req.Binding(), "", rolegate.Reauth{})
			if rolegate.ErrorCode(err) != rolegate.EFORBIDDEN || !strings.Contains(rolegate.ErrorMessage(err), tc.want) {
				t.Errorf("Avery approving request %d: %v; want refused, saying %q", tc.req.ID, err, tc.want)
			}
			if got := f.get(tc.req.ID); got.Status != rolegate.StatusPending || got.ApprovalCount() != 0 {
				t.Errorf("after the refusal request %d is %s with %d approvals", tc.req.ID, got.Status, got.ApprovalCount())
			}
			if _, err := f.requests.ApproveWith(t.Context(), blake, tc.req.ID, tc.req.Binding(), "", rolegate.Reauth{}); err != nil {
				t.Errorf("Blake approving request %d: %v", tc.req.ID, err)
			}
		}
	})

	// From the grant to its planned end: the requester is reminded once a
	// day before, the removal is queued at Until, claimed with a lease,
	// marked before its DELETE, taken over by another owner when the lease
	// runs out (looking first), and finished by that owner alone.
	t.Run("EndsAtUntilOnce", func(t *testing.T) {
		f := newRequestsFixture(t, e)
		f.seedAccess(f.store)
		until := start.Add(72 * time.Hour)
		req := f.granted(until.Format("2006-01-02T15:04"))
		if req.Status != rolegate.StatusProvisioned || req.Grant == nil || req.Grant.State != rolegate.GrantActive || !req.Grant.Until.Equal(until) {
			t.Fatalf("after its job the request is %s with grant %+v; want provisioned, active until %s", req.Status, req.Grant, until)
		}
		if req.UpstreamRoleID != "" {
			t.Errorf("an access request claims the role %s as its own", req.UpstreamRoleID)
		}
		q := f.store.Removals
		if next, err := q.NextRemovalAt(t.Context()); err != nil || !next.Equal(until.Add(-rolegate.AccessReminderLead)) {
			t.Errorf("NextRemovalAt = %v, %v; want the reminder's time, %v", next, err, until.Add(-rolegate.AccessReminderLead))
		}
		if n, err := q.RemindEnding(t.Context()); err != nil || n != 0 {
			t.Errorf("RemindEnding three days before = %d, %v; want 0", n, err)
		}
		f.clock.Advance(60 * time.Hour)
		for round, want := range []int{1, 0} {
			if n, err := q.RemindEnding(t.Context()); err != nil || n != want {
				t.Errorf("RemindEnding (round %d) = %d, %v; want %d", round, n, err, want)
			}
		}
		if n, err := q.ScheduleDue(t.Context()); err != nil || n != 0 || f.overdue() != 0 {
			t.Errorf("before Until: ScheduleDue = %d, %v, overdue %d; want nothing", n, err, f.overdue())
		}
		f.clock.Advance(13 * time.Hour)
		if f.overdue() != 1 {
			t.Errorf("past Until, %d assignments overdue; want 1", f.overdue())
		}
		if n, err := q.ScheduleDue(t.Context()); err != nil || n != 1 {
			t.Fatalf("ScheduleDue past Until = %d, %v; want 1", n, err)
		}
		first := f.claimRemoval(q, "remover-1")
		if first == nil || first.RequestID != req.ID || first.Attempt != 1 || first.Reconcile || first.Cause != rolegate.EndExpired ||
			first.RoleID != usageReaders.ID || first.Grantee.ID != samUser.ID {
			t.Fatalf("ClaimRemoval = %+v; want request %d's first attempt at ending its expired access", first, req.ID)
		}
		if again := f.claimRemoval(q, "remover-2"); again != nil {
			t.Fatalf("a second ClaimRemoval = %+v; want nothing (the removal is leased)", again)
		}
		if err := q.BeforeDelete(t.Context(), first); err != nil {
			t.Fatal(err)
		}
		f.clock.Advance(2 * time.Minute)
		second := f.claimRemoval(q, "remover-2")
		if second == nil || second.Attempt != 2 || !second.Reconcile {
			t.Fatalf("ClaimRemoval after the lease ran out = %+v; want the second attempt, looking first", second)
		}
		if err := q.CompleteRemoval(t.Context(), first, false); !errors.Is(err, rolegate.ErrLeaseLost) {
			t.Errorf("the first owner completing after the takeover: %v; want ErrLeaseLost", err)
		}
		if err := q.CompleteRemoval(t.Context(), second, false); err != nil {
			t.Fatal(err)
		}
		got := f.get(req.ID)
		if !got.Grant.Revoked() || got.Grant.EndCause != rolegate.EndExpired || !strings.Contains(got.Grant.EndReason, "ended as planned") || got.Grant.EndedAt.IsZero() {
			t.Errorf("the grant ends %+v; want revoked as planned", got.Grant)
		}
		if f.overdue() != 0 || f.claimRemoval(q, "remover-3") != nil {
			t.Errorf("after the removal: %d overdue, or a removal left to claim", f.overdue())
		}
		if next, err := q.NextRemovalAt(t.Context()); err != nil || !next.IsZero() {
			t.Errorf("NextRemovalAt after the end = %v, %v; want none", next, err)
		}
		list, _, err := f.requests.List(t.Context(), rolegate.RequestFilter{})
		if err != nil || len(list) != 1 || !list[0].Grant.Revoked() {
			t.Errorf("List = %d requests, %v; want the access request, its grant revoked", len(list), err)
		}
		rec, err := f.requests.GetRecord(t.Context(), req.ID)
		if err != nil {
			t.Fatal(err)
		}
		counts := map[string]int{}
		for _, ev := range rec.Events {
			counts[ev.Action]++
		}
		for action, want := range map[string]int{rolegate.ActionAccessEndingSoon: 1, rolegate.ActionAccessRemovalAttempt: 2, rolegate.ActionAccessRemoved: 1} {
			if counts[action] != want {
				t.Errorf("the timeline has %d %s; want %d (%v)", counts[action], action, want, counts)
			}
		}
		verifyTrail(t, f.store)
	})

	// An assignment found removed upstream while still active ends as
	// drift at once, once: it is no longer among the held grants.
	t.Run("DriftBeforeTheEnd", func(t *testing.T) {
		f := newRequestsFixture(t, e)
		f.seedAccess(f.store)
		req := f.granted("")
		q := f.store.Removals
		held, err := q.HeldGrants(t.Context())
		want := rolegate.HeldGrant{RequestID: req.ID, Grantee: req.Grantee, RoleID: usageReaders.ID}
		if err != nil || len(held) != 1 || held[0] != want {
			t.Fatalf("HeldGrants = %+v, %v; want %+v", held, err, want)
		}
		for round, want := range []bool{true, false} {
			if ended, err := q.EndByDrift(t.Context(), req.ID); err != nil || ended != want {
				t.Errorf("EndByDrift (round %d) = %v, %v; want %v", round, ended, err, want)
			}
		}
		if got := f.get(req.ID); !got.Grant.Revoked() || got.Grant.EndCause != rolegate.EndDrift {
			t.Errorf("the grant ends %+v; want drift", got.Grant)
		}
		if held, err := q.HeldGrants(t.Context()); err != nil || len(held) != 0 {
			t.Errorf("HeldGrants after the drift = %+v, %v; want none", held, err)
		}
		verifyTrail(t, f.store)
	})

	// An admin revokes access early, saying why; a removal that fails
	// waits for an admin's retry; one found gone upstream is drift.
	t.Run("RevokedFailedRetriedDrift", func(t *testing.T) {
		f := newRequestsFixture(t, e)
		f.seedAccess(f.store)
		req := f.granted("")
		q := f.store.Removals
		if _, err := q.Revoke(t.Context(), approver, req.ID, "Left the team."); rolegate.ErrorCode(err) != rolegate.EFORBIDDEN {
			t.Errorf("an approver revoking: %v; want forbidden", err)
		}
		if _, err := q.Revoke(t.Context(), admin, req.ID, "  "); rolegate.ErrorCode(err) != rolegate.EINVALID {
			t.Errorf("revoking without a reason: %v; want invalid", err)
		}
		got, err := q.Revoke(t.Context(), admin, req.ID, "  Left the team. ")
		if err != nil || got.Grant == nil || got.Grant.State != rolegate.GrantRemoving || got.Grant.EndCause != rolegate.EndRevoked ||
			got.Grant.EndReason != "Left the team." || got.Grant.EndedBy != admin.DisplayName() {
			t.Fatalf("Revoke = %+v, %v; want the removal queued, revoked by %s for the reason given", got.Grant, err, admin.DisplayName())
		}
		if _, err := q.Revoke(t.Context(), admin, req.ID, "Again."); rolegate.ErrorCode(err) != rolegate.ECONFLICT {
			t.Errorf("revoking twice: %v; want a conflict", err)
		}
		rm := f.claimRemoval(q, "remover-1")
		if rm == nil || rm.Cause != rolegate.EndRevoked {
			t.Fatalf("ClaimRemoval = %+v; want the revocation", rm)
		}
		if err := q.RetryRemovalLater(t.Context(), rm, time.Minute, "upstream 503"); err != nil {
			t.Fatal(err)
		}
		if again := f.claimRemoval(q, "remover-1"); again != nil {
			t.Fatalf("ClaimRemoval before the retry is due = %+v; want nothing", again)
		}
		f.clock.Advance(time.Minute)
		rm = f.claimRemoval(q, "remover-1")
		if rm == nil || rm.Attempt != 2 {
			t.Fatalf("ClaimRemoval once due = %+v; want the second attempt", rm)
		}
		if err := q.FailRemoval(t.Context(), rm, "upstream 403: not allowed"); err != nil {
			t.Fatal(err)
		}
		if got := f.get(req.ID); got.Grant.State != rolegate.GrantFailed || got.Grant.LastError != "upstream 403: not allowed" {
			t.Errorf("after the failure the grant is %+v; want failed with the upstream's message", got.Grant)
		}
		if _, err := q.RetryRemoval(t.Context(), approver, req.ID); rolegate.ErrorCode(err) != rolegate.EFORBIDDEN {
			t.Errorf("an approver retrying: %v; want forbidden", err)
		}
		if _, err := q.RetryRemoval(t.Context(), admin, req.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := q.RetryRemoval(t.Context(), admin, req.ID); rolegate.ErrorCode(err) != rolegate.ECONFLICT {
			t.Errorf("retrying twice: %v; want a conflict", err)
		}
		rm = f.claimRemoval(q, "remover-2")
		if rm == nil || rm.Cause != rolegate.EndRevoked {
			t.Fatalf("ClaimRemoval after the retry = %+v; want the revocation again", rm)
		}
		if err := q.CompleteRemoval(t.Context(), rm, true); err != nil {
			t.Fatal(err)
		}
		got = f.get(req.ID)
		if !got.Grant.Revoked() || got.Grant.EndCause != rolegate.EndDrift || !strings.Contains(got.Grant.EndReason, "outside rolegate") {
			t.Errorf("the grant ends %+v; want drift", got.Grant)
		}
		verifyTrail(t, f.store)
	})
}

func testAccessTwoProcesses(t *testing.T, e Engine) {
	// Removals due at once, scheduled and claimed by removers in both
	// processes at once: each grant is scheduled once and each removal is
	// claimed by one owner only.
	t.Run("EachRemovalIsClaimedOnce", func(t *testing.T) {
		f := newRequestsFixture(t, e)
		f.seedAccess(f.store)
		second := e.Again(t, f.store, f.clock.Now)
		until := start.Add(48 * time.Hour)
		const grants = 4
		groups := []rolegate.Group{research, support}
		roles := []rolegate.UpstreamRole{usageReaders, ownerRole}
		for i := range grants {
			req := f.fileAccess(roles[i/2], rolegate.Grantee{Kind: rolegate.GranteeGroup, ID: groups[i%2].ID}, until.Format("2006-01-02T15:04"))
			if _, err := f.requests.ApproveWith(t.Context(), blake, req.ID, req.Binding(), "", rolegate.Reauth{}); err != nil {
				t.Fatal(err)
			}
			job, err := f.store.Jobs.ClaimJob(t.Context(), "worker-1", time.Minute)
			if err != nil || job == nil {
				t.Fatalf("ClaimJob = %v, %v", job, err)
			}
			if err := f.store.Jobs.CompleteJob(t.Context(), job, rolegate.ProvisionedRole{ID: job.AccessRoleID}, false); err != nil {
				t.Fatal(err)
			}
		}
		f.clock.Advance(49 * time.Hour)
		var wg sync.WaitGroup
		scheduled := make([]int, 2)
		for i, q := range []rolegate.RemovalQueue{f.store.Removals, second.Removals} {
			wg.Go(func() {
				n, err := q.ScheduleDue(t.Context())
				if err != nil {
					t.Errorf("ScheduleDue: %v", err)
				}
				scheduled[i] = n
			})
		}
		wg.Wait()
		if scheduled[0]+scheduled[1] != grants {
			t.Fatalf("ScheduleDue from two processes = %v; want %d in all", scheduled, grants)
		}
		var mu sync.Mutex
		claimed := map[int64]string{}
		for i, q := range []rolegate.RemovalQueue{f.store.Removals, second.Removals, f.store.Removals, second.Removals} {
			owner := fmt.Sprintf("remover-%d", i)
			wg.Go(func() {
				for {
					rm, err := q.ClaimRemoval(t.Context(), owner, time.Hour)
					if err != nil {
						t.Errorf("ClaimRemoval(%s): %v", owner, err)
						return
					}
					if rm == nil {
						return
					}
					mu.Lock()
					if prev, ok := claimed[rm.RequestID]; ok {
						t.Errorf("request %d's removal claimed by %s and %s", rm.RequestID, prev, owner)
					}
					claimed[rm.RequestID] = owner
					mu.Unlock()
					if err := q.CompleteRemoval(t.Context(), rm, false); err != nil {
						t.Errorf("CompleteRemoval(%d) by %s: %v", rm.RequestID, owner, err)
					}
				}
			})
		}
		wg.Wait()
		if len(claimed) != grants || f.overdue() != 0 {
			t.Errorf("%d removals claimed, %d overdue; want %d claimed once each, none overdue", len(claimed), f.overdue(), grants)
		}
		if n := f.store.Rows(t, "access_grants", "state = 'revoked'"); n != grants {
			t.Errorf("%d grants revoked; want %d", n, grants)
		}
		verifyTrail(t, f.store)
	})
}
