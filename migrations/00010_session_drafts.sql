-- A refused post answers with a redirect to the page it came from (Post,
-- Redirect, Get), so that reloading that page never sends the post again.
-- What the person typed and why it was refused wait for that page on their
-- own session: one draft per session (the store keeps one per person),
-- taken by the page that shows it. draft_path names that page, so that a
-- page reads the draft only when it is its own; the size checks bound what
-- a signed-in person can store, whatever the web layer sends.

-- +goose Up
ALTER TABLE sessions ADD COLUMN draft_path TEXT NOT NULL DEFAULT '' CHECK (length(draft_path) <= 200);
ALTER TABLE sessions ADD COLUMN draft TEXT NOT NULL DEFAULT '' CHECK (length(CAST(draft AS BLOB)) <= 32768);

-- +goose Down
ALTER TABLE sessions DROP COLUMN draft;
ALTER TABLE sessions DROP COLUMN draft_path;
