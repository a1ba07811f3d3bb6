package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/rolegate/rolegate/internal/rolegate"
)

// SaveUpstreamRoles replaces the cached list of the organization's roles,
// from which the permission catalog and the name checks are built.
func (db *DB) SaveUpstreamRoles(ctx context.Context, actor rolegate.Actor, roles []rolegate.ExistingRole) error {
	b, err := json.Marshal(roles)
	if err != nil {
		return fmt.Errorf("sqlite: encode upstream roles: %w", err)
	}
	return db.update(ctx, func(tx *Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO upstream_roles_cache (id, roles, refreshed_at) VALUES (1, ?, ?)
			ON CONFLICT (id) DO UPDATE SET roles = excluded.roles, refreshed_at = excluded.refreshed_at`,
			string(b), ms(tx.now)); err != nil {
			return fmt.Errorf("sqlite: save upstream roles: %w", err)
		}
		return tx.appendEvent(ctx, rolegate.NewEvent(actor, rolegate.ActionCatalogRefreshed, rolegate.OutcomeSuccess,
			map[string]any{"roles": len(roles)}))
	})
}

// UpstreamRoles returns the cached roles and when they were fetched (zero
// time when never).
func (db *DB) UpstreamRoles(ctx context.Context) ([]rolegate.ExistingRole, time.Time, error) {
	return upstreamRoles(ctx, db.read)
}

func upstreamRoles(ctx context.Context, q querier) ([]rolegate.ExistingRole, time.Time, error) {
	var raw string
	var at int64
	err := q.QueryRowContext(ctx, `SELECT roles, refreshed_at FROM upstream_roles_cache WHERE id = 1`).Scan(&raw, &at)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, time.Time{}, nil
	} else if err != nil {
		return nil, time.Time{}, fmt.Errorf("sqlite: read upstream roles: %w", err)
	}
	var roles []rolegate.ExistingRole
	if err := json.Unmarshal([]byte(raw), &roles); err != nil {
		return nil, time.Time{}, fmt.Errorf("sqlite: decode upstream roles: %w", err)
	}
	return roles, fromMS(at), nil
}
