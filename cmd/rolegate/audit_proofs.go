package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/rolegate/rolegate/internal/app"
	auditlog "github.com/rolegate/rolegate/internal/audit"
)

// auditProve prints a proof, to be checked later and elsewhere with
// rolegate audit verify and the verifier key only:
//   - -event N: the event as an exported JSON line with its inclusion proof
//     in the latest checkpoint recorded in the trail (or the one given)
//     and that checkpoint's signed note: rolegate audit verify -export
//     checks it alone.
//   - -checkpoint OLD -checkpoint NEW: the consistency proof that NEW
//     extends OLD, for rolegate audit verify -checkpoint OLD -checkpoint NEW
//     -proof FILE.
//
// Before printing, the proof is checked against the checkpoint's root, so
// a trail rewritten since the checkpoint was signed fails here (exit 1).
func auditProve(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs, dbFlag := auditFlags("prove", stderr)
	var cpFiles fileList
	fs.Var(&cpFiles, "checkpoint", "the checkpoint to prove against (default: the latest recorded in the trail); twice: a consistency proof between them")
	seq := fs.Int64("event", 0, "the event (its seq) to prove included")
	if err := fs.Parse(args); err != nil {
		return &exitError{code: exitCannotTell, err: err}
	}
	if fs.NArg() > 0 {
		return cannotTell("audit prove: unexpected %q\n%s", fs.Arg(0), auditUsage)
	}
	var checkpoints []auditlog.Checkpoint
	var notes [][]byte
	for _, f := range cpFiles {
		// The signature is checked by whoever checks the proof.
		cp, msg, err := openCheckpointFile("prove", f, nil)
		if err != nil {
			return err
		}
		checkpoints, notes = append(checkpoints, cp), append(notes, msg)
	}
	switch {
	case *seq > 0 && len(checkpoints) <= 1:
	case *seq == 0 && len(checkpoints) == 2:
	default:
		return cannotTell("audit prove: give -event N (and at most one -checkpoint), or two -checkpoint files\n%s", auditUsage)
	}
	db, err := openTrail(ctx, *dbFlag, getenv)
	if err != nil {
		return err
	}
	defer db.Close()
	trail := db.Audit

	if len(checkpoints) == 2 {
		p, err := proveConsistency(ctx, trail, checkpoints[0], checkpoints[1])
		if err != nil {
			return err
		}
		b, _ := json.Marshal(p)
		fmt.Fprintf(stderr, "the tree of %d events extends the tree of %d: %d hashes\n", p.NewSize, p.OldSize, len(p.Hashes))
		_, err = fmt.Fprintf(stdout, "%s\n", b)
		return err
	}

	var cp auditlog.Checkpoint
	var msg []byte
	if len(checkpoints) == 1 {
		cp, msg = checkpoints[0], notes[0]
	} else {
		var ok bool
		cp, msg, ok, err = trail.LatestCheckpoint(ctx)
		if errors.Is(err, auditlog.ErrTrailChanged) {
			return &exitError{code: exitBroken, err: fmt.Errorf("audit prove: %w", err)}
		}
		if err != nil {
			return cannotTell("audit prove: %w", err)
		}
		if !ok {
			return cannotTell("audit prove: no checkpoint of the Merkle tree is recorded in the trail yet; sign one with rolegate audit checkpoint")
		}
	}
	if *seq > cp.Size {
		return cannotTell("audit prove: event %d is newer than the checkpoint (%d events); sign a new one with rolegate audit checkpoint", *seq, cp.Size)
	}
	e, hashes, err := trail.ProveEvent(ctx, *seq, cp.Size)
	if errors.Is(err, auditlog.ErrNotInTree) {
		return &exitError{code: exitBroken, err: fmt.Errorf("audit prove: event %d is not in the trail, though the checkpoint covers %d events (the trail was truncated)", *seq, cp.Size)}
	}
	if err != nil {
		return cannotTell("audit prove: %w", err)
	}
	leaf, err := auditlog.LeafHash(e)
	if err == nil {
		var root tlog.Hash
		if root, err = auditlog.RootFromInclusion(e.Seq-1, cp.Size, leaf, hashes); err == nil && auditlog.HexHash(root) != cp.Hash {
			err = errors.New("another root")
		}
	}
	if err != nil {
		return &exitError{code: exitBroken, err: fmt.Errorf(
			"audit prove: event %d as stored does not lead to the root signed by %s at %d events: the trail was changed since (or the checkpoint predates the Merkle tree); run rolegate audit verify",
			*seq, cp.Origin, cp.Size)}
	}
	line, err := auditlog.AppendProvedJSONLine(nil, e, &auditlog.Proof{TreeSize: cp.Size, Hashes: hashes, Checkpoint: string(msg)})
	if err != nil {
		return cannotTell("audit prove: %w", err)
	}
	fmt.Fprintf(stderr, "event %d is included in the checkpoint of %s at %d events (root %s): %d hashes\n",
		e.Seq, cp.Origin, cp.Size, cp.Hash, len(hashes))
	_, err = stdout.Write(line)
	return err
}

