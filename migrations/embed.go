// Package migrations holds the database schema as versioned SQL files,
// embedded in the binary and applied with goose (internal/sqlite).
package migrations

import "embed"

// FS holds every *.sql migration, named NNNNN_what.sql.
//
//go:embed *.sql
var FS embed.FS
