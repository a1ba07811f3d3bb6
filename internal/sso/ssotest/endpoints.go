package ssotest

import (
	"bytes"
	"crypto/subtle"
	"encoding/json"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
)

func (p *Provider) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", p.discovery)
	mux.HandleFunc("GET /jwks", p.jwks)
	mux.HandleFunc("GET /authorize", p.authorize)
	mux.HandleFunc("POST /authorize", p.authorizeChosen)
	mux.HandleFunc("POST /token", p.token)
	mux.HandleFunc("GET /userinfo", p.userinfo)
	mux.HandleFunc("POST /userinfo", p.userinfo)
	mux.HandleFunc("GET /end_session", p.endSession)
	return p.dropWhenDown(mux)
}

// dropWhenDown closes the connection without answering while SetDown(true).
func (p *Provider) dropWhenDown(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		down := p.down
		p.mu.Unlock()
		if down {
			if hj, ok := w.(http.Hijacker); ok {
				if conn, _, err := hj.Hijack(); err == nil {
					conn.Close()
					return
				}
			}
			http.Error(w, "provider down", http.StatusServiceUnavailable)
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (p *Provider) discovery(w http.ResponseWriter, r *http.Request) {
	iss := p.Issuer()
	doc := map[string]any{
		"issuer":                                iss,
		"authorization_endpoint":                iss + "/authorize",
		"token_endpoint":                        iss + "/token",
		"userinfo_endpoint":                     iss + "/userinfo",
		"jwks_uri":                              iss + "/jwks",
		"response_types_supported":              []string{"code"},
		"response_modes_supported":              []string{"query"},
		"grant_types_supported":                 []string{"authorization_code"},
		"subject_types_supported":               []string{"public"},
		"id_token_signing_alg_values_supported": []string{p.opts.SigningAlg},
		"scopes_supported":                      []string{"openid", "profile", "email", "groups"},
		"token_endpoint_auth_methods_supported": []string{"client_secret_basic", "client_secret_post"},
		"code_challenge_methods_supported":      []string{"S256"},
		"claims_supported":                      p.claimsSupported(),
	}
	if !p.opts.NoEndSession {
		doc["end_session_endpoint"] = iss + "/end_session"
	}
	writeJSON(w, http.StatusOK, doc)
}

func (p *Provider) claimsSupported() []string {
	claims := []string{"iss", "sub", "aud", "exp", "iat"}
	if !p.opts.Profile.NoAuthTime && !p.opts.Profile.AuthTimeUnlisted {
		claims = append(claims, "auth_time")
	}
	claims = append(claims, "nonce", "name", "email")
	if !p.opts.Profile.NoEmailVerified {
		claims = append(claims, "email_verified")
	}
	if !p.opts.Profile.NoGroups {
		claims = append(claims, p.opts.GroupsClaim)
	}
	return claims
}

func (p *Provider) jwks(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	var set jose.JSONWebKeySet
	for _, k := range p.keys {
		set.Keys = append(set.Keys, k.public())
	}
	p.mu.Unlock()
	writeJSON(w, http.StatusOK, set)
}

// authorize checks an authorization request and either signs in the user
// named by login_hint or shows the sign-in page.
func (p *Provider) authorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	p.mu.Lock()
	p.authorizeQueries = append(p.authorizeQueries, q)
	p.mu.Unlock()
	// Until client and redirect URI are known good, errors are shown, not
	// redirected (RFC 6749 4.1.2.1).
	if q.Get("client_id") != p.opts.ClientID {
		http.Error(w, "unknown client_id", http.StatusBadRequest)
		return
	}
	redirectURI := q.Get("redirect_uri")
	if !p.redirectAllowed(redirectURI) {
		http.Error(w, "redirect_uri not allowed", http.StatusBadRequest)
		return
	}
	req := authRequest{
		redirectURI: redirectURI,
		state:       q.Get("state"),
		nonce:       q.Get("nonce"),
		challenge:   q.Get("code_challenge"),
		scope:       q.Get("scope"),
		created:     time.Now(),
	}
	fail := func(code, desc string) { redirectError(w, r, req, code, desc) }
	switch {
	case q.Get("response_type") != "code":
		fail("unsupported_response_type", "only response_type=code")
		return
	case !slices.Contains(strings.Fields(req.scope), "openid"):
		fail("invalid_scope", "scope must include openid")
		return
	case q.Get("code_challenge_method") != "S256" || len(req.challenge) != 43:
		fail("invalid_request", "PKCE with code_challenge_method=S256 is required")
		return
	}

	if hint := q.Get("login_hint"); hint != "" {
		u, ok := p.findUser(hint)
		if !ok {
			fail("access_denied", "unknown login_hint")
			return
		}
		http.Redirect(w, r, p.issueCode(req, u), http.StatusFound)
		return
	}
	if q.Get("prompt") == "none" {
		fail("login_required", "no session at the provider")
		return
	}

	id := randomString(16)
	p.mu.Lock()
	p.pending[id] = req
	users := slices.Clone(p.users)
	p.mu.Unlock()
	renderPage(w, http.StatusOK, signInPage, map[string]any{"Request": id, "Users": users})
}

// authorizeChosen handles a click on one of the sign-in page's buttons.
func (p *Provider) authorizeChosen(w http.ResponseWriter, r *http.Request) {
	id, subject := r.PostFormValue("request"), r.PostFormValue("subject")
	p.mu.Lock()
	req, ok := p.pending[id]
	delete(p.pending, id)
	p.mu.Unlock()
	if !ok || time.Since(req.created) > pageLifetime {
		http.Error(w, "unknown or expired sign-in request; start again", http.StatusBadRequest)
		return
	}
	u, ok := p.findUser(subject)
	if !ok {
		http.Error(w, "unknown user", http.StatusBadRequest)
		return
	}
	// 303 turns the POST into a GET at the relying party's callback.
	http.Redirect(w, r, p.issueCode(req, u), http.StatusSeeOther)
}

func (p *Provider) findUser(hint string) (User, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, u := range p.users {
		if u.Subject == hint || (u.Email != "" && strings.EqualFold(u.Email, hint)) {
			return u, true
		}
	}
	return User{}, false
}

// issueCode records a fresh authorization code and returns the callback
// URL carrying it.
func (p *Provider) issueCode(req authRequest, u User) string {
	code := randomString(32)
	now := time.Now()
	p.mu.Lock()
	p.codes[code] = &codeGrant{req: req, user: u, authTime: now, expires: now.Add(codeLifetime)}
	p.mu.Unlock()
	return withQuery(req.redirectURI, url.Values{"code": {code}, "state": {req.state}, "iss": {p.Issuer()}})
}

func redirectError(w http.ResponseWriter, r *http.Request, req authRequest, code, desc string) {
	http.Redirect(w, r, withQuery(req.redirectURI, url.Values{"error": {code}, "error_description": {desc}, "state": {req.state}}), http.StatusFound)
}

func withQuery(base string, add url.Values) string {
	u, _ := url.Parse(base) // checked by redirectAllowed
	q := u.Query()
	for k, vs := range add {
		if vs[0] != "" {
			q[k] = vs
		}
	}
	u.RawQuery = q.Encode()
	return u.String()
}

func (p *Provider) redirectAllowed(uri string) bool {
	if p.opts.RedirectURL != "" {
		return uri == p.opts.RedirectURL
	}
	u, err := url.Parse(uri)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" && u.Fragment == ""
}

// token redeems an authorization code (RFC 6749 4.1.3, RFC 7636 4.6).
func (p *Provider) token(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	if err := r.ParseForm(); err != nil {
		tokenError(w, http.StatusBadRequest, "invalid_request", "unreadable form")
		return
	}
	if !p.clientAuthenticated(w, r) {
		return
	}
	if r.PostForm.Get("grant_type") != "authorization_code" {
		tokenError(w, http.StatusBadRequest, "unsupported_grant_type", "only authorization_code")
		return
	}
	code, verifier := r.PostForm.Get("code"), r.PostForm.Get("code_verifier")

	p.mu.Lock()
	grant, ok := p.codes[code]
	switch {
	case !ok:
		p.mu.Unlock()
		tokenError(w, http.StatusBadRequest, "invalid_grant", "unknown authorization code")
		return
	case grant.used:
		// A replayed code may be stolen: revoke what it bought (RFC 6749 4.1.2).
		for _, at := range grant.accessTokens {
			if g := p.tokens[at]; g != nil {
				g.revoked = true
			}
		}
		p.mu.Unlock()
		tokenError(w, http.StatusBadRequest, "invalid_grant", "authorization code already used")
		return
	}
	grant.used = true
	var failure string
	switch {
	case time.Now().After(grant.expires):
		failure = "authorization code expired"
	case r.PostForm.Get("redirect_uri") != grant.req.redirectURI:
		failure = "redirect_uri differs from the authorization request"
	case len(verifier) < 43 || len(verifier) > 128 ||
		subtle.ConstantTimeCompare([]byte(s256(verifier)), []byte(grant.req.challenge)) != 1:
		failure = "PKCE verification failed"
	}
	if failure != "" {
		p.mu.Unlock()
		tokenError(w, http.StatusBadRequest, "invalid_grant", failure)
		return
	}
	var m Mutation
	if p.next != nil {
		m, p.next = *p.next, nil
	}
	key := p.keys[0]
	user, ok := p.currentUser(grant.user)
	if !ok {
		p.mu.Unlock()
		tokenError(w, http.StatusBadRequest, "invalid_grant", "user no longer exists")
		return
	}
	accessToken := randomString(32)
	grant.accessTokens = append(grant.accessTokens, accessToken)
	p.tokens[accessToken] = &accessGrant{user: user, mutation: m, expires: time.Now().Add(tokenLifetime)}
	p.mu.Unlock()

	idToken, err := p.idToken(key, grant, user, accessToken, m)
	if err != nil {
		tokenError(w, http.StatusInternalServerError, "server_error", "signing failed")
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"access_token": accessToken,
		"token_type":   "Bearer",
		"expires_in":   int(tokenLifetime / time.Second),
		"id_token":     idToken,
		"scope":        grant.req.scope,
	})
}

