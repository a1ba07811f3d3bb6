-- The organization's directory in the picture (issue 17): its groups, its
-- users and who is in which group, as the picture last read them
-- completely (GET /v1/organization/groups, /users and each group's
-- /users). Access requests find a grantee here by name or email, and the
-- rule that nobody approves access they would receive reads the group
-- membership here. Times are Unix milliseconds.

-- +goose Up
CREATE TABLE org_groups (
    group_id      TEXT PRIMARY KEY,             -- upstream id, group_…
    name          TEXT NOT NULL,
    name_key      TEXT NOT NULL,                -- lower(name), for the order and the search
    first_seen_at INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
) STRICT;
CREATE INDEX org_groups_by_name ON org_groups (name_key, group_id);

CREATE TABLE org_users (
    user_id       TEXT PRIMARY KEY,             -- upstream id, user_…
    name          TEXT NOT NULL DEFAULT '',
    name_key      TEXT NOT NULL DEFAULT '',
    email         TEXT NOT NULL DEFAULT '',     -- '' when the upstream has none
    email_key     TEXT NOT NULL DEFAULT '',     -- lower(email): a sign-in's email finds its user
    first_seen_at INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
) STRICT;
CREATE INDEX org_users_by_email ON org_users (email_key) WHERE email_key <> '';
CREATE INDEX org_users_by_name ON org_users (name_key, user_id);

-- A member need not be among the users read (the lists are read one after
-- the other), so user_id is not a foreign key.
CREATE TABLE org_group_members (
    group_id TEXT NOT NULL REFERENCES org_groups (group_id) ON DELETE CASCADE,
    user_id  TEXT NOT NULL,
    PRIMARY KEY (group_id, user_id)
) STRICT, WITHOUT ROWID;
CREATE INDEX org_group_members_by_user ON org_group_members (user_id, group_id);

-- When the directory was last read completely.
CREATE TABLE org_directory (
    id        INTEGER PRIMARY KEY CHECK (id = 1),
    synced_at INTEGER NOT NULL,
    groups    INTEGER NOT NULL,
    users     INTEGER NOT NULL
) STRICT;

-- +goose Down
DROP TABLE org_directory;
DROP INDEX org_group_members_by_user;
DROP TABLE org_group_members;
DROP INDEX org_users_by_name;
DROP INDEX org_users_by_email;
DROP TABLE org_users;
DROP INDEX org_groups_by_name;
DROP TABLE org_groups;
