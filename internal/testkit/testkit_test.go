package testkit

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"
)

func TestWaitForReturnsOnceTheConditionHolds(t *testing.T) {
	var ready atomic.Bool
	go func() {
		time.Sleep(30 * time.Millisecond)
		ready.Store(true)
	}()
	WaitFor(t, "the goroutine", ready.Load)
	if !ready.Load() {
		t.Fatal("WaitFor returned before the condition held")
	}
}

func TestSyncBufferKeepsEveryWrite(t *testing.T) {
	var b SyncBuffer
	done := make(chan struct{})
	for i := range 4 {
		go func() {
			defer func() { done <- struct{}{} }()
			fmt.Fprintf(&b, "line %d\n", i)
		}()
	}
	for range 4 {
		<-done
	}
	if got := len(b.String()); got != 4*len("line 0\n") {
		t.Errorf("buffer holds %d bytes; want %d", got, 4*len("line 0\n"))
	}
}
