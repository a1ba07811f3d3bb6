package rolegate

import (
	"cmp"
	"slices"
	"strings"
	"time"
)

// The transitions of a request, each as one function: from the request as
// stored and the input, it decides whether the move is allowed and returns
// everything the move causes (Effects). The store loads the request, calls
// the function and writes the effects in one transaction; nothing else is
// caused anywhere else.

// Effects is what one transition causes.
type Effects struct {
	// From and To: the request's status moves from From to To, guarded on
	// From (a racing change makes the move fail). From == To leaves it.
	From, To Status
	// Approval is a new approval to store.
	Approval *Approval
	// Job is what happens to the request's provisioning job.
	Job JobChange
	// Events are the audit events, in order, each with who hears of it.
	Events []Caused
}

// JobChange is what a transition does to the provisioning job.
type JobChange int

const (
	JobUnchanged JobChange = iota
	JobQueued              // a new job: the request waits for its role to be created
	JobRequeued            // the failed job runs again, with a fresh budget
)

// Caused is one audit event and who hears of it.
type Caused struct {
	Event  Event
	Notice *Notice // nil: nobody is told
}

// RequestsConfig holds the policy knobs of the life cycle.
type RequestsConfig struct {
	RequiredApprovals int           // distinct approvals needed (before the sensitive bonus)
	ExpireAfter       time.Duration // a pending request expires after this long
	// HandedOff is told (after commit) that a request was queued for
	// provisioning, so that the worker wakes at once; may be nil.
	HandedOff func(requestID int64)
}

// Defaults of the life cycle (ROLEGATE_REQUIRED_APPROVALS, ROLEGATE_REQUEST_TTL).
const (
	DefaultRequiredApprovals = 1
	DefaultExpireAfter       = 14 * 24 * time.Hour
)

// WithDefaults fills the knobs left zero.
func (c RequestsConfig) WithDefaults() RequestsConfig {
	if c.RequiredApprovals < 1 {
		c.RequiredApprovals = DefaultRequiredApprovals
	}
	if c.ExpireAfter <= 0 {
		c.ExpireAfter = DefaultExpireAfter
	}
	return c
}

// scopeRecord is r's scope as its events record it.
func (r *Request) scopeRecord() ScopeRecord {
	if r.Scope == ScopeOrganization {
		return ScopeRecord{Scope: ScopeLabelOrganization}
	}
	return ScopeRecord{Scope: r.Scope, ScopeName: r.ScopeName}
}

// bindingRecord is the binding an approval's event records, when it is
// not the payload's hash already recorded beside it (version 1).
func (r *Request) bindingRecord() string {
	if r.Binding() == r.PayloadHash {
		return ""
	}
	return r.Binding()
}

// event is an audit event about r.
func (r *Request) event(actor Actor, outcome string, d Details) Event {
	e := NewEvent(actor, outcome, d)
	e.RequestID, e.RoleName = r.ID, r.RoleName
	return e
}

// Submit validates in and returns the new pending request actor files,
// with what filing it causes: the approvers and the webhooks hear of it.
// The store gives it its id and checks that the name is still free.
func Submit(actor Actor, in RequestInput, catalog *Catalog, cfg RequestsConfig, now time.Time) (*Request, Effects, error) {
	if !actor.Has(RoleRequester) {
		return nil, Effects{}, Errorf(EFORBIDDEN, "You are not allowed to file role requests.")
	}
	cfg = cfg.WithDefaults()
	in = in.Normalize()
	if errs := in.Validate(catalog); errs != nil {
		return nil, Effects{}, Invalid(errs)
	}
	if in.Scope != ScopeOrganization && in.ScopeName == "" {
		// The store names the project from the picture; without a name it was not looked up.
		return nil, Effects{}, Invalid(FieldErrors{FieldScope: ScopeProblem(in.Scope, Project{}, false)})
	}
	payload, hash := in.Payload()
	binding, err := Binding(BindingCall, in.Scope, payload)
	if err != nil {
		return nil, Effects{}, err
	}
	r := &Request{
		Scope: in.Scope, ScopeName: in.ScopeName,
		RoleName: in.RoleName, Permissions: in.Permissions, Description: in.Description,
		Justification: in.Justification, Payload: payload, PayloadHash: hash,
		BindingVersion: BindingCall, BindingHash: binding,
		Status: StatusPending, Requester: actor.Person,
		RequiredApprovals: RequiredApprovals(cfg.RequiredApprovals, catalog.AnySensitive(in.Permissions)),
		CreatedAt:         now, UpdatedAt: now, ExpiresAt: now.Add(cfg.ExpireAfter),
	}
	// The description and justification are in the trail too, so that an
	// auditor's search for what was written (a ticket number) finds the
	// request.
	created := r.event(actor, OutcomeSuccess, RequestCreated{
		Permissions: in.Permissions, PayloadSHA256: hash, RequiredApprovals: r.RequiredApprovals,
		Description: in.Description, Justification: in.Justification,
		ScopeRecord: r.scopeRecord(), Call: r.Call().String(), BindingVersion: r.BindingVersion, BindingSHA256: binding,
	})
	return r, Effects{From: StatusPending, To: StatusPending, Events: []Caused{{created, newNotice(NoticeSubmitted)}}}, nil
}

