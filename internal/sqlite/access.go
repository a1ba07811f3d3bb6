package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/rolegate/rolegate/internal/rolegate"
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
		facts, err := accessFacts(ctx, tx, in)
		if err != nil {
			return err
		}
		var eff rolegate.Effects
		if req, eff, err = rolegate.SubmitAccess(actor, in, facts, catalog, s.cfg, acfg, tx.now); err != nil {
			return err
		}
		perms, _ := json.Marshal(req.Permissions)
		res, err := tx.ExecContext(ctx, `
			INSERT INTO requests (kind, scope, scope_name, role_name, role_name_key, permissions, description, justification,
				payload, payload_hash, binding_version, binding_hash, status, requester_key, requester_email, requester_name,
				required_approvals, created_at, updated_at, expires_at,
				grantee_kind, grantee_id, grantee_name, grantee_email, access_role_id, access_until)
			VALUES ('access', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			req.Scope, req.ScopeName, req.RoleName, strings.ToLower(req.RoleName), string(perms), req.Description, req.Justification,
			req.Payload, req.PayloadHash, req.BindingVersion, req.BindingHash, actor.Key(), actor.Email, actor.DisplayName(),
			req.RequiredApprovals, ms(req.CreatedAt), ms(req.UpdatedAt), ms(req.ExpiresAt),
			req.Grantee.Kind, req.Grantee.ID, req.Grantee.Name, req.Grantee.Email, req.AccessRoleID, ms(req.AccessUntil))
		if err != nil {
			if isUniqueViolation(err) {
				return rolegate.Invalid(rolegate.FieldErrors{rolegate.FieldGrantee: fmt.Sprintf(
					"An open request already asks for the role %s for the %s.", req.RoleName, req.Grantee)})
			}
			return fmt.Errorf("sqlite: insert access request: %w", err)
		}
		if req.ID, err = res.LastInsertId(); err != nil {
			return fmt.Errorf("sqlite: insert access request: %w", err)
		}
		return tx.apply(ctx, req, eff)
	})
	if err != nil {
		return nil, err
	}
	return req, nil
}

// accessFacts reads what the picture says of in's role and grantee.
func accessFacts(ctx context.Context, q querier, in rolegate.AccessInput) (rolegate.AccessFacts, error) {
	var f rolegate.AccessFacts
	var perms string
	err := q.QueryRowContext(ctx, `SELECT role_id, scope, scope_name, name, description, permissions, resource_type, predefined
		FROM org_roles WHERE role_id = ? AND deleted_at = 0`, strings.TrimSpace(in.RoleID)).Scan(
		&f.Role.ID, &f.Role.Scope, &f.Role.ScopeName, &f.Role.Name, &f.Role.Description, &perms, &f.Role.ResourceType, &f.Role.Predefined)
	switch {
	case errors.Is(err, sql.ErrNoRows):
	case err != nil:
		return f, fmt.Errorf("sqlite: read role %s: %w", in.RoleID, err)
	default:
		f.RoleFound = true
		if err := json.Unmarshal([]byte(perms), &f.Role.Permissions); err != nil {
			return f, fmt.Errorf("sqlite: role %s permissions: %w", f.Role.ID, err)
		}
		if f.Role.Scope != rolegate.ScopeOrganization {
			if f.Project, f.ProjectFound, err = projectByID(ctx, q, f.Role.Scope); err != nil {
				return f, err
			}
		}
	}
	g := in.Grantee
	f.Grantee = rolegate.Grantee{Kind: g.Kind, ID: strings.TrimSpace(g.ID)}
	switch g.Kind {
	case rolegate.GranteeGroup:
		err = q.QueryRowContext(ctx, `SELECT name FROM org_groups WHERE group_id = ?`, f.Grantee.ID).Scan(&f.Grantee.Name)
	case rolegate.GranteeUser:
		err = q.QueryRowContext(ctx, `SELECT name, email FROM org_users WHERE user_id = ?`, f.Grantee.ID).Scan(&f.Grantee.Name, &f.Grantee.Email)
	default:
		return f, nil
	}
	switch {
	case errors.Is(err, sql.ErrNoRows):
	case err != nil:
		return f, fmt.Errorf("sqlite: read grantee %s: %w", f.Grantee.ID, err)
	default:
		f.GranteeFound = true
	}
	return f, nil
}

// OpenGrant is the open request (pending, approved, provisioning or
// failed) that already asks for the role roleID of scope for g, if any:
// the one filing the same grant again would be refused for.
func (s *Requests) OpenGrant(ctx context.Context, scope, roleID string, g rolegate.Grantee) (int64, bool, error) {
	var id int64
	err := s.db.readPool.QueryRowContext(ctx, `SELECT id FROM requests
		WHERE kind = 'access' AND scope = ? AND access_role_id = ? AND grantee_kind = ? AND grantee_id = ?
			AND status IN ('pending','approved','provisioning','failed') AND abandoned_at = 0`,
		scope, roleID, g.Kind, g.ID).Scan(&id)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return 0, false, nil
	case err != nil:
		return 0, false, fmt.Errorf("sqlite: look for an open grant: %w", err)
	}
	return id, true, nil
}
