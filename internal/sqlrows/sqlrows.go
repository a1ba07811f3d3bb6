// Package sqlrows is what both SQL stores (internal/sqlite,
// internal/postgres) read alike: the columns of a request, an approval and
// a grant as they are stored (times in Unix milliseconds, permissions as a
// JSON array), scanned into the rows below by either engine's driver and
// turned into domain values here, once, rather than by two copies of the
// same conversion; and the queries whose SQL both engines accept but for
// their placeholders.
package sqlrows

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/rolegate/rolegate/internal/rolegate"
)

// RequestColumns are the columns a request is read from, in the order of
// (*RequestRow).Dest; SQL both engines accept.
const RequestColumns = `id, scope, scope_name, role_name, permissions, description, justification, payload, payload_hash,
	binding_version, binding_hash, status, requester_key, requester_email, requester_name, required_approvals, created_at, updated_at,
	expires_at, upstream_role_id, upstream_resource_type, failure_message, abandoned_at,
	(SELECT COUNT(*) FROM approvals WHERE approvals.request_id = requests.id),
	kind, grantee_kind, grantee_id, grantee_name, grantee_email, access_role_id, access_until`

// RequestRow is one row of RequestColumns, as stored.
type RequestRow struct {
	ID                                                      int64
	Scope, ScopeName, RoleName, Permissions                 string
	Description, Justification                              string
	Payload                                                 []byte
	PayloadHash                                             string
	BindingVersion                                          int64
	BindingHash, Status, RequesterKey                       string
	RequesterEmail, RequesterName                           string
	RequiredApprovals, CreatedAt, UpdatedAt, ExpiresAt      int64
	UpstreamRoleID, UpstreamResourceType, FailureMessage    string
	AbandonedAt, Approvals                                  int64
	Kind, GranteeKind, GranteeID, GranteeName, GranteeEmail string
	AccessRoleID                                            string
	AccessUntil                                             int64
}

// Dest are the scan destinations of RequestColumns, in order.
func (r *RequestRow) Dest() []any {
	return []any{&r.ID, &r.Scope, &r.ScopeName, &r.RoleName, &r.Permissions, &r.Description, &r.Justification, &r.Payload, &r.PayloadHash,
		&r.BindingVersion, &r.BindingHash, &r.Status, &r.RequesterKey, &r.RequesterEmail, &r.RequesterName, &r.RequiredApprovals,
		&r.CreatedAt, &r.UpdatedAt, &r.ExpiresAt, &r.UpstreamRoleID, &r.UpstreamResourceType, &r.FailureMessage, &r.AbandonedAt,
		&r.Approvals, &r.Kind, &r.GranteeKind, &r.GranteeID, &r.GranteeName, &r.GranteeEmail, &r.AccessRoleID, &r.AccessUntil}
}

// Request is the row as the domain's request (without its approvals and
// grant, which are rows of their own).
func (r *RequestRow) Request() (*rolegate.Request, error) {
	req := &rolegate.Request{
		ID: r.ID, Scope: r.Scope, ScopeName: r.ScopeName, RoleName: r.RoleName, Description: r.Description,
		Justification: r.Justification, Payload: r.Payload, PayloadHash: r.PayloadHash,
		BindingVersion: int(r.BindingVersion), BindingHash: r.BindingHash, Status: rolegate.Status(r.Status),
		RequiredApprovals: int(r.RequiredApprovals), NumApprovals: int(r.Approvals),
		CreatedAt: FromUnixMilli(r.CreatedAt), UpdatedAt: FromUnixMilli(r.UpdatedAt), ExpiresAt: FromUnixMilli(r.ExpiresAt),
		UpstreamRoleID: r.UpstreamRoleID, UpstreamResourceType: r.UpstreamResourceType, FailureMessage: r.FailureMessage,
		AbandonedAt: FromUnixMilli(r.AbandonedAt),
		Kind:        rolegate.Kind(r.Kind), AccessRoleID: r.AccessRoleID, AccessUntil: FromUnixMilli(r.AccessUntil),
		Grantee: rolegate.Grantee{Kind: rolegate.GranteeKind(r.GranteeKind), ID: r.GranteeID, Name: r.GranteeName, Email: r.GranteeEmail},
	}
	req.Requester.Email, req.Requester.Name = r.RequesterEmail, r.RequesterName
	req.Requester.Issuer, req.Requester.Subject, _ = strings.Cut(r.RequesterKey, "|")
	if err := json.Unmarshal([]byte(r.Permissions), &req.Permissions); err != nil {
		return nil, fmt.Errorf("request %d permissions: %w", r.ID, err)
	}
	return req, nil
}

