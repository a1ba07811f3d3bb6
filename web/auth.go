package web

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/rolegate/rolegate/internal/rolegate"
	"github.com/rolegate/rolegate/internal/sso"
	"github.com/rolegate/rolegate/views"
)

// cookieNames take the __Host- prefix over https: the browser then refuses
// them unless Secure, host-only and Path=/.
type cookieNames struct {
	session, signin, flash string
	secure                 bool
}

func newCookieNames(secure bool) cookieNames {
	if secure {
		return cookieNames{session: "__Host-rolegate_session", signin: "__Host-rolegate_signin", flash: "__Host-rolegate_flash", secure: true}
	}
	return cookieNames{session: "rolegate_session", signin: "rolegate_signin", flash: "rolegate_flash"}
}

// setCookie sets one of rolegate's cookies: never readable by scripts, sent
// on top-level navigations from the identity provider (Lax) but not on
// cross-site subrequests, host-only, and Secure over https.
func (s *Server) setCookie(c echo.Context, name, value string, maxAge time.Duration) {
	c.SetCookie(&http.Cookie{
		Name: name, Value: value, Path: "/", HttpOnly: true, Secure: s.cookies.secure,
		SameSite: http.SameSiteLaxMode, MaxAge: int(maxAge.Seconds()),
	})
}

func (s *Server) clearCookie(c echo.Context, name string) {
	c.SetCookie(&http.Cookie{Name: name, Value: "", Path: "/", HttpOnly: true, Secure: s.cookies.secure,
		SameSite: http.SameSiteLaxMode, MaxAge: -1})
}

// signinTTL bounds how long a sign-in may take at the identity provider.
const signinTTL = sso.AttemptLifetime

// groupPolicy maps the groups and verified email of a person to portal
// roles with the current settings; it is applied at every sign-in, so a
// change at the provider shows at the next one.
func (s *Server) groupPolicy() rolegate.GroupPolicy {
	return rolegate.GroupPolicy{RequesterGroups: s.Config.RequesterGroups, ApproverGroups: s.Config.ApproverGroups,
		AuditorGroups: s.Config.AuditorGroups, AdminGroups: s.Config.AdminGroups,
		RequesterEmails: s.Config.RequesterEmails, ApproverEmails: s.Config.ApproverEmails,
		AuditorEmails: s.Config.AuditorEmails, AdminEmails: s.Config.AdminEmails}
}

// rolesFor works out a signed-in person's portal roles: from the groups,
// and from the email only when it is verified (sso.Identity says whether
// the provider, or the operator's ROLEGATE_OIDC_EMAILS_VERIFIED, vouches
// for it). An email list that would have matched an unverified email is
// logged, so that the operator can tell why someone has no role.
func (s *Server) rolesFor(c echo.Context, id sso.Identity) []rolegate.PortalRole {
	policy := s.groupPolicy()
	if id.EmailVerified {
		return policy.RolesFor(id.Groups, id.Email)
	}
	roles := policy.RolesFor(id.Groups, "")
	if id.Email != "" && len(policy.RolesFor(id.Groups, id.Email)) > len(roles) {
		s.Logger.Warn("a role by email was not given: the provider did not say the email is verified "+
			"(email_verified false or absent; ROLEGATE_OIDC_EMAILS_VERIFIED=1 is for a provider that never sends it and documents its emails as verified)",
			"subject", id.Subject, "request_id", requestIDFrom(ctx(c)))
	}
	return roles
}

// login starts a sign-in at the identity provider (or the dev page).
func (s *Server) login(c echo.Context) error {
	returnTo := sso.SafeReturnPath(c.QueryParam("return_to"))
	if s.SSO == nil {
		if !s.Config.Dev {
			return rolegate.Errorf(rolegate.EUNAVAILABLE, "Sign-in is not configured on this portal.")
		}
		return c.Redirect(http.StatusSeeOther, "/auth/dev?return_to="+url.QueryEscape(returnTo))
	}
	return s.startSignIn(c, sso.BeginOptions{ReturnTo: returnTo}, "")
}

