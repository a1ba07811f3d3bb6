package rolegate

import (
	"cmp"
	"fmt"
	"strings"
	"time"
)

// Description is an event in words. Every medium that tells of events
// takes its words from here and only formats them: the request's timeline
// shows Did, Comment and Detail; a webhook posts News; an email says the
// Message of its notice for its reader (DescribeNotice, below).
type Description struct {
	// Did is what happened, as a line of the request's timeline under the
	// actor's name: "Approved (1 of 2)".
	Did string
	// Detail is a second line: a reason, an error, a digest.
	Detail string
	// Comment is what the actor wrote.
	Comment string
	// News is one sentence for people who were not there (a chat
	// channel), empty for an event that is not told. An approval is told
	// once it completes the request, so its News says it was approved.
	News string
}

// Describe puts e into words; an action this version does not know is
// named by its action.
func Describe(e Event) Description {
	d, _ := e.DecodeDetails() // what could be read is told
	actor := e.ActorName
	if actor == "" {
		actor = e.ActorEmail
	}
	switch d := d.(type) {
	case SignInSucceeded:
		return Description{Did: "Signed in"}
	case SignInFailed:
		return Description{Did: "Could not sign in", Detail: d.Reason}
	case SignOut:
		return Description{Did: "Signed out"}
	case AccessDenied:
		return Description{Did: "Was refused " + d.Method + " " + d.Path, Detail: d.Reason}
	case RequestCreated:
		if d.AccessRecord.Kind == string(KindAccess) {
			g := Grantee{Kind: GranteeKind(d.GranteeKind), ID: d.GranteeID, Name: d.GranteeName, Email: d.GranteeEmail}
			until := "with no end date"
			if d.Until != "" {
				until = "until " + d.Until
			}
			return Description{Did: "Asked for access" + d.ScopeRecord.in(),
				Detail: fmt.Sprintf("The role %s (%s) for the %s, %s; %s; approvals needed: %d; approvals bound to the call, SHA-256 %s",
					e.RoleName, d.AccessRecord.RoleID, g, until, d.Call, d.RequiredApprovals, d.BindingSHA256),
				News: fmt.Sprintf("%s asks for the role %q%s for the %s (request #%d); it is waiting for review.", actor, e.RoleName, d.ScopeRecord.inProject(), g, e.RequestID)}
		}
		detail := fmt.Sprintf("Payload SHA-256 %s; approvals needed: %d", d.PayloadSHA256, d.RequiredApprovals)
		if d.Call != "" {
			detail = fmt.Sprintf("%s; %s; approvals bound to the call, SHA-256 %s", detail, d.Call, d.BindingSHA256)
		}
		return Description{Did: "Submitted the request" + d.ScopeRecord.in(), Detail: detail,
			News: fmt.Sprintf("%s asks for a new role %q%s (request #%d); it is waiting for review.", actor, e.RoleName, d.ScopeRecord.inProject(), e.RequestID)}
	case RequestApproved:
		detail := "Approved payload SHA-256 " + d.PayloadSHA256
		if d.BindingSHA256 != "" {
			detail = "Approved the call with SHA-256 " + d.BindingSHA256 + " (payload SHA-256 " + d.PayloadSHA256 + ")"
		}
		return Description{Did: fmt.Sprintf("Approved (%d of %d)", d.Approvals, d.RequiredApprovals),
			Detail: detail, Comment: d.Comment,
			News: fmt.Sprintf("%s%s was approved by %s.", requestNamed(e), d.ScopeRecord.inProject(), actor)}
	case RequestRejected:
		return Description{Did: "Rejected the request", Comment: d.Comment, News: fmt.Sprintf("%s was rejected by %s.", requestNamed(e), actor)}
	case RequestCancelled:
		return Description{Did: "Cancelled the request", News: fmt.Sprintf("%s was cancelled by %s.", requestNamed(e), actor)}
	case RequestExpired:
		return Description{Did: "The request expired", Detail: d.Reason, News: requestNamed(e) + " expired without a decision."}
	case RequestReminder:
		return Description{Did: "Reminded the approvers", Detail: "Pending for " + d.PendingFor, News: requestNamed(e) + " is still waiting for review."}
	case ProvisioningQueued:
		return Description{Did: "Handed to provisioning"}
	case ProvisioningAttempt:
		return Description{Did: fmt.Sprintf("Provisioning attempt %d", d.Attempt), Detail: d.Reason}
	case ProvisioningRetrying:
		return Description{Did: fmt.Sprintf("Attempt %d failed; retrying in %s", d.Attempt, d.RetryIn), Detail: d.Error}
	case ProvisioningSucceeded:
		if d.AccessRecord.Kind == string(KindAccess) {
			return Description{Did: fmt.Sprintf("Assigned the role %s to the %s %s", d.RoleID, d.GranteeKind, cmp.Or(d.GranteeName, d.GranteeID))}
		}
		return Description{Did: "Created the role " + d.RoleID + d.ScopeRecord.in(), News: roleCreated(e, d.ScopeRecord)}
	case ProvisioningAdopted:
		if d.AccessRecord.Kind == string(KindAccess) {
			return Description{Did: fmt.Sprintf("Found the role %s already assigned to the %s %s and adopted the assignment", d.RoleID, d.GranteeKind, cmp.Or(d.GranteeName, d.GranteeID))}
		}
		return Description{Did: "Found the role " + d.RoleID + " already created" + d.ScopeRecord.in() + " and adopted it", News: roleCreated(e, d.ScopeRecord)}
	case ProvisioningFailed:
		return Description{Did: "Provisioning failed", Detail: d.Error, News: creatingFailed(e, d.ScopeRecord)}
	case ProvisioningMismatch:
		return Description{Did: "The created role does not match what was approved", Detail: d.Error, News: creatingFailed(e, d.ScopeRecord)}
	case ProvisioningRetried:
		return Description{Did: "Asked to retry provisioning"}
	case ProvisioningAbandoned:
		return Description{Did: "Abandoned provisioning; it will not be retried", Comment: d.Comment,
			News: fmt.Sprintf("%s gave up creating the role %q (request #%d).", actor, e.RoleName, e.RequestID)}
	case NotificationSent:
		return Description{Did: "Notified " + d.Recipient + " by " + d.Channel}
	case NotificationFailed:
		return Description{Did: "Could not notify " + d.Recipient + " by " + d.Channel, Detail: d.Error}
	case CatalogRefreshed:
		return Description{Did: "Refreshed the catalog", Detail: fmt.Sprintf("%d roles; %d appeared, %d changed, %d deleted", d.Roles, d.Appeared, d.Changed, d.Deleted)}
	case AuditExported:
		return Description{Did: "Exported the audit trail as " + d.Format}
	case AuditCheckpoint:
		return Description{Did: "Signed a checkpoint of the audit trail", Detail: fmt.Sprintf("%d events, root %s", d.Size, d.Root)}
	case AccessRevokeRequested:
		return Description{Did: "Revoked access", Comment: d.Reason}
	case AccessEndingSoon:
		return Description{Did: "Told the requester that access ends at " + d.Until}
	case AccessRemovalAttempt:
		return Description{Did: fmt.Sprintf("Removal attempt %d", d.Attempt)}
	case AccessRemovalRetrying:
		return Description{Did: fmt.Sprintf("Removal attempt %d failed; retrying in %s", d.Attempt, d.RetryIn), Detail: d.Error}
	case AccessRemoved:
		return Description{Did: "Removed the assignment (" + d.Call + ")", Detail: d.Reason}
	case AccessDrift:
		return Description{Did: "Found the assignment already removed outside rolegate", Detail: d.Reason}
	case AccessRemovalFailed:
		return Description{Did: "Removing the assignment failed", Detail: d.Error}
	case AccessRemovalRetried:
		return Description{Did: "Asked to retry the removal"}
	case UpstreamRoleAppeared:
		return Description{Did: "Appeared outside rolegate", Detail: "The role " + d.RoleID + " was created upstream"}
	case UpstreamRoleChanged:
		return Description{Did: "Changed outside rolegate", Detail: describeDifferences(d.Differences),
			News: fmt.Sprintf("The role %q created through request #%d was changed outside rolegate.", e.RoleName, e.RequestID)}
	case UpstreamRoleDeleted:
		return Description{Did: "Deleted outside rolegate", Detail: "The role " + d.RoleID + " no longer exists upstream",
			News: fmt.Sprintf("The role %q created through request #%d was deleted outside rolegate.", e.RoleName, e.RequestID)}
	}
	return Description{Did: e.Action}
}

