package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/rolegate/rolegate/internal/rolegate"
	"github.com/rolegate/rolegate/internal/sqlrows"
)

// Requests stores the life cycle of role requests (rolegate.RequestService)
// for every process on the database. A transition is one transaction that
// first locks the request's row (lockRequest): two approvers on two nodes,
// or an approval and a cancellation, take turns, and the second reads what
// the first committed before the domain decides.
type Requests struct {
	db  *DB
	cfg rolegate.RequestsConfig
	sqlrows.Transitions
}

// NewRequests returns the request service over db.
func NewRequests(db *DB, cfg rolegate.RequestsConfig) *Requests {
	s := &Requests{db: db, cfg: cfg.WithDefaults()}
	s.Transitions = sqlrows.Transitions{Update: s.update, Config: s.cfg, Transition: s.transition, Unique: isUniqueViolation}
	return s
}

// Create stores a new pending request with its exact payload, once the
// domain has validated it and its name is still free. Two nodes creating
// the same name at once: the unique index lets one in.
func (s *Requests) Create(ctx context.Context, actor rolegate.Actor, in rolegate.RequestInput, catalog *rolegate.Catalog) (*rolegate.Request, error) {
	var req *rolegate.Request
	err := s.db.update(ctx, func(tx *Tx) error {
		var eff rolegate.Effects
		var err error
		// The project is named from the picture, never from the form; one
		// archived, unknown or not in the picture is refused by name.
		in.Scope, in.ScopeName = strings.TrimSpace(in.Scope), ""
		if in.Scope != rolegate.ScopeOrganization && rolegate.ValidScopeID(in.Scope) {
			p, found, err := projectByID(ctx, tx, in.Scope)
			if err != nil {
				return err
			}
			if msg := rolegate.ScopeProblem(in.Scope, p, found); msg != "" {
				return rolegate.Invalid(rolegate.FieldErrors{rolegate.FieldScope: msg})
			}
			in.ScopeName = p.Name
		}
		if req, eff, err = rolegate.Submit(actor, in, catalog, s.cfg, tx.now); err != nil {
			return err
		}
		if msg, err := roleNameTaken(ctx, tx, req.Scope, req.RoleName, actor.Principal); err != nil {
			return err
		} else if msg != "" {
			return rolegate.Invalid(rolegate.FieldErrors{rolegate.FieldRoleName: msg})
		}
		perms, _ := json.Marshal(req.Permissions)
		err = tx.QueryRow(ctx, `
			INSERT INTO requests (scope, scope_name, role_name, role_name_key, permissions, description, justification,
				payload, payload_hash, binding_version, binding_hash, status, requester_key, requester_email, requester_name,
				required_approvals, created_at, updated_at, expires_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 'pending', $12, $13, $14, $15, $16, $17, $18) RETURNING id`,
			req.Scope, req.ScopeName, req.RoleName, strings.ToLower(req.RoleName), string(perms), req.Description, req.Justification,
			req.Payload, req.PayloadHash, req.BindingVersion, req.BindingHash, actor.Key(), actor.Email, actor.DisplayName(),
			req.RequiredApprovals, ms(req.CreatedAt), ms(req.UpdatedAt), ms(req.ExpiresAt)).Scan(&req.ID)
		if err != nil {
			if isUniqueViolation(err) {
				msg := "An open request already asks for a role with this name."
				if req.Scope != rolegate.ScopeOrganization {
					msg = "An open request already asks for a role with this name in this project."
				}
				return rolegate.Invalid(rolegate.FieldErrors{rolegate.FieldRoleName: msg})
			}
			return fmt.Errorf("postgres: insert request: %w", err)
		}
		return tx.apply(ctx, req, eff)
	})
	if err != nil {
		return nil, err
	}
	return req, nil
}

// RoleNameTaken says to viewer why name cannot be used in scope ("" when
// it is free): an open request, a provisioned request or a role already
// upstream has it in that scope (names are unique within their scope). The
// request is named only to someone who may see it.
func (s *Requests) RoleNameTaken(ctx context.Context, scope, name string, viewer rolegate.Principal) (string, error) {
	return roleNameTaken(ctx, s.db.pool, scope, name, viewer)
}

