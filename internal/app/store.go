package app

import (
	"context"
	"time"

	"github.com/rolegate/rolegate/internal/audit"
	"github.com/rolegate/rolegate/internal/config"
	"github.com/rolegate/rolegate/internal/postgres"
	"github.com/rolegate/rolegate/internal/rolegate"
	"github.com/rolegate/rolegate/internal/sqlite"
)

// Store is the database with one store struct per service over it, on
// whichever engine ROLEGATE_DB names: a SQLite file (internal/sqlite) or
// a PostgreSQL database shared by several processes (internal/postgres).
// Both implement the domain's interfaces; the rest of rolegate sees only
// those.
type Store struct {
	database
	Sessions Sessions
	Outbox   rolegate.Outbox
	Jobs     rolegate.ProvisioningQueue
	Removals rolegate.RemovalQueue
	Picture  Picture
	// Audit is the audit trail (audit.Trail), with the operator's tools
	// beside it (checkpoints, proofs, the walk audit verify reads).
	Audit  Trail
	Counts Counts
	// Engine is "sqlite" or "postgres".
	Engine string

	path     string // the SQLite file; "" on PostgreSQL
	requests func(cfg rolegate.RequestsConfig) Requests
}

// database is what each engine's *DB does for the whole store.
type database interface {
	Close() error
	Ping(ctx context.Context) error
	// ReleaseMemory drops what only serves bursts (caches), for when the
	// process goes quiet.
	ReleaseMemory(ctx context.Context)
	SetClock(now func() time.Time)
	OnEventAppended(fn func(action string))
	SetNotifications(t rolegate.NotificationTargets)
	// RunExclusive runs fn unless another process on the database runs
	// job now (ran false then).
	RunExclusive(ctx context.Context, job string, fn func(context.Context) error) (ran bool, err error)
	SchemaVersion(ctx context.Context) (current, target int64, err error)
}

// Requests is the request service with the filing of access requests.
type Requests interface {
	rolegate.RequestService
	rolegate.AccessService
}

// Sessions is the session service with the people query the notifier uses.
type Sessions interface {
	rolegate.SessionService
	PeopleWithRole(ctx context.Context, role rolegate.PortalRole) ([]rolegate.Person, error)
}

// Picture is the organization's picture with its directory.
type Picture interface {
	rolegate.PictureStore
	rolegate.DirectoryStore
}

// Counts are what the metrics read at scrape time, with the file whose
// size they report (none on PostgreSQL).
type Counts interface {
	rolegate.Counts
	Path() string
}

// Trail is the audit trail with what the operator's commands read: the
// whole trail with its tree (audit verify), checkpoints signed and
// recorded, and the proofs between trees.
type Trail = audit.Store

// Requests is the request service over the store, configured by cfg (New
// builds the one serve runs; tools and tests build theirs here).
func (s *Store) Requests(cfg rolegate.RequestsConfig) Requests { return s.requests(cfg) }

// Path is the SQLite file; "" on PostgreSQL.
func (s *Store) Path() string { return s.path }

// OpenStore opens (and migrates) the database source names, a SQLite path
// or a postgres:// URL (whose password no error repeats), for serve and
// for tools that fill or read it without the rest of the application.
func OpenStore(ctx context.Context, source string) (*Store, error) {
	if config.IsPostgresURL(source) {
		db, err := postgres.Open(ctx, source)
		if err != nil {
			return nil, err
		}
		return postgresStore(db), nil
	}
	db, err := sqlite.Open(ctx, source)
	if err != nil {
		return nil, err
	}
	return sqliteStore(db), nil
}

// OpenStoreNoMigrate opens the database without touching its schema, for
// tools that only read (audit verify).
func OpenStoreNoMigrate(ctx context.Context, source string) (*Store, error) {
	if config.IsPostgresURL(source) {
		db, err := postgres.OpenNoMigrate(ctx, source)
		if err != nil {
			return nil, err
		}
		return postgresStore(db), nil
	}
	db, err := sqlite.OpenNoMigrate(ctx, source)
	if err != nil {
		return nil, err
	}
	return sqliteStore(db), nil
}

func sqliteStore(db *sqlite.DB) *Store {
	return &Store{
		database: db, Engine: "sqlite", path: db.Path(),
		Sessions: sqlite.NewSessions(db), Outbox: sqlite.NewOutbox(db), Jobs: sqlite.NewJobs(db), Removals: sqlite.NewRemovals(db),
		Picture: sqlite.NewPicture(db), Audit: sqlite.NewTrail(db), Counts: sqlite.NewCounts(db),
		requests: func(cfg rolegate.RequestsConfig) Requests { return sqlite.NewRequests(db, cfg) },
	}
}

func postgresStore(db *postgres.DB) *Store {
	return &Store{
		database: db, Engine: "postgres",
		Sessions: postgres.NewSessions(db), Outbox: postgres.NewOutbox(db), Jobs: postgres.NewJobs(db), Removals: postgres.NewRemovals(db),
		Picture: postgres.NewPicture(db), Audit: postgres.NewTrail(db), Counts: pathless{postgres.NewCounts(db)},
		requests: func(cfg rolegate.RequestsConfig) Requests { return postgres.NewRequests(db, cfg) },
	}
}

// pathless is PostgreSQL's counts: no file of its own to measure.
type pathless struct{ rolegate.Counts }

func (pathless) Path() string { return "" }
