package main

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/rolegate/rolegate/internal/config"
	"github.com/rolegate/rolegate/internal/notify"
	"github.com/rolegate/rolegate/internal/sqlite"
)

// newNotifier builds the notification worker from the settings and tells
// the database where notifications go, so that every event from now on
// queues its messages. It returns nil when neither email nor webhooks are
// configured: then nothing is queued.
func newNotifier(cfg *config.Config, db *sqlite.DB, requests *sqlite.Requests, logger *slog.Logger) (*notify.Worker, error) {
	nc := notify.Config{Queue: db, Reminders: requests, BaseURL: cfg.BaseURL, Logger: logger, ReminderAfter: cfg.ReminderAfter}
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
	db.SetNotifications(w.Targets())
	logger.Info("notifications on", "email", nc.Mailer != nil, "webhooks", len(cfg.WebhookURLs),
		"webhook_format", cfg.WebhookFormat, "reminder_after", cfg.ReminderAfter.String())
	return w, nil
}

// startNotifier runs w (when there is one) until ctx ends; the function it
// returns waits until the messages in flight are recorded.
func startNotifier(ctx context.Context, w *notify.Worker) (wait func()) {
	if w == nil {
		return func() {}
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		w.Run(ctx)
	}()
	return func() { <-done }
}
