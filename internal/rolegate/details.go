package rolegate

import (
	"encoding/json"
	"fmt"
)

// Details is what an audit event records beyond who, when and about which
// request: one type per action. Its Action names the action, so an event
// cannot be built with another action's details.
//
// The JSON of these types is what the trail stores, and the trail is
// hash-chained and exported: a field's name, its omitempty and the type of
// its value are part of the record and never change. Keys are written in
// sorted order whatever the order of the fields (encodeDetails).
type Details interface {
	Action() string
}

// SignInSucceeded: someone signed in.
type SignInSucceeded struct {
	ReplacedSession bool `json:"replaced_session,omitempty"` // the browser's previous session was ended
}

// SignInFailed: a sign-in failed; Reason is a code (internal/sso), never
// the detail.
type SignInFailed struct {
	Reason string `json:"reason"`
	Repeats
}

// SignOut: someone signed out.
type SignOut struct{}

// AccessDenied: a page or an action was refused.
type AccessDenied struct {
	Method string `json:"method"`
	Path   string `json:"path"`
	Route  string `json:"route"`
	Reason string `json:"reason"`
	Repeats
}

// Repeats is the count of a coalesced run of like events (web's
// coalescing of refusals and failed sign-ins): the first event of a run
// has Count 1, the closing one the number of repeats between
// RepeatedFrom and RepeatedUntil (RFC 3339 with nanoseconds, UTC).
type Repeats struct {
	Count         int    `json:"count,omitempty"`
	Overflow      bool   `json:"overflow,omitempty"` // the run's repeats come from anyone
	RepeatedFrom  string `json:"repeated_from,omitempty"`
	RepeatedUntil string `json:"repeated_until,omitempty"`
}

// Coalesced details are those of an event that may be coalesced into a
// run; WithRepeats returns them with the run's count.
type Coalesced interface {
	Details
	WithRepeats(Repeats) Coalesced
}

// RequestCreated: a request was filed. The description and justification
// are in the trail too, so that an auditor's search for what was written
// (a ticket number) finds the request.
type RequestCreated struct {
	Permissions       []string `json:"permissions"`
	PayloadSHA256     string   `json:"payload_sha256"`
	RequiredApprovals int      `json:"required_approvals"`
	Description       string   `json:"description"`
	Justification     string   `json:"justification"`
	ScopeRecord
	// The call approvals bind to, and how (requests filed before project
	// roles record none of these: their call is the organization's, their
	// binding the payload's hash).
	Call           string `json:"call,omitempty"`
	BindingVersion int    `json:"binding_version,omitempty"`
	BindingSHA256  string `json:"binding_sha256,omitempty"`
	AccessRecord
}

// AccessRecord is what an access request's events record of the grant:
// its kind, the role's id, the grantee and the end of access (RFC 3339,
// UTC; empty: no end). Empty for a request for a new role.
type AccessRecord struct {
	Kind         string `json:"kind,omitempty"`
	RoleID       string `json:"access_role_id,omitempty"`
	GranteeKind  string `json:"grantee_kind,omitempty"`
	GranteeID    string `json:"grantee_id,omitempty"`
	GranteeName  string `json:"grantee_name,omitempty"`
	GranteeEmail string `json:"grantee_email,omitempty"`
	Until        string `json:"until,omitempty"`
}

// ScopeRecord is where a request's role is created, as its events record
// it: "organization", or a project's id and its name.
type ScopeRecord struct {
	Scope     string `json:"scope,omitempty"`
	ScopeName string `json:"scope_name,omitempty"`
}

// ScopeLabelOrganization is how events name the organization's scope.
const ScopeLabelOrganization = "organization"

// RequestApproved: one approval; Complete says whether it was the last one
// needed.
type RequestApproved struct {
	Comment           string `json:"comment"`
	PayloadSHA256     string `json:"payload_sha256"`
	Approvals         int    `json:"approvals"` // including this one
	RequiredApprovals int    `json:"required_approvals"`
	Complete          bool   `json:"complete"`
	ReauthRecord
	ScopeRecord
	// BindingSHA256 is what the approval is bound to when it is not the
	// payload's hash alone (binding version 2: the whole call).
	BindingSHA256 string `json:"binding_sha256,omitempty"`
}

