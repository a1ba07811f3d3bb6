// Package app builds the whole of rolegate from its configuration: the
// store, the domain services over it, the upstream client (or the dev
// simulator), the organization's picture, the permission catalog, the
// metrics, the notifier and the provisioning worker. It is the one place
// that names the stores (internal/sqlite, internal/postgres: store.go
// picks one from ROLEGATE_DB); serve, the web tests and the benchmarks all
// build rolegate here, so the wiring is written once.
//
// It does not build the HTTP server (web imports the domain, and web's
// tests import this package): the caller passes the services to
// web.NewServer.
package app

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/rolegate/rolegate/internal/adminapi"
	"github.com/rolegate/rolegate/internal/catalog"
	"github.com/rolegate/rolegate/internal/config"
	"github.com/rolegate/rolegate/internal/metrics"
	"github.com/rolegate/rolegate/internal/notify"
	"github.com/rolegate/rolegate/internal/picture"
	"github.com/rolegate/rolegate/internal/provisioning"
	"github.com/rolegate/rolegate/internal/rolegate"
	"github.com/rolegate/rolegate/internal/simulator"
)

// Options change how the application is built, for tests and benchmarks;
// the zero value is what serve runs.
type Options struct {
	// Logger receives the application's log; nil discards it.
	Logger *slog.Logger
	// Now is the clock of the store and the picture; nil is time.Now.
	Now func() time.Time
	// Simulator, when set, is the upstream in place of what the
	// configuration names: an Admin API simulator the caller controls,
	// served on loopback, called with its admin key.
	Simulator *simulator.Simulator
	// HandedOff, when set, is told of each request queued for provisioning
	// instead of the worker (a caller that runs no worker).
	HandedOff func(requestID int64)
	// PictureSyncFailed is told of each failed read of the organization,
	// beside the metrics; may be nil.
	PictureSyncFailed func()
}

// App is rolegate, built and not yet running: serve runs its workers and
// serves web.NewServer over its services.
type App struct {
	Config *config.Config
	// Store is the database and its store structs; Close closes it.
	Store *Store
	// Services are the domain services over the store (the requests, and
	// Store's structs).
	Services rolegate.Services
	Catalog  *catalog.Service
	Picture  *picture.Picture
	Metrics  *metrics.Metrics
	// Simulator is the upstream when it is the built-in simulator (dev
	// mode) or Options.Simulator; nil otherwise.
	Simulator *simulator.Simulator
	// Notifier delivers the outbox; nil when neither email nor webhooks
	// are configured (then nothing is queued).
	Notifier *notify.Worker
	// Provisioner creates the approved roles upstream.
	Provisioner *provisioning.Worker
	// Remover ends access at Until, or when an admin revokes it.
	Remover *provisioning.Remover
	// Assignments reads which roles a group or user holds upstream (the
	// Request access form's live check).
	Assignments rolegate.AssignmentReader

	closers []func() error
}

