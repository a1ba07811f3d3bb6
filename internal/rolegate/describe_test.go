package rolegate_test

import (
	"strings"
	"testing"
	"time"

	"github.com/rolegate/rolegate/internal/rolegate"
)

// The words that the timeline and the webhooks showed before they were
// said in one place, for an event of each action about request #12.
func TestDescribeSaysWhatHappened(t *testing.T) {
	event := func(d rolegate.Details) rolegate.Event {
		e := rolegate.NewEvent(rolegate.Actor{Principal: rolegate.Principal{Person: rolegate.Person{Subject: "avery", Name: "Avery Approver"}}}, rolegate.OutcomeSuccess, d)
		e.RequestID, e.RoleName = 12, "finance-reader"
		return e
	}
	req := `Request #12 for the role "finance-reader"`
	pay := rolegate.ScopeRecord{Scope: "proj_pay", ScopeName: "Payments"}
	tests := []struct {
		d    rolegate.Details
		want rolegate.Description
	}{
		{rolegate.RequestCreated{PayloadSHA256: "ab12", RequiredApprovals: 2},
			rolegate.Description{Did: "Submitted the request", Detail: "Payload SHA-256 ab12; approvals needed: 2",
				News: `Avery Approver asks for a new role "finance-reader" (request #12); it is waiting for review.`}},
		{rolegate.RequestApproved{Comment: "Fine.", PayloadSHA256: "ab12", Approvals: 1, RequiredApprovals: 2},
			rolegate.Description{Did: "Approved (1 of 2)", Detail: "Approved payload SHA-256 ab12", Comment: "Fine.", News: req + " was approved by Avery Approver."}},
		{rolegate.RequestRejected{Comment: "Too broad."}, rolegate.Description{Did: "Rejected the request", Comment: "Too broad.", News: req + " was rejected by Avery Approver."}},
		{rolegate.RequestCancelled{}, rolegate.Description{Did: "Cancelled the request", News: req + " was cancelled by Avery Approver."}},
		{rolegate.RequestExpired{Reason: "No decision within 14 days of submission."},
			rolegate.Description{Did: "The request expired", Detail: "No decision within 14 days of submission.", News: req + " expired without a decision."}},
		{rolegate.RequestReminder{PendingFor: "24h0m0s", Reminder: 1},
			rolegate.Description{Did: "Reminded the approvers", Detail: "Pending for 24h0m0s", News: req + " is still waiting for review."}},
		{rolegate.ProvisioningQueued{}, rolegate.Description{Did: "Handed to provisioning"}},
		{rolegate.ProvisioningAttempt{Attempt: 2, Reason: "the previous worker's lease expired"},
			rolegate.Description{Did: "Provisioning attempt 2", Detail: "the previous worker's lease expired"}},
		{rolegate.ProvisioningRetrying{Attempt: 1, Error: "upstream 503", RetryIn: "1.5s"},
			rolegate.Description{Did: "Attempt 1 failed; retrying in 1.5s", Detail: "upstream 503"}},
		{rolegate.ProvisioningSucceeded{RoleID: "role_1"},
			rolegate.Description{Did: "Created the role role_1", News: `The role "finance-reader" was created in the OpenAI organization (request #12).`}},
		{rolegate.ProvisioningAdopted{RoleID: "role_1"},
			rolegate.Description{Did: "Found the role role_1 already created and adopted it", News: `The role "finance-reader" was created in the OpenAI organization (request #12).`}},
		{rolegate.ProvisioningFailed{Error: "bad permission"},
			rolegate.Description{Did: "Provisioning failed", Detail: "bad permission", News: `Creating the role "finance-reader" failed (request #12); an admin can retry it.`}},
		{rolegate.ProvisioningMismatch{Error: "differs"},
			rolegate.Description{Did: "The created role does not match what was approved", Detail: "differs", News: `Creating the role "finance-reader" failed (request #12); an admin can retry it.`}},
		{rolegate.ProvisioningRetried{}, rolegate.Description{Did: "Asked to retry provisioning"}},
		{rolegate.ProvisioningAbandoned{Comment: "Refused upstream."}, rolegate.Description{Did: "Abandoned provisioning; it will not be retried",
			Comment: "Refused upstream.", News: `Avery Approver gave up creating the role "finance-reader" (request #12).`}},
		{rolegate.NotificationSent{Channel: "email", Recipient: "riley@example.com"}, rolegate.Description{Did: "Notified riley@example.com by email"}},
		{rolegate.NotificationFailed{Channel: "webhook", Recipient: "webhook https://chat.example.com (0a1b2c3d)", Error: "Gave up after 8 attempts."},
			rolegate.Description{Did: "Could not notify webhook https://chat.example.com (0a1b2c3d) by webhook", Detail: "Gave up after 8 attempts."}},
		{rolegate.UpstreamRoleChanged{Differences: []rolegate.Difference{{Field: "name", Old: "a", New: "b"},
			{Field: "permissions", Added: []string{"x", "y"}, Removed: []string{"z"}}}},
			rolegate.Description{Did: "Changed outside rolegate", Detail: `name "a" → "b"; permissions added x, y removed z`,
				News: `The role "finance-reader" created through request #12 was changed outside rolegate.`}},
		{rolegate.UpstreamRoleDeleted{RoleID: "role_5"}, rolegate.Description{Did: "Deleted outside rolegate", Detail: "The role role_5 no longer exists upstream",
			News: `The role "finance-reader" created through request #12 was deleted outside rolegate.`}},
		// A project request's events place its role in the project; the
		// organization's label adds nothing.
		{rolegate.RequestCreated{PayloadSHA256: "ab12", RequiredApprovals: 1, ScopeRecord: pay, Call: "POST /v1/projects/proj_pay/roles", BindingVersion: 2, BindingSHA256: "cd34"},
			rolegate.Description{Did: `Submitted the request in the project "Payments" (proj_pay)`,
				Detail: "Payload SHA-256 ab12; approvals needed: 1; POST /v1/projects/proj_pay/roles; approvals bound to the call, SHA-256 cd34",
				News:   `Avery Approver asks for a new role "finance-reader" in the project "Payments" (proj_pay) (request #12); it is waiting for review.`}},
		{rolegate.RequestApproved{PayloadSHA256: "ab12", Approvals: 1, RequiredApprovals: 1, ScopeRecord: pay, BindingSHA256: "cd34"},
			rolegate.Description{Did: "Approved (1 of 1)", Detail: "Approved the call with SHA-256 cd34 (payload SHA-256 ab12)",
				News: req + ` in the project "Payments" (proj_pay) was approved by Avery Approver.`}},
		{rolegate.ProvisioningSucceeded{RoleID: "role_1", ScopeRecord: pay},
			rolegate.Description{Did: `Created the role role_1 in the project "Payments" (proj_pay)`,
				News: `The role "finance-reader" was created in the project "Payments" (proj_pay) of the OpenAI organization (request #12).`}},
		{rolegate.ProvisioningFailed{Error: "The project 'proj_pay' is archived.", ScopeRecord: pay},
			rolegate.Description{Did: "Provisioning failed", Detail: "The project 'proj_pay' is archived.",
				News: `Creating the role "finance-reader" in the project "Payments" (proj_pay) failed (request #12); an admin can retry it.`}},
		{rolegate.ProvisioningSucceeded{RoleID: "role_1", ScopeRecord: rolegate.ScopeRecord{Scope: rolegate.ScopeLabelOrganization}},
			rolegate.Description{Did: "Created the role role_1", News: `The role "finance-reader" was created in the OpenAI organization (request #12).`}},
	}
	for _, tt := range tests {
		if got := rolegate.Describe(event(tt.d)); got != tt.want {
			t.Errorf("Describe(%s %#v) =\n%#v; want\n%#v", tt.d.Action(), tt.d, got, tt.want)
		}
	}
	unknown := rolegate.Event{Action: "request.teleported"}
	if got := rolegate.Describe(unknown); got != (rolegate.Description{Did: "request.teleported"}) {
		t.Errorf("Describe(an unknown action) = %#v; want the action named", got)
	}
	// Channel facts carry no details: the news needs none.
	bare := rolegate.Event{Action: rolegate.ActionRequestApproved, ActorEmail: "avery@example.com", RequestID: 12, RoleName: "finance-reader"}
	if got := rolegate.Describe(bare).News; got != req+" was approved by avery@example.com." {
		t.Errorf("Describe(an approval without details).News = %q", got)
	}
}

