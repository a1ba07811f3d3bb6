-- The initial schema: people, requests and their approvals, the provisioning
-- queue, sessions and sign-in attempts, and the append-only audit trail.
-- Times are INTEGER Unix milliseconds (UTC).

-- +goose Up
CREATE TABLE people (
    person_key   TEXT PRIMARY KEY,           -- issuer|subject, never the email
    issuer       TEXT NOT NULL,
    subject      TEXT NOT NULL,
    email        TEXT NOT NULL DEFAULT '',
    name         TEXT NOT NULL DEFAULT '',
    roles        TEXT NOT NULL DEFAULT '',   -- portal roles at the last sign-in
    last_seen_at INTEGER NOT NULL
) STRICT;

CREATE TABLE requests (
    id                     INTEGER PRIMARY KEY,
    role_name              TEXT NOT NULL,
    role_name_key          TEXT NOT NULL,    -- lower(role_name): names collide case-insensitively
    permissions            TEXT NOT NULL,    -- JSON array, sorted
    description            TEXT NOT NULL DEFAULT '',
    justification          TEXT NOT NULL,
    payload                BLOB NOT NULL,    -- the exact body for POST /v1/organization/roles
    payload_hash           TEXT NOT NULL,    -- hex SHA-256 of payload
    status                 TEXT NOT NULL CHECK (status IN
                             ('pending','approved','provisioning','provisioned','failed','rejected','cancelled','expired')),
    requester_key          TEXT NOT NULL,
    requester_email        TEXT NOT NULL DEFAULT '',
    requester_name         TEXT NOT NULL DEFAULT '',
    required_approvals     INTEGER NOT NULL CHECK (required_approvals >= 1),
    created_at             INTEGER NOT NULL,
    updated_at             INTEGER NOT NULL,
    expires_at             INTEGER NOT NULL,
    upstream_role_id       TEXT NOT NULL DEFAULT '',
    upstream_resource_type TEXT NOT NULL DEFAULT '',
    upstream_role          TEXT NOT NULL DEFAULT '', -- the Role JSON returned upstream
    failure_message        TEXT NOT NULL DEFAULT ''
) STRICT;

-- One open request per role name; a provisioned name is checked upstream.
CREATE UNIQUE INDEX requests_open_role_name ON requests (role_name_key)
    WHERE status IN ('pending','approved','provisioning','failed');
CREATE INDEX requests_by_requester ON requests (requester_key, id DESC);
CREATE INDEX requests_by_status ON requests (status, id);

CREATE TABLE approvals (
    request_id     INTEGER NOT NULL REFERENCES requests (id),
    approver_key   TEXT NOT NULL,
    approver_email TEXT NOT NULL DEFAULT '',
    approver_name  TEXT NOT NULL DEFAULT '',
    payload_hash   TEXT NOT NULL,            -- what exactly was approved
    comment        TEXT NOT NULL DEFAULT '',
    created_at     INTEGER NOT NULL,
    PRIMARY KEY (request_id, approver_key)
) STRICT;

-- The durable hand-off from approval to the provisioning worker.
CREATE TABLE provisioning_jobs (
    request_id     INTEGER PRIMARY KEY REFERENCES requests (id),
    state          TEXT NOT NULL CHECK (state IN ('queued','running','done','failed')),
    attempts       INTEGER NOT NULL DEFAULT 0,
    run_after      INTEGER NOT NULL,
    lease_owner    TEXT NOT NULL DEFAULT '',
    lease_until    INTEGER NOT NULL DEFAULT 0,
    -- set before a create call leaves the process: the next attempt must
    -- look the role up before creating it again
    maybe_upstream INTEGER NOT NULL DEFAULT 0,
    last_error     TEXT NOT NULL DEFAULT '',
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL
) STRICT;
CREATE INDEX provisioning_jobs_ready ON provisioning_jobs (state, run_after);

CREATE TABLE sessions (
    id_hash       TEXT PRIMARY KEY,          -- SHA-256 of the cookie value; the value itself is never stored
    person_key    TEXT NOT NULL,
    issuer        TEXT NOT NULL,
    subject       TEXT NOT NULL,
    email         TEXT NOT NULL DEFAULT '',
    name          TEXT NOT NULL DEFAULT '',
    roles         TEXT NOT NULL DEFAULT '',
    csrf_token    TEXT NOT NULL,
    auth_time     INTEGER NOT NULL,          -- last authentication at the provider
    created_at    INTEGER NOT NULL,
    last_seen_at  INTEGER NOT NULL,
    expires_at    INTEGER NOT NULL           -- absolute limit
) STRICT;
CREATE INDEX sessions_by_person ON sessions (person_key);

-- A sign-in in flight: state, nonce and PKCE verifier kept server-side and
-- bound to the browser by a short-lived cookie.
CREATE TABLE signin_attempts (
    id_hash       TEXT PRIMARY KEY,
    state         TEXT NOT NULL,
    nonce         TEXT NOT NULL,
    code_verifier TEXT NOT NULL,
    return_to     TEXT NOT NULL,
    max_age_ms    INTEGER NOT NULL DEFAULT 0,
    -- an action to complete once the person has signed in again (approving
    -- after a re-authentication): JSON, bound to the same person
    pending_action TEXT NOT NULL DEFAULT '',
    created_at    INTEGER NOT NULL,
    expires_at    INTEGER NOT NULL
) STRICT;

-- The permission catalog built from the upstream's roles, cached.
CREATE TABLE upstream_roles_cache (
    id           INTEGER PRIMARY KEY CHECK (id = 1),
    roles        TEXT NOT NULL,              -- JSON array of {id,name,permissions,predefined}
    refreshed_at INTEGER NOT NULL
) STRICT;

CREATE TABLE audit_events (
    seq             INTEGER PRIMARY KEY,
    at              INTEGER NOT NULL,
    actor_key       TEXT NOT NULL,
    actor_email     TEXT NOT NULL DEFAULT '',
    actor_name      TEXT NOT NULL DEFAULT '',
    actor_roles     TEXT NOT NULL DEFAULT '',
    action          TEXT NOT NULL,
    request_id      INTEGER,                 -- NULL when no request is concerned
    role_name       TEXT NOT NULL DEFAULT '',
    outcome         TEXT NOT NULL,
    details         TEXT NOT NULL DEFAULT '{}',
    client_ip       TEXT NOT NULL DEFAULT '',
    user_agent      TEXT NOT NULL DEFAULT '',
    http_request_id TEXT NOT NULL DEFAULT '',
    prev_hash       TEXT NOT NULL,
    hash            TEXT NOT NULL
) STRICT;
CREATE INDEX audit_events_by_request ON audit_events (request_id, seq) WHERE request_id IS NOT NULL;
CREATE INDEX audit_events_by_action ON audit_events (action, seq);
CREATE INDEX audit_events_by_at ON audit_events (at, seq);

-- The trail is append-only: the database itself refuses to rewrite history.
-- +goose StatementBegin
CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
BEGIN
    SELECT RAISE(ABORT, 'audit_events is append-only');
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
BEGIN
    SELECT RAISE(ABORT, 'audit_events is append-only');
END;
-- +goose StatementEnd

-- +goose Down
DROP TRIGGER audit_events_no_delete;
DROP TRIGGER audit_events_no_update;
DROP TABLE audit_events;
DROP TABLE upstream_roles_cache;
DROP TABLE signin_attempts;
DROP TABLE sessions;
DROP TABLE provisioning_jobs;
DROP TABLE approvals;
DROP TABLE requests;
DROP TABLE people;
