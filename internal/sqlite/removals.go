package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/rolegate/rolegate/internal/rolegate"
	"github.com/rolegate/rolegate/internal/sqlrows"
)

// Removals is the durable end of access (rolegate.RemovalQueue): one row
// per assignment an access request made (access_grants, migration 00015),
// queued at Until or by an admin's Revoke access, claimed with a lease
// like a provisioning job, each step with its audit event in one
// transaction. The steps are internal/sqlrows', as on PostgreSQL; SQLite's
// single writer orders them.
type Removals struct {
	db                   *DB
	sqlrows.RemovalSteps // the steps after the claim, by finish in the single writer
}

// NewRemovals returns the removal queue over db.
func NewRemovals(db *DB) *Removals {
	s := &Removals{db: db}
	s.Finish = s.finish
	return s
}

var _ rolegate.RemovalQueue = (*Removals)(nil)

// getGrant reads the grant of request id, nil when it has none.
func getGrant(ctx context.Context, q querier, id int64) (*rolegate.Grant, error) {
	var g sqlrows.GrantRow
	err := q.QueryRowContext(ctx, `SELECT `+sqlrows.GrantColumns+` FROM access_grants WHERE request_id = ?`, id).Scan(g.Dest()...)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	} else if err != nil {
		return nil, fmt.Errorf("sqlite: read the grant of %d: %w", id, err)
	}
	return g.Grant(), nil
}

// ScheduleDue queues the removal of every active grant whose end has come.
func (s *Removals) ScheduleDue(ctx context.Context) (int, error) {
	var n int64
	err := s.db.update(ctx, func(tx *Tx) error {
		var err error
		if n, err = sqlrows.ScheduleDue(tx.shared(ctx)); err != nil {
			return fmt.Errorf("sqlite: schedule due removals: %w", err)
		}
		return nil
	})
	return int(n), err
}

// RemindEnding records, once per grant, that its access ends within a day.
func (s *Removals) RemindEnding(ctx context.Context) (int, error) {
	n := 0
	err := s.db.update(ctx, func(tx *Tx) error {
		n = 0
		rows, err := tx.QueryContext(ctx, `SELECT request_id FROM access_grants
			WHERE state = 'active' AND reminded_at = 0 AND access_until > ? AND access_until <= ?`,
			ms(tx.now), ms(tx.now.Add(rolegate.AccessReminderLead)))
		if err != nil {
			return fmt.Errorf("sqlite: find access ending soon: %w", err)
		}
		var ids []int64
		for rows.Next() {
			var id int64
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return fmt.Errorf("sqlite: find access ending soon: %w", err)
			}
			ids = append(ids, id)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for _, id := range ids {
			req, err := getRequest(ctx, tx, id)
			if err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, `UPDATE access_grants SET reminded_at = ?, updated_at = ? WHERE request_id = ?`, ms(tx.now), ms(tx.now), id); err != nil {
				return fmt.Errorf("sqlite: remind access ending %d: %w", id, err)
			}
			if err := tx.apply(ctx, req, rolegate.RemindAccessEnding(req)); err != nil {
				return err
			}
			n++
		}
		return nil
	})
	return n, err
}

