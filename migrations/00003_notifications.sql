-- Notifications: the outbox of messages about requests (email and webhooks),
-- written in the same transaction as the audit event that causes them, and
-- the reminders sent about requests still pending.
-- Times are INTEGER Unix milliseconds (UTC).

-- +goose Up
CREATE TABLE notifications (
    id              INTEGER PRIMARY KEY,
    event_seq       INTEGER NOT NULL,        -- the audit event that caused it
    request_id      INTEGER NOT NULL REFERENCES requests (id),
    channel         TEXT NOT NULL CHECK (channel IN ('email','webhook')),
    -- an email address, or "webhook:" and a digest of the URL: webhook URLs
    -- often carry their own secret, so they are never stored
    recipient       TEXT NOT NULL,
    recipient_label TEXT NOT NULL,           -- for logs and the audit trail
    audience        TEXT NOT NULL CHECK (audience IN ('requester','approver','admin','channel')),
    -- JSON: what this recipient may see, as it stood when the event happened
    facts           TEXT NOT NULL,
    state           TEXT NOT NULL CHECK (state IN ('queued','sending','sent','failed')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    run_after       INTEGER NOT NULL,
    lease_until     INTEGER NOT NULL DEFAULT 0,
    last_error      TEXT NOT NULL DEFAULT '',
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    sent_at         INTEGER NOT NULL DEFAULT 0,
    -- each event reaches each recipient on each channel once
    UNIQUE (event_seq, channel, recipient)
) STRICT;
CREATE INDEX notifications_ready ON notifications (state, run_after);
CREATE INDEX notifications_by_request ON notifications (request_id, id);

-- The last reminder about a pending request: approvers are reminded once
-- per ROLEGATE_REMINDER_AFTER.
CREATE TABLE request_reminders (
    request_id INTEGER PRIMARY KEY REFERENCES requests (id),
    last_at    INTEGER NOT NULL,
    reminders  INTEGER NOT NULL
) STRICT;

-- +goose Down
DROP TABLE request_reminders;
DROP TABLE notifications;
