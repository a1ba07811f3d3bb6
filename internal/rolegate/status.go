package rolegate

// Status is where a request stands in its life cycle:
//
//	pending → approved → provisioning → provisioned | failed
//	pending → rejected | cancelled | expired
//	failed  → approved (an admin retries) | abandoned by an admin (stays failed)
type Status string

const (
	StatusPending      Status = "pending"
	StatusApproved     Status = "approved"
	StatusProvisioning Status = "provisioning"
	StatusProvisioned  Status = "provisioned"
	StatusFailed       Status = "failed"
	StatusRejected     Status = "rejected"
	StatusCancelled    Status = "cancelled"
	StatusExpired      Status = "expired"
)

// AllStatuses lists every status in life-cycle order.
var AllStatuses = []Status{
	StatusPending, StatusApproved, StatusProvisioning, StatusProvisioned,
	StatusFailed, StatusRejected, StatusCancelled, StatusExpired,
}

// Label is the word shown to people. People, documentation and the browser
// tests find a request's status by it, so it is part of the interface.
func (s Status) Label() string {
	switch s {
	case StatusPending:
		return "Pending"
	case StatusApproved:
		return "Approved"
	case StatusProvisioning:
		return "Provisioning"
	case StatusProvisioned:
		return "Provisioned"
	case StatusFailed:
		return "Failed"
	case StatusRejected:
		return "Rejected"
	case StatusCancelled:
		return "Cancelled"
	case StatusExpired:
		return "Expired"
	}
	return string(s)
}

// Valid reports whether s is a known status.
func (s Status) Valid() bool {
	for _, known := range AllStatuses {
		if s == known {
			return true
		}
	}
	return false
}

// Final reports whether nothing can happen to a request in this status any more.
// Failed is not final: an admin may retry it.
func (s Status) Final() bool {
	switch s {
	case StatusProvisioned, StatusRejected, StatusCancelled, StatusExpired:
		return true
	}
	return false
}

// transitions is the whole life cycle in one table; storage enforces each
// move with a conditional update on the "from" status.
var transitions = map[Status][]Status{
	StatusPending:      {StatusApproved, StatusRejected, StatusCancelled, StatusExpired},
	StatusApproved:     {StatusProvisioning},
	StatusProvisioning: {StatusProvisioned, StatusFailed, StatusProvisioning},
	StatusFailed:       {StatusApproved},
}

// CanMove reports whether the life cycle allows going from one status to another.
func CanMove(from, to Status) bool {
	for _, s := range transitions[from] {
		if s == to {
			return true
		}
	}
	return false
}