// currentUser returns the user as now registered; p.mu must be held.
func (p *Provider) currentUser(u User) (User, bool) {
	for _, cur := range p.users {
		if cur.Subject == u.Subject {
			return cur, true
		}
	}
	return User{}, false
}

// clientAuthenticated accepts exactly one of client_secret_basic and
// client_secret_post, and answers 401 otherwise.
func (p *Provider) clientAuthenticated(w http.ResponseWriter, r *http.Request) bool {
	id, secret, basic := r.BasicAuth()
	_, postSecret := r.PostForm["client_secret"]
	switch {
	case basic && postSecret:
		tokenError(w, http.StatusBadRequest, "invalid_request", "use one client authentication method")
		return false
	case basic:
		// RFC 6749 2.3.1: both parts are form-encoded before base64.
		var err1, err2 error
		id, err1 = url.QueryUnescape(id)
		secret, err2 = url.QueryUnescape(secret)
		if err1 != nil || err2 != nil {
			id, secret = "", ""
		}
	default:
		id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	}
	if id != p.opts.ClientID || subtle.ConstantTimeCompare([]byte(secret), []byte(p.opts.ClientSecret)) != 1 {
		w.Header().Set("WWW-Authenticate", `Basic realm="ssotest"`)
		tokenError(w, http.StatusUnauthorized, "invalid_client", "client authentication failed")
		return false
	}
	return true
}

