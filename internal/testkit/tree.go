package testkit

import (
	"errors"
	"testing"

	"golang.org/x/mod/sumdb/tlog"
)

// TreeHashes is a Merkle tree's stored hashes held in memory, in tlog's
// numbering; it is the tlog.HashReader of the tree ReferenceTree builds.
type TreeHashes map[int64]tlog.Hash

// ReadHashes implements tlog.HashReader.
func (m TreeHashes) ReadHashes(idx []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(idx))
	for i, x := range idx {
		h, ok := m[x]
		if !ok {
			return nil, errors.New("not stored")
		}
		out[i] = h
	}
	return out, nil
}

// ReferenceTree is tlog's own computation of the tree over records (each a
// leaf's content, in order): what a tree stored elsewhere must equal.
func ReferenceTree(t testing.TB, records [][]byte) TreeHashes {
	t.Helper()
	m := TreeHashes{}
	for i, data := range records {
		hashes, err := tlog.StoredHashes(int64(i), data, m)
		if err != nil {
			t.Fatal(err)
		}
		for j, h := range hashes {
			m[tlog.StoredHashIndex(0, int64(i))+int64(j)] = h
		}
	}
	return m
}
