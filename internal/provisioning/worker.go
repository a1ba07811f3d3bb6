// Package provisioning turns approved requests into roles upstream, exactly
// once: a worker takes jobs from the durable queue in SQLite, reconciles
// with the upstream before any attempt that may follow one that reached it,
// owns every retry, and checks the created role against what was approved.
package provisioning

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/rolegate/rolegate/internal/adminapi"
	"github.com/rolegate/rolegate/internal/retry"
	"github.com/rolegate/rolegate/internal/rolegate"
)

// Upstream is what the worker needs of the Admin API (adminapi.Client).
type Upstream interface {
	FindRoleIn(ctx context.Context, scope, name string) (adminapi.Role, bool, error)
	CreateRoleIn(ctx context.Context, scope string, body []byte) (adminapi.Role, error)
	GetRoleIn(ctx context.Context, scope, id string) (adminapi.Role, error)
	// The role assignments of access requests (issue 17).
	FindAssignment(ctx context.Context, p adminapi.Principal, roleID string) (adminapi.AssignedRole, bool, error)
	AssignRole(ctx context.Context, p adminapi.Principal, body []byte) error
}

// Defaults (ROLEGATE_PROVISION_ATTEMPTS, _TIMEOUT, _BACKOFF).
const (
	DefaultMaxAttempts = 8
	DefaultCallTimeout = adminapi.DefaultTimeout
	DefaultBackoffBase = 2 * time.Second
)

// Queue is the durable job queue (rolegate.ProvisioningQueue).
type Queue interface {
	ReleaseLeases(ctx context.Context) (int64, error)
	ClaimJob(ctx context.Context, owner string, lease time.Duration) (*rolegate.Job, error)
	CompleteJob(ctx context.Context, job *rolegate.Job, role rolegate.ProvisionedRole, adopted bool) error
	RetryJobLater(ctx context.Context, job *rolegate.Job, delay time.Duration, reason string) error
	FailJob(ctx context.Context, job *rolegate.Job, action, message string, role *rolegate.ProvisionedRole) error
	QueueStats(ctx context.Context) (rolegate.QueueStats, error)
}

// Config tunes the worker.
type Config struct {
	Queue       Queue
	Upstream    Upstream
	Logger      *slog.Logger
	MaxAttempts int           // attempts before a retryable failure fails the request (default 8)
	CallTimeout time.Duration // one upstream call (default 30s)
	BackoffBase time.Duration // first retry delay (default 2s), doubled each attempt
	BackoffMax  time.Duration // longest computed delay (default 5m)
	// Poll bounds how long the worker sleeps without a wake-up (default 30s).
	Poll time.Duration
	// OnOutcome is told of each attempt's outcome (metrics); may be nil.
	OnOutcome func(outcome string)
	// Granted is told, after it is recorded, that an access request's
	// assignment exists, so that its end is watched at once (the
	// Remover's Wake); may be nil.
	Granted func()
}

// Worker provisions approved requests one at a time.
type Worker struct {
	cfg   Config
	owner string
	wake  *retry.Wakeup
}

// New returns a worker; Run starts it.
func New(cfg Config) *Worker {
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = DefaultMaxAttempts
	}
	if cfg.CallTimeout <= 0 {
		cfg.CallTimeout = DefaultCallTimeout
	}
	if cfg.BackoffBase <= 0 {
		cfg.BackoffBase = DefaultBackoffBase
	}
	if cfg.BackoffMax <= 0 {
		cfg.BackoffMax = 5 * time.Minute
	}
	if cfg.Poll <= 0 {
		cfg.Poll = 30 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Worker{cfg: cfg, owner: fmt.Sprintf("worker-%d-%d", time.Now().UnixNano(), rand.Int64()), wake: retry.NewWakeup()}
}

// Wake tells the worker a job is ready, without blocking: an approval is
// picked up at once rather than at the next poll.
func (w *Worker) Wake(int64) { w.wake.Wake() }

// lease is how long a claim lasts: every call of an attempt fits in it.
func (w *Worker) lease() time.Duration { return 4*w.cfg.CallTimeout + 10*time.Second }

