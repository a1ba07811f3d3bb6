-- Project roles: a request names where its role is created (its scope: ''
-- for the organization, else a project's id, with the project's name as the
-- picture had it at submission), and how its approvals are bound
-- (binding_version 1: the SHA-256 of the body alone, which every request
-- filed before this migration has, and whose call can only be the
-- organization's; 2: the SHA-256 of the whole call, method, path and body,
-- in binding_hash). Role names are unique within their scope, so the
-- one-open-request-per-name index becomes one per scope and name.

-- +goose Up
ALTER TABLE requests ADD COLUMN scope TEXT NOT NULL DEFAULT '';
ALTER TABLE requests ADD COLUMN scope_name TEXT NOT NULL DEFAULT '';
ALTER TABLE requests ADD COLUMN binding_version INTEGER NOT NULL DEFAULT 1;
ALTER TABLE requests ADD COLUMN binding_hash TEXT NOT NULL DEFAULT '';
UPDATE requests SET binding_hash = payload_hash;

DROP INDEX requests_open_role_name;
CREATE UNIQUE INDEX requests_open_role_name ON requests (scope, role_name_key)
    WHERE status IN ('pending','approved','provisioning','failed') AND abandoned_at = 0;
DROP INDEX requests_by_role_name;
CREATE INDEX requests_by_role_name ON requests (scope, role_name_key, id DESC);

-- +goose Down
DROP INDEX requests_by_role_name;
CREATE INDEX requests_by_role_name ON requests (role_name_key, id DESC);
DROP INDEX requests_open_role_name;
CREATE UNIQUE INDEX requests_open_role_name ON requests (role_name_key)
    WHERE status IN ('pending','approved','provisioning','failed') AND abandoned_at = 0;
ALTER TABLE requests DROP COLUMN binding_hash;
ALTER TABLE requests DROP COLUMN binding_version;
ALTER TABLE requests DROP COLUMN scope_name;
ALTER TABLE requests DROP COLUMN scope;
