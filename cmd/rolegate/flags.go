package main

import (
	"flag"
	"io"

	"github.com/rolegate/rolegate/internal/config"
)

// dbFlag reads -db (or ROLEGATE_DB, or the default) for the subcommands that
// only need the database.
func dbFlag(name string, args []string, getenv func(string) string, stderr io.Writer) (string, error) {
	fs := flag.NewFlagSet("rolegate "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	db := fs.String("db", "", "SQLite file (ROLEGATE_DB)")
	if err := fs.Parse(args); err != nil {
		return "", err
	}
	if fs.NArg() > 0 {
		return "", errUsage
	}
	return dbPathOf(*db, getenv), nil
}

// dbPathOf is the database a subcommand works on: its -db flag, else
// ROLEGATE_DB, else the default.
func dbPathOf(flagValue string, getenv func(string) string) string {
	switch {
	case flagValue != "":
		return flagValue
	case getenv("ROLEGATE_DB") != "":
		return getenv("ROLEGATE_DB")
	}
	return config.DefaultDBPath
}
