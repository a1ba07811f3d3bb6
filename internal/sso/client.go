package sso

import (
	"context"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// Config describes the relying party as registered at the provider.
type Config struct {
	Issuer       string // exact issuer URL; https unless the host is loopback or AllowHTTPIssuer
	ClientID     string
	ClientSecret string
	RedirectURL  string   // the portal's /auth/callback, absolute
	Scopes       []string // default "openid profile email"; "openid" is always added
	GroupsClaim  string   // claim holding group names; default "groups"
	HTTPClient   *http.Client
	// EmailsVerified: the operator states that this provider verifies
	// every email it sends but never says so in an email_verified claim
	// (ROLEGATE_OIDC_EMAILS_VERIFIED). An email that comes without the
	// claim, from the ID token and from userinfo (which is then asked
	// too), counts as verified; one stated false, or anything but true,
	// never does.
	EmailsVerified bool
	// AllowHTTPIssuer accepts a plain-http issuer on another machine. The
	// portal sets it only when it is itself served over plain http: a
	// deployment without TLS anywhere is the operator's choice, and is
	// warned about at start.
	AllowHTTPIssuer bool
	// Now is the clock for attempt lifetimes and token times; nil is
	// time.Now (tests move it).
	Now func() time.Time
}

// Identity is a verified person. (Issuer, Subject) identifies them; Email
// and Name are for display and notifications only.
type Identity struct {
	Issuer  string
	Subject string
	Email   string
	Name    string
	Groups  []string // never nil; empty when the provider sent no groups claim
	// EmailVerified is the provider's email_verified claim (true, or the
	// string "true"), from the same source as Email; or, when the provider
	// stated no email_verified at all and the operator said its emails are
	// verified (Config.EmailsVerified), true with EmailVerifiedByOperator.
	// Only a verified email may grant anything.
	EmailVerified bool
	// EmailVerifiedByOperator: EmailVerified rests on the operator's
	// statement, not on a claim.
	EmailVerifiedByOperator bool
	// GroupsOverage: the provider left the groups out because there are
	// too many (Microsoft Entra ID's "_claim_names"/"hasgroups"), so Groups
	// is empty although the person has groups.
	GroupsOverage bool
	AuthTime      time.Time // when the person last authenticated at the provider; zero if the provider did not say
	IDToken       string    // raw ID token, only for EndSessionURL's id_token_hint
}

// Attempt is one sign-in in flight. The caller keeps it for the browser
// that started it (sealed in a cookie with SealAttempt, taken back once
// with TakeAttempt) and passes it to Finish. Every field except ReturnTo
// is secret.
type Attempt struct {
	State        string
	Nonce        string
	CodeVerifier string
	ReturnTo     string        // already passed through SafeReturnPath
	MaxAge       time.Duration // 0 = no max_age requested
	// PromptLogin asked the provider to authenticate the person again
	// (prompt=login). Finish then accepts a token without auth_time: the
	// round trip itself, bound to this attempt by state and nonce, is the
	// re-authentication (Identity.AuthTime stays zero).
	PromptLogin bool
	// Bound is the caller's own data bound to this attempt (a digest of an
	// action to complete after it); sealed with the rest.
	Bound     string
	CreatedAt time.Time
}

// AttemptLifetime is how long a browser may take at the provider. Finish
// refuses older attempts; callers should expire stored attempts after it too.
const AttemptLifetime = 10 * time.Minute

const (
	defaultHTTPTimeout = 10 * time.Second
	discoveryTimeout   = 15 * time.Second
	// clockSkew is the leeway between the provider's clock and ours for iat
	// and auth_time.
	clockSkew = time.Minute
)

// Client is a relying party bound to one provider. It is safe for
// concurrent use.
type Client struct {
	issuer       string
	clientSecret string
	groupsClaim  string
	// emailsVerified: Config.EmailsVerified.
	emailsVerified bool
	httpClient     *http.Client
	provider       *oidc.Provider
	verifier       *oidc.IDTokenVerifier
	oauth          oauth2.Config
	endSession     string
	// claimsSupported is discovery's claims_supported; nil when the
	// provider did not list its claims.
	claimsSupported []string
	sealer          cipher.AEAD // seals attempts; its key never leaves memory
	used            *usedStates
	now             func() time.Time
}

// discoveryExtras are discovery fields go-oidc does not expose.
type discoveryExtras struct {
	JWKSURI            string   `json:"jwks_uri"`
	EndSessionEndpoint string   `json:"end_session_endpoint"`
	TokenAuthMethods   []string `json:"token_endpoint_auth_methods_supported"`
	ClaimsSupported    []string `json:"claims_supported"`
}

// New fetches the provider's discovery document and returns a Client. It
// gives up after a bounded time even when ctx has no deadline.
func New(ctx context.Context, cfg Config) (*Client, error) {
	if err := checkConfig(cfg); err != nil {
		return nil, err
	}
	hc := cfg.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: defaultHTTPTimeout}
	} else if hc.Timeout == 0 {
		// Background JWKS refreshes in go-oidc run without a deadline of
		// ours, so the client itself must have one.
		copied := *hc
		copied.Timeout = defaultHTTPTimeout
		hc = &copied
	}

	dctx, cancel := context.WithTimeout(ctx, discoveryTimeout)
	defer cancel()
	provider, err := oidc.NewProvider(oidc.ClientContext(dctx, hc), cfg.Issuer)
	if err != nil {
		if _, ok := errors.AsType[*oidc.IssuerMismatchError](err); ok {
			return nil, newError(ReasonDiscoveryInvalid, fmt.Sprintf("discovery at %s", cfg.Issuer), err, cfg.ClientSecret)
		}
		return nil, newError(ReasonProviderUnreachable, fmt.Sprintf("discovery at %s", cfg.Issuer), err, cfg.ClientSecret)
	}
	endpoint := provider.Endpoint()
	var extras discoveryExtras
	if err := provider.Claims(&extras); err != nil {
		return nil, newError(ReasonDiscoveryInvalid, fmt.Sprintf("discovery at %s", cfg.Issuer), err, cfg.ClientSecret)
	}
	for name, u := range map[string]string{"authorization_endpoint": endpoint.AuthURL, "token_endpoint": endpoint.TokenURL, "jwks_uri": extras.JWKSURI} {
		if !isAbsoluteHTTPURL(u) {
			return nil, newError(ReasonDiscoveryInvalid, fmt.Sprintf("discovery at %s: %s is missing or not an http(s) URL", cfg.Issuer, name), nil)
		}
	}
	if extras.EndSessionEndpoint != "" && !isAbsoluteHTTPURL(extras.EndSessionEndpoint) {
		extras.EndSessionEndpoint = ""
	}
	// Pick the client authentication the provider supports rather than
	// letting oauth2 probe: a probe sends the single-use code twice.
	// RFC 8414 makes client_secret_basic the default when none is listed.
	endpoint.AuthStyle = oauth2.AuthStyleInHeader
	if len(extras.TokenAuthMethods) > 0 &&
		!slices.Contains(extras.TokenAuthMethods, "client_secret_basic") &&
		slices.Contains(extras.TokenAuthMethods, "client_secret_post") {
		endpoint.AuthStyle = oauth2.AuthStyleInParams
	}

	scopes := cfg.Scopes
	if len(scopes) == 0 {
		scopes = []string{oidc.ScopeOpenID, "profile", "email"}
	}
	if !slices.Contains(scopes, oidc.ScopeOpenID) {
		scopes = append([]string{oidc.ScopeOpenID}, scopes...)
	}
	groupsClaim := cfg.GroupsClaim
	if groupsClaim == "" {
		groupsClaim = "groups"
	}

	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	return &Client{
		issuer:         cfg.Issuer,
		clientSecret:   cfg.ClientSecret,
		groupsClaim:    groupsClaim,
		emailsVerified: cfg.EmailsVerified,
		httpClient:     hc,
		provider:       provider,
		// Every check of go-oidc's verifier stays on; the algorithm list
		// is ours, not the provider's, so "none" and HS256 never parse.
		verifier: provider.Verifier(&oidc.Config{
			ClientID:             cfg.ClientID,
			SupportedSigningAlgs: []string{oidc.RS256, oidc.ES256},
		}),
		oauth: oauth2.Config{
			ClientID:     cfg.ClientID,
			ClientSecret: cfg.ClientSecret,
			Endpoint:     endpoint,
			RedirectURL:  cfg.RedirectURL,
			Scopes:       scopes,
		},
		endSession:      extras.EndSessionEndpoint,
		claimsSupported: extras.ClaimsSupported,
		sealer:          newAttemptSealer(),
		used:            newUsedStates(maxUsedStates),
		now:             now,
	}, nil
}

