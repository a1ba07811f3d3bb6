package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/rolegate/rolegate/internal/rolegate"
)

// Outbox is the notifications waiting to be sent (rolegate.Outbox): its
// rows are written by the transition that causes them (queueNotifications,
// in effects.go), and claimed and settled here by the notify worker.
type Outbox struct{ db *DB }

// NewOutbox returns the outbox over db.
func NewOutbox(db *DB) *Outbox { return &Outbox{db: db} }

// SetNotifications turns queueing on. It must be called before the database
// is shared.
func (db *DB) SetNotifications(t rolegate.NotificationTargets) { db.notify = &t }

const notificationColumns = `id, event_seq, request_id, channel, recipient, recipient_label, audience, facts,
	state, attempts, last_error, created_at, sent_at`

func scanNotification(row scanner) (rolegate.Notification, error) {
	var n rolegate.Notification
	var facts string
	var created, sent int64
	if err := row.Scan(&n.ID, &n.EventSeq, &n.RequestID, &n.Channel, &n.Recipient, &n.Label, &n.Audience, &facts,
		&n.State, &n.Attempts, &n.LastError, &created, &sent); err != nil {
		return n, err
	}
	n.CreatedAt, n.SentAt = fromMS(created), fromMS(sent)
	if err := json.Unmarshal([]byte(facts), &n.Facts); err != nil {
		return n, fmt.Errorf("sqlite: notification %d facts: %w", n.ID, err)
	}
	return n, nil
}

