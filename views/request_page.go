package views

import (
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
