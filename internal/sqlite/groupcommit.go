package sqlite

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"sync/atomic"
	"time"
)

// Group commit: the write path.
//
// Every write (update) is a member of a batch. One goroutine, the writer
// (writeLoop), owns the write connection. It begins a transaction (BEGIN
// IMMEDIATE) for the first member queued, then gives each member its turn,
// one at a time, inside a savepoint of its own: the member's fn runs in the
// caller's goroutine on the batch's connection, and the writer releases
// the savepoint when fn succeeds or rolls back to it when fn fails,
// panics or its caller gave up. Members queued meanwhile join the batch
// (up to maxBatch); when nobody else is queued, the writer commits, and
// only then are the members told their outcome: nobody hears "done" before
// the commit, with its fsync (synchronous=FULL), has returned. A failed
// member hears at once, since nothing of it is left to commit. While the
// writer commits, the next callers queue up: under load, one fsync serves
// the whole queue.
//
// What each write relies on still holds, since the members run one after
// the other on the one connection and each sees what the members before it
// wrote: the audit trail's append reads the true head (the previous
// member's last event, or the committed head) and extends the chain from
// it, so seq order is the order members ran and committed in; a
// transition's conditional update sees a racing transition made earlier
// in the batch and fails; a name check sees a name taken earlier in the
// batch. What happens after commit (the metrics' count of events, the
// notifier's wake-up) runs in each member's caller once told "done".
//
// A member's statements do not carry its caller's cancellation into
// SQLite (writeConn): an interrupted INSERT, UPDATE or DELETE rolls back
// the whole transaction, the other members' writes with it. A caller that
// gives up while queued leaves the queue; one whose context ends while its
// fn runs has its savepoint rolled back and hears the context's error, as
// a transaction whose context ended used to be rolled back.
//
// If the transaction itself is lost (SQLite rolls a whole transaction back
// on an I/O error, a full disk or running out of memory, and the savepoint
// is then gone), the members who had joined the batch are told the error:
// their writes are not in the file, as they are told.

const (
	// maxBatch bounds a batch, so that its first member waits for at
	// most that many others before its commit.
	maxBatch = 64
	// queueLen is how many callers may wait for their turn before
	// update blocks on queueing.
	queueLen = 256
)

var (
	errClosed = errors.New("sqlite: the database is closed")
	// errAbandoned is what the writer hears from a member whose fn did
	// not return (it panicked, or ended its goroutine): its savepoint is
	// rolled back, and the panic goes on in its caller's goroutine.
	errAbandoned = errors.New("sqlite: the write's function did not return")
)

// A member's state: the writer takes it (queued → taken) or its caller
// leaves the queue (queued → gone), whichever comes first.
const (
	memberQueued int32 = iota
	memberTaken
	memberGone
)

// member is one update waiting for, or taking, its turn in a batch.
type member struct {
	ctx   context.Context
	state atomic.Int32
	// turn hands the caller its transaction; nil when fn is not to run
	// (the reason follows on done).
	turn chan *Tx
	// ran is fn's outcome, from the caller to the writer.
	ran chan error
	// done is the batch's outcome, from the writer to the caller.
	done chan error
}

// refuse tells m that its fn will not run, and why.
func (m *member) refuse(err error) {
	m.turn <- nil
	m.done <- err
}

