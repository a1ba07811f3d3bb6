// Package migrations holds the database schema as versioned SQL files,
// embedded in the binary and applied with goose (internal/sqlite).
package migrations

import "embed"

// FS holds every *.sql migration, named NNNNN_what.sql. Migration 00009
// (the audit trail's Merkle tree) computes hashes, so it is Go:
// internal/sqlite/audit_tree.go registers it with goose beside these.
//
//go:embed *.sql
var FS embed.FS

// Postgres holds PostgreSQL's own history (postgres/NNNNN_what.sql), applied
// by internal/postgres: the engines' schemas are written apart, so that
// each uses its own types and features, and numbered apart.
//
//go:embed postgres/*.sql
var Postgres embed.FS
