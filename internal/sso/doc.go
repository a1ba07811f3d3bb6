// Package sso is rolegate's OpenID Connect relying party: it starts a
// sign-in at the company's identity provider and turns the provider's
// answer into a verified [Identity].
//
// The flow is the authorization-code flow with PKCE (S256). [Client.Begin]
// returns the provider URL and an [Attempt] holding a fresh state, nonce and
// PKCE verifier; the caller seals it into a short-lived cookie of the
// browser that started the sign-in ([Client.SealAttempt]: AES-256-GCM with
// a key that lives only in this process), takes it back once when the
// browser comes back ([Client.TakeAttempt]) and hands it to
// [Client.Finish]. Nothing is stored server-side for a sign-in in flight. Finish checks the state, redeems the code, verifies
// the ID token with go-oidc (signature against the provider's JWKS, issuer,
// audience, expiry, RS256/ES256 only) and then checks what go-oidc leaves to
// the application: nonce, subject, issued-at and, when asked for, the age
// of the authentication.
//
// A person is identified by (Identity.Issuer, Identity.Subject), never by
// email. Every failure is an [*Error] with a [Reason]; its text never holds
// the client secret, the authorization code, the PKCE verifier or a token.
// The package does not log.
package sso
