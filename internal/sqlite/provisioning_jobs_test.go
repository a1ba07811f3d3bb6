package sqlite_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/rolegate/rolegate/internal/rolegate"
	"github.com/rolegate/rolegate/internal/sqlite"
	"github.com/rolegate/rolegate/internal/testkit"
)

// jobsFixture is a real database file with one person of each kind and a
// clock the test moves by hand.
type jobsFixture struct {
	t        *testing.T
	ctx      context.Context
	path     string
	db       *sqlite.DB
	requests *sqlite.Requests
	catalog  *rolegate.Catalog
	clock    *testkit.Clock
	stores
}

var (
	jobsRequester = jobsActor("riley", "Riley Requester", rolegate.RoleRequester)
	jobsApprover  = jobsActor("avery", "Avery Approver", rolegate.RoleRequester, rolegate.RoleApprover)
	jobsAdmin     = jobsActor("drew", "Drew Admin", rolegate.RoleRequester, rolegate.RoleAdmin)
)

func jobsActor(subject, name string, roles ...rolegate.PortalRole) rolegate.Actor {
	return rolegate.Actor{Principal: rolegate.Principal{Person: rolegate.Person{Issuer: "test", Subject: subject, Name: name}, Roles: roles}}
}

// stores are the services over one database, one struct each, as
// internal/app builds them.
type stores struct {
	sessions *sqlite.Sessions
	outbox   *sqlite.Outbox
	jobs     *sqlite.Jobs
	picture  *sqlite.Picture
	trail    *sqlite.Trail
}

func storesOf(db *sqlite.DB) stores {
	return stores{sqlite.NewSessions(db), sqlite.NewOutbox(db), sqlite.NewJobs(db), sqlite.NewPicture(db), sqlite.NewTrail(db)}
}

// openOnClock opens a new database file on a clock that stands at
// 2026-03-02 09:00 UTC until the test moves it; the file is closed when the
// test ends.
func openOnClock(t *testing.T) (db *sqlite.DB, path string, clock *testkit.Clock) {
	t.Helper()
	path = filepath.Join(t.TempDir(), "rolegate.db")
	db, err := sqlite.Open(context.Background(), path)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	clock = testkit.NewClock(time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC))
	db.SetClock(clock.Now)
	return db, path, clock
}

func newJobsFixture(t *testing.T) *jobsFixture {
	t.Helper()
	db, path, clock := openOnClock(t)
	return &jobsFixture{
		t: t, ctx: context.Background(), path: path, db: db, clock: clock, stores: storesOf(db),
		requests: sqlite.NewRequests(db, rolegate.RequestsConfig{RequiredApprovals: 1}),
		catalog: rolegate.NewCatalog([]rolegate.Permission{
			{Name: "api.groups.read", Area: "Groups"}, {Name: "api.users.read", Area: "Users"},
		}),
	}
}

// approved files a request for roleName and approves it: its job is queued.
func (f *jobsFixture) approved(roleName string) *rolegate.Request {
	f.t.Helper()
	req, err := f.requests.Create(f.ctx, jobsRequester, rolegate.RequestInput{
		RoleName: roleName, Permissions: []string{"api.groups.read"}, Justification: "Needed for the quarterly review.",
	}, f.catalog)
	if err != nil {
		f.t.Fatalf("create %q: %v", roleName, err)
	}
	if _, err := f.requests.Approve(f.ctx, jobsApprover, req.ID, req.Binding(), ""); err != nil {
		f.t.Fatalf("approve %q: %v", roleName, err)
	}
	return f.get(req.ID)
}

func (f *jobsFixture) get(id int64) *rolegate.Request {
	f.t.Helper()
	req, err := f.requests.Get(f.ctx, id)
	if err != nil {
		f.t.Fatalf("get %d: %v", id, err)
	}
	return req
}

func (f *jobsFixture) claim(owner string, lease time.Duration) *rolegate.Job {
	f.t.Helper()
	job, err := f.jobs.ClaimJob(f.ctx, owner, lease)
	if err != nil {
		f.t.Fatalf("ClaimJob(%q): %v", owner, err)
	}
	return job
}

// actions lists the actions of a request's timeline, oldest first.
func (f *jobsFixture) actions(id int64) []string {
	f.t.Helper()
	events, err := f.trail.RequestEvents(f.ctx, id)
	if err != nil {
		f.t.Fatal(err)
	}
	var out []string
	for _, e := range events {
		out = append(out, e.Action)
	}
	return out
}