// Run works until ctx ends. At start it reclaims jobs left running by a
// process that died (one rolegate serves a database; see serve's lock).
func (w *Worker) Run(ctx context.Context) {
	if n, err := w.cfg.Queue.ReleaseLeases(ctx); err != nil {
		w.cfg.Logger.Error("provisioning: release leases", "err", err)
	} else if n > 0 {
		w.cfg.Logger.Warn("provisioning: resuming jobs interrupted by a restart", "count", n)
	}
	for ctx.Err() == nil {
		job, err := w.cfg.Queue.ClaimJob(ctx, w.owner, w.lease())
		if err != nil {
			if ctx.Err() == nil {
				w.cfg.Logger.Error("provisioning: claim", "err", err)
				w.sleep(ctx, time.Second)
			}
			continue
		}
		if job != nil {
			w.process(ctx, job)
			continue
		}
		w.sleep(ctx, w.untilNext(ctx))
	}
}

// untilNext is how long to sleep: until the next job is due, at most Poll.
func (w *Worker) untilNext(ctx context.Context) time.Duration {
	d := w.cfg.Poll
	st, err := w.cfg.Queue.QueueStats(ctx)
	if err != nil {
		return d
	}
	for _, t := range []time.Time{st.NextRunAt, st.LeaseExpiry} {
		if !t.IsZero() {
			d = min(d, max(time.Until(t), 10*time.Millisecond))
		}
	}
	return d
}

func (w *Worker) sleep(ctx context.Context, d time.Duration) { w.wake.Sleep(ctx, d) }

// approvedBody is the payload as approved.
type approvedBody struct {
	RoleName    string   `json:"role_name"`
	Permissions []string `json:"permissions"`
	Description *string  `json:"description"`
}

// process makes one attempt at one job and records its outcome.
func (w *Worker) process(ctx context.Context, job *rolegate.Job) {
	log := w.cfg.Logger.With("request_id", job.RequestID, "attempt", job.Attempt)
	var want approvedBody
	if err := checkApproved(job); err != nil {
		w.fail(ctx, log, job, rolegate.ActionProvisioningFailed, err.Error(), nil)
		return
	}
	if job.Kind == rolegate.KindAccess {
		w.processAccess(ctx, log, job)
		return
	}
	if err := json.Unmarshal(job.Payload, &want); err != nil || want.RoleName == "" {
		w.fail(ctx, log, job, rolegate.ActionProvisioningFailed, "The approved payload is not a role to create; nothing was sent.", nil)
		return
	}
	if job.Reconcile {
		// An earlier attempt may have reached the upstream: adopt what it
		// created rather than create a second role.
		if done := w.reconcile(ctx, log, job, want); done {
			return
		}
	}
	callCtx, cancel := context.WithTimeout(ctx, w.cfg.CallTimeout)
	// The scope sent to is the one checkApproved hashed: the approvals
	// cover this path, and no other.
	created, err := w.cfg.Upstream.CreateRoleIn(callCtx, job.Scope, job.Payload)
	cancel()
	if err != nil {
		var ae *adminapi.Error
		if job.Reconcile && errors.As(err, &ae) && ae.Kind == adminapi.Permanent && ctx.Err() == nil {
			// A create refused as a duplicate may be refused because of
			// our own earlier attempt, applied upstream after the look-up
			// above (a hung call finishing late): look once more.
			if role, found, ferr := w.find(ctx, job.Scope, want.RoleName); ferr == nil && found {
				w.adoptOrRefuse(ctx, log, job, want, role)
				return
			}
		}
		w.upstreamFailed(ctx, log, job, "create", err, nil)
		return
	}
	// Read the role back: what exists upstream must be what was approved.
	callCtx, cancel = context.WithTimeout(ctx, w.cfg.CallTimeout)
	got, err := w.cfg.Upstream.GetRoleIn(callCtx, job.Scope, created.ID)
	cancel()
	if err != nil {
		// The role exists; the next attempt reconciles and checks it.
		w.upstreamFailed(ctx, log, job, "read back", err, &created)
		return
	}
	if diff := mismatch(want, got); diff != "" {
		w.fail(ctx, log, job, rolegate.ActionProvisioningMismatch, fmt.Sprintf(
			"The role %s was created but, read back, %s. It is left in place for an admin to inspect.", got.ID, diff), provisioned(got))
		return
	}
	w.complete(ctx, log, job, got, false)
}

