package rolegate

import "time"

// Reauth is how strongly an approver was re-authenticated for an approval.
// It is recorded with the approval so that an auditor can tell an approval
// backed by a fresh, provider-stated authentication from a weaker one.
type Reauth struct {
	// Mode is ROLEGATE_APPROVE_REAUTH ("max_age", "login" or "off"), or
	// "dev" for the dev sign-in.
	Mode string
	// AuthTime is the provider's auth_time for the approver's session;
	// zero when the provider stated none.
	AuthTime time.Time
	// StepUpAt is when a prompt=login round trip completed without an
	// auth_time ("login" mode); zero otherwise.
	StepUpAt time.Time
	// RoundTrip: this approval waited for a re-authentication at the
	// provider and completed on the way back.
	RoundTrip bool
}

// AddDetails writes r into an audit event's details; nothing when r is
// the zero value.
func (r Reauth) AddDetails(details map[string]any) {
	if r.Mode == "" {
		return
	}
	details["reauth_mode"] = r.Mode
	if !r.AuthTime.IsZero() {
		details["auth_time"] = r.AuthTime.UTC().Format(time.RFC3339)
	}
	if !r.StepUpAt.IsZero() {
		details["step_up_at"] = r.StepUpAt.UTC().Format(time.RFC3339)
	}
	if r.RoundTrip {
		details["reauth_round_trip"] = true
	}
}