// querier is what a read needs: the pool, a read or a write transaction.
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

func roleNameTaken(ctx context.Context, q querier, scope, name string, viewer rolegate.Principal) (string, error) {
	var h rolegate.NameHolder
	err := q.QueryRow(ctx, sqlrows.NameHolderQuery("$1", "$2"), scope, rolegate.NameKey(name)).Scan(&h.ID, &h.Status, &h.RequesterKey)
	switch {
	case err == nil:
		return rolegate.NameTaken(scope, &h, false, viewer), nil
	case !errors.Is(err, pgx.ErrNoRows):
		return "", fmt.Errorf("postgres: check role name: %w", err)
	}
	taken, err := roleNameInPicture(ctx, q, scope, name)
	if err != nil {
		return "", err
	}
	return rolegate.NameTaken(scope, nil, taken, viewer), nil
}

// Get returns request id with its approvals, read in one snapshot.
func (s *Requests) Get(ctx context.Context, id int64) (*rolegate.Request, error) {
	var r *rolegate.Request
	err := s.db.snapshot(ctx, func(tx pgx.Tx) error {
		var err error
		r, err = getRequest(ctx, tx, id)
		return err
	})
	return r, err
}

// GetRecord returns request id with its timeline, its notifications and
// the role it created, read in one snapshot.
func (s *Requests) GetRecord(ctx context.Context, id int64) (*rolegate.RequestRecord, error) {
	var r rolegate.RequestRecord
	err := s.db.snapshot(ctx, func(tx pgx.Tx) error {
		var err error
		if r.Request, err = getRequest(ctx, tx, id); err != nil {
			return err
		}
		if r.Events, err = queryEvents(ctx, tx, `SELECT `+eventColumns+` FROM audit_events WHERE request_id = $1 ORDER BY seq`, id); err != nil {
			return err
		}
		if r.Notifications, err = notificationsOf(ctx, tx, id); err != nil {
			return err
		}
		if r.Request.UpstreamRoleID == "" {
			return nil
		}
		role, ok, err := requestRole(ctx, tx, id)
		if ok {
			r.Role = &role
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return &r, nil
}

const requestColumns = sqlrows.RequestColumns

func scanRequest(row pgx.Row) (*rolegate.Request, error) {
	var r sqlrows.RequestRow
	if err := row.Scan(r.Dest()...); err != nil {
		return nil, err
	}
	req, err := r.Request()
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	return req, nil
}

func getRequest(ctx context.Context, q querier, id int64) (*rolegate.Request, error) {
	r, err := scanRequest(q.QueryRow(ctx, `SELECT `+requestColumns+` FROM requests WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, rolegate.Errorf(rolegate.ENOTFOUND, "There is no request #%d.", id)
	} else if err != nil {
		return nil, fmt.Errorf("postgres: get request %d: %w", id, err)
	}
	rows, err := q.Query(ctx, `SELECT `+sqlrows.ApprovalColumns+`
		FROM approvals WHERE request_id = $1 ORDER BY created_at, approver_key`, id)
	if err != nil {
		return nil, fmt.Errorf("postgres: approvals of %d: %w", id, err)
	}
	for rows.Next() {
		var a sqlrows.ApprovalRow
		if err := rows.Scan(a.Dest()...); err != nil {
			rows.Close()
			return nil, fmt.Errorf("postgres: approvals of %d: %w", id, err)
		}
		r.Approvals = append(r.Approvals, a.Approval())
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: approvals of %d: %w", id, err)
	}
	if r.IsAccess() {
		if r.Grant, err = getGrant(ctx, q, id); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// lockRequest takes request id's row lock for the rest of tx and reads it
// as committed: whoever changes the request on any node holds this lock.
func lockRequest(ctx context.Context, tx *Tx, id int64) (*rolegate.Request, error) {
	var one int
	err := tx.QueryRow(ctx, `SELECT 1 FROM requests WHERE id = $1 FOR UPDATE`, id).Scan(&one)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, rolegate.Errorf(rolegate.ENOTFOUND, "There is no request #%d.", id)
	} else if err != nil {
		return nil, fmt.Errorf("postgres: lock request %d: %w", id, err)
	}
	// READ COMMITTED: this statement sees every change committed before
	// the lock was granted.
	return getRequest(ctx, tx, id)
}

// params numbers a query's parameters as they are added.
type params []any

func (p *params) add(v any) string {
	*p = append(*p, v)
	return "$" + strconv.Itoa(len(*p))
}

// requestWhere is the WHERE clause that selects the requests matching f,
// "" when f selects them all; its values are added to p.
func requestWhere(f rolegate.RequestFilter, p *params) string {
	var where []string
	if f.RequesterKey != "" {
		where = append(where, "requester_key = "+p.add(f.RequesterKey))
	}
	if f.NotRequester != "" {
		where = append(where, "requester_key <> "+p.add(f.NotRequester))
	}
	if f.NotApprovedBy != "" {
		where = append(where, "NOT EXISTS (SELECT 1 FROM approvals WHERE approvals.request_id = requests.id AND approvals.approver_key = "+p.add(f.NotApprovedBy)+")")
	}
	if f.NotAbandoned {
		where = append(where, "abandoned_at = 0")
	}
	if len(f.Statuses) > 0 {
		statuses := make([]string, len(f.Statuses))
		for i, st := range f.Statuses {
			statuses[i] = string(st)
		}
		where = append(where, "status = ANY("+p.add(statuses)+")")
	}
	if len(where) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(where, " AND ")
}

// Count is how many requests match f.
func (s *Requests) Count(ctx context.Context, f rolegate.RequestFilter) (int, error) {
	var p params
	cond := requestWhere(f, &p)
	var n int
	if err := s.db.pool.QueryRow(ctx, `SELECT COUNT(*) FROM requests`+cond, p...).Scan(&n); err != nil {
		return 0, fmt.Errorf("postgres: count requests: %w", err)
	}
	return n, nil
}

// List returns the requests matching f, newest first unless f.OldestFirst,
// and how many match in all, read in one snapshot.
func (s *Requests) List(ctx context.Context, f rolegate.RequestFilter) (list []*rolegate.Request, total int, err error) {
	err = s.db.snapshot(ctx, func(tx pgx.Tx) error {
		var p params
		cond := requestWhere(f, &p)
		if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM requests`+cond, p...).Scan(&total); err != nil {
			return fmt.Errorf("postgres: count requests: %w", err)
		}
		order := " ORDER BY id DESC"
		if f.OldestFirst {
			order = " ORDER BY id"
		}
		limit := f.Limit
		if limit <= 0 || limit > 200 {
			limit = 50
		}
		rows, err := tx.Query(ctx, `SELECT `+requestColumns+` FROM requests`+cond+order+
			` LIMIT `+p.add(limit)+` OFFSET `+p.add(max(f.Offset, 0)), p...)
		if err != nil {
			return fmt.Errorf("postgres: list requests: %w", err)
		}
		for rows.Next() {
			r, err := scanRequest(rows)
			if err != nil {
				rows.Close()
				return fmt.Errorf("postgres: list requests: %w", err)
			}
			list = append(list, r)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("postgres: list requests: %w", err)
		}
		// What became of the access each access request gave (a list shows
		// Revoked): one indexed row each, read in the same snapshot.
		for _, r := range list {
			if r.IsAccess() {
				if r.Grant, err = getGrant(ctx, tx, r.ID); err != nil {
					return err
				}
			}
		}
		return nil
	})
	return list, total, err
}

// ExpireDue expires every pending request past its expiry time and returns
// how many it expired. Two nodes sweeping at once expire each request once:
// each is re-read under its lock.
func (s *Requests) ExpireDue(ctx context.Context) (int, error) {
	ids, err := queryIDs(ctx, s.db.pool, `SELECT id FROM requests WHERE status = 'pending' AND expires_at <= $1`, ms(s.db.now()))
	if err != nil {
		return 0, fmt.Errorf("postgres: due requests: %w", err)
	}
	return s.db.eachLocked(ctx, ids, func(tx *Tx, req *rolegate.Request) error {
		if !req.Due(tx.now) {
			return errSkip
		}
		return tx.apply(ctx, req, rolegate.Expire(req))
	})
}

// RemindPending reminds the approvers of every request due a reminder, one
// reminder per request whichever nodes run it.
func (s *Requests) RemindPending(ctx context.Context, after time.Duration) (int, error) {
	if after <= 0 {
		return 0, nil
	}
	now := s.db.now()
	ids, err := queryIDs(ctx, s.db.pool, `SELECT r.id FROM requests r LEFT JOIN request_reminders m ON m.request_id = r.id
		WHERE r.status = 'pending' AND r.expires_at > $1 AND COALESCE(m.last_at, r.created_at) <= $2 ORDER BY r.id`,
		ms(now), ms(now.Add(-after)))
	if err != nil {
		return 0, fmt.Errorf("postgres: requests due a reminder: %w", err)
	}
	return s.db.eachLocked(ctx, ids, func(tx *Tx, req *rolegate.Request) error {
		var last, count int64
		err := tx.QueryRow(ctx, `SELECT last_at, reminders FROM request_reminders WHERE request_id = $1`, req.ID).Scan(&last, &count)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("postgres: reminder for %d: %w", req.ID, err)
		}
		if !rolegate.ReminderDue(req, fromMS(last), after, tx.now) {
			return errSkip
		}
		if _, err := tx.Exec(ctx, `INSERT INTO request_reminders (request_id, last_at, reminders) VALUES ($1, $2, 1)
			ON CONFLICT (request_id) DO UPDATE SET last_at = excluded.last_at, reminders = request_reminders.reminders + 1`,
			req.ID, ms(tx.now)); err != nil {
			return fmt.Errorf("postgres: record reminder for %d: %w", req.ID, err)
		}
		return tx.apply(ctx, req, rolegate.Remind(req, count+1, tx.now))
	})
}

// eachLocked runs fn on each request, locked, in a transaction of its own,
// and counts those it changed; fn returns errSkip when the request no
// longer qualifies.
func (db *DB) eachLocked(ctx context.Context, ids []int64, fn func(tx *Tx, req *rolegate.Request) error) (int, error) {
	n := 0
	for _, id := range ids {
		err := db.update(ctx, func(tx *Tx) error {
			req, err := lockRequest(ctx, tx, id)
			if err != nil {
				return err
			}
			return fn(tx, req)
		})
		switch {
		case err == nil:
			n++
		case errors.Is(err, errSkip):
		default:
			return n, err
		}
	}
	return n, nil
}

func queryIDs(ctx context.Context, q querier, query string, args ...any) ([]int64, error) {
	rows, err := q.Query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[int64])
}

// update runs fn in one write transaction, with tx as sqlrows' steps use it.
func (s *Requests) update(ctx context.Context, fn func(tx sqlrows.Tx) error) error {
	return s.db.update(ctx, func(tx *Tx) error { return fn(tx.shared(ctx)) })
}

// errSkip rolls a transaction back without it being a failure.
var errSkip = errors.New("skip")

// transition is the one way a person's action changes a request: in one
// transaction it locks and reads the request and runs sqlrows.TransitionIn.
func (s *Requests) transition(ctx context.Context, id int64, check func(req *rolegate.Request) error, step func(tx sqlrows.Tx, req *rolegate.Request) error) (*rolegate.Request, error) {
	var req *rolegate.Request
	var expired bool
	err := s.db.update(ctx, func(tx *Tx) error {
		var err error
		if req, err = lockRequest(ctx, tx, id); err != nil {
			return err
		}
		expired, err = sqlrows.TransitionIn(tx.shared(ctx), req, check, step)
		return err
	})
	if err == nil && expired {
		return req, sqlrows.ExpiredError(req)
	}
	return req, err
}

// isUniqueViolation reports a unique or primary key violation, by its
// SQLSTATE rather than its message.
func isUniqueViolation(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "23505"
}
