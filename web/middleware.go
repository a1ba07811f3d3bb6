package web

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/rolegate/rolegate/internal/rolegate"
)

// assignRequestID gives every request a fresh id (a client-sent one is not
// trusted: it ends up in the audit trail).
func (s *Server) assignRequestID(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		b := make([]byte, 12)
		_, _ = rand.Read(b)
		id := hex.EncodeToString(b)
		c.Response().Header().Set(echo.HeaderXRequestID, id)
		c.SetRequest(c.Request().WithContext(withRequestID(ctx(c), id)))
		return next(c)
	}
}

// logRequests logs one line per request: method, path (never the query,
// which can hold an authorization code), status, duration and request id.
func (s *Server) logRequests(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := time.Now()
		err := next(c)
		if err != nil {
			c.Error(err)
		}
		d := time.Since(start)
		status := c.Response().Status
		route := c.Path()
		if route == "" {
			route = "unmatched"
		}
		if s.Metrics != nil {
			s.Metrics.ObserveHTTP(route, c.Request().Method, status, d)
		}
		level := slogLevelFor(status)
		// LogAttrs: the same line without boxing every value into an any.
		s.Logger.LogAttrs(ctx(c), level, "http request",
			slog.String("method", c.Request().Method), slog.String("path", c.Request().URL.Path), slog.String("route", route),
			slog.Int("status", status), slog.Float64("duration_ms", float64(d.Microseconds())/1000),
			slog.String("request_id", requestIDFrom(ctx(c))), slog.String("client", c.RealIP()))
		return nil
	}
}

// contentSecurityPolicy is the policy of every page: everything from the
// portal's own origin, nothing inline.
func (s *Server) contentSecurityPolicy() string {
	return "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; " +
		"form-action " + s.formAction + "; frame-ancestors 'none'; base-uri 'none'"
}

// securityHeaders sets a strict CSP and friends on every answer, and
// no-store: a handler whose answer may be kept (the fingerprinted assets)
// says so itself.
func (s *Server) securityHeaders(next echo.HandlerFunc) echo.HandlerFunc {
	// Echo applies its middleware on every request: this runs each time.
	csp := s.contentSecurityPolicy()
	hsts := s.Config.SecureCookies()
	return func(c echo.Context) error {
		h := c.Response().Header()
		h.Set("Content-Security-Policy", csp)
		for k, v := range fixedHeaders {
			h[k] = v
		}
		if hsts {
			h["Strict-Transport-Security"] = hstsHeader
		}
		return next(c)
	}
}

// The headers of every answer that never change, shared by all answers
// rather than allocated again for each (a slice per header per request).
// A handler that sets one replaces its slice (Header.Set), and one that
// adds to it gets a new one (a slice with no room to grow is copied), so
// the shared values are never written to.
var (
	fixedHeaders = map[string][]string{
		"X-Content-Type-Options":       {"nosniff"},
		"X-Frame-Options":              {"DENY"},
		"Referrer-Policy":              {"same-origin"},
		"Cross-Origin-Opener-Policy":   {"same-origin"},
		"Cross-Origin-Resource-Policy": {"same-origin"},
		"Cache-Control":                {"no-store"},
	}
	hstsHeader = []string{"max-age=31536000; includeSubDomains"}
)

// readForm reads a posted form once, up front: a body over the limit then
// answers 413 with the error page, and a malformed one 400, instead of
// surfacing later as a missing CSRF token or an unreadable form.
func (s *Server) readForm(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := c.Request()
		if r.Method != http.MethodPost && r.Method != http.MethodPut && r.Method != http.MethodPatch {
			return next(c)
		}
		if err := r.ParseForm(); err != nil {
			if he, ok := errors.AsType[*echo.HTTPError](err); ok {
				return he
			}
			return echo.NewHTTPError(http.StatusBadRequest, "the form could not be read").SetInternal(err)
		}
		return next(c)
	}
}

// loadSession attaches the signed-in session, if the cookie names a live
// one, unless the route says NoSession (routes.go).
func (s *Server) loadSession(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if r, ok := routeFrom(ctx(c)); ok && r.Session == NoSession {
			return next(c)
		}
		cookie, err := c.Cookie(s.cookies.session)
		if err != nil || cookie.Value == "" {
			return next(c)
		}
		sess, err := s.Sessions.LookupSession(ctx(c), cookie.Value, s.limits)
		switch {
		case errors.Is(err, rolegate.ErrNoSession):
			s.clearCookie(c, s.cookies.session)
		case err != nil:
			return err
		default:
			c.SetRequest(c.Request().WithContext(withSession(ctx(c), sess, cookie.Value)))
		}
		return next(c)
	}
}

