package sqlite

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/rolegate/rolegate/internal/rolegate"
	"github.com/rolegate/rolegate/internal/testkit"
)

// The read cache (readcache.go) is exact: whatever was written is read at
// once, by the writer and by everyone after it, as if every read went to
// SQLite. These tests say so for each value it keeps, and that it stays
// within its bounds.

func cacheTestDB(t *testing.T) (*DB, *testkit.Clock) {
	t.Helper()
	db, err := Open(context.Background(), filepath.Join(t.TempDir(), "rolegate.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	clock := testkit.NewClock(time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC))
	db.SetClock(clock.Now)
	return db, clock
}

func cachePerson(subject string, roles ...rolegate.PortalRole) rolegate.Actor {
	return rolegate.Actor{Principal: rolegate.Principal{
		Person: rolegate.Person{Issuer: "https://idp.example.com", Subject: subject, Email: subject + "@example.com", Name: subject},
		Roles:  roles,
	}}
}

var cacheLimits = rolegate.SessionLimits{Idle: 30 * time.Minute, Absolute: 8 * time.Hour}

func signIn(t *testing.T, ss *Sessions, a rolegate.Actor, previous string) string {
	t.Helper()
	token, _, err := ss.CreateSession(context.Background(), a, rolegate.SessionAuth{}, cacheLimits, previous)
	if err != nil {
		t.Fatal(err)
	}
	return token
}

// lookup looks token up twice: the second read is the cache's when
// nothing was written between them, and both must say the same.
func lookup(t *testing.T, ss *Sessions, token string) (*rolegate.Session, error) {
	t.Helper()
	first, err1 := ss.LookupSession(context.Background(), token, cacheLimits)
	second, err2 := ss.LookupSession(context.Background(), token, cacheLimits)
	if !errors.Is(err2, err1) && (err1 != nil || err2 != nil) {
		t.Fatalf("LookupSession twice = %v, then %v", err1, err2)
	}
	if err1 == nil && fmt.Sprint(*first) != fmt.Sprint(*second) {
		t.Fatalf("LookupSession twice = %+v, then %+v", *first, *second)
	}
	return second, err2
}

func TestReadCacheSessions(t *testing.T) {
	ctx := context.Background()
	rita := cachePerson("rita", rolegate.RoleRequester)

	t.Run("SignOutIsSeenAtOnce", func(t *testing.T) {
		db, _ := cacheTestDB(t)
		ss := NewSessions(db)
		token := signIn(t, ss, rita, "")
		if s, err := lookup(t, ss, token); err != nil || s.Principal.Key() != rita.Key() {
			t.Fatalf("lookup = %v, %v; want Rita's session", s, err)
		}
		if n, _ := db.sessions.len(); n != 1 {
			t.Fatalf("the cache keeps %d sessions; want 1", n)
		}
		if err := ss.DeleteSession(ctx, token, rita); err != nil {
			t.Fatal(err)
		}
		if _, err := lookup(t, ss, token); !errors.Is(err, rolegate.ErrNoSession) {
			t.Fatalf("lookup after sign-out = %v; want rolegate.ErrNoSession", err)
		}
	})

	t.Run("ANewSignInEndsThePreviousSessionAtOnce", func(t *testing.T) {
		db, _ := cacheTestDB(t)
		ss := NewSessions(db)
		old := signIn(t, ss, rita, "")
		if _, err := lookup(t, ss, old); err != nil {
			t.Fatal(err)
		}
		fresh := signIn(t, ss, rita, old)
		if _, err := lookup(t, ss, old); !errors.Is(err, rolegate.ErrNoSession) {
			t.Fatalf("the replaced session = %v; want rolegate.ErrNoSession", err)
		}
		if _, err := lookup(t, ss, fresh); err != nil {
			t.Fatalf("the new session = %v", err)
		}
	})

	t.Run("ExpiryIsCheckedOnEveryRead", func(t *testing.T) {
		db, clock := cacheTestDB(t)
		ss := NewSessions(db)
		idle := signIn(t, ss, rita, "")
		if _, err := lookup(t, ss, idle); err != nil {
			t.Fatal(err)
		}
		// Nothing is written in between: the session is in the cache,
		// and idle too long all the same.
		clock.Advance(cacheLimits.Idle)
		if _, err := ss.LookupSession(ctx, idle, cacheLimits); !errors.Is(err, rolegate.ErrNoSession) {
			t.Fatalf("a session idle for %v = %v; want rolegate.ErrNoSession", cacheLimits.Idle, err)
		}
		var n int
		if err := testkit.OpenReadOnly(t, db.Path()).QueryRow(`SELECT count(*) FROM sessions`).Scan(&n); err != nil || n != 0 {
			t.Fatalf("%d sessions left (%v); want the idle one deleted", n, err)
		}

		// Kept alive by a look every 20 minutes, until its absolute limit.
		busy := signIn(t, ss, rita, "")
		for clock.Now().Add(20 * time.Minute).Before(clock.Now().Add(cacheLimits.Absolute)) {
			s, err := lookup(t, ss, busy)
			if err != nil {
				t.Fatalf("at %v: %v", clock.Now(), err)
			}
			if !s.LastSeenAt.Equal(clock.Now().UTC().Truncate(time.Millisecond)) {
				t.Fatalf("at %v the session was last seen at %v; want now (touched)", clock.Now(), s.LastSeenAt)
			}
			if !clock.Now().Add(20 * time.Minute).Before(s.ExpiresAt) {
				break
			}
			clock.Advance(20 * time.Minute)
		}
		clock.Advance(20 * time.Minute)
		if _, err := ss.LookupSession(ctx, busy, cacheLimits); !errors.Is(err, rolegate.ErrNoSession) {
			t.Fatalf("a session past its absolute limit = %v; want rolegate.ErrNoSession", err)
		}
	})

	t.Run("TheTouchIsOnceAMinuteAsBefore", func(t *testing.T) {
		db, clock := cacheTestDB(t)
		ss := NewSessions(db)
		token := signIn(t, ss, rita, "")
		signedIn := clock.Now().UTC().Truncate(time.Millisecond)
		clock.Advance(59 * time.Second)
		if s, err := lookup(t, ss, token); err != nil || !s.LastSeenAt.Equal(signedIn) {
			t.Fatalf("after 59 s: %v, %v; want last seen at the sign-in, %v", s, err, signedIn)
		}
		clock.Advance(time.Second)
		now := clock.Now().UTC().Truncate(time.Millisecond)
		if s, err := lookup(t, ss, token); err != nil || !s.LastSeenAt.Equal(now) {
			t.Fatalf("after a minute: %v, %v; want last seen now, %v", s, err, now)
		}
		var stored int64
		if err := testkit.OpenReadOnly(t, db.Path()).QueryRow(`SELECT last_seen_at FROM sessions`).Scan(&stored); err != nil || stored != now.UnixMilli() {
			t.Fatalf("stored last_seen_at = %d, %v; want %d", stored, err, now.UnixMilli())
		}
	})

	t.Run("OnlySessionsFoundAreKept", func(t *testing.T) {
		db, _ := cacheTestDB(t)
		ss := NewSessions(db)
		signIn(t, ss, rita, "")
		for i := range 100 {
			if _, err := ss.LookupSession(ctx, fmt.Sprintf("made-up-%d", i), cacheLimits); !errors.Is(err, rolegate.ErrNoSession) {
				t.Fatalf("a made-up token = %v; want rolegate.ErrNoSession", err)
			}
		}
		if n, _ := db.sessions.len(); n != 0 {
			t.Fatalf("the cache keeps %d sessions after 100 made-up tokens; want none", n)
		}
	})

	t.Run("ACallerCannotChangeTheCachedSession", func(t *testing.T) {
		db, _ := cacheTestDB(t)
		ss := NewSessions(db)
		token := signIn(t, ss, rita, "")
		s, err := lookup(t, ss, token)
		if err != nil {
			t.Fatal(err)
		}
		s.Principal.Roles[0] = rolegate.RoleAdmin
		s.Principal.Email, s.CSRFToken = "mallory@example.com", "forged"
		again, err := ss.LookupSession(ctx, token, cacheLimits)
		if err != nil || again.Principal.Has(rolegate.RoleAdmin) || again.Principal.Email != rita.Email || again.CSRFToken == "forged" {
			t.Fatalf("after a caller changed its copy, the session is %+v, %v; want Rita's as stored", again, err)
		}
	})
}

// A write made by one goroutine is seen by its next read, whatever other
// goroutines read (and keep) meanwhile: read-after-write holds under the
// race detector, for sessions (a draft's path), records (a cancellation)
// and counts.
func TestReadCacheReadAfterWrite(t *testing.T) {
	ctx := context.Background()
	db, _ := cacheTestDB(t)
	ss := NewSessions(db)
	requests := NewRequests(db, rolegate.RequestsConfig{})
	catalog := rolegate.NewCatalog([]rolegate.Permission{{Name: "api.groups.read", Area: "Groups"}})
	const writers, rounds = 4, 15

	var readers sync.WaitGroup
	stop := make(chan struct{})
	errs := make(chan error, 100)
	tokens := make([]string, writers)
	ids := make([]int64, writers)
	mine := rolegate.RequestFilter{Statuses: []rolegate.Status{rolegate.StatusPending}}
	for w := range writers {
		a := cachePerson(fmt.Sprintf("writer%d", w), rolegate.RoleRequester)
		tokens[w] = signIn(t, ss, a, "")
		req, err := requests.Create(ctx, a, rolegate.RequestInput{RoleName: fmt.Sprintf("Role %d", w),
			Permissions: []string{"api.groups.read"}, Justification: "Reading groups for the dashboards."}, catalog)
		if err != nil {
			t.Fatal(err)
		}
		ids[w] = req.ID
	}
	// Readers keep every value in the cache, as fast as they can.
	for range 3 {
		readers.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				for w := range writers {
					if _, err := ss.LookupSession(ctx, tokens[w], cacheLimits); err != nil {
						errs <- err
						return
					}
					if _, err := requests.GetRecord(ctx, ids[w]); err != nil {
						errs <- err
						return
					}
				}
				if _, err := requests.Count(ctx, mine); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	var writing sync.WaitGroup
	for w := range writers {
		writing.Go(func() {
			a := cachePerson(fmt.Sprintf("writer%d", w), rolegate.RoleRequester)
			for i := range rounds {
				path := fmt.Sprintf("/requests/%d/round/%d", w, i)
				if err := ss.KeepDraft(ctx, tokens[w], path, "draft"); err != nil {
					errs <- err
					return
				}
				if s, err := ss.LookupSession(ctx, tokens[w], cacheLimits); err != nil || s.DraftPath != path {
					errs <- fmt.Errorf("writer %d, round %d: the session's draft is for %q (%v); want %q", w, i, s.DraftPath, err, path)
					return
				}
			}
			if _, err := requests.Cancel(ctx, a, ids[w]); err != nil {
				errs <- err
				return
			}
			if rec, err := requests.GetRecord(ctx, ids[w]); err != nil || rec.Request.Status != rolegate.StatusCancelled ||
				rec.Events[len(rec.Events)-1].Action != rolegate.ActionRequestCancelled {
				errs <- fmt.Errorf("writer %d: after cancelling, the record reads %v (%v); want cancelled, last in its timeline", w, rec.Request.Status, err)
				return
			}
			// Every writer cancels its own; this one's cancellation is
			// counted at once, whoever else cancelled meanwhile.
			n, err := requests.Count(ctx, rolegate.RequestFilter{RequesterKey: a.Key(), Statuses: mine.Statuses})
			if err != nil || n != 0 {
				errs <- fmt.Errorf("writer %d: %d of its requests pending after cancelling (%v); want 0", w, n, err)
			}
		})
	}
	writing.Wait()
	close(stop)
	readers.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n, err := requests.Count(ctx, mine); err != nil || n != 0 {
		t.Errorf("pending requests at the end = %d, %v; want 0", n, err)
	}
}

// The record handed out is the caller's: changing its request or the
// record does not change what the next reader gets.
func TestReadCacheRecordIsTheCallersCopy(t *testing.T) {
	ctx := context.Background()
	db, _ := cacheTestDB(t)
	requests := NewRequests(db, rolegate.RequestsConfig{})
	a := cachePerson("rita", rolegate.RoleRequester)
	req, err := requests.Create(ctx, a, rolegate.RequestInput{RoleName: "Reader", Permissions: []string{"api.groups.read"},
		Justification: "Reading groups for the dashboards."}, rolegate.NewCatalog([]rolegate.Permission{{Name: "api.groups.read"}}))
	if err != nil {
		t.Fatal(err)
	}
	first, err := requests.GetRecord(ctx, req.ID)
	if err != nil {
		t.Fatal(err)
	}
	first.Request.Status, first.Request.RoleName = rolegate.StatusProvisioned, "Changed"
	first.Events, first.Role = nil, &rolegate.PictureRole{}
	second, err := requests.GetRecord(ctx, req.ID)
	if err != nil {
		t.Fatal(err)
	}
	if second.Request.Status != rolegate.StatusPending || second.Request.RoleName != "Reader" || len(second.Events) != 1 || second.Role != nil {
		t.Fatalf("the second reader gets %s %q, %d events, role %v; want the stored pending Reader with 1 event and no role",
			second.Request.Status, second.Request.RoleName, len(second.Events), second.Role)
	}
}

// A cache keeps at most its entries and bytes, serves a value at its own
// generation only, and does not keep a value read before a later write.
func TestReadCacheBounds(t *testing.T) {
	c := newReadCache[int, string](3, 1000)
	for i := range 10 {
		c.put(1, i, fmt.Sprint(i), 50)
		if n, b := c.len(); n > 3 || b > 1000 {
			t.Fatalf("after %d puts: %d entries, %d bytes; want at most 3 and 1000", i+1, n, b)
		}
	}
	if _, ok := c.get(1, 9); !ok {
		t.Error("the last value put is not kept")
	}
	for i := range 10 {
		c.put(1, 100+i, "big", 90)
		if n, b := c.len(); n > 3 || b > 1000 {
			t.Fatalf("after %d big puts: %d entries, %d bytes; want at most 3 and 1000", i+1, n, b)
		}
	}
	c.put(1, 200, "too big", 101)
	if _, ok := c.get(1, 200); ok {
		t.Error("a value over a tenth of the bytes is kept")
	}
	c.put(1, 7, "seven", 1)
	if _, ok := c.get(2, 7); ok {
		t.Error("a value read at generation 1 is served at generation 2")
	}
	c.put(3, 8, "eight", 1)
	c.put(2, 7, "seven, read before the write of generation 3", 1)
	for _, gen := range []uint64{2, 3} {
		if v, ok := c.get(gen, 7); ok {
			t.Errorf("at generation %d, 7 is %q: a value read at generation 2, put after generation 3 was seen", gen, v)
		}
	}
	if v, ok := c.get(3, 8); !ok || v != "eight" {
		t.Errorf("at generation 3, 8 is %q, %v; want the value read at 3", v, ok)
	}
}

// When the portal goes quiet the caches are dropped (internal/memory):
// nothing is kept, and the next read, from the file, says the same.
func TestReleaseMemoryDropsTheCachesAndNothingElse(t *testing.T) {
	db, _ := cacheTestDB(t)
	ss := NewSessions(db)
	rita := cachePerson("rita", rolegate.RoleRequester)
	token := signIn(t, ss, rita, "")
	before, err := lookup(t, ss, token)
	if err != nil {
		t.Fatal(err)
	}
	db.ReleaseMemory(context.Background())
	if n, b := db.sessions.len(); n != 0 || b != 0 {
		t.Fatalf("after ReleaseMemory the cache keeps %d sessions (%d bytes)", n, b)
	}
	after, err := lookup(t, ss, token)
	if err != nil || fmt.Sprint(*after) != fmt.Sprint(*before) {
		t.Fatalf("after ReleaseMemory: %v, %v; want the same session as before, %+v", after, err, *before)
	}
	if n, _ := db.sessions.len(); n != 1 {
		t.Fatalf("the session read again is not kept again (%d kept)", n)
	}
}
