package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/rolegate/rolegate/internal/rolegate"
)

// maxDraftPath matches the draft_path column's check.
const maxDraftPath = 200

// KeepDraft keeps draft for the page at path on the session named by token,
// in place of any draft kept before; the person's other sessions lose
// theirs in the same transaction (one draft per person, as on SQLite:
// internal/sqlite/drafts.go says why).
func (ss *Sessions) KeepDraft(ctx context.Context, token, path, draft string) error {
	if len(draft) > rolegate.MaxDraftBytes || len(path) > maxDraftPath || path == "" {
		return fmt.Errorf("postgres: keep draft: %d bytes for a path of %d; at most %d and %d", len(draft), len(path), rolegate.MaxDraftBytes, maxDraftPath)
	}
	return ss.db.update(ctx, func(tx *Tx) error {
		id := rolegate.TokenHash(token)
		var person string
		// Locked, so that two drafts of one person kept at once on two
		// nodes end with one, not each clearing the other's.
		err := tx.QueryRow(ctx, `SELECT person_key FROM sessions WHERE id_hash = $1 FOR UPDATE`, id).Scan(&person)
		if errors.Is(err, pgx.ErrNoRows) {
			return rolegate.ErrNoSession
		} else if err != nil {
			return fmt.Errorf("postgres: keep draft: %w", err)
		}
		if _, err := tx.Exec(ctx, `UPDATE sessions SET draft_path = '', draft = ''
			WHERE person_key = $1 AND id_hash <> $2 AND draft_path <> ''`, person, id); err != nil {
			return fmt.Errorf("postgres: keep draft: clear the person's other drafts: %w", err)
		}
		if _, err := tx.Exec(ctx, `UPDATE sessions SET draft_path = $1, draft = $2 WHERE id_hash = $3`, path, draft, id); err != nil {
			return fmt.Errorf("postgres: keep draft: %w", err)
		}
		return nil
	})
}

// TakeDraft returns the draft kept on the session named by token for the
// page at path, and clears it: a draft is shown once, by one node. A draft
// kept for another page stays; "" when there is none.
func (ss *Sessions) TakeDraft(ctx context.Context, token, path string) (string, error) {
	if token == "" {
		return "", nil
	}
	var draft string
	err := ss.db.pool.QueryRow(ctx, `UPDATE sessions s SET draft_path = '', draft = ''
		FROM (SELECT id_hash, draft FROM sessions WHERE id_hash = $1 AND draft_path = $2 FOR UPDATE) old
		WHERE s.id_hash = old.id_hash RETURNING old.draft`, rolegate.TokenHash(token), path).Scan(&draft)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil
	} else if err != nil {
		return "", fmt.Errorf("postgres: take draft: %w", err)
	}
	return draft, nil
}
