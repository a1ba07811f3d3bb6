package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/pressly/goose/v3"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/rolegate/rolegate/internal/audit"
	"github.com/rolegate/rolegate/internal/rolegate"
)

// The Merkle tree over the trail (internal/audit/tree.go) is stored the
// way the Go checksum database stores its own: every hash tlog.StoredHashes
// returns, keyed by tlog's storage index, in audit_tree. Appending event n
// stores its leaf hash and the roots of the complete subtrees it closes
// (1 + the trailing one bits of n-1: two on average), after reading as many
// hashes as it closes: O(log n) at worst, in the event's transaction.
// Proofs and roots read at most a few dozen of them.

// queryer is what the tree's reads need: a write or a read transaction.
type queryer interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// treeReader reads stored hashes for tlog. pending, when set, holds
// hashes this transaction wrote, read from memory instead (the
// migration's backfill).
type treeReader struct {
	ctx     context.Context
	q       queryer
	pending map[int64]tlog.Hash
}

// ReadHashes returns the hashes at indexes, in that order; a hash not
// stored is an error (a tree behind its events, or tampered with).
func (r treeReader) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(indexes))
	var ask []any
	at := map[int64][]int{}
	for i, idx := range indexes {
		if h, ok := r.pending[idx]; ok {
			out[i] = h
			continue
		}
		if _, seen := at[idx]; !seen {
			ask = append(ask, idx)
		}
		at[idx] = append(at[idx], i)
	}
	if len(ask) == 0 {
		return out, nil
	}
	rows, err := r.q.QueryContext(r.ctx, `SELECT id, hash FROM audit_tree WHERE id IN (?`+strings.Repeat(",?", len(ask)-1)+`)`, ask...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: read the audit tree: %w", err)
	}
	defer rows.Close()
	found := 0
	for rows.Next() {
		var idx int64
		var b []byte
		if err := rows.Scan(&idx, &b); err != nil {
			return nil, fmt.Errorf("sqlite: read the audit tree: %w", err)
		}
		if len(b) != len(tlog.Hash{}) {
			return nil, fmt.Errorf("sqlite: the audit tree's hash %d is %d bytes", idx, len(b))
		}
		for _, i := range at[idx] {
			copy(out[i][:], b)
		}
		found++
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: read the audit tree: %w", err)
	}
	if found != len(ask) {
		return nil, fmt.Errorf("sqlite: the audit tree lacks %d of the %d hashes asked for (it is behind the events, or was tampered with)", len(ask)-found, len(ask))
	}
	return out, nil
}