// reconcile looks the role up by name before a create. It reports whether
// the attempt is over (adopted, refused, or the look-up failed).
func (w *Worker) reconcile(ctx context.Context, log *slog.Logger, job *rolegate.Job, want approvedBody) bool {
	role, found, err := w.find(ctx, job.Scope, want.RoleName)
	if err != nil {
		w.upstreamFailed(ctx, log, job, "look up", err, nil)
		return true
	}
	if !found {
		return false
	}
	w.adoptOrRefuse(ctx, log, job, want, role)
	return true
}

// adoptOrRefuse takes an existing role of the approved name as this
// request's when it is exactly what was approved, and fails the request
// otherwise: a role of the same name with other permissions is a conflict.
func (w *Worker) adoptOrRefuse(ctx context.Context, log *slog.Logger, job *rolegate.Job, want approvedBody, role adminapi.Role) {
	if diff := mismatch(want, role); diff != "" {
		w.fail(ctx, log, job, rolegate.ActionProvisioningFailed, fmt.Sprintf(
			"A role named %q already exists upstream (%s) but %s; it is not the role approved, so it was not adopted and nothing was created.",
			role.Name, role.ID, diff), provisioned(role))
		return
	}
	w.complete(ctx, log, job, role, true)
}

func (w *Worker) find(ctx context.Context, scope, name string) (adminapi.Role, bool, error) {
	callCtx, cancel := context.WithTimeout(ctx, w.cfg.CallTimeout)
	defer cancel()
	return w.cfg.Upstream.FindRoleIn(callCtx, scope, name)
}

// checkApproved refuses a payload that does not hash to what every approver
// approved: nothing else is ever sent.
func checkApproved(job *rolegate.Job) error {
	if len(job.ApprovedHashes) == 0 {
		return errors.New("The request has no approvals on file; nothing was sent.")
	}
	if len(job.ApprovedHashes) < job.RequiredApprovals {
		return fmt.Errorf("The request has %d of the %d approvals it needs on file; nothing was sent.", len(job.ApprovedHashes), job.RequiredApprovals)
	}
	// What the approvals must be bound to, computed from exactly what would
	// be sent: the body, and (binding version 2) the method and the path
	// with the project's id (for an access request, the group's or user's).
	call, sum, err := rolegate.JobBinding(job)
	if err != nil {
		return fmt.Errorf("The call on file (%s) is not one its approvals can cover (%v); nothing was sent.", call, err)
	}
	for _, h := range job.ApprovedHashes {
		if h != sum {
			if job.BindingVersion == rolegate.BindingBody {
				return errors.New("The payload on file does not match the one approved; nothing was sent.")
			}
			return fmt.Errorf("The call on file (%s and its body) does not match the one approved; nothing was sent.", call)
		}
	}
	return nil
}

// mismatch describes how role differs from the approved body, "" if not.
func mismatch(want approvedBody, role adminapi.Role) string {
	if role.Name != want.RoleName {
		return fmt.Sprintf("its name is %q, not %q", role.Name, want.RoleName)
	}
	a, b := slices.Clone(want.Permissions), slices.Clone(role.Permissions)
	slices.Sort(a)
	slices.Sort(b)
	if !slices.Equal(a, b) {
		return fmt.Sprintf("it grants %v instead of the approved %v", b, a)
	}
	wantDesc := ""
	if want.Description != nil {
		wantDesc = *want.Description
	}
	if role.Description != wantDesc {
		return fmt.Sprintf("its description is %q instead of %q", role.Description, wantDesc)
	}
	return ""
}

func provisioned(r adminapi.Role) *rolegate.ProvisionedRole {
	return &rolegate.ProvisionedRole{ID: r.ID, Name: r.Name, Description: r.Description, Permissions: r.Permissions, ResourceType: r.ResourceType}
}

