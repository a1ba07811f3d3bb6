package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/rolegate/rolegate/internal/app"
	"github.com/rolegate/rolegate/internal/config"
	"github.com/rolegate/rolegate/internal/memory"
	"github.com/rolegate/rolegate/internal/metrics"
	"github.com/rolegate/rolegate/internal/rolegate"
	"github.com/rolegate/rolegate/internal/sso"
	"github.com/rolegate/rolegate/static"
	"github.com/rolegate/rolegate/views"
	"github.com/rolegate/rolegate/web"
)

// serve runs the portal until ctx ends, then shuts down gracefully.
func serve(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cfg, err := config.Load(args, getenv, stderr)
	if err != nil {
		return fmt.Errorf("configuration: %w", err)
	}
	if cfg.Dev {
		applyDevDefaults(cfg)
	}
	logger := newLogger(cfg, stderr)

	// Lock first: a second rolegate (say, a newer binary in a rolling update)
	// must not migrate a SQLite database under the one serving it. Several
	// processes share a PostgreSQL database; its migrations run under a
	// lock of their own (internal/postgres).
	if cfg.DBURL == "" {
		unlock, err := lockDatabase(cfg.DBPath)
		if err != nil {
			return err
		}
		defer unlock()
	}
	if err := checkCheckpointKey(cfg); err != nil {
		return err
	}
	a, err := app.New(ctx, cfg, app.Options{Logger: logger})
	if err != nil {
		return err
	}
	defer a.Close()

	var ssoClient *sso.Client
	if cfg.OIDCIssuer != "" {
		// A portal served without TLS may talk to its provider without TLS
		// too; it is said loudly. Served over https, the provider must be.
		plainHTTP := cfg.BaseURL.Scheme == "http"
		if plainHTTP && strings.HasPrefix(cfg.OIDCIssuer, "http://") {
			logger.Warn("the portal and its identity provider are reached over plain http: use https outside a test network", "issuer", cfg.OIDCIssuer)
		}
		ssoClient, err = connectSSO(ctx, sso.Config{
			Issuer: cfg.OIDCIssuer, ClientID: cfg.OIDCClientID, ClientSecret: cfg.OIDCClientSecret.Reveal(),
			RedirectURL: cfg.BaseURL.JoinPath("/auth/callback").String(), Scopes: cfg.OIDCScopes, GroupsClaim: cfg.GroupsClaim,
			EmailsVerified: cfg.OIDCEmailsVerified, AllowHTTPIssuer: plainHTTP,
		}, logger, ssoStartupWait, time.Second)
		if err != nil {
			return fmt.Errorf("ROLEGATE_OIDC_ISSUER: %w", err)
		}
		if err := checkApproveReauth(cfg.ApproveReauth, ssoClient); err != nil {
			return fmt.Errorf("configuration: %w", err)
		}
	}
	assets, err := static.Load()
	if err != nil {
		return err
	}
	server := web.NewServer(web.Deps{
		Config: cfg, Services: a.Services, Audit: a.Store.Audit, Store: a.Store, Catalog: a.Catalog, Picture: a.Picture, Assignments: a.Assignments,
		DevSimulator: a.Simulator, SSO: ssoClient, Assets: assets, Logger: logger, Metrics: a.Metrics,
	})

	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("ROLEGATE_ADDR: listen on %s: %w", cfg.Addr, err)
	}
	httpServer := newHTTPServer(server, logger)
	var metricsLn net.Listener
	var metricsServer *http.Server
	if cfg.MetricsAddr != "" {
		if metricsLn, err = net.Listen("tcp", cfg.MetricsAddr); err != nil {
			ln.Close()
			return fmt.Errorf("ROLEGATE_METRICS_ADDR: listen on %s: %w", cfg.MetricsAddr, err)
		}
		metricsServer = newMetricsServer(a.Metrics, cfg.MetricsToken, logger)
	}

	bg, stopBackground := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer startNotifier(bg, a.Notifier)() // runs beside the housekeeping; waited for at the end
		pictureDone := make(chan struct{})
		go func() { defer close(pictureDone); a.Picture.Run(bg) }()
		defer func() { <-pictureDone }()
		// Coalesced refusals and failed sign-ins are counted in memory; their
		// counts reach the trail every few seconds, the last ones at shutdown,
		// after the HTTP server stopped and before the database closes.
		repeatsDone := make(chan struct{})
		go func() { defer close(repeatsDone); server.RunRepeats(bg) }()
		defer func() { <-repeatsDone }()
		// Access ends by itself at Until (and when an admin revokes it):
		// the Remover resumes what a dead process left half done (at start
		// on SQLite; on PostgreSQL when its lease runs out).
		removerDone := make(chan struct{})
		go func() { defer close(removerDone); a.Remover.Run(bg) }()
		defer func() { <-removerDone }()
		// What a burst left behind (the heap, the caches that served it)
		// goes back to the system once the portal is quiet again
		// (internal/memory says why).
		memoryDone := make(chan struct{})
		dropCaches := func() {
			ctx, cancel := context.WithTimeout(bg, 5*time.Second)
			defer cancel()
			a.Store.ReleaseMemory(ctx)
			views.ForgetWords()
		}
		go func() { defer close(memoryDone); memory.NewReleaser(dropCaches).Run(bg) }()
		defer func() { <-memoryDone }()
		runBackground(bg, cfg, a.Services, a.Store.Audit, a.Store.RunExclusive, a.Provisioner, logger)
	}()

	url := "http://" + ln.Addr().String()
	if cfg.Dev {
		fmt.Fprintf(stdout, "\n  rolegate is running in DEV MODE at %s (loopback only; %s)\n  Never use dev mode in production.\n\n", url, cfg.DevSummary())
	}
	startFields := []any{"addr", ln.Addr().String(), "base_url", cfg.BaseURL.String(), "db", cfg.DBName(), "dev", cfg.Dev, "upstream", upstreamName(cfg)}
	switch {
	case metricsLn != nil:
		startFields = append(startFields, "metrics", "http://"+metricsLn.Addr().String()+"/metrics")
	case cfg.MetricsToken != "":
		startFields = append(startFields, "metrics", "/metrics with the bearer token")
	case cfg.Dev:
		startFields = append(startFields, "metrics", "/metrics, open (dev mode, loopback)")
	default:
		startFields = append(startFields, "metrics", "off: set ROLEGATE_METRICS_TOKEN or ROLEGATE_METRICS_ADDR")
	}
	approveReauth := cfg.ApproveReauth
	if ssoClient == nil {
		approveReauth = "none (dev sign-in)"
	}
	startFields = append(startFields, "approve_reauth", approveReauth)
	if ssoClient != nil {
		// Whether an email without email_verified can grant a role: the
		// operator's statement, said where it can be checked.
		startFields = append(startFields, "oidc_emails_verified", cfg.OIDCEmailsVerified)
	}
	logger.Info("rolegate started", startFields...)

	// serve returns only once every goroutine it started has ended: the
	// servers (waited for here, after they are closed), the background
	// work (done) and the application's own (a.Close).
	var serving sync.WaitGroup
	defer serving.Wait()
	serveErr := make(chan error, 2)
	serving.Go(func() { serveErr <- httpServer.Serve(ln) })
	if metricsServer != nil {
		serving.Go(func() { serveErr <- fmt.Errorf("metrics listener: %w", metricsServer.Serve(metricsLn)) })
		defer metricsServer.Close()
	}
	select {
	case err := <-serveErr:
		_ = httpServer.Close()
		stopBackground()
		<-done
		return fmt.Errorf("http server: %w", err)
	case <-ctx.Done():
	}
	logger.Info("rolegate shutting down: finishing in-flight requests")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := httpServer.Shutdown(shutdownCtx); err != nil {
		// Requests still running after 30 s are cut off, so that no new
		// work reaches the database while it closes.
		logger.Error("shutdown: requests still running after 30s were cut off", "err", err)
		_ = httpServer.Close()
	}
	if metricsServer != nil {
		_ = metricsServer.Shutdown(shutdownCtx) // before the database closes
	}
	stopBackground()
	<-done
	logger.Info("rolegate stopped")
	return nil
}

