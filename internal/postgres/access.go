package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/rolegate/rolegate/internal/rolegate"
	"github.com/rolegate/rolegate/internal/sqlrows"
)

// Access requests (issue 17) on PostgreSQL, as on SQLite (its access.go):
// in the requests table and life cycle, the role and grantee checked
// against the picture in the transaction that files them. Two nodes
// filing the same grant at once: the open-grant index lets one in.

// reader reads through q for sqlrows' shared reads.
func reader(ctx context.Context, q querier) sqlrows.Reader {
	return sqlrows.Reader{
		Row:    func(query string, args ...any) sqlrows.Row { return q.QueryRow(ctx, sqlrows.Numbered(query), args...) },
		NoRows: func(err error) bool { return errors.Is(err, pgx.ErrNoRows) },
		Each: func(query string, args []any, dest []any, fn func() error) error {
			rows, err := q.Query(ctx, sqlrows.Numbered(query), args...)
			if err != nil {
				return err
			}
			defer rows.Close()
			return sqlrows.ScanEach(rows, dest, fn)
		},
	}
}

// OpenGrant is the open request that already asks for the role roleID of
// scope for g, if any (sqlrows.OpenGrant).
func (s *Requests) OpenGrant(ctx context.Context, scope, roleID string, g rolegate.Grantee) (int64, bool, error) {
	id, ok, err := sqlrows.OpenGrant(reader(ctx, s.db.pool), scope, roleID, g)
	if err != nil {
		return 0, false, fmt.Errorf("postgres: %w", err)
	}
	return id, ok, nil
}
