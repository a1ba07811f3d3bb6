package storetest

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/rolegate/rolegate/internal/rolegate"
	"github.com/rolegate/rolegate/internal/testkit"
)

var (
	requester = rolegate.Actor{Principal: rolegate.Principal{
		Person: rolegate.Person{Issuer: "https://idp.test", Subject: "riley", Email: "riley@example.test", Name: "Riley Requester"},
		Roles:  []rolegate.PortalRole{rolegate.RoleRequester},
	}, ClientIP: "192.0.2.20"}
	approver = rolegate.Actor{Principal: rolegate.Principal{
		Person: rolegate.Person{Issuer: "https://idp.test", Subject: "avery", Email: "avery@example.test", Name: "Avery Approver"},
		Roles:  []rolegate.PortalRole{rolegate.RoleRequester, rolegate.RoleApprover},
	}, ClientIP: "192.0.2.21"}
	catalog = rolegate.NewCatalog([]rolegate.Permission{
		{Name: "api.groups.read", Area: "Groups"},
		{Name: "api.groups.write", Area: "Groups"},
	})
	// webhooks makes every event that calls for a webhook queue one row.
	webhooks = rolegate.NotificationTargets{Webhooks: []rolegate.WebhookTarget{{ID: "hook-1", Label: "https://hooks.example.test"}}}
)

// requestsFixture is a store with the request service over it (one
// approval needed) and a clock standing still until the test moves it.
type requestsFixture struct {
	t        *testing.T
	clock    *testkit.Clock
	store    *Store
	requests Requests
}

func newRequestsFixture(t *testing.T, e Engine) *requestsFixture {
	t.Helper()
	f := &requestsFixture{t: t, clock: testkit.NewClock(start)}
	f.store = e.Open(t, f.clock.Now)
	f.requests = f.store.Requests(rolegate.RequestsConfig{RequiredApprovals: 1, ExpireAfter: 24 * time.Hour})
	return f
}

func (f *requestsFixture) create(s *Store, name string) *rolegate.Request {
	f.t.Helper()
	req, err := s.Requests(rolegate.RequestsConfig{RequiredApprovals: 1}).Create(f.t.Context(), requester, rolegate.RequestInput{
		RoleName: name, Permissions: []string{"api.groups.read"}, Justification: "Needed for the quarterly access review.",
	}, catalog)
	if err != nil {
		f.t.Fatalf("Create(%q): %v", name, err)
	}
	return req
}

func (f *requestsFixture) approve(req *rolegate.Request) {
	f.t.Helper()
	if _, err := f.requests.ApproveWith(f.t.Context(), approver, req.ID, req.Binding(), "fine", rolegate.Reauth{}); err != nil {
		f.t.Fatalf("approve request %d: %v", req.ID, err)
	}
}

func (f *requestsFixture) status(id int64) rolegate.Status {
	f.t.Helper()
	req, err := f.requests.Get(f.t.Context(), id)
	if err != nil {
		f.t.Fatalf("Get(%d): %v", id, err)
	}
	return req.Status
}

