package web_test

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rolegate/rolegate/internal/rolegate"
	"github.com/rolegate/rolegate/internal/sso/ssotest"
	"github.com/rolegate/rolegate/internal/testkit"
	"github.com/rolegate/rolegate/web"
)

// personRoles reads the portal roles a person got at their last sign-in.
func (h *harness) personRoles(issuer, subject string) []string {
	h.t.Helper()
	db := testkit.OpenReadOnly(h.t, h.App.Store.Path())
	var roles string
	if err := db.QueryRowContext(h.t.Context(), `SELECT roles FROM people WHERE person_key = ?`, issuer+"|"+subject).Scan(&roles); err != nil {
		h.t.Fatalf("roles of %s|%s: %v", issuer, subject, err)
	}
	if roles == "" {
		return nil
	}
	return strings.Split(roles, ",")
}

// pagesFor are the route table's plain GET pages that need role.
func pagesFor(s *web.Server, role rolegate.PortalRole) []string {
	var paths []string
	for _, r := range s.Routes() {
		if r.Method == http.MethodGet && r.Access.Role() == role && !strings.ContainsAny(r.Path, ":*") {
			paths = append(paths, r.Path)
		}
	}
	return paths
}

// wantRoles checks the roles recorded for the person and that b reaches
// exactly the pages of those roles (403 for the others).
func (p *ssoPortal) wantRoles(b *browser, u ssotest.User, want ...rolegate.PortalRole) {
	p.t.Helper()
	var wantNames []string
	for _, r := range want {
		wantNames = append(wantNames, string(r))
	}
	if got := p.personRoles(p.IdP.Issuer(), u.Subject); !slices.Equal(got, wantNames) {
		p.t.Errorf("%s with groups %q got roles %q; want %q", u.Name, u.Groups, got, wantNames)
	}
	for _, role := range rolegate.AllPortalRoles {
		status := http.StatusForbidden
		if slices.Contains(want, role) {
			status = http.StatusOK
		}
		for _, path := range pagesFor(p.Server, role) {
			if res := b.get(path); res.StatusCode != status {
				p.t.Errorf("%s (groups %q) GET %s = %d; want %d", u.Name, u.Groups, path, res.StatusCode, status)
			} else if status == http.StatusForbidden && !strings.Contains(res.Body, "Not allowed") {
				p.t.Errorf("%s GET %s: the 403 page lacks its title", u.Name, path)
			}
		}
	}
}

// The portal roles come from the groups claim and the ROLEGATE_*_GROUPS
// settings.
func TestSSOGroupMapping(t *testing.T) {
	var (
		R = rolegate.RoleRequester
		P = rolegate.RoleApprover
		A = rolegate.RoleAuditor
		D = rolegate.RoleAdmin
	)
	everyone := map[string][]rolegate.PortalRole{
		rita.Subject: {R}, alex.Subject: {R, P}, casey.Subject: {R, A}, drew.Subject: {R, D},
	}
	staffOnly := map[string][]rolegate.PortalRole{
		rita.Subject: {R}, alex.Subject: {R, P}, casey.Subject: {A}, drew.Subject: {D},
	}
	tests := []struct {
		name  string
		env   map[string]string
		roles map[string][]rolegate.PortalRole // by subject
	}{
		{"ROLEGATE_REQUESTER_GROUPS unset: everyone requests", nil, everyone},
		{"ROLEGATE_REQUESTER_GROUPS=staff", map[string]string{"ROLEGATE_REQUESTER_GROUPS": "staff"}, staffOnly},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := newSSOPortal(t, ssoOptions{Env: tt.env})
			for _, u := range []ssotest.User{rita, alex, casey, drew} {
				p.wantRoles(p.signIn(u.Subject), u, tt.roles[u.Subject]...)
			}
			if len(pagesFor(p.Server, rolegate.RoleApprover)) == 0 || len(pagesFor(p.Server, rolegate.RoleAdmin)) == 0 {
				t.Fatalf("the route table has no approver or admin page to check")
			}
			if n := len(p.events(rolegate.ActionAccessDenied)); n == 0 {
				t.Errorf("no %s events for the refused pages", rolegate.ActionAccessDenied)
			}
		})
	}
}

// Groups are read again at every sign-in: a person who left the approvers'
// group is no approver at their next sign-in.
func TestSSOGroupsAreReadAtEverySignIn(t *testing.T) {
	p := newSSOPortal(t, ssoOptions{})
	p.wantRoles(p.signIn(alex.Subject), alex, rolegate.RoleRequester, rolegate.RoleApprover)

	moved := alex
	moved.Groups = []string{"staff", "auditors"}
	p.IdP.AddUser(moved)
	p.wantRoles(p.signIn(alex.Subject), moved, rolegate.RoleRequester, rolegate.RoleAuditor)
}