// raw opens a second, plain connection to the file: a hand edit.
func (f *jobsFixture) raw() *sql.DB {
	f.t.Helper()
	raw := testkit.OpenDB(f.t, f.path)
	return raw
}

func (f *jobsFixture) jobState(id int64) (state string, attempts int, lastError string) {
	f.t.Helper()
	err := f.raw().QueryRow(`SELECT state, attempts, last_error FROM provisioning_jobs WHERE request_id = ?`, id).Scan(&state, &attempts, &lastError)
	if err != nil {
		f.t.Fatal(err)
	}
	return state, attempts, lastError
}

var testRole = rolegate.ProvisionedRole{ID: "role_0123", Name: "Group Reader", Permissions: []string{"api.groups.read"}, ResourceType: "api.organization"}

func TestClaimJobHandsOutAnApprovedRequestOnce(t *testing.T) {
	t.Parallel()
	f := newJobsFixture(t)
	req := f.approved("Group Reader")

	job := f.claim("w1", time.Minute)
	if job == nil {
		t.Fatal("ClaimJob = nil; want the approved request's job")
	}
	if job.RequestID != req.ID || job.Attempt != 1 || job.Reconcile || job.Owner != "w1" || job.RequiredApprovals != 1 {
		t.Errorf("job = %+v; want request %d, attempt 1, no reconcile, owner w1, 1 approval needed", job, req.ID)
	}
	if string(job.Payload) != string(req.Payload) {
		t.Errorf("job payload = %s; want the request's %s", job.Payload, req.Payload)
	}
	if len(job.ApprovedHashes) != 1 || job.ApprovedHashes[0] != req.Binding() || job.BindingVersion != rolegate.BindingCall || job.Scope != "" {
		t.Errorf("ApprovedHashes = %v, binding v%d, scope %q; want [%s], v2, the organization", job.ApprovedHashes, job.BindingVersion, job.Scope, req.Binding())
	}
	if got := f.get(req.ID).Status; got != rolegate.StatusProvisioning {
		t.Errorf("status after claim = %s; want provisioning", got)
	}
	if again := f.claim("w2", time.Minute); again != nil {
		t.Errorf("a second ClaimJob while leased = %+v; want nil", again)
	}
	want := []string{rolegate.ActionRequestCreated, rolegate.ActionRequestApproved, rolegate.ActionProvisioningQueued, rolegate.ActionProvisioningAttempt}
	f.wantTimeline(req.ID, want)
}

// claimed files and approves a request, and claims its job as worker w1
// for a minute.
func (f *jobsFixture) claimed(roleName string) (*rolegate.Request, *rolegate.Job) {
	f.t.Helper()
	req := f.approved(roleName)
	return req, f.claim("w1", time.Minute)
}

// wantTimeline checks request id's actions, oldest first.
func (f *jobsFixture) wantTimeline(id int64, want []string) {
	f.t.Helper()
	if got := f.actions(id); !slices.Equal(got, want) {
		f.t.Errorf("timeline = %v; want %v", got, want)
	}
}

func TestCompleteJobStoresTheRoleAndEndsTheJob(t *testing.T) {
	t.Parallel()
	f := newJobsFixture(t)
	req, job := f.claimed("Group Reader")

	if err := f.jobs.CompleteJob(f.ctx, job, testRole, false); err != nil {
		t.Fatalf("CompleteJob: %v", err)
	}
	got := f.get(req.ID)
	if got.Status != rolegate.StatusProvisioned || got.UpstreamRoleID != "role_0123" || got.UpstreamResourceType != "api.organization" {
		t.Errorf("request = %s %q %q; want provisioned role_0123 api.organization", got.Status, got.UpstreamRoleID, got.UpstreamResourceType)
	}
	if state, _, _ := f.jobState(req.ID); state != "done" {
		t.Errorf("job state = %s; want done", state)
	}
	if err := f.jobs.CompleteJob(f.ctx, job, testRole, false); !errors.Is(err, rolegate.ErrLeaseLost) {
		t.Errorf("a second CompleteJob = %v; want rolegate.ErrLeaseLost", err)
	}
	if next := f.claim("w1", time.Minute); next != nil {
		t.Errorf("ClaimJob after completion = %+v; want nil", next)
	}
	var stored string
	if err := f.raw().QueryRow(`SELECT upstream_role FROM requests WHERE id = ?`, req.ID).Scan(&stored); err != nil {
		t.Fatal(err)
	}
	var role rolegate.ProvisionedRole
	if err := json.Unmarshal([]byte(stored), &role); err != nil || role.ID != testRole.ID || !slices.Equal(role.Permissions, testRole.Permissions) {
		t.Errorf("upstream_role = %s; want the returned role", stored)
	}
}