// ReauthRecord is how strongly the approver was re-authenticated (Reauth),
// as the approval's event records it; empty when not recorded. Times are
// RFC 3339, UTC, to the second.
type ReauthRecord struct {
	Mode      string `json:"reauth_mode,omitempty"`
	AuthTime  string `json:"auth_time,omitempty"`
	StepUpAt  string `json:"step_up_at,omitempty"`
	RoundTrip bool   `json:"reauth_round_trip,omitempty"`
}

// RequestRejected: an approver rejected the request, saying why.
type RequestRejected struct {
	Comment string `json:"comment"`
}

// RequestCancelled: the requester withdrew the request.
type RequestCancelled struct{}

// RequestExpired: nobody decided in time. ExpiresAt is RFC 3339, UTC.
type RequestExpired struct {
	Reason    string `json:"reason"`
	ExpiresAt string `json:"expires_at"`
}

// RequestReminder: the approvers were reminded, the Reminder-th time, of a
// request pending for PendingFor (a Go duration, to the minute).
type RequestReminder struct {
	PendingFor string `json:"pending_for"`
	Reminder   int64  `json:"reminder"`
}

// ProvisioningQueued: the approved request was handed to provisioning.
type ProvisioningQueued struct{}

// ProvisioningAttempt: the worker took the job. Reconcile: an earlier
// attempt may have reached the upstream, so it looks before creating.
type ProvisioningAttempt struct {
	Attempt   int    `json:"attempt"`
	Reconcile bool   `json:"reconcile"`
	Reason    string `json:"reason,omitempty"` // why a running job was taken over
}

// ProvisioningRetrying: an attempt failed and another follows after
// RetryIn (a Go duration, to the millisecond).
type ProvisioningRetrying struct {
	Attempt int    `json:"attempt"`
	Error   string `json:"error"`
	RetryIn string `json:"retry_in"`
}

// ProvisioningSucceeded: the role was created upstream.
type ProvisioningSucceeded struct {
	RoleID       string   `json:"role_id"`
	ResourceType string   `json:"resource_type"`
	Permissions  []string `json:"permissions"`
	Attempt      int      `json:"attempt"`
	ScopeRecord
	AccessRecord
}

// ProvisioningAdopted: the role was found already created upstream (by an
// earlier attempt whose answer was lost) and adopted.
type ProvisioningAdopted ProvisioningSucceeded

// ProvisioningFailed: provisioning gave up; Error (already redacted) is
// shown to the people involved.
type ProvisioningFailed struct {
	Attempt int    `json:"attempt"`
	Error   string `json:"error"`
	*FoundRole
	ScopeRecord
}

// FoundRole is a role found upstream that does not match what was approved.
type FoundRole struct {
	RoleID      string   `json:"role_id"`
	Permissions []string `json:"permissions"`
}

// ProvisioningMismatch: the role upstream does not match what was approved.
type ProvisioningMismatch ProvisioningFailed

// ProvisioningRetried: an admin put a failed request back in the queue.
type ProvisioningRetried struct{}

// ProvisioningAbandoned: an admin gave up on a failed request, saying why.
type ProvisioningAbandoned struct {
	Comment string `json:"comment"`
}

// NotificationSent: a message about event Event reached its recipient.
type NotificationSent struct {
	NotificationID int64  `json:"notification_id"`
	Channel        string `json:"channel"`
	Recipient      string `json:"recipient"` // an address, or a webhook's label
	Event          string `json:"event"`
	Attempts       int    `json:"attempts"`
	Error          string `json:"error,omitempty"`
}

// NotificationFailed: a message could not be delivered and will not be
// tried again.
type NotificationFailed NotificationSent

// CatalogRefreshed: someone read the organization's roles again; the
// counts are the differences recorded.
type CatalogRefreshed struct {
	Roles    int `json:"roles"`
	Appeared int `json:"appeared"`
	Changed  int `json:"changed"`
	Deleted  int `json:"deleted"`
}

