package views

import (
	"slices"
	"strings"

	"github.com/a-h/templ"

	"github.com/rolegate/rolegate/internal/rolegate"
)

// What a request page says about where the request stands and what
// happens next: worked out here from the request and its timeline, so that
// the template only places it.

// ending is the timeline entry that ended the request without a role
// (rejected, cancelled, expired) or gave up on its provisioning
// (abandoned); false when it did not end that way.
func (v RequestView) ending() (TimelineItem, bool) {
	var action string
	switch {
	case v.Request.Status == rolegate.StatusRejected:
		action = rolegate.ActionRequestRejected
	case v.Request.Status == rolegate.StatusCancelled:
		action = rolegate.ActionRequestCancelled
	case v.Request.Status == rolegate.StatusExpired:
		action = rolegate.ActionRequestExpired
	case v.Request.Abandoned():
		action = rolegate.ActionProvisioningAbandoned
	default:
		return TimelineItem{}, false
	}
	for i := len(v.Timeline) - 1; i >= 0; i-- {
		if v.Timeline[i].Action == action {
			return v.Timeline[i], true
		}
	}
	return TimelineItem{}, false
}

// endingReason is the reason given for the ending: the rejecter's or the
// admin's comment, or why it expired.
func endingReason(t TimelineItem) string {
	if t.Comment != "" {
		return t.Comment
	}
	if t.Action == rolegate.ActionRequestExpired {
		return t.Detail
	}
	return ""
}

// endingVerb says what the ending was, beside the status.
func endingVerb(t TimelineItem) string {
	switch t.Action {
	case rolegate.ActionRequestRejected:
		return "Rejected by "
	case rolegate.ActionRequestCancelled:
		return "Cancelled by "
	case rolegate.ActionProvisioningAbandoned:
		return "Abandoned by "
	}
	return ""
}

// neverSent reports whether the request ended before anything could be
// sent upstream: its body was only ever proposed.
func (v RequestView) neverSent() bool {
	switch v.Request.Status {
	case rolegate.StatusRejected, rolegate.StatusCancelled, rolegate.StatusExpired:
		return true
	}
	return false
}

// hashSentence says what the payload's SHA-256 stands for at this status.
func (v RequestView) hashSentence() string {
	switch {
	case v.neverSent():
		return "SHA-256 of the proposed body (nothing was sent): "
	case v.Request.Status == rolegate.StatusPending:
		return "SHA-256 of the exact bytes that will be sent if it is approved: "
	case v.Request.Status == rolegate.StatusApproved:
		return "SHA-256 of the exact bytes that will be sent: "
	}
	return "SHA-256 of the exact bytes sent: "
}

// approvalsSentence counts the approvals in the words of the status: how
// many are still needed while pending, none "needed" once it has ended.
func (v RequestView) approvalsSentence() string {
	n, need := v.Request.ApprovalCount(), v.Request.RequiredApprovals
	switch {
	case v.Request.Status == rolegate.StatusPending:
		return itoa(n) + " of " + itoa(need) + " needed"
	case v.neverSent() && n == 0:
		return "None before it ended"
	case v.neverSent():
		return itoa(n) + " of the " + itoa(need) + " it needed, before it ended"
	}
	return itoa(n) + " of " + itoa(need) + " needed, all given"
}

// Approvers says who may approve requests and how many approvals a request
// needs, for the form and the request page.
type Approvers struct {
	Groups   []string // ROLEGATE_APPROVER_GROUPS
	Required int      // ROLEGATE_REQUIRED_APPROVALS, before the extra one for a sensitive permission
}

// who names the approvers by their groups.
func (a Approvers) who() string {
	switch len(a.Groups) {
	case 0:
		return "the portal's approvers"
	case 1:
		return "members of the group " + a.Groups[0]
	}
	return "members of the groups " + strings.Join(a.Groups[:len(a.Groups)-1], ", ") + " or " + a.Groups[len(a.Groups)-1]
}

