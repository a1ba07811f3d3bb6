package web

import (
	"crypto/sha256"
	"encoding/hex"
	"math"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
	"golang.org/x/time/rate"

	"github.com/rolegate/rolegate/internal/rolegate"
)

// RateLimit is a token bucket: Burst actions at once, refilled at Per
// actions per second.
type RateLimit struct {
	Per   rate.Limit
	Burst int
}

// RateLimits are the portal's throttles, one for every route that writes.
// All are generous: a person who signs in, fills the form with its live
// checks, decides on a few requests or exports the trail a few times never
// meets them; a script hammering the sign-in, the forms, refused pages or
// exports does.
type RateLimits struct {
	// SignIn limits the routes marked SignInLimit (the sign-in, its
	// callback and the dev sign-in) per client address (an IPv6 client per
	// /64): each sign-in writes a row and makes the portal call the
	// identity provider.
	SignIn RateLimit
	// Forms limits what else writes (routes marked FormsLimit), per
	// session or, signed out, per client address: state-changing posts
	// (the form's live checks included) and refusals of any request, GETs
	// too (each may write access.denied).
	Forms RateLimit
	// Exports limits audit exports (routes marked ExportsLimit) per
	// session: each reads the trail and records itself (audit.exported).
	Exports RateLimit
	// UpstreamChecks limits the Admin API calls of the Request access
	// form's live checks, for all sessions together: the admin key's rate
	// limit is the organization's, and no crowd of forms may spend it.
	// Past it the check says it could not ask (submitting never needs it).
	UpstreamChecks RateLimit
	// MaxKeys bounds the memory held: beyond it the least recently seen
	// client is forgotten.
	MaxKeys int
}

// DefaultRateLimits are the limits used unless Deps says otherwise; they
// are documented in README.md.
func DefaultRateLimits() RateLimits {
	return RateLimits{
		SignIn:         RateLimit{Per: 1, Burst: 60},                            // 60 at once, then one a second
		Forms:          RateLimit{Per: 2, Burst: 60},                            // 60 at once, then two a second
		Exports:        RateLimit{Per: rate.Every(30 * time.Second), Burst: 10}, // 10 at once, then two a minute
		UpstreamChecks: RateLimit{Per: 5, Burst: 20},                            // for everyone: 20 at once, then five a second
		MaxKeys:        10000,
	}
}

// rateLimit applies the route's Limit (routes.go): sign-in routes per
// client address, changes and exports per session (per client address when
// signed out). It runs before authorize, so that refused posts (which write
// access.denied events) are throttled too; refused GETs take their token
// when they are refused (recordDenied).
func (s *Server) rateLimit(r Route) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		if r.Limit == NoLimit {
			return next
		}
		return func(c echo.Context) error {
			var err error
			switch r.Limit {
			case SignInLimit:
				err = s.throttle(c, s.signInLimits, "ip:"+clientBucket(c.RealIP()))
			case ExportsLimit:
				err = s.throttle(c, s.exportLimits, requesterKey(c))
			default:
				err = s.throttle(c, s.formLimits, requesterKey(c))
			}
			if err != nil {
				return err
			}
			return next(c)
		}
	}
}

// requesterKey names who a per-person limit counts: the session or,
// signed out, the client address (an IPv6 client per /64).
func requesterKey(c echo.Context) string {
	if token := sessionTokenFrom(ctx(c)); token != "" {
		return "session:" + tokenDigest(token)
	}
	return "ip:" + clientBucket(c.RealIP())
}

// throttle takes a token for key from ls, or answers 429 with Retry-After.
func (s *Server) throttle(c echo.Context, ls *limiterSet, key string) error {
	delay := ls.wait(key, s.Now())
	if delay <= 0 {
		return nil
	}
	s.Logger.Warn("rate limited", "method", c.Request().Method, "path", c.Request().URL.Path,
		"client", c.RealIP(), "retry_after_s", retryAfterSeconds(delay), "request_id", requestIDFrom(ctx(c)))
	c.Response().Header().Set("Retry-After", strconv.Itoa(retryAfterSeconds(delay)))
	return rolegate.Errorf(rolegate.ETOOMANY, "You are sending requests too quickly. Wait %d seconds and try again.", retryAfterSeconds(delay))
}

func retryAfterSeconds(d time.Duration) int {
	return max(1, int(math.Ceil(d.Seconds())))
}

// tokenDigest keys a session's limiter without keeping its cookie value.
func tokenDigest(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:16])
}

// clientBucket is the limiter key of a client address: the address itself,
// or its /64 for IPv6, where one client commonly holds a whole /64.
func clientBucket(ip string) string {
	addr, err := netip.ParseAddr(ip)
	if err != nil {
		return ip
	}
	addr = addr.Unmap()
	if addr.Is6() {
		if p, err := addr.Prefix(64); err == nil {
			return p.String()
		}
	}
	return addr.String()
}

// limiterSet holds one token bucket per key, forgetting buckets that have
// been idle long enough to be full again (forgetting them then changes
// nothing), and the least recently seen ones beyond max keys.
type limiterSet struct {
	limit RateLimit
	max   int

	mu        sync.Mutex
	buckets   map[string]*bucket
	lastSweep time.Time
}

type bucket struct {
	lim  *rate.Limiter
	seen time.Time
}

func newLimiterSet(l RateLimit, maxKeys int) *limiterSet {
	if maxKeys < 1 {
		maxKeys = DefaultRateLimits().MaxKeys
	}
	return &limiterSet{limit: l, max: maxKeys, buckets: map[string]*bucket{}}
}

// refill is how long an idle bucket takes to be full again.
func (ls *limiterSet) refill() time.Duration {
	if ls.limit.Per <= 0 || ls.limit.Per == rate.Inf {
		return time.Minute
	}
	return time.Duration(float64(ls.limit.Burst)/float64(ls.limit.Per)*float64(time.Second)) + time.Second
}

// wait takes one token for key at now and returns 0, or leaves the bucket
// untouched and returns how long until a token is free.
func (ls *limiterSet) wait(key string, now time.Time) time.Duration {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	b, ok := ls.buckets[key]
	if !ok {
		ls.makeRoom(now)
		b = &bucket{lim: rate.NewLimiter(ls.limit.Per, ls.limit.Burst)}
		ls.buckets[key] = b
	}
	b.seen = now
	res := b.lim.ReserveN(now, 1)
	if !res.OK() {
		return time.Minute
	}
	if d := res.DelayFrom(now); d > 0 {
		res.CancelAt(now)
		return d
	}
	return 0
}

// makeRoom forgets idle buckets (at most once a minute, or when full) and,
// when still full, the least recently seen one.
func (ls *limiterSet) makeRoom(now time.Time) {
	full := len(ls.buckets) >= ls.max
	if !full && now.Sub(ls.lastSweep) < time.Minute {
		return
	}
	ls.lastSweep = now
	idle := ls.refill()
	for k, b := range ls.buckets {
		if now.Sub(b.seen) >= idle {
			delete(ls.buckets, k)
		}
	}
	if len(ls.buckets) < ls.max {
		return
	}
	var oldest string
	var oldestSeen time.Time
	for k, b := range ls.buckets {
		if oldest == "" || b.seen.Before(oldestSeen) {
			oldest, oldestSeen = k, b.seen
		}
	}
	delete(ls.buckets, oldest)
}

// len is the number of buckets held.
func (ls *limiterSet) len() int {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	return len(ls.buckets)
}
