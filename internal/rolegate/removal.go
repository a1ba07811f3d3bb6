package rolegate

import (
	"context"
	"errors"
	"strings"
	"time"
)

// The end of access (issue 17): the assignment an access request made is
// removed upstream at Until, or earlier when an admin revokes it, by a
// durable removal that happens exactly once across restarts and crashes.
// An assignment found removed outside rolegate first is recorded as drift
// and not removed twice.

// GrantState is where the assignment an access request made stands.
type GrantState string

const (
	GrantActive   GrantState = "active"   // the assignment exists upstream
	GrantRemoving GrantState = "removing" // its removal is queued or running
	GrantRevoked  GrantState = "revoked"  // it no longer exists upstream
	GrantFailed   GrantState = "failed"   // the removal failed; an admin may retry it
)

// Why access ended.
const (
	EndExpired = "expired" // Until came
	EndRevoked = "revoked" // an admin revoked it
	EndDrift   = "drift"   // it was removed outside rolegate first
)

// Grant is the assignment a provisioned access request made, and its end.
type Grant struct {
	State      GrantState
	Until      time.Time // zero: no end
	RemindedAt time.Time
	Attempts   int
	LastError  string
	EndCause   string // EndExpired, EndRevoked or EndDrift, once its end is decided
	EndReason  string
	EndedBy    string // the person who revoked it, by name
	EndedAt    time.Time
}

// Revoked reports whether the access has ended upstream: the request
// shows Revoked, with EndReason.
func (g *Grant) Revoked() bool { return g != nil && g.State == GrantRevoked }

// Audit actions of the end of access.
const (
	ActionAccessRevokeRequested = "access.revoke_requested" // an admin revoked access, saying why
	ActionAccessEndingSoon      = "access.ending_soon"      // the requester is told a day before
	ActionAccessRemovalAttempt  = "access.removal_attempt"
	ActionAccessRemovalRetrying = "access.removal_retry_scheduled"
	ActionAccessRemoved         = "access.removed" // rolegate removed the assignment
	ActionAccessDrift           = "access.drift"   // found removed outside rolegate
	ActionAccessRemovalFailed   = "access.removal_failed"
	ActionAccessRemovalRetried  = "access.removal_retried" // an admin asked again
)

// AccessRevokeRequested: an admin ends access early.
type AccessRevokeRequested struct {
	Reason string `json:"reason"`
	AccessRecord
}

// AccessEndingSoon: access ends within a day.
type AccessEndingSoon struct {
	Until string `json:"until"`
}

// AccessRemovalAttempt: an attempt at the removal; Reconcile says an
// earlier attempt may have reached the upstream.
type AccessRemovalAttempt struct {
	Attempt   int  `json:"attempt"`
	Reconcile bool `json:"reconcile,omitempty"`
}

// AccessRemovalRetrying: an attempt failed in a way that may pass.
type AccessRemovalRetrying struct {
	Attempt int    `json:"attempt"`
	Error   string `json:"error"`
	RetryIn string `json:"retry_in"`
}

// AccessRemoved: the assignment no longer exists upstream because
// rolegate removed it (Call), for Cause.
type AccessRemoved struct {
	Cause   string `json:"cause"`
	Reason  string `json:"reason"`
	Call    string `json:"call"`
	Attempt int    `json:"attempt"`
	AccessRecord
}

// AccessDrift: the assignment was found removed outside rolegate before
// rolegate removed it; nothing was removed.
type AccessDrift struct {
	Reason string `json:"reason"`
	AccessRecord
}

// AccessRemovalFailed: the removal failed; the assignment may still exist
// and an admin must act.
type AccessRemovalFailed struct {
	Attempt int    `json:"attempt"`
	Error   string `json:"error"`
}

// AccessRemovalRetried: an admin put a failed removal back in the queue.
type AccessRemovalRetried struct{}

func (AccessRevokeRequested) Action() string { return ActionAccessRevokeRequested }
func (AccessEndingSoon) Action() string      { return ActionAccessEndingSoon }
func (AccessRemovalAttempt) Action() string  { return ActionAccessRemovalAttempt }
func (AccessRemovalRetrying) Action() string { return ActionAccessRemovalRetrying }
func (AccessRemoved) Action() string         { return ActionAccessRemoved }
func (AccessDrift) Action() string           { return ActionAccessDrift }
func (AccessRemovalFailed) Action() string   { return ActionAccessRemovalFailed }
func (AccessRemovalRetried) Action() string  { return ActionAccessRemovalRetried }

// Removal is one claimed removal: end the assignment of a provisioned
// access request.
type Removal struct {
	RequestID int64
	Scope     string
	Grantee   Grantee
	RoleID    string
	Cause     string // EndExpired or EndRevoked
	Attempt   int    // 1 for the first claim
	// Reconcile is true when an earlier attempt's DELETE may have reached
	// the upstream: an assignment found gone then was removed by rolegate,
	// not outside it.
	Reconcile bool
	Owner     string
}

