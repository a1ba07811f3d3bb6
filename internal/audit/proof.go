package audit

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// Proof is an event's inclusion proof as an exported line carries it: the
// sibling hashes from its leaf to the root of the tree of the first
// TreeSize events (RFC 6962's audit path, as tlog.ProveRecord gives it),
// and, when the portal has one, the signed checkpoint of that tree.
type Proof struct {
	TreeSize   int64       `json:"tree_size"`
	Hashes     []tlog.Hash `json:"hashes"`
	Checkpoint string      `json:"checkpoint,omitempty"` // signed note of TreeSize events
}

// RootFromInclusion computes the root that an inclusion proof of leaf
// index (0-based) with hash leaf leads to in a tree of size leaves (RFC
// 9162, 2.1.3.2). Unlike tlog.CheckRecord it needs no root to compare
// with, so that the events of one export can be checked against each other
// before any checkpoint is at hand.
func RootFromInclusion(index, size int64, leaf tlog.Hash, path []tlog.Hash) (tlog.Hash, error) {
	if index < 0 || index >= size {
		return tlog.Hash{}, fmt.Errorf("audit: leaf %d is outside a tree of %d", index, size)
	}
	fn, sn, r := index, size-1, leaf
	for _, p := range path {
		if sn == 0 {
			return tlog.Hash{}, errors.New("audit: the proof has more hashes than the tree has levels")
		}
		if fn&1 == 1 || fn == sn {
			r = tlog.NodeHash(p, r)
			for fn&1 == 0 && fn != 0 {
				fn >>= 1
				sn >>= 1
			}
		} else {
			r = tlog.NodeHash(r, p)
		}
		fn >>= 1
		sn >>= 1
	}
	if sn != 0 {
		return tlog.Hash{}, errors.New("audit: the proof has fewer hashes than the tree has levels")
	}
	return r, nil
}

// ConsistencyProof proves that the tree of NewSize events extends the tree
// of OldSize events: the trail only grew between two checkpoints
// (tlog.ProveTree; RFC 6962's consistency proof).
type ConsistencyProof struct {
	OldSize int64       `json:"old_size"`
	NewSize int64       `json:"new_size"`
	Hashes  []tlog.Hash `json:"hashes"`
}

// ErrNotAppendOnly is wrapped by CheckConsistency's errors that show the
// trail was not only appended to between the two checkpoints.
var ErrNotAppendOnly = errors.New("the trail was not only appended to between the two checkpoints")

// CheckConsistency checks that newer extends older, by p. The checkpoints'
// signatures are the caller's to check.
func CheckConsistency(older, newer Checkpoint, p ConsistencyProof) error {
	oldRoot, err := older.Root()
	if err != nil {
		return err
	}
	newRoot, err := newer.Root()
	if err != nil {
		return err
	}
	switch {
	case older.Origin != newer.Origin:
		return fmt.Errorf("audit: the checkpoints are of two logs, %q and %q", older.Origin, newer.Origin)
	case older.Size > newer.Size:
		return fmt.Errorf("audit: the newer checkpoint covers %d events, fewer than the older one's %d (truncated; or give the older one first): %w",
			newer.Size, older.Size, ErrNotAppendOnly)
	case older.Size == newer.Size:
		if oldRoot != newRoot {
			return fmt.Errorf("audit: two different roots were signed for the same %d events (a rewritten history): %w", older.Size, ErrNotAppendOnly)
		}
		return nil
	case older.Size == 0:
		if oldRoot != EmptyRoot {
			return fmt.Errorf("audit: the checkpoint of no events signs %s, not the empty tree's root", older.Hash)
		}
		return nil
	}
	if p.OldSize != older.Size || p.NewSize != newer.Size {
		return fmt.Errorf("audit: the consistency proof is from %d to %d events, not from %d to %d", p.OldSize, p.NewSize, older.Size, newer.Size)
	}
	if err := tlog.CheckTree(p.Hashes, newer.Size, newRoot, older.Size, oldRoot); err != nil {
		return fmt.Errorf("audit: the tree of %d events signed later does not extend the tree of %d signed before (%v): %w",
			newer.Size, older.Size, err, ErrNotAppendOnly)
	}
	return nil
}

// ExportCheck is what VerifyExport checks an export against.
type ExportCheck struct {
	// Checkpoint, when set, is a checkpoint whose signature the caller
	// checked: a full export must hold its events, unchanged; a filtered
	// one's proofs must lead to its root.
	Checkpoint *Checkpoint
	// Verifier, when set, checks the signed notes that proofs carry and
	// the checkpoints recorded in a full export.
	Verifier note.Verifier
}

// ProvedTree is one tree that a filtered export's proofs lead to.
type ProvedTree struct {
	Size   int64
	Root   string // hex
	Events int64
	// Signed says what vouches for Root: "" (nothing: compare Root with a
	// checkpoint), "checkpoint" (the one given), "note" (the signed note the
	// export carries, its signature checked) or "note, unchecked" (carried,
	// but no verifier key was given).
	Signed string
}

// ExportReport is what VerifyExport found.
type ExportReport struct {
	Lines int64
	// Full: the lines are the trail's first Lines events (Head); Filtered
	// exports prove each line alone (Trees).
	Full     bool
	Head     Head
	Legacy   bool // the checkpoint given signed a chain hash (before the tree)
	Recorded int  // checkpoints recorded in a full export, checked
	Trees    []ProvedTree
}

