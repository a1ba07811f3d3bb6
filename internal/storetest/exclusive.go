package storetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/rolegate/rolegate/internal/testkit"
)

// testExclusiveTwoProcesses runs periodic jobs from two processes: a job
// runs on one of them at a time, another job is not held up, and a job
// finished on one runs on the other next time.
func testExclusiveTwoProcesses(t *testing.T, e Engine) {
	t.Run("APeriodicJobRunsOnOneProcessAtATime", func(t *testing.T) {
		clock := testkit.NewClock(start)
		a := e.Open(t, clock.Now)
		b := e.Again(t, a, clock.Now)
		running, release := make(chan struct{}), make(chan struct{})
		done := make(chan error, 1)
		go func() {
			ran, err := a.RunExclusive(t.Context(), "checkpoint", func(context.Context) error {
				close(running)
				<-release
				return nil
			})
			if err == nil && !ran {
				err = errors.New("the first process did not run the job")
			}
			done <- err
		}()
		<-running
		ran, err := b.RunExclusive(t.Context(), "checkpoint", func(context.Context) error {
			t.Error("the job ran on the second process while the first ran it")
			return nil
		})
		if err != nil || ran {
			t.Errorf("RunExclusive(checkpoint) on the second process while it runs = %v, %v; want skipped", ran, err)
		}
		if ran, err := b.RunExclusive(t.Context(), "expire", func(context.Context) error { return nil }); err != nil || !ran {
			t.Errorf("RunExclusive(expire) beside it = %v, %v; want run", ran, err)
		}
		close(release)
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		failed := errors.New("signing failed")
		ran, err = b.RunExclusive(t.Context(), "checkpoint", func(context.Context) error { return failed })
		if !ran || !errors.Is(err, failed) {
			t.Errorf("RunExclusive(checkpoint) on the second process afterwards = %v, %v; want run, with the job's error", ran, err)
		}
		deadline := time.Now().Add(5 * time.Second)
		for {
			ran, err := a.RunExclusive(t.Context(), "checkpoint", func(context.Context) error { return nil })
			if err != nil {
				t.Fatal(err)
			}
			if ran {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("the job's lock was not released after a failed run")
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
}
