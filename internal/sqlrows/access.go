package sqlrows

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/rolegate/rolegate/internal/rolegate"
)

// Row is one row of a query's result, as both drivers return it.
type Row interface{ Scan(dest ...any) error }

// Reader is how a store reads within one of its transactions, for the
// reads written here once for both engines. Queries are written with ?
// placeholders; each engine numbers them as it needs (Numbered).
type Reader struct {
	// Row runs query and returns its first row.
	Row func(query string, args ...any) Row
	// NoRows says that a Row's Scan found no row.
	NoRows func(error) bool
	// Each runs query, scans each row into dest and calls fn after each.
	Each func(query string, args []any, dest []any, fn func() error) error
}

// Rows are a query's rows, as both drivers return them.
type Rows interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
}

// ScanEach scans each of rows into dest and calls fn after each (a
// Reader's Each); the caller closes rows.
func ScanEach(rows Rows, dest []any, fn func() error) error {
	for rows.Next() {
		if err := rows.Scan(dest...); err != nil {
			return err
		}
		if err := fn(); err != nil {
			return err
		}
	}
	return rows.Err()
}

// Numbered is query with its ? placeholders numbered $1, $2, … in order
// (PostgreSQL's). The queries here hold no ? in their text.
func Numbered(query string) string {
	var b strings.Builder
	n := 0
	for _, r := range query {
		if r == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// AccessFacts reads what the picture says of in's role, its project and
// its grantee, for the transaction that files the request.
func AccessFacts(r Reader, in rolegate.AccessInput) (rolegate.AccessFacts, error) {
	var f rolegate.AccessFacts
	var perms string
	roleID := strings.TrimSpace(in.RoleID)
	err := r.Row(`SELECT role_id, scope, scope_name, name, description, permissions, resource_type, predefined <> 0
		FROM org_roles WHERE role_id = ? AND deleted_at = 0`, roleID).Scan(
		&f.Role.ID, &f.Role.Scope, &f.Role.ScopeName, &f.Role.Name, &f.Role.Description, &perms, &f.Role.ResourceType, &f.Role.Predefined)
	switch {
	case r.NoRows(err):
	case err != nil:
		return f, fmt.Errorf("read role %s: %w", roleID, err)
	default:
		f.RoleFound = true
		if err := json.Unmarshal([]byte(perms), &f.Role.Permissions); err != nil {
			return f, fmt.Errorf("role %s permissions: %w", f.Role.ID, err)
		}
		if f.Role.Scope != rolegate.ScopeOrganization {
			f.Project.ID = f.Role.Scope
			err := r.Row(`SELECT name, archived FROM projects WHERE project_id = ?`, f.Role.Scope).Scan(&f.Project.Name, &f.Project.Archived)
			switch {
			case r.NoRows(err):
			case err != nil:
				return f, fmt.Errorf("read project %s: %w", f.Role.Scope, err)
			default:
				f.ProjectFound = true
			}
		}
	}
	g := in.Grantee
	f.Grantee = rolegate.Grantee{Kind: g.Kind, ID: strings.TrimSpace(g.ID)}
	switch g.Kind {
	case rolegate.GranteeGroup:
		err = r.Row(`SELECT name FROM org_groups WHERE group_id = ?`, f.Grantee.ID).Scan(&f.Grantee.Name)
	case rolegate.GranteeUser:
		err = r.Row(`SELECT name, email FROM org_users WHERE user_id = ?`, f.Grantee.ID).Scan(&f.Grantee.Name, &f.Grantee.Email)
	default:
		return f, nil
	}
	switch {
	case r.NoRows(err):
	case err != nil:
		return f, fmt.Errorf("read grantee %s: %w", f.Grantee.ID, err)
	default:
		f.GranteeFound = true
	}
	return f, nil
}

// InsertAccess stores a new pending access request (RETURNING its id),
// with AccessValues.
const InsertAccess = `INSERT INTO requests (kind, scope, scope_name, role_name, role_name_key, permissions, description, justification,
		payload, payload_hash, binding_version, binding_hash, status, requester_key, requester_email, requester_name,
		required_approvals, created_at, updated_at, expires_at,
		grantee_kind, grantee_id, grantee_name, grantee_email, access_role_id, access_until)
	VALUES ('access', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
	RETURNING id`

// AccessValues are InsertAccess's values for req, filed by actor.
func AccessValues(req *rolegate.Request, actor rolegate.Actor) []any {
	perms, _ := json.Marshal(req.Permissions)
	return []any{req.Scope, req.ScopeName, req.RoleName, rolegate.NameKey(req.RoleName), string(perms), req.Description, req.Justification,
		req.Payload, req.PayloadHash, req.BindingVersion, req.BindingHash, actor.Key(), actor.Email, actor.DisplayName(),
		req.RequiredApprovals, ms(req.CreatedAt), ms(req.UpdatedAt), ms(req.ExpiresAt),
		string(req.Grantee.Kind), req.Grantee.ID, req.Grantee.Name, req.Grantee.Email, req.AccessRoleID, ms(req.AccessUntil)}
}

// Beneficiary is what the directory says of the person signed in with
// email: their user and its groups (Found false when no user has that
// email), read in r's transaction. Two users with one email both count,
// so that neither escapes the self-benefit rule.
func Beneficiary(r Reader, email string) (rolegate.Beneficiary, error) {
	var b rolegate.Beneficiary
	key := strings.ToLower(strings.TrimSpace(email))
	if key == "" {
		return b, nil
	}
	var users []rolegate.User
	var u rolegate.User
	err := r.Each(`SELECT user_id, name, email FROM org_users WHERE email_key = ? ORDER BY user_id LIMIT 2`, []any{key},
		[]any{&u.ID, &u.Name, &u.Email}, func() error { users = append(users, u); return nil })
	if err != nil {
		return b, fmt.Errorf("find the user of an email: %w", err)
	}
	if len(users) == 0 {
		return b, nil
	}
	b.Found, b.User = true, users[0]
	for _, u := range users {
		var g rolegate.Group
		err := r.Each(`SELECT g.group_id, g.name FROM org_group_members m JOIN org_groups g ON g.group_id = m.group_id
			WHERE m.user_id = ? ORDER BY g.group_id`, []any{u.ID},
			[]any{&g.ID, &g.Name}, func() error { b.Groups = append(b.Groups, g); return nil })
		if err != nil {
			return b, fmt.Errorf("read the groups of %s: %w", u.ID, err)
		}
	}
	return b, nil
}

// ms is a time as stored: Unix milliseconds, 0 for none.
func ms(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

// OpenGrant is the open request (pending, approved, provisioning or
// failed) that already asks for the role roleID of scope for g, if any:
// the one filing the same grant again would be refused for.
func OpenGrant(r Reader, scope, roleID string, g rolegate.Grantee) (int64, bool, error) {
	var id int64
	err := r.Row(OpenGrantQuery, scope, roleID, string(g.Kind), g.ID).Scan(&id)
	switch {
	case r.NoRows(err):
		return 0, false, nil
	case err != nil:
		return 0, false, fmt.Errorf("look for an open grant: %w", err)
	}
	return id, true, nil
}

// OpenGrantQuery finds the open request (pending, approved, provisioning
// or failed) that already asks for a role of a scope for a grantee: scope,
// role id, grantee kind and grantee id are its parameters.
const OpenGrantQuery = `SELECT id FROM requests
	WHERE kind = 'access' AND scope = ? AND access_role_id = ? AND grantee_kind = ? AND grantee_id = ?
		AND status IN ('pending','approved','provisioning','failed') AND abandoned_at = 0`
