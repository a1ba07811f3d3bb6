package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/rolegate/rolegate/internal/sqlite"
)

// backup writes a consistent, verified copy of the database to a new file
// while the portal keeps running (sqlite.Backup) and prints what it holds.
// An existing file is never overwritten.
func backup(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	target, d, err := backupArgs(args, getenv, stderr)
	if err != nil {
		return err
	}
	if d.postgres() {
		// PostgreSQL's own tools copy a live database consistently; the
		// operator's managed backups (or pg_dump) are the backup.
		return fmt.Errorf("backup: ROLEGATE_DB is PostgreSQL (%s): rolegate backup copies SQLite files only. "+
			"Back PostgreSQL up with its own tools: your provider's managed backups (with point-in-time recovery), "+
			"or pg_dump --format=custom --file=%s DATABASE_URL, restored with pg_restore", d, target)
	}
	dbPath := d.path
	report, err := sqlite.Backup(ctx, dbPath, target)
	switch {
	case errors.Is(err, sqlite.ErrBackupExists):
		return fmt.Errorf("backup: %s already exists; a backup never overwrites a file, choose a new name", target)
	case errors.Is(err, sqlite.ErrNoDatabase):
		return fmt.Errorf("ROLEGATE_DB: no database at %s", dbPath)
	case err != nil:
		return err
	}
	fmt.Fprintf(stdout, "backup of %s written to %s (%d bytes): integrity ok, %s\n", dbPath, target, report.Bytes, report)
	return nil
}

// backupArgs reads "FILE [-db file]" in either order.
func backupArgs(args []string, getenv func(string) string, stderr io.Writer) (target string, d database, err error) {
	fs := flag.NewFlagSet("rolegate backup", flag.ContinueOnError)
	fs.SetOutput(stderr)
	db := fs.String("db", "", "SQLite file to copy (ROLEGATE_DB, ROLEGATE_DB_FILE)")
	var files []string
	for {
		if err := fs.Parse(args); err != nil {
			return "", database{}, err
		}
		if fs.NArg() == 0 {
			break
		}
		files = append(files, fs.Arg(0))
		args = fs.Args()[1:]
	}
	if len(files) != 1 || strings.TrimSpace(files[0]) == "" {
		return "", database{}, errors.New("usage: rolegate backup FILE [-db file]: name one new file to write the copy to")
	}
	d, err = databaseOf(*db, getenv)
	return files[0], d, err
}