func checkConfig(cfg Config) error {
	iss, err := url.Parse(cfg.Issuer)
	switch {
	case cfg.Issuer == "" || err != nil || iss.Host == "" || (iss.Scheme != "https" && iss.Scheme != "http"):
		return newError(ReasonConfigInvalid, fmt.Sprintf("issuer %q is not an absolute http(s) URL", cfg.Issuer), nil)
	case iss.Scheme == "http" && !isLoopback(iss.Hostname()) && !cfg.AllowHTTPIssuer:
		// Discovery and keys over plain HTTP let anyone on the path mint
		// identities; only a provider on this machine may skip TLS.
		return newError(ReasonConfigInvalid, fmt.Sprintf("issuer %q must use https", cfg.Issuer), nil)
	case cfg.ClientID == "":
		return newError(ReasonConfigInvalid, "client id is empty", nil)
	case cfg.ClientSecret == "":
		return newError(ReasonConfigInvalid, "client secret is empty", nil)
	case !isAbsoluteHTTPURL(cfg.RedirectURL):
		return newError(ReasonConfigInvalid, fmt.Sprintf("redirect URL %q is not an absolute http(s) URL", cfg.RedirectURL), nil)
	}
	return nil
}

func isAbsoluteHTTPURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "https" || u.Scheme == "http") && u.Host != ""
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Begin starts a sign-in. It returns the provider URL to send the browser to
// and the Attempt to keep for the callback. A maxAge above zero asks the
// provider to re-authenticate anyone whose last authentication is older,
// and Finish then insists on an auth_time within it.
func (c *Client) Begin(returnTo string, maxAge time.Duration) (authURL string, a Attempt) {
	return c.BeginWith(BeginOptions{ReturnTo: returnTo, MaxAge: maxAge})
}

