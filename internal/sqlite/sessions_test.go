package sqlite_test

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/rolegate/rolegate/internal/rolegate"
	"github.com/rolegate/rolegate/internal/sqlite"
	"github.com/rolegate/rolegate/internal/testkit"
)

// sessionsFixture is a real database file and a clock the test moves.
type sessionsFixture struct {
	t     *testing.T
	ctx   context.Context
	db    *sqlite.DB
	clock *testkit.Clock
	limit rolegate.SessionLimits
	stores
}

func newSessionsFixture(t *testing.T) *sessionsFixture {
	t.Helper()
	f := &sessionsFixture{
		t: t, ctx: t.Context(), clock: testkit.NewClock(time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)),
		limit: rolegate.SessionLimits{Idle: time.Hour, Absolute: 3 * time.Hour},
	}
	db, err := sqlite.Open(f.ctx, filepath.Join(t.TempDir(), "rolegate.db"))
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	db.SetClock(f.clock.Now)
	f.db, f.stores = db, storesOf(db)
	return f
}

// signIn creates a session for actor and returns its token.
func (f *sessionsFixture) signIn(actor rolegate.Actor, authTime time.Time, previous string) string {
	f.t.Helper()
	token, _, err := f.sessions.CreateSession(f.ctx, actor, rolegate.SessionAuth{AuthTime: authTime}, f.limit, previous)
	if err != nil {
		f.t.Fatalf("CreateSession: %v", err)
	}
	return token
}

// raw opens the database file read-only, beside the service, to look at
// what is really stored.
func (f *sessionsFixture) raw() *sql.DB {
	f.t.Helper()
	db := testkit.OpenReadOnly(f.t, f.db.Path())
	return db
}

func (f *sessionsFixture) count(query string, args ...any) int {
	f.t.Helper()
	var n int
	if err := f.raw().QueryRowContext(f.ctx, query, args...).Scan(&n); err != nil {
		f.t.Fatalf("%s: %v", query, err)
	}
	return n
}

var (
	// Auth0-style subjects contain "|": identity is never split out of the key.
	sessRita = rolegate.Actor{Principal: rolegate.Principal{
		Person: rolegate.Person{Issuer: "https://idp.example.com", Subject: "auth0|rita", Email: "rita@example.com", Name: "Rita Requester"},
		Roles:  []rolegate.PortalRole{rolegate.RoleRequester},
	}, ClientIP: "192.0.2.10"}
	sessAlex = rolegate.Actor{Principal: rolegate.Principal{
		Person: rolegate.Person{Issuer: "https://idp.example.com", Subject: "auth0|alex", Email: "alex@example.com", Name: "Alex Approver"},
		Roles:  []rolegate.PortalRole{rolegate.RoleRequester, rolegate.RoleApprover},
	}, ClientIP: "192.0.2.11"}
)

func TestSessionIsFoundByItsTokenAndStoredOnlyAsAHash(t *testing.T) {
	f := newSessionsFixture(t)
	authTime := f.clock.Now().Add(-10 * time.Minute)
	token := f.signIn(sessRita, authTime, "")
	if len(token) < 43 {
		t.Errorf("token %q has fewer than 256 bits", token)
	}

	s, err := f.sessions.LookupSession(f.ctx, token, f.limit)
	if err != nil {
		t.Fatalf("LookupSession: %v", err)
	}
	p := s.Principal
	if p.Issuer != sessRita.Issuer || p.Subject != sessRita.Subject || p.Email != sessRita.Email || p.Name != sessRita.Name {
		t.Errorf("LookupSession person = %+v; want %+v", p.Person, sessRita.Person)
	}
	if p.Key() != sessRita.Key() || !p.Has(rolegate.RoleRequester) || p.Has(rolegate.RoleApprover) {
		t.Errorf("LookupSession principal = %q with roles %v; want %q with requester only", p.Key(), p.Roles, sessRita.Key())
	}
	if !s.AuthTime.Equal(authTime) || !s.ExpiresAt.Equal(f.clock.Now().Add(3*time.Hour)) {
		t.Errorf("auth time %s, expires %s; want %s and %s", s.AuthTime, s.ExpiresAt, authTime, f.clock.Now().Add(3*time.Hour))
	}
	if len(s.CSRFToken) < 43 || s.CSRFToken == token {
		t.Errorf("CSRF token %q: want its own 256-bit value", s.CSRFToken)
	}

	for _, wrong := range []string{"", token[:len(token)-1], token + "x", "not-a-token"} {
		if _, err := f.sessions.LookupSession(f.ctx, wrong, f.limit); !errors.Is(err, rolegate.ErrNoSession) {
			t.Errorf("LookupSession(%q) = %v; want rolegate.ErrNoSession", wrong, err)
		}
	}

	f.db.Close()
	for _, suffix := range []string{"", "-wal"} {
		b, err := os.ReadFile(f.db.Path() + suffix)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			t.Fatal(err)
		}
		if bytes.Contains(b, []byte(token)) {
			t.Errorf("the database file%s holds the session token itself", suffix)
		}
	}
}

