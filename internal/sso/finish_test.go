package sso

import (
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rolegate/rolegate/internal/sso/ssotest"
)

func TestSignInHappyPath(t *testing.T) {
	t.Parallel()
	p := newProvider(t, ssotest.Options{})
	c := newClient(t, p)

	authURL, a := c.Begin("/requests/12?x=1", 0)
	u, err := url.Parse(authURL)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	for k, want := range map[string]string{
		"response_type":         "code",
		"client_id":             p.ClientID(),
		"redirect_uri":          testRedirectURL,
		"state":                 a.State,
		"nonce":                 a.Nonce,
		"code_challenge_method": "S256",
	} {
		if got := q.Get(k); got != want {
			t.Errorf("auth URL %s = %q; want %q", k, got, want)
		}
	}
	if q.Get("code_challenge") == "" || q.Has("max_age") || q.Has("code_verifier") {
		t.Errorf("auth URL query %v: want a code_challenge, no max_age, no verifier", q)
	}
	if !slices.Contains(strings.Fields(q.Get("scope")), "openid") {
		t.Errorf("scope %q lacks openid", q.Get("scope"))
	}
	if a.ReturnTo != "/requests/12?x=1" || a.MaxAge != 0 || a.CreatedAt.IsZero() {
		t.Errorf("attempt = %+v", a)
	}

	before := time.Now().Add(-2 * time.Second)
	state, code := authorize(t, authURL, alice.Subject)
	id, err := c.Finish(t.Context(), a, state, code)
	if err != nil {
		t.Fatalf("Finish: %v", err)
	}
	if id.Issuer != p.Issuer() || id.Subject != alice.Subject || id.Email != alice.Email || id.Name != alice.Name {
		t.Errorf("identity = %+v; want alice at %s", id, p.Issuer())
	}
	if !slices.Equal(id.Groups, alice.Groups) {
		t.Errorf("groups = %q; want %q", id.Groups, alice.Groups)
	}
	if id.AuthTime.Before(before) || id.AuthTime.After(time.Now().Add(time.Second)) {
		t.Errorf("auth time = %v; want about now", id.AuthTime)
	}
	if strings.Count(id.IDToken, ".") != 2 {
		t.Errorf("raw ID token %q is not a JWS", id.IDToken)
	}
}

func TestSignInES256(t *testing.T) {
	t.Parallel()
	p := newProvider(t, ssotest.Options{SigningAlg: "ES256"})
	id, err := signIn(t, newClient(t, p), bob.Subject, 0)
	if err != nil || id.Subject != bob.Subject {
		t.Fatalf("sign-in = %+v, %v; want bob", id, err)
	}
}

func TestBeginIsFreshEachTime(t *testing.T) {
	t.Parallel()
	c := newClient(t, newProvider(t, ssotest.Options{}))
	_, a1 := c.Begin("/", 0)
	_, a2 := c.Begin("/", 0)
	if a1.State == a2.State || a1.Nonce == a2.Nonce || a1.CodeVerifier == a2.CodeVerifier {
		t.Errorf("two attempts share values: %+v %+v", a1, a2)
	}
	if len(a1.State) < 32 || len(a1.Nonce) < 32 || len(a1.CodeVerifier) < 43 {
		t.Errorf("attempt values too short: %+v", a1)
	}
	for _, evil := range []string{"//evil.com", "https://evil.com/x", "/\\evil.com"} {
		if _, a := c.Begin(evil, 0); a.ReturnTo != "/" {
			t.Errorf("Begin(%q).ReturnTo = %q; want %q", evil, a.ReturnTo, "/")
		}
	}
}

func TestFinishWrongState(t *testing.T) {
	t.Parallel()
	p := newProvider(t, ssotest.Options{})
	c := newClient(t, p)
	authURL, a := c.Begin("/", 0)
	_, code := authorize(t, authURL, alice.Subject)

	_, other := c.Begin("/", 0)
	for name, tc := range map[string]struct {
		a     Attempt
		state string
	}{
		"other attempt's state": {a, other.State},
		"empty state":           {a, ""},
		"empty stored state":    {Attempt{Nonce: a.Nonce, CodeVerifier: a.CodeVerifier, CreatedAt: a.CreatedAt}, ""},
		"state of a prefix":     {a, a.State[:10]},
	} {
		_, err := c.Finish(t.Context(), tc.a, tc.state, code)
		t.Run(name, func(t *testing.T) { wantError(t, err, ErrStateMismatch, code) })
	}
	// The code was never sent to the provider: it still works.
	if _, err := c.Finish(t.Context(), a, a.State, code); err != nil {
		t.Fatalf("Finish with the right state after refusals: %v", err)
	}
}

