package main

import (
	"context"
	"log/slog"

	"github.com/rolegate/rolegate/internal/adminapi"
	"github.com/rolegate/rolegate/internal/config"
	"github.com/rolegate/rolegate/internal/provisioning"
	"github.com/rolegate/rolegate/internal/sqlite"
)

// provisioner is the worker as serve uses it.
type provisioner interface {
	Wake(requestID int64)
	Run(ctx context.Context)
}

func newProvisioner(cfg *config.Config, db *sqlite.DB, upstream *adminapi.Client, logger *slog.Logger, onOutcome func(string)) provisioner {
	return provisioning.New(provisioning.Config{
		Queue: db, Upstream: upstream, Logger: logger,
		MaxAttempts: cfg.ProvisionAttempts, CallTimeout: cfg.ProvisionTimeout, BackoffBase: cfg.ProvisionBackoff,
		OnOutcome: onOutcome,
	})
}
