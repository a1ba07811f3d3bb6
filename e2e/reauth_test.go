package e2e

import (
	"fmt"
	"testing"
	"time"

	"github.com/rolegate/rolegate/internal/sso/ssotest"
	"github.com/rolegate/rolegate/internal/testkit"
)

// With a provider that never states auth_time (GitLab, Dex, Google by
// default), an operator sets ROLEGATE_APPROVE_REAUTH=login: approving sends
// the approver back to the provider with prompt=login, they sign in again
// there, and the approval completes and is provisioned.
func TestApprovalReauthenticatesWithPromptLoginAtAProviderWithoutAuthTime(t *testing.T) {
	testkit.NeedsBrowser(t)
	t.Parallel()
	p := startPortalWithProvider(t, map[string]string{"ROLEGATE_APPROVE_REAUTH": "login"}, ssotest.ProfileNoAuthTime)
	b := newBrowser(t)
	form := requestForm{
		RoleName:      "e2e login mode readers",
		Permissions:   []string{"api.groups.read"},
		Justification: "Reviewed every quarter by the security team.",
	}
	id := fileRequest(p.signIn(t, b, riley), form)

	approver := p.signIn(t, b, avery)
	openFromReviews(approver, form.RoleName)
	before := len(p.IdP.AuthorizeQueries())
	// The provider stated no auth_time at sign-in: approving goes through
	// its sign-in page again.
	approver.follow(button("Approve"))
	approver.follow(button("Sign in as " + avery.Name))
	if got, want := approver.path(), fmt.Sprintf("/requests/%d", id); got != want {
		t.Fatalf("after re-authenticating the approver is at %s; want %s", got, want)
	}
	approver.seeText("Your approval was recorded.") // the approver's own flash, once
	approver.seeText("Approved")
	approver.waitForStatus("Provisioned", 15*time.Second)

	asked := p.IdP.AuthorizeQueries()
	if len(asked) != before+1 {
		t.Fatalf("the provider was asked %d times while approving; want once", len(asked)-before)
	}
	if q := asked[len(asked)-1]; q.Get("prompt") != "login" || q.Get("max_age") == "" {
		t.Errorf("the re-authentication asked prompt=%q max_age=%q; want prompt=login and a max_age", q.Get("prompt"), q.Get("max_age"))
	}
}
