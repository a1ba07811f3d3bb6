// Package ssotest runs a real OpenID Connect provider inside a test process,
// for tests of rolegate's sign-in anywhere in the repository, including
// browser tests.
//
// The provider listens on a loopback httptest server and really signs its
// ID tokens (RS256 or ES256, with go-jose). It serves:
//
//	GET  /.well-known/openid-configuration  discovery
//	GET  /jwks                               the published signing keys
//	GET  /authorize                          authorization endpoint (code flow, PKCE S256 required)
//	POST /authorize                          the sign-in page's buttons post here
//	POST /token                              client_secret_basic or client_secret_post; codes are single-use
//	GET  /userinfo                           bearer access token
//	GET  /end_session                        RP-initiated logout
//
// /authorize with login_hint=<subject or email> of a known user signs that
// user in at once and redirects back with a code. Without login_hint it
// shows a page with one "Sign in as <Name>" button per user, in a form
// without any script, so a real browser can click through.
//
// The ways real providers depart from the standard (no auth_time, no
// groups, groups as object ids, groups overage, unverified emails,
// prompt=login ignored) are chosen with [Options.Profile]. Misbehaviour is
// asked for explicitly with [Provider.MutateNextToken],
// [Provider.RotateKeys], [Provider.RotateKeysKeepingOld] and
// [Provider.SetDown].
package ssotest

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"sync"
	"testing"
	"time"
)

// Options configures a Provider. Zero values get the defaults shown.
type Options struct {
	ClientID     string // "rolegate-test"
	ClientSecret string // "rolegate-test-secret"
	// RedirectURL, when set, is the only redirect_uri accepted, and
	// post-logout redirects must share its origin. Empty accepts any
	// http(s) URL.
	RedirectURL  string
	GroupsClaim  string // "groups"
	SigningAlg   string // "RS256" or "ES256"; "RS256"
	NoEndSession bool   // leave end_session_endpoint out of discovery
	// Profile makes the provider behave like a real one that departs from
	// the letter of OpenID Connect; the zero value is fully compliant.
	Profile Profile
}

// Profile is how a real provider departs from a compliant one. Knobs
// combine; the Profile* values name the combinations seen in the field.
type Profile struct {
	Name string // for test names
	// NoAuthTime: auth_time is never sent, not even when max_age is asked,
	// and discovery's claims_supported does not list it (Google unless the
	// app turns on session age claims, Dex).
	NoAuthTime bool
	// AuthTimeUnlisted: auth_time is sent in every ID token, but
	// discovery's claims_supported does not list it (GitLab, whose
	// doorkeeper-openid_connect lists only the configured claims).
	AuthTimeUnlisted bool
	// NoGroups: no groups claim at all, in the ID token or userinfo
	// (Google).
	NoGroups bool
	// GroupsAsObjectIDs: group values are object ids, not names (Microsoft
	// Entra ID); ObjectID gives the id of a group name.
	GroupsAsObjectIDs bool
	// GroupsOverage: a user with groups gets none in the token but a
	// distributed-claims pointer (_claim_names/_claim_sources), as Entra ID
	// does past about 200 groups; userinfo has no groups either.
	GroupsOverage bool
	// EmailUnverified: email_verified is false.
	EmailUnverified bool
	// NoEmailVerified: email_verified is never sent, in the ID token or
	// userinfo, and discovery's claims_supported does not list it, like a
	// provider whose emails are all set by administrators and that says
	// so only in its documentation.
	NoEmailVerified bool
	// IgnoresPromptLogin: prompt=login and max_age do not make the user
	// authenticate again; the token keeps the auth_time of the user's first
	// sign-in at the provider (its session).
	IgnoresPromptLogin bool
}