func testRequests(t *testing.T, e Engine) {
	// A request goes from its creation to its role through the approval,
	// the worker's claim and the completion, each step in the trail.
	t.Run("FromCreationToRole", func(t *testing.T) {
		f := newRequestsFixture(t, e)
		req := f.create(f.store, "Group Auditor")
		if req.ID == 0 || req.Status != rolegate.StatusPending {
			t.Fatalf("Create = #%d %s; want a numbered pending request", req.ID, req.Status)
		}
		f.approve(req)
		if st := f.status(req.ID); st != rolegate.StatusApproved {
			t.Fatalf("after the approval the request is %s; want approved", st)
		}
		job, err := f.store.Jobs.ClaimJob(t.Context(), "worker-1", time.Minute)
		if err != nil || job == nil || job.RequestID != req.ID || job.Attempt != 1 || job.Reconcile {
			t.Fatalf("ClaimJob = %+v, %v; want request %d's first attempt, nothing to reconcile", job, err, req.ID)
		}
		if again, err := f.store.Jobs.ClaimJob(t.Context(), "worker-2", time.Minute); err != nil || again != nil {
			t.Fatalf("a second ClaimJob = %+v, %v; want nothing (the job is leased)", again, err)
		}
		role := rolegate.ProvisionedRole{ID: "role_1", Name: "Group Auditor", Permissions: []string{"api.groups.read"}}
		if err := f.store.Jobs.CompleteJob(t.Context(), job, role, false); err != nil {
			t.Fatalf("CompleteJob: %v", err)
		}
		rec, err := f.requests.GetRecord(t.Context(), req.ID)
		if err != nil {
			t.Fatal(err)
		}
		if rec.Request.Status != rolegate.StatusProvisioned || rec.Request.UpstreamRoleID != "role_1" {
			t.Errorf("the request ends %s with role %q; want provisioned with role_1", rec.Request.Status, rec.Request.UpstreamRoleID)
		}
		if len(rec.Events) < 4 {
			t.Errorf("the request's timeline has %d events; want its creation, approval, claim and completion", len(rec.Events))
		}
		verifyTrail(t, f.store)
	})

	// A name held by an open request is refused to a second one.
	t.Run("AnOpenNameIsTaken", func(t *testing.T) {
		f := newRequestsFixture(t, e)
		first := f.create(f.store, "Group Auditor")
		_, err := f.requests.Create(t.Context(), requester, rolegate.RequestInput{
			RoleName: "group auditor", Permissions: []string{"api.groups.read"}, Justification: "Needed for the quarterly access review.",
		}, catalog)
		if rolegate.ErrorCode(err) != rolegate.EINVALID {
			t.Fatalf("Create of a name request #%d holds = %v; want it refused as invalid", first.ID, err)
		}
	})
}

