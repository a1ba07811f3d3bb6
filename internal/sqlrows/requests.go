package sqlrows

import (
	"context"
	"fmt"

	"github.com/rolegate/rolegate/internal/rolegate"
)

// The decisions and corrections a person makes on a request
// (rolegate.RequestService) that both engines write alike: each is one
// transition, run in a write transaction the engine opens and in which it
// reads the request its own way (SQLite's single writer; PostgreSQL's row
// lock first).

// Transitions are Approve, Reject, Cancel, RetryProvisioning and
// AbandonProvisioning over an engine's transition, and CreateAccess; a
// store embeds them.
type Transitions struct {
	// Update runs fn in one write transaction.
	Update func(ctx context.Context, fn func(tx Tx) error) error
	// Config is the store's configuration (with its defaults).
	Config rolegate.RequestsConfig
	// Transition runs step on request id in one write transaction, on the
	// request as read (and locked) there, by TransitionIn.
	Transition func(ctx context.Context, id int64, check func(req *rolegate.Request) error, step func(tx Tx, req *rolegate.Request) error) (*rolegate.Request, error)
	// Unique reports the engine's error for a unique index refusing a row.
	Unique func(err error) bool
}

// TransitionIn is a transition in tx on req as just read: check says
// whether the actor may act on it, then step acts. A pending request whose
// deadline has passed (the expiry sweep runs only now and then) is expired
// there and then instead (expired true), to be committed: nobody acts on a
// request that should have expired (ExpiredError).
func TransitionIn(tx Tx, req *rolegate.Request, check func(req *rolegate.Request) error, step func(tx Tx, req *rolegate.Request) error) (expired bool, err error) {
	if err := check(req); err != nil {
		return false, err
	}
	if req.Due(tx.Now()) {
		return true, tx.Apply(req, rolegate.Expire(req))
	}
	return false, step(tx, req)
}

// ExpiredError is what a transition that expired req instead says, once
// that is committed.
func ExpiredError(req *rolegate.Request) error {
	return rolegate.Errorf(rolegate.ECONFLICT, "This request expired at %s without a decision; it can no longer be changed.",
		rolegate.FormatTime(req.ExpiresAt))
}

// CreateAccess stores a new pending access request: the role and the
// grantee are looked up in the picture (never taken from the form), and
// the same grant may not be open twice.
func (t Transitions) CreateAccess(ctx context.Context, actor rolegate.Actor, in rolegate.AccessInput, catalog *rolegate.Catalog, acfg rolegate.AccessConfig) (*rolegate.Request, error) {
	var req *rolegate.Request
	err := t.Update(ctx, func(tx Tx) error {
		facts, err := AccessFacts(tx.Reader(), in)
		if err != nil {
			return err
		}
		var eff rolegate.Effects
		if req, eff, err = rolegate.SubmitAccess(actor, in, facts, catalog, t.Config, acfg, tx.Now()); err != nil {
			return err
		}
		if err := tx.Row(InsertAccess, AccessValues(req, actor)...).Scan(&req.ID); err != nil {
			if t.Unique(err) {
				return rolegate.GrantAlreadyOpen(req)
			}
			return fmt.Errorf("insert access request: %w", err)
		}
		return tx.Apply(req, eff)
	})
	if err != nil {
		return nil, err
	}
	return req, nil
}

// Approve is ApproveWith without a record of re-authentication.
func (t Transitions) Approve(ctx context.Context, actor rolegate.Actor, id int64, seenHash, comment string) (*rolegate.Request, error) {
	return t.ApproveWith(ctx, actor, id, seenHash, comment, rolegate.Reauth{})
}

