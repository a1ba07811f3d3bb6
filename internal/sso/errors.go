package sso

import (
	"errors"
	"net/url"
	"strings"
	"unicode/utf8"
)

// Reason says why a sign-in failed, in words fit for logs, metrics and the
// audit trail.
type Reason string

// The reasons a sign-in can fail.
const (
	ReasonConfigInvalid           Reason = "config_invalid"            // Config is incomplete or unsafe
	ReasonProviderUnreachable     Reason = "provider_unreachable"      // network error, timeout or 5xx from the provider
	ReasonDiscoveryInvalid        Reason = "discovery_invalid"         // discovery document unusable (issuer mismatch, missing endpoints)
	ReasonProviderDenied          Reason = "provider_denied"           // the provider sent the browser back with an error
	ReasonStateMismatch           Reason = "state_mismatch"            // callback state differs from the attempt's
	ReasonAttemptInvalid          Reason = "attempt_invalid"           // the stored attempt is incomplete
	ReasonAttemptUnknown          Reason = "attempt_unknown"           // the attempt cookie does not open: forged, damaged or sealed before a restart
	ReasonAttemptUsed             Reason = "attempt_used"              // the attempt was already taken once
	ReasonAttemptExpired          Reason = "attempt_expired"           // the attempt is older than AttemptLifetime
	ReasonExchangeFailed          Reason = "exchange_failed"           // the token endpoint refused the code
	ReasonTokenInvalid            Reason = "token_invalid"             // ID token missing, malformed, badly signed, wrong issuer/audience, expired
	ReasonNonceMismatch           Reason = "nonce_mismatch"            // ID token nonce differs from the attempt's
	ReasonMissingClaim            Reason = "missing_claim"             // sub or iat absent
	ReasonAuthTimeMissing         Reason = "auth_time_missing"         // max_age was asked (without prompt=login) and the token has no auth_time
	ReasonClaimInvalid            Reason = "claim_invalid"             // a claim has the wrong type or an impossible value
	ReasonUserinfoFailed          Reason = "userinfo_failed"           // the userinfo endpoint answered with an error
	ReasonUserinfoSubjectMismatch Reason = "userinfo_subject_mismatch" // userinfo describes someone else
	ReasonAuthTooOld              Reason = "auth_too_old"              // auth_time older than the requested max age
)

// Error is the error returned by every function of this package. Match it
// with errors.Is against the Err* sentinels, or with errors.As to read the
// Reason. Its text is safe to log: it never contains the client secret, an
// authorization code, a PKCE verifier or a token.
type Error struct {
	Reason Reason
	detail string
	cause  error
}

// Sentinels for errors.Is; they match any *Error with the same Reason.
var (
	ErrConfigInvalid           = &Error{Reason: ReasonConfigInvalid}
	ErrProviderUnreachable     = &Error{Reason: ReasonProviderUnreachable}
	ErrDiscoveryInvalid        = &Error{Reason: ReasonDiscoveryInvalid}
	ErrProviderDenied          = &Error{Reason: ReasonProviderDenied}
	ErrStateMismatch           = &Error{Reason: ReasonStateMismatch}
	ErrAttemptInvalid          = &Error{Reason: ReasonAttemptInvalid}
	ErrAttemptUnknown          = &Error{Reason: ReasonAttemptUnknown}
	ErrAttemptUsed             = &Error{Reason: ReasonAttemptUsed}
	ErrAttemptExpired          = &Error{Reason: ReasonAttemptExpired}
	ErrExchangeFailed          = &Error{Reason: ReasonExchangeFailed}
	ErrTokenInvalid            = &Error{Reason: ReasonTokenInvalid}
	ErrNonceMismatch           = &Error{Reason: ReasonNonceMismatch}
	ErrMissingClaim            = &Error{Reason: ReasonMissingClaim}
	ErrAuthTimeMissing         = &Error{Reason: ReasonAuthTimeMissing}
	ErrClaimInvalid            = &Error{Reason: ReasonClaimInvalid}
	ErrUserinfoFailed          = &Error{Reason: ReasonUserinfoFailed}
	ErrUserinfoSubjectMismatch = &Error{Reason: ReasonUserinfoSubjectMismatch}
	ErrAuthTooOld              = &Error{Reason: ReasonAuthTooOld}
)

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("sso: ")
	b.WriteString(string(e.Reason))
	if e.detail != "" {
		b.WriteString(": ")
		b.WriteString(e.detail)
	}
	return b.String()
}

// Unwrap gives the underlying cause (a network error, for instance) so that
// errors.Is(err, context.DeadlineExceeded) works. The cause's own text is
// not scrubbed; log the *Error, not the cause.
func (e *Error) Unwrap() error { return e.cause }

// Is reports whether target is the sentinel for e's Reason.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.detail == "" && t.cause == nil && t.Reason == e.Reason
}

// ReasonOf returns the Reason of the first *Error in err's chain, or "" when
// there is none.
func ReasonOf(err error) Reason {
	var e *Error
	if errors.As(err, &e) {
		return e.Reason
	}
	return ""
}

// maxDetail bounds how much of a provider's answer ends up in an error text.
const maxDetail = 300

// newError builds an *Error. The detail and the cause's text are scrubbed of
// every secret passed, truncated, and stripped of control characters so a
// hostile provider cannot forge log lines.
func newError(reason Reason, detail string, cause error, secrets ...string) *Error {
	d := detail
	if cause != nil {
		if d != "" {
			d += ": "
		}
		d += cause.Error()
	}
	return &Error{Reason: reason, detail: sanitize(d, secrets), cause: cause}
}

func sanitize(s string, secrets []string) string {
	for _, secret := range secrets {
		// Very short values would blank out ordinary words; none of the
		// secrets this package handles is that short in practice.
		if len(secret) < 4 {
			continue
		}
		for _, form := range []string{secret, url.QueryEscape(secret), url.PathEscape(secret)} {
			s = strings.ReplaceAll(s, form, "[redacted]")
		}
	}
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || r == utf8.RuneError {
			return ' '
		}
		return r
	}, s)
	if len(s) > maxDetail {
		cut := maxDetail
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "…"
	}
	return s
}
