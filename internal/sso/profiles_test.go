package sso

import (
	"slices"
	"testing"
	"time"

	"github.com/rolegate/rolegate/internal/sso/ssotest"
)

// Each provider profile, as Finish sees it: what a sign-in and a
// re-authentication (max_age, with or without prompt=login) give.
func TestFinishAgainstProviderProfiles(t *testing.T) {
	t.Parallel()
	tests := []struct {
		profile ssotest.Profile
		// what a plain sign-in gives
		groups        []string
		emailVerified bool
		overage       bool
		authTime      bool
		// the re-authentication with max_age alone, and with prompt=login
		maxAgeErr, promptLoginErr *Error
	}{
		{ssotest.ProfileCompliant, alice.Groups, true, false, true, nil, nil},
		{ssotest.ProfileNoAuthTime, alice.Groups, true, false, false, ErrAuthTimeMissing, nil},
		{ssotest.ProfileGitLab, alice.Groups, true, false, true, nil, nil},
		{ssotest.ProfileGoogle, []string{}, true, false, false, ErrAuthTimeMissing, nil},
		{ssotest.ProfileEntraObjectIDs, []string{ssotest.ObjectID("rolegate-approvers"), ssotest.ObjectID("staff")}, true, false, true, nil, nil},
		{ssotest.ProfileEntraOverage, []string{}, true, true, true, nil, nil},
		{ssotest.ProfileUnverifiedEmail, []string{}, false, false, true, nil, nil},
		// Without the operator's ROLEGATE_OIDC_EMAILS_VERIFIED, an email
		// nobody vouched for is not verified.
		{ssotest.ProfileNoEmailVerified, []string{}, false, false, true, nil, nil},
		// The provider's session is an hour old by the time of the
		// re-authentication, and it says so: refused either way.
		{ssotest.ProfileIgnoresPromptLogin, alice.Groups, true, false, true, ErrAuthTooOld, ErrAuthTooOld},
	}
	for _, tt := range tests {
		t.Run(tt.profile.Name, func(t *testing.T) {
			t.Parallel()
			p := newProvider(t, ssotest.Options{Profile: tt.profile, SigningAlg: "ES256"})
			c := newClient(t, p)
			// What discovery says, which is not always what the tokens do.
			wantListed := tt.authTime && !tt.profile.AuthTimeUnlisted
			if states, listed := c.StatesAuthTime(); !listed || states != wantListed {
				t.Errorf("StatesAuthTime() = %v, %v; want %v, true", states, listed, wantListed)
			}
			if tt.profile.IgnoresPromptLogin {
				p.MutateNextToken(ssotest.Mutation{AuthTime: time.Now().Add(-time.Hour)})
			}
			id, err := signIn(t, c, alice.Subject, 0)
			if err != nil {
				t.Fatalf("sign-in: %v", err)
			}
			if !slices.Equal(id.Groups, tt.groups) || id.EmailVerified != tt.emailVerified || id.GroupsOverage != tt.overage || id.AuthTime.IsZero() == tt.authTime {
				t.Errorf("sign-in = groups %q, email verified %v, overage %v, auth time %v; want %q, %v, %v, auth time stated %v",
					id.Groups, id.EmailVerified, id.GroupsOverage, id.AuthTime, tt.groups, tt.emailVerified, tt.overage, tt.authTime)
			}

			_, err = signIn(t, c, alice.Subject, time.Minute)
			wantReauth(t, "max_age", err, tt.maxAgeErr)

			authURL, a := c.BeginWith(BeginOptions{ReturnTo: "/", MaxAge: time.Minute, PromptLogin: true})
			if q := mustQuery(t, authURL); q.Get("prompt") != "login" || q.Get("max_age") != "60" {
				t.Errorf("prompt=login re-authentication asked prompt=%q max_age=%q; want login and 60", q.Get("prompt"), q.Get("max_age"))
			}
			state, code := authorize(t, authURL, alice.Subject)
			id, err = c.Finish(t.Context(), a, state, code)
			wantReauth(t, "prompt=login", err, tt.promptLoginErr)
			if err == nil && id.AuthTime.IsZero() == tt.authTime {
				t.Errorf("prompt=login re-authentication: auth time %v; want stated %v", id.AuthTime, tt.authTime)
			}
		})
	}
}

func wantReauth(t *testing.T, how string, err error, want *Error) {
	t.Helper()
	if want == nil {
		if err != nil {
			t.Errorf("re-authentication with %s = %v; want success", how, err)
		}
		return
	}
	if ReasonOf(err) != want.Reason {
		t.Errorf("re-authentication with %s = %v; want reason %s", how, err, want.Reason)
	}
}

