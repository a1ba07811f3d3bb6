package rolegate

import (
	"context"
	"errors"
	"time"
)

// Job is one claimed unit of provisioning work: create the role of one
// approved request.
type Job struct {
	RequestID int64
	RoleName  string
	// Scope is where the role is created (ScopeOrganization, or a project's
	// id): the worker sends to CallFor(Scope) and to nothing else.
	Scope string
	// Payload is the exact body approved; ApprovedHashes are the hashes each
	// approval bound to, BindingVersion how (see Binding). The worker
	// refuses to send a call that does not hash to every one of them.
	Payload        []byte
	ApprovedHashes []string
	BindingVersion int
	// RequiredApprovals is how many distinct approvals the request needed.
	RequiredApprovals int
	Attempt           int // 1 for the first claim
	// Reconcile is true when an earlier attempt may have reached the
	// upstream: the worker must look the role up before creating it.
	Reconcile bool
	Owner     string

	// Kind is what the job does: create a role (KindRole, or "" for jobs
	// of requests from before kinds existed) or assign one (KindAccess:
	// AccessRoleID to Grantee, in Scope, with Payload as the body).
	Kind         Kind
	AccessRoleID string
	Grantee      Grantee
}

// ProvisionedRole is what the upstream returned for a created (or adopted) role.
type ProvisionedRole struct {
	ID           string
	Name         string
	Description  string
	Permissions  []string
	ResourceType string
}

// ErrLeaseLost means another worker now owns the job.
var ErrLeaseLost = errors.New("rolegate: the job's lease was lost to another worker")

// QueueStats describes the provisioning queue, for metrics and the worker.
type QueueStats struct {
	Depth       int           // jobs queued or running
	OldestAge   time.Duration // age of the oldest of them
	NextRunAt   time.Time     // earliest run_after of a queued job (zero: none)
	LeaseExpiry time.Time     // earliest lease end of a running job (zero: none)
}

// ProvisioningQueue is the durable queue of approved requests waiting for
// their role to be created upstream. Each outcome moves the request and
// records its audit event and notifications in one transaction; an outcome
// for a job whose lease was taken over returns ErrLeaseLost.
type ProvisioningQueue interface {
	// ReleaseLeases makes every running job claimable at once (at start).
	ReleaseLeases(ctx context.Context) (int64, error)
	// ClaimJob takes the next runnable job for owner, or nil.
	ClaimJob(ctx context.Context, owner string, lease time.Duration) (*Job, error)
	CompleteJob(ctx context.Context, job *Job, role ProvisionedRole, adopted bool) error
	RetryJobLater(ctx context.Context, job *Job, delay time.Duration, reason string) error
	// FailJob ends the job: action is provisioning.failed or
	// provisioning.verify_mismatch; role is set when a role exists upstream
	// but does not match what was approved.
	FailJob(ctx context.Context, job *Job, action, message string, role *ProvisionedRole) error
	QueueStats(ctx context.Context) (QueueStats, error)
}
