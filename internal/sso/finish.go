package sso

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// Finish completes the sign-in started by Begin, given the state and code
// the provider sent back to the callback. The Attempt must be used once
// only, whatever the outcome: TakeAttempt sees to that for a sealed one.
func (c *Client) Finish(ctx context.Context, a Attempt, state, code string) (Identity, error) {
	if err := c.checkAttempt(a, state); err != nil {
		return Identity{}, err
	}
	if code == "" {
		return Identity{}, newError(ReasonExchangeFailed, "callback carried no authorization code", nil)
	}
	// Everything that could end up in an error text and must not.
	secrets := []string{code, a.CodeVerifier, a.Nonce, a.State, c.clientSecret}

	ctx = oidc.ClientContext(ctx, c.httpClient)
	tok, err := c.oauth.Exchange(ctx, code, oauth2.VerifierOption(a.CodeVerifier))
	if err != nil {
		return Identity{}, exchangeError(err, secrets)
	}
	secrets = append(secrets, tok.AccessToken, tok.RefreshToken)
	rawIDToken, _ := tok.Extra("id_token").(string)
	if rawIDToken == "" {
		return Identity{}, newError(ReasonTokenInvalid, "token response has no id_token", nil)
	}
	secrets = append(secrets, rawIDToken)

	idt, err := c.verifier.Verify(ctx, rawIDToken)
	if err != nil {
		return Identity{}, newError(ReasonTokenInvalid, "ID token rejected", err, secrets...)
	}
	var claims map[string]json.RawMessage
	if err := idt.Claims(&claims); err != nil {
		return Identity{}, newError(ReasonTokenInvalid, "ID token claims are not a JSON object", nil)
	}
	if err := c.checkIDToken(idt, claims, a, tok.AccessToken); err != nil {
		return Identity{}, err
	}

	id := Identity{Issuer: c.issuer, Subject: idt.Subject, IDToken: rawIDToken}
	if raw, ok := claims["auth_time"]; ok && !isNull(raw) {
		if id.AuthTime, err = parseNumericDate(raw); err != nil {
			return Identity{}, newError(ReasonClaimInvalid, "auth_time is not a number", nil)
		}
	}
	if err := c.checkAuthTime(id.AuthTime, a.MaxAge, a.PromptLogin); err != nil {
		return Identity{}, err
	}

	p, err := c.readProfile(claims)
	if err != nil {
		return Identity{}, err
	}
	// An email the ID token leaves unqualified is looked up in userinfo
	// too before the operator's statement stands in for the claim, so that
	// an email_verified false stated there is never overruled.
	unqualified := c.emailsVerified && p.hasEmail && !p.emailVerifiedStated
	if (p.incomplete() || unqualified) && c.provider.UserInfoEndpoint() != "" && tok.AccessToken != "" {
		if err := c.completeFromUserinfo(ctx, &p, idt.Subject, tok, secrets); err != nil {
			return Identity{}, err
		}
	}
	id.Name, id.Email, id.Groups = p.name, p.email, p.groups
	id.EmailVerified = p.hasEmail && p.emailVerified
	if p.hasEmail && !p.emailVerifiedStated && c.emailsVerified {
		id.EmailVerified, id.EmailVerifiedByOperator = true, true
	}
	id.GroupsOverage = p.groupsOverage && len(p.groups) == 0
	if id.Groups == nil {
		id.Groups = []string{}
	}
	return id, nil
}

// CallbackError is for a callback that carries an "error" parameter instead
// of a code (the person cancelled, or the provider refused them). It
// returns ErrStateMismatch when the state is not the attempt's, since such
// a callback may be forged, and ErrProviderDenied otherwise.
func CallbackError(a Attempt, state, errorCode, errorDescription string) error {
	if err := checkState(a, state); err != nil {
		return err
	}
	detail := "provider answered " + errorCode
	if errorDescription != "" {
		detail += ": " + errorDescription
	}
	return newError(ReasonProviderDenied, detail, nil, a.Nonce, a.CodeVerifier, a.State)
}

func checkState(a Attempt, state string) error {
	// An empty stored state would compare equal to an empty parameter.
	if a.State == "" || subtle.ConstantTimeCompare([]byte(a.State), []byte(state)) != 1 {
		return newError(ReasonStateMismatch, "callback state does not match the sign-in attempt", nil)
	}
	return nil
}

func (c *Client) checkAttempt(a Attempt, state string) error {
	if err := checkState(a, state); err != nil {
		return err
	}
	if a.Nonce == "" || a.CodeVerifier == "" || a.CreatedAt.IsZero() {
		return newError(ReasonAttemptInvalid, "stored sign-in attempt is incomplete", nil)
	}
	if age := c.now().Sub(a.CreatedAt); age > AttemptLifetime || age < -clockSkew {
		return newError(ReasonAttemptExpired, fmt.Sprintf("sign-in attempt is %s old, limit %s", age.Round(time.Second), AttemptLifetime), nil)
	}
	return nil
}