// ReleaseRemovalLeases makes every running removal claimable at once (at
// start: one process serves a database, so a lease at start is a dead one's).
func (s *Removals) ReleaseRemovalLeases(ctx context.Context) (int64, error) {
	var n int64
	err := s.db.update(ctx, func(tx *Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE access_grants SET lease_until = 0, updated_at = ? WHERE state = 'removing' AND lease_owner <> ''`, ms(tx.now))
		if err != nil {
			return fmt.Errorf("sqlite: release removal leases: %w", err)
		}
		n, _ = res.RowsAffected()
		return nil
	})
	return n, err
}

// ClaimRemoval takes the next runnable removal (queued and due, or
// running with an expired lease) for owner. Reconcile says a DELETE of an
// earlier attempt may have reached the upstream (BeforeDelete recorded
// it): an assignment found gone then was removed by rolegate.
func (s *Removals) ClaimRemoval(ctx context.Context, owner string, lease time.Duration) (*rolegate.Removal, error) {
	var rm *rolegate.Removal
	err := s.db.update(ctx, func(tx *Tx) error {
		rm = nil
		var id, attempts int64
		var maybe bool
		var cause string
		err := tx.QueryRowContext(ctx, `SELECT request_id, attempts, maybe_upstream, end_cause FROM access_grants
			WHERE state = 'removing' AND run_after <= ? AND (lease_owner = '' OR lease_until <= ?)
			ORDER BY run_after, request_id LIMIT 1`, ms(tx.now), ms(tx.now)).Scan(&id, &attempts, &maybe, &cause)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		} else if err != nil {
			return fmt.Errorf("sqlite: find runnable removal: %w", err)
		}
		req, err := getRequest(ctx, tx, id)
		if err != nil {
			return err
		}
		rm, err = sqlrows.ClaimedRemoval(tx.shared(ctx), req, owner, lease, attempts, maybe, cause)
		return err
	})
	return rm, err
}

// finish runs fn only while rm is still leased to its owner.
func (s *Removals) finish(ctx context.Context, rm *rolegate.Removal, fn func(tx sqlrows.Tx, req *rolegate.Request) error) error {
	return s.db.update(ctx, func(tx *Tx) error {
		var owner, state string
		if err := tx.QueryRowContext(ctx, `SELECT lease_owner, state FROM access_grants WHERE request_id = ?`, rm.RequestID).Scan(&owner, &state); err != nil {
			return fmt.Errorf("sqlite: read removal %d: %w", rm.RequestID, err)
		}
		if err := sqlrows.LeaseHeld(rm, owner, state); err != nil {
			return err
		}
		req, err := getRequest(ctx, tx, rm.RequestID)
		if err != nil {
			return err
		}
		if err := fn(tx.shared(ctx), req); err != nil {
			return fmt.Errorf("sqlite: %w", err)
		}
		return nil
	})
}

// NextRemovalAt is when the next removal, end of access or reminder is due.
func (s *Removals) NextRemovalAt(ctx context.Context) (time.Time, error) {
	var next sql.NullInt64
	if err := s.db.readPool.QueryRowContext(ctx, sqlrows.NextRemovalDue, rolegate.AccessReminderLead.Milliseconds()).Scan(&next); err != nil {
		return time.Time{}, fmt.Errorf("sqlite: next removal: %w", err)
	}
	return sqlrows.FromUnixMilli(next.Int64), nil
}

// Revoke ends the access of request id early: an admin, saying why.
func (s *Removals) Revoke(ctx context.Context, actor rolegate.Actor, id int64, reason string) (*rolegate.Request, error) {
	return s.change(ctx, id, func(tx sqlrows.Tx, req *rolegate.Request) error { return sqlrows.Revoke(tx, req, actor, reason) })
}

// RetryRemoval puts a failed removal back in the queue (admins).
func (s *Removals) RetryRemoval(ctx context.Context, actor rolegate.Actor, id int64) (*rolegate.Request, error) {
	return s.change(ctx, id, func(tx sqlrows.Tx, req *rolegate.Request) error { return sqlrows.RetryRemoval(tx, req, actor) })
}

// change runs a person's change to request id's grant in one transaction.
func (s *Removals) change(ctx context.Context, id int64, fn func(tx sqlrows.Tx, req *rolegate.Request) error) (*rolegate.Request, error) {
	var req *rolegate.Request
	err := s.db.update(ctx, func(tx *Tx) error {
		var err error
		if req, err = getRequest(ctx, tx, id); err != nil {
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
	if err := s.db.readPool.QueryRowContext(ctx, sqlrows.OverdueCount, ms(s.db.now())).Scan(&n); err != nil {
		return 0, fmt.Errorf("sqlite: count overdue assignments: %w", err)
	}
	return n, nil
}

// HeldGrants lists the active grants, to be looked at for drift.
func (s *Removals) HeldGrants(ctx context.Context) ([]rolegate.HeldGrant, error) {
	rows, err := s.db.readPool.QueryContext(ctx, sqlrows.HeldGrantsQuery)
	if err != nil {
		return nil, fmt.Errorf("sqlite: held grants: %w", err)
	}
	defer rows.Close()
	var out []rolegate.HeldGrant
	for rows.Next() {
		var h rolegate.HeldGrant
		if err := rows.Scan(sqlrows.HeldGrantDest(&h)...); err != nil {
			return nil, fmt.Errorf("sqlite: held grants: %w", err)
		}
		out = append(out, h)
	}
	return out, rows.Err()
}

// EndByDrift ends an active grant whose assignment was found removed
// outside rolegate; a grant no longer active is left as it is.
func (s *Removals) EndByDrift(ctx context.Context, id int64) (bool, error) {
	ended := false
	_, err := s.change(ctx, id, func(tx sqlrows.Tx, req *rolegate.Request) error {
		var err error
		ended, err = sqlrows.EndByDrift(tx, req)
		return err
	})
	return ended, err
}
