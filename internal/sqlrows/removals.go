package sqlrows

import (
	"context"
	"fmt"
	"time"

	"github.com/rolegate/rolegate/internal/rolegate"
)

// The steps of the removal queue (rolegate.RemovalQueue) that both
// engines write alike, inside a transaction each engine opens and locks
// its own way (SQLite's single writer; PostgreSQL's row locks and SKIP
// LOCKED): what each step changes in access_grants and what it records.

// Tx is a store's write transaction as the shared steps use it.
type Tx interface {
	// Exec runs a statement written with ? placeholders and says how many
	// rows it changed.
	Exec(query string, args ...any) (int64, error)
	// Row runs a query written with ? placeholders and returns its first row.
	Row(query string, args ...any) Row
	// Now is the transaction's clock.
	Now() time.Time
	// Apply writes what a transition of req causes (rolegate.ApplyEffects).
	Apply(req *rolegate.Request, eff rolegate.Effects) error
	// Reader reads in this transaction.
	Reader() Reader
}

// ScheduleDue queues the removal of every active grant whose end has come.
func ScheduleDue(tx Tx) (int64, error) {
	now := ms(tx.Now())
	return tx.Exec(`UPDATE access_grants SET state = 'removing', end_cause = 'expired', run_after = ?, updated_at = ?
		WHERE state = 'active' AND access_until > 0 AND access_until <= ?`, now, now, now)
}

// ClaimedRemoval records the claim of req's removal by owner for lease: its
// attempt (the grant's attempts so far), whether an earlier DELETE may
// have reached the upstream (maybeUpstream) and why access ends (cause),
// as the engine read them under its lock.
func ClaimedRemoval(tx Tx, req *rolegate.Request, owner string, lease time.Duration, attempts int64, maybeUpstream bool, cause string) (*rolegate.Removal, error) {
	if _, err := tx.Exec(`UPDATE access_grants SET attempts = attempts + 1, lease_owner = ?, lease_until = ?, updated_at = ?
		WHERE request_id = ?`, owner, ms(tx.Now().Add(lease)), ms(tx.Now()), req.ID); err != nil {
		return nil, fmt.Errorf("claim removal %d: %w", req.ID, err)
	}
	rm := &rolegate.Removal{RequestID: req.ID, Scope: req.Scope, Grantee: req.Grantee, RoleID: req.AccessRoleID, Cause: cause,
		Attempt: int(attempts) + 1, Reconcile: maybeUpstream, Owner: owner}
	return rm, tx.Apply(req, rolegate.ClaimRemoval(req, rm))
}

// BeforeDelete records that rm's DELETE may reach the upstream.
func BeforeDelete(tx Tx, rm *rolegate.Removal) error {
	if _, err := tx.Exec(`UPDATE access_grants SET maybe_upstream = 1, updated_at = ? WHERE request_id = ?`, ms(tx.Now()), rm.RequestID); err != nil {
		return fmt.Errorf("mark removal %d: %w", rm.RequestID, err)
	}
	return nil
}

// CompleteRemoval: req's assignment is gone upstream (drift: without
// rolegate having removed it); the request shows Revoked, with why.
func CompleteRemoval(tx Tx, req *rolegate.Request, rm *rolegate.Removal, drift bool) error {
	eff := rolegate.CompleteRemoval(req, rm, drift)
	cause, reason := rolegate.RemovalEnd(req, rm, drift)
	now := ms(tx.Now())
	if _, err := tx.Exec(`UPDATE access_grants SET state = 'revoked', end_cause = ?, end_reason = ?, ended_at = ?,
		lease_owner = '', lease_until = 0, last_error = '', updated_at = ? WHERE request_id = ?`,
		cause, reason, now, now, rm.RequestID); err != nil {
		return fmt.Errorf("complete removal %d: %w", rm.RequestID, err)
	}
	return tx.Apply(req, eff)
}

