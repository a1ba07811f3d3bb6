// Package bounded is a map that keeps at most so many entries and so many
// bytes: the shape of every in-memory cache rolegate keeps (the SQLite
// read cache, the views' memos), so that none of them can grow with what
// clients send.
package bounded

// Map holds values up to MaxEntries of them and MaxBytes in all, each
// counted at the size its caller gives. When full, entries are dropped at
// random (the map's order) to make room; a value over a tenth of the
// bytes is not kept at all, so that one large value cannot empty the map.
//
// A Map is not safe for concurrent use: each cache locks around it, and
// often decides something else under the same lock.
type Map[K comparable, V any] struct {
	entries    map[K]entry[V]
	bytes      int
	maxEntries int
	maxBytes   int
}

type entry[V any] struct {
	v    V
	size int
}

// New returns an empty Map with the two bounds.
func New[K comparable, V any](maxEntries, maxBytes int) *Map[K, V] {
	return &Map[K, V]{entries: map[K]entry[V]{}, maxEntries: maxEntries, maxBytes: maxBytes}
}

// Get returns k's value, if it is kept.
func (m *Map[K, V]) Get(k K) (V, bool) {
	e, ok := m.entries[k]
	return e.v, ok
}

// Lookup is Get for a key given as bytes, without copying them into a
// string: Go's map index with string(key) does not allocate, a call with
// it as an argument does.
func Lookup[V any](m *Map[string, V], key []byte) (V, bool) {
	e, ok := m.entries[string(key)]
	return e.v, ok
}

// Fits reports whether a value of size bytes would be kept.
func (m *Map[K, V]) Fits(size int) bool { return size <= m.maxBytes/10 }

// Put keeps v for k (replacing k's value), dropping others if the bounds
// demand it. A value that does not fit is not kept.
func (m *Map[K, V]) Put(k K, v V, size int) {
	if !m.Fits(size) {
		return
	}
	if old, ok := m.entries[k]; ok {
		delete(m.entries, k)
		m.bytes -= old.size
	}
	for drop, e := range m.entries {
		if len(m.entries) < m.maxEntries && m.bytes+size <= m.maxBytes {
			break
		}
		delete(m.entries, drop)
		m.bytes -= e.size
	}
	m.entries[k] = entry[V]{v: v, size: size}
	m.bytes += size
}

// Clear drops every entry, and the memory of the map itself: a Go map
// does not shrink when its entries are deleted, so a new one replaces it.
func (m *Map[K, V]) Clear() {
	m.entries = map[K]entry[V]{}
	m.bytes = 0
}

// Len is how many entries and bytes are kept.
func (m *Map[K, V]) Len() (entries, bytes int) { return len(m.entries), m.bytes }