// authorize enforces a route's access level and, on changes, the CSRF token.
func (s *Server) authorize(r Route) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			if r.Access == Public || r.Access == DevOnly || r.Access == Scraper {
				return next(c) // a scraper's token is checked by its handler
			}
			sess := sessionFrom(ctx(c))
			if sess == nil {
				return s.sendToSignIn(c)
			}
			if role := r.Access.Role(); role != "" && !sess.Principal.Has(role) {
				if err := s.recordDenied(c, "missing portal role "+string(role)); err != nil {
					return err
				}
				return rolegate.Errorf(rolegate.EFORBIDDEN, "This page is for people with the %s role in rolegate.", role)
			}
			if r.Method != http.MethodGet && r.Method != http.MethodHead {
				if !validCSRF(c, sess.CSRFToken) {
					if err := s.recordDenied(c, "missing or wrong CSRF token"); err != nil {
						return err
					}
					return rolegate.Errorf(rolegate.EFORBIDDEN, "This form has expired or did not come from rolegate. Reload the page and try again.")
				}
			}
			return next(c)
		}
	}
}

// validCSRF accepts the session's token from the htmx header or a form field.
func validCSRF(c echo.Context, want string) bool {
	got := c.Request().Header.Get("X-CSRF-Token")
	if got == "" {
		got = c.FormValue("csrf_token")
	}
	return got != "" && subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}

// sendToSignIn redirects a signed-out browser to sign in, remembering where
// it was going (GET only; a form post cannot be replayed).
func (s *Server) sendToSignIn(c echo.Context) error {
	target := "/auth/login"
	if c.Request().Method == http.MethodGet {
		target += "?return_to=" + url.QueryEscape(c.Request().URL.RequestURI())
	}
	if c.Request().Header.Get("HX-Request") == "true" {
		c.Response().Header().Set("HX-Redirect", target)
		return c.NoContent(http.StatusUnauthorized)
	}
	return c.Redirect(http.StatusSeeOther, target)
}

// recordDenied records a refusal as an access.denied event, coalesced:
// the first refusal of a person (or, signed out, a client address) on a
// route for a reason is written at once, its repeats within the minute are
// counted and written as one event (coalesce.go). A refused GET also takes
// a token from the writes budget (a post took its own on the way in);
// past the budget the answer is 429 instead, which the caller returns. A
// failure to record is logged but does not change the answer.
func (s *Server) recordDenied(c echo.Context, why string) error {
	var throttled error
	if m := c.Request().Method; m == http.MethodGet || m == http.MethodHead {
		throttled = s.throttle(c, s.formLimits, requesterKey(c))
	}
	s.recordRefusal(c, why)
	return throttled
}

// recordRefusal records a refusal, coalesced, without the throttle. Alone
// it serves refusals answered 404 to hide that a request exists: a 429
// there, where a request that does not exist answers 404, would tell which
// ones do. The trail stays bounded by the coalescing all the same.
func (s *Server) recordRefusal(c echo.Context, why string) {
	a := s.actor(c)
	key := runKey(rolegate.ActionAccessDenied, a, c.Request().Method+" "+c.Path(), why)
	s.record(ctx(c), key, a, rolegate.OutcomeDenied, rolegate.AccessDenied{
		Method: c.Request().Method, Path: rolegate.ValidText(c.Request().URL.Path, maxPathBytes), Route: c.Path(), Reason: why,
	})
}

// ipExtractor believes X-Forwarded-For only from the configured proxies, so
// a forged header changes neither rate limits nor the audit trail.
func ipExtractor(trusted []netip.Prefix) echo.IPExtractor {
	if len(trusted) == 0 {
		return echo.ExtractIPDirect()
	}
	opts := []echo.TrustOption{echo.TrustLoopback(false), echo.TrustLinkLocal(false), echo.TrustPrivateNet(false)}
	for _, p := range trusted {
		opts = append(opts, echo.TrustIPRange(prefixToIPNet(p)))
	}
	return echo.ExtractIPFromXFFHeader(opts...)
}
