package rolegate

import "time"

// Request is one person's request for a new custom organization role. Once
// submitted its content (and so Payload) never changes; only its status moves.
type Request struct {
	ID            int64
	RoleName      string
	Permissions   []string
	Description   string
	Justification string

	// Payload is the exact JSON body that will be sent to
	// POST /v1/organization/roles; approvals bind to its SHA-256.
	Payload     []byte
	PayloadHash string

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

	Approvals []Approval
	// NumApprovals counts the approvals even where Approvals is not loaded (lists).
	NumApprovals int
}

// Approval is one approver's decision bound to the exact payload.
type Approval struct {
	Approver    Person
	PayloadHash string
	Comment     string
	At          time.Time
}

// ApprovalCount is how many approvals the request has.
func (r *Request) ApprovalCount() int { return max(r.NumApprovals, len(r.Approvals)) }

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

// RequestFilter selects requests for lists; zero values mean "any".
type RequestFilter struct {
	RequesterKey string // Person.Key()
	Statuses     []Status
	NotRequester string // exclude this Person.Key() (an approver's own requests)
	Limit        int
	Offset       int
	OldestFirst  bool
}

// TimelineEntry is one line of a request's timeline, drawn from the audit trail.
type TimelineEntry struct {
	At      time.Time
	Actor   string
	Action  string
	Outcome string
	Comment string
	Detail  string
}