// A prompt=login round trip accepts a missing auth_time, never a stated
// one that is too old or in the future.
func TestPromptLoginStillChecksAStatedAuthTime(t *testing.T) {
	t.Parallel()
	p := newProvider(t, ssotest.Options{SigningAlg: "ES256"})
	c := newClient(t, p)
	for _, tc := range []struct {
		m    ssotest.Mutation
		want *Error
	}{
		{ssotest.Mutation{OmitAuthTime: true}, nil},
		{ssotest.Mutation{AuthTime: time.Now().Add(-2 * time.Hour)}, ErrAuthTooOld},
		{ssotest.Mutation{AuthTime: time.Now().Add(time.Hour)}, ErrClaimInvalid},
	} {
		p.MutateNextToken(tc.m)
		authURL, a := c.BeginWith(BeginOptions{MaxAge: time.Hour, PromptLogin: true})
		state, code := authorize(t, authURL, alice.Subject)
		_, err := c.Finish(t.Context(), a, state, code)
		wantReauth(t, "prompt=login", err, tc.want)
	}
}

// email_verified counts only as a JSON true or the string "true".
func TestEmailVerifiedClaim(t *testing.T) {
	t.Parallel()
	p := newProvider(t, ssotest.Options{SigningAlg: "ES256"})
	c := newClient(t, p)
	for _, tc := range []struct {
		value any
		want  bool
	}{{true, true}, {"true", true}, {false, false}, {"false", false}, {"yes", false}, {1, false}, {nil, false}} {
		p.MutateNextToken(ssotest.Mutation{EditClaims: func(claims map[string]any) {
			if tc.value == nil {
				delete(claims, "email_verified")
			} else {
				claims["email_verified"] = tc.value
			}
		}})
		id, err := signIn(t, c, alice.Subject, 0)
		if err != nil || id.EmailVerified != tc.want {
			t.Errorf("email_verified %#v: EmailVerified = %v, %v; want %v", tc.value, id.EmailVerified, err, tc.want)
		}
	}
}

// With the operator's statement that the provider's emails are verified
// (Config.EmailsVerified), an email that comes with no email_verified at
// all counts as verified, and says so; a stated one, in the ID token or in
// userinfo, is taken as stated, so false (or anything but true) never
// becomes verified.
func TestOperatorStatesEmailsVerified(t *testing.T) {
	t.Parallel()
	setIDToken := func(v any) func(map[string]any) {
		return func(claims map[string]any) { claims["email_verified"] = v }
	}
	tests := []struct {
		desc                 string
		operator             bool
		idToken, userinfo    func(map[string]any) // edits; nil leaves the profile's answer (no email_verified)
		wantVerified, wantBy bool
	}{
		{"silent provider, no statement", false, nil, nil, false, false},
		{"silent provider, operator's statement", true, nil, nil, true, true},
		{"ID token says false", true, setIDToken(false), nil, false, false},
		{"ID token says \"false\"", true, setIDToken("false"), nil, false, false},
		{"ID token says null", true, setIDToken(nil), nil, false, false},
		{"ID token says something else", true, setIDToken("yes"), nil, false, false},
		{"ID token says true", true, setIDToken(true), nil, true, false},
		{"userinfo says false", true, nil, setIDToken(false), false, false},
		{"userinfo says true", true, nil, setIDToken(true), true, false},
		{"userinfo vouches for another email", true, nil, func(claims map[string]any) {
			claims["email"], claims["email_verified"] = "someone.else@example.com", false
		}, true, true},
	}
	// Groups in the ID token, so that userinfo is asked only to qualify
	// the email.
	p := newProvider(t, ssotest.Options{Profile: ssotest.Profile{Name: "no email_verified", NoEmailVerified: true}, SigningAlg: "ES256"})
	plain := newClient(t, p)
	cfg := testConfig(p)
	cfg.EmailsVerified = true
	trusting := newClientWith(t, cfg)
	for _, tt := range tests {
		c := plain
		if tt.operator {
			c = trusting
		}
		p.MutateNextToken(ssotest.Mutation{EditClaims: tt.idToken, EditUserinfo: tt.userinfo})
		id, err := signIn(t, c, alice.Subject, 0)
		if err != nil {
			t.Errorf("%s: sign-in = %v", tt.desc, err)
			continue
		}
		if id.EmailVerified != tt.wantVerified || id.EmailVerifiedByOperator != tt.wantBy {
			t.Errorf("%s: EmailVerified %v, by operator %v; want %v, %v", tt.desc, id.EmailVerified, id.EmailVerifiedByOperator, tt.wantVerified, tt.wantBy)
		}
		if id.Email != alice.Email {
			t.Errorf("%s: email %q; want the ID token's %q", tt.desc, id.Email, alice.Email)
		}
	}
}

// Entra ID's implicit-flow overage flag is recognized too.
func TestGroupsOverageHasGroups(t *testing.T) {
	t.Parallel()
	p := newProvider(t, ssotest.Options{SigningAlg: "ES256"})
	c := newClient(t, p)
	p.MutateNextToken(ssotest.Mutation{OmitGroups: true, EditClaims: func(claims map[string]any) { claims["hasgroups"] = true }})
	id, err := signIn(t, c, alice.Subject, 0)
	if err != nil || !id.GroupsOverage || len(id.Groups) != 0 {
		t.Errorf("hasgroups: overage %v, groups %q, %v; want overage and no groups", id.GroupsOverage, id.Groups, err)
	}
}
