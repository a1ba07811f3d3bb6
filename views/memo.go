package views

import (
	"sync"

	"github.com/rolegate/rolegate/internal/bounded"

	"github.com/rolegate/rolegate/internal/rolegate"
)

// Words worked out once: what a page derives from a value that never
// changes, kept by that value itself, so that viewing a page again does
// not decode its timeline's JSON nor indent its payload again
// (docs/PERFORMANCE.md). The key is the whole of what the words are made
// from (not a hash of it that the database could contradict), so a kept
// value is always the one the function would give; bounded in entries and
// bytes, dropped at random when full. Package state, like a sync.Pool:
// invisible but for the time it saves.
var (
	described = newMemo[rolegate.Description](4096, 2<<20)
	indented  = newMemo[string](256, 1<<20)
)

// describeForTimeline is rolegate.Describe's Did, Detail and Comment of
// e, which depend on its action, role name and details only.
func describeForTimeline(e rolegate.Event) rolegate.Description {
	var buf [512]byte
	key := append(append(append(append(append(buf[:0], e.Action...), 0), e.RoleName...), 0), e.Details...)
	if d, ok := described.get(key); ok {
		return d
	}
	d := rolegate.Describe(e)
	d.News = "" // not shown in a timeline
	described.put(string(key), d, len(d.Did)+len(d.Detail)+len(d.Comment))
	return d
}

// memo is a bounded map (internal/bounded) from a value's bytes to what
// was made of them, shared by every request.
type memo[V any] struct {
	mu      sync.Mutex
	entries *bounded.Map[string, V]
}

func newMemo[V any](maxEntries, maxBytes int) *memo[V] {
	return &memo[V]{entries: bounded.New[string, V](maxEntries, maxBytes)}
}

func (m *memo[V]) get(key []byte) (V, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return bounded.Lookup(m.entries, key)
}

// put keeps v for key; size is about what v takes beyond the key.
func (m *memo[V]) put(key string, v V, size int) {
	size += len(key) + 64
	if !m.entries.Fits(size) {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.entries.Put(key, v, size)
}

func (m *memo[V]) clear() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.entries.Clear()
}

// ForgetWords drops every memo, for when the process goes quiet
// (internal/memory): what they save is time under load, and what they
// hold is memory when idle.
func ForgetWords() {
	described.clear()
	indented.clear()
}
