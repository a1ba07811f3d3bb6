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
)

// Sign-in, approval and re-authentication against each kind of provider
// companies run, configured the way an operator would configure rolegate
// for it (README, "Identity providers"). Rita files a request; Alex, an
// approver whose last authentication at the provider is two hours old,
// approves it.
func TestProvidersAsTheyAre(t *testing.T) {
	type outcome int
	const (
		approved      outcome = iota // after a round trip through the provider
		refusedStale                 // the provider says it did not re-authenticate: auth_too_old
		notAnApprover                // Alex gets no approver role
	)
	tests := []struct {
		profile ssotest.Profile
		env     map[string]string
		// Alex's approver role comes from the groups (names or object ids)
		// or the verified email, as env says.
		want outcome
		// what the approval's audit event must say
		wantMode     string
		wantAuthTime bool
		// the sign-in notice Alex sees instead of the home page
		notice string
	}{
		{profile: ssotest.ProfileCompliant, want: approved, wantMode: "max_age", wantAuthTime: true},
		{profile: ssotest.ProfileNoAuthTime, env: map[string]string{"ROLEGATE_APPROVE_REAUTH": "login"},
			want: approved, wantMode: "login"},
		// GitLab states auth_time but its discovery does not list it, so
		// the start check asks for login mode; the stated auth_time is
		// then checked and recorded as in max_age mode.
		{profile: ssotest.ProfileGitLab, env: map[string]string{"ROLEGATE_APPROVE_REAUTH": "login"},
			want: approved, wantMode: "login", wantAuthTime: true},
		{profile: ssotest.ProfileGoogle, env: map[string]string{"ROLEGATE_APPROVE_REAUTH": "login", "ROLEGATE_APPROVER_GROUPS": "", "ROLEGATE_APPROVER_EMAILS": "Alex@Example.com"},
			want: approved, wantMode: "login"},
		{profile: ssotest.ProfileEntraObjectIDs, env: map[string]string{"ROLEGATE_APPROVER_GROUPS": ssotest.ObjectID("approvers")},
			want: approved, wantMode: "max_age", wantAuthTime: true},
		{profile: ssotest.ProfileEntraOverage, env: map[string]string{"ROLEGATE_APPROVER_GROUPS": ssotest.ObjectID("approvers")},
			want: notAnApprover, notice: "Your groups could not be read"},
		{profile: ssotest.ProfileUnverifiedEmail, env: map[string]string{"ROLEGATE_APPROVE_REAUTH": "login", "ROLEGATE_APPROVER_GROUPS": "", "ROLEGATE_APPROVER_EMAILS": "alex@example.com"},
			want: notAnApprover},
		// The operator's statement that the provider's emails are verified
		// never overrules a stated email_verified false.
		{profile: ssotest.ProfileUnverifiedEmail, env: map[string]string{"ROLEGATE_APPROVE_REAUTH": "login", "ROLEGATE_APPROVER_GROUPS": "", "ROLEGATE_APPROVER_EMAILS": "alex@example.com", "ROLEGATE_OIDC_EMAILS_VERIFIED": "1"},
			want: notAnApprover},
		// A provider that never sends email_verified: no role by email
		// unless the operator states its emails are verified.
		{profile: ssotest.ProfileNoEmailVerified, env: map[string]string{"ROLEGATE_APPROVE_REAUTH": "login", "ROLEGATE_APPROVER_GROUPS": "", "ROLEGATE_APPROVER_EMAILS": "alex@example.com"},
			want: notAnApprover},
		{profile: ssotest.ProfileNoEmailVerified, env: map[string]string{"ROLEGATE_APPROVE_REAUTH": "login", "ROLEGATE_APPROVER_GROUPS": "", "ROLEGATE_APPROVER_EMAILS": "alex@example.com", "ROLEGATE_OIDC_EMAILS_VERIFIED": "1"},
			want: approved, wantMode: "login", wantAuthTime: true},
		{profile: ssotest.ProfileIgnoresPromptLogin, want: refusedStale},
		{profile: ssotest.ProfileIgnoresPromptLogin, env: map[string]string{"ROLEGATE_APPROVE_REAUTH": "login"}, want: refusedStale},
	}
	for _, tt := range tests {
		name := tt.profile.Name
		if mode := tt.env["ROLEGATE_APPROVE_REAUTH"]; mode != "" {
			name += ", " + mode
		}
		if tt.env["ROLEGATE_OIDC_EMAILS_VERIFIED"] != "" {
			name += ", emails verified by the operator"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			p := newSSOPortal(t, ssoOptions{Env: tt.env, Provider: ssotest.Options{Profile: tt.profile}})
			// A requester in no group, whom no profile treats specially.
			nora := ssotest.User{Subject: "u-nora", Email: "nora@example.com", Name: "Nora Newcomer"}
			p.IdP.AddUser(nora)
			id := p.fileRequest(p.signIn(nora.Subject), "Provider Reader")

			p.IdP.MutateNextToken(ssotest.Mutation{AuthTime: time.Now().Add(-2 * time.Hour)})
			approver := p.newBrowser()
			res := approver.get(p.atProvider(p.beginSignIn(approver, "/auth/login"), alex.Subject))
			if tt.notice != "" {
				if res.StatusCode != http.StatusOK || !strings.Contains(res.Body, tt.notice) || !strings.Contains(res.Body, "Continue") {
					t.Fatalf("sign-in = %d; want the notice %q with a way on\n%s", res.StatusCode, tt.notice, res.Body)
				}
				if !strings.Contains(p.Logs.String(), "groups overage") {
					t.Errorf("no log line about the groups overage:\n%s", p.Logs)
				}
			} else if res.StatusCode != http.StatusSeeOther {
				t.Fatalf("sign-in = %d; want 303\n%s", res.StatusCode, res.Body)
			}
			roles := p.personRoles(p.IdP.Issuer(), alex.Subject)
			if isApprover := slices.Contains(roles, string(rolegate.RoleApprover)); isApprover != (tt.want != notAnApprover) {
				t.Fatalf("Alex's roles = %v; approver %v, want %v", roles, isApprover, tt.want != notAnApprover)
			}
			if tt.want == notAnApprover && tt.env["ROLEGATE_APPROVER_EMAILS"] != "" && !strings.Contains(p.Logs.String(), "a role by email was not given") {
				t.Errorf("no log line says why Alex's email gave no role:\n%s", p.Logs)
			}
			if tt.want == notAnApprover {
				if page := approver.get(requestURL(id)); page.StatusCode != http.StatusNotFound && strings.Contains(page.Body, `/approve"`) {
					t.Errorf("a person without the approver role is offered Approve")
				}
				return
			}

			hash := regexpFind(t, approver.get(requestURL(id)).Body, `name="payload_hash" value="([0-9a-f]{64})"`)
			authURL := p.startApproval(approver, id, hash)
			wantPrompt := ""
			if tt.env["ROLEGATE_APPROVE_REAUTH"] == "login" {
				wantPrompt = "login"
			}
			if got := authURL.Query().Get("prompt"); got != wantPrompt {
				t.Errorf("re-authentication prompt = %q; want %q", got, wantPrompt)
			}
			res = approver.get(p.atProvider(authURL, alex.Subject))
			if tt.want == refusedStale {
				if res.StatusCode != http.StatusUnauthorized || !strings.Contains(res.Body, "did not ask you to authenticate again") {
					t.Errorf("re-authentication at a provider that ignores it = %d; want 401 and the sign-in failed page\n%s", res.StatusCode, res.Body)
				}
				p.wantStatus(id, rolegate.StatusPending, "after a refused re-authentication")
				return
			}
			if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != requestURL(id) {
				t.Fatalf("callback after re-authentication = %d to %q; want 303 to the approved request\n%s", res.StatusCode, res.Header.Get("Location"), res.Body)
			}
			p.wantStatus(id, rolegate.StatusApproved, "after the re-authenticated approval")
			events := p.events(rolegate.ActionRequestApproved)
			if len(events) != 1 {
				t.Fatalf("%d approval events; want 1", len(events))
			}
			d := events[0].Details
			_, hasAuthTime := d["auth_time"]
			if d["reauth_mode"] != tt.wantMode || hasAuthTime != tt.wantAuthTime || d["reauth_round_trip"] != true {
				t.Errorf("approval event details = %v; want reauth_mode %q, auth_time stated %v, reauth_round_trip", d, tt.wantMode, tt.wantAuthTime)
			}
			if _, stepUp := d["step_up_at"]; stepUp == tt.wantAuthTime {
				t.Errorf("approval event details = %v; want step_up_at exactly when no auth_time was stated", d)
			}
		})
	}
}

