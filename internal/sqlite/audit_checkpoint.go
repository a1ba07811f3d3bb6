package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/rolegate/rolegate/internal/audit"
	"github.com/rolegate/rolegate/internal/rolegate"
)

// AuditHead returns the trail's head and the action of its last event
// ("" when empty), so that the periodic checkpoint can skip a trail that
// has not moved since the last one.
func (t *Trail) AuditHead(ctx context.Context) (audit.Head, string, error) {
	head := audit.Head{Hash: audit.GenesisHash}
	var action string
	err := t.db.readPool.QueryRowContext(ctx, `SELECT seq, hash, action FROM audit_events ORDER BY seq DESC LIMIT 1`).
		Scan(&head.Size, &head.Hash, &action)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return head, "", fmt.Errorf("sqlite: audit head: %w", err)
	}
	return head, action, nil
}

// SignCheckpoint signs the tree's current root as a checkpoint of origin
// and records an audit.checkpoint event holding the signed note, in one
// write transaction: no event can slip in between the head read and the
// record. d says why (Trigger, OSUser); the rest of it is filled in here.
func (t *Trail) SignCheckpoint(ctx context.Context, actor rolegate.Actor, origin string,
	sign func(audit.Checkpoint) ([]byte, error), d rolegate.AuditCheckpoint,
) (audit.Checkpoint, []byte, error) {
	var cp audit.Checkpoint
	var signed []byte
	err := t.db.update(ctx, func(tx *Tx) error {
		cp = audit.Checkpoint{Origin: origin}
		head := audit.GenesisHash
		err := tx.QueryRowContext(ctx, `SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1`).Scan(&cp.Size, &head)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("sqlite: audit head: %w", err)
		}
		root, err := treeRoot(ctx, tx.sqlConn, cp.Size)
		if err != nil {
			return err
		}
		cp.Hash = audit.HexHash(root)
		if signed, err = sign(cp); err != nil {
			return err
		}
		d.Origin, d.Size, d.Root, d.Head, d.Note = cp.Origin, cp.Size, cp.Hash, head, string(signed)
		e := rolegate.NewEvent(actor, rolegate.OutcomeSuccess, d)
		return tx.appendEvent(ctx, &e)
	})
	if err != nil {
		return audit.Checkpoint{}, nil, err
	}
	return cp, signed, nil
}
