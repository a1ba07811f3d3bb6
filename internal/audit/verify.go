package audit

import (
	"fmt"
	"strings"
	"time"

	"github.com/rolegate/rolegate/internal/rolegate"
)

// Head is the state of the trail after its first Size events: Hash is the
// chain hash of event Size, or GenesisHash for an empty trail. It is what a
// checkpoint signs.
type Head struct {
	Size int64
	Hash string
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
// previous event's hash, and that time never goes backwards. With
// checkpoints, it also checks that the trail still holds the events each
// one covered, unchanged.
type Walk struct {
	head        Head
	lastAt      time.Time
	checkpoints map[int64]Checkpoint
	broken      error
}

// NewWalk starts a walk at the genesis; the checkpoints, if any, are
// proved along the way.
func NewWalk(checkpoints ...Checkpoint) *Walk {
	w := &Walk{head: Head{Hash: GenesisHash}, checkpoints: map[int64]Checkpoint{}}
	for _, cp := range checkpoints {
		w.checkpoints[cp.Size] = cp
	}
	return w
}

// Add checks the next event. After the first error it refuses more: the
// walk names the first event that does not match.
func (w *Walk) Add(e rolegate.Event) error {
	if w.broken != nil {
		return w.broken
	}
	want := w.head.Size + 1
	hash, hashErr := Hash(e)
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
	w.head = Head{Size: e.Seq, Hash: e.Hash}
	w.lastAt = e.At
	if cp, ok := w.checkpoints[e.Seq]; ok && cp.Hash != e.Hash {
		w.broken = &BreakError{Seq: e.Seq, Problem: fmt.Sprintf(
			"the trail's hash after its first %d events differs from the checkpoint signed by %s: events up to %d were rewritten",
			cp.Size, cp.Origin, cp.Size)}
		return w.broken
	}
	return nil
}

// Finish ends the walk: the head reached, or the first error, including a
// checkpoint that covers more events than the trail now holds.
func (w *Walk) Finish() (Head, error) {
	if w.broken != nil {
		return w.head, w.broken
	}
	for _, cp := range w.checkpoints {
		if cp.Size > w.head.Size {
			return w.head, &BreakError{Seq: w.head.Size + 1, Problem: fmt.Sprintf(
				"missing: the trail ends at event %d but the checkpoint signed by %s covers %d events (the trail was truncated)",
				w.head.Size, cp.Origin, cp.Size)}
		}
		if cp.Size == 0 && cp.Hash != GenesisHash {
			return w.head, &BreakError{Seq: 0, Problem: "the checkpoint for an empty trail has a hash other than the genesis"}
		}
	}
	return w.head, nil
}

// Head is where the walk has reached.
func (w *Walk) Head() Head { return w.head }