func TestFinishReusedCode(t *testing.T) {
	t.Parallel()
	p := newProvider(t, ssotest.Options{})
	c := newClient(t, p)
	authURL, a := c.Begin("/", 0)
	state, code := authorize(t, authURL, alice.Subject)
	if _, err := c.Finish(t.Context(), a, state, code); err != nil {
		t.Fatalf("first Finish: %v", err)
	}
	_, err := c.Finish(t.Context(), a, state, code)
	wantError(t, err, ErrExchangeFailed, code, a.CodeVerifier, p.ClientSecret())
	if !strings.Contains(err.Error(), "invalid_grant") {
		t.Errorf("error %q does not say invalid_grant", err)
	}
}

func TestFinishMissingCode(t *testing.T) {
	t.Parallel()
	c := newClient(t, newProvider(t, ssotest.Options{}))
	_, a := c.Begin("/", 0)
	_, err := c.Finish(t.Context(), a, a.State, "")
	wantError(t, err, ErrExchangeFailed)
}

func TestFinishWrongVerifier(t *testing.T) {
	t.Parallel()
	p := newProvider(t, ssotest.Options{})
	c := newClient(t, p)
	authURL, a := c.Begin("/", 0)
	state, code := authorize(t, authURL, alice.Subject)
	_, other := c.Begin("/", 0)
	a.CodeVerifier = other.CodeVerifier
	_, err := c.Finish(t.Context(), a, state, code)
	wantError(t, err, ErrExchangeFailed, code, a.CodeVerifier, p.ClientSecret())
}

func TestFinishWrongClientSecret(t *testing.T) {
	t.Parallel()
	p := newProvider(t, ssotest.Options{})
	cfg := testConfig(p)
	cfg.ClientSecret = "not-the-secret-at-all"
	c := newClientWith(t, cfg)
	_, err := signIn(t, c, alice.Subject, 0)
	wantError(t, err, ErrExchangeFailed, cfg.ClientSecret, p.ClientSecret())
}

func TestFinishAttemptChecks(t *testing.T) {
	t.Parallel()
	c := newClient(t, newProvider(t, ssotest.Options{}))
	_, a := c.Begin("/", 0)

	old := a
	old.CreatedAt = time.Now().Add(-AttemptLifetime - time.Minute)
	_, err := c.Finish(t.Context(), old, old.State, "some-code")
	wantError(t, err, ErrAttemptExpired, "some-code")

	noNonce := a
	noNonce.Nonce = ""
	_, err = c.Finish(t.Context(), noNonce, a.State, "some-code")
	wantError(t, err, ErrAttemptInvalid)

	noVerifier := a
	noVerifier.CodeVerifier = ""
	_, err = c.Finish(t.Context(), noVerifier, a.State, "some-code")
	wantError(t, err, ErrAttemptInvalid)
}

// TestFinishRejectsBadTokens covers what the verifier and the checks after
// it must refuse. Each case signs in once with one knob turned.
func TestFinishRejectsBadTokens(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		m    ssotest.Mutation
		want *Error
	}{
		{"wrong nonce", ssotest.Mutation{WrongNonce: true}, ErrNonceMismatch},
		{"no nonce", ssotest.Mutation{EditClaims: func(c map[string]any) { delete(c, "nonce") }}, ErrNonceMismatch},
		{"wrong audience", ssotest.Mutation{WrongAudience: true}, ErrTokenInvalid},
		{"extra audience without azp", ssotest.Mutation{EditClaims: func(c map[string]any) { c["aud"] = []string{c["aud"].(string), "other"} }}, ErrTokenInvalid},
		{"azp of another client", ssotest.Mutation{EditClaims: func(c map[string]any) { c["azp"] = "other" }}, ErrTokenInvalid},
		{"wrong issuer", ssotest.Mutation{WrongIssuer: true}, ErrTokenInvalid},
		{"expired", ssotest.Mutation{Expired: true}, ErrTokenInvalid},
		{"unknown key", ssotest.Mutation{UnknownKey: true}, ErrTokenInvalid},
		{"alg none", ssotest.Mutation{AlgNone: true}, ErrTokenInvalid},
		{"wrong at_hash", ssotest.Mutation{EditClaims: func(c map[string]any) { c["at_hash"] = "AAAAAAAAAAAAAAAAAAAAAA" }}, ErrTokenInvalid},
		{"no sub", ssotest.Mutation{OmitSub: true}, ErrMissingClaim},
		{"empty sub", ssotest.Mutation{EditClaims: func(c map[string]any) { c["sub"] = "" }}, ErrMissingClaim},
		{"no iat", ssotest.Mutation{OmitIat: true}, ErrMissingClaim},
		{"iat not a number", ssotest.Mutation{EditClaims: func(c map[string]any) { c["iat"] = "yesterday" }}, ErrTokenInvalid},
		{"iat in the future", ssotest.Mutation{EditClaims: func(c map[string]any) { c["iat"] = time.Now().Add(time.Hour).Unix() }}, ErrClaimInvalid},
		{"auth_time in the future", ssotest.Mutation{AuthTime: time.Now().Add(time.Hour)}, ErrClaimInvalid},
		{"groups of the wrong type", ssotest.Mutation{EditClaims: func(c map[string]any) { c["groups"] = 42 }}, ErrClaimInvalid},
		{"email of the wrong type", ssotest.Mutation{EditClaims: func(c map[string]any) { c["email"] = []string{"a@b"} }}, ErrClaimInvalid},
	}
	p := newProvider(t, ssotest.Options{})
	c := newClient(t, p)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// One provider serves all cases, so they run one after another:
			// a mutation applies to the next token response.
			authURL, a := c.Begin("/", 0)
			state, code := authorize(t, authURL, alice.Subject)
			p.MutateNextToken(tt.m)
			id, err := c.Finish(t.Context(), a, state, code)
			if err == nil {
				t.Fatalf("Finish = %+v; want %s", id, tt.want.Reason)
			}
			wantError(t, err, tt.want, code, a.CodeVerifier, a.Nonce, p.ClientSecret())
		})
	}
	// The provider is honest again afterwards.
	if _, err := signIn(t, c, alice.Subject, 0); err != nil {
		t.Fatalf("sign-in after the bad tokens: %v", err)
	}
}

