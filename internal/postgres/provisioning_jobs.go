package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/rolegate/rolegate/internal/rolegate"
)

// Jobs is the provisioning queue (rolegate.ProvisioningQueue) shared by
// every process: a worker claims a job with a lease, under the job's row
// lock taken with SKIP LOCKED (two workers never wait for, nor take, the
// same job), and finishes it only while the lease is still its own.
type Jobs struct{ db *DB }

// NewJobs returns the provisioning queue over db.
func NewJobs(db *DB) *Jobs { return &Jobs{db: db} }

// ClaimJob takes the next runnable job (queued and due, or running with an
// expired lease: its worker died or hung) for owner, for the length of
// lease, or returns nil. The claim moves the request to provisioning and
// records the attempt in the audit trail.
func (j *Jobs) ClaimJob(ctx context.Context, owner string, lease time.Duration) (*rolegate.Job, error) {
	var job *rolegate.Job
	err := j.db.update(ctx, func(tx *Tx) error {
		var id int64
		var state string
		var attempts int
		var maybeUpstream int64
		var req *rolegate.Request
		for {
			err := tx.QueryRow(ctx, `SELECT request_id, state, attempts, maybe_upstream FROM provisioning_jobs
				WHERE (state = 'queued' AND run_after <= $1) OR (state = 'running' AND lease_until <= $1)
				ORDER BY run_after, request_id LIMIT 1 FOR UPDATE SKIP LOCKED`, ms(tx.now)).Scan(&id, &state, &attempts, &maybeUpstream)
			if errors.Is(err, pgx.ErrNoRows) {
				return nil
			} else if err != nil {
				return fmt.Errorf("postgres: find runnable job: %w", err)
			}
			if req, err = lockRequest(ctx, tx, id); err != nil {
				return err
			}
			if req.Status == rolegate.StatusApproved || req.Status == rolegate.StatusProvisioning {
				break
			}
			// The request moved on without its job (a hand edit of the
			// database): set the job aside rather than let it block the
			// queue, and leave the request as it is.
			if _, err := tx.Exec(ctx, `UPDATE provisioning_jobs SET state = 'failed', lease_owner = '', lease_until = 0,
				last_error = $1, updated_at = $2 WHERE request_id = $3`,
				fmt.Sprintf("set aside: the request is %s, not approved", req.Status), ms(tx.now), id); err != nil {
				return fmt.Errorf("postgres: set job %d aside: %w", id, err)
			}
		}
		// A claim that follows any earlier claim may follow a call that
		// reached the upstream; so may a lease that ran out.
		reconcile := maybeUpstream != 0 || attempts > 0 || state == "running"
		if _, err := tx.Exec(ctx, `UPDATE provisioning_jobs SET state = 'running', attempts = attempts + 1,
			lease_owner = $1, lease_until = $2, maybe_upstream = 1, updated_at = $3 WHERE request_id = $4`,
			owner, ms(tx.now.Add(lease)), ms(tx.now), id); err != nil {
			return fmt.Errorf("postgres: claim job %d: %w", id, err)
		}
		job = &rolegate.Job{RequestID: id, RoleName: req.RoleName, Scope: req.Scope, Payload: req.Payload,
			BindingVersion: req.BindingVersion, RequiredApprovals: req.RequiredApprovals,
			Attempt: attempts + 1, Reconcile: reconcile, Owner: owner,
			Kind: req.Kind, AccessRoleID: req.AccessRoleID, Grantee: req.Grantee}
		for _, a := range req.Approvals {
			job.ApprovedHashes = append(job.ApprovedHashes, a.PayloadHash)
		}
		return tx.apply(ctx, req, rolegate.ClaimJob(req, job.Attempt, reconcile, state == "running"))
	})
	return job, err
}

// ReleaseLeases releases nothing on PostgreSQL: a running job at start may
// belong to another live process, and taking it from it could create a
// role twice. A dead process's jobs are taken over when their leases run
// out (ClaimJob), with a lookup upstream first.
func (j *Jobs) ReleaseLeases(ctx context.Context) (int64, error) { return 0, nil }

