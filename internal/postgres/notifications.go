package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/rolegate/rolegate/internal/rolegate"
)

// Outbox is the notifications waiting to be sent (rolegate.Outbox), shared
// by every process: a notifier claims rows with a lease, skipping those
// another is claiming, and records an outcome only for the attempt it
// claimed, so each is sent once while its sender lives.
type Outbox struct{ db *DB }

// NewOutbox returns the outbox over db.
func NewOutbox(db *DB) *Outbox { return &Outbox{db: db} }

// SetNotifications turns queueing on. It must be called before the database
// is shared.
func (db *DB) SetNotifications(t rolegate.NotificationTargets) { db.notify = &t }

const notificationColumns = `id, event_seq, request_id, channel, recipient, recipient_label, audience, facts,
	state, attempts, last_error, created_at, sent_at`

func scanNotification(row pgx.Row) (rolegate.Notification, error) {
	var n rolegate.Notification
	var channel, audience, facts string
	var created, sent, attempts int64
	if err := row.Scan(&n.ID, &n.EventSeq, &n.RequestID, &channel, &n.Recipient, &n.Label, &audience, &facts,
		&n.State, &attempts, &n.LastError, &created, &sent); err != nil {
		return n, err
	}
	n.Channel, n.Audience, n.Attempts = rolegate.NotifyChannel(channel), rolegate.Audience(audience), int(attempts)
	n.CreatedAt, n.SentAt = fromMS(created), fromMS(sent)
	if err := json.Unmarshal([]byte(facts), &n.Facts); err != nil {
		return n, fmt.Errorf("postgres: notification %d facts: %w", n.ID, err)
	}
	return n, nil
}

