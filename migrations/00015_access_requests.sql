-- Access requests (issue 17): a request is of a kind, 'role' (a new custom
-- role; every request before this migration) or 'access' (an existing role
-- of the picture assigned to a group or a user of the organization, until
-- a time). An access request keeps the role's id, name and scope as the
-- picture had them, the grantee as the picture named it, and the end of
-- access (access_until, Unix ms; 0: no end). Its payload is the assign
-- call's body, {"role_id":"…"}, and its binding covers the whole assign
-- call (binding version 2).
--
-- The role-name uniqueness of open requests is a rule of new roles only;
-- access requests have their own: one open request per role and grantee.
--
-- access_grants is what happens to an assignment rolegate made, from the
-- moment it exists upstream: the durable removal at access_until (or
-- earlier, an admin's Revoke access), claimed with a lease like a
-- provisioning job, so that it happens exactly once across restarts and
-- crashes (maybe_upstream: a DELETE may have left the process, so the
-- next attempt looks before deleting again), and how it ended.

-- +goose Up
ALTER TABLE requests ADD COLUMN kind TEXT NOT NULL DEFAULT 'role' CHECK (kind IN ('role', 'access'));
ALTER TABLE requests ADD COLUMN grantee_kind TEXT NOT NULL DEFAULT '' CHECK (grantee_kind IN ('', 'group', 'user'));
ALTER TABLE requests ADD COLUMN grantee_id TEXT NOT NULL DEFAULT '';
ALTER TABLE requests ADD COLUMN grantee_name TEXT NOT NULL DEFAULT '';
ALTER TABLE requests ADD COLUMN grantee_email TEXT NOT NULL DEFAULT '';
ALTER TABLE requests ADD COLUMN access_role_id TEXT NOT NULL DEFAULT '';
ALTER TABLE requests ADD COLUMN access_until INTEGER NOT NULL DEFAULT 0;

DROP INDEX requests_open_role_name;
CREATE UNIQUE INDEX requests_open_role_name ON requests (scope, role_name_key)
    WHERE kind = 'role' AND status IN ('pending','approved','provisioning','failed') AND abandoned_at = 0;
CREATE UNIQUE INDEX requests_open_grant ON requests (scope, access_role_id, grantee_kind, grantee_id)
    WHERE kind = 'access' AND status IN ('pending','approved','provisioning','failed') AND abandoned_at = 0;

CREATE TABLE access_grants (
    request_id     INTEGER PRIMARY KEY REFERENCES requests (id),
    -- active: the assignment exists upstream; removing: its removal is
    -- queued or running; revoked: it no longer exists (removed by rolegate,
    -- or found removed outside it: drift); failed: the removal failed and
    -- waits for an admin's retry
    state          TEXT NOT NULL CHECK (state IN ('active', 'removing', 'revoked', 'failed')),
    access_until   INTEGER NOT NULL,            -- 0: no end
    reminded_at    INTEGER NOT NULL DEFAULT 0,  -- the requester was told it ends soon
    attempts       INTEGER NOT NULL DEFAULT 0,
    run_after      INTEGER NOT NULL DEFAULT 0,
    lease_owner    TEXT NOT NULL DEFAULT '',
    lease_until    INTEGER NOT NULL DEFAULT 0,
    maybe_upstream INTEGER NOT NULL DEFAULT 0,
    last_error     TEXT NOT NULL DEFAULT '',
    -- why it ends: 'expired' (Until came), 'revoked' (an admin), 'drift'
    -- (removed outside rolegate first); '' while active
    end_cause      TEXT NOT NULL DEFAULT '' CHECK (end_cause IN ('', 'expired', 'revoked', 'drift')),
    end_reason     TEXT NOT NULL DEFAULT '',
    ended_by_key   TEXT NOT NULL DEFAULT '',
    ended_at       INTEGER NOT NULL DEFAULT 0,
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL
) STRICT;
-- What is due: access that ends, removals to run.
CREATE INDEX access_grants_due ON access_grants (state, access_until) WHERE state IN ('active', 'removing', 'failed');

-- +goose Down
DROP INDEX access_grants_due;
DROP TABLE access_grants;
DROP INDEX requests_open_grant;
DROP INDEX requests_open_role_name;
CREATE UNIQUE INDEX requests_open_role_name ON requests (scope, role_name_key)
    WHERE status IN ('pending','approved','provisioning','failed') AND abandoned_at = 0;
ALTER TABLE requests DROP COLUMN access_until;
ALTER TABLE requests DROP COLUMN access_role_id;
ALTER TABLE requests DROP COLUMN grantee_email;
ALTER TABLE requests DROP COLUMN grantee_name;
ALTER TABLE requests DROP COLUMN grantee_id;
ALTER TABLE requests DROP COLUMN grantee_kind;
ALTER TABLE requests DROP COLUMN kind;