// AuditExported: someone downloaded the trail (Format csv or jsonl, with
// the Filter's query fields) or one event's inclusion proof (Format
// "proof", with Event and TreeSize).
type AuditExported struct {
	Format   string            `json:"format"`
	Filter   map[string]string `json:"filter,omitzero"` // an export without a filter has {}
	Event    int64             `json:"event,omitempty"`
	TreeSize int64             `json:"tree_size,omitempty"`
}

// AuditCheckpoint: the tree's root was signed. Head is the chain hash of
// the last event covered, kept beside the root: both commit to the same
// events. Note is the signed note.
type AuditCheckpoint struct {
	Origin  string `json:"origin"`
	Size    int64  `json:"size"`
	Root    string `json:"root"`
	Head    string `json:"head"`
	Note    string `json:"note"`
	Trigger string `json:"trigger,omitempty"` // "command" or "schedule"
	OSUser  string `json:"os_user,omitempty"` // who ran the command
}

// UpstreamRoleAppeared: a role created outside rolegate appeared upstream.
// Scope is "organization" or a project's id.
type UpstreamRoleAppeared struct {
	RoleID      string   `json:"role_id"`
	Scope       string   `json:"scope"`
	Permissions []string `json:"permissions"`
	Predefined  bool     `json:"predefined"`
}

// UpstreamRoleChanged: a role differs from what was approved ("approved
// request") or, created outside rolegate, from the previous sync.
type UpstreamRoleChanged struct {
	RoleID       string       `json:"role_id"`
	Scope        string       `json:"scope"`
	Differences  []Difference `json:"differences"`
	ComparedWith string       `json:"compared_with"`
}

// UpstreamRoleDeleted: a role is gone upstream.
type UpstreamRoleDeleted struct {
	RoleID      string   `json:"role_id"`
	Scope       string   `json:"scope"`
	Permissions []string `json:"permissions"`
}

func (SignInSucceeded) Action() string       { return ActionSignInSucceeded }
func (SignInFailed) Action() string          { return ActionSignInFailed }
func (SignOut) Action() string               { return ActionSignOut }
func (AccessDenied) Action() string          { return ActionAccessDenied }
func (RequestCreated) Action() string        { return ActionRequestCreated }
func (RequestApproved) Action() string       { return ActionRequestApproved }
func (RequestRejected) Action() string       { return ActionRequestRejected }
func (RequestCancelled) Action() string      { return ActionRequestCancelled }
func (RequestExpired) Action() string        { return ActionRequestExpired }
func (RequestReminder) Action() string       { return ActionRequestReminder }
func (ProvisioningQueued) Action() string    { return ActionProvisioningQueued }
func (ProvisioningAttempt) Action() string   { return ActionProvisioningAttempt }
func (ProvisioningRetrying) Action() string  { return ActionProvisioningRetrying }
func (ProvisioningSucceeded) Action() string { return ActionProvisioningSucceeded }
func (ProvisioningAdopted) Action() string   { return ActionProvisioningAdopted }
func (ProvisioningFailed) Action() string    { return ActionProvisioningFailed }
func (ProvisioningMismatch) Action() string  { return ActionProvisioningMismatch }
func (ProvisioningRetried) Action() string   { return ActionProvisioningRetried }
func (ProvisioningAbandoned) Action() string { return ActionProvisioningAbandoned }
func (NotificationSent) Action() string      { return ActionNotificationSent }
func (NotificationFailed) Action() string    { return ActionNotificationFailed }
func (CatalogRefreshed) Action() string      { return ActionCatalogRefreshed }
func (AuditExported) Action() string         { return ActionAuditExported }
func (AuditCheckpoint) Action() string       { return ActionAuditCheckpoint }
func (UpstreamRoleAppeared) Action() string  { return ActionUpstreamRoleAppeared }
func (UpstreamRoleChanged) Action() string   { return ActionUpstreamRoleChanged }
func (UpstreamRoleDeleted) Action() string   { return ActionUpstreamRoleDeleted }

