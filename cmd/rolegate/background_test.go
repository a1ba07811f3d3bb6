package main

import (
	"context"
	"log/slog"
	"path/filepath"
	"testing"
	"testing/synctest"
	"time"

	"github.com/rolegate/rolegate/internal/config"
	"github.com/rolegate/rolegate/internal/rolegate"
	"github.com/rolegate/rolegate/internal/sqlite"
)

// recordingWorker stands in for the provisioning worker at shutdown: after
// its context ends it still writes the outcome of the attempt it was making,
// as the real worker does within its record timeout. The attempt's last
// call returns when the test closes release.
type recordingWorker struct {
	db       *sqlite.DB
	release  chan struct{}
	recorded chan error
}

func (w *recordingWorker) Wake(int64) {}

func (w *recordingWorker) Run(ctx context.Context) {
	<-ctx.Done()
	<-w.release
	e := rolegate.NewEvent(rolegate.System("provisioning"), rolegate.OutcomeSuccess, rolegate.ProvisioningSucceeded{})
	w.recorded <- sqlite.NewTrail(w.db).AppendEvent(context.WithoutCancel(ctx), e)
}

// serve closes the database as soon as runBackground returns, so it must
// not return while the provisioning worker is still recording an outcome.
// The test runs in a synctest bubble: synctest.Wait returns once every
// goroutine of it is blocked, which is the moment a runBackground that did
// not wait would already have returned.
func TestBackgroundWaitsForTheProvisioningWorker(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "rolegate.db"))
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		services := rolegate.Services{
			Requests: sqlite.NewRequests(db, rolegate.RequestsConfig{RequiredApprovals: 1, ExpireAfter: time.Hour}),
			Sessions: sqlite.NewSessions(db),
		}
		worker := &recordingWorker{db: db, release: make(chan struct{}), recorded: make(chan error, 1)}
		bg, stop := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() {
			defer close(done)
			runBackground(bg, &config.Config{SessionIdle: time.Hour}, services, sqlite.NewTrail(db), rolegate.RunHere, worker, slog.New(slog.DiscardHandler))
		}()
		synctest.Wait() // the housekeeping's first round is done; it waits for its next tick
		stop()
		synctest.Wait() // the worker holds its last call; runBackground has returned or waits
		var returnedEarly bool
		select {
		case <-done:
			returnedEarly = true
		default:
		}
		close(worker.release)
		<-done
		if err := <-worker.recorded; err != nil {
			t.Errorf("the worker's last outcome was not recorded: %v", err)
		}
		if returnedEarly {
			t.Fatal("runBackground returned while the provisioning worker was still recording; the database would close under it")
		}
	})
}