// storeLeaf adds event seq's leaf hash to the tree as leaf seq-1, and
// returns the hashes it stored.
func storeLeaf(ctx context.Context, tx sqlConn, r treeReader, seq int64, leaf tlog.Hash) ([]tlog.Hash, error) {
	n := seq - 1
	hashes, err := tlog.StoredHashesForRecordHash(n, leaf, r)
	if err != nil {
		return nil, fmt.Errorf("sqlite: audit tree for event %d: %w", seq, err)
	}
	first := tlog.StoredHashIndex(0, n)
	args := make([]any, 0, 2*len(hashes))
	for i, h := range hashes {
		args = append(args, first+int64(i), h[:])
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO audit_tree (id, hash) VALUES (?, ?)`+strings.Repeat(", (?, ?)", len(hashes)-1), args...); err != nil {
		return nil, fmt.Errorf("sqlite: store the audit tree for event %d: %w", seq, err)
	}
	return hashes, nil
}

// treeRoot is the root of the tree of the first size events.
func treeRoot(ctx context.Context, q queryer, size int64) (tlog.Hash, error) {
	h, err := tlog.TreeHash(size, treeReader{ctx: ctx, q: q})
	if err != nil {
		return tlog.Hash{}, fmt.Errorf("sqlite: audit tree root at %d: %w", size, err)
	}
	return h, nil
}

// ProveEvent returns event seq and the proof that it is leaf seq-1 of the
// tree of the first size events, from one snapshot of the trail.
func (t *Trail) ProveEvent(ctx context.Context, seq, size int64) (rolegate.Event, tlog.RecordProof, error) {
	tx, err := t.db.readPool.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return rolegate.Event{}, nil, fmt.Errorf("sqlite: prove event: %w", err)
	}
	defer tx.Rollback()
	e, err := scanEvent(tx.QueryRowContext(ctx, `SELECT `+eventColumns+` FROM audit_events WHERE seq = ?`, seq))
	if errors.Is(err, sql.ErrNoRows) || seq < 1 || seq > size {
		return rolegate.Event{}, nil, audit.ErrNotInTree
	}
	if err != nil {
		return rolegate.Event{}, nil, fmt.Errorf("sqlite: prove event %d: %w", seq, err)
	}
	p, err := proveEvent(ctx, tx, seq, size)
	return e, p, err
}

// proveEvents reads the proofs of many events in the tree of size with
// one query: tlog.ProveRecord is first run with a reader that only notes
// the hashes it asks for (it does not check them), then again over the
// hashes read. A page of 50 events or a batch of an export costs one
// round trip instead of one per event.
func proveEvents(ctx context.Context, q queryer, seqs []int64, size int64) ([]tlog.RecordProof, error) {
	var need []int64
	noting := tlog.HashReaderFunc(func(idx []int64) ([]tlog.Hash, error) {
		need = append(need, idx...)
		return make([]tlog.Hash, len(idx)), nil
	})
	for _, seq := range seqs {
		if _, err := tlog.ProveRecord(size, seq-1, noting); err != nil {
			return nil, fmt.Errorf("sqlite: prove event %d in the tree of %d: %w", seq, size, err)
		}
	}
	hashes, err := treeReader{ctx: ctx, q: q}.ReadHashes(need)
	if err != nil {
		return nil, err
	}
	read := make(map[int64]tlog.Hash, len(need))
	for i, idx := range need {
		read[idx] = hashes[i]
	}
	mem := treeReader{pending: read}
	proofs := make([]tlog.RecordProof, len(seqs))
	for i, seq := range seqs {
		if proofs[i], err = tlog.ProveRecord(size, seq-1, mem); err != nil {
			return nil, fmt.Errorf("sqlite: prove event %d in the tree of %d: %w", seq, size, err)
		}
	}
	return proofs, nil
}

func proveEvent(ctx context.Context, q queryer, seq, size int64) (tlog.RecordProof, error) {
	p, err := tlog.ProveRecord(size, seq-1, treeReader{ctx: ctx, q: q})
	if err != nil {
		return nil, fmt.Errorf("sqlite: prove event %d in the tree of %d: %w", seq, size, err)
	}
	return p, nil
}

// ProveTree returns the proof that the tree of the first newSize events
// extends the tree of the first oldSize (a consistency proof), and the
// trail's current root at newSize.
func (t *Trail) ProveTree(ctx context.Context, oldSize, newSize int64) (tlog.TreeProof, tlog.Hash, error) {
	tx, err := t.db.readPool.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, tlog.Hash{}, fmt.Errorf("sqlite: prove tree: %w", err)
	}
	defer tx.Rollback()
	var size int64
	if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(seq), 0) FROM audit_events`).Scan(&size); err != nil {
		return nil, tlog.Hash{}, fmt.Errorf("sqlite: prove tree: %w", err)
	}
	if newSize > size || oldSize > newSize || oldSize < 0 {
		return nil, tlog.Hash{}, fmt.Errorf("sqlite: no consistency proof from %d to %d events in a trail of %d: %w", oldSize, newSize, size, audit.ErrNotInTree)
	}
	root, err := treeRoot(ctx, tx, newSize)
	if err != nil {
		return nil, tlog.Hash{}, err
	}
	if oldSize == 0 {
		// Every tree extends the empty one; tlog asks for no proof.
		return tlog.TreeProof{}, root, nil
	}
	p, err := tlog.ProveTree(newSize, oldSize, treeReader{ctx: ctx, q: tx})
	if err != nil {
		return nil, tlog.Hash{}, fmt.Errorf("sqlite: prove tree from %d to %d: %w", oldSize, newSize, err)
	}
	return p, root, nil
}

// AuditTreeRoot is the root of the tree of the first size events.
func (t *Trail) AuditTreeRoot(ctx context.Context, size int64) (tlog.Hash, error) {
	return treeRoot(ctx, t.db.readPool, size)
}

// LatestCheckpoint returns the newest checkpoint recorded in the trail
// (an audit.checkpoint event's signed note) that signs the tree's root,
// with its note; ok is false when there is none yet (no key configured, or
// only checkpoints signed before the tree, which carried chain hashes).
// The note's signature is not checked here: whoever relies on it checks it
// with the verifier key, offline. A checkpoint that matches nothing is
// audit.ErrTrailChanged, with the checkpoint.
func (t *Trail) LatestCheckpoint(ctx context.Context) (cp audit.Checkpoint, note []byte, ok bool, err error) {
	tx, err := t.db.readPool.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return cp, nil, false, fmt.Errorf("sqlite: latest checkpoint: %w", err)
	}
	defer tx.Rollback()
	return latestCheckpoint(ctx, tx, -1)
}

