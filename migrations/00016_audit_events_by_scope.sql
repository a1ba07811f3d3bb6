-- The Audit page's Scope filter keeps an event whose details name the
-- scope, or whose request is of that scope. Without an index for the
-- first half, a scope few events are about (a project, a project no event
-- names) was searched by reading the whole trail: about 2.5 s at
-- 1,000,000 events. This index holds only the events whose details
-- mention a scope, by the scope they name. Its key is guarded by
-- json_valid, so that no append ever fails on details that are not JSON
-- (the trail takes them as they are). internal/sqlite/audit_query.go
-- writes the same expressions to use it.

-- +goose Up
CREATE INDEX audit_events_by_scope ON audit_events
    ((CASE WHEN json_valid(details) THEN json_extract(details, '$.scope') END), seq)
    WHERE instr(details, '"scope"') > 0;

-- +goose Down
DROP INDEX audit_events_by_scope;
