-- The organization's projects, as the picture last read them (every page of
-- GET /v1/organization/projects, archived ones included): the New request
-- form offers the active ones by name, a submission refuses an archived or
-- unknown one by name, and the Roles page names a project role's project.
-- The roles of every active project are in org_roles under the project's
-- id (scope). Times are Unix milliseconds.

-- +goose Up
CREATE TABLE projects (
    project_id    TEXT PRIMARY KEY,             -- upstream id, proj_…
    name          TEXT NOT NULL,
    name_key      TEXT NOT NULL,                -- lower(name), for the form's order
    archived      INTEGER NOT NULL DEFAULT 0,
    first_seen_at INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
) STRICT;
CREATE INDEX projects_by_name ON projects (archived, name_key, project_id);

-- +goose Down
DROP INDEX projects_by_name;
DROP TABLE projects;