func TestKeyRotation(t *testing.T) {
	t.Parallel()
	for name, rotate := range map[string]func(*ssotest.Provider){
		"old key dropped": (*ssotest.Provider).RotateKeys,
		"old key kept":    (*ssotest.Provider).RotateKeysKeepingOld,
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			p := newProvider(t, ssotest.Options{})
			c := newClient(t, p)
			if _, err := signIn(t, c, alice.Subject, 0); err != nil {
				t.Fatalf("sign-in before rotation: %v", err)
			}
			rotate(p)
			id, err := signIn(t, c, bob.Subject, 0)
			if err != nil {
				t.Fatalf("sign-in after rotation: %v", err)
			}
			if id.Subject != bob.Subject {
				t.Errorf("subject = %q; want %q", id.Subject, bob.Subject)
			}
		})
	}
}

func TestMissingGroupsClaimMeansNoGroups(t *testing.T) {
	t.Parallel()
	p := newProvider(t, ssotest.Options{})
	c := newClient(t, p)
	p.MutateNextToken(ssotest.Mutation{OmitGroups: true})
	id, err := signIn(t, c, alice.Subject, 0)
	if err != nil {
		t.Fatalf("Finish: %v", err)
	}
	if id.Groups == nil || len(id.Groups) != 0 {
		t.Errorf("groups = %#v; want an empty, non-nil slice", id.Groups)
	}
	if id.Name != alice.Name || id.Email != alice.Email {
		t.Errorf("identity = %+v; want alice's name and email", id)
	}
}

func TestGroupsClaimShapes(t *testing.T) {
	t.Parallel()
	p := newProvider(t, ssotest.Options{GroupsClaim: "roles"})
	cfg := testConfig(p)
	cfg.GroupsClaim = "roles"
	c := newClientWith(t, cfg)
	tests := []struct {
		name  string
		value any
		want  []string
	}{
		{"array", []string{"a", "b"}, []string{"a", "b"}},
		{"single string", "approvers", []string{"approvers"}},
		{"duplicates and empties", []any{"a", "", "a", nil, "b"}, []string{"a", "b"}},
		{"empty array", []string{}, []string{}},
		{"empty string", "", []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p.MutateNextToken(ssotest.Mutation{EditClaims: func(c map[string]any) { c["roles"] = tt.value }})
			id, err := signIn(t, c, alice.Subject, 0)
			if err != nil {
				t.Fatalf("Finish: %v", err)
			}
			if !slices.Equal(id.Groups, tt.want) {
				t.Errorf("groups from %#v = %q; want %q", tt.value, id.Groups, tt.want)
			}
		})
	}
}

func TestClaimsOnlyInUserinfo(t *testing.T) {
	t.Parallel()
	p := newProvider(t, ssotest.Options{})
	c := newClient(t, p)
	p.MutateNextToken(ssotest.Mutation{ClaimsOnlyInUserinfo: true})
	id, err := signIn(t, c, alice.Subject, 0)
	if err != nil {
		t.Fatalf("Finish: %v", err)
	}
	if id.Subject != alice.Subject || id.Name != alice.Name || id.Email != alice.Email || !slices.Equal(id.Groups, alice.Groups) {
		t.Errorf("identity = %+v; want alice's claims from userinfo", id)
	}
}

