// Package metrics exposes rolegate's Prometheus metrics: HTTP traffic by
// route, sign-ins, provisioning outcomes and audit events as they happen,
// and the requests by status, the provisioning queue and the database size
// read from SQLite at scrape time (at most once per StoreMaxAge). Everything lives in a registry of its
// own (no global default registry), so two servers in one test process do
// not share counters.
package metrics

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Options configure the metrics.
type Options struct {
	// Store is read at scrape time for the gauges; nil leaves them out.
	Store Store
	// Logger receives scrape errors (a collector that could not read the
	// database); nil discards them.
	Logger *slog.Logger
	// ScrapeTimeout bounds the database reads of one scrape (default 2s).
	ScrapeTimeout time.Duration
	// StoreMaxAge is how long one reading of the database serves scrapes
	// (default DefaultStoreMaxAge), so that a flood of scrapes cannot keep
	// the database busy.
	StoreMaxAge time.Duration
	// Now is the clock of StoreMaxAge (tests move it); nil is time.Now.
	Now func() time.Time
	// OverdueAssignments counts the access assignments past their end
	// (rolegate.RemovalQueue); nil leaves the gauge out.
	OverdueAssignments func(context.Context) (int, error)
}

// DefaultStoreMaxAge is how long the database-derived gauges are reused:
// far below any scrape interval worth having, far above a flood's pace.
const DefaultStoreMaxAge = 5 * time.Second

// Metrics records what rolegate does; it implements web.Metrics. Its
// methods are safe for concurrent use.
type Metrics struct {
	registry     *prometheus.Registry
	httpRequests *prometheus.CounterVec
	httpDuration *prometheus.HistogramVec
	signIns      *prometheus.CounterVec
	provisioning *prometheus.CounterVec
	auditEvents  *prometheus.CounterVec
	syncFailures prometheus.Counter
	handler      http.Handler
}

// latencyBuckets resolve the portal's targets (a page p99 under 25 ms, a
// submission under 50 ms) and still show a slow export or upstream call.
var latencyBuckets = []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}

// New builds the metrics and their registry.
func New(opts Options) *Metrics {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.ScrapeTimeout <= 0 {
		opts.ScrapeTimeout = 2 * time.Second
	}
	if opts.StoreMaxAge <= 0 {
		opts.StoreMaxAge = DefaultStoreMaxAge
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	m := &Metrics{
		registry: prometheus.NewRegistry(),
		httpRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rolegate_http_requests_total",
			Help: "HTTP requests answered, by route pattern, method and status code.",
		}, []string{"route", "method", "status"}),
		httpDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "rolegate_http_request_duration_seconds",
			Help:    "Time to answer an HTTP request, by route pattern and method.",
			Buckets: latencyBuckets,
		}, []string{"route", "method"}),
		signIns: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rolegate_sign_ins_total",
			Help: "Sign-ins, by outcome (success or failure).",
		}, []string{"outcome"}),
		provisioning: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rolegate_provisioning_attempts_total",
			Help: "Provisioning attempts, by outcome: succeeded (role created), adopted (found upstream), retry (will be tried again), failed (request failed).",
		}, []string{"outcome"}),
		auditEvents: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rolegate_audit_events_total",
			Help: "Audit events written by this process, by action.",
		}, []string{"action"}),
		syncFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "rolegate_picture_sync_failures_total",
			Help: "Reads of the organization's roles that failed (the stored picture stayed as it was).",
		}),
	}
	m.registry.MustRegister(
		m.httpRequests, m.httpDuration, m.signIns, m.provisioning, m.auditEvents, m.syncFailures,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		collectors.NewBuildInfoCollector(),
	)
	if opts.Store != nil {
		m.registry.MustRegister(newStoreCollector(opts.Store, opts.ScrapeTimeout, opts.StoreMaxAge, opts.Now))
	}
	if opts.OverdueAssignments != nil {
		m.registry.MustRegister(newOverdueCollector(opts.OverdueAssignments, opts.ScrapeTimeout))
	}
	// Seed the outcomes a dashboard alerts on, so that a rate() over them
	// works from the first scrape instead of from the first failure.
	for _, o := range []string{"success", "failure"} {
		m.signIns.WithLabelValues(o)
	}
	for _, o := range []string{"succeeded", "adopted", "retry", "failed"} {
		m.provisioning.WithLabelValues(o)
	}
	m.handler = promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{
		Registry:            m.registry, // promhttp_metric_handler_errors_total
		ErrorLog:            slogPrinter{opts.Logger},
		ErrorHandling:       promhttp.ContinueOnError, // a failed database read drops its gauges, not the whole scrape
		MaxRequestsInFlight: 4,
		Timeout:             opts.ScrapeTimeout + 3*time.Second,
	})
	return m
}

// Registry is the registry the metrics live in (tests gather from it).
func (m *Metrics) Registry() *prometheus.Registry { return m.registry }

// Handler serves the registry in the Prometheus text format.
func (m *Metrics) Handler() http.Handler { return m.handler }

// ObserveHTTP counts one answered request. route is the route pattern
// ("/requests/:id"), never the raw path, which would make one series per
// request id.
func (m *Metrics) ObserveHTTP(route, method string, status int, d time.Duration) {
	method = knownMethod(method)
	m.httpRequests.WithLabelValues(route, method, strconv.Itoa(status)).Inc()
	m.httpDuration.WithLabelValues(route, method).Observe(d.Seconds())
}

// SignIn counts a sign-in by outcome ("success" or "failure").
func (m *Metrics) SignIn(outcome string) { m.signIns.WithLabelValues(outcome).Inc() }

// ProvisioningOutcome counts one provisioning attempt's outcome; it is the
// worker's OnOutcome.
func (m *Metrics) ProvisioningOutcome(outcome string) {
	m.provisioning.WithLabelValues(outcome).Inc()
}

// AuditEventAppended counts an audit event by action; it is the database's
// OnEventAppended.
func (m *Metrics) AuditEventAppended(action string) { m.auditEvents.WithLabelValues(action).Inc() }

// PictureSyncFailed counts a failed read of the organization's roles.
func (m *Metrics) PictureSyncFailed() { m.syncFailures.Inc() }

// knownMethod keeps the method label to the methods HTTP defines: a client
// inventing methods must not invent series.
func knownMethod(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace:
		return m
	}
	return "OTHER"
}

// slogPrinter adapts a slog.Logger to promhttp's error log.
type slogPrinter struct{ l *slog.Logger }

func (p slogPrinter) Println(v ...any) {
	p.l.Error("metrics scrape", "err", strings.TrimSpace(fmt.Sprintln(v...)))
}