// ErrCannotTell is wrapped by VerifyExport's errors that say the export
// could not be checked against what was given (not that it was changed).
var ErrCannotTell = errors.New("cannot tell")

// VerifyExport checks an exported JSON Lines file offline. Every line's
// content must match its hash. A full export (no line carries a proof)
// must be the trail from its first event, chained, and, against a
// checkpoint, form the tree the checkpoint signed. A filtered export's
// lines must each carry an inclusion proof, in seq order, and every proof
// of one tree size must lead to one root: the signed checkpoint's, when a
// checkpoint is given or carried. The first line at fault is named (a
// *BreakError).
func VerifyExport(r io.Reader, c ExportCheck) (ExportReport, error) {
	var rep ExportReport
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	var (
		walk    *Walk
		lastSeq int64
		trees   = map[int64]*ProvedTree{}
		notes   = map[string]bool{} // notes checked already
	)
	if c.Checkpoint != nil {
		walk = NewWalk(*c.Checkpoint)
	} else {
		walk = NewWalk()
	}
	if c.Verifier != nil {
		walk.CheckRecorded(c.Verifier)
	}
	for sc.Scan() {
		line := sc.Bytes()
		if len(line) == 0 {
			continue
		}
		rep.Lines++
		at := func(seq int64, format string, args ...any) error {
			return &BreakError{Seq: seq, Problem: fmt.Sprintf("(line %d) ", rep.Lines) + fmt.Sprintf(format, args...)}
		}
		e, p, err := ParseProvedJSONLine(line)
		if err != nil {
			return rep, at(0, "not an exported event: %v", err)
		}
		if rep.Lines == 1 {
			rep.Full = p == nil
		}
		if rep.Full {
			if p != nil {
				return rep, at(e.Seq, "a line with a proof in an export whose first line has none (lines of two exports mixed)")
			}
			if err := walk.Add(e); err != nil {
				var br *BreakError
				if errors.As(err, &br) {
					return rep, at(br.Seq, "%s", br.Problem)
				}
				return rep, err
			}
			continue
		}
		hash, leaf, hashErr := Hashes(e)
		switch {
		case p == nil:
			return rep, at(e.Seq, "no inclusion proof, in an export whose lines carry one each (a line was added or its proof removed)")
		case e.Seq <= lastSeq:
			return rep, at(e.Seq, "out of order: it follows event %d (lines were reordered or repeated)", lastSeq)
		case hashErr != nil:
			return rep, at(e.Seq, "it cannot be checked against its hash: %s", strings.TrimPrefix(hashErr.Error(), "audit: "))
		case hash != e.Hash:
			return rep, at(e.Seq, "its content does not match its hash (it was changed after it was exported)")
		}
		lastSeq = e.Seq
		root, err := RootFromInclusion(e.Seq-1, p.TreeSize, leaf, p.Hashes)
		if err != nil {
			return rep, at(e.Seq, "its inclusion proof does not fit a tree of %d events: %v", p.TreeSize, err)
		}
		t := trees[p.TreeSize]
		if t == nil {
			t = &ProvedTree{Size: p.TreeSize, Root: HexHash(root)}
			trees[p.TreeSize] = t
		}
		if t.Root != HexHash(root) {
			return rep, at(e.Seq, "its proof leads to another root than the other lines' proofs in the tree of %d events: it, or they, were changed", p.TreeSize)
		}
		t.Events++
		if p.Checkpoint != "" && !notes[p.Checkpoint] {
			var cp Checkpoint
			signed := "note, unchecked"
			if c.Verifier != nil {
				cp, err = Open([]byte(p.Checkpoint), c.Verifier)
				signed = "note"
			} else {
				cp, err = ParseNote([]byte(p.Checkpoint))
			}
			if err != nil {
				return rep, at(e.Seq, "the checkpoint its proof carries: %v", err)
			}
			if cp.Size != p.TreeSize || cp.Hash != t.Root {
				return rep, at(e.Seq, "its proof does not lead to the root that the checkpoint it carries signed (%d events): it was changed", cp.Size)
			}
			notes[p.Checkpoint] = true
			if t.Signed == "" || signed == "note" {
				t.Signed = signed
			}
		}
		if cp := c.Checkpoint; cp != nil && cp.Size == p.TreeSize {
			if cp.Hash != t.Root {
				return rep, at(e.Seq, "its proof does not lead to the root of the checkpoint signed by %s at %d events: it was changed", cp.Origin, cp.Size)
			}
			t.Signed = "checkpoint"
		}
	}
	if err := sc.Err(); err != nil {
		return rep, fmt.Errorf("audit: read the export: %w", err)
	}
	if rep.Lines == 0 {
		rep.Full = true
	}
	if rep.Full {
		head, err := walk.Finish()
		rep.Head, rep.Recorded = head, walk.Recorded()
		if c.Checkpoint != nil {
			rep.Legacy = walk.Legacy(*c.Checkpoint)
		}
		return rep, err
	}
	for _, t := range trees {
		rep.Trees = append(rep.Trees, *t)
	}
	sort.Slice(rep.Trees, func(i, j int) bool { return rep.Trees[i].Size < rep.Trees[j].Size })
	if cp := c.Checkpoint; cp != nil && trees[cp.Size] == nil {
		return rep, fmt.Errorf("audit: the checkpoint given covers %d events, but this export's proofs are against trees of other sizes; ask for a proof against it with rolegate audit prove -checkpoint: %w", cp.Size, ErrCannotTell)
	}
	return rep, nil
}
