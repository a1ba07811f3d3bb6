package main

import (
	"context"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/rolegate/rolegate/internal/config"
	"github.com/rolegate/rolegate/internal/rolegate"
	"github.com/rolegate/rolegate/internal/sqlite"
)

// recordingWorker stands in for the provisioning worker at shutdown: after
// its context ends it still writes the outcome of the attempt it was making,
// as the real worker does within its record timeout.
type recordingWorker struct {
	db       *sqlite.DB
	recorded chan error
}

func (w *recordingWorker) Wake(int64) {}

func (w *recordingWorker) Run(ctx context.Context) {
	<-ctx.Done()
	time.Sleep(50 * time.Millisecond) // the attempt's last call returning
	e := rolegate.NewEvent(rolegate.System("provisioning"), rolegate.OutcomeSuccess, rolegate.ProvisioningSucceeded{})
	w.recorded <- w.db.AppendEvent(context.WithoutCancel(ctx), e)
}

// serve closes the database as soon as runBackground returns, so it must
// not return while the provisioning worker is still recording an outcome.
func TestBackgroundWaitsForTheProvisioningWorker(t *testing.T) {
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "rolegate.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	requests := sqlite.NewRequests(db, rolegate.RequestsConfig{RequiredApprovals: 1, ExpireAfter: time.Hour})
	worker := &recordingWorker{db: db, recorded: make(chan error, 1)}
	bg, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		runBackground(bg, &config.Config{SessionIdle: time.Hour}, db, requests, worker, slog.New(slog.DiscardHandler))
	}()
	time.Sleep(20 * time.Millisecond) // the housekeeping's first round
	stop()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("runBackground did not return after its context ended")
	}
	select {
	case err := <-worker.recorded:
		if err != nil {
			t.Errorf("the worker's last outcome was not recorded: %v", err)
		}
	default:
		t.Fatal("runBackground returned while the provisioning worker was still recording; the database would close under it")
	}
}
