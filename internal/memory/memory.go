// Package memory gives the operating system back the heap a burst of work
// left behind, once the process goes quiet.
//
// After a burst (a load of submissions, a large export) the Go runtime
// keeps the freed heap for the next one and returns it only slowly: its
// scavenger aims at the heap goal of the last collection, and an idle
// process does not collect, so a portal stayed at twice its idle size for
// minutes after the load had ended. The caches that served the burst
// (the store's, the views') hold memory too, and are worth nothing once
// it is over. A portal is idle most of the day; what it holds then is
// what an operator sizes the machine by.
package memory

import (
	"context"
	"runtime/debug"
	"runtime/metrics"
	"time"
)

// Defaults for Releaser's thresholds.
const (
	DefaultEvery = 5 * time.Second
	DefaultQuiet = 1 << 20  // allocated in one interval: a page or two, not a burst
	DefaultCalm  = 2        // quiet intervals in a row: a lull between clicks is not the end of a burst
	DefaultSpare = 16 << 20 // free heap not yet returned: worth one collection
)

// Releaser releases when Calm intervals in a row are quiet (the process
// allocated less than Quiet in each) after a burst (an interval that
// allocated more), or when a quiet process holds more than Spare bytes of
// free heap. Releasing first runs Also (the caches that serve bursts drop
// what they keep), then returns the free heap to the operating system.
// It costs one full collection, so it happens once per quiet spell:
// afterwards nothing is spare until the next burst.
type Releaser struct {
	Every time.Duration
	Quiet uint64
	Spare uint64
	Calm  int
	Also  []func()

	read    func() (allocated, free uint64)
	release func()
	last    uint64
	started bool
	burst   bool // an interval since the last release was not quiet
	calm    int  // quiet intervals in a row
}

// NewReleaser watches the runtime's own figures (runtime/metrics), runs
// also and releases with debug.FreeOSMemory.
func NewReleaser(also ...func()) *Releaser {
	return &Releaser{Every: DefaultEvery, Quiet: DefaultQuiet, Spare: DefaultSpare, Calm: DefaultCalm, Also: also, read: runtimeFigures, release: debug.FreeOSMemory}
}

// Run samples every r.Every until ctx ends.
func (r *Releaser) Run(ctx context.Context) {
	t := time.NewTicker(r.Every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			r.Step()
		}
	}
}

// Step takes one sample and releases if the process is quiet after a
// burst, or quiet and holding spare heap. It reports whether it released.
func (r *Releaser) Step() bool {
	allocated, free := r.read()
	quiet := r.started && allocated-r.last < r.Quiet
	switch {
	case quiet:
		r.calm++
	case r.started:
		r.burst, r.calm = true, 0
	}
	r.last, r.started = allocated, true
	if !quiet || r.calm < r.Calm || (!r.burst && free < r.Spare) {
		return false
	}
	for _, f := range r.Also {
		f()
	}
	r.release()
	r.burst = false
	return true
}

var figures = []string{"/gc/heap/allocs:bytes", "/memory/classes/heap/free:bytes"}

// runtimeFigures reads the bytes allocated since the process started and
// the heap that is free and not yet returned to the operating system.
func runtimeFigures() (allocated, free uint64) {
	s := []metrics.Sample{{Name: figures[0]}, {Name: figures[1]}}
	metrics.Read(s)
	return value(s[0]), value(s[1])
}

func value(s metrics.Sample) uint64 {
	if s.Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return s.Value.Uint64()
}
