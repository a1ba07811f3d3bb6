package postgres

import (
	"context"
	"time"

	"github.com/rolegate/rolegate/internal/rolegate"
	"github.com/rolegate/rolegate/internal/sqlrows"
)

// The transaction as the steps both engines share (internal/sqlrows:
// requests, the picture, access, removals) use it.

// shared is tx as the steps of internal/sqlrows use it: their ?
// placeholders numbered for PostgreSQL.
func (tx *Tx) shared(ctx context.Context) sqlrows.Tx { return sharedTx{ctx: ctx, tx: tx} }

type sharedTx struct {
	ctx context.Context
	tx  *Tx
}

func (s sharedTx) Exec(query string, args ...any) (int64, error) {
	tag, err := s.tx.Exec(s.ctx, sqlrows.Numbered(query), args...)
	return tag.RowsAffected(), err
}

func (s sharedTx) Row(query string, args ...any) sqlrows.Row {
	return s.tx.QueryRow(s.ctx, sqlrows.Numbered(query), args...)
}

func (s sharedTx) Now() time.Time { return s.tx.now }

func (s sharedTx) Reader() sqlrows.Reader { return reader(s.ctx, s.tx) }

func (s sharedTx) Apply(req *rolegate.Request, eff rolegate.Effects) error {
	return s.tx.apply(s.ctx, req, eff)
}
