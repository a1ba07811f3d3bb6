package rolegate_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/rolegate/rolegate/internal/rolegate"
)

// caused lists each event's action with the notice kind it calls for
// ("action" alone when nobody hears of it).
func caused(eff rolegate.Effects) []string {
	var out []string
	for _, c := range eff.Events {
		s := c.Event.Action
		if c.Notice != nil {
			s += " → " + c.Notice.Kind
		}
		out = append(out, s)
	}
	return out
}

func actor(p rolegate.Principal) rolegate.Actor { return rolegate.Actor{Principal: p} }

func TestEachTransitionSaysWhatItCauses(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	blake := person("blake", rolegate.RoleRequester, rolegate.RoleApprover)
	pending := func(required int) *rolegate.Request {
		r := requestIn(rolegate.StatusPending)
		r.RequiredApprovals, r.PayloadHash, r.CreatedAt, r.ExpiresAt = required, "h", now.Add(-time.Hour), now.Add(time.Hour)
		return r
	}
	job := &rolegate.Job{RequestID: 7, Attempt: 1}
	tests := []struct {
		desc     string
		do       func() (rolegate.Effects, error)
		from, to rolegate.Status
		jobDo    rolegate.JobChange
		want     []string
	}{
		{"a partial approval tells nobody", func() (rolegate.Effects, error) {
			return rolegate.Approve(pending(2), actor(approver), "h", "", rolegate.Reauth{}, now)
		}, rolegate.StatusPending, rolegate.StatusPending, rolegate.JobUnchanged, []string{"request.approved"}},
		{"the completing approval approves, tells the requester and queues the job", func() (rolegate.Effects, error) {
			r := pending(2)
			r.Approvals = []rolegate.Approval{{Approver: blake.Person, PayloadHash: "h", At: now.Add(-time.Minute)}}
			return rolegate.Approve(r, actor(approver), "h", "", rolegate.Reauth{}, now)
		}, rolegate.StatusPending, rolegate.StatusApproved, rolegate.JobQueued,
			[]string{"request.approved → approved", "provisioning.queued"}},
		{"a rejection tells the requester why", func() (rolegate.Effects, error) {
			return rolegate.Reject(pending(1), actor(approver), "Too broad.")
		}, rolegate.StatusPending, rolegate.StatusRejected, rolegate.JobUnchanged, []string{"request.rejected → rejected"}},
		{"a cancellation tells the webhooks", func() (rolegate.Effects, error) {
			return rolegate.Cancel(pending(1), actor(owner))
		}, rolegate.StatusPending, rolegate.StatusCancelled, rolegate.JobUnchanged, []string{"request.cancelled → cancelled"}},
		{"expiry", func() (rolegate.Effects, error) {
			return rolegate.Expire(pending(1)), nil
		}, rolegate.StatusPending, rolegate.StatusExpired, rolegate.JobUnchanged, []string{"request.expired → expired"}},
		{"a retry requeues the job and tells nobody", func() (rolegate.Effects, error) {
			return rolegate.RetryProvisioning(requestIn(rolegate.StatusFailed), actor(admin))
		}, rolegate.StatusFailed, rolegate.StatusApproved, rolegate.JobRequeued, []string{"provisioning.retried"}},
		{"abandoning tells the requester why", func() (rolegate.Effects, error) {
			return rolegate.AbandonProvisioning(requestIn(rolegate.StatusFailed), actor(admin), "Not needed.", now)
		}, rolegate.StatusFailed, rolegate.StatusFailed, rolegate.JobUnchanged, []string{"provisioning.abandoned → abandoned"}},
		{"a claim records the attempt", func() (rolegate.Effects, error) {
			return rolegate.ClaimJob(requestIn(rolegate.StatusApproved), 1, false, false), nil
		}, rolegate.StatusApproved, rolegate.StatusProvisioning, rolegate.JobUnchanged, []string{"provisioning.attempt"}},
		{"a created role", func() (rolegate.Effects, error) {
			return rolegate.CompleteJob(requestIn(rolegate.StatusProvisioning), job, rolegate.ProvisionedRole{ID: "role_1"}, false), nil
		}, rolegate.StatusProvisioning, rolegate.StatusProvisioned, rolegate.JobUnchanged, []string{"provisioning.succeeded → provisioned"}},
		{"a retry later tells nobody yet", func() (rolegate.Effects, error) {
			return rolegate.RetryJobLater(requestIn(rolegate.StatusProvisioning), job, time.Second, "503"), nil
		}, rolegate.StatusProvisioning, rolegate.StatusProvisioning, rolegate.JobUnchanged, []string{"provisioning.retry_scheduled"}},
		{"a failure", func() (rolegate.Effects, error) {
			return rolegate.FailJob(requestIn(rolegate.StatusProvisioning), job, rolegate.ActionProvisioningFailed, "refused", nil), nil
		}, rolegate.StatusProvisioning, rolegate.StatusFailed, rolegate.JobUnchanged, []string{"provisioning.failed → failed"}},
		{"a reminder", func() (rolegate.Effects, error) {
			return rolegate.Remind(pending(1), 1, now), nil
		}, rolegate.StatusPending, rolegate.StatusPending, rolegate.JobUnchanged, []string{"request.reminder → reminder"}},
	}
	for _, tt := range tests {
		eff, err := tt.do()
		if err != nil {
			t.Errorf("%s: %v", tt.desc, err)
			continue
		}
		if eff.From != tt.from || eff.To != tt.to || eff.Job != tt.jobDo || !slices.Equal(caused(eff), tt.want) {
			t.Errorf("%s: %s → %s, job %d, %q; want %s → %s, job %d, %q", tt.desc,
				eff.From, eff.To, eff.Job, caused(eff), tt.from, tt.to, tt.jobDo, tt.want)
		}
	}
}