// New builds the application from cfg. On first start it reads the
// organization before returning, so that the catalog and the name checks
// know it (a failure is logged; the picture's sync keeps trying).
func New(ctx context.Context, cfg *config.Config, opts Options) (*App, error) {
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	a := &App{Config: cfg}
	var err error
	built := false
	defer func() {
		if !built {
			a.Close() // what was started so far
		}
	}()
	if a.Store, err = OpenStore(ctx, cfg.DBSource()); err != nil {
		return nil, fmt.Errorf("ROLEGATE_DB: %w", err)
	}
	a.closers = append(a.closers, a.Store.Close)
	if opts.Now != nil {
		a.Store.SetClock(opts.Now)
	}
	// Metrics first: the store counts every audit event from the first.
	a.Metrics = metrics.New(metrics.Options{Store: a.Store.Counts, Logger: logger, OverdueAssignments: a.Store.Removals.OverdueAssignments})
	a.Store.OnEventAppended(a.Metrics.AuditEventAppended)

	baseURL, keys, client, err := a.upstream(cfg, opts, logger)
	if err != nil {
		return nil, err
	}
	if cfg.Dev && !cfg.UseSimulator && opts.Simulator == nil {
		// Asked for by ROLEGATE_DEV_REAL_UPSTREAM (config refuses it otherwise).
		logger.Warn("dev mode: the dev people's approved roles are created at the REAL Admin API", "upstream", cfg.UpstreamHost())
	}
	upstream := adminapi.New(baseURL, keys, client)
	a.Assignments = upstream

	if a.Catalog, err = catalog.NewService(cfg.CatalogFile); err != nil {
		return nil, err
	}
	// The organization's picture: read every ROLEGATE_SYNC_EVERY, and again
	// whenever a live check finds it older than ROLEGATE_PICTURE_MAX_AGE.
	// Pages of up to 1,000 roles (the upstream's limit) keep a sync to a few
	// calls.
	lister := adminapi.New(baseURL, keys, client, adminapi.WithPageSize(1000))
	syncFailed := a.Metrics.PictureSyncFailed
	if opts.PictureSyncFailed != nil {
		syncFailed = func() { a.Metrics.PictureSyncFailed(); opts.PictureSyncFailed() }
	}
	a.Picture, err = picture.New(ctx, picture.Options{
		Store: a.Store.Picture, List: lister.OrganizationRoles, Projects: lister.OrganizationProjects, ProjectRoles: lister.ProjectRoles, Directory: lister.OrganizationDirectory, Every: cfg.SyncEvery, MaxAge: cfg.PictureMaxAge, Now: opts.Now,
		Logger: logger, OnSynced: a.Catalog.Update, SyncFailed: syncFailed, Exclusive: a.Store.RunExclusive,
	})
	if err != nil {
		return nil, err
	}
	// Closed before the store (closers run last first): its reads finish,
	// and stop logging, before Close returns.
	a.closers = append(a.closers, func() error { a.Picture.Close(); return nil })
	if a.Picture.SyncedAt().IsZero() {
		if _, err := a.Picture.Sync(ctx, nil); err != nil {
			logger.Warn("could not read the organization's roles at start; the catalog file alone is used until a sync succeeds", "err", err)
		}
	}

	a.Remover = provisioning.NewRemover(provisioning.RemoverConfig{
		Queue: a.Store.Removals, Upstream: upstream, Logger: logger,
		MaxAttempts: cfg.ProvisionAttempts, CallTimeout: cfg.ProvisionTimeout, BackoffBase: cfg.ProvisionBackoff,
		VerifyEvery: cfg.SyncEvery,
		Exclusive:   a.Store.RunExclusive,
	})
	a.Provisioner = provisioning.New(provisioning.Config{
		Queue: a.Store.Jobs, Upstream: upstream, Logger: logger,
		MaxAttempts: cfg.ProvisionAttempts, CallTimeout: cfg.ProvisionTimeout, BackoffBase: cfg.ProvisionBackoff,
		OnOutcome: a.Metrics.ProvisioningOutcome, Granted: a.Remover.Wake,
	})
	handedOff := a.Provisioner.Wake
	if opts.HandedOff != nil {
		handedOff = opts.HandedOff
	}
	requests := a.Store.Requests(rolegate.RequestsConfig{
		RequiredApprovals: cfg.RequiredApprovals, ExpireAfter: cfg.RequestTTL, HandedOff: handedOff,
	})
	a.Services = rolegate.Services{
		Requests: requests, Sessions: a.Store.Sessions, Outbox: a.Store.Outbox, Provisioning: a.Store.Jobs, Pictures: a.Store.Picture,
		Access: requests, Directory: a.Store.Picture, Grants: wakingGrants{a.Store.Removals, a.Remover.Wake},
	}
	if a.Notifier, err = newNotifier(cfg, a.Store, requests, logger); err != nil {
		return nil, err
	}
	built = true
	return a, nil
}

// upstream is where the Admin API calls go: the caller's simulator, the
// built-in one in dev mode (served on loopback with a key made now), or
// the configured Admin API with the configured key.
func (a *App) upstream(cfg *config.Config, opts Options, logger *slog.Logger) (string, adminapi.KeySource, *http.Client, error) {
	client := &http.Client{Timeout: cfg.ProvisionTimeout}
	sim, key := opts.Simulator, ""
	switch {
	case sim != nil:
		key = sim.AdminKey()
	case cfg.UseSimulator:
		key = "sk-admin-dev-" + randomHex(16)
		sim = simulator.New(simulator.Options{AdminKey: key, Projects: simulator.DevProjects(),
			Users: simulator.DevUsers(), Groups: simulator.DevGroups()})
	case cfg.AdminKeyFile != "":
		return cfg.OpenAIBaseURL, adminapi.FileKey(cfg.AdminKeyFile), client, nil
	default:
		return cfg.OpenAIBaseURL, adminapi.StaticKey(cfg.AdminKey.Reveal()), client, nil
	}
	simURL, stop, err := startLoopback(sim)
	if err != nil {
		return "", nil, nil, fmt.Errorf("start the Admin API simulator: %w", err)
	}
	a.closers = append(a.closers, stop)
	a.Simulator = sim
	if opts.Simulator == nil {
		logger.Warn("dev mode: using the built-in Admin API simulator", "url", simURL+"/v1")
	}
	return simURL + "/v1", adminapi.StaticKey(key), client, nil
}

