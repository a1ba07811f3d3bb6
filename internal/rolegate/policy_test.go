package rolegate_test

import (
	"strings"
	"testing"
	"time"

	"github.com/rolegate/rolegate/internal/rolegate"
)

func person(subject string, roles ...rolegate.PortalRole) rolegate.Principal {
	return rolegate.Principal{Person: rolegate.Person{Issuer: "https://idp.test", Subject: subject, Name: subject}, Roles: roles}
}

var (
	owner        = person("riley", rolegate.RoleRequester)
	ownerAlsoAll = person("riley", rolegate.RoleRequester, rolegate.RoleApprover, rolegate.RoleAuditor, rolegate.RoleAdmin)
	approver     = person("avery", rolegate.RoleRequester, rolegate.RoleApprover)
	stranger     = person("sam", rolegate.RoleRequester)
	auditor      = person("casey", rolegate.RoleAuditor)
	admin        = person("drew", rolegate.RoleAdmin)
)

func requestIn(status rolegate.Status) *rolegate.Request {
	return &rolegate.Request{ID: 7, Status: status, Requester: owner.Person, RequiredApprovals: 2}
}

func TestCheckDecide(t *testing.T) {
	approvedByAvery := requestIn(rolegate.StatusPending)
	approvedByAvery.Approvals = []rolegate.Approval{{Approver: approver.Person}}
	sameSubjectOtherIssuer := person("riley", rolegate.RoleApprover)
	sameSubjectOtherIssuer.Issuer = "https://other-idp.test"
	tests := []struct {
		desc string
		who  rolegate.Principal
		req  *rolegate.Request
		want string // error code, "" = allowed
	}{
		{"an approver on another's pending request", approver, requestIn(rolegate.StatusPending), ""},
		{"the owner holding every role", ownerAlsoAll, requestIn(rolegate.StatusPending), rolegate.EFORBIDDEN},
		{"a plain requester", stranger, requestIn(rolegate.StatusPending), rolegate.EFORBIDDEN},
		{"an auditor", auditor, requestIn(rolegate.StatusPending), rolegate.EFORBIDDEN},
		{"an admin", admin, requestIn(rolegate.StatusPending), rolegate.EFORBIDDEN},
		{"an approver who already approved", approver, approvedByAvery, rolegate.ECONFLICT},
		{"the same subject at another issuer is another person", sameSubjectOtherIssuer, requestIn(rolegate.StatusPending), ""},
	}
	for _, s := range rolegate.AllStatuses {
		if s != rolegate.StatusPending {
			tests = append(tests, struct {
				desc string
				who  rolegate.Principal
				req  *rolegate.Request
				want string
			}{"an approver on a " + string(s) + " request", approver, requestIn(s), rolegate.ECONFLICT})
		}
	}
	for _, tt := range tests {
		if got := rolegate.ErrorCode(rolegate.CheckDecide(tt.who, tt.req)); got != tt.want {
			t.Errorf("CheckDecide(%s) = %q; want %q", tt.desc, got, tt.want)
		}
	}
}

// CheckApprove is CheckDecide, then the comment, then the payload the
// approver reviewed: the web layer asks it before a re-authentication
// detour and storage asks it again in the transaction.
func TestCheckApprove(t *testing.T) {
	req := requestIn(rolegate.StatusPending)
	req.PayloadHash = strings.Repeat("a", 64)
	tests := []struct {
		desc          string
		who           rolegate.Principal
		hash, comment string
		want          string // error code, "" = allowed
		field         bool   // a message beside the comment
	}{
		{"an approver, the hash on file, no comment", approver, req.PayloadHash, "", "", false},
		{"an approver with a comment", approver, req.PayloadHash, "Checked.", "", false},
		{"an approver, another hash", approver, strings.Repeat("b", 64), "", rolegate.ECONFLICT, false},
		{"an approver, no hash", approver, "", "", rolegate.ECONFLICT, false},
		{"an approver, a comment too long", approver, req.PayloadHash, strings.Repeat("x", rolegate.MaxCommentLen+1), rolegate.EINVALID, true},
		{"an approver, a control character", approver, req.PayloadHash, "ok\x00", rolegate.EINVALID, true},
		{"the owner holding every role", ownerAlsoAll, req.PayloadHash, "", rolegate.EFORBIDDEN, false},
	}
	for _, tt := range tests {
		err := rolegate.CheckApprove(tt.who, req, tt.hash, tt.comment)
		if got := rolegate.ErrorCode(err); got != tt.want {
			t.Errorf("CheckApprove(%s) = %q; want %q", tt.desc, got, tt.want)
		}
		if got := rolegate.ErrorFields(err)[rolegate.FieldComment] != ""; got != tt.field {
			t.Errorf("CheckApprove(%s) has a comment message: %v; want %v", tt.desc, got, tt.field)
		}
	}
}