func TestAnExpiredLeaseIsReclaimedAndTheOldOwnerIsShutOut(t *testing.T) {
	t.Parallel()
	f := newJobsFixture(t)
	req := f.approved("Group Reader")
	dead := f.claim("dead", time.Minute)

	f.clock.Advance(59 * time.Second)
	if job := f.claim("alive", time.Minute); job != nil {
		t.Fatalf("ClaimJob before the lease ran out = %+v; want nil", job)
	}
	f.clock.Advance(2 * time.Second)
	job := f.claim("alive", time.Minute)
	if job == nil {
		t.Fatal("ClaimJob after the lease ran out = nil; want the job")
	}
	if job.Attempt != 2 || !job.Reconcile {
		t.Errorf("reclaimed job: attempt %d reconcile %v; want attempt 2 with reconcile (the dead owner may have reached the upstream)", job.Attempt, job.Reconcile)
	}
	if err := f.jobs.CompleteJob(f.ctx, dead, testRole, false); !errors.Is(err, rolegate.ErrLeaseLost) {
		t.Errorf("CompleteJob by the dead owner = %v; want rolegate.ErrLeaseLost", err)
	}
	if err := f.jobs.FailJob(f.ctx, dead, rolegate.ActionProvisioningFailed, "late", nil); !errors.Is(err, rolegate.ErrLeaseLost) {
		t.Errorf("FailJob by the dead owner = %v; want rolegate.ErrLeaseLost", err)
	}
	if err := f.jobs.CompleteJob(f.ctx, job, testRole, true); err != nil {
		t.Fatalf("CompleteJob by the new owner: %v", err)
	}
	if got := f.get(req.ID).Status; got != rolegate.StatusProvisioned {
		t.Errorf("status = %s; want provisioned", got)
	}
	events, _ := f.trail.RequestEvents(f.ctx, req.ID)
	var reasons int
	for _, e := range events {
		var d map[string]any
		if e.Action == rolegate.ActionProvisioningAttempt && json.Unmarshal(e.Details, &d) == nil && d["reason"] != nil {
			reasons++
		}
	}
	if reasons != 1 {
		t.Errorf("%d attempt events say the lease expired; want 1", reasons)
	}
}

func TestReleaseLeasesMakesJobsOfADeadProcessClaimableAtOnce(t *testing.T) {
	t.Parallel()
	f := newJobsFixture(t)
	f.approved("Group Reader")
	f.claim("dead", time.Hour)

	n, err := f.jobs.ReleaseLeases(f.ctx)
	if err != nil || n != 1 {
		t.Fatalf("ReleaseLeases = %d, %v; want 1, nil", n, err)
	}
	job := f.claim("restarted", time.Minute)
	if job == nil || job.Attempt != 2 || !job.Reconcile {
		t.Fatalf("ClaimJob after ReleaseLeases = %+v; want attempt 2 with reconcile", job)
	}
}

