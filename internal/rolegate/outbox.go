package rolegate

import (
	"context"
	"errors"
	"strings"
	"time"
)

// The outbox: the rows saying who must hear about an event are written in
// the transaction that records the event, so a committed approval always
// has its notifications queued and a rolled-back one never does. The notify
// worker sends them later; a mail server or webhook that is down therefore
// never delays or fails the change itself.

// NotifyChannel is how a notification travels.
type NotifyChannel string

const (
	ChannelEmail   NotifyChannel = "email"
	ChannelWebhook NotifyChannel = "webhook"
)

// Audience is why a recipient hears about a request, which decides what the
// message may tell them.
type Audience string

const (
	AudienceRequester Audience = "requester" // filed the request: sees all of it
	AudienceApprover  Audience = "approver"  // may see every request
	AudienceAdmin     Audience = "admin"     // may see every request, and retry provisioning
	// AudienceChannel is a webhook: a chat channel whose members are not
	// known, so it gets only the request's id, role name, status, link and
	// who acted.
	AudienceChannel Audience = "channel"
)

// Rank orders audiences when one person is reached for several reasons:
// they get one message, written for the role that sees the most.
func (a Audience) Rank() int {
	switch a {
	case AudienceAdmin:
		return 3
	case AudienceApprover:
		return 2
	case AudienceRequester:
		return 1
	}
	return 0
}

// Notice kinds: what happened, as messages tell it.
const (
	NoticeSubmitted   = "submitted"
	NoticeApproved    = "approved"
	NoticeRejected    = "rejected"
	NoticeCancelled   = "cancelled"
	NoticeExpired     = "expired"
	NoticeProvisioned = "provisioned"
	NoticeFailed      = "failed"
	NoticeAbandoned   = "abandoned"
	NoticeReminder    = "reminder"
	// NoticeDrift: a role rolegate created was changed or deleted outside it.
	NoticeDrift = "drift"
	// Access requests (issue 17): access ends within a day; access ended
	// (removed at Until, revoked, or found removed outside rolegate); its
	// removal failed and an admin must act.
	NoticeAccessEnding        = "access_ending"
	NoticeAccessEnded         = "access_ended"
	NoticeAccessRemovalFailed = "access_removal_failed"
)

// NotificationTargets is where notifications go: given to the store once at
// start (the notify worker's Targets). Without it nothing is queued.
type NotificationTargets struct {
	Email    bool            // SMTP is configured
	Webhooks []WebhookTarget // one row per webhook per event
	// Wake is told that rows were queued, without blocking. The store
	// calls it once the transaction that queued them has committed, so the
	// worker's claim sees them.
	Wake func()
}

// WebhookTarget names a configured webhook without its URL, which often
// holds a secret of its own: ID is stable across restarts (a digest of the
// URL), Label is for people (scheme and host only).
type WebhookTarget struct {
	ID    string
	Label string
}

// NoticePerson is someone named in a message.
type NoticePerson struct {
	Name  string `json:"name,omitempty"`
	Email string `json:"email,omitempty"`
}

// NoticeApproval is one approval as the requester may read it.
type NoticeApproval struct {
	Name    string `json:"name"`
	Comment string `json:"comment,omitempty"`
}

// NotificationFacts is what one recipient may learn about the event, taken
// when it happened: a later change to the request does not rewrite a
// message already queued.
type NotificationFacts struct {
	Event     string       `json:"event"` // the action webhooks carry
	Kind      string       `json:"kind"`
	RequestID int64        `json:"request_id"`
	RoleName  string       `json:"role_name"`
	Status    Status       `json:"status"`
	Actor     NoticePerson `json:"actor"`
	At        time.Time    `json:"at"`
	// Scope is where the role is created: ScopeLabelOrganization, or a
	// project's id (named ScopeName).
	Scope     string `json:"scope,omitempty"`
	ScopeName string `json:"scope_name,omitempty"`

	// Beyond here only people who may see the whole request are told.
	Requester         *NoticePerson    `json:"requester,omitempty"`
	Permissions       []string         `json:"permissions,omitempty"`
	Description       string           `json:"description,omitempty"`
	Justification     string           `json:"justification,omitempty"`
	RequiredApprovals int              `json:"required_approvals,omitempty"`
	Approvals         []NoticeApproval `json:"approvals,omitempty"`
	Comment           string           `json:"comment,omitempty"`
	RoleID            string           `json:"role_id,omitempty"`
	Failure           string           `json:"failure,omitempty"` // already redacted by the provisioner
	SubmittedAt       time.Time        `json:"submitted_at,omitzero"`
	// Drift says how the role differs upstream from what was approved
	// (NoticeDrift): Differences when changed, Deleted when gone.
	Differences []Difference `json:"differences,omitempty"`
	Deleted     bool         `json:"deleted,omitempty"`

	// An access request's grant (issue 17): RequestKind is "access" (empty
	// for a new role), Grantee who receives the role ("group Support
	// Team"), Until when access ends (zero: no end).
	RequestKind string    `json:"request_kind,omitempty"`
	Grantee     string    `json:"grantee,omitempty"`
	Until       time.Time `json:"until,omitzero"`
}