// Profiles of real providers, as far as the tests need them.
var (
	ProfileCompliant          = Profile{Name: "compliant (Okta, Keycloak, Auth0, Entra ID with group names)"}
	ProfileNoAuthTime         = Profile{Name: "no auth_time (Dex)", NoAuthTime: true}
	ProfileGitLab             = Profile{Name: "auth_time sent but not listed (GitLab)", AuthTimeUnlisted: true}
	ProfileGoogle             = Profile{Name: "no auth_time, no groups (Google)", NoAuthTime: true, NoGroups: true}
	ProfileEntraObjectIDs     = Profile{Name: "groups as object ids (Entra ID)", GroupsAsObjectIDs: true}
	ProfileEntraOverage       = Profile{Name: "groups overage (Entra ID)", GroupsAsObjectIDs: true, GroupsOverage: true}
	ProfileUnverifiedEmail    = Profile{Name: "email_verified false, no groups", EmailUnverified: true, NoGroups: true}
	ProfileNoEmailVerified    = Profile{Name: "no email_verified, no groups", NoEmailVerified: true, NoGroups: true}
	ProfileIgnoresPromptLogin = Profile{Name: "prompt=login ignored", IgnoresPromptLogin: true}
)

// ObjectID is the object id under which a GroupsAsObjectIDs provider
// sends the group named name: a stable UUID-shaped value.
func ObjectID(name string) string {
	sum := sha256.Sum256([]byte("ssotest group " + name))
	h := hex.EncodeToString(sum[:16])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// User is a person the provider can sign in.
type User struct {
	Subject string
	Email   string
	Name    string
	Groups  []string
}

// Mutation makes the next token response misbehave. The zero value is an
// honest response. Knobs combine.
type Mutation struct {
	WrongAudience bool // aud names another client
	WrongIssuer   bool // iss names another provider
	Expired       bool // exp and iat lie in the past
	WrongNonce    bool // nonce differs from the authorization request's
	UnknownKey    bool // signed with a key (and kid) the JWKS never publishes
	AlgNone       bool // unsigned: header alg "none", empty signature
	OmitSub       bool // no sub claim
	OmitIat       bool // no iat claim
	OmitAuthTime  bool // no auth_time claim
	OmitGroups    bool // no groups claim, neither in the ID token nor from userinfo
	// ClaimsOnlyInUserinfo leaves name, email and groups out of the ID
	// token; userinfo still answers them.
	ClaimsOnlyInUserinfo bool
	// UserinfoSubject, when set, is the sub userinfo answers for this
	// token's access token.
	UserinfoSubject string
	// AuthTime, when set, is the auth_time claim instead of the moment the
	// user signed in.
	AuthTime time.Time
	// EditClaims, when set, edits the ID token's claims after every other
	// knob and just before signing.
	EditClaims func(claims map[string]any)
	// EditUserinfo, when set, edits what userinfo answers for this token's
	// access token, after every other knob.
	EditUserinfo func(claims map[string]any)
}

// EndSession records one call to the end-session endpoint.
type EndSession struct {
	Subject               string // from a valid id_token_hint; empty without one
	PostLogoutRedirectURI string
	State                 string
}

// Provider is a running OpenID Connect provider. Its methods are safe for
// concurrent use.
type Provider struct {
	opts      Options
	srv       *httptest.Server
	closeOnce sync.Once

	mu          sync.Mutex
	keys        []*signingKey // keys[0] signs; all are published
	users       []User
	pending     map[string]authRequest // sign-in pages shown, by request id
	codes       map[string]*codeGrant
	tokens      map[string]*accessGrant
	next        *Mutation
	down        bool
	endSessions []EndSession
	// sessions holds, per subject, the auth_time of the user's first
	// sign-in (IgnoresPromptLogin only).
	sessions map[string]int64
	// authorizeQueries are the /authorize queries received, oldest first.
	authorizeQueries []url.Values
}

// authRequest is what /authorize was asked.
type authRequest struct {
	redirectURI string
	state       string
	nonce       string
	challenge   string
	scope       string
	created     time.Time
}

type codeGrant struct {
	req          authRequest
	user         User
	authTime     time.Time
	expires      time.Time
	used         bool
	accessTokens []string // revoked if the code is replayed
}

type accessGrant struct {
	user     User
	mutation Mutation
	expires  time.Time
	revoked  bool
}

const (
	codeLifetime  = time.Minute
	tokenLifetime = time.Hour
	pageLifetime  = 10 * time.Minute
)

// New starts a Provider for the test and closes it when the test ends.
func New(t testing.TB, opts Options) *Provider {
	t.Helper()
	p, err := Start(opts)
	if err != nil {
		t.Fatalf("ssotest: %v", err)
	}
	t.Cleanup(p.Close)
	return p
}

// Start starts a Provider outside of a test; call Close when done.
func Start(opts Options) (*Provider, error) {
	if opts.ClientID == "" {
		opts.ClientID = "rolegate-test"
	}
	if opts.ClientSecret == "" {
		opts.ClientSecret = "rolegate-test-secret"
	}
	if opts.GroupsClaim == "" {
		opts.GroupsClaim = "groups"
	}
	if opts.SigningAlg == "" {
		opts.SigningAlg = "RS256"
	}
	key, err := newSigningKey(opts.SigningAlg)
	if err != nil {
		return nil, err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("ssotest: listen: %w", err)
	}
	p := &Provider{
		opts:     opts,
		keys:     []*signingKey{key},
		pending:  map[string]authRequest{},
		codes:    map[string]*codeGrant{},
		tokens:   map[string]*accessGrant{},
		sessions: map[string]int64{},
	}
	p.srv = &httptest.Server{Listener: l, Config: &http.Server{Handler: p.routes(), ReadHeaderTimeout: 10 * time.Second}}
	p.srv.Start()
	return p, nil
}

// Close stops the provider. Further requests fail to connect.
func (p *Provider) Close() { p.closeOnce.Do(p.srv.Close) }

// Issuer is the provider's issuer URL (http://127.0.0.1:port).
func (p *Provider) Issuer() string { return p.srv.URL }

// ClientID is the one client the provider knows.
func (p *Provider) ClientID() string { return p.opts.ClientID }

// ClientSecret is that client's secret.
func (p *Provider) ClientSecret() string { return p.opts.ClientSecret }

// AddUser adds a user, or replaces the one with the same Subject. Changes
// show in tokens issued afterwards.
func (p *Provider) AddUser(u User) {
	u.Groups = slices.Clone(u.Groups)
	p.mu.Lock()
	defer p.mu.Unlock()
	for i := range p.users {
		if p.users[i].Subject == u.Subject {
			p.users[i] = u
			return
		}
	}
	p.users = append(p.users, u)
}

// MutateNextToken makes the next successful /token response misbehave as
// m says; the one after is honest again. A later call replaces an earlier
// one not yet used.
func (p *Provider) MutateNextToken(m Mutation) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.next = &m
}

// RotateKeys signs from now on with a new key and publishes only that one,
// so a relying party must fetch the JWKS again, and tokens signed before no
// longer verify.
func (p *Provider) RotateKeys() { p.rotate(false) }

// RotateKeysKeepingOld signs from now on with a new key and keeps publishing
// the old ones too, as providers do during a rollover.
func (p *Provider) RotateKeysKeepingOld() { p.rotate(true) }

func (p *Provider) rotate(keepOld bool) {
	key, err := newSigningKey(p.opts.SigningAlg)
	if err != nil {
		panic(err) // the algorithm was accepted by Start
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if keepOld {
		p.keys = append([]*signingKey{key}, p.keys...)
	} else {
		p.keys = []*signingKey{key}
	}
}

// SetDown makes every endpoint drop connections without an answer (true),
// as an unreachable provider would, or serve again (false).
func (p *Provider) SetDown(down bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = down
}

// AuthorizeQueries returns the query of every /authorize request so far,
// to check what a relying party asked for (prompt, max_age).
func (p *Provider) AuthorizeQueries() []url.Values {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.authorizeQueries)
}

// EndSessions returns the calls made to the end-session endpoint so far.
func (p *Provider) EndSessions() []EndSession {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.endSessions)
}
