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

// Record is r as an approval's audit event records it; empty when r is
// the zero value.
func (r Reauth) Record() ReauthRecord {
	if r.Mode == "" {
		return ReauthRecord{}
	}
	rec := ReauthRecord{Mode: r.Mode, RoundTrip: r.RoundTrip}
	if !r.AuthTime.IsZero() {
		rec.AuthTime = r.AuthTime.UTC().Format(time.RFC3339)
	}
	if !r.StepUpAt.IsZero() {
		rec.StepUpAt = r.StepUpAt.UTC().Format(time.RFC3339)
	}
	return rec
}
