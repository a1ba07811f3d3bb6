// Package testkit holds what the tests of several packages share: waiting
// for something that another goroutine or process does (WaitFor), a log
// sink that the test reads while the code under test writes (SyncBuffer),
// a clock the test moves (Clock), a second connection to a database file
// and dumps of its rows (OpenDB, DumpTables), a real SMTP server that keeps
// what it is sent (Mailbox), the Prometheus text parsed (MetricValue), the
// reference Merkle tree (ReferenceTree), and the fast lane's skips
// (NeedsBrowser, MultiProcess). It is imported by tests only.
//
// A test that checks something written after a commit, a send or a
// goroutine's next step must wait for it (WaitFor), never read it at once:
// on a loaded machine the writer may not have got there yet.
package testkit

import (
	"bytes"
	"sync"
	"testing"
	"time"
)

// Patience is how long WaitFor waits. It is generous on purpose: CI may run
// on a busy two-core machine, and a passing test never waits that long.
const Patience = 20 * time.Second

// WaitFor polls cond until it holds, and fails the test naming what it
// waited for when it does not within Patience. describe, when not nil, adds
// what the test knows at that moment (a log, the current state).
//
// To show that something did not happen, wait for a later thing that could
// only come after it (the next event, a processed marker, a counter), then
// check; never sleep and hope that the moment has passed.
func WaitFor(t testing.TB, what string, cond func() bool, describe ...func() string) {
	t.Helper()
	if Poll(Patience, 10*time.Millisecond, cond) {
		return
	}
	msg := ""
	for _, d := range describe {
		msg += "\n" + d()
	}
	t.Fatalf("gave up after %s waiting for %s%s", Patience, what, msg)
}

// Poll calls cond every every until it holds or within has passed, and
// says whether it held. It is WaitFor for a caller that fails in its own
// way (a browser journey saves its screenshots first) or must not ask too
// often (a cond that reloads a page).
func Poll(within, every time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(every)
	}
	return true
}

// SyncBuffer is a log sink that goroutines write and the test reads.
type SyncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *SyncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String returns everything written so far.
func (b *SyncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