// In login mode a completed prompt=login round trip counts for
// ROLEGATE_APPROVE_MAX_AUTH_AGE like a stated auth_time: the next approval
// needs no detour, and says how it was backed.
func TestLoginModeRoundTripLastsTheMaxAge(t *testing.T) {
	t.Parallel()
	p := newSSOPortal(t, ssoOptions{Env: map[string]string{"ROLEGATE_APPROVE_REAUTH": "login"}, Provider: ssotest.Options{Profile: ssotest.ProfileNoAuthTime}})
	requester := p.signIn(rita.Subject)
	first, second := p.fileRequest(requester, "First Reader"), p.fileRequest(requester, "Second Reader")
	approver := p.signIn(alex.Subject)
	hash := regexpFind(t, approver.get(requestURL(first)).Body, `name="payload_hash" value="([0-9a-f]{64})"`)
	if res := approver.get(p.atProvider(p.startApproval(approver, first, hash), alex.Subject)); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("first approval's round trip = %d; want 303", res.StatusCode)
	}
	hash = regexpFind(t, approver.get(requestURL(second)).Body, `name="payload_hash" value="([0-9a-f]{64})"`)
	res := approver.postWithToken(requestURL(second)+"/approve", url.Values{"payload_hash": {hash}})
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != requestURL(second) {
		t.Fatalf("second approval right after a round trip = %d to %q; want 303 to the request (no detour)", res.StatusCode, res.Header.Get("Location"))
	}
	events := p.events(rolegate.ActionRequestApproved)
	if len(events) != 2 {
		t.Fatalf("%d approval events; want 2", len(events))
	}
	if d := events[1].Details; d["reauth_mode"] != "login" || d["step_up_at"] == nil || d["reauth_round_trip"] != nil || d["auth_time"] != nil {
		t.Errorf("second approval's details = %v; want login mode, the step-up time, no round trip, no auth_time", d)
	}
	// Past the max age, the next one goes through the provider again.
	p.Clock.Advance(61 * time.Minute)
	third := p.fileRequest(requester, "Third Reader")
	hash = regexpFind(t, approver.get(requestURL(third)).Body, `name="payload_hash" value="([0-9a-f]{64})"`)
	p.startApproval(approver, third, hash)
}