// A provider that sends no groups claim (neither in the ID token nor from
// userinfo) signs the person in with what no groups grant.
func TestSSOMissingGroupsClaim(t *testing.T) {
	t.Run("requester groups unset", func(t *testing.T) {
		p := newSSOPortal(t, ssoOptions{})
		p.IdP.MutateNextToken(ssotest.Mutation{OmitGroups: true})
		p.wantRoles(p.signIn(alex.Subject), alex, rolegate.RoleRequester)
	})
	t.Run("requester groups set", func(t *testing.T) {
		p := newSSOPortal(t, ssoOptions{Env: map[string]string{"ROLEGATE_REQUESTER_GROUPS": "staff"}})
		p.IdP.MutateNextToken(ssotest.Mutation{OmitGroups: true})
		b := p.signIn(alex.Subject)
		p.wantRoles(b, alex)
		wantSignedIn(t, b, "a person without roles")
	})
	t.Run("groups only from userinfo", func(t *testing.T) {
		p := newSSOPortal(t, ssoOptions{})
		p.IdP.MutateNextToken(ssotest.Mutation{ClaimsOnlyInUserinfo: true})
		p.wantRoles(p.signIn(alex.Subject), alex, rolegate.RoleRequester, rolegate.RoleApprover)
	})
}

// approvalSetup files a request as Rita and signs Alex in with an
// authentication at the provider two hours old.
func approvalSetup(t *testing.T) (p *ssoPortal, approver *browser, id int64, hash string) {
	t.Helper()
	p = newSSOPortal(t, ssoOptions{})
	id = p.fileRequest(p.signIn(rita.Subject), "Reauth Reader")
	p.IdP.MutateNextToken(ssotest.Mutation{AuthTime: time.Now().Add(-2 * time.Hour)})
	approver = p.signIn(alex.Subject)
	page := approver.get(requestURL(id))
	hash = regexpFind(t, page.Body, `name="payload_hash" value="([0-9a-f]{64})"`)
	return p, approver, id, hash
}

// startApproval posts Approve and expects to be sent to re-authenticate.
func (p *ssoPortal) startApproval(b *browser, id int64, hash string) *url.URL {
	p.t.Helper()
	res := b.postWithToken(requestURL(id)+"/approve", url.Values{"payload_hash": {hash}, "comment": {"Checked the permissions."}})
	loc, _ := url.Parse(res.Header.Get("Location"))
	if res.StatusCode != http.StatusSeeOther || loc == nil || !strings.HasPrefix(loc.String(), p.IdP.Issuer()+"/authorize?") {
		p.t.Fatalf("Approve with a 2h old authentication = %d to %q; want 303 to the provider", res.StatusCode, res.Header.Get("Location"))
	}
	if got, want := loc.Query().Get("max_age"), "3600"; got != want {
		p.t.Errorf("re-authentication max_age = %q; want %q (ROLEGATE_APPROVE_MAX_AUTH_AGE)", got, want)
	}
	p.wantStatus(id, rolegate.StatusPending, "while the approver re-authenticates")
	return loc
}

func (p *ssoPortal) wantStatus(id int64, want rolegate.Status, when string) {
	p.t.Helper()
	req, err := p.Requests.Get(p.t.Context(), id)
	if err != nil {
		p.t.Fatal(err)
	}
	if req.Status != want {
		p.t.Errorf("%s: request #%d is %s; want %s", when, id, req.Status, want)
	}
}

