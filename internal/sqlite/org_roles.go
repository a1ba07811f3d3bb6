package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/rolegate/rolegate/internal/rolegate"
	"github.com/rolegate/rolegate/internal/sqlrows"
)

// The organization's picture (migration 00007): every role upstream as
// last read completely, with its provenance and, for the roles rolegate
// created, their drift from what was approved. internal/picture decides
// when to read; the differences are found and recorded (by the steps both
// engines share, sqlrows' picture.go) in the transaction that replaces the
// picture, so that a difference and its audit event (and the admins'
// notifications) commit together, once.

// Picture stores the organization's picture (rolegate.PictureStore).
type Picture struct{ db *DB }

// NewPicture returns the picture's store over db.
func NewPicture(db *DB) *Picture { return &Picture{db: db} }

// PictureSyncer is the system actor that records the differences a sync
// finds, whoever caused the sync.
var PictureSyncer = rolegate.System("sync")

// ReplacePicture makes roles, one complete read of scope upstream, the
// picture, and records each difference found once: a role that appeared
// from outside, a role changed (for one that rolegate created: what differs
// from what was approved), a role deleted. The first sync of a scope is the
// baseline: the roles already there are not news. requestedBy, when not
// nil, is a person who asked for this read (an admin's resync), recorded as
// catalog.refreshed.
func (p *Picture) ReplacePicture(ctx context.Context, scope string, roles []rolegate.UpstreamRole, requestedBy *rolegate.Actor) (rolegate.SyncResult, error) {
	var res rolegate.SyncResult
	err := p.db.update(ctx, func(tx *Tx) error {
		res = rolegate.SyncResult{}
		baseline, listed, err := tx.replaceScope(ctx, scope, "", roles, &res)
		if err != nil {
			return err
		}
		res.Roles, res.Baseline = listed, baseline
		return tx.recordResync(ctx, requestedBy, res)
	})
	return res, err
}

// ReplaceOrganization stores one complete read of the organization in one
// transaction: its roles, its projects and each active project's roles,
// and its directory (groups, users, membership) when it was read,
// each scope compared with its previous picture as ReplacePicture does (a
// project seen for the first time is its own baseline). The roles of a
// project that is archived, or no longer listed, leave the picture without
// an event: they were not deleted, their project can no longer be used.
func (p *Picture) ReplaceOrganization(ctx context.Context, read rolegate.OrganizationRead, requestedBy *rolegate.Actor) (rolegate.SyncResult, error) {
	var res rolegate.SyncResult
	err := p.db.update(ctx, func(tx *Tx) error {
		res = rolegate.SyncResult{}
		baseline, listed, err := tx.replaceScope(ctx, rolegate.ScopeOrganization, "", read.Roles, &res)
		if err != nil {
			return err
		}
		res.Roles, res.Baseline = listed, baseline
		if read.Projects != nil {
			if err := tx.replaceProjects(ctx, read.Projects); err != nil {
				return err
			}
			active := map[string]bool{}
			for _, p := range read.Projects {
				if p.Archived || p.ID == "" {
					continue
				}
				active[p.ID] = true
				_, n, err := tx.replaceScope(ctx, p.ID, p.Name, read.ProjectRoles[p.ID], &res)
				if err != nil {
					return err
				}
				res.Roles += n
			}
			if err := tx.dropInactiveScopes(ctx, active); err != nil {
				return err
			}
		}
		if read.Directory != nil {
			if err := tx.replaceDirectory(ctx, *read.Directory); err != nil {
				return err
			}
		}
		return tx.recordResync(ctx, requestedBy, res)
	})
	return res, err
}

// recordResync records an admin's resync (requestedBy nil: a background one,
// not recorded).
func (tx *Tx) recordResync(ctx context.Context, requestedBy *rolegate.Actor, res rolegate.SyncResult) error {
	if requestedBy == nil {
		return nil
	}
	e := rolegate.NewEvent(*requestedBy, rolegate.OutcomeSuccess,
		rolegate.CatalogRefreshed{Roles: res.Roles, Appeared: res.Appeared, Changed: res.Changed, Deleted: res.Deleted})
	return tx.appendEvent(ctx, &e)
}

