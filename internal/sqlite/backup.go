package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
)

// Backup refusals, for the caller to name the setting or the file at fault.
var (
	// ErrBackupExists: the copy's name is taken; a backup never overwrites.
	ErrBackupExists = errors.New("sqlite: the backup file already exists")
	// ErrNoDatabase: there is no database file to copy.
	ErrNoDatabase = errors.New("sqlite: no database file")
)

// BackupReport describes a copy that was written and verified.
type BackupReport struct {
	Bytes         int64 // size of the copy
	SchemaVersion int64
	Requests      int64
	AuditEvents   int64
}

// String is the report's one-line summary of what the copy holds.
func (r BackupReport) String() string {
	return fmt.Sprintf("schema version %d, %d requests, %d audit events", r.SchemaVersion, r.Requests, r.AuditEvents)
}

// Backup writes a consistent copy of the database at src to the new file
// dst while the portal keeps running: VACUUM INTO reads one snapshot (WAL
// lets it run beside the writer), the copy is written under a temporary name
// with mode 0600, checked by opening it (integrity_check and row counts),
// synced, and only then given its name. An existing file is never
// overwritten, and a refused or failed backup leaves nothing behind.
func Backup(ctx context.Context, src, dst string) (BackupReport, error) {
	if _, err := os.Lstat(dst); err == nil {
		return BackupReport{}, fmt.Errorf("%w: %s", ErrBackupExists, dst)
	} else if !errors.Is(err, os.ErrNotExist) {
		return BackupReport{}, fmt.Errorf("sqlite: backup: %w", err)
	}
	if fi, err := os.Stat(src); err != nil || !fi.Mode().IsRegular() {
		return BackupReport{}, fmt.Errorf("%w at %s", ErrNoDatabase, src)
	}
	dir := filepath.Dir(dst)
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		return BackupReport{}, fmt.Errorf("sqlite: backup: the folder %s does not exist", dir)
	}

	// VACUUM INTO accepts an empty file: creating it first (CreateTemp
	// makes it 0600) protects the copy before any of people's data is in it.
	f, err := os.CreateTemp(dir, "."+filepath.Base(dst)+".partial-*")
	if err != nil {
		return BackupReport{}, fmt.Errorf("sqlite: backup: %w", err)
	}
	tmp := f.Name()
	f.Close()
	defer os.Remove(tmp) // gone once linked; left only by a failure
	if err := vacuumInto(ctx, src, tmp); err != nil {
		return BackupReport{}, err
	}
	report, err := verifyCopy(ctx, tmp)
	if err != nil {
		return BackupReport{}, fmt.Errorf("sqlite: backup: the copy does not verify, nothing was written to %s: %w", dst, err)
	}
	if err := syncPath(tmp); err != nil {
		return BackupReport{}, fmt.Errorf("sqlite: backup: %w", err)
	}
	// A hard link gives the copy its name only if the name is still free,
	// even if something created it meanwhile.
	if err := os.Link(tmp, dst); err != nil {
		if errors.Is(err, os.ErrExist) {
			return BackupReport{}, fmt.Errorf("%w: %s", ErrBackupExists, dst)
		}
		return BackupReport{}, fmt.Errorf("sqlite: backup: %w", err)
	}
	_ = syncPath(dir) // the new name survives a power cut too
	if fi, err := os.Stat(dst); err == nil {
		report.Bytes = fi.Size()
	}
	return report, nil
}

// vacuumInto copies the database at src into the empty file dst. The
// source is opened read-only and waits (busy_timeout) rather than fail if
// the portal is checkpointing.
func vacuumInto(ctx context.Context, src, dst string) error {
	db, err := sql.Open("sqlite", readOnlyDSN(src))
	if err != nil {
		return fmt.Errorf("sqlite: backup: open %s: %w", src, err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	if _, err := db.ExecContext(ctx, `VACUUM INTO ?`, dst); err != nil {
		return fmt.Errorf("sqlite: backup: copy %s: %w", src, err)
	}
	return nil
}

// verifyCopy opens the copy and checks it: SQLite's integrity check, then
// the schema version and the rows of the main tables, which it reports.
func verifyCopy(ctx context.Context, path string) (BackupReport, error) {
	db, err := sql.Open("sqlite", readOnlyDSN(path))
	if err != nil {
		return BackupReport{}, err
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	if err := integrityCheck(ctx, db); err != nil {
		return BackupReport{}, err
	}
	var r BackupReport
	if err := db.QueryRowContext(ctx, `SELECT COALESCE(MAX(version_id), 0) FROM goose_db_version WHERE is_applied`).Scan(&r.SchemaVersion); err != nil {
		return BackupReport{}, fmt.Errorf("read the schema version: %w", err)
	}
	if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM requests`).Scan(&r.Requests); err != nil {
		return BackupReport{}, fmt.Errorf("count requests: %w", err)
	}
	var lastSeq int64
	if err := db.QueryRowContext(ctx, `SELECT COUNT(*), COALESCE(MAX(seq), 0) FROM audit_events`).Scan(&r.AuditEvents, &lastSeq); err != nil {
		return BackupReport{}, fmt.Errorf("count audit events: %w", err)
	}
	if r.AuditEvents != lastSeq {
		return BackupReport{}, fmt.Errorf("the audit trail has %d events but its last is #%d", r.AuditEvents, lastSeq)
	}
	return r, nil
}

// integrityCheck runs PRAGMA integrity_check and returns what it found
// wrong, if anything.
func integrityCheck(ctx context.Context, db *sql.DB) error {
	rows, err := db.QueryContext(ctx, `PRAGMA integrity_check`)
	if err != nil {
		return fmt.Errorf("integrity check: %w", err)
	}
	defer rows.Close()
	var problems []string
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			return fmt.Errorf("integrity check: %w", err)
		}
		if line != "ok" {
			problems = append(problems, line)
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("integrity check: %w", err)
	}
	if len(problems) > 0 {
		return fmt.Errorf("integrity check: %s", strings.Join(problems, "; "))
	}
	return nil
}

// readOnlyDSN opens path read-only with a busy timeout. The path goes into
// a "file:" URI, where '?' or '#' would end it and '%' starts an escape.
func readOnlyDSN(path string) string {
	q := url.Values{}
	q.Set("mode", "ro")
	q.Add("_pragma", "busy_timeout(5000)")
	return "file:" + strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(path) + "?" + q.Encode()
}

// syncPath flushes a file, or a folder's entries, to disk.
func syncPath(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}
