package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/rolegate/rolegate/internal/audit"
	"github.com/rolegate/rolegate/internal/rolegate"
)

// The trail's proofs and checkpoints on PostgreSQL, as on SQLite
// (internal/sqlite's audit_checkpoint.go and audit_tree.go): every read
// that must agree with itself runs in one snapshot, and a checkpoint is
// signed under the trail's append lock, so no event from any process
// slips in between the head it reads and the event that records it.

// AuditHead returns the trail's head and the action of its last event
// ("" when empty), so that the periodic checkpoint can skip a trail that
// has not moved since the last one.
func (t *Trail) AuditHead(ctx context.Context) (audit.Head, string, error) {
	head := audit.Head{Hash: audit.GenesisHash}
	var action string
	err := t.db.pool.QueryRow(ctx, `SELECT seq, hash, action FROM audit_events ORDER BY seq DESC LIMIT 1`).
		Scan(&head.Size, &head.Hash, &action)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return head, "", fmt.Errorf("postgres: audit head: %w", err)
	}
	return head, action, nil
}

// SignCheckpoint signs the tree's current root as a checkpoint of origin
// and records an audit.checkpoint event holding the signed note, in one
// transaction under the trail's lock. d says why (Trigger, OSUser); the
// rest of it is filled in here.
func (t *Trail) SignCheckpoint(ctx context.Context, actor rolegate.Actor, origin string,
	sign func(audit.Checkpoint) ([]byte, error), d rolegate.AuditCheckpoint,
) (audit.Checkpoint, []byte, error) {
	var cp audit.Checkpoint
	var signed []byte
	err := t.db.update(ctx, func(tx *Tx) error {
		// The append below takes this lock again: it is the same
		// transaction's, held until commit.
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, appendLock); err != nil {
			return fmt.Errorf("postgres: lock the audit trail: %w", err)
		}
		cp = audit.Checkpoint{Origin: origin}
		head := audit.GenesisHash
		err := tx.QueryRow(ctx, `SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1`).Scan(&cp.Size, &head)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("postgres: audit head: %w", err)
		}
		root, err := treeRoot(ctx, tx, cp.Size)
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

// treeRoot is the root of the tree of the first size events.
func treeRoot(ctx context.Context, q querier, size int64) (tlog.Hash, error) {
	h, err := tlog.TreeHash(size, treeReader{ctx: ctx, q: q})
	if err != nil {
		return tlog.Hash{}, fmt.Errorf("postgres: audit tree root at %d: %w", size, err)
	}
	return h, nil
}

// ProveEvent returns event seq and the proof that it is leaf seq-1 of the
// tree of the first size events, from one snapshot of the trail.
func (t *Trail) ProveEvent(ctx context.Context, seq, size int64) (e rolegate.Event, p tlog.RecordProof, err error) {
	err = t.db.snapshot(ctx, func(tx pgx.Tx) error {
		var err error
		e, err = scanEvent(tx.QueryRow(ctx, `SELECT `+eventColumns+` FROM audit_events WHERE seq = $1`, seq))
		if errors.Is(err, pgx.ErrNoRows) || seq < 1 || seq > size {
			return audit.ErrNotInTree
		}
		if err != nil {
			return fmt.Errorf("postgres: prove event %d: %w", seq, err)
		}
		if p, err = tlog.ProveRecord(size, seq-1, treeReader{ctx: ctx, q: tx}); err != nil {
			return fmt.Errorf("postgres: prove event %d in the tree of %d: %w", seq, size, err)
		}
		return nil
	})
	if err != nil {
		return rolegate.Event{}, nil, err
	}
	return e, p, nil
}

// memHashes serves hashes already read.
type memHashes map[int64]tlog.Hash

func (m memHashes) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(indexes))
	for i, idx := range indexes {
		h, ok := m[idx]
		if !ok {
			return nil, fmt.Errorf("postgres: audit tree hash %d was not read", idx)
		}
		out[i] = h
	}
	return out, nil
}

// proveEvents reads the proofs of many events in the tree of size with
// one query: tlog.ProveRecord is first run with a reader that only notes
// the hashes it asks for, then again over the hashes read.
func proveEvents(ctx context.Context, q querier, seqs []int64, size int64) ([]tlog.RecordProof, error) {
	var need []int64
	noting := tlog.HashReaderFunc(func(idx []int64) ([]tlog.Hash, error) {
		need = append(need, idx...)
		return make([]tlog.Hash, len(idx)), nil
	})
	for _, seq := range seqs {
		if _, err := tlog.ProveRecord(size, seq-1, noting); err != nil {
			return nil, fmt.Errorf("postgres: prove event %d in the tree of %d: %w", seq, size, err)
		}
	}
	hashes, err := treeReader{ctx: ctx, q: q}.ReadHashes(need)
	if err != nil {
		return nil, err
	}
	read := make(memHashes, len(need))
	for i, idx := range need {
		read[idx] = hashes[i]
	}
	proofs := make([]tlog.RecordProof, len(seqs))
	for i, seq := range seqs {
		if proofs[i], err = tlog.ProveRecord(size, seq-1, read); err != nil {
			return nil, fmt.Errorf("postgres: prove event %d in the tree of %d: %w", seq, size, err)
		}
	}
	return proofs, nil
}