// Approve records actor's approval of r, bound to the payload they
// reviewed (seenHash), with how they were re-authenticated. A partial
// approval tells nobody. The approval that completes the count approves
// the request: the requester and the webhooks hear of it, and the request
// is queued for provisioning.
func Approve(r *Request, actor Actor, seenHash, comment string, reauth Reauth, now time.Time) (Effects, error) {
	comment = strings.TrimSpace(comment)
	if err := CheckApprove(actor.Principal, r, seenHash, comment); err != nil {
		return Effects{}, err
	}
	a := Approval{Approver: actor.Person, PayloadHash: r.Binding(), Comment: comment, At: now}
	r.Approvals = append(r.Approvals, a)
	// In the order the store keeps them: by time, then by approver.
	slices.SortStableFunc(r.Approvals, func(x, y Approval) int {
		return cmp.Or(x.At.Compare(y.At), strings.Compare(x.Approver.Key(), y.Approver.Key()))
	})
	r.NumApprovals = len(r.Approvals)
	complete := len(r.Approvals) >= r.RequiredApprovals
	approved := r.event(actor, OutcomeSuccess, RequestApproved{
		Comment: comment, PayloadSHA256: r.PayloadHash, Approvals: len(r.Approvals),
		ScopeRecord: r.scopeRecord(), BindingSHA256: r.bindingRecord(),
		RequiredApprovals: r.RequiredApprovals, Complete: complete, ReauthRecord: reauth.Record(),
	})
	if !complete {
		return Effects{From: StatusPending, To: StatusPending, Approval: &a, Events: []Caused{{Event: approved}}}, nil
	}
	return Effects{
		From: StatusPending, To: StatusApproved, Approval: &a, Job: JobQueued,
		Events: []Caused{
			{approved, newNotice(NoticeApproved)},
			{Event: r.event(actor, OutcomeSuccess, ProvisioningQueued{})},
		},
	}, nil
}

// Reject ends r; one rejection is enough, and it needs a comment saying
// why, which the requester is told.
func Reject(r *Request, actor Actor, comment string) (Effects, error) {
	comment = strings.TrimSpace(comment)
	if err := CheckDecide(actor.Principal, r); err != nil {
		return Effects{}, err
	}
	if msg := ValidateComment(comment, true); msg != "" {
		return Effects{}, Invalid(FieldErrors{FieldComment: msg})
	}
	n := newNotice(NoticeRejected)
	n.Comment = comment
	return Effects{From: StatusPending, To: StatusRejected, Events: []Caused{
		{r.event(actor, OutcomeSuccess, RequestRejected{Comment: comment}), n},
	}}, nil
}

// Cancel withdraws r; only its requester may, and only the webhooks hear
// of it.
func Cancel(r *Request, actor Actor) (Effects, error) {
	if err := CheckCancel(actor.Principal, r); err != nil {
		return Effects{}, err
	}
	return Effects{From: StatusPending, To: StatusCancelled, Events: []Caused{
		{r.event(actor, OutcomeSuccess, RequestCancelled{}), newNotice(NoticeCancelled)},
	}}, nil
}

// Expire ends r, pending past its deadline without a decision, saying why.
func Expire(r *Request) Effects {
	e := r.event(System("expiry"), OutcomeSuccess, RequestExpired{
		Reason: ExpiryReason(r.ExpiresAt.Sub(r.CreatedAt)), ExpiresAt: r.ExpiresAt.UTC().Format(time.RFC3339),
	})
	return Effects{From: StatusPending, To: StatusExpired, Events: []Caused{{e, newNotice(NoticeExpired)}}}
}

// RetryProvisioning puts failed r back in the provisioning queue (admins).
func RetryProvisioning(r *Request, actor Actor) (Effects, error) {
	if err := CheckRetry(actor.Principal, r); err != nil {
		return Effects{}, err
	}
	return Effects{From: StatusFailed, To: StatusApproved, Job: JobRequeued, Events: []Caused{
		{Event: r.event(actor, OutcomeSuccess, ProvisioningRetried{})},
	}}, nil
}

// AbandonProvisioning gives up on failed r (admins), saying why: it stays
// failed, is no longer offered for a retry, and frees its role name. The
// requester is told why.
func AbandonProvisioning(r *Request, actor Actor, reason string, now time.Time) (Effects, error) {
	reason = strings.TrimSpace(reason)
	if err := CheckAbandon(actor.Principal, r); err != nil {
		return Effects{}, err
	}
	if reason == "" {
		return Effects{}, Invalid(FieldErrors{FieldComment: "Say why provisioning is abandoned."})
	}
	if msg := ValidateComment(reason, true); msg != "" {
		return Effects{}, Invalid(FieldErrors{FieldComment: msg})
	}
	r.AbandonedAt, r.UpdatedAt = now, now
	n := newNotice(NoticeAbandoned)
	n.Comment = reason
	return Effects{From: StatusFailed, To: StatusFailed, Events: []Caused{
		{r.event(actor, OutcomeSuccess, ProvisioningAbandoned{Comment: reason}), n},
	}}, nil
}