// For returns the facts a recipient of audience a may see.
func (f NotificationFacts) For(a Audience) NotificationFacts {
	if a != AudienceChannel {
		return f
	}
	return NotificationFacts{Event: f.Event, Kind: f.Kind, RequestID: f.RequestID, RoleName: f.RoleName,
		Status: f.Status, Actor: f.Actor, At: f.At, Deleted: f.Deleted, Scope: f.Scope, ScopeName: f.ScopeName,
		RequestKind: f.RequestKind}
}

// InProject places the request's role for a sentence: ` in the project
// "Payments" (proj_…)`, or "" for the organization.
func (f NotificationFacts) InProject() string {
	return ScopeRecord{Scope: f.Scope, ScopeName: f.ScopeName}.inProject()
}

// Notification is one queued message to one recipient on one channel.
type Notification struct {
	ID        int64
	EventSeq  int64
	RequestID int64
	Channel   NotifyChannel
	// Recipient is an email address or a WebhookTarget.ID.
	Recipient string
	Label     string
	Audience  Audience
	Facts     NotificationFacts
	State     string // queued, sending, sent, failed
	Attempts  int    // including the one in progress once claimed
	LastError string
	CreatedAt time.Time
	SentAt    time.Time
}

// ErrNotificationLeaseLost means the notification was claimed again (its
// lease ran out) before this outcome was recorded.
var ErrNotificationLeaseLost = errors.New("rolegate: the notification's lease was lost")

// Outbox is the durable queue of notifications, as the notify worker and
// the pages that say what was sent use it. Each outcome is recorded only
// while the row is still the attempt that was claimed
// (ErrNotificationLeaseLost otherwise).
type Outbox interface {
	// ReleaseNotificationLeases makes every notification being sent
	// claimable at once (at start).
	ReleaseNotificationLeases(ctx context.Context) (int64, error)
	// ClaimNotifications leases up to limit due notifications.
	ClaimNotifications(ctx context.Context, limit int, lease time.Duration) ([]Notification, error)
	NotificationSent(ctx context.Context, n *Notification) error
	RetryNotificationLater(ctx context.Context, n *Notification, delay time.Duration, reason string) error
	NotificationFailed(ctx context.Context, n *Notification, reason string) error
	// NextNotificationDue is when the next notification may be tried; zero
	// when nothing waits.
	NextNotificationDue(ctx context.Context) (time.Time, error)
	// NotificationsOf returns the notifications queued about a request,
	// oldest first.
	NotificationsOf(ctx context.Context, requestID int64) ([]Notification, error)
	// DeleteOldNotifications removes rows delivered or given up more than
	// olderThan ago; their outcome stays in the audit trail.
	DeleteOldNotifications(ctx context.Context, olderThan time.Duration) (int64, error)
}

// Notice says who hears of an event, by which channel, and what the
// message tells beyond the request itself. The transitions
// (transitions.go) decide the notices; the store turns them into outbox
// rows in the transaction that records the event.
type Notice struct {
	Kind string
	// Email lists the audiences reached by email; Webhook: the event is
	// posted to every configured webhook.
	Email   []Audience
	Webhook bool

	Comment     string       // rejected, abandoned: why
	RoleID      string       // provisioned, drift: the role upstream
	Failure     string       // failed: why, already redacted
	Differences []Difference // drift: how the role differs from what was approved
	Deleted     bool         // drift: the role is gone
}

// noticeRules says who hears of each kind of notice. A partial approval is
// not a decision and tells nobody (Approve gives it no notice).
var noticeRules = map[string]struct {
	email   []Audience
	webhook bool
}{
	NoticeSubmitted:   {email: []Audience{AudienceApprover}, webhook: true},
	NoticeApproved:    {email: []Audience{AudienceRequester}, webhook: true},
	NoticeRejected:    {email: []Audience{AudienceRequester}, webhook: true},
	NoticeCancelled:   {webhook: true},
	NoticeExpired:     {email: []Audience{AudienceRequester}, webhook: true},
	NoticeProvisioned: {email: []Audience{AudienceRequester, AudienceApprover}, webhook: true},
	NoticeFailed:      {email: []Audience{AudienceRequester, AudienceAdmin}, webhook: true},
	NoticeAbandoned:   {email: []Audience{AudienceRequester}, webhook: true},
	NoticeReminder:    {email: []Audience{AudienceApprover}, webhook: true},
	NoticeDrift:       {email: []Audience{AudienceAdmin}, webhook: true},

	NoticeAccessEnding:        {email: []Audience{AudienceRequester}},
	NoticeAccessEnded:         {email: []Audience{AudienceRequester}, webhook: true},
	NoticeAccessRemovalFailed: {email: []Audience{AudienceRequester, AudienceAdmin}, webhook: true},
}

