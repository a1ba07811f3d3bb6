-- Admins may abandon a failed request's provisioning: the request stays
-- failed, is never retried, and no longer holds its role name. The live
-- name check looks requests up by name, so it gets an index of its own.

-- +goose Up
ALTER TABLE requests ADD COLUMN abandoned_at INTEGER NOT NULL DEFAULT 0;

DROP INDEX requests_open_role_name;
CREATE UNIQUE INDEX requests_open_role_name ON requests (role_name_key)
    WHERE status IN ('pending','approved','provisioning','failed') AND abandoned_at = 0;
CREATE INDEX requests_by_role_name ON requests (role_name_key, id DESC);

-- +goose Down
DROP INDEX requests_by_role_name;
DROP INDEX requests_open_role_name;
CREATE UNIQUE INDEX requests_open_role_name ON requests (role_name_key)
    WHERE status IN ('pending','approved','provisioning','failed');
ALTER TABLE requests DROP COLUMN abandoned_at;
