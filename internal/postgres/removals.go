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
// every process, with the steps of internal/sqlrows as on SQLite, but for
// the locks: a
// remover claims a removal with a lease under the grant's row lock taken
// with SKIP LOCKED (two nodes never wait for, nor take, the same one),
// finishes it only while the lease is its own, and a dead node's removal
// is taken over when its lease runs out, looking upstream first.
type Removals struct {
	db                   *DB
	sqlrows.RemovalSteps // the steps after the claim, by finish under the grant's row lock
}

// NewRemovals returns the removal queue over db.
func NewRemovals(db *DB) *Removals {
	s := &Removals{db: db}
	s.Finish = s.finish
	return s
}

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
		var err error
		if n, err = sqlrows.ScheduleDue(tx.shared(ctx)); err != nil {
			return fmt.Errorf("postgres: schedule due removals: %w", err)
		}
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
		rm, err = sqlrows.ClaimedRemoval(tx.shared(ctx), req, owner, lease, attempts, maybe != 0, cause)
		return err
	})
	return rm, err
}

// finish runs fn only while rm is still leased to its owner, holding the
// grant's row lock (then its request's, in the order ClaimRemoval takes
// them): a remover whose lease ran out and was taken over by another node
// must not overwrite the new owner.
func (s *Removals) finish(ctx context.Context, rm *rolegate.Removal, fn func(tx sqlrows.Tx, req *rolegate.Request) error) error {
	return s.db.update(ctx, func(tx *Tx) error {
		var owner, state string
		err := tx.QueryRow(ctx, `SELECT lease_owner, state FROM access_grants WHERE request_id = $1 FOR UPDATE`, rm.RequestID).Scan(&owner, &state)
		if err != nil {
			return fmt.Errorf("postgres: read removal %d: %w", rm.RequestID, err)
		}
		if err := sqlrows.LeaseHeld(rm, owner, state); err != nil {
			return err
		}
		req, err := lockRequest(ctx, tx, rm.RequestID)
		if err != nil {
			return err
		}
		if err := fn(tx.shared(ctx), req); err != nil {
			return fmt.Errorf("postgres: %w", err)
		}
		return nil
	})
}

// NextRemovalAt is when the next removal, end of access or reminder is due.
func (s *Removals) NextRemovalAt(ctx context.Context) (time.Time, error) {
	var next *int64
	if err := s.db.pool.QueryRow(ctx, sqlrows.Numbered(sqlrows.NextRemovalDue), rolegate.AccessReminderLead.Milliseconds()).Scan(&next); err != nil {
		return time.Time{}, fmt.Errorf("postgres: next removal: %w", err)
	}
	if next == nil {
		return time.Time{}, nil
	}
	return fromMS(*next), nil
}

// Revoke ends the access of request id early: an admin, saying why.
func (s *Removals) Revoke(ctx context.Context, actor rolegate.Actor, id int64, reason string) (*rolegate.Request, error) {
	return s.change(ctx, id, func(tx sqlrows.Tx, req *rolegate.Request) error { return sqlrows.Revoke(tx, req, actor, reason) })
}

// RetryRemoval puts a failed removal back in the queue (admins).
func (s *Removals) RetryRemoval(ctx context.Context, actor rolegate.Actor, id int64) (*rolegate.Request, error) {
	return s.change(ctx, id, func(tx sqlrows.Tx, req *rolegate.Request) error { return sqlrows.RetryRemoval(tx, req, actor) })
}

// change runs a person's change to request id's grant in one transaction,
// under the request's lock: it takes turns with every other change to the
// request, on any node.
func (s *Removals) change(ctx context.Context, id int64, fn func(tx sqlrows.Tx, req *rolegate.Request) error) (*rolegate.Request, error) {
	var req *rolegate.Request
	err := s.db.update(ctx, func(tx *Tx) error {
		var err error
		if req, err = lockRequest(ctx, tx, id); err != nil {
			return err
		}
		return fn(tx.shared(ctx), req)
	})
	return req, err
}

// OverdueAssignments counts the grants past their end that are not known
// to be gone upstream.
func (s *Removals) OverdueAssignments(ctx context.Context) (int, error) {
	var n int
	if err := s.db.pool.QueryRow(ctx, sqlrows.Numbered(sqlrows.OverdueCount), ms(s.db.now())).Scan(&n); err != nil {
		return 0, fmt.Errorf("postgres: count overdue assignments: %w", err)
	}
	return n, nil
}

// HeldGrants lists the active grants, to be looked at for drift.
func (s *Removals) HeldGrants(ctx context.Context) ([]rolegate.HeldGrant, error) {
	rows, err := s.db.pool.Query(ctx, sqlrows.HeldGrantsQuery)
	if err != nil {
		return nil, fmt.Errorf("postgres: held grants: %w", err)
	}
	defer rows.Close()
	var out []rolegate.HeldGrant
	for rows.Next() {
		var h rolegate.HeldGrant
		if err := rows.Scan(sqlrows.HeldGrantDest(&h)...); err != nil {
			return nil, fmt.Errorf("postgres: held grants: %w", err)
		}
		out = append(out, h)
	}
	return out, rows.Err()
}

// EndByDrift ends an active grant whose assignment was found removed
// outside rolegate, under its request's lock (a revocation on another node
// takes turns with it); a grant no longer active is left as it is.
func (s *Removals) EndByDrift(ctx context.Context, id int64) (bool, error) {
	ended := false
	_, err := s.change(ctx, id, func(tx sqlrows.Tx, req *rolegate.Request) error {
		var err error
		ended, err = sqlrows.EndByDrift(tx, req)
		return err
	})
	return ended, err
}
