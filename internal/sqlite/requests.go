package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	sqlite3 "modernc.org/sqlite/lib"

	"github.com/rolegate/rolegate/internal/rolegate"
	"github.com/rolegate/rolegate/internal/sqlrows"
)

// Requests stores the life cycle of role requests (rolegate.RequestService).
// Each transition is one write transaction: it loads the request, asks the
// domain what the transition causes (rolegate.Effects), and writes all of
// it with apply: the move, guarded on the current status, the job, the
// audit events and the notifications they call for.
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
// domain has validated it and its name is still free.
func (s *Requests) Create(ctx context.Context, actor rolegate.Actor, in rolegate.RequestInput, catalog *rolegate.Catalog) (*rolegate.Request, error) {
	var req *rolegate.Request
	err := s.db.update(ctx, func(tx *Tx) error {
		var err error
		req, err = s.createIn(ctx, tx, actor, in, catalog)
		return err
	})
	if err != nil {
		return nil, err
	}
	return req, nil
}

// createIn is Create inside tx.
func (s *Requests) createIn(ctx context.Context, tx *Tx, actor rolegate.Actor, in rolegate.RequestInput, catalog *rolegate.Catalog) (*rolegate.Request, error) {
	var req *rolegate.Request
	err := func() error {
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
		if msg, err := tx.roleNameTaken(ctx, req.Scope, req.RoleName, actor.Principal); err != nil {
			return err
		} else if msg != "" {
			return rolegate.Invalid(rolegate.FieldErrors{rolegate.FieldRoleName: msg})
		}
		perms, _ := json.Marshal(req.Permissions)
		res, err := tx.ExecContext(ctx, `
			INSERT INTO requests (scope, scope_name, role_name, role_name_key, permissions, description, justification,
				payload, payload_hash, binding_version, binding_hash, status, requester_key, requester_email, requester_name,
				required_approvals, created_at, updated_at, expires_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending', ?, ?, ?, ?, ?, ?, ?)`,
			req.Scope, req.ScopeName, req.RoleName, strings.ToLower(req.RoleName), string(perms), req.Description, req.Justification,
			req.Payload, req.PayloadHash, req.BindingVersion, req.BindingHash, actor.Key(), actor.Email, actor.DisplayName(),
			req.RequiredApprovals, ms(req.CreatedAt), ms(req.UpdatedAt), ms(req.ExpiresAt))
		if err != nil {
			if isUniqueViolation(err) {
				msg := "An open request already asks for a role with this name."
				if req.Scope != rolegate.ScopeOrganization {
					msg = "An open request already asks for a role with this name in this project."
				}
				return rolegate.Invalid(rolegate.FieldErrors{rolegate.FieldRoleName: msg})
			}
			return fmt.Errorf("sqlite: insert request: %w", err)
		}
		if req.ID, err = res.LastInsertId(); err != nil {
			return fmt.Errorf("sqlite: insert request: %w", err)
		}
		return tx.apply(ctx, req, eff)
	}()
	if err != nil {
		return nil, err
	}
	return req, nil
}

// RoleNameTaken says to viewer why name cannot be used in scope ("" when
// it is free): an open request, a provisioned request or a role already
// upstream has it in that scope (names are unique within their scope). The request is named only to someone who may see it; to anyone
// else a request they would get a 404 for is not even confirmed to exist
// by its number.
func (s *Requests) RoleNameTaken(ctx context.Context, scope, name string, viewer rolegate.Principal) (string, error) {
	return roleNameTaken(ctx, s.db.readPool, scope, name, viewer)
}

func (tx *Tx) roleNameTaken(ctx context.Context, scope, name string, viewer rolegate.Principal) (string, error) {
	return roleNameTaken(ctx, tx, scope, name, viewer)
}

type querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

