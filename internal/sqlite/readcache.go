package sqlite

import (
	"sync"

	"github.com/rolegate/rolegate/internal/bounded"
)

// The read cache: what a page reads on every view (the session behind its
// cookie, the request's record, the approver's count of requests waiting),
// kept in memory until the next write, so that a page viewed again reads
// nothing from SQLite. It is exact, not a cache with a lifetime:
//
//   - Only this process writes the file while it serves. A second
//     rolegate serve, or rolegate migrate, is refused by the lock beside
//     the file (cmd/rolegate); rolegate backup, audit verify and audit prove
//     only read; rolegate audit checkpoint appends a checkpoint event (with
//     no request), its tree leaf and nothing else, none of which a cached
//     value holds (docs/PERFORMANCE.md).
//   - Every write of this process goes through the writer (groupcommit.go),
//     which adds one to the write generation (DB.gen) after each batch has
//     committed (or failed) and before any of its members is told "done".
//   - A value is read from SQLite under the generation loaded before the
//     read, and served only while the generation is still that one. A
//     value read before a commit is never served after it; a caller told
//     "done" sees its own write, and so does anyone who asks after it.
//
// So a sign-out, an expiry, a new sign-in, an approval or any other write
// is seen at once by the next read, as when every read went to SQLite. The
// checks that depend on the time (a session's idle and absolute limits,
// the once-a-minute touch of its last-seen time) are made on every read,
// cached or not, by the caller.
//
// PostgreSQL has no such cache: several nodes share its database, and a
// session ended on one must end on all at once.
//
// Each cache is bounded in entries and in bytes (the size of the columns
// read), and holds only what was found: a client cannot grow it with
// made-up tokens or ids, and a value larger than a tenth of the bound is not
// kept. The values are shared by every reader and never changed once
// stored: the readers copy what they hand out, or hand out values that
// their callers only read.

// The bounds of each cache. A session is a few hundred bytes, a request's
// record a few kilobytes (a long timeline, tens): about 6 MiB in all at
// most, counted as the columns' bytes (docs/PERFORMANCE.md: the resident
// memory's target).
const (
	maxCachedSessions     = 4096
	maxCachedSessionBytes = 2 << 20
	maxCachedRecords      = 1024
	maxCachedRecordBytes  = 4 << 20
	maxCachedCounts       = 1024
	maxCachedCountBytes   = 256 << 10
)

// readCache holds values read at a write generation, each served only at
// its own: bounded (internal/bounded), those of older generations included
// until they are dropped to make room (dropping them all at each write
// would cost a pass over the map on every write).
type readCache[K comparable, V any] struct {
	mu      sync.Mutex
	newest  uint64 // the latest generation a value was kept at
	entries *bounded.Map[K, cachedValue[V]]
}

type cachedValue[V any] struct {
	v   V
	gen uint64
}

func newReadCache[K comparable, V any](maxEntries, maxBytes int) *readCache[K, V] {
	return &readCache[K, V]{entries: bounded.New[K, cachedValue[V]](maxEntries, maxBytes)}
}

// get returns the value of k read at generation gen, if it is kept.
func (c *readCache[K, V]) get(gen uint64, k K) (V, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries.Get(k)
	if !ok || e.gen != gen {
		var zero V
		return zero, false
	}
	return e.v, true
}

// put keeps v, k's value read at generation gen (loaded before the read),
// unless a later generation has been seen: then v may be out of date.
func (c *readCache[K, V]) put(gen uint64, k K, v V, size int) {
	if !c.entries.Fits(size) {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen < c.newest {
		return
	}
	c.newest = gen
	c.entries.Put(k, cachedValue[V]{v: v, gen: gen}, size)
}

// clear drops every entry (DB.ReleaseMemory).
func (c *readCache[K, V]) clear() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.entries.Clear()
}

// len is how many entries and bytes are kept (tests).
func (c *readCache[K, V]) len() (entries, bytes int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.entries.Len()
}