// CompleteJob marks job done and stores the role upstream on its request.
func (j *Jobs) CompleteJob(ctx context.Context, job *rolegate.Job, role rolegate.ProvisionedRole, adopted bool) error {
	return j.finishJob(ctx, job, func(tx *Tx, req *rolegate.Request) error {
		eff := rolegate.CompleteJob(req, job, role, adopted)
		if _, err := tx.Exec(ctx, `UPDATE provisioning_jobs SET state = 'done', lease_owner = '', lease_until = 0,
			last_error = '', updated_at = $1 WHERE request_id = $2`, ms(tx.now), job.RequestID); err != nil {
			return fmt.Errorf("postgres: complete job %d: %w", job.RequestID, err)
		}
		if req.IsAccess() {
			// The assignment exists: from now on its end is due at Until
			// (or at an admin's Revoke access).
			if _, err := tx.Exec(ctx, `INSERT INTO access_grants (request_id, state, access_until, created_at, updated_at)
				VALUES ($1, 'active', $2, $3, $3) ON CONFLICT (request_id) DO NOTHING`,
				job.RequestID, ms(req.AccessUntil), ms(tx.now)); err != nil {
				return fmt.Errorf("postgres: record the grant of %d: %w", job.RequestID, err)
			}
			if _, err := tx.Exec(ctx, `UPDATE requests SET failure_message = '' WHERE id = $1`, job.RequestID); err != nil {
				return fmt.Errorf("postgres: store the grant of %d: %w", job.RequestID, err)
			}
			return tx.apply(ctx, req, eff)
		}
		raw, _ := json.Marshal(role)
		if _, err := tx.Exec(ctx, `UPDATE requests SET upstream_role_id = $1, upstream_resource_type = $2,
			upstream_role = $3, failure_message = '' WHERE id = $4`, role.ID, role.ResourceType, string(raw), job.RequestID); err != nil {
			return fmt.Errorf("postgres: store role of %d: %w", job.RequestID, err)
		}
		return tx.apply(ctx, req, eff)
	})
}

// RetryJobLater makes the job runnable again after delay.
func (j *Jobs) RetryJobLater(ctx context.Context, job *rolegate.Job, delay time.Duration, reason string) error {
	return j.finishJob(ctx, job, func(tx *Tx, req *rolegate.Request) error {
		if _, err := tx.Exec(ctx, `UPDATE provisioning_jobs SET state = 'queued', run_after = $1, lease_owner = '',
			lease_until = 0, last_error = $2, updated_at = $3 WHERE request_id = $4`,
			ms(tx.now.Add(delay)), reason, ms(tx.now), job.RequestID); err != nil {
			return fmt.Errorf("postgres: reschedule job %d: %w", job.RequestID, err)
		}
		return tx.apply(ctx, req, rolegate.RetryJobLater(req, job, delay, reason))
	})
}

// FailJob ends the job and keeps message (already redacted) on its request.
func (j *Jobs) FailJob(ctx context.Context, job *rolegate.Job, action, message string, role *rolegate.ProvisionedRole) error {
	return j.finishJob(ctx, job, func(tx *Tx, req *rolegate.Request) error {
		eff := rolegate.FailJob(req, job, action, message, role)
		if _, err := tx.Exec(ctx, `UPDATE provisioning_jobs SET state = 'failed', lease_owner = '', lease_until = 0,
			last_error = $1, updated_at = $2 WHERE request_id = $3`, message, ms(tx.now), job.RequestID); err != nil {
			return fmt.Errorf("postgres: fail job %d: %w", job.RequestID, err)
		}
		if _, err := tx.Exec(ctx, `UPDATE requests SET failure_message = $1 WHERE id = $2`, message, job.RequestID); err != nil {
			return fmt.Errorf("postgres: store failure of %d: %w", job.RequestID, err)
		}
		return tx.apply(ctx, req, eff)
	})
}

// finishJob runs fn only while job is still leased to its owner, holding
// the job's row lock: a worker whose lease ran out and was taken over by
// another node must not overwrite the new owner.
func (j *Jobs) finishJob(ctx context.Context, job *rolegate.Job, fn func(tx *Tx, req *rolegate.Request) error) error {
	return j.db.update(ctx, func(tx *Tx) error {
		var owner, state string
		err := tx.QueryRow(ctx, `SELECT lease_owner, state FROM provisioning_jobs WHERE request_id = $1 FOR UPDATE`, job.RequestID).Scan(&owner, &state)
		if err != nil {
			return fmt.Errorf("postgres: read job %d: %w", job.RequestID, err)
		}
		if state != "running" || owner != job.Owner {
			return rolegate.ErrLeaseLost
		}
		req, err := lockRequest(ctx, tx, job.RequestID)
		if err != nil {
			return err
		}
		return fn(tx, req)
	})
}

// QueueStats reads the queue's state.
func (j *Jobs) QueueStats(ctx context.Context) (rolegate.QueueStats, error) {
	var st rolegate.QueueStats
	var oldest, next, lease *int64
	err := j.db.pool.QueryRow(ctx, `SELECT COUNT(*), MIN(created_at),
		MIN(CASE WHEN state = 'queued' THEN run_after END), MIN(CASE WHEN state = 'running' THEN lease_until END)
		FROM provisioning_jobs WHERE state IN ('queued','running')`).Scan(&st.Depth, &oldest, &next, &lease)
	if err != nil {
		return st, fmt.Errorf("postgres: queue stats: %w", err)
	}
	if oldest != nil {
		st.OldestAge = j.db.now().Sub(fromMS(*oldest))
	}
	if next != nil {
		st.NextRunAt = fromMS(*next)
	}
	if lease != nil {
		st.LeaseExpiry = fromMS(*lease)
	}
	return st, nil
}
