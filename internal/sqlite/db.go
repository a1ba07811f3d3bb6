// Package sqlite stores rolegate's state in one SQLite file: requests,
// approvals, the provisioning queue, the outbox, sessions, the
// organization's picture and the audit trail. It implements the domain's
// service interfaces (internal/rolegate, and internal/audit's Trail) and
// holds all of rolegate's SQL; the rules (who may act, what a transition
// causes, who hears of it) are the domain's.
//
// Services: one struct per interface of the domain, each over the shared
// *DB: Requests (requests.go), Sessions (sessions.go), Outbox
// (notifications.go), Jobs (provisioning_jobs.go), Picture (org_roles.go),
// Trail (audit_*.go) and Counts (counts.go, for the metrics). DB itself
// only opens, migrates, runs transactions over its pools, and closes.
//
// Writes: every service method that changes anything is one write
// transaction (update), which loads what it needs, asks the domain, and
// writes the change with its audit events and outbox rows (apply).
// Concurrent writes share one commit and its fsync (group commit,
// groupcommit.go): each runs in a savepoint of its own inside the batch's
// transaction, one after the other, so that a failure rolls back its own
// writes only, and nobody is told "done" before the commit has returned.
//
// Reads: a read of one statement runs on the read pool (db.readPool, or
// db.readStmts for the same pool's statements prepared once). A read of
// several statements whose answers must agree (a request and its
// approvals, a page and the total it is a page of) runs them in one read
// transaction (db.snapshot), which WAL keeps on one committed state
// throughout, whatever commits meanwhile.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	_ "modernc.org/sqlite" // pure-Go driver: a static binary, no cgo

	"github.com/rolegate/rolegate/internal/audit"
	"github.com/rolegate/rolegate/internal/rolegate"
)

// DB is the open database: one connection for writes (SQLite allows one
// writer at a time; queueing in Go is cheaper than SQLITE_BUSY retries) and
// a small pool for reads, which WAL lets run beside the writer.
type DB struct {
	write *sql.DB
	// writeStmts are the write connection's statements prepared once.
	writeStmts *writeStmts
	// readPool runs reads; readStmts are its statements prepared once.
	readPool  *sql.DB
	readStmts *stmtCache
	path      string
	// now is the clock; tests replace it.
	now func() time.Time
	// onEvent is told of every audit event appended (metrics); may be nil.
	onEvent func(action string)
	// notify says where notifications go (notifications.go); nil: nowhere.
	notify *rolegate.NotificationTargets
	// writes queues update's callers for the writer goroutine
	// (groupcommit.go), which runs until closing is closed.
	writes    chan *member
	closeOnce sync.Once
	closing   chan struct{}
	closeMu   sync.RWMutex // held for writing while closing, so that no member is queued after the writer's last look
	closed    bool
	writerEnd chan struct{}
	batches   int64 // the writer's count of batches
	// gen is the write generation: one more after every batch the writer
	// ends, before its members are told. The read caches (readcache.go)
	// serve a value only while gen is the one it was read at.
	gen      atomic.Uint64
	sessions *readCache[string, cachedSession]
	records  *readCache[int64, *rolegate.RequestRecord]
	counts   *readCache[countKey, int]
}

// pragmas are set on every connection.
//   - WAL: readers never block the writer, and the reverse.
//   - synchronous=FULL: an acknowledged approval or audit event survives a
//     power cut, not only a process crash; the cost is one fsync per commit,
//     which our write rate (people clicking) affords easily.
//   - foreign_keys: the schema's REFERENCES are enforced.
//   - busy_timeout: a second process (rolegate backup, audit verify) waits
//     instead of failing.
//   - cache_size: 2 MiB per connection, SQLite's default. Each connection
//     has its own cache; at 16 MiB the five of them held 75 MiB after an
//     audit export (docs/PERFORMANCE.md), and the OS caches the file anyway.
var pragmas = []string{
	"journal_mode(WAL)",
	"synchronous(FULL)",
	"foreign_keys(1)",
	"busy_timeout(5000)",
	"temp_store(MEMORY)",
	"cache_size(-2000)",
}