func roleNameTaken(ctx context.Context, q querier, scope, name string, viewer rolegate.Principal) (string, error) {
	var h rolegate.NameHolder
	err := q.QueryRowContext(ctx, sqlrows.NameHolderQuery("?", "?"), scope, rolegate.NameKey(name)).Scan(&h.ID, &h.Status, &h.RequesterKey)
	switch {
	case err == nil:
		return rolegate.NameTaken(scope, &h, false, viewer), nil
	case !errors.Is(err, sql.ErrNoRows):
		return "", fmt.Errorf("sqlite: check role name: %w", err)
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
	err := s.db.snapshot(ctx, func(q querier) error {
		var err error
		r, err = getRequest(ctx, q, id)
		return err
	})
	return r, err
}

const requestColumns = sqlrows.RequestColumns

func scanRequest(row scanner) (*rolegate.Request, error) {
	var r sqlrows.RequestRow
	if err := row.Scan(r.Dest()...); err != nil {
		return nil, err
	}
	req, err := r.Request()
	if err != nil {
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	return req, nil
}

func getRequest(ctx context.Context, q querier, id int64) (*rolegate.Request, error) {
	r, err := scanRequest(q.QueryRowContext(ctx, `SELECT `+requestColumns+` FROM requests WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, rolegate.Errorf(rolegate.ENOTFOUND, "There is no request #%d.", id)
	} else if err != nil {
		return nil, fmt.Errorf("sqlite: get request %d: %w", id, err)
	}
	rows, err := q.QueryContext(ctx, `SELECT `+approvalColumns+` FROM approvals WHERE request_id = ? ORDER BY created_at, approver_key`, id)
	if err != nil {
		return nil, fmt.Errorf("sqlite: approvals of %d: %w", id, err)
	}
	defer rows.Close()
	for rows.Next() {
		a, err := scanApproval(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlite: approvals of %d: %w", id, err)
		}
		r.Approvals = append(r.Approvals, a)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if r.IsAccess() {
		if r.Grant, err = getGrant(ctx, q, id); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// requestWhere is the WHERE clause (with its arguments) that selects the
// requests matching f, "" when f selects them all.
func requestWhere(f rolegate.RequestFilter) (string, []any) {
	var where []string
	var args []any
	if f.RequesterKey != "" {
		where = append(where, "requester_key = ?")
		args = append(args, f.RequesterKey)
	}
	if f.NotRequester != "" {
		where = append(where, "requester_key <> ?")
		args = append(args, f.NotRequester)
	}
	if f.NotApprovedBy != "" {
		where = append(where, "NOT EXISTS (SELECT 1 FROM approvals WHERE approvals.request_id = requests.id AND approvals.approver_key = ?)")
		args = append(args, f.NotApprovedBy)
	}
	if f.NotAbandoned {
		where = append(where, "abandoned_at = 0")
	}
	if len(f.Statuses) > 0 {
		marks := strings.TrimSuffix(strings.Repeat("?,", len(f.Statuses)), ",")
		where = append(where, "status IN ("+marks+")")
		for _, st := range f.Statuses {
			args = append(args, string(st))
		}
	}
	if len(where) == 0 {
		return "", args
	}
	return " WHERE " + strings.Join(where, " AND "), args
}

// Count is how many requests match f (its order and paging aside): one
// COUNT over the status index, cheap enough for every page's navigation
// (the approver's count of requests waiting for them).
// The count is kept in the read cache until the next write (readcache.go).
func (s *Requests) Count(ctx context.Context, f rolegate.RequestFilter) (int, error) {
	cond, args := requestWhere(f)
	key := countKey{cond: cond, args: quoteArgs(args)}
	gen := s.db.gen.Load()
	if n, ok := s.db.counts.get(gen, key); ok {
		return n, nil
	}
	var n int
	if err := s.db.readPool.QueryRowContext(ctx, `SELECT COUNT(*) FROM requests`+cond, args...).Scan(&n); err != nil {
		return 0, fmt.Errorf("sqlite: count requests: %w", err)
	}
	s.db.counts.put(gen, key, n, 64+len(key.cond)+len(key.args))
	return n, nil
}

// countKey names a count by its statement's condition and arguments.
type countKey struct{ cond, args string }

// quoteArgs writes a statement's arguments so that no two lists of them
// read the same.
func quoteArgs(args []any) string {
	var b []byte
	for _, a := range args {
		b = fmt.Appendf(b, "%T:%q,", a, fmt.Sprint(a))
	}
	return string(b)
}

// List returns the requests matching f, newest first unless f.OldestFirst,
// and how many match in all (for pagination), read in one snapshot.
func (s *Requests) List(ctx context.Context, f rolegate.RequestFilter) (list []*rolegate.Request, total int, err error) {
	err = s.db.snapshot(ctx, func(q querier) error {
		list, total, err = listRequests(ctx, q, f)
		return err
	})
	return list, total, err
}

func listRequests(ctx context.Context, q querier, f rolegate.RequestFilter) ([]*rolegate.Request, int, error) {
	cond, args := requestWhere(f)
	var total int
	if err := q.QueryRowContext(ctx, `SELECT COUNT(*) FROM requests`+cond, args...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("sqlite: count requests: %w", err)
	}
	order := " ORDER BY id DESC"
	if f.OldestFirst {
		order = " ORDER BY id"
	}
	limit := f.Limit
	if limit <= 0 || limit > 200 {
		limit = 50
	}
	rows, err := q.QueryContext(ctx, `SELECT `+requestColumns+` FROM requests`+cond+order+` LIMIT ? OFFSET ?`,
		append(args, limit, max(f.Offset, 0))...)
	if err != nil {
		return nil, 0, fmt.Errorf("sqlite: list requests: %w", err)
	}
	defer rows.Close()
	var list []*rolegate.Request
	for rows.Next() {
		r, err := scanRequest(rows)
		if err != nil {
			return nil, 0, fmt.Errorf("sqlite: list requests: %w", err)
		}
		list = append(list, r)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, err
	}
	rows.Close()
	// What became of the access each access request gave (a list shows
	// Revoked): one indexed row each, read in the same snapshot.
	for _, r := range list {
		if r.IsAccess() {
			if r.Grant, err = getGrant(ctx, q, r.ID); err != nil {
				return nil, 0, err
			}
		}
	}
	return list, total, nil
}

// ExpireDue expires every pending request past its expiry time and returns
// how many it expired.
func (s *Requests) ExpireDue(ctx context.Context) (int, error) {
	ids, err := queryIDs(ctx, s.db.readPool, `SELECT id FROM requests WHERE status = 'pending' AND expires_at <= ?`, ms(s.db.now()))
	if err != nil {
		return 0, fmt.Errorf("sqlite: due requests: %w", err)
	}
	return s.eachInOwnTx(ctx, ids, func(tx *Tx, req *rolegate.Request) error {
		if !req.Due(tx.now) { // decided or cancelled since the query
			return errSkip
		}
		return tx.apply(ctx, req, rolegate.Expire(req))
	})
}

// RemindPending reminds the approvers of every request due a reminder
// (rolegate.ReminderDue, after since its submission or its last reminder):
// one request.reminder event per request, with its notices. It returns how
// many requests it reminded about.
func (s *Requests) RemindPending(ctx context.Context, after time.Duration) (int, error) {
	if after <= 0 {
		return 0, nil
	}
	// The same rule in SQL picks the candidates; the domain decides again
	// inside each transaction, since a decision may have come in.
	now := s.db.now()
	ids, err := queryIDs(ctx, s.db.readPool, `SELECT r.id FROM requests r LEFT JOIN request_reminders m ON m.request_id = r.id
		WHERE r.status = 'pending' AND r.expires_at > ? AND COALESCE(m.last_at, r.created_at) <= ? ORDER BY r.id`,
		ms(now), ms(now.Add(-after)))
	if err != nil {
		return 0, fmt.Errorf("sqlite: requests due a reminder: %w", err)
	}
	return s.eachInOwnTx(ctx, ids, func(tx *Tx, req *rolegate.Request) error {
		var last, count int64
		err := tx.QueryRowContext(ctx, `SELECT last_at, reminders FROM request_reminders WHERE request_id = ?`, req.ID).Scan(&last, &count)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("sqlite: reminder for %d: %w", req.ID, err)
		}
		if !rolegate.ReminderDue(req, fromMS(last), after, tx.now) {
			return errSkip
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO request_reminders (request_id, last_at, reminders) VALUES (?, ?, 1)
			ON CONFLICT (request_id) DO UPDATE SET last_at = excluded.last_at, reminders = reminders + 1`,
			req.ID, ms(tx.now)); err != nil {
			return fmt.Errorf("sqlite: record reminder for %d: %w", req.ID, err)
		}
		return tx.apply(ctx, req, rolegate.Remind(req, count+1, tx.now))
	})
}

// eachInOwnTx runs fn on each request in a write transaction of its own, so
// that one request's failure or a long batch never holds the writer for the
// rest; fn returns errSkip when the request no longer qualifies (it changed
// since the candidates were chosen). It returns how many fn carried out.
func (s *Requests) eachInOwnTx(ctx context.Context, ids []int64, fn func(tx *Tx, req *rolegate.Request) error) (int, error) {
	n := 0
	for _, id := range ids {
		err := s.db.update(ctx, func(tx *Tx) error {
			req, err := getRequest(ctx, tx, id)
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

// queryIDs runs a query of one integer column.
func queryIDs(ctx context.Context, q querier, query string, args ...any) ([]int64, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}

// update runs fn in one write transaction, with tx as sqlrows' steps use it.
func (s *Requests) update(ctx context.Context, fn func(tx sqlrows.Tx) error) error {
	return s.db.update(ctx, func(tx *Tx) error { return fn(tx.shared(ctx)) })
}

// errSkip rolls a transaction back without it being a failure.
var errSkip = errors.New("skip")

// transition is the one way a person's action changes a request: in one
// write transaction it loads the request and runs sqlrows.TransitionIn.
func (s *Requests) transition(ctx context.Context, id int64, check func(req *rolegate.Request) error, step func(tx sqlrows.Tx, req *rolegate.Request) error) (*rolegate.Request, error) {
	var req *rolegate.Request
	var expired bool
	err := s.db.update(ctx, func(tx *Tx) error {
		var err error
		if req, err = getRequest(ctx, tx, id); err != nil {
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

// isUniqueViolation reports a UNIQUE or PRIMARY KEY constraint failure,
// by the driver's extended result code rather than its message.
func isUniqueViolation(err error) bool {
	var coded interface{ Code() int }
	if !errors.As(err, &coded) {
		return false
	}
	return coded.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE || coded.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
}