// Call is the removal's DELETE.
func (rm *Removal) Call() Call { return RemoveCall(rm.Scope, rm.Grantee, rm.RoleID) }

// RemovalQueue is the durable queue of removals. Each step is one
// transaction with its audit event; an outcome for a removal whose lease
// was taken over returns ErrLeaseLost.
type RemovalQueue interface {
	// ScheduleDue queues the removal of every active grant whose Until has
	// come, and returns how many.
	ScheduleDue(ctx context.Context) (int, error)
	// RemindEnding records, once per grant, that access ends within a day.
	RemindEnding(ctx context.Context) (int, error)
	ReleaseRemovalLeases(ctx context.Context) (int64, error)
	ClaimRemoval(ctx context.Context, owner string, lease time.Duration) (*Removal, error)
	// BeforeDelete records that the removal's DELETE is about to be sent.
	BeforeDelete(ctx context.Context, rm *Removal) error
	// CompleteRemoval: the assignment is gone upstream; drift says it was
	// found gone without rolegate having removed it.
	CompleteRemoval(ctx context.Context, rm *Removal, drift bool) error
	RetryRemovalLater(ctx context.Context, rm *Removal, delay time.Duration, reason string) error
	FailRemoval(ctx context.Context, rm *Removal, message string) error
	// NextRemovalAt is when the next removal or reminder is due (zero: none).
	NextRemovalAt(ctx context.Context) (time.Time, error)
	// Revoke ends the access of request id early (admins), saying why.
	Revoke(ctx context.Context, actor Actor, id int64, reason string) (*Request, error)
	// RetryRemoval puts a failed removal back in the queue (admins).
	RetryRemoval(ctx context.Context, actor Actor, id int64) (*Request, error)
	// OverdueAssignments counts the assignments past their end that still
	// exist (or may) upstream: the one thing that must never last.
	OverdueAssignments(ctx context.Context) (int, error)
	// HeldGrants are the active grants: assignments rolegate made that
	// exist upstream as far as it knows, to be looked at for drift.
	HeldGrants(ctx context.Context) ([]HeldGrant, error)
	// EndByDrift records that the assignment of request id was found
	// removed outside rolegate while still active: the request shows
	// Revoked, as drift, and nothing will be removed. It reports false
	// when the grant was no longer active (revoked or ended meanwhile).
	EndByDrift(ctx context.Context, id int64) (bool, error)
}

// HeldGrant is an assignment rolegate made and believes exists.
type HeldGrant struct {
	RequestID int64
	Scope     string
	Grantee   Grantee
	RoleID    string
}

// EndByDrift: request r's assignment was found gone upstream before its
// end; the requester and the webhooks hear that access ended, and why.
func EndByDrift(r *Request) Effects {
	return CompleteRemoval(r, &Removal{RequestID: r.ID, Scope: r.Scope, Grantee: r.Grantee, RoleID: r.AccessRoleID, Cause: EndDrift}, true)
}

// CheckRevoke returns nil when p may revoke the access r granted, with reason.
func CheckRevoke(p Principal, r *Request, reason string) error {
	if err := CheckRevocable(p, r); err != nil {
		return err
	}
	if strings.TrimSpace(reason) == "" {
		return Invalid(FieldErrors{FieldComment: "Say why access is revoked."})
	}
	if msg := ValidateComment(reason, true); msg != "" {
		return Invalid(FieldErrors{FieldComment: msg})
	}
	return nil
}

// CheckRevocable returns nil when p may revoke the access r granted (the
// request page then offers Revoke access).
func CheckRevocable(p Principal, r *Request) error {
	switch {
	case !p.Has(RoleAdmin):
		return Errorf(EFORBIDDEN, "Only admins can revoke access.")
	case !r.IsAccess():
		return Errorf(ECONFLICT, "Request #%d asks for a new role, not access; there is nothing to revoke.", r.ID)
	case r.Status != StatusProvisioned || r.Grant == nil:
		return Errorf(ECONFLICT, "This request is %s; only provisioned access can be revoked.", r.Status.Label())
	case r.Grant.State != GrantActive:
		return Errorf(ECONFLICT, "This access is already %s.", r.Grant.State)
	}
	return nil
}

// RevokeAccess: an admin ends r's access early; its removal is queued.
func RevokeAccess(r *Request, actor Actor, reason string) (Effects, error) {
	reason = strings.TrimSpace(reason)
	if err := CheckRevoke(actor.Principal, r, reason); err != nil {
		return Effects{}, err
	}
	return Effects{From: r.Status, To: r.Status, Events: []Caused{
		{Event: r.event(actor, OutcomeSuccess, AccessRevokeRequested{Reason: reason, AccessRecord: r.accessRecord()})},
	}}, nil
}

