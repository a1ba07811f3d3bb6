package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/rolegate/rolegate/internal/rolegate"
)

// The organization's picture on PostgreSQL: so far only what a request's
// page reads of it (the role the request created). The picture's store
// (rolegate.PictureStore: its sync, listing and stats) is still to come.

const pictureColumns = `role_id, scope, scope_name, name, description, permissions, resource_type, predefined,
	COALESCE(request_id, 0), first_seen_at, drift, drift_detail, deleted_at`

func scanPictureRole(row pgx.Row) (rolegate.PictureRole, error) {
	var r rolegate.PictureRole
	var perms, drift, detail string
	var first, deleted, predefined int64
	if err := row.Scan(&r.ID, &r.Scope, &r.ScopeName, &r.Name, &r.Description, &perms, &r.ResourceType, &predefined,
		&r.RequestID, &first, &drift, &detail, &deleted); err != nil {
		return r, fmt.Errorf("postgres: read picture role: %w", err)
	}
	r.Predefined = predefined != 0
	if err := json.Unmarshal([]byte(perms), &r.Permissions); err != nil {
		return r, fmt.Errorf("postgres: role %s permissions: %w", r.ID, err)
	}
	if detail != "" {
		if err := json.Unmarshal([]byte(detail), &r.Differences); err != nil {
			return r, fmt.Errorf("postgres: role %s drift: %w", r.ID, err)
		}
	}
	r.Drift, r.FirstSeenAt, r.DeletedAt = rolegate.Drift(drift), fromMS(first), fromMS(deleted)
	return r, nil
}

// requestRole is the role request id created as the picture shows it; ok
// is false when the picture holds none.
func requestRole(ctx context.Context, q querier, id int64) (rolegate.PictureRole, bool, error) {
	r, err := scanPictureRole(q.QueryRow(ctx, `SELECT `+pictureColumns+` FROM org_roles
		WHERE request_id = $1 ORDER BY deleted_at LIMIT 1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return rolegate.PictureRole{}, false, nil
	} else if err != nil {
		return rolegate.PictureRole{}, false, err
	}
	return r, true, nil
}
