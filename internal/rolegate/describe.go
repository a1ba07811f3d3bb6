package rolegate

import (
	"fmt"
	"strings"
)

// Description is an event in words. Every medium that tells of events
// takes its words from here and only formats them: the request's timeline
// shows Did, Comment and Detail; a webhook posts News.
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
	req := fmt.Sprintf("Request #%d for the role %q", e.RequestID, e.RoleName)
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
		return Description{Did: "Submitted the request",
			Detail: fmt.Sprintf("Payload SHA-256 %s; approvals needed: %d", d.PayloadSHA256, d.RequiredApprovals),
			News:   fmt.Sprintf("%s asks for a new role %q (request #%d); it is waiting for review.", actor, e.RoleName, e.RequestID)}
	case RequestApproved:
		return Description{Did: fmt.Sprintf("Approved (%d of %d)", d.Approvals, d.RequiredApprovals),
			Detail: "Approved payload SHA-256 " + d.PayloadSHA256, Comment: d.Comment,
			News: fmt.Sprintf("%s was approved by %s.", req, actor)}
	case RequestRejected:
		return Description{Did: "Rejected the request", Comment: d.Comment, News: fmt.Sprintf("%s was rejected by %s.", req, actor)}
	case RequestCancelled:
		return Description{Did: "Cancelled the request", News: fmt.Sprintf("%s was cancelled by %s.", req, actor)}
	case RequestExpired:
		return Description{Did: "The request expired", Detail: d.Reason, News: req + " expired without a decision."}
	case RequestReminder:
		return Description{Did: "Reminded the approvers", Detail: "Pending for " + d.PendingFor, News: req + " is still waiting for review."}
	case ProvisioningQueued:
		return Description{Did: "Handed to provisioning"}
	case ProvisioningAttempt:
		return Description{Did: fmt.Sprintf("Provisioning attempt %d", d.Attempt), Detail: d.Reason}
	case ProvisioningRetrying:
		return Description{Did: fmt.Sprintf("Attempt %d failed; retrying in %s", d.Attempt, d.RetryIn), Detail: d.Error}
	case ProvisioningSucceeded:
		return Description{Did: "Created the role " + d.RoleID, News: roleCreated(e)}
	case ProvisioningAdopted:
		return Description{Did: "Found the role " + d.RoleID + " already created and adopted it", News: roleCreated(e)}
	case ProvisioningFailed:
		return Description{Did: "Provisioning failed", Detail: d.Error, News: creatingFailed(e)}
	case ProvisioningMismatch:
		return Description{Did: "The created role does not match what was approved", Detail: d.Error, News: creatingFailed(e)}
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

func roleCreated(e Event) string {
	return fmt.Sprintf("The role %q was created in the OpenAI organization (request #%d).", e.RoleName, e.RequestID)
}

func creatingFailed(e Event) string {
	return fmt.Sprintf("Creating the role %q failed (request #%d); an admin can retry it.", e.RoleName, e.RequestID)
}

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