func TestCheckCancel(t *testing.T) {
	for _, s := range rolegate.AllStatuses {
		want := rolegate.ECONFLICT
		if s == rolegate.StatusPending {
			want = ""
		}
		if got := rolegate.ErrorCode(rolegate.CheckCancel(owner, requestIn(s))); got != want {
			t.Errorf("CheckCancel(owner, %s) = %q; want %q", s, got, want)
		}
		for _, other := range []rolegate.Principal{approver, stranger, auditor, admin} {
			if got := rolegate.ErrorCode(rolegate.CheckCancel(other, requestIn(s))); got != rolegate.EFORBIDDEN {
				t.Errorf("CheckCancel(%s, %s) = %q; want forbidden", other.Subject, s, got)
			}
		}
	}
}

func TestCheckRetryAndAbandon(t *testing.T) {
	abandoned := requestIn(rolegate.StatusFailed)
	abandoned.AbandonedAt = time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		desc        string
		who         rolegate.Principal
		req         *rolegate.Request
		retry, drop string
	}{
		{"an admin on a failed request", admin, requestIn(rolegate.StatusFailed), "", ""},
		{"an admin on an abandoned request", admin, abandoned, rolegate.ECONFLICT, rolegate.ECONFLICT},
		{"an approver on a failed request", approver, requestIn(rolegate.StatusFailed), rolegate.EFORBIDDEN, rolegate.EFORBIDDEN},
		{"the owner on a failed request", owner, requestIn(rolegate.StatusFailed), rolegate.EFORBIDDEN, rolegate.EFORBIDDEN},
	}
	for _, s := range rolegate.AllStatuses {
		if s != rolegate.StatusFailed {
			tests = append(tests, struct {
				desc        string
				who         rolegate.Principal
				req         *rolegate.Request
				retry, drop string
			}{"an admin on a " + string(s) + " request", admin, requestIn(s), rolegate.ECONFLICT, rolegate.ECONFLICT})
		}
	}
	for _, tt := range tests {
		if got := rolegate.ErrorCode(rolegate.CheckRetry(tt.who, tt.req)); got != tt.retry {
			t.Errorf("CheckRetry(%s) = %q; want %q", tt.desc, got, tt.retry)
		}
		if got := rolegate.ErrorCode(rolegate.CheckAbandon(tt.who, tt.req)); got != tt.drop {
			t.Errorf("CheckAbandon(%s) = %q; want %q", tt.desc, got, tt.drop)
		}
	}
}

func TestCanView(t *testing.T) {
	req := requestIn(rolegate.StatusPending)
	tests := []struct {
		who  rolegate.Principal
		want bool
	}{
		{owner, true}, {approver, true}, {auditor, true}, {admin, true}, {stranger, false},
	}
	for _, tt := range tests {
		if got := rolegate.CanView(tt.who, req); got != tt.want {
			t.Errorf("CanView(%s) = %v; want %v", tt.who.Subject, got, tt.want)
		}
	}
}

func TestRequiredApprovals(t *testing.T) {
	tests := []struct {
		base      int
		sensitive bool
		want      int
	}{
		{1, false, 1}, {1, true, 2}, {2, false, 2}, {2, true, 3}, {0, false, 1}, {-3, true, 2},
	}
	for _, tt := range tests {
		if got := rolegate.RequiredApprovals(tt.base, tt.sensitive); got != tt.want {
			t.Errorf("RequiredApprovals(%d, %v) = %d; want %d", tt.base, tt.sensitive, got, tt.want)
		}
	}
}