// requestNamed names e's request in News: made only for the events whose
// News names it (the timeline describes every event on every view).
func requestNamed(e Event) string {
	return fmt.Sprintf("Request #%d for the role %q", e.RequestID, e.RoleName)
}

func roleCreated(e Event, s ScopeRecord) string {
	if where := s.inProject(); where != "" {
		return fmt.Sprintf("The role %q was created%s of the OpenAI organization (request #%d).", e.RoleName, where, e.RequestID)
	}
	return fmt.Sprintf("The role %q was created in the OpenAI organization (request #%d).", e.RoleName, e.RequestID)
}

func creatingFailed(e Event, s ScopeRecord) string {
	return fmt.Sprintf("Creating the role %q%s failed (request #%d); an admin can retry it.", e.RoleName, s.inProject(), e.RequestID)
}

// inProject places a request's role in its project: ` in the project
// "Payments" (proj_…)`; "" for the organization.
func (s ScopeRecord) inProject() string {
	if s.Scope == "" || s.Scope == ScopeLabelOrganization {
		return ""
	}
	return fmt.Sprintf(" in the project %q (%s)", s.ScopeName, s.Scope)
}

// in is where, for a timeline line: the project, or nothing for the
// organization (or an event from before scopes).
func (s ScopeRecord) in() string { return s.inProject() }