// newNotifier builds the notification worker from the settings and tells
// the store where notifications go, so that every transition from now on
// queues its messages. It returns nil when neither email nor webhooks are
// configured: then nothing is queued.
func newNotifier(cfg *config.Config, store *Store, requests rolegate.RequestService, logger *slog.Logger) (*notify.Worker, error) {
	nc := notify.Config{Queue: store.Outbox, Exclusive: store.RunExclusive, Reminders: requests, BaseURL: cfg.BaseURL, Logger: logger, ReminderAfter: cfg.ReminderAfter}
	var err error
	if cfg.SMTPAddr != "" {
		nc.Mailer, err = notify.NewMailer(notify.MailerConfig{
			Addr: cfg.SMTPAddr, From: cfg.SMTPFrom, Username: cfg.SMTPUsername, Password: cfg.SMTPPassword.Reveal(),
			HelloName: cfg.BaseURL.Hostname(),
		})
		if err != nil {
			return nil, fmt.Errorf("ROLEGATE_SMTP_ADDR: %w", err)
		}
	}
	if len(cfg.WebhookURLs) > 0 {
		nc.Webhooks, err = notify.NewWebhooks(notify.WebhookConfig{
			URLs: cfg.WebhookURLs, Format: cfg.WebhookFormat, Secret: cfg.WebhookSecret.Reveal(),
		})
		if err != nil {
			return nil, fmt.Errorf("ROLEGATE_WEBHOOK_URLS: %w", err)
		}
	}
	if nc.Mailer == nil && nc.Webhooks == nil {
		logger.Info("notifications are off: set ROLEGATE_SMTP_ADDR or ROLEGATE_WEBHOOK_URLS to turn them on")
		return nil, nil
	}
	w := notify.New(nc)
	store.SetNotifications(w.Targets())
	logger.Info("notifications on", "email", nc.Mailer != nil, "webhooks", len(cfg.WebhookURLs),
		"webhook_format", cfg.WebhookFormat, "reminder_after", cfg.ReminderAfter.String())
	return w, nil
}

// Close stops the picture's reads and the simulator it serves, and closes
// the store; it returns once the goroutines they started have ended. Call
// it once the workers have stopped.
func (a *App) Close() error {
	var errs []error
	for i := len(a.closers) - 1; i >= 0; i-- {
		errs = append(errs, a.closers[i]())
	}
	a.closers = nil
	return errors.Join(errs...)
}

// startLoopback serves h on a random loopback port; stop closes the
// server and returns once it has stopped serving.
func startLoopback(h http.Handler) (url string, stop func() error, err error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	served := make(chan struct{})
	go func() { defer close(served); _ = srv.Serve(ln) }()
	stop = func() error {
		err := srv.Close()
		<-served
		return err
	}
	return "http://" + ln.Addr().String(), stop, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// wakingGrants wakes the remover as soon as an admin's revocation (or
// retry) has queued a removal, rather than at its next round.
type wakingGrants struct {
	rolegate.GrantService
	wake func()
}

func (g wakingGrants) Revoke(ctx context.Context, actor rolegate.Actor, id int64, reason string) (*rolegate.Request, error) {
	r, err := g.GrantService.Revoke(ctx, actor, id, reason)
	if err == nil {
		g.wake()
	}
	return r, err
}

func (g wakingGrants) RetryRemoval(ctx context.Context, actor rolegate.Actor, id int64) (*rolegate.Request, error) {
	r, err := g.GrantService.RetryRemoval(ctx, actor, id)
	if err == nil {
		g.wake()
	}
	return r, err
}
