-- The audit search: an index per filter that can drive a query, a full-text
-- index over the free text of each event, and per-action and per-actor
-- counts. Every search is a walk down one index in seq order (newest first)
-- that stops after a page; the counts let internal/sqlite choose the index
-- that reaches a page after the fewest rows (see audit_query.go).

-- +goose Up
-- Events by actor, newest first: the Actor filter.
CREATE INDEX audit_events_by_actor ON audit_events (actor_key, seq);

-- The Action filter's choices and each action's number of events.
CREATE TABLE audit_actions (
    action TEXT PRIMARY KEY,
    events INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

-- Who has acted, under which email and name, and how often: the Actor
-- filter matches people here first, then walks their events.
CREATE TABLE audit_actors (
    actor_key   TEXT NOT NULL,
    actor_email TEXT NOT NULL,
    actor_name  TEXT NOT NULL,
    events      INTEGER NOT NULL,
    PRIMARY KEY (actor_key, actor_email, actor_name)
) STRICT, WITHOUT ROWID;

-- Free text: the role name, the values (not the keys) of the details, the
-- client address and the HTTP request id, so that an auditor can go from a
-- log line or an address to the events. Contentless: the text lives in
-- audit_events; rowid = seq.
CREATE VIRTUAL TABLE audit_events_fts USING fts5 (
    role_name, details, client_ip, http_request_id,
    content = '', tokenize = 'unicode61 remove_diacritics 2'
);
-- How many events hold each word: the planner's estimate for free text.
CREATE VIRTUAL TABLE audit_events_fts_words USING fts5vocab (audit_events_fts, 'row');

-- One trigger keeps the three in step with every append, in the append's
-- transaction. Details that are not JSON (never written by rolegate) are
-- indexed as they are rather than failing the append.
-- +goose StatementBegin
CREATE TRIGGER audit_events_search AFTER INSERT ON audit_events
BEGIN
    INSERT INTO audit_events_fts (rowid, role_name, details, client_ip, http_request_id)
    VALUES (NEW.seq, NEW.role_name,
        CASE WHEN json_valid(NEW.details)
            THEN (SELECT group_concat(value, ' ') FROM json_tree(NEW.details) WHERE type NOT IN ('object', 'array', 'null'))
            ELSE NEW.details END,
        NEW.client_ip, NEW.http_request_id);
    INSERT INTO audit_actions (action, events) VALUES (NEW.action, 1)
        ON CONFLICT (action) DO UPDATE SET events = events + 1;
    INSERT INTO audit_actors (actor_key, actor_email, actor_name, events)
        VALUES (NEW.actor_key, NEW.actor_email, NEW.actor_name, 1)
        ON CONFLICT (actor_key, actor_email, actor_name) DO UPDATE SET events = events + 1;
END;
-- +goose StatementEnd

-- Events written before this migration.
INSERT INTO audit_events_fts (rowid, role_name, details, client_ip, http_request_id)
SELECT seq, role_name,
    CASE WHEN json_valid(details)
        THEN (SELECT group_concat(value, ' ') FROM json_tree(details) WHERE type NOT IN ('object', 'array', 'null'))
        ELSE details END,
    client_ip, http_request_id
FROM audit_events;
INSERT INTO audit_actions (action, events)
SELECT action, count(*) FROM audit_events GROUP BY action;
INSERT INTO audit_actors (actor_key, actor_email, actor_name, events)
SELECT actor_key, actor_email, actor_name, count(*) FROM audit_events GROUP BY actor_key, actor_email, actor_name;

-- +goose Down
DROP TRIGGER audit_events_search;
DROP TABLE audit_events_fts_words;
DROP TABLE audit_events_fts;
DROP TABLE audit_actors;
DROP TABLE audit_actions;
DROP INDEX audit_events_by_actor;