// Provisioner is the actor of the provisioning worker's outcomes.
var Provisioner = System("provisioner")

// ClaimJob starts attempt of r's provisioning. reconcile says an earlier
// attempt may have reached the upstream; leaseExpired that the previous
// worker's lease ran out. Nobody is told of an attempt.
func ClaimJob(r *Request, attempt int, reconcile, leaseExpired bool) Effects {
	d := ProvisioningAttempt{Attempt: attempt, Reconcile: reconcile}
	if leaseExpired {
		d.Reason = "the previous worker's lease expired"
	}
	return Effects{From: r.Status, To: StatusProvisioning, Events: []Caused{
		{Event: r.event(Provisioner, OutcomeSuccess, d)},
	}}
}

// CompleteJob: r's role exists upstream as approved (adopted: found there
// rather than created by this attempt). The requester, the approvers who
// approved it and the webhooks hear of it.
func CompleteJob(r *Request, job *Job, role ProvisionedRole, adopted bool) Effects {
	r.FailureMessage = ""
	if !r.IsAccess() {
		// An access request's role was not created by it: it names the
		// role it assigned (AccessRoleID), never claims one.
		r.UpstreamRoleID, r.UpstreamResourceType = role.ID, role.ResourceType
	}
	created := ProvisioningSucceeded{
		RoleID: role.ID, ResourceType: role.ResourceType, Permissions: role.Permissions, Attempt: job.Attempt,
		ScopeRecord: r.scopeRecord(), AccessRecord: r.accessRecord(),
	}
	var d Details = created
	if adopted {
		d = ProvisioningAdopted(created)
	}
	n := newNotice(NoticeProvisioned)
	n.RoleID = role.ID
	return Effects{From: StatusProvisioning, To: StatusProvisioned, Events: []Caused{{r.event(Provisioner, OutcomeSuccess, d), n}}}
}

// RetryJobLater: an attempt failed in a way that may pass (a 429, a 5xx,
// a timeout); it is tried again after delay. Nobody is told yet.
func RetryJobLater(r *Request, job *Job, delay time.Duration, reason string) Effects {
	return Effects{From: r.Status, To: r.Status, Events: []Caused{
		{Event: r.event(Provisioner, OutcomeFailure, ProvisioningRetrying{
			Attempt: job.Attempt, Error: reason, RetryIn: delay.Round(time.Millisecond).String(),
		})},
	}}
}

// FailJob ends r's provisioning with message (already redacted): action is
// provisioning.failed, or provisioning.verify_mismatch with the role found
// upstream. The requester, the admins and the webhooks hear of it.
func FailJob(r *Request, job *Job, action, message string, role *ProvisionedRole) Effects {
	r.FailureMessage = message
	failed := ProvisioningFailed{Attempt: job.Attempt, Error: message, ScopeRecord: r.scopeRecord()}
	if role != nil {
		failed.FoundRole = &FoundRole{RoleID: role.ID, Permissions: role.Permissions}
	}
	var d Details = failed
	if action == ActionProvisioningMismatch {
		d = ProvisioningMismatch(failed)
	}
	n := newNotice(NoticeFailed)
	n.Failure = message
	return Effects{From: StatusProvisioning, To: StatusFailed, Events: []Caused{{r.event(Provisioner, OutcomeFailure, d), n}}}
}

// ReminderDue reports whether the approvers of r must be reminded at now:
// it is still pending, not past its deadline (it is about to expire, not
// to be reviewed), and nobody was reminded (or it was submitted) within
// after. since is its last reminder, or zero.
func ReminderDue(r *Request, since time.Time, after time.Duration, now time.Time) bool {
	if since.IsZero() {
		since = r.CreatedAt
	}
	return after > 0 && r.Status == StatusPending && r.ExpiresAt.After(now) && !since.Add(after).After(now)
}

// Remind reminds the approvers who have not approved r yet of it, for the
// nth time.
func Remind(r *Request, nth int64, now time.Time) Effects {
	return Effects{From: r.Status, To: r.Status, Events: []Caused{
		{r.event(System("reminder"), OutcomeSuccess, RequestReminder{
			PendingFor: now.Sub(r.CreatedAt).Round(time.Minute).String(),
			Reminder:   nth,
		}), newNotice(NoticeReminder)},
	}}
}

// DriftNotice is who hears that a role rolegate created (its id roleID)
// was changed (diffs) or deleted outside rolegate: the admins and the
// webhooks. A role created outside rolegate has no request and tells
// nobody.
func DriftNotice(roleID string, diffs []Difference, deleted bool) *Notice {
	n := newNotice(NoticeDrift)
	n.RoleID, n.Differences, n.Deleted = roleID, diffs, deleted
	return n
}