func (p *Provider) idToken(key *signingKey, grant *codeGrant, u User, accessToken string, m Mutation) (string, error) {
	now := time.Now()
	claims := map[string]any{
		"iss":              p.Issuer(),
		"sub":              u.Subject,
		"aud":              p.opts.ClientID,
		"exp":              now.Add(tokenLifetime).Unix(),
		"iat":              now.Unix(),
		"auth_time":        grant.authTime.Unix(),
		"at_hash":          halfHash(accessToken),
		"name":             u.Name,
		"email":            u.Email,
		"email_verified":   !p.opts.Profile.EmailUnverified,
		p.opts.GroupsClaim: p.groupsOf(u),
	}
	p.applyProfile(claims, u)
	if grant.req.nonce != "" {
		claims["nonce"] = grant.req.nonce
	}
	if m.WrongAudience {
		claims["aud"] = "another-client"
	}
	if m.WrongIssuer {
		claims["iss"] = "https://another-provider.example"
	}
	if m.Expired {
		claims["exp"] = now.Add(-time.Hour).Unix()
		claims["iat"] = now.Add(-2 * time.Hour).Unix()
	}
	if m.WrongNonce {
		claims["nonce"] = "not-the-nonce-" + randomString(8)
	}
	if m.OmitSub {
		delete(claims, "sub")
	}
	if m.OmitIat {
		delete(claims, "iat")
	}
	if !m.AuthTime.IsZero() {
		claims["auth_time"] = m.AuthTime.Unix()
	}
	if m.OmitAuthTime || p.opts.Profile.NoAuthTime {
		delete(claims, "auth_time")
	}
	if m.OmitGroups {
		delete(claims, p.opts.GroupsClaim)
	}
	if m.ClaimsOnlyInUserinfo {
		for _, c := range []string{"name", "email", "email_verified", p.opts.GroupsClaim} {
			delete(claims, c)
		}
	}
	if m.EditClaims != nil {
		m.EditClaims(claims)
	}
	if p.opts.Profile.IgnoresPromptLogin {
		// The provider's session outlives every prompt=login: the first
		// auth_time sent to this user is sent again.
		p.mu.Lock()
		if first, ok := p.sessions[u.Subject]; ok {
			claims["auth_time"] = first
		} else if at, ok := claims["auth_time"].(int64); ok {
			p.sessions[u.Subject] = at
		}
		p.mu.Unlock()
	}
	switch {
	case m.AlgNone:
		return unsignedJWT(key.kid, claims)
	case m.UnknownKey:
		stray, err := newSigningKey(p.opts.SigningAlg)
		if err != nil {
			return "", err
		}
		return stray.sign(claims)
	}
	return key.sign(claims)
}

