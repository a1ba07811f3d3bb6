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

// projectByID is project id as the picture last read it; found is false
// when the picture does not list it.
func projectByID(ctx context.Context, q querier, id string) (p rolegate.Project, found bool, err error) {
	p.ID = id
	err = q.QueryRow(ctx, `SELECT name, archived FROM projects WHERE project_id = $1`, id).Scan(&p.Name, &p.Archived)
	if errors.Is(err, pgx.ErrNoRows) {
		return p, false, nil
	} else if err != nil {
		return p, false, fmt.Errorf("postgres: read project %s: %w", id, err)
	}
	return p, true, nil
}

// roleNameInPicture reports whether a role of scope upstream has name, in
// any case.
func roleNameInPicture(ctx context.Context, q querier, scope, name string) (bool, error) {
	var one int
	err := q.QueryRow(ctx, `SELECT 1 FROM org_roles WHERE scope = $1 AND name_key = $2 AND deleted_at = 0 LIMIT 1`,
		scope, rolegate.RoleNameKey(name)).Scan(&one)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil
	} else if err != nil {
		return false, fmt.Errorf("postgres: check role name in the picture: %w", err)
	}
	return true, nil
}