// Every action has words of its own: declaring an action without them
// fails here.
func TestEveryActionIsDescribed(t *testing.T) {
	for name, action := range actionConstants(t) {
		if d := rolegate.Describe(rolegate.Event{Action: action, Details: []byte(`{}`)}); d.Did == "" || d.Did == action {
			t.Errorf("Describe(%s) = %#v; want words for %s", action, d, name)
		}
	}
}

// Every notice kind has an email's words of its own for each reader it
// may reach, not the fallback that only names the status.
func TestEveryNoticeKindIsDescribedToItsReaders(t *testing.T) {
	kinds := []string{rolegate.NoticeSubmitted, rolegate.NoticeApproved, rolegate.NoticeRejected, rolegate.NoticeExpired,
		rolegate.NoticeProvisioned, rolegate.NoticeFailed, rolegate.NoticeAbandoned, rolegate.NoticeReminder, rolegate.NoticeDrift}
	for _, kind := range kinds {
		for _, a := range []rolegate.Audience{rolegate.AudienceRequester, rolegate.AudienceApprover, rolegate.AudienceAdmin} {
			f := rolegate.NotificationFacts{Kind: kind, RequestID: 12, RoleName: "finance-reader", Status: rolegate.StatusPending}
			m := rolegate.DescribeNotice(f, a)
			if m.Subject == "" || m.Heading == "" || m.Why == "" || m.Action == "" || strings.Contains(m.Subject, " is now ") {
				t.Errorf("DescribeNotice(%s, %s) = %#v; want words of its own", kind, a, m)
			}
		}
	}
	if m := rolegate.DescribeNotice(rolegate.NotificationFacts{Kind: "teleported", RequestID: 12, RoleName: "r", Status: rolegate.StatusPending}, rolegate.AudienceRequester); m.Subject != `Request #12 for the role "r" is now Pending` {
		t.Errorf("DescribeNotice(an unknown kind).Subject = %q; want the status named", m.Subject)
	}
}

// Times read the same on pages, in emails and in messages.
func TestFormatTime(t *testing.T) {
	at := time.Date(2026, 3, 1, 10, 30, 59, 0, time.FixedZone("CET", 3600))
	if got, want := rolegate.FormatTime(at), "2026-03-01 09:30 UTC"; got != want {
		t.Errorf("FormatTime(%v) = %q; want %q", at, got, want)
	}
	if got := rolegate.FormatTime(time.Time{}); got != "" {
		t.Errorf("FormatTime(zero) = %q; want \"\"", got)
	}
}
