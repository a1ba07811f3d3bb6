package main

import (
	"context"
	"flag"
	"io"
	"os"

	"github.com/rolegate/rolegate/internal/app"
	"github.com/rolegate/rolegate/internal/config"
)

// dbFlag reads -db (or ROLEGATE_DB / ROLEGATE_DB_FILE, or the default) for
// the subcommands that only need the database.
func dbFlag(name string, args []string, getenv func(string) string, stderr io.Writer) (database, error) {
	fs := flag.NewFlagSet("rolegate "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	db := fs.String("db", "", "SQLite file or postgres:// URL (ROLEGATE_DB, ROLEGATE_DB_FILE)")
	if err := fs.Parse(args); err != nil {
		return database{}, err
	}
	if fs.NArg() > 0 {
		return database{}, errUsage
	}
	return databaseOf(*db, getenv)
}

// database is the database a subcommand works on: a SQLite file, or a
// PostgreSQL database whose URL (which may hold a password) is shown only
// as its name.
type database struct {
	path string
	url  config.Secret
}

// databaseOf is the database a subcommand works on: its -db flag, else
// ROLEGATE_DB or ROLEGATE_DB_FILE, else the default (as serve reads it).
func databaseOf(flagValue string, getenv func(string) string) (database, error) {
	path, url, err := config.DatabaseOf(flagValue, getenv)
	return database{path: path, url: url}, err
}

func (d database) postgres() bool { return d.url != "" }

// source is what the store opens; never print it.
func (d database) source() string {
	if d.postgres() {
		return d.url.Reveal()
	}
	return d.path
}

// String names the database for messages.
func (d database) String() string {
	if d.postgres() {
		return config.PostgresName(d.url.Reveal())
	}
	return d.path
}

// exists reports whether there is a database to read: a SQLite file that
// exists (opening one creates it), or any PostgreSQL database (opening it
// says whether it answers).
func (d database) exists() bool {
	if d.postgres() {
		return true
	}
	fi, err := os.Stat(d.path)
	return err == nil && fi.Mode().IsRegular()
}

// open opens and migrates the database.
func (d database) open(ctx context.Context) (*app.Store, error) {
	return app.OpenStore(ctx, d.source())
}
