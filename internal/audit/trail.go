package audit

import (
	"context"
	"errors"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/rolegate/rolegate/internal/rolegate"
)

// Trail is the audit trail as the portal reads and writes it: append,
// search, export, and the proofs that an event is in a signed checkpoint.
// It is declared here rather than in the domain package because its
// checkpoints and proofs are this package's types (and this package
// depends on the domain, not the reverse). internal/sqlite implements it.
type Trail interface {
	// AppendEvent records an event that accompanies no other change (a
	// failed sign-in, an access denied, an export).
	AppendEvent(ctx context.Context, e rolegate.Event) error
	// RequestEvents returns a request's events, oldest first: its timeline.
	RequestEvents(ctx context.Context, requestID int64) ([]rolegate.Event, error)
	// SearchEvents returns a page of the events matching f, newest first,
	// and the cursor of the next page (0: none).
	SearchEvents(ctx context.Context, f rolegate.AuditFilter) ([]rolegate.Event, int64, error)
	// CountEvents counts the events matching f up to most; more says
	// there are more than that. It returns ErrNotCounted rather than
	// count when counting would be slow.
	CountEvents(ctx context.Context, f rolegate.AuditFilter, most int) (n int, more bool, err error)
	// AuditActions lists the actions present in the trail.
	AuditActions(ctx context.Context) ([]string, error)
	// ExportEvents calls fn for every event matching f, oldest first;
	// ExportProvedEvents adds each event's proof against the latest
	// checkpoint.
	ExportEvents(ctx context.Context, f rolegate.AuditFilter, fn func(rolegate.Event) error) error
	ExportProvedEvents(ctx context.Context, f rolegate.AuditFilter, fn func(rolegate.Event, *Proof) error) error
	// LatestCheckpoint and CheckpointOfSize return a checkpoint recorded in
	// the trail with its signed note; ok is false when there is none.
	LatestCheckpoint(ctx context.Context) (cp Checkpoint, note []byte, ok bool, err error)
	CheckpointOfSize(ctx context.Context, size int64) (cp Checkpoint, note []byte, ok bool, err error)
	// ProveEvent returns event seq and its proof in the tree of size events.
	ProveEvent(ctx context.Context, seq, size int64) (rolegate.Event, tlog.RecordProof, error)
	// IncludedIn says which of events the checkpoint covers.
	IncludedIn(ctx context.Context, cp Checkpoint, events []rolegate.Event) (map[int64]bool, error)
}

// ErrNotInTree is returned for a proof about events the tree (or the
// checkpoint asked about) does not hold.
var ErrNotInTree = rolegate.Errorf(rolegate.ENOTFOUND, "That event is not covered by the checkpoint.")

// ErrTrailChanged is returned (wrapped) by LatestCheckpoint when the
// newest checkpoint recorded in the trail signs neither the tree's root
// nor the chain hash at its size: the trail was changed since it was
// signed.
var ErrTrailChanged = errors.New("the trail no longer matches its latest recorded checkpoint; run rolegate audit verify")

// ErrNotCounted is CountEvents declining to count: with these filters
// counting would take longer than a page may wait (free text with another
// common filter, on a large trail). The events themselves are searched as
// always.
var ErrNotCounted = errors.New("audit: counting the events matching these filters would be slow")

// Store is a store's trail with what the operator's commands and the
// stores' conformance suite read besides: the whole trail with its tree
// (audit verify), checkpoints signed and recorded in one transaction, the
// head and the proofs between trees. Both stores' Trail implement it.
type Store interface {
	Trail
	WalkAuditTrail(ctx context.Context, fn func(rolegate.Event) error) error
	AuditTreeRoot(ctx context.Context, size int64) (tlog.Hash, error)
	ProveTree(ctx context.Context, oldSize, newSize int64) (tlog.TreeProof, tlog.Hash, error)
	SignCheckpoint(ctx context.Context, actor rolegate.Actor, origin string,
		sign func(Checkpoint) ([]byte, error), d rolegate.AuditCheckpoint) (Checkpoint, []byte, error)
	AuditHead(ctx context.Context) (Head, string, error)
	ChainHash(ctx context.Context, seq int64) (string, error)
}
