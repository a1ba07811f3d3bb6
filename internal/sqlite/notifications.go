package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/rolegate/rolegate/internal/rolegate"
)

// Notifications are an outbox: the rows saying who must hear about an event
// are written by appendEvent in the transaction that records the event, so a
// committed approval always has its notifications queued and a rolled-back
// one never does. The notify worker sends them later; a mail server or
// webhook that is down therefore never delays or fails the change itself.

// noticeRule says who hears about an audit action.
type noticeRule struct {
	kind string
	// event is the name webhooks carry; the action itself when empty.
	event string
	// email lists the audiences reached by email.
	email []rolegate.Audience
	// webhook: the event is posted to the configured webhooks.
	webhook bool
}

// noticeRules maps the audit actions that notify to their rule. The
// completing approval is told through provisioning.queued, which follows it
// in the same transaction once the request's status is approved; a partial
// approval is not a decision and notifies nobody.
var noticeRules = map[string]noticeRule{
	rolegate.ActionRequestCreated:        {kind: rolegate.NoticeSubmitted, email: []rolegate.Audience{rolegate.AudienceApprover}, webhook: true},
	rolegate.ActionProvisioningQueued:    {kind: rolegate.NoticeApproved, event: rolegate.ActionRequestApproved, email: []rolegate.Audience{rolegate.AudienceRequester}, webhook: true},
	rolegate.ActionRequestRejected:       {kind: rolegate.NoticeRejected, email: []rolegate.Audience{rolegate.AudienceRequester}, webhook: true},
	rolegate.ActionRequestCancelled:      {kind: rolegate.NoticeCancelled, webhook: true},
	rolegate.ActionRequestExpired:        {kind: rolegate.NoticeExpired, email: []rolegate.Audience{rolegate.AudienceRequester}, webhook: true},
	rolegate.ActionProvisioningSucceeded: {kind: rolegate.NoticeProvisioned, email: []rolegate.Audience{rolegate.AudienceRequester, rolegate.AudienceApprover}, webhook: true},
	rolegate.ActionProvisioningAdopted:   {kind: rolegate.NoticeProvisioned, email: []rolegate.Audience{rolegate.AudienceRequester, rolegate.AudienceApprover}, webhook: true},
	rolegate.ActionProvisioningFailed:    {kind: rolegate.NoticeFailed, email: []rolegate.Audience{rolegate.AudienceRequester, rolegate.AudienceAdmin}, webhook: true},
	rolegate.ActionProvisioningMismatch:  {kind: rolegate.NoticeFailed, email: []rolegate.Audience{rolegate.AudienceRequester, rolegate.AudienceAdmin}, webhook: true},
	rolegate.ActionProvisioningAbandoned: {kind: rolegate.NoticeAbandoned, email: []rolegate.Audience{rolegate.AudienceRequester}, webhook: true},
	rolegate.ActionRequestReminder:       {kind: rolegate.NoticeReminder, email: []rolegate.Audience{rolegate.AudienceApprover}, webhook: true},
	// Drift is recorded with a request only for the roles rolegate created,
	// so only those reach the admins; a role created outside rolegate has
	// no request and notifies nobody.
	rolegate.ActionUpstreamRoleChanged: {kind: rolegate.NoticeDrift, email: []rolegate.Audience{rolegate.AudienceAdmin}, webhook: true},
	rolegate.ActionUpstreamRoleDeleted: {kind: rolegate.NoticeDrift, email: []rolegate.Audience{rolegate.AudienceAdmin}, webhook: true},
}

// SetNotifications turns queueing on. It must be called before the database
// is shared.
func (db *DB) SetNotifications(t rolegate.NotificationTargets) { db.notify = &t }

