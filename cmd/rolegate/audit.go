package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"os/user"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/rolegate/rolegate/internal/app"
	auditlog "github.com/rolegate/rolegate/internal/audit"
	"github.com/rolegate/rolegate/internal/config"
	"github.com/rolegate/rolegate/internal/rolegate"
)

// Exit statuses of rolegate audit verify: 0 the trail verifies, 1 it does
// not (the message names the first event at fault), 2 it could not be
// checked (usage, a missing database, an unusable checkpoint or key).
const (
	exitBroken     = 1
	exitCannotTell = 2
)

// exitError is an error with the exit status it asks of main.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }
func (e *exitError) ExitCode() int { return e.code }

func cannotTell(format string, args ...any) error {
	return &exitError{code: exitCannotTell, err: fmt.Errorf(format, args...)}
}

const auditUsage = `usage:
  rolegate audit verify [-db FILE] [-checkpoint FILE (-verifier KEY | -verifier-file FILE)]
  rolegate audit verify -checkpoint OLD -checkpoint NEW (-verifier KEY | -verifier-file FILE) [-db FILE | -proof FILE]
  rolegate audit verify -export FILE [-checkpoint FILE] [-verifier KEY | -verifier-file FILE]
  rolegate audit prove -event N [-checkpoint FILE] [-db FILE]
  rolegate audit prove -checkpoint OLD -checkpoint NEW [-db FILE]
  rolegate audit checkpoint [-db FILE] [-key FILE]
  rolegate audit keygen [-name NAME] FILE`

// auditCommand runs "rolegate audit verify|prove|checkpoint|keygen".
func auditCommand(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return cannotTell("%s", auditUsage)
	}
	switch args[0] {
	case "verify":
		return auditVerify(ctx, args[1:], getenv, stdout, stderr)
	case "prove":
		return auditProve(ctx, args[1:], getenv, stdout, stderr)
	case "checkpoint":
		return auditCheckpoint(ctx, args[1:], getenv, stdout, stderr)
	case "keygen":
		return auditKeygen(args[1:], getenv, stdout, stderr)
	}
	return cannotTell("audit: unknown command %q\n%s", args[0], auditUsage)
}

// auditFlags is a flag set for an audit subcommand with -db.
func auditFlags(name string, stderr io.Writer) (*flag.FlagSet, *string) {
	fs := flag.NewFlagSet("rolegate audit "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs, fs.String("db", "", "SQLite file (ROLEGATE_DB)")
}

// fileList is a flag that may be given more than once.
type fileList []string

func (f *fileList) String() string     { return strings.Join(*f, ",") }
func (f *fileList) Set(v string) error { *f = append(*f, v); return nil }

// verifierFlags reads -verifier or -verifier-file; nil when neither.
func verifierFrom(cmd, key, file string) (note.Verifier, error) {
	switch {
	case key != "" && file != "":
		return nil, cannotTell("audit %s: give -verifier or -verifier-file, not both", cmd)
	case key == "" && file == "":
		return nil, nil
	}
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, cannotTell("audit %s: read the verifier key: %w", cmd, err)
		}
		key = string(b)
	}
	v, err := auditlog.NewVerifier(key)
	if err != nil {
		return nil, cannotTell("audit %s: %w", cmd, err)
	}
	return v, nil
}

// openCheckpointFile reads a signed checkpoint, checking its signature
// when v is given.
func openCheckpointFile(cmd, path string, v note.Verifier) (auditlog.Checkpoint, []byte, error) {
	msg, err := os.ReadFile(path)
	if err != nil {
		return auditlog.Checkpoint{}, nil, cannotTell("audit %s: read the checkpoint: %w", cmd, err)
	}
	var cp auditlog.Checkpoint
	if v != nil {
		cp, err = auditlog.Open(msg, v)
	} else {
		cp, err = auditlog.ParseNote(msg)
	}
	if err != nil {
		return auditlog.Checkpoint{}, nil, cannotTell("audit %s: %s: %w", cmd, path, err)
	}
	return cp, msg, nil
}