// Approving with an authentication older than ROLEGATE_APPROVE_MAX_AUTH_AGE
// sends the approver through the provider again with max_age, and the
// approval completes when they come back.
func TestApproveReauthentication(t *testing.T) {
	t.Run("round trip", func(t *testing.T) {
		p, approver, id, hash := approvalSetup(t)
		before := *approver.sessionCookie()
		authURL := p.startApproval(approver, id, hash)

		res := approver.get(p.atProvider(authURL, alex.Subject))
		if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != requestURL(id) {
			t.Fatalf("callback after re-authentication = %d to %q; want 303 to %s\n%s",
				res.StatusCode, res.Header.Get("Location"), requestURL(id), res.Body)
		}
		select {
		case got := <-p.HandedOff:
			if got != id {
				t.Errorf("handed off #%d; want #%d", got, id)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("the approval was not handed to provisioning")
		}
		p.wantStatus(id, rolegate.StatusApproved, "after the re-authenticated approval")
		if after := approver.sessionCookie(); after == nil || after.Value == before.Value {
			t.Errorf("re-authentication kept the session id")
		}
		if page := approver.get(requestURL(id)); !strings.Contains(page.Body, "Approved") || !strings.Contains(page.Body, "Your approval was recorded.") {
			t.Errorf("the request page does not say Approved, with the approver's flash, after the round trip")
		}

		// Now fresh, the next approval needs no detour.
		next := p.fileRequest(p.signIn(rita.Subject), "Second Reader")
		page := approver.get(requestURL(next))
		res = approver.postWithToken(requestURL(next)+"/approve", url.Values{"payload_hash": {regexpFind(t, page.Body, `name="payload_hash" value="([0-9a-f]{64})"`)}})
		if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != requestURL(next) {
			t.Errorf("Approve right after re-authenticating = %d to %q; want 303 to the request", res.StatusCode, res.Header.Get("Location"))
		}
	})

	t.Run("someone else signs in at the provider", func(t *testing.T) {
		p, approver, id, hash := approvalSetup(t)
		authURL := p.startApproval(approver, id, hash)
		res := approver.get(p.atProvider(authURL, drew.Subject))
		if res.StatusCode != http.StatusForbidden {
			t.Errorf("re-authenticating as another person = %d; want 403", res.StatusCode)
		}
		p.wantStatus(id, rolegate.StatusPending, "after re-authenticating as someone else")
	})

	t.Run("the request is cancelled while the approver re-authenticates", func(t *testing.T) {
		p, approver, id, hash := approvalSetup(t)
		authURL := p.startApproval(approver, id, hash)
		requester := p.signIn(rita.Subject)
		if res := requester.postWithToken(requestURL(id)+"/cancel", nil); res.StatusCode != http.StatusSeeOther {
			t.Fatalf("the requester cancelling = %d; want 303", res.StatusCode)
		}
		// Refused on return: the request's page says why, once, with the
		// comment the approver wrote, on the new session.
		res := approver.refused(approver.get(p.atProvider(authURL, alex.Subject)), requestURL(id))
		if !strings.Contains(summary(res), "This request is Cancelled; it can no longer be decided.") ||
			!strings.Contains(text(element(res.Body, "unsent-comment")), "Checked the permissions.") {
			t.Errorf("after re-authenticating for a request cancelled meanwhile, the page says %q; want why, with the comment", summary(res))
		}
		if again := approver.get(requestURL(id)); summary(again) != "" {
			t.Errorf("reloading the request still shows the refused approval: %q", summary(again))
		}
		p.wantStatus(id, rolegate.StatusCancelled, "after the refused approval")
	})

	t.Run("an approval that would be refused is refused before the detour", func(t *testing.T) {
		p, approver, id, hash := approvalSetup(t)
		long := strings.Repeat("Long comment. ", 100)
		res := approver.refused(approver.postWithToken(requestURL(id)+"/approve", url.Values{"payload_hash": {hash}, "comment": {long}}), requestURL(id))
		if !strings.Contains(res.Body, "at most 1000 characters") || !strings.Contains(res.Body, long) {
			t.Errorf("Approve with a 1,400-character comment: the request page does not give the message and keep the comment\n%s", res.Body)
		}
		res = approver.refused(approver.postWithToken(requestURL(id)+"/approve", url.Values{"payload_hash": {strings.Repeat("0", 64)}}), requestURL(id))
		if !strings.Contains(summary(res), "The call you reviewed (its method, path and body) is not the one on file") {
			t.Errorf("Approve of a payload other than the one on file: the request page says %q; want the payload named", summary(res))
		}
		p.wantStatus(id, rolegate.StatusPending, "after refused approvals")
	})

	t.Run("the provider does not authenticate again", func(t *testing.T) {
		p, approver, id, hash := approvalSetup(t)
		authURL := p.startApproval(approver, id, hash)
		p.IdP.MutateNextToken(ssotest.Mutation{AuthTime: time.Now().Add(-3 * time.Hour)})
		res := approver.get(p.atProvider(authURL, alex.Subject))
		if res.StatusCode != http.StatusUnauthorized || !strings.Contains(res.Body, "Sign-in failed") {
			t.Errorf("re-authentication with a stale auth_time = %d; want 401 and the sign-in failed page", res.StatusCode)
		}
		events := p.events(rolegate.ActionSignInFailed)
		if len(events) != 1 || events[0].Details["reason"] != "auth_too_old" || events[0].ActorKey != p.IdP.Issuer()+"|"+alex.Subject {
			t.Errorf("%s events = %+v; want one by Alex with reason auth_too_old", rolegate.ActionSignInFailed, events)
		}
		if !strings.Contains(res.Body, `href="/auth/login?return_to=`+url.QueryEscape(requestURL(id))+`"`) {
			t.Errorf("Try again does not lead back to the request:\n%s", res.Body)
		}
		p.wantStatus(id, rolegate.StatusPending, "after a failed re-authentication")
	})
}