// describeDifferences says in one line how a role differs:
// `name "a" → "b"; permissions added x removed y`.
func describeDifferences(diffs []Difference) string {
	var parts []string
	for _, x := range diffs {
		switch {
		case x.Field == "permissions":
			p := "permissions"
			if len(x.Added) > 0 {
				p += " added " + strings.Join(x.Added, ", ")
			}
			if len(x.Removed) > 0 {
				p += " removed " + strings.Join(x.Removed, ", ")
			}
			parts = append(parts, p)
		default:
			parts = append(parts, fmt.Sprintf("%s %q → %q", x.Field, x.Old, x.New))
		}
	}
	return strings.Join(parts, "; ")
}

// FormatTime is how rolegate writes a time for people, everywhere: UTC, to
// the minute ("2026-03-01 09:00 UTC"). Pages show it where the browser
// does not put it in the viewer's zone (and on hover); emails and messages
// show it as it is. The zero time is "".
func FormatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(timeLayout)
}

// AppendTime appends FormatTime(t) to b.
func AppendTime(b []byte, t time.Time) []byte {
	if t.IsZero() {
		return b
	}
	return t.UTC().AppendFormat(b, timeLayout)
}

const timeLayout = "2006-01-02 15:04 UTC"

// Message is a notice in words for one reader: what an email says. Every
// word of it is chosen here; the email only lays it out.
type Message struct {
	Subject string
	// Heading is the first sentence: what happened, to this reader.
	Heading string
	// Lines say what it means for the reader and what they can do.
	Lines []string
	// Fields are the facts, labelled, in the order shown.
	Fields []MessageField
	// Action is the words of the link to the request's page.
	Action string
	// Why says why this reader hears of it.
	Why string
}

// MessageField is one labelled fact of a message: a Value, or a List of
// short values. Quoted marks text that a person wrote (set apart from
// rolegate's own words); Code, an identifier.
type MessageField struct {
	Label  string
	Value  string
	List   []string
	Quoted bool
	Code   bool
}