// CheckpointOfSize is LatestCheckpoint among the checkpoints of exactly
// size events (the one a filtered export's proofs refer to, say).
func (t *Trail) CheckpointOfSize(ctx context.Context, size int64) (cp audit.Checkpoint, note []byte, ok bool, err error) {
	tx, err := t.db.readPool.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return cp, nil, false, fmt.Errorf("sqlite: checkpoint: %w", err)
	}
	defer tx.Rollback()
	return latestCheckpoint(ctx, tx, size)
}

// latestCheckpoint reads the newest recorded checkpoint, of any size
// (size < 0) or of size events.
func latestCheckpoint(ctx context.Context, tx *sql.Tx, size int64) (cp audit.Checkpoint, note []byte, ok bool, err error) {
	var s string
	err = tx.QueryRowContext(ctx, `SELECT COALESCE(json_extract(details, '$.note'), '') FROM audit_events
		WHERE action = ? AND (? < 0 OR json_extract(details, '$.size') = ?) ORDER BY seq DESC LIMIT 1`,
		rolegate.ActionAuditCheckpoint, size, size).Scan(&s)
	if errors.Is(err, sql.ErrNoRows) {
		return cp, nil, false, nil
	}
	if err != nil {
		return cp, nil, false, fmt.Errorf("sqlite: latest checkpoint: %w", err)
	}
	cp, err = audit.ParseNote([]byte(s))
	if err != nil {
		return cp, nil, false, fmt.Errorf("sqlite: latest checkpoint: %w", err)
	}
	root, err := treeRoot(ctx, tx, cp.Size)
	if err != nil {
		return cp, nil, false, err
	}
	if audit.HexHash(root) == cp.Hash {
		return cp, []byte(s), true, nil
	}
	head := audit.GenesisHash
	if cp.Size > 0 {
		if err := tx.QueryRowContext(ctx, `SELECT hash FROM audit_events WHERE seq = ?`, cp.Size).Scan(&head); err != nil && !errors.Is(err, sql.ErrNoRows) {
			return cp, nil, false, fmt.Errorf("sqlite: latest checkpoint: %w", err)
		}
	}
	if head == cp.Hash {
		// Signed before the tree: it signs a chain hash, no root.
		return cp, nil, false, nil
	}
	return cp, nil, false, fmt.Errorf("sqlite: checkpoint of %d events: %w", cp.Size, audit.ErrTrailChanged)
}

// auditTreeMigration is migration 00009, in Go because it computes: it
// creates audit_tree, append-only like the trail, and makes every event
// already recorded a leaf, in seq order, in the migration's transaction
// (a million events: see README, "Audit trail"). The chain's hashes are
// kept, so the trail and the checkpoints signed before still verify.
func auditTreeMigration() *goose.Migration {
	return goose.NewGoMigration(9,
		&goose.GoFunc{RunTx: migrateAuditTreeUp},
		&goose.GoFunc{RunTx: func(ctx context.Context, tx *sql.Tx) error {
			_, err := tx.ExecContext(ctx, `DROP TRIGGER audit_tree_no_update; DROP TRIGGER audit_tree_no_delete; DROP TABLE audit_tree;`)
			return err
		}})
}

func migrateAuditTreeUp(ctx context.Context, tx *sql.Tx) error {
	_, err := tx.ExecContext(ctx, `
		CREATE TABLE audit_tree (
			id   INTEGER PRIMARY KEY,  -- tlog.StoredHashIndex(level, n)
			hash BLOB NOT NULL CHECK (length(hash) = 32)
		) STRICT;
		CREATE TRIGGER audit_tree_no_update BEFORE UPDATE ON audit_tree
		BEGIN
			SELECT RAISE(ABORT, 'audit_tree is append-only');
		END;
		CREATE TRIGGER audit_tree_no_delete BEFORE DELETE ON audit_tree
		BEGIN
			SELECT RAISE(ABORT, 'audit_tree is append-only');
		END;`)
	if err != nil {
		return fmt.Errorf("create audit_tree: %w", err)
	}
	return backfillAuditTree(ctx, tx, 0)
}

