package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/rolegate/rolegate/internal/rolegate"
	"github.com/rolegate/rolegate/internal/sqlrows"
)

// Removals is the durable end of access (rolegate.RemovalQueue) shared by
// every process, as on SQLite (its removals.go) but for the locks: a
// remover claims a removal with a lease under the grant's row lock taken
// with SKIP LOCKED (two nodes never wait for, nor take, the same one),
// finishes it only while the lease is its own, and a dead node's removal
// is taken over when its lease runs out, looking upstream first.
type Removals struct{ db *DB }

// NewRemovals returns the removal queue over db.
func NewRemovals(db *DB) *Removals { return &Removals{db: db} }

// getGrant reads the grant of request id, nil when it has none.
func getGrant(ctx context.Context, q querier, id int64) (*rolegate.Grant, error) {
	var g sqlrows.GrantRow
	err := q.QueryRow(ctx, `SELECT `+sqlrows.GrantColumns+` FROM access_grants WHERE request_id = $1`, id).Scan(g.Dest()...)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	} else if err != nil {
		return nil, fmt.Errorf("postgres: read the grant of %d: %w", id, err)
	}
	return g.Grant(), nil
}

// ScheduleDue queues the removal of every active grant whose end has
// come. Two nodes at once: the second's update waits for the first's row
// locks, finds those grants no longer active and leaves them.
func (s *Removals) ScheduleDue(ctx context.Context) (int, error) {
	var n int64
	err := s.db.update(ctx, func(tx *Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE access_grants SET state = 'removing', end_cause = 'expired', run_after = $1, updated_at = $1
			WHERE state = 'active' AND access_until > 0 AND access_until <= $1`, ms(tx.now))
		if err != nil {
			return fmt.Errorf("postgres: schedule due removals: %w", err)
		}
		n = tag.RowsAffected()
		return nil
	})
	return int(n), err
}

// RemindEnding records, once per grant whichever nodes run it, that its
// access ends within a day: each grant is re-checked under its request's
// lock in a transaction of its own.
func (s *Removals) RemindEnding(ctx context.Context) (int, error) {
	now := s.db.now()
	ids, err := queryIDs(ctx, s.db.pool, `SELECT request_id FROM access_grants
		WHERE state = 'active' AND reminded_at = 0 AND access_until > $1 AND access_until <= $2 ORDER BY request_id`,
		ms(now), ms(now.Add(rolegate.AccessReminderLead)))
	if err != nil {
		return 0, fmt.Errorf("postgres: find access ending soon: %w", err)
	}
	return s.db.eachLocked(ctx, ids, func(tx *Tx, req *rolegate.Request) error {
		tag, err := tx.Exec(ctx, `UPDATE access_grants SET reminded_at = $1, updated_at = $1
			WHERE request_id = $2 AND state = 'active' AND reminded_at = 0 AND access_until > $1 AND access_until <= $3`,
			ms(tx.now), req.ID, ms(tx.now.Add(rolegate.AccessReminderLead)))
		if err != nil {
			return fmt.Errorf("postgres: remind access ending %d: %w", req.ID, err)
		}
		if tag.RowsAffected() != 1 {
			return errSkip
		}
		return tx.apply(ctx, req, rolegate.RemindAccessEnding(req))
	})
}

// ReleaseRemovalLeases releases nothing on PostgreSQL: a running removal
// at start may belong to another live process. A dead process's removals
// are taken over when their leases run out (ClaimRemoval).
func (s *Removals) ReleaseRemovalLeases(ctx context.Context) (int64, error) { return 0, nil }

// ClaimRemoval takes the next runnable removal (queued and due, or
// running with an expired lease) for owner. Reconcile says a DELETE of an
// earlier attempt may have reached the upstream (BeforeDelete recorded
// it): an assignment found gone then was removed by rolegate.
func (s *Removals) ClaimRemoval(ctx context.Context, owner string, lease time.Duration) (*rolegate.Removal, error) {
	var rm *rolegate.Removal
	err := s.db.update(ctx, func(tx *Tx) error {
		rm = nil
		var id, attempts, maybe int64
		var cause string
		err := tx.QueryRow(ctx, `SELECT request_id, attempts, maybe_upstream, end_cause FROM access_grants
			WHERE state = 'removing' AND run_after <= $1 AND (lease_owner = '' OR lease_until <= $1)
			ORDER BY run_after, request_id LIMIT 1 FOR UPDATE SKIP LOCKED`, ms(tx.now)).Scan(&id, &attempts, &maybe, &cause)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		} else if err != nil {
			return fmt.Errorf("postgres: find runnable removal: %w", err)
		}
		req, err := lockRequest(ctx, tx, id)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE access_grants SET attempts = attempts + 1, lease_owner = $1, lease_until = $2,
			updated_at = $3 WHERE request_id = $4`, owner, ms(tx.now.Add(lease)), ms(tx.now), id); err != nil {
			return fmt.Errorf("postgres: claim removal %d: %w", id, err)
		}
		rm = &rolegate.Removal{RequestID: id, Scope: req.Scope, Grantee: req.Grantee, RoleID: req.AccessRoleID, Cause: cause,
			Attempt: int(attempts) + 1, Reconcile: maybe != 0, Owner: owner}
		return tx.apply(ctx, req, rolegate.ClaimRemoval(req, rm))
	})
	return rm, err
}