// ClaimNotifications leases up to limit notifications that are due (queued
// and past their retry time, or sending with a lease that ran out) for the
// length of lease, counting the attempt. Each claimed row's Attempts is the
// token that records its outcome.
func (o *Outbox) ClaimNotifications(ctx context.Context, limit int, lease time.Duration) ([]rolegate.Notification, error) {
	if limit <= 0 {
		return nil, nil
	}
	var out []rolegate.Notification
	err := o.db.update(ctx, func(tx *Tx) error {
		rows, err := tx.QueryContext(ctx, `UPDATE notifications SET state = 'sending', attempts = attempts + 1,
			lease_until = ?, updated_at = ?
			WHERE id IN (SELECT id FROM notifications
				WHERE (state = 'queued' AND run_after <= ?) OR (state = 'sending' AND lease_until <= ?)
				ORDER BY run_after, id LIMIT ?)
			RETURNING `+notificationColumns, ms(tx.now.Add(lease)), ms(tx.now), ms(tx.now), ms(tx.now), limit)
		if err != nil {
			return fmt.Errorf("sqlite: claim notifications: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			n, err := scanNotification(rows)
			if err != nil {
				return fmt.Errorf("sqlite: claim notifications: %w", err)
			}
			out = append(out, n)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// ReleaseNotificationLeases makes every notification being sent claimable at
// once. The worker calls it at start: one rolegate serves a database, so a
// row still sending belongs to a process that stopped mid-delivery. Such a
// message may have gone out already; it is sent again (at least once).
func (o *Outbox) ReleaseNotificationLeases(ctx context.Context) (int64, error) {
	var n int64
	err := o.db.update(ctx, func(tx *Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE notifications SET state = 'queued', run_after = ?, lease_until = 0,
			updated_at = ? WHERE state = 'sending'`, ms(tx.now), ms(tx.now))
		if err != nil {
			return fmt.Errorf("sqlite: release notification leases: %w", err)
		}
		n, _ = res.RowsAffected()
		return nil
	})
	return n, err
}

// NotificationSent records that n was delivered, in the audit trail too.
func (o *Outbox) NotificationSent(ctx context.Context, n *rolegate.Notification) error {
	return o.finishNotification(ctx, n, `state = 'sent', sent_at = ?, last_error = ''`, func(tx *Tx) []any {
		return []any{ms(tx.now)}
	}, rolegate.OutcomeSuccess, deliveryOf(n, ""))
}

// NotificationFailed records that n will not be delivered: reason (free of
// secrets) is kept on the row and in the audit trail.
func (o *Outbox) NotificationFailed(ctx context.Context, n *rolegate.Notification, reason string) error {
	return o.finishNotification(ctx, n, `state = 'failed', last_error = ?`, func(*Tx) []any {
		return []any{reason}
	}, rolegate.OutcomeFailure, rolegate.NotificationFailed(deliveryOf(n, reason)))
}

// RetryNotificationLater puts n back in the queue to be tried after delay.
// Only the final outcome goes to the audit trail; each failed attempt is
// logged by the worker.
func (o *Outbox) RetryNotificationLater(ctx context.Context, n *rolegate.Notification, delay time.Duration, reason string) error {
	return o.finishNotification(ctx, n, `state = 'queued', run_after = ?, last_error = ?`, func(tx *Tx) []any {
		return []any{ms(tx.now.Add(delay)), reason}
	}, "", nil)
}

// finishNotification applies set to n while it is still the attempt that
// was claimed, and appends the outcome event d unless it is nil.
func (o *Outbox) finishNotification(ctx context.Context, n *rolegate.Notification, set string, args func(*Tx) []any,
	outcome string, d rolegate.Details) error {
	return o.db.update(ctx, func(tx *Tx) error {
		a := append(args(tx), ms(tx.now), n.ID, n.Attempts)
		res, err := tx.ExecContext(ctx, `UPDATE notifications SET `+set+`, lease_until = 0, updated_at = ?
			WHERE id = ? AND state = 'sending' AND attempts = ?`, a...)
		if err != nil {
			return fmt.Errorf("sqlite: record notification %d: %w", n.ID, err)
		}
		if k, _ := res.RowsAffected(); k != 1 {
			return rolegate.ErrNotificationLeaseLost
		}
		if d == nil {
			return nil
		}
		e := rolegate.NewEvent(rolegate.System("notifier"), outcome, d)
		e.RequestID, e.RoleName = n.RequestID, n.Facts.RoleName
		return tx.appendEvent(ctx, &e)
	})
}

// deliveryOf is the audit record of n's final outcome; reason is empty
// when it was delivered.
func deliveryOf(n *rolegate.Notification, reason string) rolegate.NotificationSent {
	return rolegate.NotificationSent{NotificationID: n.ID, Channel: string(n.Channel), Recipient: n.Label,
		Event: n.Facts.Event, Attempts: n.Attempts, Error: reason}
}

// NextNotificationDue is when the next queued notification may be tried, or
// a lease runs out; zero when nothing waits.
func (o *Outbox) NextNotificationDue(ctx context.Context) (time.Time, error) {
	var next sql.NullInt64
	err := o.db.readPool.QueryRowContext(ctx, `SELECT MIN(CASE WHEN state = 'queued' THEN run_after ELSE lease_until END)
		FROM notifications WHERE state IN ('queued','sending')`).Scan(&next)
	if err != nil {
		return time.Time{}, fmt.Errorf("sqlite: next notification: %w", err)
	}
	if !next.Valid {
		return time.Time{}, nil
	}
	return fromMS(next.Int64), nil
}

// NotificationsOf returns the notifications queued about a request, oldest
// first.
func (o *Outbox) NotificationsOf(ctx context.Context, requestID int64) ([]rolegate.Notification, error) {
	return notificationsOf(ctx, o.db.readPool, requestID)
}

func notificationsOf(ctx context.Context, q querier, requestID int64) ([]rolegate.Notification, error) {
	rows, err := q.QueryContext(ctx, `SELECT `+notificationColumns+` FROM notifications
		WHERE request_id = ? ORDER BY id`, requestID)
	if err != nil {
		return nil, fmt.Errorf("sqlite: notifications of %d: %w", requestID, err)
	}
	defer rows.Close()
	var out []rolegate.Notification
	for rows.Next() {
		n, err := scanNotification(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlite: notifications of %d: %w", requestID, err)
		}
		out = append(out, n)
	}
	return out, rows.Err()
}

// DeleteOldNotifications removes the rows of notifications delivered or
// given up more than olderThan ago; their outcome stays in the audit trail.
func (o *Outbox) DeleteOldNotifications(ctx context.Context, olderThan time.Duration) (int64, error) {
	var n int64
	err := o.db.update(ctx, func(tx *Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM notifications WHERE state IN ('sent','failed') AND updated_at <= ?`,
			ms(tx.now.Add(-olderThan)))
		if err != nil {
			return fmt.Errorf("sqlite: delete old notifications: %w", err)
		}
		n, _ = res.RowsAffected()
		return nil
	})
	return n, err
}