// replaceScope makes roles the picture of scope (named scopeName, "" for
// the organization) and counts the differences into res, recording each
// (sqlrows.ReplaceScope; recorded_state holds the state itself). It
// reports whether this was the scope's first read (a baseline) and how
// many roles it holds now.
func (tx *Tx) replaceScope(ctx context.Context, scope, scopeName string, roles []rolegate.UpstreamRole, res *rolegate.SyncResult) (bool, int, error) {
	baseline, n, err := sqlrows.ReplaceScope(sqlrows.PictureTx{
		Tx: tx.shared(ctx), Reader: reader(ctx, tx), RecordedState: func(r rolegate.UpstreamRole) string { return r.State() },
		Event: func(r rolegate.UpstreamRole, requestID int64, d rolegate.Details, notice *rolegate.Notice) error {
			return tx.appendPictureEvent(ctx, r, requestID, d, notice)
		},
	}, scope, scopeName, roles, res)
	if err != nil {
		return false, 0, fmt.Errorf("sqlite: %w", err)
	}
	return baseline, n, nil
}

// replaceProjects makes projects the picture's projects.
func (tx *Tx) replaceProjects(ctx context.Context, projects []rolegate.Project) error {
	listed := make([]any, 0, len(projects))
	for _, p := range projects {
		if p.ID == "" {
			continue
		}
		listed = append(listed, p.ID)
		if _, err := tx.ExecContext(ctx, `INSERT INTO projects (project_id, name, name_key, archived, first_seen_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?)
			ON CONFLICT (project_id) DO UPDATE SET name = excluded.name, name_key = excluded.name_key,
				archived = excluded.archived, updated_at = excluded.updated_at
			WHERE name <> excluded.name OR archived <> excluded.archived`,
			p.ID, p.Name, rolegate.RoleNameKey(p.Name), p.Archived, ms(tx.now), ms(tx.now)); err != nil {
			return fmt.Errorf("sqlite: save project %s: %w", p.ID, err)
		}
	}
	q := `DELETE FROM projects`
	if len(listed) > 0 {
		q += ` WHERE project_id NOT IN (?` + strings.Repeat(`, ?`, len(listed)-1) + `)`
	}
	if _, err := tx.ExecContext(ctx, q, listed...); err != nil {
		return fmt.Errorf("sqlite: remove unlisted projects: %w", err)
	}
	return nil
}

