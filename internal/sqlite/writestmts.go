package sqlite

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"sync"
)

// writeStmts keeps the write connection's INSERT, UPDATE and DELETE
// statements prepared, as stmtCache does the read pool's: a submission
// parsed and planned every statement it ran, and its audit event's INSERT
// compiled the full-text index's triggers each time, more than a third of
// a submission's CPU (docs/PERFORMANCE.md, issue 20).
//
// database/sql cannot do it: a statement prepared on the pool needs a free
// connection, and the one write connection is held by the batch; one
// prepared on the batch's sql.Conn ends with the batch. So the statements
// are the driver's own, prepared on the driver's connection (sql.Conn.Raw)
// and kept for as long as that connection lives; a new connection (the
// pool replaced a broken one) starts a new cache. Only the writer's batch
// uses them, one member at a time.
type writeStmts struct {
	mu   sync.Mutex
	conn driver.Conn
	m    map[string]driver.Stmt
}

// maxWriteStmts bounds the cache: the write paths' statements are a few
// dozen fixed strings; one built with a variable number of arguments is
// not kept once the cache is full.
const maxWriteStmts = 256

// errNotPrepared sends a statement the ordinary way (database/sql's, which
// reports its errors as before).
var errNotPrepared = errors.New("sqlite: not prepared")

// exec runs q with args on conn through its prepared statement.
func (w *writeStmts) exec(ctx context.Context, conn *sql.Conn, q string, args []any) (sql.Result, error) {
	var res sql.Result
	err := conn.Raw(func(dc any) error {
		dconn, ok := dc.(driver.Conn)
		if !ok {
			return errNotPrepared
		}
		w.mu.Lock()
		defer w.mu.Unlock()
		if w.conn != dconn {
			// The statements of a connection that is gone went with it.
			w.conn, w.m = dconn, map[string]driver.Stmt{}
		}
		st, ok := w.m[q]
		if !ok {
			p, ok := dconn.(driver.ConnPrepareContext)
			if !ok || len(w.m) >= maxWriteStmts {
				return errNotPrepared
			}
			var err error
			if st, err = p.PrepareContext(ctx, q); err != nil {
				return errNotPrepared
			}
			w.m[q] = st
		}
		ex, ok := st.(driver.StmtExecContext)
		if !ok || (st.NumInput() >= 0 && st.NumInput() != len(args)) {
			return errNotPrepared
		}
		// database/sql's conversion of arguments, for a driver without
		// a NamedValueChecker of its own (modernc's has none).
		nv := make([]driver.NamedValue, len(args))
		for i, a := range args {
			v, err := driver.DefaultParameterConverter.ConvertValue(a)
			if err != nil {
				return errNotPrepared
			}
			nv[i] = driver.NamedValue{Ordinal: i + 1, Value: v}
		}
		r, err := ex.ExecContext(ctx, nv)
		if err != nil {
			return err
		}
		res = r
		return nil
	})
	return res, err
}

// close finalizes the statements, on conn (the write pool's connection,
// free once the writer has ended).
func (w *writeStmts) close(conn *sql.Conn) {
	_ = conn.Raw(func(dc any) error {
		w.mu.Lock()
		defer w.mu.Unlock()
		if dc == any(w.conn) {
			for _, st := range w.m {
				st.Close()
			}
		}
		w.conn, w.m = nil, nil
		return nil
	})
}
