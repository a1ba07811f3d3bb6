// Package web is rolegate's HTTP layer and the only package that imports
// Echo: the route table, middleware, one file per resource, the error
// adapter and buffered rendering. Handlers stay thin: parse, call a domain
// service (the internal/rolegate interfaces, given in Deps), render (views).
// It never names the store: internal/app wires the services it is given.
package web

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/url"
	"sync/atomic"
	"time"

	"github.com/labstack/echo/v4"
	"golang.org/x/time/rate"

	"github.com/rolegate/rolegate/internal/audit"
	"github.com/rolegate/rolegate/internal/catalog"
	"github.com/rolegate/rolegate/internal/config"
	"github.com/rolegate/rolegate/internal/picture"
	"github.com/rolegate/rolegate/internal/rolegate"
	"github.com/rolegate/rolegate/internal/simulator"
	"github.com/rolegate/rolegate/internal/sso"
	"github.com/rolegate/rolegate/static"
	"github.com/rolegate/rolegate/views"
)

// Deps are everything the server needs, passed explicitly.
type Deps struct {
	Config *config.Config
	// Services are the domain services (internal/rolegate's interfaces);
	// Audit is the audit trail.
	rolegate.Services
	Audit audit.Trail
	// Store answers /readyz.
	Store   Pinger
	Catalog *catalog.Service
	// Picture is the organization's picture: live checks and submissions
	// make sure it is fresh before trusting it.
	Picture *picture.Picture
	// Assignments reads which roles a group or user holds upstream, for
	// the Request access form's live check (nil: not checked).
	Assignments rolegate.AssignmentReader
	// DevSimulator is the built-in Admin API simulator in dev mode (nil
	// otherwise): admins may change its organization out of band.
	DevSimulator *simulator.Simulator
	// SSO signs people in through the identity provider; nil in dev mode
	// without an issuer, where the dev sign-in page replaces it.
	SSO     *sso.Client
	Assets  *static.Assets
	Logger  *slog.Logger
	Metrics Metrics // may be nil
	// Now is the clock; nil means time.Now (tests move it).
	Now func() time.Time
	// RateLimits are the sign-in and form throttles; nil means
	// DefaultRateLimits().
	RateLimits *RateLimits
	// AuditCountBudget bounds the Audit page's count of matches; 0 means
	// 250 ms (audit.go).
	AuditCountBudget time.Duration
}

// Pinger checks that the store answers, for /readyz.
type Pinger interface {
	Ping(ctx context.Context) error
}

// Metrics receives what the HTTP layer observes; nil means none.
type Metrics interface {
	ObserveHTTP(route, method string, status int, d time.Duration)
	SignIn(outcome string)
	Handler() http.Handler
}

// Server is rolegate's HTTP handler.
type Server struct {
	Deps
	echo    *echo.Echo
	handler http.Handler
	cookies cookieNames
	limits  rolegate.SessionLimits
	// formAction is the CSP form-action source list: the portal, plus the
	// identity provider a re-authentication redirects to.
	formAction string
	// signInLimits, formLimits and exportLimits throttle sign-ins per
	// client address, posts and refusals per session, exports per session
	// (ratelimit.go).
	signInLimits, formLimits, exportLimits *limiterSet
	// repeats coalesces refusals and failed sign-ins (coalesce.go).
	repeats *repeats
	// noAuthTime is set once the provider was seen to leave auth_time out
	// of a max_age re-authentication (auth.go's reauthUnsupported).
	noAuthTime atomic.Bool
	// flashKey signs the one-time flash cookies (flash.go).
	flashKey []byte
	// upstreamChecks bounds the Admin API calls of the Request access
	// form's live checks, for everyone together (RateLimits.UpstreamChecks).
	upstreamChecks *rate.Limiter
}