func TestCanMove(t *testing.T) {
	allowed := map[[2]rolegate.Status]bool{
		{rolegate.StatusPending, rolegate.StatusApproved}:          true,
		{rolegate.StatusPending, rolegate.StatusRejected}:          true,
		{rolegate.StatusPending, rolegate.StatusCancelled}:         true,
		{rolegate.StatusPending, rolegate.StatusExpired}:           true,
		{rolegate.StatusApproved, rolegate.StatusProvisioning}:     true,
		{rolegate.StatusProvisioning, rolegate.StatusProvisioning}: true, // a lease taken over
		{rolegate.StatusProvisioning, rolegate.StatusProvisioned}:  true,
		{rolegate.StatusProvisioning, rolegate.StatusFailed}:       true,
		{rolegate.StatusFailed, rolegate.StatusApproved}:           true, // an admin retries
	}
	for _, from := range rolegate.AllStatuses {
		for _, to := range rolegate.AllStatuses {
			want := allowed[[2]rolegate.Status{from, to}]
			got := rolegate.CanMove(from, to)
			if got != want {
				t.Errorf("CanMove(%s, %s) = %v; want %v", from, to, got, want)
			}
			if from.Final() && got {
				t.Errorf("CanMove(%s, %s) = true out of a final status", from, to)
			}
		}
	}
}

func TestStatusLabelsAreTheProductWords(t *testing.T) {
	want := map[rolegate.Status]string{
		rolegate.StatusPending: "Pending", rolegate.StatusApproved: "Approved", rolegate.StatusProvisioning: "Provisioning",
		rolegate.StatusProvisioned: "Provisioned", rolegate.StatusFailed: "Failed", rolegate.StatusRejected: "Rejected",
		rolegate.StatusCancelled: "Cancelled", rolegate.StatusExpired: "Expired",
	}
	for _, s := range rolegate.AllStatuses {
		if got := s.Label(); got != want[s] {
			t.Errorf("%s.Label() = %q; want %q", s, got, want[s])
		}
		if !s.Valid() {
			t.Errorf("%s.Valid() = false", s)
		}
	}
	if rolegate.Status("approved; DROP TABLE").Valid() {
		t.Errorf("an unknown status is Valid")
	}
}

func TestDue(t *testing.T) {
	deadline := time.Date(2026, 3, 15, 9, 0, 0, 0, time.UTC)
	tests := []struct {
		status rolegate.Status
		now    time.Time
		want   bool
	}{
		{rolegate.StatusPending, deadline.Add(-time.Millisecond), false},
		{rolegate.StatusPending, deadline, true},
		{rolegate.StatusPending, deadline.Add(time.Hour), true},
		{rolegate.StatusApproved, deadline.Add(time.Hour), false},
		{rolegate.StatusExpired, deadline.Add(time.Hour), false},
	}
	for _, tt := range tests {
		r := &rolegate.Request{Status: tt.status, ExpiresAt: deadline}
		if got := r.Due(tt.now); got != tt.want {
			t.Errorf("Request{%s, expires %s}.Due(%s) = %v; want %v", tt.status, deadline, tt.now, got, tt.want)
		}
	}
}

func TestHumanDuration(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want string
	}{
		{336 * time.Hour, "14 days"},
		{24 * time.Hour, "1 day"},
		{36 * time.Hour, "36 hours"},
		{time.Hour, "1 hour"},
		{90 * time.Minute, "90 minutes"},
		{time.Minute, "1 minute"},
		{1500 * time.Millisecond, "1.5s"},
	}
	for _, tt := range tests {
		if got := rolegate.HumanDuration(tt.d); got != tt.want {
			t.Errorf("HumanDuration(%s) = %q; want %q", tt.d, got, tt.want)
		}
	}
	if got, want := rolegate.ExpiryReason(336*time.Hour), "No decision within 14 days of submission."; got != want {
		t.Errorf("ExpiryReason(336h) = %q; want %q", got, want)
	}
}