// update runs fn in a write transaction, as a member of the current batch
// (see above), and returns once fn's writes are committed and durable, or
// rolled back. fn must not call update itself: it would wait for its own
// batch. A panic in fn rolls back fn's writes only and goes on in the
// caller's goroutine.
func (db *DB) update(ctx context.Context, fn func(tx *Tx) error) error {
	m := &member{ctx: ctx, turn: make(chan *Tx, 1), ran: make(chan error, 1), done: make(chan error, 1)}
	if err := db.enqueue(ctx, m); err != nil {
		return err
	}
	var tx *Tx
	select {
	case tx = <-m.turn:
	case <-ctx.Done():
		if m.state.CompareAndSwap(memberQueued, memberGone) {
			return fmt.Errorf("sqlite: begin: %w", ctx.Err())
		}
		tx = <-m.turn // the writer took it first: it is ours to finish
	}
	if tx == nil {
		return <-m.done
	}
	returned := false
	defer func() {
		if !returned {
			m.ran <- errAbandoned
		}
	}()
	err := fn(tx)
	if err == nil && ctx.Err() != nil {
		err = fmt.Errorf("sqlite: commit: %w", ctx.Err())
	}
	returned = true
	m.ran <- err
	if err != nil {
		return err
	}
	if err := <-m.done; err != nil {
		return err
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

// enqueue queues m for the writer, unless the database is closing.
func (db *DB) enqueue(ctx context.Context, m *member) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("sqlite: begin: %w", err)
	}
	db.closeMu.RLock()
	defer db.closeMu.RUnlock()
	if db.closed {
		return errClosed
	}
	select {
	case db.writes <- m:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("sqlite: begin: %w", ctx.Err())
	}
}

// writeLoop is the writer: it runs batches until the database closes,
// and answers every member queued before that.
func (db *DB) writeLoop() {
	defer close(db.writerEnd)
	for {
		select {
		case m := <-db.writes:
			db.runBatch(m)
		case <-db.closing:
			for {
				select {
				case m := <-db.writes:
					db.runBatch(m)
				default:
					return
				}
			}
		}
	}
}

// runBatch runs first and whoever queues meanwhile (up to maxBatch) in one
// transaction, then commits it and tells the members.
func (db *DB) runBatch(first *member) {
	// The writer's own statements (begin, savepoints, commit) are not
	// cancelled by anyone's context.
	ctx := context.Background()
	db.batches++
	var (
		conn   *sql.Conn
		joined []*member
		ran    int
	)
	for m := first; m != nil; {
		if m.state.CompareAndSwap(memberQueued, memberTaken) {
			if conn == nil {
				var err error
				if conn, err = db.begin(ctx); err != nil {
					m.refuse(err)
				}
			}
			if conn != nil {
				ran++
				ok, lost := db.runMember(ctx, conn, m)
				if ok {
					joined = append(joined, m)
				}
				if lost != nil {
					// The transaction is gone: what joined it is not in
					// the file. Later members begin another.
					db.gen.Add(1)
					for _, j := range joined {
						j.done <- lost
					}
					joined = nil
					abandon(ctx, conn)
					conn = nil
				}
			}
		}
		m = nil
		if ran < maxBatch {
			select {
			case m = <-db.writes:
			default:
			}
		}
	}
	if conn == nil {
		return
	}
	if len(joined) == 0 {
		// Every member failed: nothing to commit, no fsync.
		abandon(ctx, conn)
		db.gen.Add(1)
		return
	}
	var err error
	if _, cerr := conn.ExecContext(ctx, `COMMIT`); cerr != nil {
		err = fmt.Errorf("sqlite: commit: %w", cerr)
		abandon(ctx, conn)
	} else {
		conn.Close()
	}
	// The batch's writes are in the file (or not at all): reads kept from
	// before it are no longer served (readcache.go), and from here on
	// its members, told next, read what they wrote.
	db.gen.Add(1)
	for _, m := range joined {
		m.done <- err
	}
}

// begin takes the write connection and begins a batch's transaction,
// taking the write lock up front (a second process, such as rolegate
// backup, is waited for up to busy_timeout).
func (db *DB) begin(ctx context.Context) (*sql.Conn, error) {
	conn, err := db.write.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("sqlite: begin: %w", err)
	}
	if _, err := conn.ExecContext(ctx, `BEGIN IMMEDIATE`); err != nil {
		conn.Close()
		return nil, fmt.Errorf("sqlite: begin: %w", err)
	}
	return conn, nil
}

