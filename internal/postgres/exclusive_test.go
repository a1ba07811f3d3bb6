package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/rolegate/rolegate/internal/pgtest"
)

// A node that dies while it runs a periodic job (its connection to the
// database gone, as when its process is killed) loses the job's lock:
// another node takes the job over at its next try.
func TestAPeriodicJobIsTakenOverWhenItsNodeDies(t *testing.T) {
	url := pgtest.NewDatabase(t)
	a, b := open(t, url), open(t, url)
	running, stopped := make(chan struct{}), make(chan struct{})
	hung, stop := context.WithCancel(context.Background())
	// Before the pools close (cleanups run last first): the hung job lets
	// its connection go.
	t.Cleanup(func() { stop(); <-stopped })
	go func() {
		defer close(stopped)
		_, _ = a.RunExclusive(hung, "checkpoint", func(ctx context.Context) error {
			close(running)
			<-ctx.Done() // hangs, as a node killed mid-job never finishes
			return ctx.Err()
		})
	}()
	<-running
	if ran, err := b.RunExclusive(t.Context(), "checkpoint", func(context.Context) error { return nil }); err != nil || ran {
		t.Fatalf("RunExclusive on the second node while the first runs = %v, %v; want skipped", ran, err)
	}
	// The first node's connection dies.
	var killed int
	if err := connect(t, url).QueryRow(t.Context(), `SELECT count(pg_terminate_backend(pid)) FROM pg_locks
		WHERE locktype = 'advisory' AND granted AND pid <> pg_backend_pid()`).Scan(&killed); err != nil || killed != 1 {
		t.Fatalf("terminate the job's holder: %d, %v", killed, err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		ran, err := b.RunExclusive(t.Context(), "checkpoint", func(context.Context) error { return nil })
		if err == nil && ran {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the second node never took the job over: %v, %v", ran, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