// ApproveWith stores an approval (rolegate.Approve says what it causes):
// the approval row, and when it completes the count the move to approved,
// the provisioning job, the requester's notice and the hand-off.
func (t Transitions) ApproveWith(ctx context.Context, actor rolegate.Actor, id int64, seenHash, comment string, reauth rolegate.Reauth) (*rolegate.Request, error) {
	var handedOff bool
	req, err := t.Transition(ctx, id, func(req *rolegate.Request) error {
		return rolegate.CheckDecide(actor.Principal, req)
	}, func(tx Tx, req *rolegate.Request) error {
		eff, err := rolegate.ApproveRequest(req, actor, seenHash, comment, reauth, func() (rolegate.Beneficiary, error) {
			return Beneficiary(tx.Reader(), actor.Email)
		}, tx.Now())
		if err != nil {
			return err
		}
		a := eff.Approval
		if _, err := tx.Exec(`INSERT INTO approvals (request_id, approver_key, approver_email, approver_name, payload_hash, comment, created_at)
			VALUES (?, ?, ?, ?, ?, ?, ?)`, id, a.Approver.Key(), a.Approver.Email, a.Approver.DisplayName(), a.PayloadHash, a.Comment, ms(a.At)); err != nil {
			if t.Unique(err) {
				return rolegate.Errorf(rolegate.ECONFLICT, "You have already approved this request.")
			}
			return fmt.Errorf("insert approval: %w", err)
		}
		if _, err := tx.Exec(`UPDATE requests SET updated_at = ? WHERE id = ?`, ms(tx.Now()), req.ID); err != nil {
			return fmt.Errorf("touch request %d: %w", req.ID, err)
		}
		req.UpdatedAt = tx.Now()
		handedOff = eff.Job == rolegate.JobQueued
		return tx.Apply(req, eff)
	})
	if err != nil {
		return req, err
	}
	if handedOff && t.Config.HandedOff != nil {
		t.Config.HandedOff(id)
	}
	return req, nil
}

// move is a transition whose step is the domain's move of req alone.
func (t Transitions) move(ctx context.Context, id int64, check func(req *rolegate.Request) error, move func(req *rolegate.Request) (rolegate.Effects, error)) (*rolegate.Request, error) {
	return t.Transition(ctx, id, check, func(tx Tx, req *rolegate.Request) error {
		eff, err := move(req)
		if err != nil {
			return err
		}
		return tx.Apply(req, eff)
	})
}

// Reject ends a pending request (rolegate.Reject).
func (t Transitions) Reject(ctx context.Context, actor rolegate.Actor, id int64, comment string) (*rolegate.Request, error) {
	return t.move(ctx, id, func(req *rolegate.Request) error { return rolegate.CheckDecide(actor.Principal, req) },
		func(req *rolegate.Request) (rolegate.Effects, error) { return rolegate.Reject(req, actor, comment) })
}

// Cancel withdraws a pending request (rolegate.Cancel).
func (t Transitions) Cancel(ctx context.Context, actor rolegate.Actor, id int64) (*rolegate.Request, error) {
	return t.move(ctx, id, func(req *rolegate.Request) error { return rolegate.CheckCancel(actor.Principal, req) },
		func(req *rolegate.Request) (rolegate.Effects, error) { return rolegate.Cancel(req, actor) })
}

// RetryProvisioning puts a failed request back in the provisioning queue
// (rolegate.RetryProvisioning) and wakes the worker.
func (t Transitions) RetryProvisioning(ctx context.Context, actor rolegate.Actor, id int64) (*rolegate.Request, error) {
	req, err := t.move(ctx, id, func(req *rolegate.Request) error { return rolegate.CheckRetry(actor.Principal, req) },
		func(req *rolegate.Request) (rolegate.Effects, error) { return rolegate.RetryProvisioning(req, actor) })
	if err == nil && t.Config.HandedOff != nil {
		t.Config.HandedOff(id)
	}
	return req, err
}

// AbandonProvisioning gives up on a failed request
// (rolegate.AbandonProvisioning): it is marked abandoned, guarded on still
// being failed and not abandoned.
func (t Transitions) AbandonProvisioning(ctx context.Context, actor rolegate.Actor, id int64, reason string) (*rolegate.Request, error) {
	return t.Transition(ctx, id, func(req *rolegate.Request) error {
		return rolegate.CheckAbandon(actor.Principal, req)
	}, func(tx Tx, req *rolegate.Request) error {
		eff, err := rolegate.AbandonProvisioning(req, actor, reason, tx.Now())
		if err != nil {
			return err
		}
		n, err := tx.Exec(`UPDATE requests SET abandoned_at = ?, updated_at = ?
			WHERE id = ? AND status = 'failed' AND abandoned_at = 0`, ms(req.AbandonedAt), ms(req.UpdatedAt), id)
		if err != nil {
			return fmt.Errorf("abandon request %d: %w", id, err)
		}
		if n != 1 {
			return rolegate.Errorf(rolegate.ECONFLICT, "This request changed in the meantime; reload it.")
		}
		return tx.Apply(req, eff)
	})
}
