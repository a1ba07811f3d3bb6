package postgres

import (
	"context"
	"fmt"

	"golang.org/x/mod/sumdb/tlog"
)

// The Merkle tree over the trail (internal/audit/tree.go) is stored as on
// SQLite: every hash tlog.StoredHashes returns, keyed by tlog's storage
// index, in audit_tree. Appending event n stores its leaf hash and the
// roots of the complete subtrees it closes, after reading as many hashes as
// it closes, in the event's transaction (under the trail's lock).

// treeReader reads stored hashes for tlog, in one query per call.
type treeReader struct {
	ctx context.Context
	q   querier
}

// ReadHashes returns the hashes at indexes, in that order; a hash not
// stored is an error (a tree behind its events, or tampered with).
func (r treeReader) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(indexes))
	if len(indexes) == 0 {
		return out, nil
	}
	rows, err := r.q.Query(r.ctx, `SELECT id, hash FROM audit_tree WHERE id = ANY($1)`, indexes)
	if err != nil {
		return nil, fmt.Errorf("postgres: read the audit tree: %w", err)
	}
	defer rows.Close()
	found := map[int64]tlog.Hash{}
	for rows.Next() {
		var idx int64
		var b []byte
		if err := rows.Scan(&idx, &b); err != nil {
			return nil, fmt.Errorf("postgres: read the audit tree: %w", err)
		}
		if len(b) != len(tlog.Hash{}) {
			return nil, fmt.Errorf("postgres: the audit tree's hash %d is %d bytes", idx, len(b))
		}
		found[idx] = tlog.Hash(b)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: read the audit tree: %w", err)
	}
	for i, idx := range indexes {
		h, ok := found[idx]
		if !ok {
			return nil, fmt.Errorf("postgres: the audit tree lacks hash %d (it is behind the events, or was tampered with)", idx)
		}
		out[i] = h
	}
	return out, nil
}

// storeLeaf adds event seq's leaf hash to the tree as leaf seq-1.
func storeLeaf(ctx context.Context, tx *Tx, seq int64, leaf tlog.Hash) error {
	n := seq - 1
	hashes, err := tlog.StoredHashesForRecordHash(n, leaf, treeReader{ctx: ctx, q: tx})
	if err != nil {
		return fmt.Errorf("postgres: audit tree for event %d: %w", seq, err)
	}
	first := tlog.StoredHashIndex(0, n)
	ids := make([]int64, len(hashes))
	values := make([][]byte, len(hashes))
	for i, h := range hashes {
		ids[i], values[i] = first+int64(i), h[:]
	}
	if _, err := tx.Exec(ctx, `INSERT INTO audit_tree (id, hash) SELECT * FROM unnest($1::bigint[], $2::bytea[])`, ids, values); err != nil {
		return fmt.Errorf("postgres: store the audit tree for event %d: %w", seq, err)
	}
	return nil
}

// AuditTreeRoot is the root of the tree of the first size events.
func (t *Trail) AuditTreeRoot(ctx context.Context, size int64) (tlog.Hash, error) {
	h, err := tlog.TreeHash(size, treeReader{ctx: ctx, q: t.db.pool})
	if err != nil {
		return tlog.Hash{}, fmt.Errorf("postgres: audit tree root at %d: %w", size, err)
	}
	return h, nil
}
