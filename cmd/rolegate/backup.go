package main

import (
	"context"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	_ "modernc.org/sqlite" // the driver internal/sqlite uses; the backup reads the file directly
)

// backup writes a consistent copy of the database to a new file while the
// portal keeps running: VACUUM INTO reads one snapshot (WAL lets it run
// beside the writer), the copy is written under a temporary name, checked by
// opening it (integrity_check and row counts), synced, and only then given
// its name. An existing file is never overwritten.
func backup(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	target, dbPath, err := backupArgs(args, getenv, stderr)
	if err != nil {
		return err
	}
	if _, err := os.Lstat(target); err == nil {
		return fmt.Errorf("backup: %s already exists; a backup never overwrites a file, choose a new name", target)
	} else if !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("backup: %w", err)
	}
	if fi, err := os.Stat(dbPath); err != nil || !fi.Mode().IsRegular() {
		return fmt.Errorf("ROLEGATE_DB: no database at %s", dbPath)
	}
	dir := filepath.Dir(target)
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		return fmt.Errorf("backup: the folder %s does not exist", dir)
	}

	tmp := filepath.Join(dir, "."+filepath.Base(target)+".partial-"+randomHex(6))
	defer os.Remove(tmp) // gone once linked; left only by a failure
	if err := vacuumInto(ctx, dbPath, tmp); err != nil {
		return err
	}
	if err := os.Chmod(tmp, 0o600); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	summary, err := verifyCopy(ctx, tmp)
	if err != nil {
		return fmt.Errorf("backup: the copy does not verify, nothing was written to %s: %w", target, err)
	}
	if err := syncFile(tmp); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	// A hard link gives the copy its name only if the name is still free,
	// even if something created it meanwhile.
	if err := os.Link(tmp, target); err != nil {
		if errors.Is(err, os.ErrExist) {
			return fmt.Errorf("backup: %s already exists; a backup never overwrites a file, choose a new name", target)
		}
		return fmt.Errorf("backup: %w", err)
	}
	_ = syncFile(dir) // the new name survives a power cut too
	size := int64(0)
	if fi, err := os.Stat(target); err == nil {
		size = fi.Size()
	}
	fmt.Fprintf(stdout, "backup of %s written to %s (%d bytes): integrity ok, %s\n", dbPath, target, size, summary)
	return nil
}

// backupArgs reads "FILE [-db file]" in either order.
func backupArgs(args []string, getenv func(string) string, stderr io.Writer) (target, dbPath string, err error) {
	fs := flag.NewFlagSet("rolegate backup", flag.ContinueOnError)
	fs.SetOutput(stderr)
	db := fs.String("db", "", "SQLite file to copy (ROLEGATE_DB)")
	var files []string
	for {
		if err := fs.Parse(args); err != nil {
			return "", "", err
		}
		if fs.NArg() == 0 {
			break
		}
		files = append(files, fs.Arg(0))
		args = fs.Args()[1:]
	}
	if len(files) != 1 || strings.TrimSpace(files[0]) == "" {
		return "", "", errors.New("usage: rolegate backup FILE [-db file]: name one new file to write the copy to")
	}
	dbPath = *db
	if dbPath == "" {
		dbPath = getenv("ROLEGATE_DB")
	}
	if dbPath == "" {
		dbPath = "./data/rolegate.db"
	}
	return files[0], dbPath, nil
}

// vacuumInto copies the database at src into the new file dst. The source
// is opened read-only and waits (busy_timeout) rather than fail if the
// portal is checkpointing.
func vacuumInto(ctx context.Context, src, dst string) error {
	db, err := sql.Open("sqlite", sqliteDSN(src, "ro"))
	if err != nil {
		return fmt.Errorf("ROLEGATE_DB: open %s: %w", src, err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	if _, err := db.ExecContext(ctx, `VACUUM INTO ?`, dst); err != nil {
		return fmt.Errorf("backup: copy %s: %w", src, err)
	}
	return nil
}

// verifyCopy opens the copy and checks it: SQLite's integrity check, then
// the schema version and the rows of the main tables, which it returns as a
// one-line summary.
func verifyCopy(ctx context.Context, path string) (string, error) {
	db, err := sql.Open("sqlite", sqliteDSN(path, "ro"))
	if err != nil {
		return "", err
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	rows, err := db.QueryContext(ctx, `PRAGMA integrity_check`)
	if err != nil {
		return "", fmt.Errorf("integrity check: %w", err)
	}
	var problems []string
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			rows.Close()
			return "", fmt.Errorf("integrity check: %w", err)
		}
		if line != "ok" {
			problems = append(problems, line)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return "", fmt.Errorf("integrity check: %w", err)
	}
	if len(problems) > 0 {
		return "", fmt.Errorf("integrity check: %s", strings.Join(problems, "; "))
	}
	var version int64
	if err := db.QueryRowContext(ctx, `SELECT COALESCE(MAX(version_id), 0) FROM goose_db_version WHERE is_applied`).Scan(&version); err != nil {
		return "", fmt.Errorf("read the schema version: %w", err)
	}
	var requests, events, lastSeq int64
	if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM requests`).Scan(&requests); err != nil {
		return "", fmt.Errorf("count requests: %w", err)
	}
	if err := db.QueryRowContext(ctx, `SELECT COUNT(*), COALESCE(MAX(seq), 0) FROM audit_events`).Scan(&events, &lastSeq); err != nil {
		return "", fmt.Errorf("count audit events: %w", err)
	}
	if events != lastSeq {
		return "", fmt.Errorf("the audit trail has %d events but its last is #%d", events, lastSeq)
	}
	return fmt.Sprintf("schema version %d, %d requests, %d audit events", version, requests, events), nil
}

// sqliteDSN opens path in mode (ro, rw, rwc) with a busy timeout.
func sqliteDSN(path, mode string) string {
	q := url.Values{}
	q.Set("mode", mode)
	q.Add("_pragma", "busy_timeout(5000)")
	return "file:" + path + "?" + q.Encode()
}

func syncFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}