// ProveTree returns the proof that the tree of the first newSize events
// extends the tree of the first oldSize, and the root at newSize.
func (t *Trail) ProveTree(ctx context.Context, oldSize, newSize int64) (p tlog.TreeProof, root tlog.Hash, err error) {
	err = t.db.snapshot(ctx, func(tx pgx.Tx) error {
		var size int64
		if err := tx.QueryRow(ctx, `SELECT COALESCE(MAX(seq), 0) FROM audit_events`).Scan(&size); err != nil {
			return fmt.Errorf("postgres: prove tree: %w", err)
		}
		if newSize > size || oldSize > newSize || oldSize < 0 {
			return fmt.Errorf("postgres: no consistency proof from %d to %d events in a trail of %d: %w", oldSize, newSize, size, audit.ErrNotInTree)
		}
		var err error
		if root, err = treeRoot(ctx, tx, newSize); err != nil {
			return err
		}
		if oldSize == 0 {
			p = tlog.TreeProof{} // every tree extends the empty one
			return nil
		}
		if p, err = tlog.ProveTree(newSize, oldSize, treeReader{ctx: ctx, q: tx}); err != nil {
			return fmt.Errorf("postgres: prove tree from %d to %d: %w", oldSize, newSize, err)
		}
		return nil
	})
	if err != nil {
		return nil, tlog.Hash{}, err
	}
	return p, root, nil
}

// LatestCheckpoint returns the newest checkpoint recorded in the trail
// that signs the tree's root, with its note; ok is false when there is
// none yet. A checkpoint that matches nothing is audit.ErrTrailChanged.
func (t *Trail) LatestCheckpoint(ctx context.Context) (cp audit.Checkpoint, note []byte, ok bool, err error) {
	err = t.db.snapshot(ctx, func(tx pgx.Tx) error {
		cp, note, ok, err = latestCheckpoint(ctx, tx, -1)
		return err
	})
	return cp, note, ok, err
}

// CheckpointOfSize is LatestCheckpoint among the checkpoints of exactly
// size events.
func (t *Trail) CheckpointOfSize(ctx context.Context, size int64) (cp audit.Checkpoint, note []byte, ok bool, err error) {
	err = t.db.snapshot(ctx, func(tx pgx.Tx) error {
		cp, note, ok, err = latestCheckpoint(ctx, tx, size)
		return err
	})
	return cp, note, ok, err
}

// latestCheckpoint reads the newest recorded checkpoint, of any size
// (size < 0) or of size events.
func latestCheckpoint(ctx context.Context, q querier, size int64) (cp audit.Checkpoint, note []byte, ok bool, err error) {
	var s string
	// Planned for its values each time: a generic plan (what a cached
	// statement gets after five runs) walks the whole trail newest first
	// for the rare action rather than down its index (half a second at a
	// million events, on every Audit page).
	err = q.QueryRow(ctx, `SELECT COALESCE(details::jsonb ->> 'note', '') FROM audit_events
		WHERE action = $1 AND ($2 < 0 OR (details::jsonb ->> 'size')::bigint = $2) ORDER BY seq DESC LIMIT 1`,
		pgx.QueryExecModeExec, rolegate.ActionAuditCheckpoint, size).Scan(&s)
	if errors.Is(err, pgx.ErrNoRows) {
		return cp, nil, false, nil
	}
	if err != nil {
		return cp, nil, false, fmt.Errorf("postgres: latest checkpoint: %w", err)
	}
	if cp, err = audit.ParseNote([]byte(s)); err != nil {
		return cp, nil, false, fmt.Errorf("postgres: latest checkpoint: %w", err)
	}
	root, err := treeRoot(ctx, q, cp.Size)
	if err != nil {
		return cp, nil, false, err
	}
	if audit.HexHash(root) == cp.Hash {
		return cp, []byte(s), true, nil
	}
	head := audit.GenesisHash
	if cp.Size > 0 {
		if err := q.QueryRow(ctx, `SELECT hash FROM audit_events WHERE seq = $1`, cp.Size).Scan(&head); err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return cp, nil, false, fmt.Errorf("postgres: latest checkpoint: %w", err)
		}
	}
	if head == cp.Hash {
		return cp, nil, false, nil // signed before the tree: a chain hash, no root
	}
	return cp, nil, false, fmt.Errorf("postgres: checkpoint of %d events: %w", cp.Size, audit.ErrTrailChanged)
}

