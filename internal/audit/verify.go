package audit

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/rolegate/rolegate/internal/rolegate"
)

// Head is the state of the trail after its first Size events: Hash is the
// chain hash of event Size (GenesisHash for an empty trail) and Root the
// Merkle tree's root over them (hex). Root is what a checkpoint signs.
type Head struct {
	Size int64
	Hash string
	Root string
}

// BreakError names the first event at which the trail stops verifying.
type BreakError struct {
	Seq     int64
	Problem string
}

func (e *BreakError) Error() string {
	return fmt.Sprintf("audit event %d: %s", e.Seq, e.Problem)
}

// Walk checks the trail from its first event, in seq order, checking
// that each event follows the previous one (no seq missing or repeated),
// that its stored hash is the hash of its content, that it links to the
// previous event's hash, and that time never goes backwards; meanwhile it
// rebuilds the Merkle tree from the events. With checkpoints, it also
// checks that the trail still holds the events each one covered,
// unchanged: the tree's root at the checkpoint's size must be the one
// signed (or, for a checkpoint signed before the tree existed, the chain
// hash of its last event).
type Walk struct {
	head        Head
	lastAt      time.Time
	tree        TreeBuilder
	checkpoints map[int64][]Checkpoint
	legacy      map[Checkpoint]bool
	recorded    note.Verifier
	inTrail     int
	broken      error
}

// NewWalk starts a walk at the genesis; the checkpoints, if any, are
// proved along the way.
func NewWalk(checkpoints ...Checkpoint) *Walk {
	w := &Walk{
		head:        Head{Hash: GenesisHash},
		checkpoints: map[int64][]Checkpoint{},
		legacy:      map[Checkpoint]bool{},
	}
	for _, cp := range checkpoints {
		w.checkpoints[cp.Size] = append(w.checkpoints[cp.Size], cp)
	}
	return w
}

// CheckRecorded makes the walk check every checkpoint recorded in the
// trail (an audit.checkpoint event holding a signed note) that v's key
// signed: it must cover exactly the events before it. A note signed by
// another key (an earlier one) is not counted.
func (w *Walk) CheckRecorded(v note.Verifier) { w.recorded = v }

// Recorded is the number of recorded checkpoints checked so far.
func (w *Walk) Recorded() int { return w.inTrail }

// Legacy says whether cp, one of the walk's checkpoints, was proved by the
// chain hash it signed (a checkpoint from before the Merkle tree).
func (w *Walk) Legacy(cp Checkpoint) bool { return w.legacy[cp] }

// Add checks the next event. After the first error it refuses more: the
// walk names the first event that does not match.
func (w *Walk) Add(e rolegate.Event) error {
	if w.broken != nil {
		return w.broken
	}
	want := w.head.Size + 1
	hash, leaf, hashErr := Hashes(e)
	switch {
	case e.Seq > want:
		w.broken = &BreakError{Seq: want, Problem: fmt.Sprintf("missing: the next event stored is %d (events were deleted)", e.Seq)}
	case e.Seq < want:
		w.broken = &BreakError{Seq: e.Seq, Problem: fmt.Sprintf("out of order: expected event %d", want)}
	case hashErr != nil:
		w.broken = &BreakError{Seq: e.Seq, Problem: "it cannot be checked against its hash: " + strings.TrimPrefix(hashErr.Error(), "audit: ")}
	case hash != e.Hash:
		w.broken = &BreakError{Seq: e.Seq, Problem: "its content does not match its stored hash (it was changed after it was written)"}
	case e.PrevHash != w.head.Hash:
		w.broken = &BreakError{Seq: e.Seq, Problem: fmt.Sprintf("it does not link to event %d's hash (one of the two was rewritten)", want-1)}
	case e.At.Before(w.lastAt):
		w.broken = &BreakError{Seq: e.Seq, Problem: fmt.Sprintf("its time %s is earlier than event %d's", e.At.UTC().Format(time.RFC3339Nano), want-1)}
	}
	if w.broken != nil {
		return w.broken
	}
	if w.recorded != nil && e.Action == rolegate.ActionAuditCheckpoint {
		if w.broken = w.checkRecorded(e); w.broken != nil {
			return w.broken
		}
	}
	w.tree.Add(leaf)
	// The root costs log n hashes: it is worked out only where a
	// checkpoint needs it, and at the end (Head, Finish).
	w.head = Head{Size: e.Seq, Hash: e.Hash}
	w.lastAt = e.At
	cps := w.checkpoints[e.Seq]
	if len(cps) > 0 {
		w.head.Root = HexHash(w.tree.Root())
	}
	for _, cp := range cps {
		switch cp.Hash {
		case w.head.Root:
		case e.Hash:
			w.legacy[cp] = true
		default:
			w.broken = &BreakError{Seq: e.Seq, Problem: fmt.Sprintf(
				"the trail's root after its first %d events differs from the checkpoint signed by %s: events up to %d were rewritten",
				cp.Size, cp.Origin, cp.Size)}
			return w.broken
		}
	}
	return nil
}

// checkRecorded checks an audit.checkpoint event's signed note against
// the trail just before it (w.head, not yet including e).
func (w *Walk) checkRecorded(e rolegate.Event) error {
	d, _ := e.DecodeDetails() // only the note matters here, and it is checked
	recorded, _ := d.(rolegate.AuditCheckpoint)
	if recorded.Note == "" {
		return &BreakError{Seq: e.Seq, Problem: "a checkpoint event without its signed note"}
	}
	cp, err := Open([]byte(recorded.Note), w.recorded)
	if err != nil {
		if errors.Is(err, ErrOtherKey) {
			return nil
		}
		return &BreakError{Seq: e.Seq, Problem: "its signed checkpoint does not verify: " + err.Error()}
	}
	if cp.Size != e.Seq-1 || (cp.Hash != HexHash(w.tree.Root()) && cp.Hash != e.PrevHash) {
		return &BreakError{Seq: e.Seq, Problem: fmt.Sprintf(
			"it records a checkpoint of %d events that does not match the trail before it", cp.Size)}
	}
	w.inTrail++
	return nil
}

// Finish ends the walk: the head reached, or the first error, including a
// checkpoint that covers more events than the trail now holds.
func (w *Walk) Finish() (Head, error) {
	w.head.Root = HexHash(w.tree.Root())
	if w.broken != nil {
		return w.head, w.broken
	}
	for _, cps := range w.checkpoints {
		for _, cp := range cps {
			if cp.Size > w.head.Size {
				return w.head, &BreakError{Seq: w.head.Size + 1, Problem: fmt.Sprintf(
					"missing: the trail ends at event %d but the checkpoint signed by %s covers %d events (the trail was truncated)",
					w.head.Size, cp.Origin, cp.Size)}
			}
			if cp.Size == 0 && cp.Hash != GenesisHash && cp.Hash != HexHash(EmptyRoot) {
				return w.head, &BreakError{Seq: 0, Problem: "the checkpoint for an empty trail has a hash other than the empty tree's"}
			}
		}
	}
	return w.head, nil
}

// Head is where the walk has reached.
func (w *Walk) Head() Head {
	h := w.head
	h.Root = HexHash(w.tree.Root())
	return h
}

// Root is the Merkle root of the events walked so far.
func (w *Walk) Root() tlog.Hash { return w.tree.Root() }