// RetryRemovalLater makes the removal runnable again after delay.
func RetryRemovalLater(tx Tx, req *rolegate.Request, rm *rolegate.Removal, delay time.Duration, reason string) error {
	if _, err := tx.Exec(`UPDATE access_grants SET run_after = ?, lease_owner = '', lease_until = 0, last_error = ?, updated_at = ?
		WHERE request_id = ?`, ms(tx.Now().Add(delay)), reason, ms(tx.Now()), rm.RequestID); err != nil {
		return fmt.Errorf("reschedule removal %d: %w", rm.RequestID, err)
	}
	return tx.Apply(req, rolegate.RetryRemovalLater(req, rm, delay, reason))
}

// FailRemoval ends the removal's attempts: the grant waits for an admin.
func FailRemoval(tx Tx, req *rolegate.Request, rm *rolegate.Removal, message string) error {
	if _, err := tx.Exec(`UPDATE access_grants SET state = 'failed', lease_owner = '', lease_until = 0, last_error = ?, updated_at = ?
		WHERE request_id = ?`, message, ms(tx.Now()), rm.RequestID); err != nil {
		return fmt.Errorf("fail removal %d: %w", rm.RequestID, err)
	}
	return tx.Apply(req, rolegate.FailRemoval(req, rm, message))
}

// Revoke queues the early end of req's access by actor (an admin), saying
// why, and reads the grant back onto req.
func Revoke(tx Tx, req *rolegate.Request, actor rolegate.Actor, reason string) error {
	eff, err := rolegate.RevokeAccess(req, actor, reason)
	if err != nil {
		return err
	}
	now := ms(tx.Now())
	n, err := tx.Exec(`UPDATE access_grants SET state = 'removing', end_cause = 'revoked', end_reason = ?, ended_by_key = ?,
		run_after = ?, updated_at = ? WHERE request_id = ? AND state = 'active'`,
		rolegate.TrimmedReason(reason), actor.DisplayName(), now, now, req.ID)
	if err != nil {
		return fmt.Errorf("revoke %d: %w", req.ID, err)
	}
	if n != 1 {
		return rolegate.Errorf(rolegate.ECONFLICT, "This access changed in the meantime; reload it.")
	}
	if err := tx.Apply(req, eff); err != nil {
		return err
	}
	var g GrantRow
	if err := tx.Row(`SELECT `+GrantColumns+` FROM access_grants WHERE request_id = ?`, req.ID).Scan(g.Dest()...); err != nil {
		return fmt.Errorf("read the grant of %d: %w", req.ID, err)
	}
	req.Grant = g.Grant()
	return nil
}

// RetryRemoval puts req's failed removal back in the queue (admins).
func RetryRemoval(tx Tx, req *rolegate.Request, actor rolegate.Actor) error {
	eff, err := rolegate.RetryRemoval(req, actor)
	if err != nil {
		return err
	}
	now := ms(tx.Now())
	n, err := tx.Exec(`UPDATE access_grants SET state = 'removing', run_after = ?, last_error = '', updated_at = ?
		WHERE request_id = ? AND state = 'failed'`, now, now, req.ID)
	if err != nil {
		return fmt.Errorf("retry removal %d: %w", req.ID, err)
	}
	if n != 1 {
		return rolegate.Errorf(rolegate.ECONFLICT, "This access changed in the meantime; reload it.")
	}
	return tx.Apply(req, eff)
}

// NextRemovalDue is the query (with the reminder's lead in milliseconds as
// its parameter) of when the next removal, end of access or reminder is
// due; NULL when none.
const NextRemovalDue = `SELECT MIN(t) FROM (
	SELECT CASE WHEN lease_owner = '' THEN run_after ELSE lease_until END AS t FROM access_grants WHERE state = 'removing'
	UNION ALL SELECT access_until FROM access_grants WHERE state = 'active' AND access_until > 0
	UNION ALL SELECT access_until - ? FROM access_grants WHERE state = 'active' AND access_until > 0 AND reminded_at = 0) AS due`

// OverdueCount is the query (with now as its parameter) of how many grants
// are past their end and not known to be gone upstream.
const OverdueCount = `SELECT COUNT(*) FROM access_grants
	WHERE state IN ('active', 'removing', 'failed') AND access_until > 0 AND access_until <= ?`

