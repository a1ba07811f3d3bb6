// Package postgres stores rolegate's state in PostgreSQL, so that several
// rolegate processes can serve one organization from one database. It is
// the second implementation of the domain's service interfaces
// (internal/rolegate, and internal/audit's Trail), beside internal/sqlite,
// with the same structs (Sessions, Trail, …) over the shared *DB, and it
// holds all of rolegate's PostgreSQL SQL; the rules are the domain's.
//
// What SQLite gets from its single writer, PostgreSQL gets from locks that
// hold across processes:
//   - every service method that changes anything is one READ COMMITTED
//     transaction (update);
//   - the audit trail is appended under a transaction-level advisory lock
//     (audit_events.go), so events from every process get one order with
//     no gaps, and the chain and the tree are extended from the true head;
//   - a replacement of the organization's picture takes an advisory lock
//     of its own (org_roles.go), so syncs from several processes take
//     turns and each difference is recorded once;
//   - migrations run under a session-level advisory lock (migrate.go), so
//     two starting processes never migrate at once.
//
// Reads whose statements must agree run in one REPEATABLE READ, read-only
// transaction (snapshot): one committed state throughout.
//
// Times are stored as Unix milliseconds, as on SQLite.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/rolegate/rolegate/internal/audit"
	"github.com/rolegate/rolegate/internal/rolegate"
)

// DB is the open database: a pool of connections shared by the services.
// The URL it was opened with may hold a password: it is not kept.
type DB struct {
	pool *pgxpool.Pool
	// now is the clock; tests replace it.
	now func() time.Time
	// onEvent is told of every audit event appended (metrics); may be nil.
	onEvent func(action string)
	// notify says where notifications go (notifications.go); nil: nowhere.
	notify *rolegate.NotificationTargets
}

// Open connects to the database at url (postgres://…) and applies pending
// migrations. A database newer than this binary is refused.
func Open(ctx context.Context, url string) (*DB, error) {
	db, err := OpenNoMigrate(ctx, url)
	if err != nil {
		return nil, err
	}
	if err := db.Migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// OpenNoMigrate connects without touching the schema. Its errors never
// repeat url, which may hold a password.
func OpenNoMigrate(ctx context.Context, url string) (*DB, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		// pgx's parse errors quote the URL, password and all.
		return nil, errors.New("postgres: the database URL is not a valid postgres:// URL")
	}
	if !strings.Contains(url, "pool_max_conns") {
		// pgxpool's default (4 on a small machine) is too few: each periodic
		// job holds a connection for its advisory lock (RunExclusive) while
		// its work takes others, beside the pages and the workers.
		cfg.MaxConns = defaultMaxConns
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: connect to %s: %w", where(cfg), err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres: connect to %s: %w", where(cfg), err)
	}
	return &DB{pool: pool, now: time.Now}, nil
}

// defaultMaxConns is the pool's size unless the URL sets pool_max_conns.
const defaultMaxConns = 16

// where names the server and database of cfg for messages: never the user
// or password.
func where(cfg *pgxpool.Config) string {
	return fmt.Sprintf("database %q on %s:%d", cfg.ConnConfig.Database, cfg.ConnConfig.Host, cfg.ConnConfig.Port)
}

// Close closes the pool.
func (db *DB) Close() error {
	db.pool.Close()
	return nil
}

// SetClock replaces the clock (tests only).
func (db *DB) SetClock(now func() time.Time) { db.now = now }

// OnEventAppended registers a callback run for every event appended
// (metrics). It must be set before the database is shared.
func (db *DB) OnEventAppended(fn func(action string)) { db.onEvent = fn }

// ReleaseMemory does nothing on PostgreSQL: rolegate keeps no cache of
// its data there (several nodes share it), and the pool closes the
// connections idle for long by itself.
func (db *DB) ReleaseMemory(context.Context) {}

// Ping checks that the database answers a query, for /readyz.
func (db *DB) Ping(ctx context.Context) error {
	var one int
	return db.pool.QueryRow(ctx, "SELECT 1").Scan(&one)
}

// Tx is a write transaction; helpers that change data take it, so that a
// service method and its audit events commit or roll back together.
type Tx struct {
	pgx.Tx
	db  *DB
	now time.Time
	// appended are the actions of the audit events written, reported to
	// OnEventAppended after commit.
	appended []string
	// queued counts the notifications written; the notifier is woken
	// after commit, when it can see them.
	queued int
}

// update runs fn in one write transaction (READ COMMITTED: each statement
// sees what committed before it, which the locks of the trail and of the
// rows a transition changes rely on).
func (db *DB) update(ctx context.Context, fn func(tx *Tx) error) error {
	pgTx, err := db.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.ReadCommitted})
	if err != nil {
		return fmt.Errorf("postgres: begin: %w", err)
	}
	tx := &Tx{Tx: pgTx, db: db, now: db.now().UTC().Truncate(time.Millisecond)}
	if err := fn(tx); err != nil {
		_ = pgTx.Rollback(context.WithoutCancel(ctx))
		return err
	}
	if err := pgTx.Commit(ctx); err != nil {
		return fmt.Errorf("postgres: commit: %w", err)
	}
	if db.onEvent != nil {
		for _, action := range tx.appended {
			db.onEvent(action)
		}
	}
	if tx.queued > 0 && db.notify != nil && db.notify.Wake != nil {
		db.notify.Wake()
	}
	return nil
}

// snapshot runs fn in one read-only transaction on one committed state.
func (db *DB) snapshot(ctx context.Context, fn func(q pgx.Tx) error) error {
	tx, err := db.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return fmt.Errorf("postgres: begin read: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	return fn(tx)
}

// ms converts a time to the stored Unix milliseconds.
func ms(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UTC().UnixMilli()
}

// fromMS converts stored Unix milliseconds to a UTC time.
func fromMS(v int64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.UnixMilli(v).UTC()
}

// The services, as internal/sqlite implements them.
var (
	_ rolegate.RequestService    = (*Requests)(nil)
	_ rolegate.SessionService    = (*Sessions)(nil)
	_ rolegate.Outbox            = (*Outbox)(nil)
	_ rolegate.ProvisioningQueue = (*Jobs)(nil)
	_ rolegate.PictureStore      = (*Picture)(nil)
	_ rolegate.DirectoryStore    = (*Picture)(nil)
	_ rolegate.AccessService     = (*Requests)(nil)
	_ rolegate.RemovalQueue      = (*Removals)(nil)
	_ rolegate.Counts            = (*Counts)(nil)
	_ audit.Trail                = (*Trail)(nil)
)