// groupsOf is the groups claim's value for u: names, or object ids.
func (p *Provider) groupsOf(u User) []string {
	groups := []string{}
	for _, g := range u.Groups {
		if p.opts.Profile.GroupsAsObjectIDs {
			g = ObjectID(g)
		}
		groups = append(groups, g)
	}
	return groups
}

// applyProfile makes an ID token's claims depart from the standard the way
// the profile says.
func (p *Provider) applyProfile(claims map[string]any, u User) {
	prof := p.opts.Profile
	if prof.NoGroups {
		delete(claims, p.opts.GroupsClaim)
	}
	if prof.NoEmailVerified {
		delete(claims, "email_verified")
	}
	if prof.GroupsOverage && len(u.Groups) > 0 {
		// Entra ID's overage indication (OIDC Core 5.6.2 distributed
		// claims, pointing at Microsoft Graph).
		delete(claims, p.opts.GroupsClaim)
		claims["_claim_names"] = map[string]string{p.opts.GroupsClaim: "src1"}
		claims["_claim_sources"] = map[string]any{"src1": map[string]string{
			"endpoint": "https://graph.microsoft.com/v1.0/users/" + u.Subject + "/getMemberObjects"}}
	}
}

func (p *Provider) userinfo(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	scheme, token, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	p.mu.Lock()
	g := p.tokens[token]
	valid := strings.EqualFold(scheme, "Bearer") && g != nil && !g.revoked && time.Now().Before(g.expires)
	var grant accessGrant
	if valid {
		grant = *g
	}
	p.mu.Unlock()
	if !valid {
		w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
		http.Error(w, "invalid access token", http.StatusUnauthorized)
		return
	}
	u, m := grant.user, grant.mutation
	claims := map[string]any{
		"sub":            u.Subject,
		"name":           u.Name,
		"email":          u.Email,
		"email_verified": !p.opts.Profile.EmailUnverified,
	}
	if !m.OmitGroups && !p.opts.Profile.NoGroups && !(p.opts.Profile.GroupsOverage && len(u.Groups) > 0) {
		claims[p.opts.GroupsClaim] = p.groupsOf(u)
	}
	if p.opts.Profile.NoEmailVerified {
		delete(claims, "email_verified")
	}
	if m.UserinfoSubject != "" {
		claims["sub"] = m.UserinfoSubject
	}
	if m.EditUserinfo != nil {
		m.EditUserinfo(claims)
	}
	writeJSON(w, http.StatusOK, claims)
}

