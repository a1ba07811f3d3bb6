package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/rolegate/rolegate/internal/rolegate"
)

// Jobs is the provisioning queue (rolegate.ProvisioningQueue): a job per
// approved request, written by the approval's transaction (effects.go),
// claimed and finished here by the provisioning worker, each step with its
// move and audit event in one transaction.
type Jobs struct{ db *DB }

// NewJobs returns the provisioning queue over db.
func NewJobs(db *DB) *Jobs { return &Jobs{db: db} }

// ClaimJob takes the next runnable job (queued and due, or running with an
// expired lease) for owner, for the length of lease. It returns nil when
// nothing is runnable. The claim moves the request to provisioning and
// records the attempt in the audit trail.
func (j *Jobs) ClaimJob(ctx context.Context, owner string, lease time.Duration) (*rolegate.Job, error) {
	var job *rolegate.Job
	err := j.db.update(ctx, func(tx *Tx) error {
		var id int64
		var state string
		var attempts int
		var maybeUpstream bool
		var req *rolegate.Request
		for {
			err := tx.QueryRowContext(ctx, `SELECT request_id, state, attempts, maybe_upstream FROM provisioning_jobs
				WHERE (state = 'queued' AND run_after <= ?) OR (state = 'running' AND lease_until <= ?)
				ORDER BY run_after, request_id LIMIT 1`, ms(tx.now), ms(tx.now)).Scan(&id, &state, &attempts, &maybeUpstream)
			if errors.Is(err, sql.ErrNoRows) {
				return nil
			} else if err != nil {
				return fmt.Errorf("sqlite: find runnable job: %w", err)
			}
			if req, err = getRequest(ctx, tx, id); err != nil {
				return err
			}
			if req.Status == rolegate.StatusApproved || req.Status == rolegate.StatusProvisioning {
				break
			}
			// The request moved on without its job (a hand edit of the
			// database): set the job aside rather than let it block the
			// queue, and leave the request as it is.
			if _, err := tx.ExecContext(ctx, `UPDATE provisioning_jobs SET state = 'failed', lease_owner = '', lease_until = 0,
				last_error = ?, updated_at = ? WHERE request_id = ?`,
				fmt.Sprintf("set aside: the request is %s, not approved", req.Status), ms(tx.now), id); err != nil {
				return fmt.Errorf("sqlite: set job %d aside: %w", id, err)
			}
		}
		// A claim that follows any earlier claim may follow a call that
		// reached the upstream; so may a lease that ran out.
		reconcile := maybeUpstream || attempts > 0 || state == "running"
		if _, err := tx.ExecContext(ctx, `UPDATE provisioning_jobs SET state = 'running', attempts = attempts + 1,
			lease_owner = ?, lease_until = ?, maybe_upstream = 1, updated_at = ? WHERE request_id = ?`,
			owner, ms(tx.now.Add(lease)), ms(tx.now), id); err != nil {
			return fmt.Errorf("sqlite: claim job %d: %w", id, err)
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

// ReleaseLeases makes every running job claimable at once. The server calls
// it at start: one rolegate process serves a database (the serve command
// holds a lock file), so a running job at start belongs to a dead process.
func (j *Jobs) ReleaseLeases(ctx context.Context) (int64, error) {
	var n int64
	err := j.db.update(ctx, func(tx *Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE provisioning_jobs SET lease_until = 0, updated_at = ? WHERE state = 'running'`, ms(tx.now))
		if err != nil {
			return fmt.Errorf("sqlite: release leases: %w", err)
		}
		n, _ = res.RowsAffected()
		return nil
	})
	return n, err
}

// CompleteJob marks job done and stores the role upstream on its request;
// rolegate.CompleteJob says what else it causes (the move to provisioned,
// the event, who hears). adopted says the role was found upstream rather
// than created by this attempt.
func (j *Jobs) CompleteJob(ctx context.Context, job *rolegate.Job, role rolegate.ProvisionedRole, adopted bool) error {
	return j.finishJob(ctx, job, func(tx *Tx, req *rolegate.Request) error {
		eff := rolegate.CompleteJob(req, job, role, adopted)
		if _, err := tx.ExecContext(ctx, `UPDATE provisioning_jobs SET state = 'done', lease_owner = '', lease_until = 0,
			last_error = '', updated_at = ? WHERE request_id = ?`, ms(tx.now), job.RequestID); err != nil {
			return fmt.Errorf("sqlite: complete job %d: %w", job.RequestID, err)
		}
		if req.IsAccess() {
			// The assignment exists: from now on its end is due at Until
			// (or at an admin's Revoke access).
			if _, err := tx.ExecContext(ctx, `INSERT INTO access_grants (request_id, state, access_until, created_at, updated_at)
				VALUES (?, 'active', ?, ?, ?) ON CONFLICT (request_id) DO NOTHING`,
				job.RequestID, ms(req.AccessUntil), ms(tx.now), ms(tx.now)); err != nil {
				return fmt.Errorf("sqlite: record the grant of %d: %w", job.RequestID, err)
			}
			if _, err := tx.ExecContext(ctx, `UPDATE requests SET failure_message = '' WHERE id = ?`, job.RequestID); err != nil {
				return fmt.Errorf("sqlite: store the grant of %d: %w", job.RequestID, err)
			}
			return tx.apply(ctx, req, eff)
		}
		raw, _ := json.Marshal(role)
		if _, err := tx.ExecContext(ctx, `UPDATE requests SET upstream_role_id = ?, upstream_resource_type = ?,
			upstream_role = ?, failure_message = '' WHERE id = ?`, role.ID, role.ResourceType, string(raw), job.RequestID); err != nil {
			return fmt.Errorf("sqlite: store role of %d: %w", job.RequestID, err)
		}
		return tx.apply(ctx, req, eff)
	})
}

// RetryJobLater makes the job runnable again after delay, after a failed
// attempt that may succeed later (rolegate.RetryJobLater).
func (j *Jobs) RetryJobLater(ctx context.Context, job *rolegate.Job, delay time.Duration, reason string) error {
	return j.finishJob(ctx, job, func(tx *Tx, req *rolegate.Request) error {
		if _, err := tx.ExecContext(ctx, `UPDATE provisioning_jobs SET state = 'queued', run_after = ?, lease_owner = '',
			lease_until = 0, last_error = ?, updated_at = ? WHERE request_id = ?`,
			ms(tx.now.Add(delay)), reason, ms(tx.now), job.RequestID); err != nil {
			return fmt.Errorf("sqlite: reschedule job %d: %w", job.RequestID, err)
		}
		return tx.apply(ctx, req, rolegate.RetryJobLater(req, job, delay, reason))
	})
}

// FailJob ends the job and keeps message (already redacted) on its
// request, which shows it to the people involved; rolegate.FailJob says
// what else it causes. action says why (provisioning.failed, or
// provisioning.verify_mismatch); role is set when a role exists upstream
// but does not match what was approved.
func (j *Jobs) FailJob(ctx context.Context, job *rolegate.Job, action, message string, role *rolegate.ProvisionedRole) error {
	return j.finishJob(ctx, job, func(tx *Tx, req *rolegate.Request) error {
		eff := rolegate.FailJob(req, job, action, message, role)
		if _, err := tx.ExecContext(ctx, `UPDATE provisioning_jobs SET state = 'failed', lease_owner = '', lease_until = 0,
			last_error = ?, updated_at = ? WHERE request_id = ?`, message, ms(tx.now), job.RequestID); err != nil {
			return fmt.Errorf("sqlite: fail job %d: %w", job.RequestID, err)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE requests SET failure_message = ? WHERE id = ?`, message, job.RequestID); err != nil {
			return fmt.Errorf("sqlite: store failure of %d: %w", job.RequestID, err)
		}
		return tx.apply(ctx, req, eff)
	})
}

// finishJob runs fn only while job is still leased to its owner: a worker
// whose lease ran out and was taken over must not overwrite the new owner.
func (j *Jobs) finishJob(ctx context.Context, job *rolegate.Job, fn func(tx *Tx, req *rolegate.Request) error) error {
	return j.db.update(ctx, func(tx *Tx) error {
		var owner, state string
		err := tx.QueryRowContext(ctx, `SELECT lease_owner, state FROM provisioning_jobs WHERE request_id = ?`, job.RequestID).Scan(&owner, &state)
		if err != nil {
			return fmt.Errorf("sqlite: read job %d: %w", job.RequestID, err)
		}
		if state != "running" || owner != job.Owner {
			return rolegate.ErrLeaseLost
		}
		req, err := getRequest(ctx, tx, job.RequestID)
		if err != nil {
			return err
		}
		return fn(tx, req)
	})
}

// QueueStats reads the queue's state.
func (j *Jobs) QueueStats(ctx context.Context) (rolegate.QueueStats, error) {
	var st rolegate.QueueStats
	var oldest, next, lease sql.NullInt64
	err := j.db.readPool.QueryRowContext(ctx, `SELECT COUNT(*), MIN(created_at),
		MIN(CASE WHEN state = 'queued' THEN run_after END), MIN(CASE WHEN state = 'running' THEN lease_until END)
		FROM provisioning_jobs WHERE state IN ('queued','running')`).Scan(&st.Depth, &oldest, &next, &lease)
	if err != nil {
		return st, fmt.Errorf("sqlite: queue stats: %w", err)
	}
	if oldest.Valid {
		st.OldestAge = j.db.now().Sub(fromMS(oldest.Int64))
	}
	if next.Valid {
		st.NextRunAt = fromMS(next.Int64)
	}
	if lease.Valid {
		st.LeaseExpiry = fromMS(lease.Int64)
	}
	return st, nil
}