func TestSessionLimits(t *testing.T) {
	tests := []struct {
		name  string
		steps []time.Duration // visits, each this long after the previous
		alive []bool          // whether the session answers at each visit
	}{
		{"visits inside the idle limit", []time.Duration{50 * time.Minute, 50 * time.Minute}, []bool{true, true}},
		{"idle exactly the limit", []time.Duration{time.Hour}, []bool{false}},
		{"idle past the limit", []time.Duration{30 * time.Minute, 61 * time.Minute}, []bool{true, false}},
		{"busy past the absolute limit", []time.Duration{50 * time.Minute, 50 * time.Minute, 50 * time.Minute, 31 * time.Minute}, []bool{true, true, true, false}},
		{"ended sessions stay ended", []time.Duration{2 * time.Hour, -90 * time.Minute}, []bool{false, false}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newSessionsFixture(t)
			token := f.signIn(sessRita, f.clock.Now(), "")
			for i, step := range tt.steps {
				f.clock.Advance(step)
				_, err := f.sessions.LookupSession(f.ctx, token, f.limit)
				if alive := err == nil; alive != tt.alive[i] {
					t.Fatalf("visit %d (%s after the previous): alive = %v (%v); want %v", i+1, step, alive, err, tt.alive[i])
				}
				if err != nil && !errors.Is(err, rolegate.ErrNoSession) {
					t.Fatalf("visit %d: %v; want rolegate.ErrNoSession", i+1, err)
				}
			}
		})
	}
}

// A page view does not cost a write each time: last-seen moves at most
// once a minute.
func TestSessionLastSeenIsWrittenAtMostOnceAMinute(t *testing.T) {
	f := newSessionsFixture(t)
	start := f.clock.Now()
	token := f.signIn(sessRita, f.clock.Now(), "")
	f.clock.Advance(30 * time.Second)
	s, err := f.sessions.LookupSession(f.ctx, token, f.limit)
	if err != nil || !s.LastSeenAt.Equal(start) {
		t.Fatalf("30s later last seen = %v (%v); want %s", s.LastSeenAt, err, start)
	}
	f.clock.Advance(45 * time.Second)
	s, err = f.sessions.LookupSession(f.ctx, token, f.limit)
	if err != nil || !s.LastSeenAt.Equal(f.clock.Now()) {
		t.Fatalf("75s later last seen = %v (%v); want %s", s.LastSeenAt, err, f.clock.Now())
	}
}

// A sign-in replaces the browser's previous session in the same
// transaction, and says so in its audit event.
func TestCreateSessionReplacesThePreviousOne(t *testing.T) {
	f := newSessionsFixture(t)
	old := f.signIn(sessRita, f.clock.Now(), "")
	fresh := f.signIn(sessAlex, f.clock.Now(), old)
	if _, err := f.sessions.LookupSession(f.ctx, old, f.limit); !errors.Is(err, rolegate.ErrNoSession) {
		t.Errorf("the replaced session still answers (%v)", err)
	}
	if s, err := f.sessions.LookupSession(f.ctx, fresh, f.limit); err != nil || s.Principal.Key() != sessAlex.Key() {
		t.Errorf("the new session = %v, %v; want Alex's", s, err)
	}
	if n := f.count(`SELECT COUNT(*) FROM audit_events WHERE action = ? AND json_extract(details, '$.replaced_session') = 1`, rolegate.ActionSignInSucceeded); n != 1 {
		t.Errorf("%d sign-in events mention a replaced session; want 1", n)
	}
	// An unknown previous token replaces nothing and is not mentioned.
	f.signIn(sessRita, f.clock.Now(), "gone")
	if n := f.count(`SELECT COUNT(*) FROM audit_events WHERE action = ? AND details = '{}'`, rolegate.ActionSignInSucceeded); n != 2 {
		t.Errorf("%d sign-in events without details; want 2", n)
	}
}

// A provider that does not say when the person authenticated leaves the
// auth time unknown (zero), never "now".
func TestUnknownAuthTimeStaysUnknown(t *testing.T) {
	f := newSessionsFixture(t)
	token := f.signIn(sessRita, time.Time{}, "")
	s, err := f.sessions.LookupSession(f.ctx, token, f.limit)
	if err != nil {
		t.Fatal(err)
	}
	if !s.AuthTime.IsZero() {
		t.Errorf("auth time = %s; want zero (unknown)", s.AuthTime)
	}
}

func TestDeleteSessionSignsOut(t *testing.T) {
	f := newSessionsFixture(t)
	token := f.signIn(sessRita, f.clock.Now(), "")
	other := f.signIn(sessRita, f.clock.Now(), "")
	if err := f.sessions.DeleteSession(f.ctx, token, sessRita); err != nil {
		t.Fatalf("DeleteSession: %v", err)
	}
	if _, err := f.sessions.LookupSession(f.ctx, token, f.limit); !errors.Is(err, rolegate.ErrNoSession) {
		t.Errorf("after DeleteSession the session answers (%v)", err)
	}
	if _, err := f.sessions.LookupSession(f.ctx, other, f.limit); err != nil {
		t.Errorf("DeleteSession ended the person's other session too: %v", err)
	}
	if n := f.count(`SELECT COUNT(*) FROM audit_events WHERE action = ? AND actor_key = ?`, rolegate.ActionSignOut, sessRita.Key()); n != 1 {
		t.Errorf("%d sign-out events by Rita; want 1", n)
	}
}