// RemovalReason is what the request shows once access ended for cause.
func RemovalReason(cause string, until time.Time, reason string) string {
	switch cause {
	case EndExpired:
		return "Access ended as planned at " + until.UTC().Format("2006-01-02 15:04 UTC") + "."
	case EndDrift:
		return "The assignment was removed outside rolegate before rolegate removed it."
	}
	return reason
}

// RemovalEnd is why r's access ended, as its grant keeps it (the cause
// and the reason shown), once rm found the assignment gone; drift says it
// was gone without rolegate having removed it.
func RemovalEnd(r *Request, rm *Removal, drift bool) (cause, reason string) {
	if drift {
		return EndDrift, RemovalReason(EndDrift, r.AccessUntil, "")
	}
	endReason := ""
	if r.Grant != nil {
		endReason = r.Grant.EndReason
	}
	return rm.Cause, RemovalReason(rm.Cause, r.AccessUntil, endReason)
}

// CompleteRemoval: r's assignment is gone upstream. The requester and the
// webhooks hear that access ended, and why.
func CompleteRemoval(r *Request, rm *Removal, drift bool) Effects {
	rec := r.accessRecord()
	n := newNotice(NoticeAccessEnded)
	if drift {
		n.Comment = RemovalReason(EndDrift, r.AccessUntil, "")
		return Effects{From: r.Status, To: r.Status, Events: []Caused{
			{r.event(System("remover"), OutcomeFailure, AccessDrift{Reason: n.Comment, AccessRecord: rec}), n},
		}}
	}
	reason := ""
	if r.Grant != nil {
		reason = RemovalReason(rm.Cause, r.AccessUntil, r.Grant.EndReason)
	}
	n.Comment = reason
	return Effects{From: r.Status, To: r.Status, Events: []Caused{
		{r.event(System("remover"), OutcomeSuccess, AccessRemoved{Cause: rm.Cause, Reason: reason, Call: rm.Call().String(), Attempt: rm.Attempt, AccessRecord: rec}), n},
	}}
}

// ErrNoGrant means a request has no assignment to end.
var ErrNoGrant = errors.New("rolegate: the request has no assignment to end")

// TrimmedReason is a revocation's reason as stored.
func TrimmedReason(reason string) string { return strings.TrimSpace(reason) }

// ClaimRemoval starts attempt rm.Attempt of the removal of r's access.
func ClaimRemoval(r *Request, rm *Removal) Effects {
	return Effects{From: r.Status, To: r.Status, Events: []Caused{
		{Event: r.event(System("remover"), OutcomeSuccess, AccessRemovalAttempt{Attempt: rm.Attempt, Reconcile: rm.Reconcile})},
	}}
}

// RetryRemovalLater: an attempt failed in a way that may pass.
func RetryRemovalLater(r *Request, rm *Removal, delay time.Duration, reason string) Effects {
	return Effects{From: r.Status, To: r.Status, Events: []Caused{
		{Event: r.event(System("remover"), OutcomeFailure, AccessRemovalRetrying{Attempt: rm.Attempt, Error: reason, RetryIn: delay.Round(time.Millisecond).String()})},
	}}
}

// FailRemoval: the removal failed for good; an admin must act.
func FailRemoval(r *Request, rm *Removal, message string) Effects {
	n := newNotice(NoticeAccessRemovalFailed)
	n.Failure = message
	return Effects{From: r.Status, To: r.Status, Events: []Caused{
		{r.event(System("remover"), OutcomeFailure, AccessRemovalFailed{Attempt: rm.Attempt, Error: message}), n},
	}}
}

// RetryRemoval: an admin puts r's failed removal back in the queue.
func RetryRemoval(r *Request, actor Actor) (Effects, error) {
	switch {
	case !actor.Has(RoleAdmin):
		return Effects{}, Errorf(EFORBIDDEN, "Only admins can retry the removal of access.")
	case r.Grant == nil || r.Grant.State != GrantFailed:
		return Effects{}, Errorf(ECONFLICT, "Only a failed removal of access can be retried.")
	}
	return Effects{From: r.Status, To: r.Status, Events: []Caused{
		{Event: r.event(actor, OutcomeSuccess, AccessRemovalRetried{})},
	}}, nil
}

// RemindAccessEnding: r's access ends within a day; the requester is told.
func RemindAccessEnding(r *Request) Effects {
	return Effects{From: r.Status, To: r.Status, Events: []Caused{
		{r.event(System("reminder"), OutcomeSuccess, AccessEndingSoon{Until: r.AccessUntil.UTC().Format(time.RFC3339)}), newNotice(NoticeAccessEnding)},
	}}
}