// HeldGrantsQuery lists the active grants (rolegate.HeldGrant's fields in
// order: request, scope, grantee kind, id, name and email, role), to be
// looked at upstream for drift.
const HeldGrantsQuery = `SELECT r.id, r.scope, r.grantee_kind, r.grantee_id, r.grantee_name, r.grantee_email, r.access_role_id
	FROM access_grants g JOIN requests r ON r.id = g.request_id WHERE g.state = 'active' ORDER BY r.id`

// HeldGrantDest are the scan destinations of HeldGrantsQuery into h.
func HeldGrantDest(h *rolegate.HeldGrant) []any {
	return []any{&h.RequestID, &h.Scope, &h.Grantee.Kind, &h.Grantee.ID, &h.Grantee.Name, &h.Grantee.Email, &h.RoleID}
}

// EndByDrift ends req's grant, still active, as drift: its assignment was
// found removed outside rolegate; nothing will be removed. It reports
// false when the grant was no longer active.
func EndByDrift(tx Tx, req *rolegate.Request) (bool, error) {
	if req.Grant == nil || req.Grant.State != rolegate.GrantActive {
		return false, nil
	}
	now := ms(tx.Now())
	n, err := tx.Exec(`UPDATE access_grants SET state = 'revoked', end_cause = 'drift', end_reason = ?, ended_at = ?, updated_at = ?
		WHERE request_id = ? AND state = 'active'`,
		rolegate.RemovalReason(rolegate.EndDrift, req.AccessUntil, ""), now, now, req.ID)
	if err != nil {
		return false, fmt.Errorf("end %d by drift: %w", req.ID, err)
	}
	if n != 1 {
		return false, nil
	}
	return true, tx.Apply(req, rolegate.EndByDrift(req))
}

// RemovalSteps are the steps of a claimed removal after its claim
// (BeforeDelete, CompleteRemoval, RetryRemovalLater, FailRemoval of
// rolegate.RemovalQueue) over the engine's Finish; a store embeds them.
type RemovalSteps struct {
	// Finish runs fn in one write transaction on rm's request, only while
	// rm is still leased to its owner (LeaseHeld), with the grant (then
	// the request) read, and locked, the engine's way.
	Finish func(ctx context.Context, rm *rolegate.Removal, fn func(tx Tx, req *rolegate.Request) error) error
}

// LeaseHeld is nil while rm is still leased to its owner, by the grant's
// lease owner and state as read under the engine's lock, and
// rolegate.ErrLeaseLost when not: a remover whose lease ran out and was
// taken over must not overwrite the new owner.
func LeaseHeld(rm *rolegate.Removal, owner, state string) error {
	if state != string(rolegate.GrantRemoving) || owner != rm.Owner {
		return rolegate.ErrLeaseLost
	}
	return nil
}

// BeforeDelete records, before the DELETE leaves the process, that it may
// reach the upstream: a process killed after this point is followed by an
// attempt (on any node) that looks first and, finding the assignment
// gone, knows it was its own removal and not drift.
func (s RemovalSteps) BeforeDelete(ctx context.Context, rm *rolegate.Removal) error {
	return s.Finish(ctx, rm, func(tx Tx, _ *rolegate.Request) error { return BeforeDelete(tx, rm) })
}

// CompleteRemoval: the assignment is gone upstream; the request shows
// Revoked, with why.
func (s RemovalSteps) CompleteRemoval(ctx context.Context, rm *rolegate.Removal, drift bool) error {
	return s.Finish(ctx, rm, func(tx Tx, req *rolegate.Request) error { return CompleteRemoval(tx, req, rm, drift) })
}

// RetryRemovalLater makes the removal runnable again after delay.
func (s RemovalSteps) RetryRemovalLater(ctx context.Context, rm *rolegate.Removal, delay time.Duration, reason string) error {
	return s.Finish(ctx, rm, func(tx Tx, req *rolegate.Request) error { return RetryRemovalLater(tx, req, rm, delay, reason) })
}

// FailRemoval ends the removal's attempts: the grant waits for an admin,
// and counts as overdue while its end has passed.
func (s RemovalSteps) FailRemoval(ctx context.Context, rm *rolegate.Removal, message string) error {
	return s.Finish(ctx, rm, func(tx Tx, req *rolegate.Request) error { return FailRemoval(tx, req, rm, message) })
}