// approvals writes a number of approvals.
func approvals(n int) string {
	if n == 1 {
		return "1 approval"
	}
	return itoa(n) + " approvals"
}

// stillNeeded is how many approvals a pending request still waits for.
func (v RequestView) stillNeeded() int {
	return max(v.Request.RequiredApprovals-v.Request.ApprovalCount(), 0)
}

// createdWhere says where the request's role is created: in the
// organization, or in the project named.
func (v RequestView) createdWhere() string {
	if v.Request.InProject() {
		return "in the project " + ScopeOf(v.Request)
	}
	return "in the organization"
}

// pendingSentence says whom a pending request waits for; the page follows
// it with the time it expires at.
func (v RequestView) pendingSentence() string {
	n := v.stillNeeded()
	more := itoa(n) + " more approvals"
	if n == 1 {
		more = "1 more approval"
	}
	s := "Waiting for " + more + ", from " + v.Approvers.who() +
		" (not the requester), who see it under Reviews. It needs " + approvals(v.Request.RequiredApprovals) + " in all"
	if len(v.Sensitive) > 0 {
		s += " (one more than usual, because it asks for a sensitive permission)"
	}
	return s + ". If nobody decides by "
}

// approvalsSentence says how many approvals the permissions picked so far
// need ("" before any is picked).
func (k FormChecks) approvalsSentence() string {
	if k.Approvals == 0 {
		return ""
	}
	s := "With the permissions picked, this request needs " + approvals(k.Approvals)
	if k.Sensitive {
		s += " (one more because of a sensitive permission)"
	}
	return s + "."
}

// cancelQuestion is what Cancel request asks before it acts.
const cancelQuestion = "Cancel this request? Approvers will no longer see it, nothing will be sent, and it cannot be reopened (you can file a new one)."

// liveAttrs make the page ask for itself again every two seconds while the
// request is Approved or Provisioning (or its access is being removed), swapping in only this part: the
// answer for a settled request carries no trigger, so the polling stops.
func (v RequestView) liveAttrs() templ.Attributes {
	removing := v.Request.Grant != nil && v.Request.Grant.State == rolegate.GrantRemoving
	if v.Request.Status != rolegate.StatusApproved && v.Request.Status != rolegate.StatusProvisioning && !removing {
		return nil
	}
	return templ.Attributes{"hx-get": requestURL(v.Request.ID), "hx-trigger": "every 2s", "hx-select": "#request-live", "hx-swap": "outerHTML"}
}

// permissions are the request's permissions as the catalog describes them;
// one the catalog no longer knows is shown by its name, and as sensitive
// when the request counted it so.
func (v RequestView) permissions() []rolegate.Permission {
	out := make([]rolegate.Permission, 0, len(v.Request.Permissions))
	for _, name := range v.Request.Permissions {
		p, ok := v.Catalog.Lookup(name)
		if !ok {
			p = rolegate.Permission{Name: name}
		}
		p.Sensitive = slices.Contains(v.Sensitive, name)
		out = append(out, p)
	}
	return out
}

// canFileAgain reports whether the viewer filed the request and it ended
// without a role: rejected, cancelled, expired, or its provisioning
// abandoned.
func (v RequestView) canFileAgain() bool {
	if !v.Mine {
		return false
	}
	switch v.Request.Status {
	case rolegate.StatusRejected, rolegate.StatusCancelled, rolegate.StatusExpired:
		return true
	}
	return v.Request.Abandoned()
}

// grantEnding finishes the line of ended access after its time: by whom
// and why (" by Drew Admin: The incident is closed.").
func grantEnding(g *rolegate.Grant) string {
	s := ""
	if g.EndedBy != "" {
		s = " by " + g.EndedBy
	}
	if reason := rolegate.RemovalReason(g.EndCause, g.Until, g.EndReason); reason != "" {
		s += ": " + reason
	}
	return s
}
