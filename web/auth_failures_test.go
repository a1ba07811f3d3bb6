package web_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/rolegate/rolegate/internal/sso/ssotest"
)

// flight is a sign-in in progress: the browser that started it, the
// attempt cookie the portal gave it, and the callback the provider sent it
// back with.
type flight struct {
	b        *browser
	attempt  string // the sign-in attempt cookie's value
	callback string // path and query of the portal's /auth/callback
}

// fly starts a sign-in in a new browser and plays subject at the provider,
// stopping just before the browser returns to the portal.
func (p *ssoPortal) fly(subject string) flight {
	p.t.Helper()
	b := p.newBrowser()
	res := b.get("/auth/login")
	attempt := setCookies(p.t, res)["rolegate_signin"]
	if attempt == nil {
		p.t.Fatal("GET /auth/login set no sign-in attempt cookie")
	}
	authURL, err := url.Parse(res.Header.Get("Location"))
	if err != nil {
		p.t.Fatal(err)
	}
	return flight{b: b, attempt: attempt.Value, callback: p.atProvider(authURL, subject)}
}

// param returns one query parameter of the flight's callback.
func (f flight) param(name string) string {
	u, _ := url.Parse(f.callback)
	return u.Query().Get(name)
}

// withParams returns the callback with some query parameters replaced
// (an empty value removes the parameter).
func (f flight) withParams(set map[string]string) string {
	u, _ := url.Parse(f.callback)
	q := u.Query()
	for k, v := range set {
		if v == "" {
			q.Del(k)
		} else {
			q.Set(k, v)
		}
	}
	u.RawQuery = q.Encode()
	return u.RequestURI()
}

// withAttemptCookie returns a fresh browser holding the given sign-in
// attempt cookie, as an attacker who copied it would.
func (p *ssoPortal) withAttemptCookie(value string) *browser {
	b := p.newBrowser()
	u, _ := url.Parse(p.URL)
	b.Jar.SetCookies(u, []*http.Cookie{{Name: "rolegate_signin", Value: value, Path: "/"}})
	return b
}

