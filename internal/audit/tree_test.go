package audit_test

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/rolegate/rolegate/internal/audit"
	"github.com/rolegate/rolegate/internal/rolegate"
	"github.com/rolegate/rolegate/internal/testkit"
)

// reference builds the tree of n events with tlog's own code.
func reference(t *testing.T, n int) (testkit.TreeHashes, []tlog.Hash) {
	t.Helper()
	var records [][]byte
	var leaves []tlog.Hash
	for _, e := range chain(n) {
		records = append(records, mustCanonical(t, e))
		leaves = append(leaves, mustLeaf(t, e))
	}
	return testkit.ReferenceTree(t, records), leaves
}

func mustCanonical(t *testing.T, e rolegate.Event) []byte {
	t.Helper()
	c, err := audit.Canonical(e)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func mustLeaf(t *testing.T, e rolegate.Event) tlog.Hash {
	t.Helper()
	h, err := audit.LeafHash(e)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func TestTreeMatchesTlog(t *testing.T) {
	const n = 300
	m, leaves := reference(t, n)
	var b audit.TreeBuilder
	for size := int64(0); size <= n; size++ {
		want, err := tlog.TreeHash(size, m)
		if err != nil {
			t.Fatal(err)
		}
		if got := b.Root(); got != want {
			t.Fatalf("TreeBuilder root at %d = %s; want tlog.TreeHash %s", size, got, want)
		}
		if size < n {
			b.Add(leaves[size])
		}
	}
	// The leaf hash is RFC 6962's: SHA-256(0x00 || content).
	e := chain(1)[0]
	if got, want := mustLeaf(t, e), tlog.Hash(sha256.Sum256(append([]byte{0}, mustCanonical(t, e)...))); got != want {
		t.Errorf("LeafHash = %s; want SHA-256(0x00 || Canonical) %s", got, want)
	}
	if audit.EmptyRoot != tlog.Hash(sha256.Sum256(nil)) {
		t.Errorf("EmptyRoot = %s; want SHA-256 of nothing", audit.EmptyRoot)
	}
	if root, _ := tlog.TreeHash(0, m); root != audit.EmptyRoot {
		t.Errorf("tlog.TreeHash(0) = %s; want EmptyRoot", root)
	}
}

// Every proof of every leaf in trees of many sizes leads to tlog's root;
// a changed leaf or hash leads elsewhere.
func TestRootFromInclusion(t *testing.T) {
	const n = 70
	m, leaves := reference(t, n)
	for size := int64(1); size <= n; size++ {
		root, _ := tlog.TreeHash(size, m)
		for i := int64(0); i < size; i++ {
			p, err := tlog.ProveRecord(size, i, m)
			if err != nil {
				t.Fatal(err)
			}
			got, err := audit.RootFromInclusion(i, size, leaves[i], p)
			if err != nil || got != root {
				t.Fatalf("RootFromInclusion(%d of %d) = %s, %v; want %s", i, size, got, err, root)
			}
			if tlog.CheckRecord(p, size, got, i, leaves[i]) != nil {
				t.Fatalf("tlog.CheckRecord disagrees at %d of %d", i, size)
			}
			if other, err := audit.RootFromInclusion(i, size, leaves[(i+1)%n], p); err == nil && other == root && size > 1 {
				t.Fatalf("leaf %d of %d: another leaf's hash leads to the same root", i, size)
			}
			if len(p) > 0 {
				bad := append([]tlog.Hash(nil), p...)
				bad[0][0] ^= 1
				if other, _ := audit.RootFromInclusion(i, size, leaves[i], bad); other == root {
					t.Fatalf("leaf %d of %d: a changed proof hash leads to the same root", i, size)
				}
				if _, err := audit.RootFromInclusion(i, size, leaves[i], p[:len(p)-1]); err == nil {
					t.Fatalf("leaf %d of %d: a short proof is accepted", i, size)
				}
			}
		}
	}
	if _, err := audit.RootFromInclusion(5, 5, leaves[0], nil); err == nil {
		t.Error("RootFromInclusion(leaf outside the tree) = nil error")
	}
}

func TestCheckConsistency(t *testing.T) {
	const n = 40
	m, _ := reference(t, n)
	cp := func(size int64) audit.Checkpoint {
		root, _ := tlog.TreeHash(size, m)
		return audit.Checkpoint{Origin: "rolegate.test/audit", Size: size, Hash: audit.HexHash(root)}
	}
	for old := int64(0); old <= n; old++ {
		for nw := old; nw <= n; nw++ {
			var p audit.ConsistencyProof
			p.OldSize, p.NewSize = old, nw
			if old > 0 && old < nw {
				hs, err := tlog.ProveTree(nw, old, m)
				if err != nil {
					t.Fatal(err)
				}
				p.Hashes = hs
			}
			if err := audit.CheckConsistency(cp(old), cp(nw), p); err != nil {
				t.Fatalf("CheckConsistency(%d, %d) = %v", old, nw, err)
			}
		}
	}
	// A rewritten history: the same size, another root; or a later tree
	// that does not extend the earlier one.
	other, _ := reference(t, n)
	for k, h := range other {
		other[k] = sha256.Sum256(h[:])
	}
	forged := func(size int64) audit.Checkpoint {
		root, _ := tlog.TreeHash(size, other)
		return audit.Checkpoint{Origin: "rolegate.test/audit", Size: size, Hash: audit.HexHash(root)}
	}
	hs, _ := tlog.ProveTree(30, 10, other)
	for _, c := range []struct {
		name       string
		old, new   audit.Checkpoint
		proof      audit.ConsistencyProof
		wantAppend bool
	}{
		{"same size, another root", cp(20), forged(20), audit.ConsistencyProof{}, true},
		{"rewritten, then grown", cp(10), forged(30), audit.ConsistencyProof{OldSize: 10, NewSize: 30, Hashes: hs}, true},
		{"truncated", cp(30), cp(10), audit.ConsistencyProof{}, true},
		{"proof for other sizes", cp(10), cp(30), audit.ConsistencyProof{OldSize: 11, NewSize: 30}, false},
	} {
		err := audit.CheckConsistency(c.old, c.new, c.proof)
		if err == nil || errors.Is(err, audit.ErrNotAppendOnly) != c.wantAppend {
			t.Errorf("CheckConsistency(%s) = %v; want an error (not append-only: %v)", c.name, err, c.wantAppend)
		}
	}
}

func TestParseNote(t *testing.T) {
	skey, _ := newKeys(t, "rolegate.test/audit")
	signer, _ := audit.NewSigner(skey)
	cp := audit.Checkpoint{Origin: "rolegate.test/audit", Size: 3, Hash: audit.HexHash(audit.EmptyRoot)}
	msg, err := audit.Sign(cp, signer)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := audit.ParseNote(msg); err != nil || got != cp {
		t.Errorf("ParseNote(signed) = %+v, %v; want %+v", got, err, cp)
	}
	if _, err := audit.ParseNote(bytes.TrimSuffix(msg[:strings.Index(string(msg), "\n\n")], nil)); err == nil {
		t.Error("ParseNote(without signatures) = nil error")
	}
}
