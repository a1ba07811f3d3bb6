package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/rolegate/rolegate/internal/rolegate"
)

// apply writes in tx what a transition of req causes, in the domain's
// order (rolegate.ApplyEffects), with the statements of effects below.
func (tx *Tx) apply(ctx context.Context, req *rolegate.Request, eff rolegate.Effects) error {
	n, err := rolegate.ApplyEffects(ctx, effects{tx}, req, eff, tx.db.notify)
	tx.queued += n
	return err
}

// effects is the transaction as rolegate.ApplyEffects writes to it.
type effects struct{ tx *Tx }

// MoveRequest changes a request's status only if it is still in from: the
// conditional update is what makes racing transitions safe.
func (w effects) MoveRequest(ctx context.Context, req *rolegate.Request, from, to rolegate.Status) error {
	res, err := w.tx.ExecContext(ctx, `UPDATE requests SET status = ?, updated_at = ? WHERE id = ? AND status = ?`,
		string(to), ms(w.tx.now), req.ID, string(from))
	if err != nil {
		return fmt.Errorf("sqlite: move request %d to %s: %w", req.ID, to, err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return rolegate.Errorf(rolegate.ECONFLICT, "This request changed in the meantime; reload it.")
	}
	req.Status, req.UpdatedAt = to, w.tx.now
	return nil
}

// EnqueueProvisioning writes the hand-off row for a fully approved request.
func (w effects) EnqueueProvisioning(ctx context.Context, req *rolegate.Request) error {
	_, err := w.tx.ExecContext(ctx, `INSERT INTO provisioning_jobs (request_id, state, run_after, created_at, updated_at)
		VALUES (?, 'queued', ?, ?, ?)`, req.ID, ms(w.tx.now), ms(w.tx.now), ms(w.tx.now))
	if err != nil {
		return fmt.Errorf("sqlite: enqueue provisioning of %d: %w", req.ID, err)
	}
	return nil
}

// RequeueProvisioning makes a failed job runnable again, with a fresh budget.
func (w effects) RequeueProvisioning(ctx context.Context, requestID int64) error {
	res, err := w.tx.ExecContext(ctx, `UPDATE provisioning_jobs SET state = 'queued', attempts = 0, run_after = ?,
		lease_owner = '', lease_until = 0, last_error = '', updated_at = ? WHERE request_id = ? AND state = 'failed'`,
		ms(w.tx.now), ms(w.tx.now), requestID)
	if err != nil {
		return fmt.Errorf("sqlite: requeue provisioning of %d: %w", requestID, err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return rolegate.Errorf(rolegate.ECONFLICT, "This request's provisioning is not in a failed state.")
	}
	return nil
}

func (w effects) AppendEvent(ctx context.Context, e *rolegate.Event) error {
	return w.tx.appendEvent(ctx, e)
}

// QueueNotification writes one outbox row; each event reaches each
// recipient on each channel once (the table's unique key).
func (w effects) QueueNotification(ctx context.Context, e rolegate.Event, req *rolegate.Request, r rolegate.Notification) error {
	raw, err := json.Marshal(r.Facts)
	if err != nil {
		return fmt.Errorf("sqlite: notification facts: %w", err)
	}
	if _, err := w.tx.ExecContext(ctx, `INSERT INTO notifications (event_seq, request_id, channel, recipient,
		recipient_label, audience, facts, state, run_after, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, 'queued', ?, ?, ?) ON CONFLICT (event_seq, channel, recipient) DO NOTHING`,
		e.Seq, req.ID, string(r.Channel), r.Recipient, r.Label, string(r.Audience), string(raw),
		ms(w.tx.now), ms(w.tx.now), ms(w.tx.now)); err != nil {
		return fmt.Errorf("sqlite: queue notification: %w", err)
	}
	return nil
}

func (w effects) LastSeenEmail(ctx context.Context, p rolegate.Person) (string, error) {
	return w.tx.lastSeenEmail(ctx, p)
}

func (w effects) PeopleWithRole(ctx context.Context, role rolegate.PortalRole) ([]rolegate.Person, error) {
	return w.tx.peopleWithRole(ctx, role)
}

// lastSeenEmail is p's address at their last sign-in, else the one on file.
func (tx *Tx) lastSeenEmail(ctx context.Context, p rolegate.Person) (string, error) {
	var email string
	err := tx.QueryRowContext(ctx, `SELECT email FROM people WHERE person_key = ?`, p.Key()).Scan(&email)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return "", fmt.Errorf("sqlite: email of a recipient: %w", err)
	}
	if email == "" {
		email = p.Email
	}
	return email, nil
}

// peopleWithRole is PeopleWithRole inside the transaction.
func (tx *Tx) peopleWithRole(ctx context.Context, role rolegate.PortalRole) ([]rolegate.Person, error) {
	rows, err := tx.QueryContext(ctx, `SELECT issuer, subject, email, name FROM people
		WHERE ',' || roles || ',' LIKE ? ORDER BY name, person_key`, "%,"+string(role)+",%")
	if err != nil {
		return nil, fmt.Errorf("sqlite: people with role %s: %w", role, err)
	}
	defer rows.Close()
	var out []rolegate.Person
	for rows.Next() {
		var p rolegate.Person
		if err := rows.Scan(&p.Issuer, &p.Subject, &p.Email, &p.Name); err != nil {
			return nil, fmt.Errorf("sqlite: people with role %s: %w", role, err)
		}
		out = append(out, p)
	}
	return out, rows.Err()
}