// ChainHash is the chain hash of event seq.
func (t *Trail) ChainHash(ctx context.Context, seq int64) (string, error) {
	var h string
	if err := t.db.pool.QueryRow(ctx, `SELECT hash FROM audit_events WHERE seq = $1`, seq).Scan(&h); err != nil {
		return "", fmt.Errorf("postgres: chain hash of event %d: %w", seq, err)
	}
	return h, nil
}

// IncludedIn checks, for each event given that cp covers, that its proof
// from the stored tree leads from the event's content to cp's root, from
// one snapshot. Events after cp are left out of the answer.
func (t *Trail) IncludedIn(ctx context.Context, cp audit.Checkpoint, events []rolegate.Event) (map[int64]bool, error) {
	included := map[int64]bool{}
	var covered []rolegate.Event
	var seqs []int64
	for _, e := range events {
		if e.Seq >= 1 && e.Seq <= cp.Size {
			covered = append(covered, e)
			seqs = append(seqs, e.Seq)
		}
	}
	var proofs []tlog.RecordProof
	err := t.db.snapshot(ctx, func(tx pgx.Tx) error {
		var err error
		proofs, err = proveEvents(ctx, tx, seqs, cp.Size)
		return err
	})
	if err != nil {
		return nil, err
	}
	for i, e := range covered {
		leaf, err := audit.LeafHash(e)
		if err != nil {
			included[e.Seq] = false
			continue
		}
		root, err := audit.RootFromInclusion(e.Seq-1, cp.Size, leaf, proofs[i])
		included[e.Seq] = err == nil && audit.HexHash(root) == cp.Hash
	}
	return included, nil
}

// ExportProvedEvents is ExportEvents with each event's inclusion proof: in
// the latest checkpoint's tree for the events it covers, in the tree of
// the whole trail as the snapshot holds it for the newer ones. Proofs are
// read a batch at a time, so memory stays bounded.
func (t *Trail) ExportProvedEvents(ctx context.Context, f rolegate.AuditFilter, fn func(rolegate.Event, *audit.Proof) error) error {
	f.BeforeSeq, f.Limit = 0, 0
	return t.db.snapshot(ctx, func(tx pgx.Tx) error {
		cp, note, _, err := latestCheckpoint(ctx, tx, -1)
		if err != nil {
			return err
		}
		if note == nil {
			cp = audit.Checkpoint{}
		}
		var size int64
		if err := tx.QueryRow(ctx, `SELECT COALESCE(MAX(seq), 0) FROM audit_events`).Scan(&size); err != nil {
			return fmt.Errorf("postgres: export audit: %w", err)
		}
		p, err := planAudit(ctx, tx, f, false)
		if err != nil || p.empty {
			return err
		}
		// A batch of events at a time (by seq, in the snapshot), then its
		// proofs: one connection cannot read proofs while rows stream.
		const batch = 256
		var last int64
		for {
			page, args := pagedAfter(p, last, batch)
			events, err := queryEvents(ctx, tx, page, args...)
			if err != nil {
				return fmt.Errorf("postgres: export audit: %w", err)
			}
			if len(events) == 0 {
				return nil
			}
			var inCP, after []int64
			for _, e := range events {
				if e.Seq <= cp.Size {
					inCP = append(inCP, e.Seq)
				} else {
					after = append(after, e.Seq)
				}
			}
			cpProofs, err := proveEvents(ctx, tx, inCP, cp.Size)
			if err != nil {
				return err
			}
			afterProofs, err := proveEvents(ctx, tx, after, size)
			if err != nil {
				return err
			}
			for i, e := range events {
				pr := &audit.Proof{TreeSize: cp.Size, Checkpoint: string(note)}
				if i < len(inCP) {
					pr.Hashes = cpProofs[i]
				} else {
					pr = &audit.Proof{TreeSize: size, Hashes: afterProofs[i-len(inCP)]}
				}
				if err := fn(e, pr); err != nil {
					return err
				}
			}
			last = events[len(events)-1].Seq
			if len(events) < batch {
				return nil
			}
		}
	})
}

// pagedAfter is p's query, oldest first, of at most limit events after
// seq after.
func pagedAfter(p *auditQuery, after int64, limit int) (string, []any) {
	next := *p
	next.lo = max(p.lo, after+1)
	return next.sql(eventColumns, false, limit)
}