// startSignIn redirects to the identity provider. The attempt's secrets
// travel sealed in a short-lived cookie of this browser (internal/sso's
// SealAttempt): nothing is stored for an anonymous visitor, so no number
// of them can exhaust anything others need. An approval waiting for the
// re-authentication (pending, JSON) is kept on the approver's own session
// and bound to the attempt by its digest.
func (s *Server) startSignIn(c echo.Context, opts sso.BeginOptions, pending string) error {
	if pending != "" {
		if err := s.Sessions.SetPendingAction(ctx(c), sessionTokenFrom(ctx(c)), pending); err != nil {
			return err
		}
		opts.Bound = pendingDigest(pending)
	}
	authURL, a := s.SSO.BeginWith(opts)
	s.setCookie(c, s.cookies.signin, s.SSO.SealAttempt(a), signinTTL)
	if c.Request().Header.Get("HX-Request") == "true" {
		c.Response().Header().Set("HX-Redirect", authURL)
		return c.NoContent(http.StatusNoContent)
	}
	return c.Redirect(http.StatusSeeOther, authURL)
}

// pendingDigest binds a pending action to the sign-in attempt made for it.
func pendingDigest(pending string) string {
	sum := sha256.Sum256([]byte(pending))
	return hex.EncodeToString(sum[:])
}

// callback completes a sign-in: the attempt is taken (single use, whatever
// happens next), the provider's answer checked by internal/sso, and a fresh
// session created in place of any the browser had.
func (s *Server) callback(c echo.Context) error {
	if s.SSO == nil {
		return echo.ErrNotFound
	}
	cookie, err := c.Cookie(s.cookies.signin)
	s.clearCookie(c, s.cookies.signin)
	if err != nil || cookie.Value == "" {
		return s.signInFailed(c, "attempt_missing", "/", errors.New("callback without a sign-in attempt cookie"))
	}
	attempt, err := s.SSO.TakeAttempt(cookie.Value)
	if err != nil {
		return s.signInFailed(c, string(sso.ReasonOf(err)), "/", err)
	}
	q := c.QueryParams()
	// RFC 9207: a provider that names itself in the callback must be the
	// one this portal trusts (a defence against mix-up attacks).
	if iss := q.Get("iss"); iss != "" && iss != s.SSO.Issuer() {
		return s.signInFailed(c, "issuer_mismatch", attempt.ReturnTo, fmt.Errorf("callback iss %.200q is not the configured issuer", iss))
	}
	if q.Get("error") != "" {
		err := sso.CallbackError(attempt, q.Get("state"), q.Get("error"), q.Get("error_description"))
		return s.signInFailed(c, string(sso.ReasonOf(err)), attempt.ReturnTo, err)
	}
	id, err := s.SSO.Finish(ctx(c), attempt, q.Get("state"), q.Get("code"))
	if err != nil {
		if sso.ReasonOf(err) == sso.ReasonAuthTimeMissing {
			// Remembered, so that the next approval says so at once
			// instead of sending the approver through the provider again.
			s.noAuthTime.Store(true)
		}
		return s.signInFailed(c, string(sso.ReasonOf(err)), attempt.ReturnTo, err)
	}
	pending := ""
	if attempt.Bound != "" {
		// Taken from the session that asked for it, before that session
		// is replaced below.
		if pending, err = s.Sessions.TakePendingAction(ctx(c), sessionTokenFrom(ctx(c))); err != nil {
			return err
		}
		if subtle.ConstantTimeCompare([]byte(pendingDigest(pending)), []byte(attempt.Bound)) != 1 {
			s.Logger.Warn("the approval waiting for this re-authentication is gone (another approval started since, or the session ended)",
				"request_id", requestIDFrom(ctx(c)))
			pending = ""
		}
	}
	principal := rolegate.Principal{
		Person: rolegate.Person{Issuer: id.Issuer, Subject: id.Subject, Email: id.Email, Name: id.Name},
		Roles:  s.rolesFor(c, id),
	}
	auth := rolegate.SessionAuth{AuthTime: id.AuthTime}
	if attempt.PromptLogin && id.AuthTime.IsZero() {
		// The provider stated no auth_time; the prompt=login round trip
		// that just completed, bound to this attempt by state and nonce,
		// stands for the re-authentication, and is kept as such.
		auth.StepUpAt = s.Now()
	}
	if err := s.beginSession(c, principal, auth); err != nil {
		return err
	}
	if id.GroupsOverage {
		return s.groupsOverage(c, principal, attempt.ReturnTo, pending != "")
	}
	if pending != "" {
		return s.resumePendingAction(c, principal, pending, rolegate.Reauth{
			Mode: s.Config.ApproveReauth, AuthTime: id.AuthTime, StepUpAt: auth.StepUpAt, RoundTrip: true})
	}
	if attempt.Bound != "" {
		return rolegate.Errorf(rolegate.ECONFLICT, "You signed in again, but the approval that asked for it was replaced by a later one or has expired; it was not recorded. Open the request and approve it again.")
	}
	return c.Redirect(http.StatusSeeOther, sso.SafeReturnPath(attempt.ReturnTo))
}