// Every way a sign-in can go wrong ends on the error page with a way to try
// again, without a session, logged without secrets, and recorded in the
// audit trail as auth.signin.failed with its reason.
func TestSSOSignInFailures(t *testing.T) {
	mutated := func(m ssotest.Mutation) func(p *ssoPortal) (*browser, page, []string) {
		return func(p *ssoPortal) (*browser, page, []string) {
			p.IdP.MutateNextToken(m)
			f := p.fly(rita.Subject)
			return f.b, f.b.get(f.callback), []string{f.param("code"), f.param("state"), f.attempt}
		}
	}
	tests := []struct {
		name   string
		status int
		reason string
		// run produces the failed callback; it returns the browser, the
		// answer and the values that must not reach the logs.
		run func(p *ssoPortal) (*browser, page, []string)
	}{
		{"wrong state", http.StatusUnauthorized, "state_mismatch", func(p *ssoPortal) (*browser, page, []string) {
			f := p.fly(rita.Subject)
			return f.b, f.b.get(f.withParams(map[string]string{"state": "forged-state-value"})), []string{f.param("code"), f.param("state")}
		}},
		{"callback without state", http.StatusUnauthorized, "state_mismatch", func(p *ssoPortal) (*browser, page, []string) {
			f := p.fly(rita.Subject)
			return f.b, f.b.get(f.withParams(map[string]string{"state": ""})), []string{f.param("code")}
		}},
		{"callback in a browser that did not start the sign-in", http.StatusUnauthorized, "attempt_missing", func(p *ssoPortal) (*browser, page, []string) {
			f := p.fly(rita.Subject)
			other := p.newBrowser()
			return other, other.get(f.callback), []string{f.param("code"), f.param("state")}
		}},
		{"replayed callback", http.StatusUnauthorized, "attempt_used", func(p *ssoPortal) (*browser, page, []string) {
			f := p.fly(rita.Subject)
			if res := f.b.get(f.callback); res.StatusCode != http.StatusSeeOther {
				p.t.Fatalf("first callback = %d; want 303", res.StatusCode)
			}
			// The browser lost the attempt cookie; an attacker who copied
			// it finds the attempt used up.
			if res := f.b.get(f.callback); !strings.Contains(res.Body, "Sign-in failed") {
				p.t.Errorf("callback replayed in the same browser = %d; want the sign-in failed page", res.StatusCode)
			}
			attacker := p.withAttemptCookie(f.attempt)
			return attacker, attacker.get(f.callback), []string{f.param("code"), f.param("state"), f.attempt}
		}},
		{"reused authorization code", http.StatusUnauthorized, "exchange_failed", func(p *ssoPortal) (*browser, page, []string) {
			first := p.fly(rita.Subject)
			if res := first.b.get(first.callback); res.StatusCode != http.StatusSeeOther {
				p.t.Fatalf("first callback = %d; want 303", res.StatusCode)
			}
			// A second, honest attempt handed the first one's code: the
			// provider refuses a code already redeemed.
			second := p.fly(rita.Subject)
			res := second.b.get(second.withParams(map[string]string{"code": first.param("code")}))
			return second.b, res, []string{first.param("code"), second.param("code"), second.param("state")}
		}},
		{"wrong nonce", http.StatusUnauthorized, "nonce_mismatch", mutated(ssotest.Mutation{WrongNonce: true})},
		{"wrong audience", http.StatusUnauthorized, "token_invalid", mutated(ssotest.Mutation{WrongAudience: true})},
		{"wrong issuer in the token", http.StatusUnauthorized, "token_invalid", mutated(ssotest.Mutation{WrongIssuer: true})},
		{"expired token", http.StatusUnauthorized, "token_invalid", mutated(ssotest.Mutation{Expired: true})},
		{"token signed by an unknown key", http.StatusUnauthorized, "token_invalid", mutated(ssotest.Mutation{UnknownKey: true})},
		{"unsigned token (alg none)", http.StatusUnauthorized, "token_invalid", mutated(ssotest.Mutation{AlgNone: true})},
		{"token without sub", http.StatusUnauthorized, "missing_claim", mutated(ssotest.Mutation{OmitSub: true})},
		{"token without iat", http.StatusUnauthorized, "missing_claim", mutated(ssotest.Mutation{OmitIat: true})},
		{"userinfo describes someone else", http.StatusUnauthorized, "userinfo_subject_mismatch",
			mutated(ssotest.Mutation{ClaimsOnlyInUserinfo: true, UserinfoSubject: alex.Subject})},
		{"provider refused the person", http.StatusUnauthorized, "provider_denied", func(p *ssoPortal) (*browser, page, []string) {
			f := p.fly(rita.Subject)
			res := f.b.get(f.withParams(map[string]string{"code": "", "error": "access_denied", "error_description": "the person cancelled"}))
			return f.b, res, []string{f.param("code"), f.param("state")}
		}},
		{"callback names another issuer (mix-up)", http.StatusUnauthorized, "issuer_mismatch", func(p *ssoPortal) (*browser, page, []string) {
			f := p.fly(rita.Subject)
			return f.b, f.b.get(f.withParams(map[string]string{"iss": "https://idp.evil.example"})), []string{f.param("code"), f.param("state")}
		}},
		{"provider unreachable", http.StatusServiceUnavailable, "provider_unreachable", func(p *ssoPortal) (*browser, page, []string) {
			f := p.fly(rita.Subject)
			p.IdP.SetDown(true)
			return f.b, f.b.get(f.callback), []string{f.param("code"), f.param("state")}
		}},
		{"sign-in took too long", http.StatusUnauthorized, "attempt_expired", func(p *ssoPortal) (*browser, page, []string) {
			f := p.fly(rita.Subject)
			p.Clock.Advance(11 * time.Minute)
			return f.b, f.b.get(f.callback), []string{f.param("code"), f.param("state")}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := newSSOPortal(t, ssoOptions{})
			b, res, secrets := tt.run(p)
			p.wantSignInFailed(b, res, tt.status, tt.reason)
			p.wantNoSecrets(secrets...)
			if tt.reason == "provider_unreachable" && !strings.Contains(res.Body, "did not answer") {
				t.Errorf("unreachable provider page does not say the sign-in service did not answer:\n%s", res.Body)
			}
		})
	}
}

// The retry link of a failed sign-in keeps where the person was going.
func TestSSOSignInFailureKeepsReturnPath(t *testing.T) {
	p := newSSOPortal(t, ssoOptions{})
	b := p.newBrowser()
	authURL := p.beginSignIn(b, "/auth/login?return_to=%2Frequests%2Fnew")
	p.IdP.MutateNextToken(ssotest.Mutation{WrongNonce: true})
	res := b.get(p.atProvider(authURL, rita.Subject))
	p.wantSignInFailed(b, res, http.StatusUnauthorized, "nonce_mismatch")
	if !strings.Contains(res.Body, `href="/auth/login?return_to=%2Frequests%2Fnew"`) {
		t.Errorf("the Try again link does not return to /requests/new:\n%s", res.Body)
	}
}