// Open opens (creating if needed) the database at path and applies pending
// migrations. A database newer than this binary is refused.
func Open(ctx context.Context, path string) (*DB, error) {
	db, err := OpenNoMigrate(ctx, path)
	if err != nil {
		return nil, err
	}
	if err := db.Migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// OpenNoMigrate opens the database without touching its schema.
func OpenNoMigrate(ctx context.Context, path string) (*DB, error) {
	if path == "" {
		return nil, errors.New("sqlite: empty database path")
	}
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o750); err != nil {
			return nil, fmt.Errorf("sqlite: create the database folder: %w", err)
		}
	}
	q := url.Values{}
	for _, p := range pragmas {
		q.Add("_pragma", p)
	}
	// BEGIN IMMEDIATE takes the write lock up front, so a read-then-write
	// transaction can never fail half way with SQLITE_BUSY.
	// The path goes into a "file:" URI, where '?' or '#' would end it and
	// '%' starts an escape.
	uriPath := strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(path)
	writeDSN := "file:" + uriPath + "?" + q.Encode() + "&_txlock=immediate"
	readDSN := "file:" + uriPath + "?" + q.Encode() + "&mode=ro"

	write, err := sql.Open("sqlite", writeDSN)
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	write.SetMaxOpenConns(1)
	write.SetMaxIdleConns(1)
	write.SetConnMaxLifetime(0)
	if err := write.PingContext(ctx); err != nil {
		write.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	read, err := sql.Open("sqlite", readDSN)
	if err != nil {
		write.Close()
		return nil, fmt.Errorf("sqlite: open %s for reading: %w", path, err)
	}
	n := max(4, runtime.NumCPU()*2)
	read.SetMaxOpenConns(n)
	read.SetMaxIdleConns(n)
	// An idle reader is closed, and its page cache freed, after 30 s.
	read.SetConnMaxIdleTime(30 * time.Second)
	db := &DB{write: write, writeStmts: &writeStmts{}, readPool: read, readStmts: &stmtCache{db: read}, path: path, now: time.Now,
		writes: make(chan *member, queueLen), closing: make(chan struct{}), writerEnd: make(chan struct{}),
		sessions: newReadCache[string, cachedSession](maxCachedSessions, maxCachedSessionBytes),
		records:  newReadCache[int64, *rolegate.RequestRecord](maxCachedRecords, maxCachedRecordBytes),
		counts:   newReadCache[countKey, int](maxCachedCounts, maxCachedCountBytes)}
	go db.writeLoop()
	return db, nil
}

// Close closes both pools, once the writes queued have been answered.
func (db *DB) Close() error {
	db.closeOnce.Do(func() {
		db.closeMu.Lock()
		db.closed = true
		db.closeMu.Unlock()
		close(db.closing)
		<-db.writerEnd
		// The writer has ended: the write connection is free.
		if conn, err := db.write.Conn(context.Background()); err == nil {
			db.writeStmts.close(conn)
			conn.Close()
		}
	})
	db.readStmts.close()
	return errors.Join(db.readPool.Close(), db.write.Close())
}

// Path is the database file.
func (db *DB) Path() string { return db.path }

// SetClock replaces the clock (tests only).
func (db *DB) SetClock(now func() time.Time) { db.now = now }

// ReleaseMemory gives back what serves bursts, for when the process goes
// quiet (internal/memory): the read caches and the writer's page cache.
// What it drops is read again on the next view, which is the point of a
// cache. The idle readers keep theirs until the pool closes them (30 s):
// opening a reader again costs the next page a millisecond or two.
func (db *DB) ReleaseMemory(ctx context.Context) {
	db.sessions.clear()
	db.records.clear()
	db.counts.clear()
	// The writer holds the one write connection only during a batch; this
	// waits for the connection as a batch would.
	db.write.ExecContext(ctx, "PRAGMA shrink_memory") //nolint:errcheck // best effort: nothing is lost if it fails
}

// Ping checks that the database answers a query, for /readyz.
func (db *DB) Ping(ctx context.Context) error {
	var one int
	return db.readPool.QueryRowContext(ctx, "SELECT 1").Scan(&one)
}

// snapshot runs fn in one read transaction: all its statements see the
// same committed state (the package doc's rule for reads). They run as the
// read pool's prepared statements.
func (db *DB) snapshot(ctx context.Context, fn func(q querier) error) error {
	tx, err := db.readPool.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return fmt.Errorf("sqlite: begin read: %w", err)
	}
	defer tx.Rollback()
	return fn(snapshotTx{tx: tx, stmts: db.readStmts})
}

// keyedRead is the context for a read bounded by one key's rows (a session
// by its token, a request's page by its id): without its cancellation.
// Watching a context that can be cancelled costs two goroutines a
// statement (database/sql's and the driver's, which interrupts SQLite),
// a measurable share of such a read on every page (docs/PERFORMANCE.md),
// while the read itself ends within a millisecond anyway.
func keyedRead(ctx context.Context) context.Context { return context.WithoutCancel(ctx) }

// snapshotTx runs cached prepared statements inside a read transaction
// (database/sql prepares each once per connection).
type snapshotTx struct {
	tx    *sql.Tx
	stmts *stmtCache
}

func (s snapshotTx) QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row {
	st, err := s.stmts.stmt(ctx, q)
	if err != nil {
		return s.tx.QueryRowContext(ctx, q, args...)
	}
	return s.tx.StmtContext(ctx, st).QueryRowContext(ctx, args...)
}

func (s snapshotTx) QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	st, err := s.stmts.stmt(ctx, q)
	if err != nil {
		return nil, err
	}
	return s.tx.StmtContext(ctx, st).QueryContext(ctx, args...)
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

// Each service is a struct over the shared DB (its pools, statements and
// transactions), one per interface of the domain.
var (
	_ rolegate.RequestService    = (*Requests)(nil)
	_ rolegate.SessionService    = (*Sessions)(nil)
	_ rolegate.Outbox            = (*Outbox)(nil)
	_ rolegate.ProvisioningQueue = (*Jobs)(nil)
	_ rolegate.PictureStore      = (*Picture)(nil)
	_ rolegate.DirectoryStore    = (*Picture)(nil)
	_ rolegate.AccessService     = (*Requests)(nil)
	_ rolegate.Counts            = (*Counts)(nil)
	_ audit.Trail                = (*Trail)(nil)
)
