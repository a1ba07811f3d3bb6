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

// CreateAccess stores a new pending access request: the role and the
// grantee are looked up in the picture (never taken from the form), and
// the same grant may not be open twice.
func (s *Requests) CreateAccess(ctx context.Context, actor rolegate.Actor, in rolegate.AccessInput, catalog *rolegate.Catalog, acfg rolegate.AccessConfig) (*rolegate.Request, error) {
	var req *rolegate.Request
	err := s.db.update(ctx, func(tx *Tx) error {
		facts, err := sqlrows.AccessFacts(reader(ctx, tx), in)
		if err != nil {
			return fmt.Errorf("sqlite: %w", err)
		}
		var eff rolegate.Effects
		if req, eff, err = rolegate.SubmitAccess(actor, in, facts, catalog, s.cfg, acfg, tx.now); err != nil {
			return err
		}
		if err := tx.QueryRowContext(ctx, sqlrows.InsertAccess, sqlrows.AccessValues(req, actor)...).Scan(&req.ID); err != nil {
			if isUniqueViolation(err) {
				return rolegate.GrantAlreadyOpen(req)
			}
			return fmt.Errorf("sqlite: insert access request: %w", err)
		}
		return tx.apply(ctx, req, eff)
	})
	if err != nil {
		return nil, err
	}
	return req, nil
}

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
			for rows.Next() {
				if err := rows.Scan(dest...); err != nil {
					return err
				}
				if err := fn(); err != nil {
					return err
				}
			}
			return rows.Err()
		},
	}
}

// beneficiary is what the directory says of the person signed in with
// email (sqlrows.Beneficiary), read in q's transaction.
func beneficiary(ctx context.Context, q querier, email string) (rolegate.Beneficiary, error) {
	b, err := sqlrows.Beneficiary(reader(ctx, q), email)
	if err != nil {
		return b, fmt.Errorf("sqlite: %w", err)
	}
	return b, nil
}

// sharedBeneficiary is beneficiary in the transaction of a transition
// (sqlrows.Transitions), whose tx is always this store's sharedTx.
func sharedBeneficiary(tx sqlrows.Tx, email string) (rolegate.Beneficiary, error) {
	t := tx.(sharedTx)
	return beneficiary(t.ctx, t.tx, email)
}

// OpenGrant is the open request (pending, approved, provisioning or
// failed) that already asks for the role roleID of scope for g, if any:
// the one filing the same grant again would be refused for.
func (s *Requests) OpenGrant(ctx context.Context, scope, roleID string, g rolegate.Grantee) (int64, bool, error) {
	var id int64
	err := s.db.readPool.QueryRowContext(ctx, sqlrows.OpenGrantQuery, scope, roleID, string(g.Kind), g.ID).Scan(&id)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return 0, false, nil
	case err != nil:
		return 0, false, fmt.Errorf("sqlite: look for an open grant: %w", err)
	}
	return id, true, nil
}
