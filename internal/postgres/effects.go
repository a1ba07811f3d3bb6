package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/rolegate/rolegate/internal/rolegate"
)

// apply writes what a transition of req causes, in the domain's order
// (rolegate.ApplyEffects), with the statements of effects below.
func (tx *Tx) apply(ctx context.Context, req *rolegate.Request, eff rolegate.Effects) error {
	n, err := rolegate.ApplyEffects(ctx, effects{tx}, req, eff, tx.db.notify)
	tx.queued += n
	return err
}

// effects is the transaction as rolegate.ApplyEffects writes to it.
type effects struct{ tx *Tx }

// MoveRequest changes a request's status only if it is still in from. The
// transition holds the request's row lock already (lockRequest); the guard
// is what a caller without it relies on.
func (w effects) MoveRequest(ctx context.Context, req *rolegate.Request, from, to rolegate.Status) error {
	tag, err := w.tx.Exec(ctx, `UPDATE requests SET status = $1, updated_at = $2 WHERE id = $3 AND status = $4`,
		string(to), ms(w.tx.now), req.ID, string(from))
	if err != nil {
		return fmt.Errorf("postgres: move request %d to %s: %w", req.ID, to, err)
	}
	if tag.RowsAffected() != 1 {
		return rolegate.Errorf(rolegate.ECONFLICT, "This request changed in the meantime; reload it.")
	}
	req.Status, req.UpdatedAt = to, w.tx.now
	return nil
}

// EnqueueProvisioning writes the hand-off row for a fully approved request.
func (w effects) EnqueueProvisioning(ctx context.Context, req *rolegate.Request) error {
	now := ms(w.tx.now)
	if _, err := w.tx.Exec(ctx, `INSERT INTO provisioning_jobs (request_id, state, run_after, created_at, updated_at)
		VALUES ($1, 'queued', $2, $2, $2)`, req.ID, now); err != nil {
		return fmt.Errorf("postgres: enqueue provisioning of %d: %w", req.ID, err)
	}
	return nil
}

// RequeueProvisioning makes a failed job runnable again, with a fresh budget.
func (w effects) RequeueProvisioning(ctx context.Context, requestID int64) error {
	now := ms(w.tx.now)
	tag, err := w.tx.Exec(ctx, `UPDATE provisioning_jobs SET state = 'queued', attempts = 0, run_after = $1,
		lease_owner = '', lease_until = 0, last_error = '', updated_at = $1 WHERE request_id = $2 AND state = 'failed'`,
		now, requestID)
	if err != nil {
		return fmt.Errorf("postgres: requeue provisioning of %d: %w", requestID, err)
	}
	if tag.RowsAffected() != 1 {
		return rolegate.Errorf(rolegate.ECONFLICT, "This request's provisioning is not in a failed state.")
	}
	return nil
}

func (w effects) AppendEvent(ctx context.Context, e *rolegate.Event) error {
	return w.tx.appendEvent(ctx, e)
}

// QueueNotification writes one outbox row; each event reaches each
// recipient on each channel once (the table's unique key).
func (w effects) QueueNotification(ctx context.Context, e rolegate.Event, req *rolegate.Request, n rolegate.Notification) error {
	raw, err := json.Marshal(n.Facts)
	if err != nil {
		return fmt.Errorf("postgres: notification facts: %w", err)
	}
	now := ms(w.tx.now)
	if _, err := w.tx.Exec(ctx, `INSERT INTO notifications (event_seq, request_id, channel, recipient,
		recipient_label, audience, facts, state, run_after, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, 'queued', $8, $8, $8) ON CONFLICT (event_seq, channel, recipient) DO NOTHING`,
		e.Seq, req.ID, string(n.Channel), n.Recipient, n.Label, string(n.Audience), string(raw), now); err != nil {
		return fmt.Errorf("postgres: queue notification: %w", err)
	}
	return nil
}

// LastSeenEmail is p's address at their last sign-in, else the one on file.
func (w effects) LastSeenEmail(ctx context.Context, p rolegate.Person) (string, error) {
	var email string
	err := w.tx.QueryRow(ctx, `SELECT email FROM people WHERE person_key = $1`, p.Key()).Scan(&email)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return "", fmt.Errorf("postgres: email of a recipient: %w", err)
	}
	if email == "" {
		email = p.Email
	}
	return email, nil
}

func (w effects) PeopleWithRole(ctx context.Context, role rolegate.PortalRole) ([]rolegate.Person, error) {
	return peopleWithRole(ctx, w.tx, role)
}
