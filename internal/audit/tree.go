package audit

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/rolegate/rolegate/internal/rolegate"
)

// The trail is also a transparency log: a Merkle tree in the form of
// RFC 6962 (the one Certificate Transparency and the Go checksum database
// use, computed with golang.org/x/mod/sumdb/tlog) whose leaves are the
// events in seq order. Event n is leaf n-1 and its leaf hash is
// SHA-256(0x00 || Canonical(e)); because the canonical content holds the
// previous event's chain hash, the tree commits to the chain too. A
// checkpoint signs the tree's root, from which an event's inclusion (a
// few hashes) and the append-only growth between two checkpoints (a few
// hashes more) can be proved without the rest of the trail.

// LeafHash is the tree's leaf hash of e: tlog.RecordHash of its canonical
// content. It fails, like Canonical, for an event that could not be
// verified from an export.
func LeafHash(e rolegate.Event) (tlog.Hash, error) {
	c, err := Canonical(e)
	if err != nil {
		return tlog.Hash{}, err
	}
	return tlog.RecordHash(c), nil
}

// Hashes returns e's chain hash and leaf hash, from one canonical
// encoding (the append and the walk need both).
func Hashes(e rolegate.Event) (chain string, leaf tlog.Hash, err error) {
	c, err := Canonical(e)
	if err != nil {
		return "", tlog.Hash{}, err
	}
	sum := sha256.Sum256(c)
	return hex.EncodeToString(sum[:]), tlog.RecordHash(c), nil
}

// StoredLeafHash is the leaf hash of an event already in the trail, for
// migration 00009: LeafHash, or, for an event an older rolegate wrote
// with text that is not valid UTF-8, the leaf over the encoding its chain
// hash was computed over then (encoding/json writing each such byte as
// U+FFFD). Such an event still stops audit verify, named (chain.go); its
// leaf keeps the tree whole, so that every later event can be proved.
func StoredLeafHash(e rolegate.Event) tlog.Hash {
	if leaf, err := LeafHash(e); err == nil {
		return leaf
	}
	details := bytes.Buffer{}
	if err := json.Compact(&details, e.Details); err != nil || details.Len() == 0 {
		details.Reset()
		details.Write(e.Details)
	}
	fields := []string{
		"v1", strconv.FormatInt(e.Seq, 10), strconv.FormatInt(e.At.UTC().UnixMilli(), 10),
		e.ActorKey, e.ActorEmail, e.ActorName, e.ActorRoles, e.Action, strconv.FormatInt(e.RequestID, 10),
		e.RoleName, e.Outcome, details.String(), e.ClientIP, e.UserAgent, e.HTTPReqID, e.PrevHash,
	}
	b, _ := json.Marshal(fields) // strings only: cannot fail
	return tlog.RecordHash(b)
}

// EmptyRoot is the root of the tree of no events: SHA-256 of nothing, as
// RFC 6962 and tlog define it.
var EmptyRoot = tlog.Hash(sha256.Sum256(nil))

// HexHash writes a tree hash as the trail writes every hash: lower-case
// hex.
func HexHash(h tlog.Hash) string { return hex.EncodeToString(h[:]) }

// ParseHexHash reads a hash written by HexHash.
func ParseHexHash(s string) (tlog.Hash, error) {
	var h tlog.Hash
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != len(h) {
		return h, fmt.Errorf("audit: %q is not a hex SHA-256", s)
	}
	copy(h[:], b)
	return h, nil
}

// TreeBuilder computes the tree's root over leaves given one at a time, in
// O(log n) memory: it keeps the roots of the complete subtrees along the
// right edge (a "compact range"). Export verification and audit verify
// use it to recompute, from the events alone, the root a checkpoint
// signed.
type TreeBuilder struct {
	size  int64
	edges []tlog.Hash // roots of complete subtrees, largest (leftmost) first
}

// Add appends the next leaf.
func (b *TreeBuilder) Add(leaf tlog.Hash) {
	h := leaf
	// Each trailing 1 bit of the size is a complete subtree of the same
	// height as the one being added: they merge, as a binary counter
	// carries.
	for k := b.size; k&1 == 1; k >>= 1 {
		h = tlog.NodeHash(b.edges[len(b.edges)-1], h)
		b.edges = b.edges[:len(b.edges)-1]
	}
	b.edges = append(b.edges, h)
	b.size++
}

// Size is the number of leaves added.
func (b *TreeBuilder) Size() int64 { return b.size }

// Root is the root of the tree of the leaves added so far.
func (b *TreeBuilder) Root() tlog.Hash {
	if b.size == 0 {
		return EmptyRoot
	}
	h := b.edges[len(b.edges)-1]
	for i := len(b.edges) - 2; i >= 0; i-- {
		h = tlog.NodeHash(b.edges[i], h)
	}
	return h
}