func (d SignInFailed) WithRepeats(r Repeats) Coalesced { d.Repeats = r; return d }
func (d AccessDenied) WithRepeats(r Repeats) Coalesced { d.Repeats = r; return d }

// decoders reads each action's stored details back into its type.
var decoders = map[string]func(json.RawMessage) (Details, error){
	ActionSignInSucceeded:       decode[SignInSucceeded],
	ActionSignInFailed:          decode[SignInFailed],
	ActionSignOut:               decode[SignOut],
	ActionAccessDenied:          decode[AccessDenied],
	ActionRequestCreated:        decode[RequestCreated],
	ActionRequestApproved:       decode[RequestApproved],
	ActionRequestRejected:       decode[RequestRejected],
	ActionRequestCancelled:      decode[RequestCancelled],
	ActionRequestExpired:        decode[RequestExpired],
	ActionRequestReminder:       decode[RequestReminder],
	ActionProvisioningQueued:    decode[ProvisioningQueued],
	ActionProvisioningAttempt:   decode[ProvisioningAttempt],
	ActionProvisioningRetrying:  decode[ProvisioningRetrying],
	ActionProvisioningSucceeded: decode[ProvisioningSucceeded],
	ActionProvisioningAdopted:   decode[ProvisioningAdopted],
	ActionProvisioningFailed:    decode[ProvisioningFailed],
	ActionProvisioningMismatch:  decode[ProvisioningMismatch],
	ActionProvisioningRetried:   decode[ProvisioningRetried],
	ActionProvisioningAbandoned: decode[ProvisioningAbandoned],
	ActionNotificationSent:      decode[NotificationSent],
	ActionNotificationFailed:    decode[NotificationFailed],
	ActionCatalogRefreshed:      decode[CatalogRefreshed],
	ActionAuditExported:         decode[AuditExported],
	ActionAuditCheckpoint:       decode[AuditCheckpoint],
	ActionUpstreamRoleAppeared:  decode[UpstreamRoleAppeared],
	ActionUpstreamRoleChanged:   decode[UpstreamRoleChanged],
	ActionUpstreamRoleDeleted:   decode[UpstreamRoleDeleted],
	ActionAccessRevokeRequested: decode[AccessRevokeRequested],
	ActionAccessEndingSoon:      decode[AccessEndingSoon],
	ActionAccessRemovalAttempt:  decode[AccessRemovalAttempt],
	ActionAccessRemovalRetrying: decode[AccessRemovalRetrying],
	ActionAccessRemoved:         decode[AccessRemoved],
	ActionAccessDrift:           decode[AccessDrift],
	ActionAccessRemovalFailed:   decode[AccessRemovalFailed],
	ActionAccessRemovalRetried:  decode[AccessRemovalRetried],
}

func decode[D Details](raw json.RawMessage) (Details, error) {
	var d D
	if len(raw) == 0 {
		return d, nil
	}
	err := json.Unmarshal(raw, &d)
	return d, err
}

// DecodeDetails reads e's stored details back into the type of its action.
// Details that do not fit their type (the trail keeps whatever was
// written) return what could be read, and an error; an action this
// version does not know returns nil and an error.
func (e Event) DecodeDetails() (Details, error) {
	dec, ok := decoders[e.Action]
	if !ok {
		return nil, fmt.Errorf("rolegate: no details type for the action %q", e.Action)
	}
	d, err := dec(e.Details)
	if err != nil {
		return d, fmt.Errorf("rolegate: details of event %d (%s): %w", e.Seq, e.Action, err)
	}
	return d, nil
}

// encodeDetails writes d as the trail stores it: a JSON object with its
// keys in sorted order, the order of the maps that wrote details before
// these types did. The bytes of an event are hashed into the chain and
// the tree, so they must not depend on the order a type lists its fields
// in (nor on embedding, which interleaves fields by name).
func encodeDetails(d Details) json.RawMessage {
	empty := json.RawMessage("{}")
	b, err := json.Marshal(d)
	if err != nil {
		return empty
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(b, &fields); err != nil || len(fields) == 0 {
		return empty
	}
	if b, err = json.Marshal(fields); err != nil {
		return empty
	}
	return b
}