// BeforeDelete records, before the DELETE leaves the process, that it may
// reach the upstream: a process killed after this point is followed by an
// attempt (on any node) that looks first and, finding the assignment
// gone, knows it was its own removal and not drift.
func (s *Removals) BeforeDelete(ctx context.Context, rm *rolegate.Removal) error {
	return s.finish(ctx, rm, func(tx *Tx, _ *rolegate.Request) error {
		if _, err := tx.Exec(ctx, `UPDATE access_grants SET maybe_upstream = 1, updated_at = $1 WHERE request_id = $2`, ms(tx.now), rm.RequestID); err != nil {
			return fmt.Errorf("postgres: mark removal %d: %w", rm.RequestID, err)
		}
		return nil
	})
}

// CompleteRemoval: the assignment is gone upstream; the request shows
// Revoked, with why.
func (s *Removals) CompleteRemoval(ctx context.Context, rm *rolegate.Removal, drift bool) error {
	return s.finish(ctx, rm, func(tx *Tx, req *rolegate.Request) error {
		eff := rolegate.CompleteRemoval(req, rm, drift)
		cause, reason := rolegate.RemovalEnd(req, rm, drift)
		if _, err := tx.Exec(ctx, `UPDATE access_grants SET state = 'revoked', end_cause = $1, end_reason = $2, ended_at = $3,
			lease_owner = '', lease_until = 0, last_error = '', updated_at = $3 WHERE request_id = $4`,
			cause, reason, ms(tx.now), rm.RequestID); err != nil {
			return fmt.Errorf("postgres: complete removal %d: %w", rm.RequestID, err)
		}
		return tx.apply(ctx, req, eff)
	})
}

// RetryRemovalLater makes the removal runnable again after delay.
func (s *Removals) RetryRemovalLater(ctx context.Context, rm *rolegate.Removal, delay time.Duration, reason string) error {
	return s.finish(ctx, rm, func(tx *Tx, req *rolegate.Request) error {
		if _, err := tx.Exec(ctx, `UPDATE access_grants SET run_after = $1, lease_owner = '', lease_until = 0, last_error = $2, updated_at = $3
			WHERE request_id = $4`, ms(tx.now.Add(delay)), reason, ms(tx.now), rm.RequestID); err != nil {
			return fmt.Errorf("postgres: reschedule removal %d: %w", rm.RequestID, err)
		}
		return tx.apply(ctx, req, rolegate.RetryRemovalLater(req, rm, delay, reason))
	})
}

// FailRemoval ends the removal's attempts: the grant waits for an admin,
// and counts as overdue while its end has passed.
func (s *Removals) FailRemoval(ctx context.Context, rm *rolegate.Removal, message string) error {
	return s.finish(ctx, rm, func(tx *Tx, req *rolegate.Request) error {
		if _, err := tx.Exec(ctx, `UPDATE access_grants SET state = 'failed', lease_owner = '', lease_until = 0, last_error = $1, updated_at = $2
			WHERE request_id = $3`, message, ms(tx.now), rm.RequestID); err != nil {
			return fmt.Errorf("postgres: fail removal %d: %w", rm.RequestID, err)
		}
		return tx.apply(ctx, req, rolegate.FailRemoval(req, rm, message))
	})
}