// BeginOptions are the choices of a sign-in beyond where to return.
type BeginOptions struct {
	ReturnTo string
	MaxAge   time.Duration // see Begin
	// PromptLogin adds prompt=login, for providers that never state
	// auth_time: see Attempt.PromptLogin.
	PromptLogin bool
	Bound       string // see Attempt.Bound
}

// BeginWith is Begin with every option.
func (c *Client) BeginWith(o BeginOptions) (authURL string, a Attempt) {
	a = Attempt{
		State:        randomToken(),
		Nonce:        randomToken(),
		CodeVerifier: oauth2.GenerateVerifier(),
		ReturnTo:     SafeReturnPath(o.ReturnTo),
		MaxAge:       max(o.MaxAge, 0),
		PromptLogin:  o.PromptLogin,
		Bound:        o.Bound,
		CreatedAt:    c.now(),
	}
	opts := []oauth2.AuthCodeOption{
		oidc.Nonce(a.Nonce),
		oauth2.S256ChallengeOption(a.CodeVerifier),
	}
	if a.MaxAge > 0 {
		opts = append(opts, oauth2.SetAuthURLParam("max_age", strconv.FormatInt(int64(a.MaxAge/time.Second), 10)))
	}
	if a.PromptLogin {
		opts = append(opts, oauth2.SetAuthURLParam("prompt", "login"))
	}
	return c.oauth.AuthCodeURL(a.State, opts...), a
}

// StatesAuthTime reports whether the provider's discovery document lists
// auth_time among its claims_supported; listed is false when it lists no
// claims at all (the field is only recommended), and then nothing is known.
func (c *Client) StatesAuthTime() (states, listed bool) {
	if c.claimsSupported == nil {
		return false, false
	}
	return slices.Contains(c.claimsSupported, "auth_time"), true
}

// randomToken returns 256 bits from crypto/rand, URL-safe.
func randomToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // never fails: crypto/rand crashes the program instead
	return base64.RawURLEncoding.EncodeToString(b)
}

// EndSessionURL returns the provider's RP-initiated logout URL, or false
// when discovery announced no end_session_endpoint.
func (c *Client) EndSessionURL(idTokenHint, postLogoutRedirect string) (string, bool) {
	if c.endSession == "" {
		return "", false
	}
	u, err := url.Parse(c.endSession)
	if err != nil {
		return "", false
	}
	q := u.Query()
	q.Set("client_id", c.oauth.ClientID)
	if idTokenHint != "" {
		q.Set("id_token_hint", idTokenHint)
	}
	if postLogoutRedirect != "" {
		q.Set("post_logout_redirect_uri", postLogoutRedirect)
	}
	u.RawQuery = q.Encode()
	return u.String(), true
}

// Issuer returns the issuer this Client trusts, the first half of every
// Identity's key.
func (c *Client) Issuer() string { return c.issuer }
