package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/rolegate/rolegate/internal/rolegate"
)

// apply writes in tx what a transition of req causes (rolegate.Effects), in
// this order: the move of its status, guarded on the status it was read
// in; its provisioning job; then each audit event, with the notifications
// it calls for queued right after it.
func (tx *Tx) apply(ctx context.Context, req *rolegate.Request, eff rolegate.Effects) error {
	if eff.From != eff.To {
		if err := tx.move(ctx, req, eff.From, eff.To); err != nil {
			return err
		}
	}
	switch eff.Job {
	case rolegate.JobQueued:
		if err := tx.enqueueProvisioning(ctx, req); err != nil {
			return err
		}
	case rolegate.JobRequeued:
		if err := tx.requeueProvisioning(ctx, req.ID); err != nil {
			return err
		}
	}
	for _, c := range eff.Events {
		// Every event of a transition is about the request (a new one has
		// its id only now).
		e := c.Event
		e.RequestID, e.RoleName = req.ID, req.RoleName
		if err := tx.appendEvent(ctx, &e); err != nil {
			return err
		}
		if c.Notice != nil {
			if err := tx.queueNotifications(ctx, e, req, c.Notice); err != nil {
				return fmt.Errorf("sqlite: notifications for event %d: %w", e.Seq, err)
			}
		}
	}
	return nil
}

// move changes a request's status only if it is still in from: the
// conditional update is what makes racing transitions safe.
func (tx *Tx) move(ctx context.Context, req *rolegate.Request, from, to rolegate.Status) error {
	if !rolegate.CanMove(from, to) {
		return fmt.Errorf("sqlite: request %d: %s → %s is not a transition of the life cycle", req.ID, from, to)
	}
	res, err := tx.ExecContext(ctx, `UPDATE requests SET status = ?, updated_at = ? WHERE id = ? AND status = ?`,
		string(to), ms(tx.now), req.ID, string(from))
	if err != nil {
		return fmt.Errorf("sqlite: move request %d to %s: %w", req.ID, to, err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return rolegate.Errorf(rolegate.ECONFLICT, "This request changed in the meantime; reload it.")
	}
	req.Status, req.UpdatedAt = to, tx.now
	return nil
}

// touch records that req changed without moving (a partial approval).
func (tx *Tx) touch(ctx context.Context, req *rolegate.Request) error {
	if _, err := tx.ExecContext(ctx, `UPDATE requests SET updated_at = ? WHERE id = ?`, ms(tx.now), req.ID); err != nil {
		return fmt.Errorf("sqlite: touch request %d: %w", req.ID, err)
	}
	req.UpdatedAt = tx.now
	return nil
}

// enqueueProvisioning writes the hand-off row for a fully approved request.
func (tx *Tx) enqueueProvisioning(ctx context.Context, req *rolegate.Request) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO provisioning_jobs (request_id, state, run_after, created_at, updated_at)
		VALUES (?, 'queued', ?, ?, ?)`, req.ID, ms(tx.now), ms(tx.now), ms(tx.now))
	if err != nil {
		return fmt.Errorf("sqlite: enqueue provisioning of %d: %w", req.ID, err)
	}
	return nil
}

// requeueProvisioning makes a failed job runnable again, with a fresh budget.
func (tx *Tx) requeueProvisioning(ctx context.Context, requestID int64) error {
	res, err := tx.ExecContext(ctx, `UPDATE provisioning_jobs SET state = 'queued', attempts = 0, run_after = ?,
		lease_owner = '', lease_until = 0, last_error = '', updated_at = ? WHERE request_id = ? AND state = 'failed'`,
		ms(tx.now), ms(tx.now), requestID)
	if err != nil {
		return fmt.Errorf("sqlite: requeue provisioning of %d: %w", requestID, err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return rolegate.Errorf(rolegate.ECONFLICT, "This request's provisioning is not in a failed state.")
	}
	return nil
}

// queueNotifications writes the outbox rows of notice n about the recorded
// event e, in the transaction that records it: who hears is the domain's
// rule (rolegate.Notice), resolved to addresses here.
func (tx *Tx) queueNotifications(ctx context.Context, e rolegate.Event, req *rolegate.Request, n *rolegate.Notice) error {
	targets := tx.db.notify
	if targets == nil {
		return nil
	}
	var emails []rolegate.Recipient
	if targets.Email {
		var err error
		if emails, err = n.Recipients(ctx, req, people{tx}); err != nil {
			return err
		}
	}
	rows := n.Notifications(n.Facts(e, req), emails, *targets)
	for _, r := range rows {
		raw, err := json.Marshal(r.Facts)
		if err != nil {
			return fmt.Errorf("sqlite: notification facts: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO notifications (event_seq, request_id, channel, recipient,
			recipient_label, audience, facts, state, run_after, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, 'queued', ?, ?, ?) ON CONFLICT (event_seq, channel, recipient) DO NOTHING`,
			e.Seq, req.ID, string(r.Channel), r.Recipient, r.Label, string(r.Audience), string(raw),
			ms(tx.now), ms(tx.now), ms(tx.now)); err != nil {
			return fmt.Errorf("sqlite: queue notification: %w", err)
		}
	}
	if len(rows) > 0 && targets.Wake != nil {
		targets.Wake()
	}
	return nil
}

// people is rolegate.People inside a transaction.
type people struct{ tx *Tx }

func (p people) LastSeenEmail(ctx context.Context, person rolegate.Person) (string, error) {
	return p.tx.lastSeenEmail(ctx, person)
}

func (p people) PeopleWithRole(ctx context.Context, role rolegate.PortalRole) ([]rolegate.Person, error) {
	return p.tx.peopleWithRole(ctx, role)
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