// endSession records an RP-initiated logout and sends the browser back
// when a post_logout_redirect_uri is given.
func (p *Provider) endSession(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	es := EndSession{PostLogoutRedirectURI: q.Get("post_logout_redirect_uri"), State: q.Get("state")}
	if hint := q.Get("id_token_hint"); hint != "" {
		sub, ok := p.subjectFromHint(hint)
		if !ok {
			http.Error(w, "invalid id_token_hint", http.StatusBadRequest)
			return
		}
		es.Subject = sub
	}
	if cid := q.Get("client_id"); cid != "" && cid != p.opts.ClientID {
		http.Error(w, "unknown client_id", http.StatusBadRequest)
		return
	}
	if es.PostLogoutRedirectURI != "" && !p.postLogoutAllowed(es.PostLogoutRedirectURI) {
		http.Error(w, "post_logout_redirect_uri not allowed", http.StatusBadRequest)
		return
	}
	p.mu.Lock()
	p.endSessions = append(p.endSessions, es)
	p.mu.Unlock()
	if es.PostLogoutRedirectURI != "" {
		http.Redirect(w, r, withQuery(es.PostLogoutRedirectURI, url.Values{"state": {es.State}}), http.StatusFound)
		return
	}
	renderPage(w, http.StatusOK, signedOutPage, nil)
}

// subjectFromHint reads sub from an ID token this provider signed with a
// key it still publishes. Expiry does not matter for a hint.
func (p *Provider) subjectFromHint(hint string) (string, bool) {
	jws, err := jose.ParseSigned(hint, []jose.SignatureAlgorithm{jose.RS256, jose.ES256})
	if err != nil || len(jws.Signatures) != 1 {
		return "", false
	}
	p.mu.Lock()
	keys := slices.Clone(p.keys)
	p.mu.Unlock()
	for _, k := range keys {
		if payload, err := jws.Verify(k.priv.Public()); err == nil {
			var c struct {
				Sub string `json:"sub"`
			}
			if json.Unmarshal(payload, &c) == nil {
				return c.Sub, true
			}
		}
	}
	return "", false
}

func (p *Provider) postLogoutAllowed(uri string) bool {
	u, err := url.Parse(uri)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return false
	}
	if p.opts.RedirectURL == "" {
		return true
	}
	reg, err := url.Parse(p.opts.RedirectURL)
	return err == nil && reg.Scheme == u.Scheme && reg.Host == u.Host
}

func tokenError(w http.ResponseWriter, status int, code, desc string) {
	writeJSON(w, status, map[string]string{"error": code, "error_description": desc})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

var (
	signInPage = template.Must(template.New("signin").Parse(`<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>ssotest: sign in</title></head>
<body>
<h1>Sign in</h1>
{{range .Users}}<form method="post" action="/authorize">
<input type="hidden" name="request" value="{{$.Request}}">
<input type="hidden" name="subject" value="{{.Subject}}">
<button type="submit">Sign in as {{if .Name}}{{.Name}}{{else}}{{.Subject}}{{end}}</button>
</form>
{{else}}<p>No users. Call AddUser first.</p>
{{end}}</body>
</html>
`))
	signedOutPage = template.Must(template.New("signedout").Parse(`<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>ssotest: signed out</title></head>
<body><h1>You are signed out</h1></body>
</html>
`))
)

func renderPage(w http.ResponseWriter, status int, t *template.Template, data any) {
	// No script runs on these pages; a form-action directive is left out
	// because Chrome applies it to the redirect that follows the POST.
	var buf bytes.Buffer
	if err := t.Execute(&buf, data); err != nil {
		http.Error(w, "ssotest: render: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'")
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = buf.WriteTo(w)
}
