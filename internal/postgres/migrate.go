package postgres

import (
	"context"
	"database/sql"
	"fmt"
	"io/fs"

	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"

	"github.com/rolegate/rolegate/migrations"
)

// ErrSchemaTooNew is returned when the database was migrated by a newer
// rolegate than this one: running on it could corrupt data.
type ErrSchemaTooNew struct{ DB, Binary int64 }

func (e *ErrSchemaTooNew) Error() string {
	return fmt.Sprintf("postgres: the database schema is at version %d but this rolegate knows only up to %d; run the newer rolegate", e.DB, e.Binary)
}

// provider returns goose over PostgreSQL's own history. Its session locker
// holds an advisory lock while it migrates: a second process starting at
// the same time waits, then finds nothing left to do. The lock is the
// connection's, so a process killed mid-migration releases it.
func (db *DB) provider() (*goose.Provider, *sql.DB, error) {
	sqlDB := stdlib.OpenDBFromPool(db.pool)
	history, err := fs.Sub(migrations.Postgres, "postgres")
	if err != nil {
		sqlDB.Close()
		return nil, nil, fmt.Errorf("postgres: load migrations: %w", err)
	}
	// Asked every second for up to five minutes: a second process starts
	// a second after the first has migrated, not goose's default five.
	locker, err := lock.NewPostgresSessionLocker(lock.WithLockTimeout(1, 300))
	if err != nil {
		sqlDB.Close()
		return nil, nil, fmt.Errorf("postgres: migration lock: %w", err)
	}
	p, err := goose.NewProvider(goose.DialectPostgres, sqlDB, history,
		goose.WithDisableGlobalRegistry(true), goose.WithSessionLocker(locker))
	if err != nil {
		sqlDB.Close()
		return nil, nil, fmt.Errorf("postgres: load migrations: %w", err)
	}
	return p, sqlDB, nil
}

// Migrate applies pending migrations; applying them again is a no-op.
func (db *DB) Migrate(ctx context.Context) error {
	p, sqlDB, err := db.provider()
	if err != nil {
		return err
	}
	defer sqlDB.Close()
	current, target, err := p.GetVersions(ctx)
	if err != nil {
		return fmt.Errorf("postgres: read schema version: %w", err)
	}
	if current > target {
		return &ErrSchemaTooNew{DB: current, Binary: target}
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("postgres: migrate: %w", err)
	}
	return nil
}

// SchemaVersion returns the database's and the binary's schema versions.
func (db *DB) SchemaVersion(ctx context.Context) (current, target int64, err error) {
	p, sqlDB, err := db.provider()
	if err != nil {
		return 0, 0, err
	}
	defer sqlDB.Close()
	return p.GetVersions(ctx)
}