// DescribeNotice puts the notice f into words for a reader of audience a
// (f holds only what that reader may see: NotificationFacts.For).
func DescribeNotice(f NotificationFacts, a Audience) Message {
	role := fmt.Sprintf("%q", f.RoleName)
	actor := f.Actor.Name
	if actor == "" {
		actor = f.Actor.Email
	}
	requester := ""
	if f.Requester != nil {
		requester = f.Requester.Name
		if f.Requester.Email != "" && f.Requester.Email != f.Requester.Name {
			requester += " <" + f.Requester.Email + ">"
		}
	}
	m := Message{Action: fmt.Sprintf("Open request #%d", f.RequestID)}
	switch a {
	case AudienceRequester:
		m.Why = "You get this because you filed this request."
	case AudienceApprover:
		m.Why = "You get this because you are an approver in rolegate."
	case AudienceAdmin:
		m.Why = "You get this because you are an admin in rolegate."
	}
	field := func(label, value string) {
		if value != "" {
			m.Fields = append(m.Fields, MessageField{Label: label, Value: value})
		}
	}
	quoted := func(label, value string) {
		if value != "" {
			m.Fields = append(m.Fields, MessageField{Label: label, Value: value, Quoted: true})
		}
	}
	code := func(label, value string) {
		m.Fields = append(m.Fields, MessageField{Label: label, Value: value, Code: true})
	}
	permissions := func() {
		if len(f.Permissions) > 0 {
			m.Fields = append(m.Fields, MessageField{Label: "Permissions", List: f.Permissions})
		}
	}
	field("Request", fmt.Sprintf("#%d", f.RequestID))
	code("Role name", f.RoleName)
	if f.InProject() != "" {
		field("Scope", fmt.Sprintf("Project %s (%s)", f.ScopeName, f.Scope))
	}

	if f.RequestKind == string(KindAccess) {
		field("Kind", KindAccess.Label())
		field("Grant to", f.Grantee)
		if !f.Until.IsZero() {
			field("Until", FormatTime(f.Until))
		}
		if msg, ok := describeAccessNotice(f, a, role, actor, requester); ok {
			m.Subject, m.Heading, m.Lines = msg.Subject, msg.Heading, msg.Lines
			if msg.Action != "" {
				m.Action = msg.Action
			}
			quoted("Justification", f.Justification)
			quoted("Reason", f.Comment)
			quoted("Error", f.Failure)
			field("Status", f.Status.Label())
			return m
		}
	}
	switch f.Kind {
	case NoticeSubmitted:
		m.Subject = fmt.Sprintf("Request #%d for the role %s needs your review", f.RequestID, role)
		m.Heading = fmt.Sprintf("%s asks for a new custom role %s in the OpenAI organization%s.", nameOr(f.Requester, actor), role, f.InProject())
		m.Lines = []string{fmt.Sprintf("It needs %s. Review the exact request on its page, then approve or reject it there.", approvals(f.RequiredApprovals))}
		m.Action = fmt.Sprintf("Review request #%d", f.RequestID)
		field("Requested by", requester)
		permissions()
		quoted("Description", f.Description)
		quoted("Justification", f.Justification)
	case NoticeApproved:
		m.Subject = fmt.Sprintf("Your request #%d for the role %s was approved", f.RequestID, role)
		m.Heading = fmt.Sprintf("Your request for the role %s was approved.", role)
		m.Lines = []string{"rolegate is creating the role in the OpenAI organization now; you will get another message when it exists."}
		var by []string
		for _, ap := range f.Approvals {
			s := ap.Name
			if ap.Comment != "" {
				s += ": " + ap.Comment
			}
			by = append(by, s)
		}
		quoted("Approved by", strings.Join(by, "\n"))
	case NoticeRejected:
		m.Subject = fmt.Sprintf("Your request #%d for the role %s was rejected", f.RequestID, role)
		m.Heading = fmt.Sprintf("%s rejected your request for the role %s.", actor, role)
		m.Lines = []string{"Nothing was created. If the reason below can be addressed, you can file a new request."}
		quoted("Comment", f.Comment)
	case NoticeExpired:
		m.Subject = fmt.Sprintf("Your request #%d for the role %s expired", f.RequestID, role)
		m.Heading = fmt.Sprintf("Your request for the role %s expired without a decision.", role)
		m.Lines = []string{"Nothing was created. If you still need the role, file the request again."}
		field("Submitted", FormatTime(f.SubmittedAt))
	case NoticeProvisioned:
		m.Subject = fmt.Sprintf("The role %s was created (request #%d)", role, f.RequestID)
		if a == AudienceRequester {
			m.Heading = fmt.Sprintf("The role %s you asked for now exists in the OpenAI organization.", role)
		} else {
			m.Heading = fmt.Sprintf("The role %s you approved now exists in the OpenAI organization.", role)
		}
		code("Role id", f.RoleID)
		permissions()
	case NoticeFailed:
		m.Subject = fmt.Sprintf("Creating the role %s failed (request #%d)", role, f.RequestID)
		if a == AudienceAdmin {
			m.Heading = fmt.Sprintf("rolegate could not create the role %s.", role)
			m.Lines = []string{"Check the error below, then retry provisioning (or abandon it) on the request page."}
			m.Action = fmt.Sprintf("Retry request #%d", f.RequestID)
			field("Requested by", requester)
		} else {
			m.Heading = fmt.Sprintf("rolegate could not create the role %s you asked for.", role)
			m.Lines = []string{"The admins have been told; they can retry once the cause is fixed."}
		}
		quoted("Error", f.Failure)
	case NoticeAbandoned:
		m.Subject = fmt.Sprintf("The role %s will not be created (request #%d)", role, f.RequestID)
		m.Heading = fmt.Sprintf("%s stopped the attempts to create the role %s you asked for.", actor, role)
		m.Lines = []string{"Nothing more will be tried for this request, and its role name is free again. File a new request if you still need the role."}
		quoted("Reason", f.Comment)
	case NoticeReminder:
		m.Subject = fmt.Sprintf("Reminder: request #%d for the role %s is waiting for review", f.RequestID, role)
		m.Heading = fmt.Sprintf("Request #%d for the role %s has been waiting for a decision since %s.", f.RequestID, role, FormatTime(f.SubmittedAt))
		var names []string
		for _, ap := range f.Approvals {
			names = append(names, ap.Name)
		}
		line := fmt.Sprintf("It has %d of %s.", len(f.Approvals), approvals(f.RequiredApprovals))
		if len(names) > 0 {
			line = fmt.Sprintf("It has %d of %s (%s).", len(f.Approvals), approvals(f.RequiredApprovals), strings.Join(names, ", "))
		}
		m.Lines = []string{line}
		m.Action = fmt.Sprintf("Review request #%d", f.RequestID)
		field("Requested by", requester)
		permissions()
		quoted("Justification", f.Justification)
	case NoticeDrift:
		if f.Deleted {
			m.Subject = fmt.Sprintf("The role %s was deleted outside rolegate (request #%d)", role, f.RequestID)
			m.Heading = fmt.Sprintf("The role %s that rolegate created through request #%d no longer exists in the OpenAI organization: it was deleted outside rolegate.", role, f.RequestID)
		} else {
			m.Subject = fmt.Sprintf("The role %s was changed outside rolegate (request #%d)", role, f.RequestID)
			m.Heading = fmt.Sprintf("The role %s that rolegate created through request #%d was changed outside rolegate; it no longer matches what was approved.", role, f.RequestID)
		}
		m.Lines = []string{"Find out who changed it and whether that was intended; the request page and the Roles page show the difference."}
		code("Role id", f.RoleID)
		for _, d := range f.Differences {
			m.Fields = append(m.Fields, MessageField{Label: "Approved " + d.Field, Value: d.Old, Quoted: true},
				MessageField{Label: "Now " + d.Field, Value: d.New, Quoted: true})
		}
	default:
		m.Subject = fmt.Sprintf("Request #%d for the role %s is now %s", f.RequestID, role, f.Status.Label())
		m.Heading = m.Subject + "."
	}
	field("Status", f.Status.Label())
	return m
}