// NewServer builds the server and its route table.
func NewServer(d Deps) *Server {
	if d.Now == nil {
		d.Now = time.Now
	}
	s := &Server{
		Deps:     d,
		cookies:  newCookieNames(d.Config.SecureCookies()),
		limits:   rolegate.SessionLimits{Idle: d.Config.SessionIdle, Absolute: d.Config.SessionMax},
		flashKey: newFlashKey(),
	}
	rl := DefaultRateLimits()
	if d.RateLimits != nil {
		rl = *d.RateLimits
	}
	s.signInLimits, s.formLimits = newLimiterSet(rl.SignIn, rl.MaxKeys), newLimiterSet(rl.Forms, rl.MaxKeys)
	if rl.Exports == (RateLimit{}) {
		rl.Exports = DefaultRateLimits().Exports // limits set before exports had one
	}
	s.exportLimits = newLimiterSet(rl.Exports, rl.MaxKeys)
	if rl.UpstreamChecks == (RateLimit{}) {
		rl.UpstreamChecks = DefaultRateLimits().UpstreamChecks
	}
	s.upstreamChecks = rate.NewLimiter(rl.UpstreamChecks.Per, rl.UpstreamChecks.Burst)
	s.repeats = newRepeats(repeatWindow, repeatMaxRuns)
	s.formAction = "'self'"
	if d.SSO != nil {
		if u, err := url.Parse(d.SSO.Issuer()); err == nil && u.Host != "" {
			s.formAction += " " + u.Scheme + "://" + u.Host
		}
	}
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = s.handleError
	e.IPExtractor = ipExtractor(d.Config.TrustedProxies)
	s.echo = e
	s.registerRoutes()

	// Cross-origin protection wraps everything: a cross-site browser POST is
	// refused before any handler runs (Sec-Fetch-Site / Origin).
	cop := http.NewCrossOriginProtection()
	// The refusal is a whole page like every other error page (a browser
	// shows it to the person who pressed the button), but it runs before
	// the session is read: it shows no one's name or navigation.
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.Logger.Warn("cross-origin request refused", "method", r.Method, "path", r.URL.Path)
		page := views.ErrorPage(s.anonymousChrome(),
			http.StatusForbidden, "Cross-site request refused",
			"rolegate refuses forms sent from another site or service. If you used rolegate's own page, open rolegate at its usual address and try again.",
			"/", "Go to the start page")
		h := w.Header()
		h.Set("Cache-Control", "no-store")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Content-Security-Policy", s.contentSecurityPolicy())
		var buf bytes.Buffer
		if err := page.Render(r.Context(), &buf); err != nil {
			s.Logger.Error("render error page", "err", err)
			h.Set("Content-Type", "text/plain; charset=utf-8")
			w.WriteHeader(http.StatusForbidden)
			_, _ = w.Write([]byte("Cross-site request refused.\n"))
			return
		}
		h.Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(http.StatusForbidden)
		_, _ = w.Write(buf.Bytes())
	}))
	s.handler = cop.Handler(e)
	return s
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

// actor is the person behind a request, with where they came from. Header
// text is made valid UTF-8 and cut on a character boundary here, where it
// enters: it goes to the audit trail, whose hash refuses anything else.
func (s *Server) actor(c echo.Context) rolegate.Actor {
	a := rolegate.Actor{
		ClientIP:      rolegate.ValidText(c.RealIP(), maxClientIPBytes),
		UserAgent:     rolegate.ValidText(c.Request().UserAgent(), maxUserAgentBytes),
		HTTPRequestID: requestIDFrom(c.Request().Context()),
	}
	if sess := sessionFrom(c.Request().Context()); sess != nil {
		a.Principal = sess.Principal
	}
	return a
}

// What the trail keeps of a request's headers: enough to tell browsers and
// clients apart, never a whole header.
const (
	maxUserAgentBytes = 300
	maxClientIPBytes  = 64
	maxPathBytes      = 300
)

// ctx is the request's context.
func ctx(c echo.Context) context.Context { return c.Request().Context() }