// proveConsistency reads the consistency proof between two checkpoints
// from the trail's tree and checks it before handing it out.
func proveConsistency(ctx context.Context, trail app.Trail, older, newer auditlog.Checkpoint) (auditlog.ConsistencyProof, error) {
	p := auditlog.ConsistencyProof{OldSize: older.Size, NewSize: newer.Size}
	if older.Size <= newer.Size {
		hashes, _, err := trail.ProveTree(ctx, older.Size, newer.Size)
		if errors.Is(err, auditlog.ErrNotInTree) {
			return p, &exitError{code: exitBroken, err: fmt.Errorf("audit: the trail holds fewer events than the checkpoint of %d (it was truncated)", newer.Size)}
		}
		if err != nil {
			return p, cannotTell("audit: %w", err)
		}
		p.Hashes = hashes
	}
	if err := auditlog.CheckConsistency(older, newer, p); err != nil {
		if errors.Is(err, auditlog.ErrNotAppendOnly) {
			if legacy := legacyCheckpoint(ctx, trail, older, newer); legacy != "" {
				return p, cannotTell("audit: %s", legacy)
			}
			return p, &exitError{code: exitBroken, err: err}
		}
		return p, cannotTell("%w", err)
	}
	return p, nil
}

// legacyCheckpoint says which of the checkpoints signs a chain hash (one
// signed before the Merkle tree), which no consistency proof can join.
func legacyCheckpoint(ctx context.Context, trail app.Trail, cps ...auditlog.Checkpoint) string {
	for _, cp := range cps {
		if cp.Size == 0 {
			continue
		}
		if hash, err := trail.ChainHash(ctx, cp.Size); err == nil && hash == cp.Hash {
			return fmt.Sprintf("the checkpoint of %d events was signed before the Merkle tree (it signs event %d's chain hash): check it with rolegate audit verify -checkpoint FILE", cp.Size, cp.Size)
		}
	}
	return ""
}

// auditConsistency proves that the trail between two checkpoints was only
// appended to: from a proof file (offline) or from the trail's tree.
func auditConsistency(ctx context.Context, older, newer auditlog.Checkpoint, dbFlag, proofFile string, getenv func(string) string, stdout io.Writer) error {
	if proofFile != "" {
		b, err := os.ReadFile(proofFile)
		if err != nil {
			return cannotTell("audit verify: read the proof: %w", err)
		}
		var p auditlog.ConsistencyProof
		if err := json.Unmarshal(b, &p); err != nil {
			return cannotTell("audit verify: %s is not a consistency proof from rolegate audit prove: %v", proofFile, err)
		}
		if err := auditlog.CheckConsistency(older, newer, p); err != nil {
			if errors.Is(err, auditlog.ErrNotAppendOnly) {
				return &exitError{code: exitBroken, err: err}
			}
			return cannotTell("%w", err)
		}
	} else {
		db, err := openTrail(ctx, dbFlag, getenv)
		if err != nil {
			return err
		}
		defer db.Close()
		if _, err := proveConsistency(ctx, db.Audit, older, newer); err != nil {
			return err
		}
	}
	fmt.Fprintf(stdout, "checkpoints of %s at %d and %d events: consistent, the trail between them was only appended to\n",
		older.Origin, older.Size, newer.Size)
	return nil
}

// auditVerifyExport checks an exported JSON Lines file offline.
func auditVerifyExport(path string, cpFiles []string, verifier note.Verifier, stdout io.Writer) error {
	var check auditlog.ExportCheck
	check.Verifier = verifier
	if len(cpFiles) == 1 {
		if verifier == nil {
			return cannotTell("audit verify: -checkpoint needs the key that signed it: -verifier KEY or -verifier-file FILE")
		}
		cp, _, err := openCheckpointFile("verify", cpFiles[0], verifier)
		if err != nil {
			return err
		}
		check.Checkpoint = &cp
	}
	f, err := os.Open(path)
	if err != nil {
		return cannotTell("audit verify: %w", err)
	}
	defer f.Close()
	rep, err := auditlog.VerifyExport(f, check)
	var broken *auditlog.BreakError
	switch {
	case errors.As(err, &broken):
		return &exitError{code: exitBroken, err: fmt.Errorf("the export does not verify: %w", err)}
	case err != nil:
		return cannotTell("audit verify: %w", err)
	}
	if rep.Full {
		fmt.Fprintf(stdout, "export verified: the trail's first %d events, each matching its hash, chained; head %s, root %s\n",
			rep.Head.Size, rep.Head.Hash, rep.Head.Root)
		if cp := check.Checkpoint; cp != nil {
			kind := "Merkle root"
			if rep.Legacy {
				kind = "chain head, signed before the Merkle tree"
			}
			fmt.Fprintf(stdout, "checkpoint of %s at %d events: they are the export's first %d, unchanged (%s)\n", cp.Origin, cp.Size, cp.Size, kind)
			if rep.Head.Size > cp.Size {
				fmt.Fprintf(stdout, "the %d events after it are chained to it, but no checkpoint given signs them\n", rep.Head.Size-cp.Size)
			}
		}
		if verifier != nil {
			fmt.Fprintf(stdout, "%d checkpoints recorded in the export and signed by %s match the events before them\n", rep.Recorded, verifier.Name())
		}
		return nil
	}
	fmt.Fprintf(stdout, "export verified: %d events, each matching its hash and carrying its inclusion proof\n", rep.Lines)
	for _, t := range rep.Trees {
		var by string
		switch t.Signed {
		case "checkpoint":
			by = fmt.Sprintf("the checkpoint given, signed by %s", check.Checkpoint.Origin)
		case "note":
			by = fmt.Sprintf("the checkpoint the export carries, signed by %s", verifier.Name())
		case "note, unchecked":
			by = "the checkpoint the export carries, whose signature was NOT checked: give -verifier KEY"
		default:
			by = "no checkpoint: compare the root with a checkpoint of that size"
		}
		fmt.Fprintf(stdout, "%d events included in the tree of %d events, root %s; signed by %s\n", t.Events, t.Size, t.Root, by)
	}
	return nil
}