// beginSession replaces whatever session the browser had with a new one
// (new id, new CSRF token); the old one is deleted in the same transaction.
func (s *Server) beginSession(c echo.Context, p rolegate.Principal, auth rolegate.SessionAuth) error {
	actor := s.actor(c)
	actor.Principal = p
	token, sess, err := s.Sessions.CreateSession(ctx(c), actor, auth, s.limits, sessionTokenFrom(ctx(c)))
	if err != nil {
		return err
	}
	if s.Metrics != nil {
		s.Metrics.SignIn("success")
	}
	s.setCookie(c, s.cookies.session, token, s.limits.Absolute)
	c.SetRequest(c.Request().WithContext(withSession(ctx(c), sess, token)))
	return nil
}

// signInFailed records a failed sign-in and shows a page to try again. The
// reason is a code, fit for the audit trail; the detail (scrubbed of
// secrets by internal/sso) goes to the log only.
func (s *Server) signInFailed(c echo.Context, reason, returnTo string, err error) error {
	if reason == "" {
		reason = "unknown"
	}
	s.Logger.Warn("sign-in failed", "reason", reason, "err", err, "request_id", requestIDFrom(ctx(c)), "client", c.RealIP())
	if s.Metrics != nil {
		s.Metrics.SignIn("failure")
	}
	// Coalesced (coalesce.go): anyone, signed out, can fail a sign-in over
	// and over, and each would otherwise be one more event in the trail.
	actor := s.actor(c)
	s.record(ctx(c), runKey(rolegate.ActionSignInFailed, actor, c.Path(), reason), actor,
		rolegate.OutcomeFailure, rolegate.SignInFailed{Reason: reason})

	status, msg := http.StatusUnauthorized, "We could not sign you in. This can happen when a sign-in link is used twice, took too long, or was not started from this browser. Please try again."
	switch sso.Reason(reason) {
	case sso.ReasonProviderUnreachable:
		status, msg = http.StatusServiceUnavailable, "The company's sign-in service did not answer. Please try again in a moment."
	case sso.ReasonProviderDenied:
		msg = "The company's sign-in service did not sign you in (perhaps the sign-in was cancelled). Please try again."
	case sso.ReasonAuthTooOld:
		msg = "This step needs a fresh sign-in, and the sign-in service did not ask you to authenticate again. Please try again."
	case sso.ReasonAuthTimeMissing:
		return s.reauthUnsupported(c, returnTo)
	}
	retry := "/auth/login"
	if p := sso.SafeReturnPath(returnTo); p != "/" {
		retry += "?return_to=" + url.QueryEscape(p)
	}
	return s.render(c, status, views.ErrorPage(s.chrome(c, ""), status, "Sign-in failed", msg, retry, "Try again"))
}

// reauthUnsupported tells an approver that approving cannot work with the
// provider as configured, and what the operator must change. It offers the
// way back to the request, never another round through the provider, which
// would end the same way.
func (s *Server) reauthUnsupported(c echo.Context, returnTo string) error {
	s.Logger.Error("approving is impossible: the identity provider states no auth_time although max_age was asked; "+
		"set ROLEGATE_APPROVE_REAUTH=login (prompt=login) or off, or make the provider send auth_time",
		"approve_reauth", s.Config.ApproveReauth, "request_id", requestIDFrom(ctx(c)))
	return s.render(c, http.StatusServiceUnavailable, views.SignInNotice(s.chrome(c, ""), "Approving needs a setting changed",
		[]string{
			"Approving asks the company's sign-in service to confirm that you signed in recently, and this sign-in service does not say when you signed in (it sends no auth_time). Your approval was not recorded, and trying again will not help.",
			"Please tell the portal's operator: set ROLEGATE_APPROVE_REAUTH=login (the sign-in service is asked to authenticate you again with prompt=login) or ROLEGATE_APPROVE_REAUTH=off, or configure the sign-in service to send auth_time. The portal's log says the same.",
		}, sso.SafeReturnPath(returnTo), "Back"))
}