// finish runs fn only while rm is still leased to its owner, holding the
// grant's row lock (then its request's, in the order ClaimRemoval takes
// them): a remover whose lease ran out and was taken over by another node
// must not overwrite the new owner.
func (s *Removals) finish(ctx context.Context, rm *rolegate.Removal, fn func(tx *Tx, req *rolegate.Request) error) error {
	return s.db.update(ctx, func(tx *Tx) error {
		var owner, state string
		err := tx.QueryRow(ctx, `SELECT lease_owner, state FROM access_grants WHERE request_id = $1 FOR UPDATE`, rm.RequestID).Scan(&owner, &state)
		if err != nil {
			return fmt.Errorf("postgres: read removal %d: %w", rm.RequestID, err)
		}
		if state != string(rolegate.GrantRemoving) || owner != rm.Owner {
			return rolegate.ErrLeaseLost
		}
		req, err := lockRequest(ctx, tx, rm.RequestID)
		if err != nil {
			return err
		}
		return fn(tx, req)
	})
}

// NextRemovalAt is when the next removal, end of access or reminder is due.
func (s *Removals) NextRemovalAt(ctx context.Context) (time.Time, error) {
	var next *int64
	err := s.db.pool.QueryRow(ctx, `SELECT MIN(t) FROM (
		SELECT CASE WHEN lease_owner = '' THEN run_after ELSE lease_until END AS t FROM access_grants WHERE state = 'removing'
		UNION ALL SELECT access_until FROM access_grants WHERE state = 'active' AND access_until > 0
		UNION ALL SELECT access_until - $1 FROM access_grants WHERE state = 'active' AND access_until > 0 AND reminded_at = 0) AS due`,
		rolegate.AccessReminderLead.Milliseconds()).Scan(&next)
	if err != nil {
		return time.Time{}, fmt.Errorf("postgres: next removal: %w", err)
	}
	if next == nil {
		return time.Time{}, nil
	}
	return fromMS(*next), nil
}

// Revoke ends the access of request id early: an admin, saying why. The
// request's lock orders it with every other change to the request.
func (s *Removals) Revoke(ctx context.Context, actor rolegate.Actor, id int64, reason string) (*rolegate.Request, error) {
	var req *rolegate.Request
	err := s.db.update(ctx, func(tx *Tx) error {
		var err error
		if req, err = lockRequest(ctx, tx, id); err != nil {
			return err
		}
		eff, err := rolegate.RevokeAccess(req, actor, reason)
		if err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `UPDATE access_grants SET state = 'removing', end_cause = 'revoked', end_reason = $1, ended_by_key = $2,
			run_after = $3, updated_at = $3 WHERE request_id = $4 AND state = 'active'`,
			rolegate.TrimmedReason(reason), actor.DisplayName(), ms(tx.now), id)
		if err != nil {
			return fmt.Errorf("postgres: revoke %d: %w", id, err)
		}
		if tag.RowsAffected() != 1 {
			return rolegate.Errorf(rolegate.ECONFLICT, "This access changed in the meantime; reload it.")
		}
		if err := tx.apply(ctx, req, eff); err != nil {
			return err
		}
		req.Grant, err = getGrant(ctx, tx, id)
		return err
	})
	return req, err
}

// RetryRemoval puts a failed removal back in the queue (admins).
func (s *Removals) RetryRemoval(ctx context.Context, actor rolegate.Actor, id int64) (*rolegate.Request, error) {
	var req *rolegate.Request
	err := s.db.update(ctx, func(tx *Tx) error {
		var err error
		if req, err = lockRequest(ctx, tx, id); err != nil {
			return err
		}
		eff, err := rolegate.RetryRemoval(req, actor)
		if err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `UPDATE access_grants SET state = 'removing', run_after = $1, last_error = '', updated_at = $1
			WHERE request_id = $2 AND state = 'failed'`, ms(tx.now), id)
		if err != nil {
			return fmt.Errorf("postgres: retry removal %d: %w", id, err)
		}
		if tag.RowsAffected() != 1 {
			return rolegate.Errorf(rolegate.ECONFLICT, "This access changed in the meantime; reload it.")
		}
		return tx.apply(ctx, req, eff)
	})
	return req, err
}

// OverdueAssignments counts the grants past their end that are not known
// to be gone upstream.
func (s *Removals) OverdueAssignments(ctx context.Context) (int, error) {
	var n int
	err := s.db.pool.QueryRow(ctx, `SELECT COUNT(*) FROM access_grants
		WHERE state IN ('active', 'removing', 'failed') AND access_until > 0 AND access_until <= $1`, ms(s.db.now())).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("postgres: count overdue assignments: %w", err)
	}
	return n, nil
}