func TestDeleteExpiredSessions(t *testing.T) {
	f := newSessionsFixture(t)
	f.signIn(sessRita, f.clock.Now(), "") // left idle
	f.clock.Advance(59 * time.Minute)
	busy := f.signIn(sessAlex, f.clock.Now(), "")
	f.clock.Advance(2 * time.Minute)
	if err := f.sessions.DeleteExpiredSessions(f.ctx, f.limit.Idle); err != nil {
		t.Fatalf("DeleteExpiredSessions: %v", err)
	}
	if n := f.count(`SELECT COUNT(*) FROM sessions`); n != 1 {
		t.Errorf("%d sessions left; want 1 (the idle one deleted)", n)
	}
	if _, err := f.sessions.LookupSession(f.ctx, busy, f.limit); err != nil {
		t.Errorf("the active session was deleted: %v", err)
	}
}

// An approval waiting for a re-authentication is kept on the session,
// one per session, and taken once.
func TestPendingActionIsKeptOncePerSession(t *testing.T) {
	f := newSessionsFixture(t)
	token := f.signIn(sessAlex, f.clock.Now(), "")
	if got, err := f.sessions.TakePendingAction(f.ctx, token); err != nil || got != "" {
		t.Errorf("TakePendingAction before any = %q, %v; want empty", got, err)
	}
	for _, action := range []string{`{"request_id":1}`, `{"request_id":2}`} {
		if err := f.sessions.SetPendingAction(f.ctx, token, action); err != nil {
			t.Fatalf("SetPendingAction(%s): %v", action, err)
		}
	}
	if got, err := f.sessions.TakePendingAction(f.ctx, token); err != nil || got != `{"request_id":2}` {
		t.Errorf("TakePendingAction = %q, %v; want the latest action only", got, err)
	}
	if got, err := f.sessions.TakePendingAction(f.ctx, token); err != nil || got != "" {
		t.Errorf("TakePendingAction again = %q, %v; want empty (used once)", got, err)
	}
	if err := f.sessions.SetPendingAction(f.ctx, "no-such-session", "{}"); !errors.Is(err, rolegate.ErrNoSession) {
		t.Errorf("SetPendingAction on no session = %v; want rolegate.ErrNoSession", err)
	}
	for _, token := range []string{"", "no-such-session"} {
		if got, err := f.sessions.TakePendingAction(f.ctx, token); err != nil || got != "" {
			t.Errorf("TakePendingAction(%q) = %q, %v; want empty", token, got, err)
		}
	}
}

// A prompt=login round trip's time is kept apart from the provider's
// auth_time.
func TestStepUpTimeIsKept(t *testing.T) {
	f := newSessionsFixture(t)
	token, _, err := f.sessions.CreateSession(f.ctx, sessAlex, rolegate.SessionAuth{StepUpAt: f.clock.Now()}, f.limit, "")
	if err != nil {
		t.Fatal(err)
	}
	s, err := f.sessions.LookupSession(f.ctx, token, f.limit)
	if err != nil || !s.AuthTime.IsZero() || !s.StepUpAt.Equal(f.clock.Now()) {
		t.Errorf("session = %+v, %v; want no auth time and the step-up time %s", s, err, f.clock.Now())
	}
}

// PeopleWithRole answers from the roles held at each person's last
// sign-in.
func TestPeopleWithRoleFollowsTheLastSignIn(t *testing.T) {
	f := newSessionsFixture(t)
	f.signIn(sessRita, f.clock.Now(), "")
	f.signIn(sessAlex, f.clock.Now(), "")
	approvers, err := f.sessions.PeopleWithRole(f.ctx, rolegate.RoleApprover)
	if err != nil {
		t.Fatal(err)
	}
	if len(approvers) != 1 || approvers[0].Subject != sessAlex.Subject || approvers[0].Issuer != sessAlex.Issuer {
		t.Errorf("PeopleWithRole(approver) = %+v; want Alex", approvers)
	}

	demoted := sessAlex
	demoted.Roles = []rolegate.PortalRole{rolegate.RoleRequester}
	f.signIn(demoted, f.clock.Now(), "")
	if approvers, err := f.sessions.PeopleWithRole(f.ctx, rolegate.RoleApprover); err != nil || len(approvers) != 0 {
		t.Errorf("PeopleWithRole(approver) after Alex lost the role = %+v, %v; want nobody", approvers, err)
	}
	requesters, err := f.sessions.PeopleWithRole(f.ctx, rolegate.RoleRequester)
	if err != nil || len(requesters) != 2 {
		t.Errorf("PeopleWithRole(requester) = %+v, %v; want Rita and Alex", requesters, err)
	}
}