// groupsOverage completes a sign-in whose groups the provider left out for
// being too many (Microsoft Entra ID's overage): the person is signed in
// with the roles that need no group, and told why the others are missing
// rather than left to wonder.
func (s *Server) groupsOverage(c echo.Context, p rolegate.Principal, returnTo string, pendingApproval bool) error {
	s.Logger.Warn("groups overage: the identity provider sent no groups for this person because they are in too many groups; "+
		"signed in without group roles (Entra ID: emit only groups assigned to the application)",
		"person", p.Key(), "roles", p.RoleNames(), "groups_claim", s.Config.GroupsClaim, "request_id", requestIDFrom(ctx(c)))
	paragraphs := []string{
		"The company's sign-in service did not send your groups, because you are in more groups than fit in a sign-in token (Microsoft Entra ID calls this a groups overage). You are signed in, but only with what needs no group.",
		"Please tell the portal's operator: in the app registration, emit only the groups assigned to the application (Token configuration, groups claim, \"Groups assigned to the application\"), and assign the groups that rolegate uses to it.",
	}
	if pendingApproval {
		paragraphs = append(paragraphs, "Your approval was not recorded.")
	}
	return s.render(c, http.StatusOK, views.SignInNotice(s.chrome(c, ""), "Your groups could not be read", paragraphs,
		sso.SafeReturnPath(returnTo), "Continue"))
}

// logoutConfirm is the sign-out page for browsers without JavaScript.
func (s *Server) logoutConfirm(c echo.Context) error {
	return s.render(c, http.StatusOK, views.SignOutPage(s.chrome(c, "")))
}

// logout deletes the session server-side and offers the provider's
// end-session endpoint. The link carries only client_id: the ID token is
// never stored (it would be one more secret in the database), and a
// post-logout redirect would have to be registered at the provider.
func (s *Server) logout(c echo.Context) error {
	if err := s.Sessions.DeleteSession(ctx(c), sessionTokenFrom(ctx(c)), s.actor(c)); err != nil {
		return err
	}
	s.clearCookie(c, s.cookies.session)
	c.SetRequest(c.Request().WithContext(withSession(ctx(c), nil, "")))
	providerLogout := ""
	if s.SSO != nil {
		if u, ok := s.SSO.EndSessionURL("", ""); ok {
			providerLogout = u
		}
	}
	if c.Request().Header.Get("HX-Request") == "true" {
		c.Response().Header().Set("HX-Retarget", "body")
	}
	return s.render(c, http.StatusOK, views.SignedOutPage(s.chrome(c, ""), providerLogout))
}

// pendingApproval is an approval waiting for a fresh authentication.
type pendingApproval struct {
	Kind        string `json:"kind"`
	PersonKey   string `json:"person"`
	RequestID   int64  `json:"request_id"`
	PayloadHash string `json:"payload_hash"`
	Comment     string `json:"comment"`
}

// resumePendingAction completes the approval that sent the person to
// re-authenticate, if they came back as the same person. The domain checks
// again that they may decide (roles were just re-read) and that the payload
// is still the one they saw.
func (s *Server) resumePendingAction(c echo.Context, p rolegate.Principal, raw string, reauth rolegate.Reauth) error {
	var pa pendingApproval
	if err := json.Unmarshal([]byte(raw), &pa); err != nil || pa.Kind != "approve" {
		s.Logger.Error("unreadable pending action after sign-in", "request_id", requestIDFrom(ctx(c)))
		return c.Redirect(http.StatusSeeOther, "/")
	}
	if pa.PersonKey != p.Key() {
		if err := s.recordDenied(c, "re-authenticated as another person; approval not recorded"); err != nil {
			return err
		}
		return rolegate.Errorf(rolegate.EFORBIDDEN, "You signed in as someone else; the approval was not recorded.")
	}
	if _, err := s.Requests.ApproveWith(ctx(c), s.actor(c), pa.RequestID, pa.PayloadHash, pa.Comment, reauth); err != nil {
		// Refused on return (decided meanwhile, the comment): the request
		// says why, with the comment, as a refused approval without the
		// detour does.
		if d, ok := refusedChange(err, draftDecide, pa.Comment); ok {
			return s.refusePost(c, requestPath(pa.RequestID), d)
		}
		return err
	}
	s.setFlash(c, requestPath(pa.RequestID), flashNote{Key: "approved"})
	return c.Redirect(http.StatusSeeOther, requestPath(pa.RequestID))
}
