package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/rolegate/rolegate/internal/rolegate"
)

// maxDraftPath matches the draft_path column's check (migration 00010).
const maxDraftPath = 200

// KeepDraft keeps draft for the page at path on the session named by token,
// in place of any draft kept before. The person's other sessions lose
// theirs in the same transaction: a signed-in person can open sessions one
// sign-in after another, and one draft each would let them store
// MaxDraftBytes per sign-in. A draft lives for the few milliseconds of a
// redirect, so nobody loses one in practice.
func (ss *Sessions) KeepDraft(ctx context.Context, token, path, draft string) error {
	if len(draft) > rolegate.MaxDraftBytes || len(path) > maxDraftPath || path == "" {
		return fmt.Errorf("sqlite: keep draft: %d bytes for a path of %d; at most %d and %d", len(draft), len(path), rolegate.MaxDraftBytes, maxDraftPath)
	}
	return ss.db.update(ctx, func(tx *Tx) error {
		id := hashToken(token)
		var person string
		err := tx.QueryRowContext(ctx, `SELECT person_key FROM sessions WHERE id_hash = ?`, id).Scan(&person)
		if errors.Is(err, sql.ErrNoRows) {
			return rolegate.ErrNoSession
		} else if err != nil {
			return fmt.Errorf("sqlite: keep draft: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE sessions SET draft_path = '', draft = ''
			WHERE person_key = ? AND id_hash != ? AND draft_path != ''`, person, id); err != nil {
			return fmt.Errorf("sqlite: keep draft: clear the person's other drafts: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE sessions SET draft_path = ?, draft = ? WHERE id_hash = ?`, path, draft, id); err != nil {
			return fmt.Errorf("sqlite: keep draft: %w", err)
		}
		return nil
	})
}

// TakeDraft returns the draft kept on the session named by token for the
// page at path, and clears it: a draft is shown once. A draft kept for
// another page stays (its page may still come); "" when there is none.
func (ss *Sessions) TakeDraft(ctx context.Context, token, path string) (string, error) {
	if token == "" {
		return "", nil
	}
	var draft string
	err := ss.db.update(ctx, func(tx *Tx) error {
		id := hashToken(token)
		err := tx.QueryRowContext(ctx, `SELECT draft FROM sessions WHERE id_hash = ? AND draft_path = ?`, id, path).Scan(&draft)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		} else if err != nil {
			return fmt.Errorf("sqlite: take draft: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE sessions SET draft_path = '', draft = '' WHERE id_hash = ?`, id); err != nil {
			return fmt.Errorf("sqlite: take draft: %w", err)
		}
		return nil
	})
	return draft, err
}
