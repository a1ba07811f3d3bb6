package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/rolegate/rolegate/internal/rolegate"
	"github.com/rolegate/rolegate/internal/sqlrows"
)

// Access requests (issue 17): stored beside requests for new roles, in the
// same table and life cycle (migration 00015), with the role and grantee
// checked against the picture in the transaction that files them.

// reader reads through q for sqlrows' shared reads.
func reader(ctx context.Context, q querier) sqlrows.Reader {
	return sqlrows.Reader{
		Row:    func(query string, args ...any) sqlrows.Row { return q.QueryRowContext(ctx, query, args...) },
		NoRows: func(err error) bool { return errors.Is(err, sql.ErrNoRows) },
		Each: func(query string, args []any, dest []any, fn func() error) error {
			rows, err := q.QueryContext(ctx, query, args...)
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
	id, ok, err := sqlrows.OpenGrant(reader(ctx, s.db.readPool), scope, roleID, g)
	if err != nil {
		return 0, false, fmt.Errorf("sqlite: %w", err)
	}
	return id, ok, nil
}