func newNotice(kind string) *Notice {
	rule := noticeRules[kind]
	return &Notice{Kind: kind, Email: rule.email, Webhook: rule.webhook}
}

// Facts gathers everything a message about e (as recorded) may say of
// req after the transition; For trims it per recipient.
func (n *Notice) Facts(e Event, req *Request) NotificationFacts {
	f := NotificationFacts{
		Event: e.Action, Kind: n.Kind, RequestID: req.ID, RoleName: req.RoleName, Status: req.Status,
		Actor: NoticePerson{Name: e.ActorName, Email: e.ActorEmail}, At: e.At,
		Scope: req.scopeRecord().Scope, ScopeName: req.scopeRecord().ScopeName,
		Requester:   &NoticePerson{Name: req.Requester.DisplayName(), Email: req.Requester.Email},
		Permissions: req.Permissions, Description: req.Description, Justification: req.Justification,
		RequiredApprovals: req.RequiredApprovals, SubmittedAt: req.CreatedAt,
		Comment: n.Comment, RoleID: n.RoleID, Failure: n.Failure, Differences: n.Differences, Deleted: n.Deleted,
	}
	if req.IsAccess() {
		f.RequestKind, f.Grantee, f.Until = string(KindAccess), req.Grantee.String(), req.AccessUntil
	}
	if n.Kind == NoticeApproved || n.Kind == NoticeReminder {
		for _, a := range req.Approvals {
			f.Approvals = append(f.Approvals, NoticeApproval{Name: a.Approver.DisplayName(), Comment: a.Comment})
		}
	}
	return f
}

// People is whom the store can reach by email: each person's address at
// their last sign-in, and who held a portal role then.
type People interface {
	LastSeenEmail(ctx context.Context, p Person) (string, error)
	PeopleWithRole(ctx context.Context, role PortalRole) ([]Person, error)
}

// Recipient is one email address and why it hears of a request.
type Recipient struct {
	Email    string
	Audience Audience
}

// Recipients returns the email recipients of n about req: each address
// once, for the audience that may see the most. Approvers never hear of
// their own request as approvers; a reminder goes only to the approvers
// who have not approved yet, and a provisioned role only to the approvers
// who approved it.
func (n *Notice) Recipients(ctx context.Context, req *Request, people People) ([]Recipient, error) {
	var out []Recipient
	seen := map[string]int{}
	add := func(email string, a Audience) {
		email = strings.TrimSpace(email)
		if email == "" {
			return
		}
		key := strings.ToLower(email)
		if i, ok := seen[key]; ok {
			if a.Rank() > out[i].Audience.Rank() {
				out[i].Audience = a
			}
			return
		}
		seen[key] = len(out)
		out = append(out, Recipient{Email: email, Audience: a})
	}
	for _, a := range n.Email {
		switch a {
		case AudienceRequester:
			email, err := people.LastSeenEmail(ctx, req.Requester)
			if err != nil {
				return nil, err
			}
			add(email, a)
		case AudienceApprover:
			if n.Kind == NoticeProvisioned {
				for _, ap := range req.Approvals {
					email, err := people.LastSeenEmail(ctx, ap.Approver)
					if err != nil {
						return nil, err
					}
					add(email, a)
				}
				continue
			}
			approvers, err := people.PeopleWithRole(ctx, RoleApprover)
			if err != nil {
				return nil, err
			}
			for _, p := range approvers {
				if req.OwnedBy(p) || (n.Kind == NoticeReminder && req.ApprovedBy(p)) {
					continue
				}
				add(p.Email, a)
			}
		case AudienceAdmin:
			admins, err := people.PeopleWithRole(ctx, RoleAdmin)
			if err != nil {
				return nil, err
			}
			for _, p := range admins {
				add(p.Email, a)
			}
		}
	}
	return out, nil
}

// Notifications are the outbox rows for n: one email per recipient when
// email is on, one post per webhook; each with the facts its audience may
// see.
func (n *Notice) Notifications(facts NotificationFacts, emails []Recipient, targets NotificationTargets) []Notification {
	var out []Notification
	if targets.Email {
		for _, r := range emails {
			out = append(out, Notification{RequestID: facts.RequestID, Channel: ChannelEmail, Recipient: r.Email,
				Label: r.Email, Audience: r.Audience, Facts: facts.For(r.Audience)})
		}
	}
	if n.Webhook {
		for _, w := range targets.Webhooks {
			out = append(out, Notification{RequestID: facts.RequestID, Channel: ChannelWebhook, Recipient: w.ID,
				Label: w.Label, Audience: AudienceChannel, Facts: facts.For(AudienceChannel)})
		}
	}
	return out
}