func TestUserinfoSubjectMismatch(t *testing.T) {
	t.Parallel()
	p := newProvider(t, ssotest.Options{})
	c := newClient(t, p)
	p.MutateNextToken(ssotest.Mutation{ClaimsOnlyInUserinfo: true, UserinfoSubject: bob.Subject})
	_, err := signIn(t, c, alice.Subject, 0)
	wantError(t, err, ErrUserinfoSubjectMismatch, p.ClientSecret())
}

func TestMaxAge(t *testing.T) {
	t.Parallel()
	p := newProvider(t, ssotest.Options{})
	c := newClient(t, p)

	authURL, a := c.Begin("/requests/3/approve", time.Hour)
	if got := mustQuery(t, authURL).Get("max_age"); got != "3600" {
		t.Errorf("max_age = %q; want %q", got, "3600")
	}
	if a.MaxAge != time.Hour {
		t.Errorf("attempt max age = %v; want 1h", a.MaxAge)
	}
	state, code := authorize(t, authURL, alice.Subject)
	if _, err := c.Finish(t.Context(), a, state, code); err != nil {
		t.Fatalf("fresh authentication with max_age: %v", err)
	}

	p.MutateNextToken(ssotest.Mutation{AuthTime: time.Now().Add(-2 * time.Hour)})
	_, err := signIn(t, c, alice.Subject, time.Hour)
	wantError(t, err, ErrAuthTooOld)

	p.MutateNextToken(ssotest.Mutation{OmitAuthTime: true})
	_, err = signIn(t, c, alice.Subject, time.Hour)
	wantError(t, err, ErrAuthTimeMissing)

	// Without max_age an old authentication is fine and reported as is.
	old := time.Now().Add(-2 * time.Hour).Truncate(time.Second)
	p.MutateNextToken(ssotest.Mutation{AuthTime: old})
	id, err := signIn(t, c, alice.Subject, 0)
	if err != nil || !id.AuthTime.Equal(old) {
		t.Fatalf("sign-in without max_age = %v, %v; want auth time %v", id.AuthTime, err, old)
	}
	// And a missing auth_time without max_age leaves AuthTime zero.
	p.MutateNextToken(ssotest.Mutation{OmitAuthTime: true})
	id, err = signIn(t, c, alice.Subject, 0)
	if err != nil || !id.AuthTime.IsZero() {
		t.Fatalf("sign-in without auth_time = %v, %v; want zero auth time", id.AuthTime, err)
	}
}

func TestCallbackError(t *testing.T) {
	t.Parallel()
	c := newClient(t, newProvider(t, ssotest.Options{}))
	_, a := c.Begin("/", 0)
	wantError(t, CallbackError(a, a.State, "access_denied", "user said\nno"), ErrProviderDenied, a.Nonce)
	wantError(t, CallbackError(a, "forged", "access_denied", ""), ErrStateMismatch)
	if err := CallbackError(a, a.State, "access_denied", "a\nb"); strings.ContainsAny(err.Error(), "\n\r") {
		t.Errorf("error text %q keeps control characters", err)
	}
}

func TestEndSessionURL(t *testing.T) {
	t.Parallel()
	p := newProvider(t, ssotest.Options{})
	c := newClient(t, p)
	id, err := signIn(t, c, alice.Subject, 0)
	if err != nil {
		t.Fatal(err)
	}
	endURL, ok := c.EndSessionURL(id.IDToken, "http://127.0.0.1:8080/")
	if !ok {
		t.Fatal("EndSessionURL: no endpoint; want the provider's")
	}
	q := mustQuery(t, endURL)
	if q.Get("id_token_hint") != id.IDToken || q.Get("post_logout_redirect_uri") != "http://127.0.0.1:8080/" || q.Get("client_id") != p.ClientID() {
		t.Errorf("end-session query = %v", q)
	}
	if !strings.HasPrefix(endURL, p.Issuer()+"/end_session?") {
		t.Errorf("end-session URL %q is not at the provider", endURL)
	}

	none := newProvider(t, ssotest.Options{NoEndSession: true})
	if u, ok := newClient(t, none).EndSessionURL(id.IDToken, ""); ok || u != "" {
		t.Errorf("EndSessionURL without endpoint = %q, %v; want \"\", false", u, ok)
	}
}

func mustQuery(t *testing.T, raw string) url.Values {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatalf("parse %q: %v", raw, err)
	}
	return u.Query()
}