// openTrail opens the database for reading; it must exist.
func openTrail(ctx context.Context, dbFlag string, getenv func(string) string) (*app.Store, error) {
	d, err := databaseOf(dbFlag, getenv)
	if err != nil {
		return nil, cannotTell("%w", err)
	}
	if !d.exists() {
		return nil, cannotTell("ROLEGATE_DB: no database at %s", d)
	}
	db, err := app.OpenStoreNoMigrate(ctx, d.source())
	if err != nil {
		return nil, cannotTell("audit: %w", err)
	}
	return db, nil
}

// openUnmigrated opens the database for a command that writes to it
// beside the rolegate serving it (audit checkpoint), without migrating it:
// a newer binary must not change the schema under an older one serving
// the file, and this binary must not write into a schema it does not know.
// A database whose schema is not this binary's is refused, unchanged, with
// what to do.
func openUnmigrated(ctx context.Context, cmd string, d database) (*app.Store, error) {
	db, err := app.OpenStoreNoMigrate(ctx, d.source())
	if err != nil {
		return nil, cannotTell("audit %s: %w", cmd, err)
	}
	current, target, err := db.SchemaVersion(ctx)
	switch {
	case err != nil:
		err = cannotTell("audit %s: read the schema version of %s: %w", cmd, d, err)
	case current < target:
		err = cannotTell("audit %s: the database %s is at schema version %d but this rolegate's is %d, and audit %s never migrates: "+
			"run it with the rolegate that serves the database, or upgrade the database first: stop that rolegate, then run this one's rolegate migrate",
			cmd, d, current, target, cmd)
	case current > target:
		err = cannotTell("audit %s: the database %s is at schema version %d, newer than this rolegate's %d: run it with the newer rolegate that serves the database",
			cmd, d, current, target)
	}
	if err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// auditVerify checks the trail, two checkpoints or an export:
//   - with neither two checkpoints nor -export, it walks the whole trail:
//     every event's hash over its content and its predecessor's hash, seq
//     without gaps, time never backwards, and the Merkle tree rebuilt from
//     the events must be the stored one. With a checkpoint (and the verifier
//     key to check its signature) it also proves that the trail still holds,
//     unchanged, every event the checkpoint covered. With a verifier key,
//     the signed checkpoints recorded in the trail itself are checked
//     against the events before them too.
//   - with two checkpoints, it proves the second extends the first
//     (auditConsistency).
//   - with -export, it checks an exported file offline (auditVerifyExport).
func auditVerify(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs, dbFlag := auditFlags("verify", stderr)
	var cpFiles fileList
	fs.Var(&cpFiles, "checkpoint", "a signed checkpoint (from rolegate audit checkpoint or the log) the trail must still contain; twice: prove the second extends the first")
	verifierKey := fs.String("verifier", "", "the checkpoint verifier key (as rolegate audit keygen prints it)")
	verifierFile := fs.String("verifier-file", "", "a file holding the verifier key")
	exportFile := fs.String("export", "", "an exported JSON Lines file to check offline")
	proofFile := fs.String("proof", "", "with two checkpoints: a consistency proof from rolegate audit prove, to check offline")
	if err := fs.Parse(args); err != nil {
		return &exitError{code: exitCannotTell, err: err}
	}
	if fs.NArg() > 0 {
		return cannotTell("audit verify: unexpected %q\n%s", fs.Arg(0), auditUsage)
	}
	verifier, err := verifierFrom("verify", *verifierKey, *verifierFile)
	if err != nil {
		return err
	}
	if len(cpFiles) > 0 && verifier == nil && *exportFile == "" {
		return cannotTell("audit verify: -checkpoint needs the key that signed it: -verifier KEY or -verifier-file FILE")
	}
	if len(cpFiles) > 2 {
		return cannotTell("audit verify: at most two checkpoints\n%s", auditUsage)
	}
	if *proofFile != "" && len(cpFiles) != 2 {
		return cannotTell("audit verify: -proof is a consistency proof between two checkpoints: give both with -checkpoint")
	}
	if *exportFile != "" {
		if len(cpFiles) > 1 {
			return cannotTell("audit verify: an export is checked against at most one checkpoint")
		}
		return auditVerifyExport(*exportFile, cpFiles, verifier, stdout)
	}
	var checkpoints []auditlog.Checkpoint
	for _, f := range cpFiles {
		cp, _, err := openCheckpointFile("verify", f, verifier)
		if err != nil {
			return err
		}
		checkpoints = append(checkpoints, cp)
	}
	if len(checkpoints) == 2 {
		return auditConsistency(ctx, checkpoints[0], checkpoints[1], *dbFlag, *proofFile, getenv, stdout)
	}

	db, err := openTrail(ctx, *dbFlag, getenv)
	if err != nil {
		return err
	}
	defer db.Close()

	walk := auditlog.NewWalk(checkpoints...)
	if verifier != nil {
		walk.CheckRecorded(verifier)
	}
	trail := db.Audit
	err = trail.WalkAuditTrail(ctx, walk.Add)
	head, ferr := walk.Finish()
	if err == nil {
		err = ferr
	}
	if err == nil {
		// The stored tree must be the one the events make: proofs are
		// served from it.
		stored, terr := trail.AuditTreeRoot(ctx, head.Size)
		switch {
		case terr != nil:
			err = &auditlog.BreakError{Seq: head.Size, Problem: "the stored Merkle tree cannot be read: " + terr.Error()}
		case auditlog.HexHash(stored) != head.Root:
			err = &auditlog.BreakError{Seq: head.Size, Problem: "the stored Merkle tree's root differs from the root of the events (audit_tree was changed)"}
		}
	}
	var broken *auditlog.BreakError
	switch {
	case errors.As(err, &broken):
		return &exitError{code: exitBroken, err: fmt.Errorf("the audit trail does not verify: %w", err)}
	case err != nil:
		return cannotTell("audit verify: %w", err)
	}
	fmt.Fprintf(stdout, "audit trail verified: %d events, head %s, root %s\n", head.Size, head.Hash, head.Root)
	for _, cp := range checkpoints {
		kind := "Merkle root"
		if walk.Legacy(cp) {
			kind = "chain head, signed before the Merkle tree"
		}
		fmt.Fprintf(stdout, "checkpoint of %s at %d events: contained, unchanged (%s)\n", cp.Origin, cp.Size, kind)
	}
	if verifier != nil {
		fmt.Fprintf(stdout, "%d checkpoints recorded in the trail and signed by %s match the events before them\n", walk.Recorded(), verifier.Name())
	}
	return nil
}

// auditCheckpoint signs a checkpoint of the trail now, records it in the
// trail and prints the signed note, to be kept off the machine.
func auditCheckpoint(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs, dbFlag := auditFlags("checkpoint", stderr)
	keyFile := fs.String("key", "", "the signer key file (ROLEGATE_CHECKPOINT_KEY_FILE)")
	if err := fs.Parse(args); err != nil {
		return &exitError{code: exitCannotTell, err: err}
	}
	if fs.NArg() > 0 {
		return cannotTell("audit checkpoint: unexpected %q\n%s", fs.Arg(0), auditUsage)
	}
	path := *keyFile
	if path == "" {
		path = getenv("ROLEGATE_CHECKPOINT_KEY_FILE")
	}
	if path == "" {
		return cannotTell("ROLEGATE_CHECKPOINT_KEY_FILE: no signer key; set it or pass -key FILE (create one with rolegate audit keygen)")
	}
	signer, err := loadCheckpointSigner(path)
	if err != nil {
		return cannotTell("%w", err)
	}
	d, err := databaseOf(*dbFlag, getenv)
	if err != nil {
		return cannotTell("%w", err)
	}
	if !d.exists() {
		return cannotTell("ROLEGATE_DB: no database at %s", d)
	}
	db, err := openUnmigrated(ctx, "checkpoint", d)
	if err != nil {
		return err
	}
	defer db.Close()
	why := rolegate.AuditCheckpoint{Trigger: "command"}
	if u, err := user.Current(); err == nil {
		why.OSUser = u.Username
	}
	_, signed, err := signCheckpoint(ctx, db.Audit, signer, why)
	if err != nil {
		return err
	}
	_, err = stdout.Write(signed)
	return err
}

// signCheckpoint signs the trail's head and records the audit.checkpoint
// event, in one transaction; why is its trigger.
func signCheckpoint(ctx context.Context, trail app.Trail, signer note.Signer, why rolegate.AuditCheckpoint) (auditlog.Checkpoint, []byte, error) {
	return trail.SignCheckpoint(ctx, rolegate.System("checkpoint"), signer.Name(),
		func(cp auditlog.Checkpoint) ([]byte, error) { return auditlog.Sign(cp, signer) }, why)
}

// loadCheckpointSigner reads the signer key file; errors name the
// variable and never repeat the key.
func loadCheckpointSigner(path string) (note.Signer, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return nil, fmt.Errorf("ROLEGATE_CHECKPOINT_KEY_FILE: cannot read %s: %v", path, err)
	}
	s, err := auditlog.NewSigner(string(b))
	if err != nil {
		return nil, fmt.Errorf("ROLEGATE_CHECKPOINT_KEY_FILE: %s: %w", path, err)
	}
	return s, nil
}

