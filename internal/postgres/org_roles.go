package postgres

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/rolegate/rolegate/internal/rolegate"
	"github.com/rolegate/rolegate/internal/sqlrows"
)

// The organization's picture on PostgreSQL, as on SQLite (internal/sqlite's
// org_roles.go): every role upstream as last read completely, with its
// provenance and, for the roles rolegate created, their drift from what
// was approved; the organization's projects; the differences found and
// recorded (by the steps both engines share, sqlrows' picture.go) in the
// transaction that replaces the picture, so that a difference and its
// audit event (and the admins' notifications) commit together, once.
//
// Several processes may sync at once (each runs its own picture.Picture):
// a replacement first takes pictureLock, a transaction-level advisory
// lock, so that replacements take turns and each compares what it read
// with the picture the one before it committed. A difference is recorded
// by the first process that sees it, and by no other.

// Picture stores the organization's picture (rolegate.PictureStore).
type Picture struct{ db *DB }

// NewPicture returns the picture's store over db.
func NewPicture(db *DB) *Picture { return &Picture{db: db} }

// PictureSyncer is the system actor that records the differences a sync
// finds, whoever caused the sync.
var PictureSyncer = rolegate.System("sync")

// pictureLock is the advisory lock every replacement of the picture takes
// for the rest of its transaction ("rg pict" as a number; the trail's
// appendLock is another key). It is taken before the trail's, never after.
const pictureLock int64 = 0x72672070696374

