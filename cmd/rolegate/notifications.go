package main

import (
	"context"

	"github.com/rolegate/rolegate/internal/notify"
)

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