// ApprovalColumns are the columns an approval is read from, in the order
// of (*ApprovalRow).Dest.
const ApprovalColumns = `approver_key, approver_email, approver_name, payload_hash, comment, created_at`

// ApprovalRow is one row of ApprovalColumns, as stored.
type ApprovalRow struct {
	Key, Email, Name, PayloadHash, Comment string
	At                                     int64
}

// Dest are the scan destinations of ApprovalColumns, in order.
func (a *ApprovalRow) Dest() []any {
	return []any{&a.Key, &a.Email, &a.Name, &a.PayloadHash, &a.Comment, &a.At}
}

// Approval is the row as the domain's approval.
func (a *ApprovalRow) Approval() rolegate.Approval {
	ap := rolegate.Approval{PayloadHash: a.PayloadHash, Comment: a.Comment, At: FromUnixMilli(a.At)}
	ap.Approver.Email, ap.Approver.Name = a.Email, a.Name
	ap.Approver.Issuer, ap.Approver.Subject, _ = strings.Cut(a.Key, "|")
	return ap
}

// GrantColumns are the columns of access_grants a Grant is read from, in
// the order of (*GrantRow).Dest.
const GrantColumns = `state, access_until, reminded_at, attempts, last_error, end_cause, end_reason, ended_by_key, ended_at`

// GrantRow is one row of GrantColumns, as stored.
type GrantRow struct {
	State                                 string
	Until, RemindedAt, Attempts           int64
	LastError, EndCause, EndReason, Ended string
	EndedAt                               int64
}

// Dest are the scan destinations of GrantColumns, in order.
func (g *GrantRow) Dest() []any {
	return []any{&g.State, &g.Until, &g.RemindedAt, &g.Attempts, &g.LastError, &g.EndCause, &g.EndReason, &g.Ended, &g.EndedAt}
}

// Grant is the row as the domain's grant.
func (g *GrantRow) Grant() *rolegate.Grant {
	return &rolegate.Grant{State: rolegate.GrantState(g.State), Until: FromUnixMilli(g.Until), RemindedAt: FromUnixMilli(g.RemindedAt),
		Attempts: int(g.Attempts), LastError: g.LastError, EndCause: g.EndCause, EndReason: g.EndReason, EndedBy: g.Ended,
		EndedAt: FromUnixMilli(g.EndedAt)}
}

// NameHolderQuery is the query (both engines' SQL but for its two
// placeholders, scope and the name's key) that finds the rolegate.NameHolder of a
// name. A request that ended without a role (rejected, cancelled,
// expired, or failed and abandoned) frees its name; access requests hold
// none.
func NameHolderQuery(scopeParam, keyParam string) string {
	return `SELECT id, status, requester_key FROM requests
		WHERE kind = 'role' AND scope = ` + scopeParam + ` AND role_name_key = ` + keyParam + `
			AND status IN ('pending','approved','provisioning','failed','provisioned')
			AND NOT (status = 'failed' AND abandoned_at <> 0)
		ORDER BY id DESC LIMIT 1`
}

// FromUnixMilli is a stored time (Unix milliseconds, 0 for none) in UTC.
func FromUnixMilli(v int64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.UnixMilli(v).UTC()
}