// runMember gives m its turn inside a savepoint and waits for fn. It says
// whether m joined the batch (fn succeeded and its writes are kept), and
// returns an error when the batch's transaction was lost.
func (db *DB) runMember(ctx context.Context, conn *sql.Conn, m *member) (joined bool, lost error) {
	if err := m.ctx.Err(); err != nil {
		m.refuse(fmt.Errorf("sqlite: begin: %w", err))
		return false, nil
	}
	if _, err := conn.ExecContext(ctx, `SAVEPOINT member`); err != nil {
		err = fmt.Errorf("sqlite: begin: %w", err)
		m.refuse(err)
		return false, err
	}
	m.turn <- &Tx{sqlConn: writeConn{c: conn, stmts: db.writeStmts}, db: db, batch: db.batches, now: db.now().UTC().Truncate(time.Millisecond)}
	if err := <-m.ran; err != nil {
		// The caller has its error already; its writes must go.
		if _, rerr := conn.ExecContext(ctx, `ROLLBACK TO member; RELEASE member`); rerr != nil {
			return false, fmt.Errorf("sqlite: a write in the same batch failed (%v), and the transaction with it: %w", err, rerr)
		}
		return false, nil
	}
	if _, err := conn.ExecContext(ctx, `RELEASE member`); err != nil {
		err = fmt.Errorf("sqlite: commit: %w", err)
		m.done <- err
		return false, err
	}
	return true, nil
}

// abandon rolls back whatever transaction conn is in and gives it back to
// the pool; a connection that cannot roll back is closed instead, so that
// no later batch finds a transaction already open.
func abandon(ctx context.Context, conn *sql.Conn) {
	if _, err := conn.ExecContext(ctx, `ROLLBACK`); err != nil && inTransaction(ctx, conn) {
		_ = conn.Raw(func(any) error { return driver.ErrBadConn })
	}
	conn.Close()
}

// inTransaction says whether conn has a transaction open: BEGIN fails
// inside one.
func inTransaction(ctx context.Context, conn *sql.Conn) bool {
	if _, err := conn.ExecContext(ctx, `BEGIN`); err != nil {
		return true
	}
	_, _ = conn.ExecContext(ctx, `ROLLBACK`)
	return false
}

// sqlConn is what a Tx runs its statements on: the batch's connection
// (writeConn) or, for the few readers that share a write path's queries,
// a read transaction.
type sqlConn interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	PrepareContext(ctx context.Context, query string) (*sql.Stmt, error)
}

// writeConn runs a member's statements on the batch's connection without
// its caller's cancellation: SQLite's interrupt would roll back the whole
// transaction (see above). Each statement is short; a cancelled caller
// hears so when its fn returns. Its INSERTs, UPDATEs and DELETEs run as
// statements prepared once (writestmts.go).
type writeConn struct {
	c     *sql.Conn
	stmts *writeStmts
}

func (w writeConn) ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error) {
	ctx = context.WithoutCancel(ctx)
	if w.stmts != nil {
		res, err := w.stmts.exec(ctx, w.c, q, args)
		if !errors.Is(err, errNotPrepared) {
			return res, err
		}
	}
	return w.c.ExecContext(ctx, q, args...)
}

func (w writeConn) QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	return w.c.QueryContext(context.WithoutCancel(ctx), q, args...)
}

func (w writeConn) PrepareContext(ctx context.Context, q string) (*sql.Stmt, error) {
	return w.c.PrepareContext(context.WithoutCancel(ctx), q)
}

func (w writeConn) QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row {
	return w.c.QueryRowContext(context.WithoutCancel(ctx), q, args...)
}

// Tx is one member's share of a write transaction; helpers that change
// data take it, so that a service method and its audit events commit or
// roll back together.
type Tx struct {
	sqlConn
	db *DB
	// batch numbers the writer's batches (the tests look at it).
	batch int64
	now   time.Time
	// appended are the actions of the audit events written, reported to
	// OnEventAppended after commit.
	appended []string
	// queued counts the notifications written; the notifier is woken
	// after commit, when it can see them.
	queued int
}