// enqueueNotifications queues the messages that event e calls for, in the
// transaction that records it. Events that notify nobody cost one map lookup.
func (tx *Tx) enqueueNotifications(ctx context.Context, e rolegate.Event) error {
	targets := tx.db.notify
	if targets == nil || e.RequestID == 0 {
		return nil
	}
	rule, ok := noticeRules[e.Action]
	if !ok {
		return nil
	}
	req, err := getRequest(ctx, tx, e.RequestID)
	if err != nil {
		return fmt.Errorf("sqlite: notifications for event %d: %w", e.Seq, err)
	}
	facts := noticeFacts(e, rule, req)

	type row struct {
		channel   rolegate.NotifyChannel
		recipient string
		label     string
		audience  rolegate.Audience
	}
	var rows []row
	if targets.Email {
		people, err := tx.noticeRecipients(ctx, rule, req)
		if err != nil {
			return err
		}
		for _, p := range people {
			rows = append(rows, row{rolegate.ChannelEmail, p.email, p.email, p.audience})
		}
	}
	if rule.webhook {
		for _, w := range targets.Webhooks {
			rows = append(rows, row{rolegate.ChannelWebhook, w.ID, w.Label, rolegate.AudienceChannel})
		}
	}
	for _, r := range rows {
		raw, err := json.Marshal(facts.For(r.audience))
		if err != nil {
			return fmt.Errorf("sqlite: notification facts: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO notifications (event_seq, request_id, channel, recipient,
			recipient_label, audience, facts, state, run_after, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, 'queued', ?, ?, ?) ON CONFLICT (event_seq, channel, recipient) DO NOTHING`,
			e.Seq, req.ID, string(r.channel), r.recipient, r.label, string(r.audience), string(raw),
			ms(tx.now), ms(tx.now), ms(tx.now)); err != nil {
			return fmt.Errorf("sqlite: queue notification: %w", err)
		}
	}
	if len(rows) > 0 && targets.Wake != nil {
		targets.Wake()
	}
	return nil
}

// noticeFacts gathers everything a message about e may say; For trims it
// per recipient.
func noticeFacts(e rolegate.Event, rule noticeRule, req *rolegate.Request) rolegate.NotificationFacts {
	details, _ := e.DecodeDetails() // what could be read; a message is still sent
	f := rolegate.NotificationFacts{
		Event: e.Action, Kind: rule.kind, RequestID: req.ID, RoleName: req.RoleName, Status: req.Status,
		Actor: rolegate.NoticePerson{Name: e.ActorName, Email: e.ActorEmail}, At: e.At,
		Requester:   &rolegate.NoticePerson{Name: req.Requester.DisplayName(), Email: req.Requester.Email},
		Permissions: req.Permissions, Description: req.Description, Justification: req.Justification,
		RequiredApprovals: req.RequiredApprovals, SubmittedAt: req.CreatedAt,
	}
	if rule.event != "" {
		f.Event = rule.event
	}
	switch rule.kind {
	case rolegate.NoticeApproved, rolegate.NoticeReminder:
		for _, a := range req.Approvals {
			f.Approvals = append(f.Approvals, rolegate.NoticeApproval{Name: a.Approver.DisplayName(), Comment: a.Comment})
		}
	}
	switch d := details.(type) {
	case rolegate.RequestRejected:
		f.Comment = d.Comment
	case rolegate.ProvisioningAbandoned:
		f.Comment = d.Comment
	case rolegate.ProvisioningSucceeded:
		f.RoleID = firstNonEmptyString(req.UpstreamRoleID, d.RoleID)
	case rolegate.ProvisioningAdopted:
		f.RoleID = firstNonEmptyString(req.UpstreamRoleID, d.RoleID)
	case rolegate.ProvisioningFailed:
		f.Failure = firstNonEmptyString(req.FailureMessage, d.Error)
	case rolegate.ProvisioningMismatch:
		f.Failure = firstNonEmptyString(req.FailureMessage, d.Error)
	case rolegate.UpstreamRoleChanged:
		f.RoleID, f.Differences = d.RoleID, d.Differences
	case rolegate.UpstreamRoleDeleted:
		f.RoleID, f.Deleted = d.RoleID, true
	}
	return f
}

func firstNonEmptyString(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}

type noticeRecipient struct {
	email    string
	audience rolegate.Audience
}

// noticeRecipients returns the email recipients of rule for req: each
// address once, for the audience that may see the most. Approvers never
// hear of their own request as approvers, and a reminder goes only to the
// approvers who have not approved yet. Addresses are those seen at each
// person's last sign-in.
func (tx *Tx) noticeRecipients(ctx context.Context, rule noticeRule, req *rolegate.Request) ([]noticeRecipient, error) {
	var out []noticeRecipient
	seen := map[string]int{}
	add := func(email string, a rolegate.Audience) {
		email = strings.TrimSpace(email)
		if email == "" {
			return
		}
		key := strings.ToLower(email)
		if i, ok := seen[key]; ok {
			if a.Rank() > out[i].audience.Rank() {
				out[i].audience = a
			}
			return
		}
		seen[key] = len(out)
		out = append(out, noticeRecipient{email: email, audience: a})
	}
	for _, a := range rule.email {
		switch a {
		case rolegate.AudienceRequester:
			email, err := tx.lastSeenEmail(ctx, req.Requester)
			if err != nil {
				return nil, err
			}
			add(email, a)
		case rolegate.AudienceApprover:
			if rule.kind == rolegate.NoticeProvisioned {
				// The approvers who approved it, not every approver.
				for _, ap := range req.Approvals {
					email, err := tx.lastSeenEmail(ctx, ap.Approver)
					if err != nil {
						return nil, err
					}
					add(email, a)
				}
				continue
			}
			people, err := tx.peopleWithRole(ctx, rolegate.RoleApprover)
			if err != nil {
				return nil, err
			}
			for _, p := range people {
				if req.OwnedBy(p) || (rule.kind == rolegate.NoticeReminder && req.ApprovedBy(p)) {
					continue
				}
				add(p.Email, a)
			}
		case rolegate.AudienceAdmin:
			people, err := tx.peopleWithRole(ctx, rolegate.RoleAdmin)
			if err != nil {
				return nil, err
			}
			for _, p := range people {
				add(p.Email, a)
			}
		}
	}
	return out, nil
}

// lastSeenEmail is p's address at their last sign-in, else the one on file.
func (tx *Tx) lastSeenEmail(ctx context.Context, p rolegate.Person) (string, error) {
	var email string
	err := tx.QueryRowContext(ctx, `SELECT email FROM people WHERE person_key = ?`, p.Key()).Scan(&email)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return "", fmt.Errorf("sqlite: email of a recipient: %w", err)
	}
	return firstNonEmptyString(email, p.Email), nil
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
func (db *DB) ClaimNotifications(ctx context.Context, limit int, lease time.Duration) ([]rolegate.Notification, error) {
	if limit <= 0 {
		return nil, nil
	}
	var out []rolegate.Notification
	err := db.update(ctx, func(tx *Tx) error {
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
func (db *DB) ReleaseNotificationLeases(ctx context.Context) (int64, error) {
	var n int64
	err := db.update(ctx, func(tx *Tx) error {
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
func (db *DB) NotificationSent(ctx context.Context, n *rolegate.Notification) error {
	return db.finishNotification(ctx, n, `state = 'sent', sent_at = ?, last_error = ''`, func(tx *Tx) []any {
		return []any{ms(tx.now)}
	}, rolegate.OutcomeSuccess, deliveryOf(n, ""))
}

// NotificationFailed records that n will not be delivered: reason (free of
// secrets) is kept on the row and in the audit trail.
func (db *DB) NotificationFailed(ctx context.Context, n *rolegate.Notification, reason string) error {
	return db.finishNotification(ctx, n, `state = 'failed', last_error = ?`, func(*Tx) []any {
		return []any{reason}
	}, rolegate.OutcomeFailure, rolegate.NotificationFailed(deliveryOf(n, reason)))
}

// RetryNotificationLater puts n back in the queue to be tried after delay.
// Only the final outcome goes to the audit trail; each failed attempt is
// logged by the worker.
func (db *DB) RetryNotificationLater(ctx context.Context, n *rolegate.Notification, delay time.Duration, reason string) error {
	return db.finishNotification(ctx, n, `state = 'queued', run_after = ?, last_error = ?`, func(tx *Tx) []any {
		return []any{ms(tx.now.Add(delay)), reason}
	}, "", nil)
}

// finishNotification applies set to n while it is still the attempt that
// was claimed, and appends the outcome event d unless it is nil.
func (db *DB) finishNotification(ctx context.Context, n *rolegate.Notification, set string, args func(*Tx) []any,
	outcome string, d rolegate.Details) error {
	return db.update(ctx, func(tx *Tx) error {
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
		return tx.appendEvent(ctx, e)
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
func (db *DB) NextNotificationDue(ctx context.Context) (time.Time, error) {
	var next sql.NullInt64
	err := db.read.QueryRowContext(ctx, `SELECT MIN(CASE WHEN state = 'queued' THEN run_after ELSE lease_until END)
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
func (db *DB) NotificationsOf(ctx context.Context, requestID int64) ([]rolegate.Notification, error) {
	rows, err := db.read.QueryContext(ctx, `SELECT `+notificationColumns+` FROM notifications
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
func (db *DB) DeleteOldNotifications(ctx context.Context, olderThan time.Duration) (int64, error) {
	var n int64
	err := db.update(ctx, func(tx *Tx) error {
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

// RemindPending reminds the approvers of every request pending (and not
// past its deadline) for longer than after since its submission or its last
// reminder: one audit event per
// request (request.reminder), which queues the messages like any other
// event. It returns how many requests it reminded about.
func (s *Requests) RemindPending(ctx context.Context, after time.Duration) (int, error) {
	db := s.db
	if after <= 0 {
		return 0, nil
	}
	due := func(q querier, now time.Time) ([]int64, error) {
		rows, err := q.QueryContext(ctx, `SELECT r.id FROM requests r LEFT JOIN request_reminders m ON m.request_id = r.id
			WHERE r.status = 'pending' AND r.expires_at > ? AND COALESCE(m.last_at, r.created_at) <= ? ORDER BY r.id`,
			ms(now), ms(now.Add(-after)))
		if err != nil {
			return nil, fmt.Errorf("sqlite: requests due a reminder: %w", err)
		}
		defer rows.Close()
		var ids []int64
		for rows.Next() {
			var id int64
			if err := rows.Scan(&id); err != nil {
				return nil, err
			}
			ids = append(ids, id)
		}
		return ids, rows.Err()
	}
	ids, err := due(db.read, db.now())
	if err != nil {
		return 0, err
	}
	n := 0
	for _, id := range ids {
		err := db.update(ctx, func(tx *Tx) error {
			// Check again inside the transaction: a decision may have come in.
			var status string
			var created, expires, last, count sql.NullInt64
			err := tx.QueryRowContext(ctx, `SELECT r.status, r.created_at, r.expires_at, m.last_at, m.reminders FROM requests r
				LEFT JOIN request_reminders m ON m.request_id = r.id WHERE r.id = ?`, id).Scan(&status, &created, &expires, &last, &count)
			if err != nil {
				return fmt.Errorf("sqlite: reminder for %d: %w", id, err)
			}
			since := created.Int64
			if last.Valid {
				since = last.Int64
			}
			// A request past its deadline is about to expire, not to be reviewed.
			if status != string(rolegate.StatusPending) || !fromMS(expires.Int64).After(tx.now) || fromMS(since).Add(after).After(tx.now) {
				return errSkip
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO request_reminders (request_id, last_at, reminders) VALUES (?, ?, 1)
				ON CONFLICT (request_id) DO UPDATE SET last_at = excluded.last_at, reminders = reminders + 1`,
				id, ms(tx.now)); err != nil {
				return fmt.Errorf("sqlite: record reminder for %d: %w", id, err)
			}
			req, err := getRequest(ctx, tx, id)
			if err != nil {
				return err
			}
			return tx.appendRequestEvent(ctx, rolegate.System("reminder"), req, rolegate.OutcomeSuccess, rolegate.RequestReminder{
				PendingFor: tx.now.Sub(req.CreatedAt).Round(time.Minute).String(),
				Reminder:   count.Int64 + 1,
			})
		})
		switch {
		case err == nil:
			n++
		case errors.Is(err, errSkip):
		default:
			return n, err
		}
	}
	return n, nil
}