// dropInactiveScopes removes from the picture the roles of every project
// scope that is not active now.
func (tx *Tx) dropInactiveScopes(ctx context.Context, active map[string]bool) error {
	rows, err := tx.QueryContext(ctx, `SELECT scope FROM org_picture WHERE scope <> ''`)
	if err != nil {
		return fmt.Errorf("sqlite: read picture scopes: %w", err)
	}
	var gone []string
	for rows.Next() {
		var scope string
		if err := rows.Scan(&scope); err != nil {
			rows.Close()
			return fmt.Errorf("sqlite: read picture scopes: %w", err)
		}
		if !active[scope] {
			gone = append(gone, scope)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("sqlite: read picture scopes: %w", err)
	}
	for _, scope := range gone {
		if _, err := tx.ExecContext(ctx, `DELETE FROM org_roles WHERE scope = ?`, scope); err != nil {
			return fmt.Errorf("sqlite: drop the roles of project %s: %w", scope, err)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM org_picture WHERE scope = ?`, scope); err != nil {
			return fmt.Errorf("sqlite: drop the picture state of project %s: %w", scope, err)
		}
	}
	return nil
}

// projectByID is project id as the picture last read it.
func projectByID(ctx context.Context, q querier, id string) (rolegate.Project, bool, error) {
	p := rolegate.Project{ID: id}
	err := q.QueryRowContext(ctx, `SELECT name, archived FROM projects WHERE project_id = ?`, id).Scan(&p.Name, &p.Archived)
	if errors.Is(err, sql.ErrNoRows) {
		return p, false, nil
	} else if err != nil {
		return p, false, fmt.Errorf("sqlite: read project %s: %w", id, err)
	}
	return p, true, nil
}

// Projects are the organization's projects as last read, archived ones
// included, by name.
func (p *Picture) Projects(ctx context.Context) ([]rolegate.Project, error) {
	rows, err := p.db.readPool.QueryContext(ctx, `SELECT project_id, name, archived FROM projects ORDER BY archived, name_key, project_id`)
	if err != nil {
		return nil, fmt.Errorf("sqlite: read projects: %w", err)
	}
	defer rows.Close()
	var out []rolegate.Project
	for rows.Next() {
		var p rolegate.Project
		if err := rows.Scan(&p.ID, &p.Name, &p.Archived); err != nil {
			return nil, fmt.Errorf("sqlite: read projects: %w", err)
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// appendPictureEvent records a difference found by a sync; notice (nil:
// nobody) is who hears of it, about the request that created the role.
func (tx *Tx) appendPictureEvent(ctx context.Context, r rolegate.UpstreamRole, requestID int64, d rolegate.Details, notice *rolegate.Notice) error {
	e := rolegate.NewEvent(PictureSyncer, rolegate.OutcomeSuccess, d)
	e.RequestID, e.RoleName = requestID, r.Name
	if err := tx.appendEvent(ctx, &e); err != nil {
		return err
	}
	if notice == nil || requestID == 0 || tx.db.notify == nil {
		return nil
	}
	req, err := getRequest(ctx, tx, requestID)
	if err != nil {
		return fmt.Errorf("sqlite: notifications for event %d: %w", e.Seq, err)
	}
	n, err := rolegate.QueueNotice(ctx, effects{tx}, e, req, notice, *tx.db.notify)
	tx.queued += n
	return err
}

// PictureSyncedAt is when scope was last read completely (zero: never).
func (p *Picture) PictureSyncedAt(ctx context.Context, scope string) (time.Time, error) {
	var at int64
	err := p.db.readStmts.QueryRowContext(ctx, `SELECT synced_at FROM org_picture WHERE scope = ?`, scope).Scan(&at)
	if errors.Is(err, sql.ErrNoRows) {
		return time.Time{}, nil
	} else if err != nil {
		return time.Time{}, fmt.Errorf("sqlite: read picture state: %w", err)
	}
	return fromMS(at), nil
}

// PictureRoles returns every role that exists upstream, as last read: what
// the permission catalog and the overlap hints are built from.
func (p *Picture) PictureRoles(ctx context.Context) ([]rolegate.UpstreamRole, error) {
	rows, err := p.db.readPool.QueryContext(ctx, `SELECT `+pictureColumns+` FROM org_roles WHERE deleted_at = 0 ORDER BY scope, name_key, role_id`)
	if err != nil {
		return nil, fmt.Errorf("sqlite: read picture: %w", err)
	}
	defer rows.Close()
	var out []rolegate.UpstreamRole
	for rows.Next() {
		r, err := scanPictureRole(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, r.UpstreamRole)
	}
	return out, rows.Err()
}

const pictureColumns = `role_id, scope, scope_name, name, description, permissions, resource_type, predefined,
	COALESCE(request_id, 0), first_seen_at, drift, drift_detail, deleted_at`

func scanPictureRole(row scanner) (rolegate.PictureRole, error) {
	var r rolegate.PictureRole
	var perms, drift, detail string
	var first, deleted int64
	if err := row.Scan(&r.ID, &r.Scope, &r.ScopeName, &r.Name, &r.Description, &perms, &r.ResourceType, &r.Predefined,
		&r.RequestID, &first, &drift, &detail, &deleted); err != nil {
		return r, fmt.Errorf("sqlite: read picture role: %w", err)
	}
	if err := json.Unmarshal([]byte(perms), &r.Permissions); err != nil {
		return r, fmt.Errorf("sqlite: role %s permissions: %w", r.ID, err)
	}
	if detail != "" {
		if err := json.Unmarshal([]byte(detail), &r.Differences); err != nil {
			return r, fmt.Errorf("sqlite: role %s drift: %w", r.ID, err)
		}
	}
	r.Drift, r.FirstSeenAt, r.DeletedAt = rolegate.Drift(drift), fromMS(first), fromMS(deleted)
	return r, nil
}

// ListPictureRoles returns one page of the picture in name order (roles
// deleted outside rolegate included), and how many match in all. The
// search matches part of a name or of a permission, ignoring case. The
// page and the total are read in one snapshot.
func (p *Picture) ListPictureRoles(ctx context.Context, f rolegate.RoleFilter) (roles []rolegate.PictureRole, total int, err error) {
	err = p.db.snapshot(ctx, func(q querier) error {
		roles, total, err = listPictureRoles(ctx, q, f)
		return err
	})
	return roles, total, err
}

func listPictureRoles(ctx context.Context, q querier, f rolegate.RoleFilter) ([]rolegate.PictureRole, int, error) {
	cond, args := "", []any{}
	search := strings.TrimSpace(f.Search)
	if strings.Contains(search, "\n") {
		return nil, 0, nil // the separator of the search text (sqlrows): it would match across two fields
	}
	if search != "" {
		// instr, not LIKE: a plain substring search, with no wildcard to escape.
		cond = ` WHERE instr(search_text, ?) > 0`
		args = append(args, strings.ToLower(search))
	}
	var total int
	if err := q.QueryRowContext(ctx, `SELECT COUNT(*) FROM org_roles`+cond, args...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("sqlite: count picture roles: %w", err)
	}
	limit := f.Limit
	if limit <= 0 || limit > 200 {
		limit = 50
	}
	rows, err := q.QueryContext(ctx, `SELECT `+pictureColumns+` FROM org_roles`+cond+
		` ORDER BY scope, name_key, role_id LIMIT ? OFFSET ?`, append(args, limit, max(f.Offset, 0))...)
	if err != nil {
		return nil, 0, fmt.Errorf("sqlite: list picture roles: %w", err)
	}
	defer rows.Close()
	var out []rolegate.PictureRole
	for rows.Next() {
		r, err := scanPictureRole(rows)
		if err != nil {
			return nil, 0, err
		}
		out = append(out, r)
	}
	return out, total, rows.Err()
}

// RequestRole returns the role that request id created as the picture
// shows it, with its drift; ok is false when the picture holds none.
func (p *Picture) RequestRole(ctx context.Context, id int64) (rolegate.PictureRole, bool, error) {
	return requestRole(ctx, p.db.readStmts, id)
}

func requestRole(ctx context.Context, q querier, id int64) (rolegate.PictureRole, bool, error) {
	r, err := scanPictureRole(q.QueryRowContext(ctx, `SELECT `+pictureColumns+` FROM org_roles
		WHERE request_id = ? ORDER BY deleted_at LIMIT 1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return rolegate.PictureRole{}, false, nil
	} else if err != nil {
		return rolegate.PictureRole{}, false, err
	}
	return r, true, nil
}

// PictureStats reads the picture's state.
func (p *Picture) PictureStats(ctx context.Context) (rolegate.PictureStats, error) {
	var s rolegate.PictureStats
	var at sql.NullInt64
	err := p.db.readStmts.QueryRowContext(ctx, `SELECT
		(SELECT MIN(synced_at) FROM org_picture),
		(SELECT COUNT(*) FROM org_roles WHERE deleted_at = 0),
		(SELECT COUNT(*) FROM org_roles WHERE drift <> '')`).Scan(&at, &s.Roles, &s.Drifted)
	if err != nil {
		return s, fmt.Errorf("sqlite: picture stats: %w", err)
	}
	s.SyncedAt = fromMS(at.Int64)
	return s, nil
}

// roleNameInPicture reports whether a role of scope upstream has name, in
// any case.
func roleNameInPicture(ctx context.Context, q querier, scope, name string) (bool, error) {
	var one int
	err := q.QueryRowContext(ctx, `SELECT 1 FROM org_roles WHERE scope = ? AND name_key = ? AND deleted_at = 0 LIMIT 1`,
		scope, rolegate.RoleNameKey(name)).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	} else if err != nil {
		return false, fmt.Errorf("sqlite: check role name in the picture: %w", err)
	}
	return true, nil
}