// ClaimNotifications leases up to limit due notifications (queued and past
// their retry time, or sending with a lease that ran out) for the length
// of lease, counting the attempt; rows another process is claiming are
// skipped, not waited for.
func (o *Outbox) ClaimNotifications(ctx context.Context, limit int, lease time.Duration) ([]rolegate.Notification, error) {
	if limit <= 0 {
		return nil, nil
	}
	var out []rolegate.Notification
	err := o.db.update(ctx, func(tx *Tx) error {
		rows, err := tx.Query(ctx, `UPDATE notifications SET state = 'sending', attempts = attempts + 1,
			lease_until = $1, updated_at = $2
			WHERE id IN (SELECT id FROM notifications
				WHERE (state = 'queued' AND run_after <= $2) OR (state = 'sending' AND lease_until <= $2)
				ORDER BY run_after, id LIMIT $3 FOR UPDATE SKIP LOCKED)
			RETURNING `+notificationColumns, ms(tx.now.Add(lease)), ms(tx.now), limit)
		if err != nil {
			return fmt.Errorf("postgres: claim notifications: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			n, err := scanNotification(rows)
			if err != nil {
				return fmt.Errorf("postgres: claim notifications: %w", err)
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

// ReleaseNotificationLeases releases nothing on PostgreSQL: a row being
// sent at start may be another live process's, and releasing it would send
// it twice. A dead process's rows are claimed again when their leases run
// out.
func (o *Outbox) ReleaseNotificationLeases(ctx context.Context) (int64, error) { return 0, nil }

// NotificationSent records that n was delivered, in the audit trail too.
func (o *Outbox) NotificationSent(ctx context.Context, n *rolegate.Notification) error {
	return o.finishNotification(ctx, n, `state = 'sent', sent_at = $4, last_error = ''`, func(tx *Tx) []any {
		return []any{ms(tx.now)}
	}, rolegate.OutcomeSuccess, deliveryOf(n, ""))
}

// NotificationFailed records that n will not be delivered.
func (o *Outbox) NotificationFailed(ctx context.Context, n *rolegate.Notification, reason string) error {
	return o.finishNotification(ctx, n, `state = 'failed', last_error = $4`, func(*Tx) []any {
		return []any{reason}
	}, rolegate.OutcomeFailure, rolegate.NotificationFailed(deliveryOf(n, reason)))
}

// RetryNotificationLater puts n back in the queue to be tried after delay.
func (o *Outbox) RetryNotificationLater(ctx context.Context, n *rolegate.Notification, delay time.Duration, reason string) error {
	return o.finishNotification(ctx, n, `state = 'queued', run_after = $4, last_error = $5`, func(tx *Tx) []any {
		return []any{ms(tx.now.Add(delay)), reason}
	}, "", nil)
}

// finishNotification applies set (whose parameters start at $4) to n while
// it is still the attempt that was claimed, and appends the outcome event
// d unless it is nil.
func (o *Outbox) finishNotification(ctx context.Context, n *rolegate.Notification, set string, args func(*Tx) []any,
	outcome string, d rolegate.Details) error {
	return o.db.update(ctx, func(tx *Tx) error {
		a := append([]any{ms(tx.now), n.ID, n.Attempts}, args(tx)...)
		tag, err := tx.Exec(ctx, `UPDATE notifications SET `+set+`, lease_until = 0, updated_at = $1
			WHERE id = $2 AND state = 'sending' AND attempts = $3`, a...)
		if err != nil {
			return fmt.Errorf("postgres: record notification %d: %w", n.ID, err)
		}
		if tag.RowsAffected() != 1 {
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

// deliveryOf is the audit record of n's final outcome.
func deliveryOf(n *rolegate.Notification, reason string) rolegate.NotificationSent {
	return rolegate.NotificationSent{NotificationID: n.ID, Channel: string(n.Channel), Recipient: n.Label,
		Event: n.Facts.Event, Attempts: n.Attempts, Error: reason}
}

// NextNotificationDue is when the next queued notification may be tried, or
// a lease runs out; zero when nothing waits.
func (o *Outbox) NextNotificationDue(ctx context.Context) (time.Time, error) {
	var next *int64
	err := o.db.pool.QueryRow(ctx, `SELECT MIN(CASE WHEN state = 'queued' THEN run_after ELSE lease_until END)
		FROM notifications WHERE state IN ('queued','sending')`).Scan(&next)
	if err != nil {
		return time.Time{}, fmt.Errorf("postgres: next notification: %w", err)
	}
	if next == nil {
		return time.Time{}, nil
	}
	return fromMS(*next), nil
}

// NotificationsOf returns the notifications queued about a request, oldest
// first.
func (o *Outbox) NotificationsOf(ctx context.Context, requestID int64) ([]rolegate.Notification, error) {
	return notificationsOf(ctx, o.db.pool, requestID)
}

func notificationsOf(ctx context.Context, q querier, requestID int64) ([]rolegate.Notification, error) {
	rows, err := q.Query(ctx, `SELECT `+notificationColumns+` FROM notifications WHERE request_id = $1 ORDER BY id`, requestID)
	if err != nil {
		return nil, fmt.Errorf("postgres: notifications of %d: %w", requestID, err)
	}
	defer rows.Close()
	var out []rolegate.Notification
	for rows.Next() {
		n, err := scanNotification(rows)
		if err != nil {
			return nil, fmt.Errorf("postgres: notifications of %d: %w", requestID, err)
		}
		out = append(out, n)
	}
	return out, rows.Err()
}

// DeleteOldNotifications removes the rows of notifications delivered or
// given up more than olderThan ago; their outcome stays in the audit trail.
func (o *Outbox) DeleteOldNotifications(ctx context.Context, olderThan time.Duration) (int64, error) {
	tag, err := o.db.pool.Exec(ctx, `DELETE FROM notifications WHERE state IN ('sent','failed') AND updated_at <= $1`,
		ms(o.db.now().Add(-olderThan)))
	if err != nil {
		return 0, fmt.Errorf("postgres: delete old notifications: %w", err)
	}
	return tag.RowsAffected(), nil
}