// exchangeError tells a provider that could not be reached (or failed) from
// one that refused the code.
func exchangeError(err error, secrets []string) error {
	if re, ok := errors.AsType[*oauth2.RetrieveError](err); ok {
		status := 0
		if re.Response != nil {
			status = re.Response.StatusCode
		}
		// The body is the provider's to choose; only its RFC 6749 fields
		// are kept, and those are scrubbed too.
		detail := fmt.Sprintf("token endpoint answered %d", status)
		if re.ErrorCode != "" {
			detail += " " + re.ErrorCode
		}
		if re.ErrorDescription != "" {
			detail += ": " + re.ErrorDescription
		}
		reason := ReasonExchangeFailed
		if status >= 500 {
			reason = ReasonProviderUnreachable
		}
		return &Error{Reason: reason, detail: sanitize(detail, secrets), cause: err}
	}
	if isNetworkError(err) {
		return newError(ReasonProviderUnreachable, "token endpoint", err, secrets...)
	}
	return newError(ReasonExchangeFailed, "token endpoint", err, secrets...)
}

func isNetworkError(err error) bool {
	_, isURL := errors.AsType[*url.Error](err)
	_, isNet := errors.AsType[net.Error](err)
	return isURL || isNet || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled)
}

// checkIDToken checks what go-oidc's verifier leaves to the application.
func (c *Client) checkIDToken(idt *oidc.IDToken, claims map[string]json.RawMessage, a Attempt, accessToken string) error {
	// OIDC Core 3.1.3.7 (4, 5): several audiences need an azp naming us,
	// and an azp must name us.
	var azp string
	if raw, ok := claims["azp"]; ok && !isNull(raw) {
		if json.Unmarshal(raw, &azp) != nil {
			return newError(ReasonTokenInvalid, "azp is not a string", nil)
		}
	}
	if (len(idt.Audience) > 1 || azp != "") && azp != c.oauth.ClientID {
		return newError(ReasonTokenInvalid, "ID token was issued to another party (azp)", nil)
	}
	if subtle.ConstantTimeCompare([]byte(idt.Nonce), []byte(a.Nonce)) != 1 {
		return newError(ReasonNonceMismatch, "ID token nonce does not match the sign-in attempt", nil)
	}
	if idt.Subject == "" {
		return newError(ReasonMissingClaim, "ID token has no sub", nil)
	}
	raw, ok := claims["iat"]
	if !ok || isNull(raw) {
		return newError(ReasonMissingClaim, "ID token has no iat", nil)
	}
	iat, err := parseNumericDate(raw)
	if err != nil {
		return newError(ReasonClaimInvalid, "iat is not a number", nil)
	}
	if iat.After(c.now().Add(clockSkew)) {
		return newError(ReasonClaimInvalid, "iat is in the future", nil)
	}
	if idt.AccessTokenHash != "" {
		if err := idt.VerifyAccessToken(accessToken); err != nil {
			return newError(ReasonTokenInvalid, "at_hash does not match the access token", nil)
		}
	}
	return nil
}

func (c *Client) checkAuthTime(authTime time.Time, maxAge time.Duration, promptLogin bool) error {
	now := c.now()
	if !authTime.IsZero() && authTime.After(now.Add(clockSkew)) {
		return newError(ReasonClaimInvalid, "auth_time is in the future", nil)
	}
	if maxAge <= 0 {
		return nil
	}
	// A provider must send auth_time when max_age was requested (OIDC
	// Core 3.1.2.1); without it we cannot know the sign-in is fresh. Some
	// never do (Google by default, GitLab, Dex): with prompt=login the
	// round trip itself is taken as the re-authentication, and the caller
	// records that no auth_time was stated. An auth_time that is stated is
	// checked either way.
	if authTime.IsZero() {
		if promptLogin {
			return nil
		}
		return newError(ReasonAuthTimeMissing, "ID token has no auth_time although max_age was requested", nil)
	}
	if age := now.Sub(authTime); age > maxAge+clockSkew {
		return newError(ReasonAuthTooOld, fmt.Sprintf("last authentication %s ago, max age %s", age.Round(time.Second), maxAge), nil)
	}
	return nil
}

// profile holds the claims read for display and authorization; the has*
// fields tell an absent claim from an empty one.
type profile struct {
	name, email   string
	hasName       bool
	hasEmail      bool
	emailVerified bool // from the same source as email
	// emailVerifiedStated: that source sent email_verified (any value
	// null included), so the operator's EmailsVerified does not apply.
	emailVerifiedStated bool
	groups              []string
	hasGroups           bool
	// groupsOverage: the groups were left out for being too many; asking
	// userinfo would not bring them either.
	groupsOverage bool
}

func (p profile) incomplete() bool {
	return !p.hasName || !p.hasEmail || (!p.hasGroups && !p.groupsOverage)
}