// backfillAuditTree makes every event after the first done a leaf, a
// batch at a time (the rows of a batch are read before its hashes are
// written, on the transaction's one connection).
func backfillAuditTree(ctx context.Context, tx sqlConn, done int64) error {
	const batch = 5000
	for {
		rows, err := tx.QueryContext(ctx, `SELECT `+eventColumns+` FROM audit_events WHERE seq > ? ORDER BY seq LIMIT ?`, done, batch)
		if err != nil {
			return fmt.Errorf("read audit events after %d: %w", done, err)
		}
		var leaves []tlog.Hash
		for rows.Next() {
			e, err := scanEvent(rows)
			if err != nil {
				rows.Close()
				return fmt.Errorf("read audit events after %d: %w", done, err)
			}
			if e.Seq != done+int64(len(leaves))+1 {
				rows.Close()
				return fmt.Errorf("audit event %d is missing: the trail cannot become a tree (run rolegate audit verify on a backup)", done+int64(len(leaves))+1)
			}
			leaves = append(leaves, audit.StoredLeafHash(e))
		}
		if err := errors.Join(rows.Err(), rows.Close()); err != nil {
			return fmt.Errorf("read audit events after %d: %w", done, err)
		}
		if len(leaves) == 0 {
			return nil
		}
		r := treeReader{ctx: ctx, q: tx, pending: map[int64]tlog.Hash{}}
		for _, leaf := range leaves {
			done++
			hashes, err := storeLeaf(ctx, tx, r, done, leaf)
			if err != nil {
				return err
			}
			first := tlog.StoredHashIndex(0, done-1)
			for i, h := range hashes {
				r.pending[first+int64(i)] = h
			}
		}
	}
}

// ChainHash is the chain hash of event seq.
func (t *Trail) ChainHash(ctx context.Context, seq int64) (string, error) {
	var h string
	err := t.db.readPool.QueryRowContext(ctx, `SELECT hash FROM audit_events WHERE seq = ?`, seq).Scan(&h)
	if err != nil {
		return "", fmt.Errorf("sqlite: chain hash of event %d: %w", seq, err)
	}
	return h, nil
}

// IncludedIn checks, for each event given that cp covers, that its proof
// from the stored tree leads from the event's content to cp's root, from
// one snapshot: what the Audit page shows beside each event. Events after
// cp are left out of the answer.
func (t *Trail) IncludedIn(ctx context.Context, cp audit.Checkpoint, events []rolegate.Event) (map[int64]bool, error) {
	tx, err := t.db.readPool.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, fmt.Errorf("sqlite: check inclusion: %w", err)
	}
	defer tx.Rollback()
	included := map[int64]bool{}
	var covered []rolegate.Event
	var seqs []int64
	for _, e := range events {
		if e.Seq >= 1 && e.Seq <= cp.Size {
			covered = append(covered, e)
			seqs = append(seqs, e.Seq)
		}
	}
	proofs, err := proveEvents(ctx, tx, seqs, cp.Size)
	if err != nil {
		return nil, err
	}
	for i, e := range covered {
		p := proofs[i]
		leaf, err := audit.LeafHash(e)
		if err != nil {
			included[e.Seq] = false
			continue
		}
		root, err := audit.RootFromInclusion(e.Seq-1, cp.Size, leaf, p)
		included[e.Seq] = err == nil && audit.HexHash(root) == cp.Hash
	}
	return included, nil
}

// CatchUpAuditTree makes leaves of the events the tree does not hold yet,
// in one transaction, and returns how many it added: for tools that write
// events in bulk outside appendEvent (the load test's seed, the
// benchmarks' trail). The portal itself never needs it: every append
// writes its leaf, and migration 00009 made the older events leaves.
func (t *Trail) CatchUpAuditTree(ctx context.Context) (int64, error) {
	var added int64
	err := t.db.update(ctx, func(tx *Tx) error {
		var stored, events int64
		if err := tx.QueryRowContext(ctx, `SELECT (SELECT count(*) FROM audit_tree), (SELECT COALESCE(MAX(seq), 0) FROM audit_events)`).
			Scan(&stored, &events); err != nil {
			return fmt.Errorf("sqlite: audit tree size: %w", err)
		}
		// The leaves held are the n whose stored hashes number exactly
		// what the table holds (StoredHashCount grows with n).
		lo, hi := int64(0), events
		for lo < hi {
			mid := (lo + hi + 1) / 2
			if tlog.StoredHashCount(mid) <= stored {
				lo = mid
			} else {
				hi = mid - 1
			}
		}
		if tlog.StoredHashCount(lo) != stored {
			return fmt.Errorf("sqlite: audit_tree holds %d hashes, which is no whole number of leaves", stored)
		}
		added = events - lo
		return backfillAuditTree(ctx, tx.sqlConn, lo)
	})
	return added, err
}
