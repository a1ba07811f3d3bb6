// Package notify tells people about requests: email over SMTP and signed
// webhooks (JSON, Slack, Teams). The rows to send are written to the
// outbox (rolegate.Outbox) in the transaction of the transition that
// causes them, by the domain's rules of who hears of what; this package's
// worker delivers them with retries and backoff, records every
// final outcome in the audit trail, and reminds approvers of requests left
// pending. Delivery is at least once: a restart mid-delivery sends that
// message again, with the same Message-ID or X-Rolegate-Delivery.
package notify

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/rolegate/rolegate/internal/retry"
	"github.com/rolegate/rolegate/internal/rolegate"
)

// Queue is the part of the outbox the worker uses (rolegate.Outbox).
type Queue interface {
	ReleaseNotificationLeases(ctx context.Context) (int64, error)
	ClaimNotifications(ctx context.Context, limit int, lease time.Duration) ([]rolegate.Notification, error)
	NotificationSent(ctx context.Context, n *rolegate.Notification) error
	RetryNotificationLater(ctx context.Context, n *rolegate.Notification, delay time.Duration, reason string) error
	NotificationFailed(ctx context.Context, n *rolegate.Notification, reason string) error
	NextNotificationDue(ctx context.Context) (time.Time, error)
	DeleteOldNotifications(ctx context.Context, olderThan time.Duration) (int64, error)
}

// Config is the worker's set-up. Mailer or Webhooks may be nil (that
// channel is off); a row for a channel that is off fails with a reason.
type Config struct {
	Queue Queue
	// Exclusive runs the reminders and the pruning on one process at a
	// time (the store's RunExclusive); nil: here. Deliveries are claimed
	// one by one, with a lease, by every process.
	Exclusive rolegate.Exclusive
	// Reminders reminds approvers of requests left pending (the request
	// service); nil: no reminders.
	Reminders interface {
		RemindPending(ctx context.Context, after time.Duration) (int, error)
	}
	BaseURL  *url.URL // ROLEGATE_BASE_URL: every link points into the portal
	Mailer   *Mailer
	Webhooks *Webhooks
	Logger   *slog.Logger

	// ReminderAfter: approvers are reminded of a request pending this long,
	// once per this interval (ROLEGATE_REMINDER_AFTER); zero: no reminders.
	ReminderAfter time.Duration
	// MaxAttempts bounds the tries of one message (default 8).
	MaxAttempts int
	// BackoffBase is the first retry delay (default 30 s), doubled each time
	// up to BackoffMax (default 30 min): 8 attempts span about an hour.
	BackoffBase time.Duration
	BackoffMax  time.Duration
	// Parallel is how many messages are sent at once (default 4).
	Parallel int
	// Poll bounds how long the worker sleeps without a wake-up (default 30 s).
	Poll time.Duration
	// Housekeeping is how often reminders are checked and old rows pruned
	// (default 1 min); KeepFor is how long delivered rows are kept (default
	// 30 days; the outcome stays in the audit trail).
	Housekeeping time.Duration
	KeepFor      time.Duration
}

// Worker delivers queued notifications.
type Worker struct {
	cfg  Config
	wake *retry.Wakeup
}

// New returns a worker; Run starts it.
func New(cfg Config) *Worker {
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = 8
	}
	if cfg.BackoffBase <= 0 {
		cfg.BackoffBase = 30 * time.Second
	}
	if cfg.BackoffMax <= 0 {
		cfg.BackoffMax = 30 * time.Minute
	}
	if cfg.Parallel <= 0 {
		cfg.Parallel = 4
	}
	if cfg.Poll <= 0 {
		cfg.Poll = 30 * time.Second
	}
	if cfg.Housekeeping <= 0 {
		cfg.Housekeeping = time.Minute
	}
	if cfg.Exclusive == nil {
		cfg.Exclusive = rolegate.RunHere
	}
	if cfg.KeepFor <= 0 {
		cfg.KeepFor = 30 * 24 * time.Hour
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.BaseURL == nil {
		cfg.BaseURL = &url.URL{Scheme: "http", Host: "localhost:8080"}
	}
	return &Worker{cfg: cfg, wake: retry.NewWakeup()}
}

// Targets is what the queue must know of the channels (SetNotifications).
func (w *Worker) Targets() rolegate.NotificationTargets {
	t := rolegate.NotificationTargets{Email: w.cfg.Mailer != nil, Wake: w.Wake}
	if w.cfg.Webhooks != nil {
		t.Webhooks = w.cfg.Webhooks.Targets()
	}
	return t
}

// Wake tells the worker that messages are queued, without blocking.
func (w *Worker) Wake() { w.wake.Wake() }

// lease outlasts one delivery attempt of either channel.
const lease = 2 * time.Minute

// Run delivers until ctx ends, then waits for the messages in flight. At
// start it takes back the messages a previous process left mid-delivery.
func (w *Worker) Run(ctx context.Context) {
	log := w.cfg.Logger
	if n, err := w.cfg.Queue.ReleaseNotificationLeases(ctx); err != nil {
		log.Error("notify: release leases", "err", err)
	} else if n > 0 {
		log.Warn("notify: resending messages interrupted by a restart", "count", n)
	}
	slots := make(chan struct{}, w.cfg.Parallel)
	var inFlight sync.WaitGroup
	defer inFlight.Wait()
	var nextChores time.Time
	for ctx.Err() == nil {
		if now := time.Now(); !now.Before(nextChores) {
			w.chores(ctx)
			nextChores = now.Add(w.cfg.Housekeeping)
		}
		free := cap(slots) - len(slots)
		batch, err := w.cfg.Queue.ClaimNotifications(ctx, free, lease)
		if err != nil {
			if ctx.Err() == nil {
				log.Error("notify: claim", "err", err)
				w.sleep(ctx, time.Second)
			}
			continue
		}
		for i := range batch {
			n := batch[i]
			slots <- struct{}{}
			inFlight.Add(1)
			go func() {
				defer inFlight.Done()
				defer func() { <-slots; w.Wake() }()
				w.deliver(ctx, &n)
			}()
		}
		if free > 0 && len(batch) == free {
			continue // more may be due
		}
		w.sleep(ctx, min(w.untilNext(ctx, free > 0), time.Until(nextChores)))
	}
}