func TestARefusedTransitionCausesNothing(t *testing.T) {
	r := requestIn(rolegate.StatusPending)
	r.PayloadHash = "h"
	eff, err := rolegate.Approve(r, actor(approver), "not the payload shown", "", rolegate.Reauth{}, time.Now())
	if rolegate.ErrorCode(err) != rolegate.ECONFLICT || len(eff.Events) != 0 || eff.Approval != nil || len(r.Approvals) != 0 {
		t.Errorf("Approve(stale hash) = %d events, approval %v, %v; want nothing and a conflict", len(eff.Events), eff.Approval, err)
	}
	eff, err = rolegate.Reject(r, actor(approver), "  ")
	if rolegate.ErrorCode(err) != rolegate.EINVALID || len(eff.Events) != 0 {
		t.Errorf("Reject(no comment) = %d events, %v; want nothing and invalid", len(eff.Events), err)
	}
}

// directory is rolegate.People from a fixed list.
type directory struct{ approvers, admins []rolegate.Person }

func (d directory) LastSeenEmail(_ context.Context, p rolegate.Person) (string, error) {
	return p.Email, nil
}
func (d directory) PeopleWithRole(_ context.Context, role rolegate.PortalRole) ([]rolegate.Person, error) {
	if role == rolegate.RoleAdmin {
		return d.admins, nil
	}
	return d.approvers, nil
}

func TestWhoHearsOfANotice(t *testing.T) {
	mail := func(name string) rolegate.Person {
		return rolegate.Person{Issuer: "https://idp.test", Subject: name, Name: name, Email: name + "@example.com"}
	}
	riley, avery, blake, drew := mail("riley"), mail("avery"), mail("blake"), mail("drew")
	// Riley files; Riley and Avery and Blake approve; Avery has approved.
	r := &rolegate.Request{ID: 7, Status: rolegate.StatusPending, Requester: riley, RequiredApprovals: 2,
		Approvals: []rolegate.Approval{{Approver: avery}}}
	dir := directory{approvers: []rolegate.Person{riley, avery, blake}, admins: []rolegate.Person{drew, avery}}
	now := time.Now()
	recipients := func(r *rolegate.Request, eff rolegate.Effects) []string {
		t.Helper()
		got, err := eff.Events[0].Notice.Recipients(t.Context(), r, dir)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, rc := range got {
			out = append(out, rc.Email+" as "+string(rc.Audience))
		}
		return out
	}
	if got, want := recipients(r, rolegate.Remind(r, 1, now)), []string{"blake@example.com as approver"}; !slices.Equal(got, want) {
		t.Errorf("reminder recipients = %q; want %q (not the requester, not who approved)", got, want)
	}
	averys := &rolegate.Request{ID: 8, Status: rolegate.StatusProvisioning, Requester: avery}
	failed := rolegate.FailJob(averys, &rolegate.Job{}, rolegate.ActionProvisioningFailed, "refused", nil)
	if got, want := recipients(averys, failed), []string{"avery@example.com as admin", "drew@example.com as admin"}; !slices.Equal(got, want) {
		t.Errorf("failure recipients = %q; want %q (one message each, for the role that sees the most)", got, want)
	}
}