func TestRetryJobLaterWaitsThenReconciles(t *testing.T) {
	t.Parallel()
	f := newJobsFixture(t)
	req, job := f.claimed("Group Reader")

	if err := f.jobs.RetryJobLater(f.ctx, job, 30*time.Second, "OpenAI answered 429 to create role: slow down"); err != nil {
		t.Fatalf("RetryJobLater: %v", err)
	}
	if got := f.get(req.ID).Status; got != rolegate.StatusProvisioning {
		t.Errorf("status while waiting = %s; want provisioning", got)
	}
	st, err := f.jobs.QueueStats(f.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Depth != 1 || !st.NextRunAt.Equal(f.clock.Now().Add(30*time.Second)) || !st.LeaseExpiry.IsZero() {
		t.Errorf("rolegate.QueueStats = %+v; want depth 1, next run in 30s, no lease", st)
	}
	if early := f.claim("w1", time.Minute); early != nil {
		t.Fatalf("ClaimJob before the delay = %+v; want nil", early)
	}
	f.clock.Advance(30 * time.Second)
	again := f.claim("w1", time.Minute)
	if again == nil || again.Attempt != 2 || !again.Reconcile {
		t.Fatalf("ClaimJob after the delay = %+v; want attempt 2 with reconcile", again)
	}
	if _, _, lastErr := f.jobState(req.ID); lastErr != "OpenAI answered 429 to create role: slow down" {
		t.Errorf("last_error = %q; want the retry's reason", lastErr)
	}
	want := []string{rolegate.ActionRequestCreated, rolegate.ActionRequestApproved, rolegate.ActionProvisioningQueued,
		rolegate.ActionProvisioningAttempt, rolegate.ActionProvisioningRetrying, rolegate.ActionProvisioningAttempt}
	f.wantTimeline(req.ID, want)
}

func TestFailJobShowsTheMessageAndAnAdminRequeuesIt(t *testing.T) {
	t.Parallel()
	f := newJobsFixture(t)
	req, job := f.claimed("Group Reader")

	msg := "OpenAI answered 400 to create role: A role named 'Group Reader' already exists."
	if err := f.jobs.FailJob(f.ctx, job, rolegate.ActionProvisioningFailed, msg, nil); err != nil {
		t.Fatalf("FailJob: %v", err)
	}
	got := f.get(req.ID)
	if got.Status != rolegate.StatusFailed || got.FailureMessage != msg {
		t.Errorf("request = %s %q; want failed with the message", got.Status, got.FailureMessage)
	}
	if next := f.claim("w1", time.Minute); next != nil {
		t.Fatalf("ClaimJob of a failed job = %+v; want nil", next)
	}

	if _, err := f.requests.RetryProvisioning(f.ctx, jobsApprover, req.ID); rolegate.ErrorCode(err) != rolegate.EFORBIDDEN {
		t.Errorf("RetryProvisioning by an approver = %v; want forbidden", err)
	}
	if _, err := f.requests.RetryProvisioning(f.ctx, jobsAdmin, req.ID); err != nil {
		t.Fatalf("RetryProvisioning by an admin: %v", err)
	}
	if state, attempts, _ := f.jobState(req.ID); state != "queued" || attempts != 0 {
		t.Errorf("job after retry = %s with %d attempts; want queued with a fresh budget", state, attempts)
	}
	retried := f.claim("w1", time.Minute)
	if retried == nil || retried.Attempt != 1 || !retried.Reconcile {
		t.Fatalf("ClaimJob after the admin's retry = %+v; want attempt 1 with reconcile (the failed run may have reached the upstream)", retried)
	}
	if _, err := f.requests.RetryProvisioning(f.ctx, jobsAdmin, req.ID); rolegate.ErrorCode(err) != rolegate.ECONFLICT {
		t.Errorf("RetryProvisioning of a request that is not failed = %v; want conflict", err)
	}
}

func TestClaimJobSetsAsideAJobWhoseRequestMovedOn(t *testing.T) {
	t.Parallel()
	f := newJobsFixture(t)
	stray := f.approved("Stray Role")
	good := f.approved("Good Role")
	if _, err := f.raw().Exec(`UPDATE requests SET status = 'provisioned' WHERE id = ?`, stray.ID); err != nil {
		t.Fatal(err)
	}

	job := f.claim("w1", time.Minute)
	if job == nil || job.RequestID != good.ID {
		t.Fatalf("ClaimJob = %+v; want the good request's job, not stuck behind the stray one", job)
	}
	if state, _, lastErr := f.jobState(stray.ID); state != "failed" || lastErr == "" {
		t.Errorf("stray job = %s %q; want failed with a reason", state, lastErr)
	}
	if got := f.get(stray.ID).Status; got != rolegate.StatusProvisioned {
		t.Errorf("stray request status = %s; want it left as it was", got)
	}
}

func TestQueueStatsCountsQueuedAndRunningJobs(t *testing.T) {
	t.Parallel()
	f := newJobsFixture(t)
	if st, err := f.jobs.QueueStats(f.ctx); err != nil || st.Depth != 0 || !st.NextRunAt.IsZero() {
		t.Fatalf("empty rolegate.QueueStats = %+v, %v; want depth 0", st, err)
	}
	f.approved("First Role")
	f.clock.Advance(10 * time.Second)
	f.approved("Second Role")
	f.claim("w1", time.Minute)

	st, err := f.jobs.QueueStats(f.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Depth != 2 || st.OldestAge != 10*time.Second {
		t.Errorf("rolegate.QueueStats = %+v; want depth 2, oldest 10s", st)
	}
	if !st.LeaseExpiry.Equal(f.clock.Now().Add(time.Minute)) {
		t.Errorf("LeaseExpiry = %v; want %v", st.LeaseExpiry, f.clock.Now().Add(time.Minute))
	}
}
