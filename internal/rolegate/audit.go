package rolegate

import (
	"encoding/json"
	"time"
)

// Audit actions: stable dotted names, kept forever in the trail.
const (
	ActionSignInSucceeded = "auth.signin.succeeded"
	ActionSignInFailed    = "auth.signin.failed"
	ActionSignOut         = "auth.signout"
	ActionAccessDenied    = "access.denied"

	ActionRequestCreated   = "request.created"
	ActionRequestApproved  = "request.approved" // one approval; details say whether it completed the request
	ActionRequestRejected  = "request.rejected"
	ActionRequestCancelled = "request.cancelled"
	ActionRequestExpired   = "request.expired"
	// ActionRequestReminder: the approvers were reminded of a request still
	// pending after ROLEGATE_REMINDER_AFTER.
	ActionRequestReminder = "request.reminder"

	ActionProvisioningQueued    = "provisioning.queued"
	ActionProvisioningAttempt   = "provisioning.attempt"
	ActionProvisioningRetrying  = "provisioning.retry_scheduled"
	ActionProvisioningSucceeded = "provisioning.succeeded"
	ActionProvisioningAdopted   = "provisioning.adopted"
	ActionProvisioningFailed    = "provisioning.failed"
	ActionProvisioningMismatch  = "provisioning.verify_mismatch"
	ActionProvisioningRetried   = "provisioning.retried"   // an admin asked again
	ActionProvisioningAbandoned = "provisioning.abandoned" // an admin gave up

	ActionNotificationSent   = "notification.sent"
	ActionNotificationFailed = "notification.failed"

	ActionCatalogRefreshed = "catalog.refreshed"
	ActionAuditExported    = "audit.exported"
	ActionAuditCheckpoint  = "audit.checkpoint"
)

// Outcomes of an audited action.
const (
	OutcomeSuccess = "success"
	OutcomeFailure = "failure"
	OutcomeDenied  = "denied"
)

// Actor is who did something, and from where, as the audit trail records it.
type Actor struct {
	Principal
	ClientIP      string
	UserAgent     string
	HTTPRequestID string
}

// System is the actor for what the portal does by itself (the provisioning
// worker, expiry, checkpoints).
func System(name string) Actor {
	return Actor{Principal: Principal{Person: Person{Issuer: "rolegate", Subject: "system:" + name, Name: "rolegate " + name}}}
}

// Event is one entry of the append-only audit trail.
type Event struct {
	Seq        int64
	At         time.Time // UTC, millisecond precision
	ActorKey   string    // Person.Key()
	ActorEmail string
	ActorName  string
	ActorRoles string // comma list of portal roles held at the time
	Action     string
	RequestID  int64 // 0 when the event concerns no request
	RoleName   string
	Outcome    string
	Details    json.RawMessage // a small JSON object
	ClientIP   string
	UserAgent  string
	HTTPReqID  string
	PrevHash   string
	Hash       string
}

// NewEvent is the event of d's action done by a: it fills the actor and
// origin fields from a and stores d as the event's details.
func NewEvent(a Actor, outcome string, d Details) Event {
	return Event{
		ActorKey:   a.Key(),
		ActorEmail: a.Email,
		ActorName:  a.DisplayName(),
		ActorRoles: a.RoleNames(),
		Action:     d.Action(),
		Outcome:    outcome,
		Details:    encodeDetails(d),
		ClientIP:   a.ClientIP,
		UserAgent:  a.UserAgent,
		HTTPReqID:  a.HTTPRequestID,
	}
}

// Limits on the audit filters as typed: beyond them the input is a mistake
// or an attack. The form's maxlength comes from them too.
const (
	MaxAuditActorLen   = 200
	MaxAuditActionLen  = 100
	MaxAuditTextLen    = 200
	MaxAuditTextWords  = 10
	MaxAuditRequestLen = 20 // "#" and the 19 digits of the largest request number
	MaxAuditTimeLen    = 40 // the longest time format read ("2025-03-31T14:30:05+02:00"), with room to spare
)

// The audit filters, as inputs (Field).
const (
	FieldActor   Field = "actor"
	FieldAction  Field = "action"
	FieldRequest Field = "request"
	FieldFrom    Field = "from"
	FieldTo      Field = "to"
	FieldText    Field = "text"
)

// AuditFilter selects audit events; zero values mean "any".
type AuditFilter struct {
	Actor     string // matches the actor's name, email or subject (prefix)
	Action    string // exact action, a prefix ending in "." such as "request.", or one part such as "approved"
	RequestID int64
	From, To  time.Time // To is exclusive
	Text      string    // free text over the details
	// Scope keeps the events about one scope: ScopeLabelOrganization or a
	// project's id (its requests' events, and the picture's of its roles).
	Scope     string
	BeforeSeq int64 // keyset pagination: only events older than this
	Limit     int
}
