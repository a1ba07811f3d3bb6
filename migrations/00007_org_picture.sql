-- The organization's picture: every role upstream as last read completely
-- (internal/picture syncs it), where each came from, and how the roles that
-- rolegate created drifted from what was approved. It replaces the single
-- JSON row of upstream_roles_cache: the Roles page pages and searches it,
-- and the name check finds a name by index. Times are Unix milliseconds.

-- +goose Up
CREATE TABLE org_roles (
    role_id       TEXT PRIMARY KEY,             -- upstream id
    -- '' is the organization; project roles will carry their project's id
    -- (and its name in scope_name), so the picture takes them unchanged.
    scope         TEXT NOT NULL DEFAULT '',
    scope_name    TEXT NOT NULL DEFAULT '',
    name          TEXT NOT NULL,
    name_key      TEXT NOT NULL,                -- lower(name): names collide case-insensitively
    description   TEXT NOT NULL DEFAULT '',
    permissions   TEXT NOT NULL,                -- JSON array, sorted
    resource_type TEXT NOT NULL DEFAULT '',
    predefined    INTEGER NOT NULL DEFAULT 0,
    -- the request that created it; NULL: created outside rolegate
    request_id    INTEGER REFERENCES requests (id),
    first_seen_at INTEGER NOT NULL,
    -- drift of a role rolegate created: '' none, 'changed' (drift_detail
    -- holds the differences from what was approved, JSON), 'deleted'
    drift         TEXT NOT NULL DEFAULT '' CHECK (drift IN ('', 'changed', 'deleted')),
    drift_detail  TEXT NOT NULL DEFAULT '',
    -- the upstream state whose difference was last recorded, so that each
    -- difference reaches the audit trail once, not once per sync
    recorded_state TEXT NOT NULL DEFAULT '',
    -- a role rolegate created stays in the picture once deleted upstream
    -- (Deleted outside rolegate); others leave it
    deleted_at    INTEGER NOT NULL DEFAULT 0,
    -- what Search looks in: the lower-cased name and permissions, one
    -- narrow column, so a search of thousands of roles reads only this
    search_text   TEXT NOT NULL DEFAULT ''
) STRICT;
-- The Roles page in name order, one page at a time; the name check.
CREATE INDEX org_roles_by_name ON org_roles (scope, name_key, role_id);
-- A covering index of the search text: a search scans it, not the table.
CREATE INDEX org_roles_search ON org_roles (search_text, scope, name_key, role_id);
CREATE INDEX org_roles_by_request ON org_roles (request_id) WHERE request_id IS NOT NULL;
CREATE INDEX org_roles_drifted ON org_roles (drift) WHERE drift <> '';

-- When each scope was last read completely.
CREATE TABLE org_picture (
    scope     TEXT PRIMARY KEY,
    synced_at INTEGER NOT NULL,
    roles     INTEGER NOT NULL
) STRICT;

-- Provenance: a role's request by the role's upstream id.
CREATE INDEX requests_by_upstream_role ON requests (upstream_role_id) WHERE upstream_role_id <> '';

-- The picture is rebuilt by the first sync (a baseline: no event for the
-- roles already there).
DROP TABLE upstream_roles_cache;

-- +goose Down
CREATE TABLE upstream_roles_cache (
    id           INTEGER PRIMARY KEY CHECK (id = 1),
    roles        TEXT NOT NULL,
    refreshed_at INTEGER NOT NULL
) STRICT;
DROP INDEX requests_by_upstream_role;
DROP TABLE org_picture;
DROP TABLE org_roles;
