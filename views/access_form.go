package views

import (
	"net/url"
	"time"

	"github.com/rolegate/rolegate/internal/rolegate"
)

// AccessTyped is the Request access form as a person typed it: the role
// and the grantee by a label (or a name, an email, an id), Until as a
// date, and why.
type AccessTyped struct {
	Role          string `json:"role"`
	GrantTo       string `json:"grant_to"`
	Until         string `json:"until"`
	Justification string `json:"justification"`
}

// AccessForm is the Request access form.
type AccessForm struct {
	Typed  AccessTyped
	Errors rolegate.FieldErrors
	Checks AccessChecks
	// RoleLabels and GranteeLabels are the choices offered while typing:
	// every role of the picture, every group and user of the directory.
	RoleLabels    []string
	GranteeLabels []string
	// NotAUser is the sign-in's email when the organization has no user
	// with it (the form then says so and offers groups); "" otherwise.
	NotAUser    string
	MaxDuration time.Duration // 0: no limit
	Today       time.Time
	Approvers   Approvers
}

func (f AccessForm) err(field rolegate.Field) string { return f.Errors[field] }

// untilMin and untilMax bound the date field as the domain does (the
// server checks again).
func (f AccessForm) untilMin() string { return f.Today.Format(time.DateOnly) }
func (f AccessForm) untilMax() string {
	if f.MaxDuration <= 0 {
		return ""
	}
	return f.Today.Add(f.MaxDuration).Format(time.DateOnly)
}

// untilHint says what an empty Until means and how far it may go.
func (f AccessForm) untilHint() string {
	if f.MaxDuration <= 0 {
		return "The day access ends (it ends at the end of that day, UTC). Leave it empty for access without an end date."
	}
	return "The day access ends (at the end of that day, UTC), at most " + rolegate.HumanDuration(f.MaxDuration) +
		" from now. Empty means the longest allowed. rolegate removes the access by itself then, and tells you a day before."
}

// AccessChecks are the Request access form's live checks.
type AccessChecks struct {
	Role           rolegate.UpstreamRole // picked; ID "" when none
	RoleMessage    string                // why none was picked ("" before anything was typed)
	Grantee        rolegate.Grantee      // picked; ID "" when none
	GranteeMessage string
	// Holding says the grantee already holds the role upstream;
	// HoldingUnknown that the organization could not be asked.
	Holding        string
	HoldingUnknown bool
	// PendingID is the open request that already asks for this grant (0: none).
	PendingID int64
	// Until is when access would end (zero with UntilKnown: never);
	// UntilMessage why what was typed is refused.
	Until        time.Time
	UntilKnown   bool
	UntilMessage string
	// Call, Payload and Binding are the assign call approvals bind.
	Call, Payload, Binding string
	Approvals              int
	Sensitive              bool
}

// roleSummary describes the role picked: where it lives and what it grants.
func (k AccessChecks) roleSummary() string {
	where := "in the organization"
	if k.Role.Scope != rolegate.ScopeOrganization {
		where = "in the project " + k.Role.ScopeName + " (it can only be granted within that project)"
	}
	kind := "custom"
	if k.Role.Predefined {
		kind = "predefined"
	}
	return k.Role.Name + ": a " + kind + " role " + where + ", with " + itoa(len(k.Role.Permissions)) + " permissions."
}

// approvalsSentence says how many approvals this grant needs.
func (k AccessChecks) approvalsSentence() string {
	if k.Approvals == 0 {
		return ""
	}
	s := "This request needs " + approvals(k.Approvals) + ", from approvers who would not receive the access themselves"
	if k.Sensitive {
		s += " (one more because the role holds a sensitive permission)"
	}
	return s + "."
}

// untilSentence says when access would end.
func (k AccessChecks) untilSentence() string {
	switch {
	case !k.UntilKnown:
		return ""
	case k.Until.IsZero():
		return "Access would have no end date."
	}
	return "Access would end at " + when(k.Until) + "."
}

// AccessRequestURL is the Request access form with a role filled in.
func AccessRequestURL(roleID string) string {
	return "/access/new?role=" + url.QueryEscape(roleID)
}

// checkClass styles a live check: bad with a message, ok when something
// was picked.
func checkClass(message string, ok bool) string {
	switch {
	case message != "":
		return "check bad"
	case ok:
		return "check ok"
	}
	return "check"
}

// granteeClass styles the grantee's check: bad when nobody was picked, or
// the grant would add nothing (held already, or already asked for).
func (k AccessChecks) granteeClass() string {
	if k.Holding != "" || k.PendingID != 0 {
		return "check bad"
	}
	return checkClass(k.GranteeMessage, k.Grantee.ID != "")
}