// upstreamFailed retries what may pass later, within the budget, and fails
// the request on anything else. created is the role this attempt created
// when the failure came after the create (reading it back).
func (w *Worker) upstreamFailed(ctx context.Context, log *slog.Logger, job *rolegate.Job, op string, err error, created *adminapi.Role) {
	if ctx.Err() != nil {
		// Shutting down: the job stays leased and is resumed at the next start.
		log.Info("provisioning: interrupted by shutdown", "op", op)
		return
	}
	var ae *adminapi.Error
	if !errors.As(err, &ae) {
		ae = &adminapi.Error{Op: op, Message: "unexpected error", Kind: adminapi.Retryable}
		log.Error("provisioning: unexpected error", "op", op, "err", err)
	}
	msg := upstreamMessage(op, ae)
	var role *rolegate.ProvisionedRole
	if created != nil {
		msg = fmt.Sprintf("The role %s was created, but %s; a retry checks it again.", created.ID, msg)
		role = provisioned(*created)
	}
	if ae.Kind != adminapi.Retryable {
		w.fail(ctx, log, job, rolegate.ActionProvisioningFailed, msg, role)
		return
	}
	if job.Attempt >= w.cfg.MaxAttempts {
		w.fail(ctx, log, job, rolegate.ActionProvisioningFailed, fmt.Sprintf("Gave up after %d attempts. Last error: %s", job.Attempt, msg), role)
		return
	}
	delay := w.backoff(job.Attempt, ae.RetryAfter)
	w.outcome("retry")
	log.Warn("provisioning: attempt failed, will retry", "op", op, "err", ae, "retry_in", delay)
	rctx, cancel := recordContext(ctx)
	defer cancel()
	if err := w.cfg.Queue.RetryJobLater(rctx, job, delay, msg); err != nil {
		log.Error("provisioning: record retry", "err", err)
	}
}

// upstreamMessage is what people are shown: the upstream's own (already
// redacted) message, with its status.
func upstreamMessage(op string, ae *adminapi.Error) string {
	if ae.Status != 0 {
		return fmt.Sprintf("OpenAI answered %d to %s: %s", ae.Status, op, ae.Message)
	}
	return fmt.Sprintf("%s failed: %s", op, ae.Message)
}

// backoff is exponential with jitter, and never shorter than the
// upstream's Retry-After.
func (w *Worker) backoff(attempt int, retryAfter time.Duration) time.Duration {
	return retry.Backoff(w.cfg.BackoffBase, w.cfg.BackoffMax, attempt, retryAfter)
}

func (w *Worker) complete(ctx context.Context, log *slog.Logger, job *rolegate.Job, role adminapi.Role, adopted bool) {
	rctx, cancel := recordContext(ctx)
	defer cancel()
	if err := w.cfg.Queue.CompleteJob(rctx, job, *provisioned(role), adopted); err != nil {
		log.Error("provisioning: record success", "err", err)
		return
	}
	if adopted {
		w.outcome("adopted")
	} else {
		w.outcome("succeeded")
	}
	if job.Kind == rolegate.KindAccess && w.cfg.Granted != nil {
		w.cfg.Granted()
	}
	log.Info("provisioning: role in place", "role_id", role.ID, "adopted", adopted)
}

func (w *Worker) fail(ctx context.Context, log *slog.Logger, job *rolegate.Job, action, msg string, role *rolegate.ProvisionedRole) {
	rctx, cancel := recordContext(ctx)
	defer cancel()
	if err := w.cfg.Queue.FailJob(rctx, job, action, msg, role); err != nil {
		log.Error("provisioning: record failure", "err", err)
		return
	}
	w.outcome("failed")
	log.Warn("provisioning: failed", "reason", msg)
}

// recordContext outlives a shutdown for a moment: what the upstream just
// did is written down rather than left for the next start to rediscover.
func recordContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
}

func (w *Worker) outcome(o string) {
	if w.cfg.OnOutcome != nil {
		w.cfg.OnOutcome(o)
	}
}