// ReplacePicture makes roles, one complete read of scope upstream, the
// picture, and records each difference found once (see internal/sqlite's
// ReplacePicture). requestedBy, when not nil, is a person who asked for
// this read (an admin's resync), recorded as catalog.refreshed.
func (p *Picture) ReplacePicture(ctx context.Context, scope string, roles []rolegate.UpstreamRole, requestedBy *rolegate.Actor) (rolegate.SyncResult, error) {
	var res rolegate.SyncResult
	err := p.db.update(ctx, func(tx *Tx) error {
		res = rolegate.SyncResult{}
		if err := tx.lockPicture(ctx); err != nil {
			return err
		}
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
// and its directory (groups, users, membership) when it was read, each scope compared with its previous picture as ReplacePicture does (a
// project seen for the first time is its own baseline). The roles of a
// project that is archived, or no longer listed, leave the picture without
// an event: they were not deleted, their project can no longer be used.
func (p *Picture) ReplaceOrganization(ctx context.Context, read rolegate.OrganizationRead, requestedBy *rolegate.Actor) (rolegate.SyncResult, error) {
	var res rolegate.SyncResult
	err := p.db.update(ctx, func(tx *Tx) error {
		res = rolegate.SyncResult{}
		if err := tx.lockPicture(ctx); err != nil {
			return err
		}
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

// lockPicture makes this transaction the only one replacing the picture
// until it ends; what it reads next is what the previous one committed.
func (tx *Tx) lockPicture(ctx context.Context) error {
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, pictureLock); err != nil {
		return fmt.Errorf("postgres: lock the picture: %w", err)
	}
	return nil
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
// (sqlrows.ReplaceScope; recorded_state holds its stateDigest). It
// reports whether this was the scope's first read (a baseline) and how
// many roles it holds now.
func (tx *Tx) replaceScope(ctx context.Context, scope, scopeName string, roles []rolegate.UpstreamRole, res *rolegate.SyncResult) (bool, int, error) {
	baseline, n, err := sqlrows.ReplaceScope(sqlrows.PictureTx{
		Tx: tx.shared(ctx), Reader: reader(ctx, tx), RecordedState: stateDigest,
		Event: func(r rolegate.UpstreamRole, requestID int64, d rolegate.Details, notice *rolegate.Notice) error {
			return tx.appendPictureEvent(ctx, r, requestID, d, notice)
		},
	}, scope, scopeName, roles, res)
	if err != nil {
		return false, 0, fmt.Errorf("postgres: %w", err)
	}
	return baseline, n, nil
}

// replaceProjects makes projects the picture's projects.
func (tx *Tx) replaceProjects(ctx context.Context, projects []rolegate.Project) error {
	listed := make([]string, 0, len(projects))
	for _, p := range projects {
		if p.ID == "" {
			continue
		}
		listed = append(listed, p.ID)
		if _, err := tx.Exec(ctx, `INSERT INTO projects (project_id, name, name_key, archived, first_seen_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, $5)
			ON CONFLICT (project_id) DO UPDATE SET name = excluded.name, name_key = excluded.name_key,
				archived = excluded.archived, updated_at = excluded.updated_at
			WHERE projects.name <> excluded.name OR projects.archived <> excluded.archived`,
			p.ID, p.Name, rolegate.RoleNameKey(p.Name), p.Archived, ms(tx.now)); err != nil {
			return fmt.Errorf("postgres: save project %s: %w", p.ID, err)
		}
	}
	if _, err := tx.Exec(ctx, `DELETE FROM projects WHERE NOT (project_id = ANY($1))`, listed); err != nil {
		return fmt.Errorf("postgres: remove unlisted projects: %w", err)
	}
	return nil
}

// dropInactiveScopes removes from the picture the roles of every project
// scope that is not active now.
func (tx *Tx) dropInactiveScopes(ctx context.Context, active map[string]bool) error {
	keep := make([]string, 0, len(active))
	for scope := range active {
		keep = append(keep, scope)
	}
	if _, err := tx.Exec(ctx, `DELETE FROM org_roles WHERE scope <> '' AND NOT (scope = ANY($1))`, keep); err != nil {
		return fmt.Errorf("postgres: drop the roles of inactive projects: %w", err)
	}
	if _, err := tx.Exec(ctx, `DELETE FROM org_picture WHERE scope <> '' AND NOT (scope = ANY($1))`, keep); err != nil {
		return fmt.Errorf("postgres: drop the picture state of inactive projects: %w", err)
	}
	return nil
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

// Projects are the organization's projects as last read, archived ones
// included, by name.
func (p *Picture) Projects(ctx context.Context) ([]rolegate.Project, error) {
	rows, err := p.db.pool.Query(ctx, `SELECT project_id, name, archived FROM projects ORDER BY archived, name_key, project_id`)
	if err != nil {
		return nil, fmt.Errorf("postgres: read projects: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (rolegate.Project, error) {
		var p rolegate.Project
		err := row.Scan(&p.ID, &p.Name, &p.Archived)
		return p, err
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: read projects: %w", err)
	}
	return out, nil
}

// stateDigest is how recorded_state holds the state of r whose change was
// last recorded: the hex SHA-256 of r.State(), which separates its fields
// with NUL, a character PostgreSQL's text cannot hold (SQLite's column
// holds the state itself; only equality is ever asked of either).
func stateDigest(r rolegate.UpstreamRole) string {
	sum := sha256.Sum256([]byte(r.State()))
	return hex.EncodeToString(sum[:])
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
		return fmt.Errorf("postgres: notifications for event %d: %w", e.Seq, err)
	}
	n, err := rolegate.QueueNotice(ctx, effects{tx}, e, req, notice, *tx.db.notify)
	tx.queued += n
	return err
}

// PictureSyncedAt is when scope was last read completely (zero: never).
func (p *Picture) PictureSyncedAt(ctx context.Context, scope string) (time.Time, error) {
	var at int64
	err := p.db.pool.QueryRow(ctx, `SELECT synced_at FROM org_picture WHERE scope = $1`, scope).Scan(&at)
	if errors.Is(err, pgx.ErrNoRows) {
		return time.Time{}, nil
	} else if err != nil {
		return time.Time{}, fmt.Errorf("postgres: read picture state: %w", err)
	}
	return fromMS(at), nil
}

// PictureRoles returns every role that exists upstream, as last read: what
// the permission catalog and the overlap hints are built from.
func (p *Picture) PictureRoles(ctx context.Context) ([]rolegate.UpstreamRole, error) {
	rows, err := p.db.pool.Query(ctx, `SELECT `+pictureColumns+` FROM org_roles WHERE deleted_at = 0 ORDER BY scope, name_key, role_id`)
	if err != nil {
		return nil, fmt.Errorf("postgres: read picture: %w", err)
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

// ListPictureRoles returns one page of the picture in name order (roles
// deleted outside rolegate included), and how many match in all. The
// search matches part of a name or of a permission, ignoring case. The
// page and the total are read in one snapshot.
func (p *Picture) ListPictureRoles(ctx context.Context, f rolegate.RoleFilter) (roles []rolegate.PictureRole, total int, err error) {
	search := strings.TrimSpace(f.Search)
	if strings.Contains(search, "\n") {
		return nil, 0, nil // the separator of the search text (sqlrows): it would match across two fields
	}
	err = p.db.snapshot(ctx, func(tx pgx.Tx) error {
		var args params
		cond := ""
		if search != "" {
			// strpos, not LIKE: a plain substring search, with no wildcard to escape.
			cond = ` WHERE strpos(search_text, ` + args.add(strings.ToLower(search)) + `) > 0`
		}
		if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM org_roles`+cond, args...).Scan(&total); err != nil {
			return fmt.Errorf("postgres: count picture roles: %w", err)
		}
		limit := f.Limit
		if limit <= 0 || limit > 200 {
			limit = 50
		}
		rows, err := tx.Query(ctx, `SELECT `+pictureColumns+` FROM org_roles`+cond+
			` ORDER BY scope, name_key, role_id LIMIT `+args.add(limit)+` OFFSET `+args.add(max(f.Offset, 0)), args...)
		if err != nil {
			return fmt.Errorf("postgres: list picture roles: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			r, err := scanPictureRole(rows)
			if err != nil {
				return err
			}
			roles = append(roles, r)
		}
		return rows.Err()
	})
	return roles, total, err
}

// RequestRole returns the role that request id created as the picture
// shows it, with its drift; ok is false when the picture holds none.
func (p *Picture) RequestRole(ctx context.Context, id int64) (rolegate.PictureRole, bool, error) {
	return requestRole(ctx, p.db.pool, id)
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

// PictureStats reads the picture's state.
func (p *Picture) PictureStats(ctx context.Context) (rolegate.PictureStats, error) {
	var s rolegate.PictureStats
	var at *int64
	err := p.db.pool.QueryRow(ctx, `SELECT
		(SELECT MIN(synced_at) FROM org_picture),
		(SELECT COUNT(*) FROM org_roles WHERE deleted_at = 0),
		(SELECT COUNT(*) FROM org_roles WHERE drift <> '')`).Scan(&at, &s.Roles, &s.Drifted)
	if err != nil {
		return s, fmt.Errorf("postgres: picture stats: %w", err)
	}
	if at != nil {
		s.SyncedAt = fromMS(*at)
	}
	return s, nil
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
