-- Sign-ins in flight no longer live in the database: the attempt (state,
-- nonce, PKCE verifier, return path) is sealed into a short-lived cookie, so
-- that no anonymous client can fill a shared table and block every sign-in.
-- The approval waiting for an approver's re-authentication is the only part
-- that needs the server: it belongs to a signed-in session, so it moves
-- there (one per session, taken once, bound to the attempt by its digest).
-- step_up_at is when a prompt=login round trip completed without the
-- provider stating auth_time (ROLEGATE_APPROVE_REAUTH=login).

-- +goose Up
DROP TABLE signin_attempts;
ALTER TABLE sessions ADD COLUMN pending_action TEXT NOT NULL DEFAULT '';
ALTER TABLE sessions ADD COLUMN step_up_at INTEGER NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE sessions DROP COLUMN step_up_at;
ALTER TABLE sessions DROP COLUMN pending_action;
CREATE TABLE signin_attempts (
    id_hash       TEXT PRIMARY KEY,
    state         TEXT NOT NULL,
    nonce         TEXT NOT NULL,
    code_verifier TEXT NOT NULL,
    return_to     TEXT NOT NULL,
    max_age_ms    INTEGER NOT NULL DEFAULT 0,
    pending_action TEXT NOT NULL DEFAULT '',
    created_at    INTEGER NOT NULL,
    expires_at    INTEGER NOT NULL
) STRICT;