// untilNext is how long nothing is due: until the next retry or lease end,
// at most Poll. With every slot busy only a finished delivery (a wake-up)
// frees one.
func (w *Worker) untilNext(ctx context.Context, canClaim bool) time.Duration {
	if !canClaim {
		return w.cfg.Poll
	}
	next, err := w.cfg.Queue.NextNotificationDue(ctx)
	if err != nil || next.IsZero() {
		return w.cfg.Poll
	}
	return min(max(time.Until(next), 0), w.cfg.Poll)
}

func (w *Worker) sleep(ctx context.Context, d time.Duration) { w.wake.Sleep(ctx, d) }

// chores reminds approvers of requests left pending and prunes old rows,
// on one process at a time.
func (w *Worker) chores(ctx context.Context) {
	_, err := w.cfg.Exclusive(ctx, "reminders", func(ctx context.Context) error {
		w.choresHere(ctx)
		return nil
	})
	if err != nil && ctx.Err() == nil {
		w.cfg.Logger.Error("notify: take the reminders' turn", "err", err)
	}
}

func (w *Worker) choresHere(ctx context.Context) {
	if w.cfg.ReminderAfter > 0 && w.cfg.Reminders != nil {
		if n, err := w.cfg.Reminders.RemindPending(ctx, w.cfg.ReminderAfter); err != nil && ctx.Err() == nil {
			w.cfg.Logger.Error("notify: reminders", "err", err)
		} else if n > 0 {
			w.cfg.Logger.Info("notify: reminded approvers of pending requests", "requests", n)
		}
	}
	if _, err := w.cfg.Queue.DeleteOldNotifications(ctx, w.cfg.KeepFor); err != nil && ctx.Err() == nil {
		w.cfg.Logger.Error("notify: prune delivered notifications", "err", err)
	}
}

// deliver makes one attempt at n and records its outcome.
func (w *Worker) deliver(ctx context.Context, n *rolegate.Notification) {
	log := w.cfg.Logger.With("notification_id", n.ID, "request_id", n.RequestID, "channel", n.Channel,
		"recipient", n.Label, "event", n.Facts.Event, "attempt", n.Attempts)
	err := w.send(ctx, n)
	if err != nil && ctx.Err() != nil {
		// Shutting down mid-attempt: the row stays leased and is sent again
		// at the next start.
		log.Info("notify: interrupted by shutdown")
		return
	}
	// The outcome is recorded even if shutdown begins now: a message that
	// went out should not go out again.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	var recErr error
	switch {
	case err == nil:
		recErr = w.cfg.Queue.NotificationSent(rctx, n)
		log.Info("notify: sent")
	default:
		de := classify(err)
		switch {
		case de.permanent:
			recErr = w.cfg.Queue.NotificationFailed(rctx, n, de.msg)
			log.Warn("notify: failed for good", "err", de.msg)
		case n.Attempts >= w.cfg.MaxAttempts:
			recErr = w.cfg.Queue.NotificationFailed(rctx, n, fmt.Sprintf("Gave up after %d attempts. Last error: %s", n.Attempts, de.msg))
			log.Warn("notify: gave up", "err", de.msg)
		default:
			delay := w.backoff(n.Attempts, de.retryAfter)
			recErr = w.cfg.Queue.RetryNotificationLater(rctx, n, delay, de.msg)
			log.Warn("notify: attempt failed, will retry", "err", de.msg, "retry_in", delay)
		}
	}
	if recErr != nil {
		if errors.Is(recErr, rolegate.ErrNotificationLeaseLost) {
			log.Warn("notify: the notification was taken over before its outcome was recorded")
			return
		}
		log.Error("notify: record the outcome", "err", recErr)
	}
}

// send renders n for its recipient and hands it to its channel.
func (w *Worker) send(ctx context.Context, n *rolegate.Notification) error {
	link := w.cfg.BaseURL.JoinPath("requests", strconv.FormatInt(n.RequestID, 10)).String()
	switch n.Channel {
	case rolegate.ChannelEmail:
		if w.cfg.Mailer == nil {
			return permanentf("email is not configured (ROLEGATE_SMTP_ADDR)")
		}
		msg, err := RenderEmail(n.Facts, n.Audience, link)
		if err != nil {
			return permanentf("%v", err)
		}
		return w.cfg.Mailer.Send(ctx, n.Recipient, msg, w.cfg.Mailer.MessageID(n.ID, n.EventSeq))
	case rolegate.ChannelWebhook:
		if w.cfg.Webhooks == nil {
			return permanentf("webhooks are not configured (ROLEGATE_WEBHOOK_URLS)")
		}
		return w.cfg.Webhooks.Post(ctx, n, link)
	}
	return permanentf("unknown channel %q", n.Channel)
}

// backoff doubles from BackoffBase up to BackoffMax, with jitter, and is
// never shorter than what the receiver asked for (at most an hour).
func (w *Worker) backoff(attempt int, retryAfter time.Duration) time.Duration {
	return retry.Backoff(w.cfg.BackoffBase, w.cfg.BackoffMax, attempt, retryAfter)
}