func (c *Client) readProfile(claims map[string]json.RawMessage) (profile, error) {
	var p profile
	var err error
	if p.name, p.hasName, err = stringClaim(claims, "name"); err != nil {
		return p, err
	}
	if p.email, p.hasEmail, err = stringClaim(claims, "email"); err != nil {
		return p, err
	}
	if p.hasEmail {
		raw, stated := claims["email_verified"]
		p.emailVerified = verifiedClaim(raw)
		p.emailVerifiedStated = stated
	}
	if p.groups, p.hasGroups, err = groupsClaim(claims, c.groupsClaim); err != nil {
		return p, err
	}
	if !p.hasGroups {
		p.groupsOverage = groupsOverage(claims, c.groupsClaim)
	}
	return p, nil
}

// verifiedClaim reads email_verified: a JSON true, or the string "true"
// that some providers send. Anything else, absence included, is false.
func verifiedClaim(raw json.RawMessage) bool {
	var b bool
	if json.Unmarshal(raw, &b) == nil {
		return b
	}
	var s string
	return json.Unmarshal(raw, &s) == nil && s == "true"
}

// groupsOverage recognizes Microsoft Entra ID's way of saying a person has
// too many groups for the token: the groups claim is replaced by a
// distributed-claims pointer (_claim_names naming it, OIDC Core 5.6.2), or,
// in tokens from the implicit flow, by "hasgroups": true.
func groupsOverage(claims map[string]json.RawMessage, name string) bool {
	var names map[string]json.RawMessage
	if raw, ok := claims["_claim_names"]; ok && json.Unmarshal(raw, &names) == nil {
		if _, ok := names[name]; ok {
			return true
		}
	}
	var has bool
	if raw, ok := claims["hasgroups"]; ok && json.Unmarshal(raw, &has) == nil && has {
		return true
	}
	return false
}

// completeFromUserinfo fills the claims the ID token lacked from the
// userinfo endpoint, which must describe the same subject.
func (c *Client) completeFromUserinfo(ctx context.Context, p *profile, subject string, tok *oauth2.Token, secrets []string) error {
	ui, err := c.provider.UserInfo(ctx, oauth2.StaticTokenSource(tok))
	if err != nil {
		if isNetworkError(err) {
			return newError(ReasonProviderUnreachable, "userinfo endpoint", err, secrets...)
		}
		return newError(ReasonUserinfoFailed, "userinfo endpoint", err, secrets...)
	}
	if ui.Subject == "" || subtle.ConstantTimeCompare([]byte(ui.Subject), []byte(subject)) != 1 {
		return newError(ReasonUserinfoSubjectMismatch, "userinfo sub differs from the ID token's", nil)
	}
	var claims map[string]json.RawMessage
	if err := ui.Claims(&claims); err != nil {
		return newError(ReasonUserinfoFailed, "userinfo answer is not a JSON object", nil)
	}
	q, err := c.readProfile(claims)
	if err != nil {
		return err
	}
	if !p.hasName {
		p.name, p.hasName = q.name, q.hasName
	}
	switch {
	case !p.hasEmail:
		p.email, p.hasEmail, p.emailVerified, p.emailVerifiedStated = q.email, q.hasEmail, q.emailVerified, q.emailVerifiedStated
	case !p.emailVerifiedStated && q.emailVerifiedStated && q.email == p.email:
		// userinfo qualifies the ID token's email.
		p.emailVerified, p.emailVerifiedStated = q.emailVerified, true
	}
	if !p.hasGroups && !p.groupsOverage {
		p.groups, p.hasGroups, p.groupsOverage = q.groups, q.hasGroups, q.groupsOverage
	}
	return nil
}

func isNull(raw json.RawMessage) bool { return string(raw) == "null" }

func stringClaim(claims map[string]json.RawMessage, name string) (string, bool, error) {
	raw, ok := claims[name]
	if !ok || isNull(raw) {
		return "", false, nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", false, newError(ReasonClaimInvalid, fmt.Sprintf("claim %q is not a string", name), nil)
	}
	return s, true, nil
}

// groupsClaim reads a claim that is either an array of strings or a single
// string (some providers send one group that way). Empty names and
// duplicates are dropped.
func groupsClaim(claims map[string]json.RawMessage, name string) ([]string, bool, error) {
	raw, ok := claims[name]
	if !ok || isNull(raw) {
		return nil, false, nil
	}
	var list []string
	if err := json.Unmarshal(raw, &list); err != nil {
		var one string
		if err := json.Unmarshal(raw, &one); err != nil {
			return nil, false, newError(ReasonClaimInvalid, fmt.Sprintf("claim %q is neither a string nor an array of strings", name), nil)
		}
		list = []string{one}
	}
	groups := make([]string, 0, len(list))
	for _, g := range list {
		if g != "" && !slices.Contains(groups, g) {
			groups = append(groups, g)
		}
	}
	return groups, true, nil
}

// parseNumericDate reads a JWT NumericDate (seconds, possibly fractional).
func parseNumericDate(raw json.RawMessage) (time.Time, error) {
	var n json.Number
	if err := json.Unmarshal(raw, &n); err != nil {
		return time.Time{}, err
	}
	f, err := n.Float64()
	if err != nil {
		return time.Time{}, err
	}
	if f <= 0 || f > 1e11 {
		return time.Time{}, errors.New("out of range")
	}
	return time.Unix(int64(f), 0), nil
}