// testRequestsTwoProcesses races the two stores on one database.
func testRequestsTwoProcesses(t *testing.T, e Engine) {
	// An approval through one process and a cancellation through the other,
	// at once: one of them wins, the other is refused, and the request ends
	// as the winner left it (approved with one job, or cancelled with none).
	t.Run("ApproveRacesCancel", func(t *testing.T) {
		f := newRequestsFixture(t, e)
		other := e.Again(t, f.store, f.clock.Now).Requests(rolegate.RequestsConfig{RequiredApprovals: 1})
		for round := range 8 {
			req := f.create(f.store, fmt.Sprintf("Racing Role %d", round))
			var approveErr, cancelErr error
			var wg sync.WaitGroup
			wg.Go(func() {
				_, approveErr = f.requests.ApproveWith(t.Context(), approver, req.ID, req.Binding(), "", rolegate.Reauth{})
			})
			wg.Go(func() { _, cancelErr = other.Cancel(t.Context(), requester, req.ID) })
			wg.Wait()
			if (approveErr == nil) == (cancelErr == nil) {
				t.Fatalf("round %d: approve = %v, cancel = %v; want exactly one to succeed", round, approveErr, cancelErr)
			}
			jobs := f.store.Rows(t, "provisioning_jobs", fmt.Sprintf("request_id = %d", req.ID))
			switch st := f.status(req.ID); {
			case approveErr == nil && (st != rolegate.StatusApproved || jobs != 1):
				t.Fatalf("round %d: the approval won but the request is %s with %d jobs; want approved with 1", round, st, jobs)
			case cancelErr == nil && (st != rolegate.StatusCancelled || jobs != 0):
				t.Fatalf("round %d: the cancellation won but the request is %s with %d jobs; want cancelled with none", round, st, jobs)
			}
		}
		verifyTrail(t, f.store)
	})

	// Workers of both processes claiming at once take each job once.
	t.Run("EachJobIsClaimedOnce", func(t *testing.T) {
		f := newRequestsFixture(t, e)
		second := e.Again(t, f.store, f.clock.Now)
		const requests = 6
		var want []int64
		for i := range requests {
			req := f.create(f.store, fmt.Sprintf("Queued Role %d", i))
			f.approve(req)
			want = append(want, req.ID)
		}
		var mu sync.Mutex
		var claimed []int64
		var wg sync.WaitGroup
		for p, s := range []*Store{f.store, second} {
			for w := range 2 {
				wg.Go(func() {
					for {
						job, err := s.Jobs.ClaimJob(t.Context(), fmt.Sprintf("process-%d-worker-%d", p, w), time.Minute)
						if err != nil {
							t.Errorf("ClaimJob: %v", err)
							return
						}
						if job == nil {
							return
						}
						mu.Lock()
						claimed = append(claimed, job.RequestID)
						mu.Unlock()
					}
				})
			}
		}
		wg.Wait()
		slices.Sort(claimed)
		if !slices.Equal(claimed, want) {
			t.Fatalf("claimed %v; want each of %v once", claimed, want)
		}
		verifyTrail(t, f.store)
	})

	// A worker that stops (its process killed mid-call) loses its job once
	// its lease runs out: the other process takes it over, told to look the
	// role up before creating it, and the first can no longer finish it.
	t.Run("AnExpiredLeaseIsTakenOver", func(t *testing.T) {
		f := newRequestsFixture(t, e)
		second := e.Again(t, f.store, f.clock.Now)
		req := f.create(f.store, "Taken Over Role")
		f.approve(req)
		first, err := f.store.Jobs.ClaimJob(t.Context(), "node-a", time.Minute)
		if err != nil || first == nil {
			t.Fatalf("ClaimJob on the first process = %+v, %v", first, err)
		}
		if job, err := second.Jobs.ClaimJob(t.Context(), "node-b", time.Minute); err != nil || job != nil {
			t.Fatalf("ClaimJob on the second process during the lease = %+v, %v; want nothing", job, err)
		}
		f.clock.Advance(2 * time.Minute)
		job, err := second.Jobs.ClaimJob(t.Context(), "node-b", time.Minute)
		if err != nil || job == nil || job.RequestID != req.ID || job.Attempt != 2 || !job.Reconcile {
			t.Fatalf("ClaimJob after the lease = %+v, %v; want request %d's second attempt, reconciling", job, err, req.ID)
		}
		role := rolegate.ProvisionedRole{ID: "role_1", Name: "Taken Over Role", Permissions: []string{"api.groups.read"}}
		if err := f.store.Jobs.CompleteJob(t.Context(), first, role, false); !errors.Is(err, rolegate.ErrLeaseLost) {
			t.Fatalf("the first worker's CompleteJob = %v; want rolegate.ErrLeaseLost", err)
		}
		if err := second.Jobs.CompleteJob(t.Context(), job, role, true); err != nil {
			t.Fatalf("the second worker's CompleteJob: %v", err)
		}
		if st := f.status(req.ID); st != rolegate.StatusProvisioned {
			t.Fatalf("the request is %s; want provisioned", st)
		}
		verifyTrail(t, f.store)
	})

	// Notifiers of both processes claiming at once take each notification
	// once.
	t.Run("EachNotificationIsClaimedOnce", func(t *testing.T) {
		f := newRequestsFixture(t, e)
		f.store.SetNotifications(webhooks)
		second := e.Again(t, f.store, f.clock.Now)
		second.SetNotifications(webhooks)
		for i := range 6 {
			f.create(f.store, fmt.Sprintf("Announced Role %d", i))
		}
		queued := f.store.Rows(t, "notifications", "")
		if queued < 6 {
			t.Fatalf("%d notifications queued for 6 new requests; want one each at least", queued)
		}
		var mu sync.Mutex
		seen := map[int64]int{}
		var wg sync.WaitGroup
		for _, s := range []*Store{f.store, second, f.store, second} {
			wg.Go(func() {
				for {
					batch, err := s.Outbox.ClaimNotifications(t.Context(), 2, time.Minute)
					if err != nil {
						t.Errorf("ClaimNotifications: %v", err)
						return
					}
					if len(batch) == 0 {
						return
					}
					mu.Lock()
					for _, n := range batch {
						seen[n.ID]++
					}
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		if len(seen) != queued {
			t.Errorf("%d of the %d notifications were claimed", len(seen), queued)
		}
		for id, n := range seen {
			if n != 1 {
				t.Errorf("notification %d claimed %d times; want once", id, n)
			}
		}
	})
}
