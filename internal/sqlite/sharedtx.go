package sqlite

import (
	"context"
	"time"

	"github.com/rolegate/rolegate/internal/rolegate"
	"github.com/rolegate/rolegate/internal/sqlrows"
)

// The transaction as the steps both engines share (internal/sqlrows:
// requests, the picture, access, removals) use it.

// shared is tx as the steps of internal/sqlrows use it.
func (tx *Tx) shared(ctx context.Context) sqlrows.Tx { return sharedTx{ctx: ctx, tx: tx} }

type sharedTx struct {
	ctx context.Context
	tx  *Tx
}

func (s sharedTx) Exec(query string, args ...any) (int64, error) {
	res, err := s.tx.ExecContext(s.ctx, query, args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

func (s sharedTx) Row(query string, args ...any) sqlrows.Row {
	return s.tx.QueryRowContext(s.ctx, query, args...)
}

func (s sharedTx) Now() time.Time { return s.tx.now }

func (s sharedTx) Reader() sqlrows.Reader { return reader(s.ctx, s.tx) }

func (s sharedTx) Apply(req *rolegate.Request, eff rolegate.Effects) error {
	return s.tx.apply(s.ctx, req, eff)
}
