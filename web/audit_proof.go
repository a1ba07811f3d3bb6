package web

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/rolegate/rolegate/internal/audit"
	"github.com/rolegate/rolegate/internal/rolegate"
	"github.com/rolegate/rolegate/views"
)

var (
	errNoCheckpoint = rolegate.Errorf(rolegate.ENOTFOUND, "No checkpoint of that size has been signed.")
	errNotCovered   = rolegate.Errorf(rolegate.ENOTFOUND, "This event is not covered by the latest checkpoint yet; the next checkpoint will cover it.")
)

// checkpointNote downloads the checkpoint of :size events recorded in the
// trail, the signed note, for an auditor to keep where the portal cannot
// write (and to check exports and proofs against, offline). The Audit page
// links the latest.
func (s *Server) checkpointNote(c echo.Context) error {
	size, err := strconv.ParseInt(c.Param("size"), 10, 64)
	if err != nil || size < 0 {
		return errNoCheckpoint
	}
	cp, note, ok, err := s.Audit.CheckpointOfSize(ctx(c), size)
	if err != nil {
		return err
	}
	if !ok {
		return errNoCheckpoint
	}
	name := "rolegate-checkpoint-" + strconv.FormatInt(cp.Size, 10) + ".txt"
	c.Response().Header().Set(echo.HeaderContentDisposition, `attachment; filename="`+name+`"`)
	return c.Blob(http.StatusOK, "text/plain; charset=utf-8", note)
}

// eventProof downloads one event with its inclusion proof in the latest
// checkpoint and that checkpoint's signed note: one exported line, which
// rolegate audit verify -export checks alone, offline, with the verifier
// key. The proof is checked before it leaves, and the download is
// recorded like every export.
func (s *Server) eventProof(c echo.Context) error {
	seq, err := strconv.ParseInt(c.Param("seq"), 10, 64)
	if err != nil || seq < 1 {
		return errNotCovered
	}
	cp, note, ok, err := s.Audit.LatestCheckpoint(ctx(c))
	switch {
	case err != nil:
		return err
	case !ok:
		return errNotCovered
	case seq > cp.Size:
		return errNotCovered
	}
	e, hashes, err := s.Audit.ProveEvent(ctx(c), seq, cp.Size)
	if err != nil {
		return err
	}
	if !provedBy(e, hashes, cp) {
		// Never hand out a proof that fails: the trail no longer matches
		// what was signed, which rolegate audit verify will name.
		s.Logger.Error("audit proof does not lead to the checkpoint's root", "seq", seq, "checkpoint_size", cp.Size)
		return rolegate.Errorf(rolegate.EINTERNAL, "This event does not match the latest checkpoint. Run rolegate audit verify.")
	}
	line, err := audit.AppendProvedJSONLine(nil, e, &audit.Proof{TreeSize: cp.Size, Hashes: hashes, Checkpoint: string(note)})
	if err != nil {
		return err
	}
	rec := rolegate.NewEvent(s.actor(c), rolegate.OutcomeSuccess, rolegate.AuditExported{Format: "proof", Event: seq, TreeSize: cp.Size})
	if err := s.Audit.AppendEvent(ctx(c), rec); err != nil {
		return err
	}
	name := "rolegate-audit-event-" + strconv.FormatInt(seq, 10) + "-proof.jsonl"
	c.Response().Header().Set(echo.HeaderContentDisposition, `attachment; filename="`+name+`"`)
	return c.Blob(http.StatusOK, "application/jsonl; charset=utf-8", line)
}

// provedBy says whether e's proof leads to cp's root.
func provedBy(e rolegate.Event, hashes []tlog.Hash, cp audit.Checkpoint) bool {
	leaf, err := audit.LeafHash(e)
	if err != nil {
		return false
	}
	root, err := audit.RootFromInclusion(e.Seq-1, cp.Size, leaf, hashes)
	return err == nil && audit.HexHash(root) == cp.Hash
}

// withInclusion adds to a page of events the latest checkpoint and, for
// each event it covers, whether the event's proof leads to its root.
func (s *Server) withInclusion(c echo.Context, r views.AuditRows) (views.AuditRows, *views.AuditCheckpoint, error) {
	cp, _, ok, err := s.Audit.LatestCheckpoint(ctx(c))
	if errors.Is(err, audit.ErrTrailChanged) {
		// Said on the page, loudly, rather than hiding the page.
		s.Logger.Error("audit trail does not match its latest checkpoint", "checkpoint_size", cp.Size)
		return r, &views.AuditCheckpoint{Origin: cp.Origin, Size: cp.Size, Root: cp.Hash, Changed: true}, nil
	}
	if err != nil || !ok {
		return r, nil, err
	}
	included, err := s.Audit.IncludedIn(ctx(c), cp, r.Events)
	if err != nil {
		return r, nil, err
	}
	r.Checkpoint, r.Included = cp.Size, included
	return r, &views.AuditCheckpoint{Origin: cp.Origin, Size: cp.Size, Root: cp.Hash, URL: checkpointPath(cp.Size)}, nil
}

// checkpointPath is where the checkpoint of size events is downloaded.
func checkpointPath(size int64) string {
	return "/audit/checkpoints/" + strconv.FormatInt(size, 10)
}
