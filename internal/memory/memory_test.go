package memory

import (
	"runtime"
	"runtime/debug"
	"testing"
)

// scripted is a process whose allocation and free heap the test sets.
type scripted struct {
	allocated, free uint64
	released        int
}

func newScripted() (*Releaser, *scripted) {
	s := &scripted{}
	r := &Releaser{Quiet: DefaultQuiet, Spare: DefaultSpare, Calm: 1,
		read:    func() (uint64, uint64) { return s.allocated, s.free },
		release: func() { s.released++; s.free = 0 }}
	return r, s
}

func TestNothingIsReleasedWhileTheProcessIsBusy(t *testing.T) {
	r, s := newScripted()
	s.free = 100 << 20
	for range 5 {
		s.allocated += 50 << 20 // a burst every interval
		if r.Step() {
			t.Fatal("released in the middle of a burst: a collection there only slows the burst down")
		}
	}
}

func TestSpareHeapIsReleasedOnceWhenTheProcessGoesQuiet(t *testing.T) {
	r, s := newScripted()
	s.allocated, s.free = 500<<20, 48<<20
	r.Step() // the first sample only sets the baseline
	s.allocated += 10 << 10
	if !r.Step() || s.released != 1 {
		t.Fatalf("quiet with 48 MiB spare: released %d times, want once", s.released)
	}
	for range 5 {
		s.allocated += 10 << 10
		r.Step()
	}
	if s.released != 1 {
		t.Fatalf("released %d times over a quiet spell; once is enough, nothing is spare afterwards", s.released)
	}
	// The next burst leaves spare heap again; the next quiet spell returns it.
	s.allocated, s.free = s.allocated+200<<20, 40<<20
	r.Step()
	s.allocated += 10 << 10
	if !r.Step() || s.released != 2 {
		t.Fatalf("after a second burst: released %d times, want twice", s.released)
	}
}

func TestALullShorterThanCalmReleasesNothing(t *testing.T) {
	r, s := newScripted()
	r.Calm = 3
	r.Step()
	s.allocated += 50 << 20 // a burst
	r.Step()
	for lull := range 2 {
		s.allocated += 10 << 10
		if r.Step() {
			t.Fatalf("released after %d quiet intervals; Calm is 3", lull+1)
		}
	}
	s.allocated += 50 << 20 // the burst goes on
	r.Step()
	for range 2 {
		s.allocated += 10 << 10
		r.Step()
	}
	if s.released != 0 {
		t.Fatal("the quiet intervals before the burst went on counted towards Calm")
	}
	s.allocated += 10 << 10
	if !r.Step() {
		t.Fatal("three quiet intervals in a row after the burst, and nothing released")
	}
}

func TestLittleSpareHeapIsNotWorthACollection(t *testing.T) {
	r, s := newScripted()
	s.free = 4 << 20
	r.Step()
	if r.Step() {
		t.Fatal("released 4 MiB: below Spare a full collection costs more than it returns")
	}
}

// After a burst the caches that served it hold memory that is not free
// heap: the quiet spell after it drops them and releases, however little
// heap is free, once.
func TestTheCachesAreDroppedOnceWhenABurstEnds(t *testing.T) {
	r, s := newScripted()
	dropped := 0
	r.Also = []func(){func() { dropped++ }}
	r.Step()
	s.allocated += 50 << 20 // a burst
	if r.Step() || dropped != 0 {
		t.Fatalf("during the burst: dropped %d times, released %d; want neither", dropped, s.released)
	}
	s.free = 1 << 20 // the burst left little free heap
	s.allocated += 10 << 10
	if !r.Step() || dropped != 1 || s.released != 1 {
		t.Fatalf("quiet after the burst: dropped %d times, released %d; want once each", dropped, s.released)
	}
	for range 5 {
		s.allocated += 10 << 10
		r.Step()
	}
	if dropped != 1 {
		t.Fatalf("the caches were dropped %d times over one quiet spell; a page viewed then fills them for nothing", dropped)
	}
}

// With the runtime's own figures: garbage from a burst is returned. After a
// real burst the last collection's heap goal is high and the runtime's
// scavenger keeps the free heap for the next one; a high GOGC sets up the
// same here (with a low one the scavenger returns a small test's heap by
// itself, and there would be nothing to show).
func TestTheRuntimesSpareHeapGoesBackToTheSystem(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(1000))
	r := NewReleaser()
	var keep [][]byte
	for range 64 {
		keep = append(keep, make([]byte, 1<<20))
	}
	runtime.KeepAlive(keep)
	keep = nil
	runtime.GC() // the burst's 64 MiB are now free, and mostly not yet returned
	_, before := runtimeFigures()
	if before < r.Spare {
		t.Fatalf("only %d bytes of the burst are free and held: the test's burst is too small to show a release", before)
	}
	for range DefaultCalm {
		r.Step()
	}
	if !r.Step() {
		t.Fatalf("quiet with %d bytes of free heap, and nothing released", before)
	}
	if _, after := runtimeFigures(); after >= before/2 {
		t.Fatalf("free heap %d bytes before the release and %d after", before, after)
	}
}