func nameOr(p *NoticePerson, fallback string) string {
	if p != nil && p.Name != "" {
		return p.Name
	}
	return fallback
}

func approvals(n int) string {
	if n == 1 {
		return "1 approval"
	}
	return fmt.Sprintf("%d approvals", n)
}

// describeAccessNotice words the notices of an access request; ok is
// false for a kind worded as for any request.
func describeAccessNotice(f NotificationFacts, a Audience, role, actor, requester string) (Message, bool) {
	var m Message
	until := "with no end date"
	if !f.Until.IsZero() {
		until = "until " + FormatTime(f.Until)
	}
	switch f.Kind {
	case NoticeSubmitted:
		m.Subject = fmt.Sprintf("Request #%d for access to the role %s needs your review", f.RequestID, role)
		m.Heading = fmt.Sprintf("%s asks for the role %s%s to be granted to the %s, %s.", nameOr(f.Requester, actor), role, f.InProject(), f.Grantee, until)
		m.Lines = []string{fmt.Sprintf("It needs %s. You cannot approve access that you would receive yourself.", approvals(f.RequiredApprovals))}
		m.Action = fmt.Sprintf("Review request #%d", f.RequestID)
	case NoticeApproved:
		m.Subject = fmt.Sprintf("Your request #%d for access to the role %s was approved", f.RequestID, role)
		m.Heading = fmt.Sprintf("Your request for the role %s for the %s was approved.", role, f.Grantee)
		m.Lines = []string{"rolegate is assigning the role in the OpenAI organization now; you will get another message when it is done."}
	case NoticeProvisioned:
		m.Subject = fmt.Sprintf("The role %s was granted to the %s (request #%d)", role, f.Grantee, f.RequestID)
		m.Heading = fmt.Sprintf("The %s now holds the role %s in the OpenAI organization, %s.", f.Grantee, role, until)
	case NoticeFailed:
		m.Subject = fmt.Sprintf("Granting the role %s failed (request #%d)", role, f.RequestID)
		m.Heading = fmt.Sprintf("rolegate could not grant the role %s to the %s.", role, f.Grantee)
		if a == AudienceAdmin {
			m.Lines = []string{"Check the error below, then retry provisioning (or abandon it) on the request page."}
		}
	case NoticeAccessEnding:
		m.Subject = fmt.Sprintf("Access to the role %s ends %s (request #%d)", role, FormatTime(f.Until), f.RequestID)
		m.Heading = fmt.Sprintf("The %s holds the role %s until %s; rolegate removes it then.", f.Grantee, role, FormatTime(f.Until))
		m.Lines = []string{"If access is still needed after that, file a new request for it."}
	case NoticeAccessEnded:
		m.Subject = fmt.Sprintf("Access to the role %s ended (request #%d)", role, f.RequestID)
		m.Heading = fmt.Sprintf("The %s no longer holds the role %s in the OpenAI organization.", f.Grantee, role)
	case NoticeAccessRemovalFailed:
		m.Subject = fmt.Sprintf("Removing access to the role %s failed (request #%d)", role, f.RequestID)
		m.Heading = fmt.Sprintf("rolegate could not remove the role %s from the %s; it may still hold it.", role, f.Grantee)
		if a == AudienceAdmin {
			m.Lines = []string{"Check the error below, then retry the removal on the request page: access past its end must not last."}
			m.Action = fmt.Sprintf("Open request #%d", f.RequestID)
		}
	default:
		return m, false
	}
	if requester != "" && a != AudienceRequester {
		m.Lines = append(m.Lines, "Requested by "+requester+".")
	}
	return m, true
}
