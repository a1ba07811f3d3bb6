package rolegate

import (
	"strconv"
	"time"
)

// Request is one person's request for a new custom organization role. Once
// submitted its content (and so Payload) never changes; only its status moves.
type Request struct {
	ID int64
	// Kind is what the request asks for: a new role (KindRole; "" for
	// requests read from before kinds existed) or access (KindAccess).
	Kind          Kind
	RoleName      string
	Permissions   []string
	Description   string
	Justification string

	// Scope is where the role is created: ScopeOrganization, or a
	// project's id, whose name (as the picture had it at submission) is
	// ScopeName.
	Scope     string
	ScopeName string

	// Payload is the exact JSON body that will be sent (to Call());
	// PayloadHash is its SHA-256.
	Payload     []byte
	PayloadHash string
	// BindingVersion says what approvals bind to (BindingBody or
	// BindingCall), BindingHash is that hash: approvals carry it, and
	// provisioning sends nothing that does not hash to it.
	BindingVersion int
	BindingHash    string

	Status            Status
	Requester         Person
	RequiredApprovals int
	CreatedAt         time.Time
	UpdatedAt         time.Time
	ExpiresAt         time.Time

	// Set once provisioned.
	UpstreamRoleID       string
	UpstreamResourceType string
	// FailureMessage is the (redacted) reason the last provisioning failed.
	FailureMessage string
	// AbandonedAt is when an admin gave up on a failed request's
	// provisioning (zero when not): it stays failed and is never retried.
	AbandonedAt time.Time

	// For an access request: the role assigned (RoleName, Scope and
	// ScopeName name it as the picture had it), to whom, and until when
	// (zero: no end).
	AccessRoleID string
	Grantee      Grantee
	AccessUntil  time.Time
	// Grant is the assignment it made, once provisioned (nil before, and
	// for a new role).
	Grant *Grant

	Approvals []Approval
	// NumApprovals counts the approvals even where Approvals is not loaded (lists).
	NumApprovals int
}

// Approval is one approver's decision bound to the exact call (for a
// request of binding version 1, the exact payload).
type Approval struct {
	Approver Person
	// PayloadHash is the binding the approval is for (Request.Binding()).
	PayloadHash string
	Comment     string
	At          time.Time
}

// Call is the upstream call the request makes: the create call of its
// role, or for an access request the assign call.
func (r *Request) Call() Call {
	if r.IsAccess() {
		return AssignCall(r.Scope, r.Grantee)
	}
	return CallFor(r.Scope)
}

// IsAccess reports whether r asks for access rather than a new role.
func (r *Request) IsAccess() bool { return r.Kind == KindAccess }

// Binding is the hash an approval of r binds to. Requests read from before
// binding versions existed bind to their payload's hash.
func (r *Request) Binding() string {
	if r.BindingHash == "" {
		return r.PayloadHash
	}
	return r.BindingHash
}

// InProject reports whether the role is a project's.
func (r *Request) InProject() bool { return r.Scope != ScopeOrganization }

// ApprovalCount is how many approvals the request has: its approvals when
// they were read with it, else the count a list read instead.
func (r *Request) ApprovalCount() int {
	if r.Approvals != nil {
		return len(r.Approvals)
	}
	return r.NumApprovals
}

// ApprovedBy reports whether the person has already approved the request.
func (r *Request) ApprovedBy(p Person) bool {
	for _, a := range r.Approvals {
		if a.Approver.Key() == p.Key() {
			return true
		}
	}
	return false
}

// OwnedBy reports whether p filed the request.
func (r *Request) OwnedBy(p Person) bool { return r.Requester.Key() == p.Key() }

// Due reports whether the request is still pending at now although its
// deadline has passed: it must expire, and nobody may act on it any more.
func (r *Request) Due(now time.Time) bool {
	return r.Status == StatusPending && !r.ExpiresAt.IsZero() && !now.Before(r.ExpiresAt)
}

// Abandoned reports whether an admin gave up on the request's provisioning.
func (r *Request) Abandoned() bool { return r.Status == StatusFailed && !r.AbandonedAt.IsZero() }

// RequestFilter selects requests for lists; zero values mean "any".
type RequestFilter struct {
	RequesterKey string // Person.Key()
	Statuses     []Status
	NotRequester string // exclude this Person.Key() (an approver's own requests)
	// NotApprovedBy excludes requests this Person.Key() has already approved
	// (the review queue shows what still waits for the approver).
	NotApprovedBy string
	// NotAbandoned excludes failed requests whose provisioning an admin
	// abandoned (the admin page shows what still needs attention).
	NotAbandoned bool
	Limit        int
	Offset       int
	OldestFirst  bool
}

// ExpiryReason is the reason recorded when a pending request expires after
// ttl without a decision.
func ExpiryReason(ttl time.Duration) string {
	return "No decision within " + HumanDuration(ttl) + " of submission."
}

// HumanDuration writes a configured duration the way people say it:
// "14 days", "36 hours", "90 minutes"; anything finer as Go writes it.
func HumanDuration(d time.Duration) string {
	unit := func(n int64, one string) string {
		if n == 1 {
			return "1 " + one
		}
		return strconv.FormatInt(n, 10) + " " + one + "s"
	}
	switch day := 24 * time.Hour; {
	case d >= day && d%day == 0:
		return unit(int64(d/day), "day")
	case d >= time.Hour && d%time.Hour == 0:
		return unit(int64(d/time.Hour), "hour")
	case d >= time.Minute && d%time.Minute == 0:
		return unit(int64(d/time.Minute), "minute")
	}
	return d.String()
}