// checkCheckpointKey is run at start: a key file that is set but unusable
// stops the start with one line naming the variable.
func checkCheckpointKey(cfg *config.Config) error {
	if cfg.CheckpointKeyFile == "" {
		return nil
	}
	_, err := loadCheckpointSigner(cfg.CheckpointKeyFile)
	return err
}

// runCheckpoints signs a checkpoint at start and every cfg.CheckpointEvery
// until ctx ends, and logs each signed note so that operators can copy it
// off the machine. A trail that has not moved since the last checkpoint
// (its last event is that checkpoint) is not signed again.
func runCheckpoints(ctx context.Context, cfg *config.Config, trail app.Trail, exclusive rolegate.Exclusive, logger *slog.Logger) {
	signer, err := loadCheckpointSigner(cfg.CheckpointKeyFile)
	if err != nil {
		logger.Error("audit checkpoints disabled", "err", err)
		return
	}
	every := cfg.CheckpointEvery
	if every <= 0 {
		every = time.Hour
	}
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		// One node signs at a time (the others find the trail's last event
		// is its checkpoint, or skip while it signs).
		_, err := exclusive(ctx, "audit-checkpoint", func(ctx context.Context) error {
			if _, last, err := trail.AuditHead(ctx); err != nil || last == rolegate.ActionAuditCheckpoint {
				return err
			}
			cp, signed, err := signCheckpoint(ctx, trail, signer, rolegate.AuditCheckpoint{Trigger: "schedule"})
			if err == nil {
				logger.Info("audit checkpoint signed", "origin", cp.Origin, "size", cp.Size, "root", cp.Hash, "note", string(signed))
			}
			return err
		})
		if err != nil && ctx.Err() == nil {
			logger.Error("audit checkpoint", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// auditKeygen creates a checkpoint signer key in a new file (readable by
// its owner only) and prints its verifier key, to keep with the
// checkpoints, away from the machine.
func auditKeygen(args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("rolegate audit keygen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	name := fs.String("name", "", `the log's name, such as "rolegate.example.com/audit" (default: the host of ROLEGATE_BASE_URL + "/audit")`)
	if err := fs.Parse(args); err != nil {
		return &exitError{code: exitCannotTell, err: err}
	}
	if fs.NArg() != 1 {
		return cannotTell("audit keygen: name the file to write the signer key to\n%s", auditUsage)
	}
	target := fs.Arg(0)
	if *name == "" {
		host := "localhost"
		if u, err := url.Parse(getenv("ROLEGATE_BASE_URL")); err == nil && u.Hostname() != "" {
			host = u.Hostname()
		}
		*name = host + "/audit"
	}
	skey, vkey, err := auditlog.GenerateKey(*name)
	if err != nil {
		return cannotTell("%w", err)
	}
	f, err := os.OpenFile(target, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		if errors.Is(err, os.ErrExist) {
			return cannotTell("audit keygen: %s already exists; a key is never overwritten", target)
		}
		return cannotTell("audit keygen: %w", err)
	}
	_, werr := fmt.Fprintln(f, skey)
	if err := errors.Join(werr, f.Sync(), f.Close()); err != nil {
		os.Remove(target)
		return cannotTell("audit keygen: write %s: %w", target, err)
	}
	fmt.Fprintf(stdout, "signer key written to %s (set ROLEGATE_CHECKPOINT_KEY_FILE=%s)\n", target, target)
	fmt.Fprintf(stdout, "verifier key, to keep with the checkpoints and give to rolegate audit verify -verifier:\n%s\n", vkey)
	return nil
}
