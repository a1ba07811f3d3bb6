package sqlite

import (
	"context"
	"fmt"

	"github.com/pressly/goose/v3"

	"github.com/rolegate/rolegate/migrations"
)

// ErrSchemaTooNew is returned when the database was migrated by a newer
// rolegate than this one: running on it could corrupt data.
type ErrSchemaTooNew struct{ DB, Binary int64 }

func (e *ErrSchemaTooNew) Error() string {
	return fmt.Sprintf("sqlite: the database schema is at version %d but this rolegate knows only up to %d; run the newer rolegate or restore a backup", e.DB, e.Binary)
}

func (db *DB) provider() (*goose.Provider, error) {
	p, err := goose.NewProvider(goose.DialectSQLite3, db.write, migrations.FS,
		goose.WithDisableGlobalRegistry(true),
		goose.WithGoMigrations(auditTreeMigration()))
	if err != nil {
		return nil, fmt.Errorf("sqlite: load migrations: %w", err)
	}
	return p, nil
}

// Migrate applies pending migrations; applying them again is a no-op.
func (db *DB) Migrate(ctx context.Context) error {
	p, err := db.provider()
	if err != nil {
		return err
	}
	current, target, err := p.GetVersions(ctx)
	if err != nil {
		return fmt.Errorf("sqlite: read schema version: %w", err)
	}
	if current > target {
		return &ErrSchemaTooNew{DB: current, Binary: target}
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("sqlite: migrate: %w", err)
	}
	return nil
}

// SchemaVersion returns the database's and the binary's schema versions.
func (db *DB) SchemaVersion(ctx context.Context) (current, target int64, err error) {
	p, err := db.provider()
	if err != nil {
		return 0, 0, err
	}
	return p.GetVersions(ctx)
}