// newHTTPServer bounds every phase of a connection, so that slow or idle
// clients cannot hold the portal's connections: headers, the whole request,
// the answer and the idle time between requests.
func newHTTPServer(h http.Handler, logger *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      5 * time.Minute, // a large audit export streams for a while
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
}

// newMetricsServer serves /metrics alone, for the scraper, on the listener
// of ROLEGATE_METRICS_ADDR (with the bearer token too, when one is set).
func newMetricsServer(m *metrics.Metrics, token config.Secret, logger *slog.Logger) *http.Server {
	h := m.Handler()
	if token != "" {
		h = metrics.RequireBearer(token.Reveal(), h)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", h)
	return &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
}

// upstreamName is the upstream as the start line names it: its host only.
func upstreamName(cfg *config.Config) string {
	if cfg.UseSimulator {
		return "built-in Admin API simulator"
	}
	return cfg.UpstreamHost()
}

// runBackground runs the provisioning worker and the housekeeping loops
// until ctx ends, and returns only once they have all stopped: the worker
// records its last attempt's outcome after ctx ends, and the database must
// still be open for it.
//
// Each periodic job runs under exclusive: on one process at a time when
// several share a PostgreSQL database, taken over by another when that one
// dies (the picture's sync, the reminders and the end of access are run
// under it by their own loops, given it by internal/app).
func runBackground(ctx context.Context, cfg *config.Config, services rolegate.Services, trail app.Trail, exclusive rolegate.Exclusive, worker provisioner, logger *slog.Logger) {
	workerDone := make(chan struct{})
	go func() { defer close(workerDone); worker.Run(ctx) }()
	defer func() { <-workerDone }()
	if cfg.CheckpointKeyFile != "" {
		checkpointsDone := make(chan struct{})
		go func() { defer close(checkpointsDone); runCheckpoints(ctx, cfg, trail, exclusive, logger) }()
		defer func() { <-checkpointsDone }() // the database outlives the loop
	}
	tick := time.NewTicker(time.Minute)
	defer tick.Stop()
	for {
		_, err := exclusive(ctx, "expiry", func(ctx context.Context) error {
			n, err := services.Requests.ExpireDue(ctx)
			if n > 0 {
				logger.Info("expired pending requests", "count", n)
			}
			if err != nil {
				return fmt.Errorf("expire requests: %w", err)
			}
			if err := services.Sessions.DeleteExpiredSessions(ctx, cfg.SessionIdle); err != nil {
				return fmt.Errorf("delete expired sessions: %w", err)
			}
			return nil
		})
		if err != nil && ctx.Err() == nil {
			logger.Error("housekeeping", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// applyDevDefaults gives the dev personas their groups when none are set.
func applyDevDefaults(cfg *config.Config) {
	if len(cfg.ApproverGroups) == 0 {
		cfg.ApproverGroups = []string{web.DevApproverGroup}
	}
	if len(cfg.AuditorGroups) == 0 {
		cfg.AuditorGroups = []string{web.DevAuditorGroup}
	}
	if len(cfg.AdminGroups) == 0 {
		cfg.AdminGroups = []string{web.DevAdminGroup}
	}
}

func newLogger(cfg *config.Config, w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: slog.LevelInfo}
	if cfg.LogLevelDebug {
		opts.Level = slog.LevelDebug
	}
	if cfg.LogFormat == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

// lockDatabase holds an exclusive lock beside the database file: one
// rolegate serves a database, which is what lets the worker reclaim jobs
// left running by a crashed process at once.
func lockDatabase(dbPath string) (func(), error) {
	path := dbPath + ".lock"
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, fmt.Errorf("ROLEGATE_DB: create the database folder: %w", err)
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("ROLEGATE_DB: open lock file: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("ROLEGATE_DB: another rolegate is already serving %s", dbPath)
	}
	return func() { _ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN); f.Close() }, nil
}

var errUsage = errors.New("usage: see rolegate help")

// migrate applies the migrations and exits.
func migrate(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	d, err := dbFlag("migrate", args, getenv, stderr)
	if err != nil {
		return err
	}
	// Never migrate a SQLite database under the rolegate serving it (see
	// serve); PostgreSQL's migrations take a lock of their own.
	if !d.postgres() {
		unlock, err := lockDatabase(d.path)
		if err != nil {
			return err
		}
		defer unlock()
	}
	db, err := d.open(ctx)
	if err != nil {
		return err
	}
	defer db.Close()
	current, _, err := db.SchemaVersion(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "database %s is at schema version %d\n", d, current)
	return nil
}