// In max_age mode a provider that never states auth_time makes approving
// impossible: the approver is told what the operator must change, the log
// says it too, and the next approval says so at once instead of sending
// the approver through the provider again.
func TestMaxAgeModeWithoutAuthTimeIsNoDeadEnd(t *testing.T) {
	t.Parallel()
	p := newSSOPortal(t, ssoOptions{Provider: ssotest.Options{Profile: ssotest.ProfileNoAuthTime}})
	id := p.fileRequest(p.signIn(rita.Subject), "Dead End Reader")
	approver := p.signIn(alex.Subject)
	hash := regexpFind(t, approver.get(requestURL(id)).Body, `name="payload_hash" value="([0-9a-f]{64})"`)
	res := approver.get(p.atProvider(p.startApproval(approver, id, hash), alex.Subject))
	wantOperatorPage := func(res page, when string) {
		t.Helper()
		if res.StatusCode != http.StatusServiceUnavailable {
			t.Errorf("%s: status %d; want 503", when, res.StatusCode)
		}
		for _, want := range []string{"Approving needs a setting changed", "ROLEGATE_APPROVE_REAUTH=login", `href="` + requestURL(id) + `"`} {
			if !strings.Contains(res.Body, want) {
				t.Errorf("%s: the page lacks %q\n%s", when, want, res.Body)
			}
		}
		if strings.Contains(res.Body, `href="/auth/login`) {
			t.Errorf("%s: the page offers to sign in again, which would end the same way", when)
		}
	}
	wantOperatorPage(res, "the callback without auth_time")
	if logs := p.Logs.String(); !strings.Contains(logs, "ROLEGATE_APPROVE_REAUTH=login") {
		t.Errorf("no log line naming ROLEGATE_APPROVE_REAUTH:\n%s", logs)
	}
	if events := p.events(rolegate.ActionSignInFailed); len(events) != 1 || events[0].Details["reason"] != "auth_time_missing" {
		t.Errorf("%s events = %v; want one with reason auth_time_missing", rolegate.ActionSignInFailed, events)
	}
	wantSignedIn(t, approver, "after the failed re-authentication")

	before := len(p.IdP.AuthorizeQueries())
	res = approver.postWithToken(requestURL(id)+"/approve", url.Values{"payload_hash": {hash}})
	wantOperatorPage(res, "the next approval")
	if after := len(p.IdP.AuthorizeQueries()); after != before {
		t.Errorf("the next approval went through the provider again")
	}
	p.wantStatus(id, rolegate.StatusPending, "after approvals that could not complete")
}

// In off mode the session alone backs an approval, and the audit trail
// says so.
func TestOffModeApprovesWithoutDetour(t *testing.T) {
	t.Parallel()
	p := newSSOPortal(t, ssoOptions{Env: map[string]string{"ROLEGATE_APPROVE_REAUTH": "off"}})
	id := p.fileRequest(p.signIn(rita.Subject), "Off Reader")
	p.IdP.MutateNextToken(ssotest.Mutation{AuthTime: time.Now().Add(-5 * time.Hour)})
	approver := p.signIn(alex.Subject)
	hash := regexpFind(t, approver.get(requestURL(id)).Body, `name="payload_hash" value="([0-9a-f]{64})"`)
	res := approver.postWithToken(requestURL(id)+"/approve", url.Values{"payload_hash": {hash}})
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != requestURL(id) {
		t.Fatalf("Approve in off mode = %d to %q; want 303 to the request", res.StatusCode, res.Header.Get("Location"))
	}
	if events := p.events(rolegate.ActionRequestApproved); len(events) != 1 || events[0].Details["reauth_mode"] != "off" || events[0].Details["auth_time"] == nil {
		t.Errorf("approval events = %v; want one with reauth_mode off and the session's auth_time", events)
	}
}

// The admin page says which mode is in force.
func TestAdminPageShowsTheReauthMode(t *testing.T) {
	t.Parallel()
	p := newSSOPortal(t, ssoOptions{Env: map[string]string{"ROLEGATE_APPROVE_REAUTH": "login"}})
	page := p.signIn(drew.Subject).get("/admin")
	for _, want := range []string{"ROLEGATE_APPROVE_REAUTH", "<strong>login</strong>", "prompt=login"} {
		if !strings.Contains(page.Body, want) {
			t.Errorf("the admin page lacks %q", want)
		}
	}
}
