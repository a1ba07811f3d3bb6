package storetest

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/rolegate/rolegate/internal/rolegate"
	"github.com/rolegate/rolegate/internal/testkit"
)

// sessionsFixture is a store and a clock the test moves.
type sessionsFixture struct {
	t     *testing.T
	ctx   context.Context
	store *Store
	clock *testkit.Clock
	limit rolegate.SessionLimits
}

func newSessionsFixture(t *testing.T, e Engine) *sessionsFixture {
	t.Helper()
	f := &sessionsFixture{t: t, ctx: t.Context(), clock: testkit.NewClock(start),
		limit: rolegate.SessionLimits{Idle: time.Hour, Absolute: 3 * time.Hour}}
	f.store = e.Open(t, f.clock.Now)
	return f
}

// signIn creates a session for actor and returns its token.
func (f *sessionsFixture) signIn(actor rolegate.Actor, authTime time.Time, previous string) string {
	f.t.Helper()
	token, _, err := f.store.Sessions.CreateSession(f.ctx, actor, rolegate.SessionAuth{AuthTime: authTime}, f.limit, previous)
	if err != nil {
		f.t.Fatalf("CreateSession: %v", err)
	}
	return token
}

// events returns the trail's events with action.
func events(t testing.TB, s *Store, action string) []rolegate.Event {
	t.Helper()
	var out []rolegate.Event
	err := s.Trail.WalkAuditTrail(t.Context(), func(e rolegate.Event) error {
		if e.Action == action {
			out = append(out, e)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("WalkAuditTrail: %v", err)
	}
	return out
}

var (
	// Auth0-style subjects contain "|": identity is never split out of the key.
	rita = rolegate.Actor{Principal: rolegate.Principal{
		Person: rolegate.Person{Issuer: "https://idp.example.com", Subject: "auth0|rita", Email: "rita@example.com", Name: "Rita Requester"},
		Roles:  []rolegate.PortalRole{rolegate.RoleRequester},
	}, ClientIP: "192.0.2.10"}
	alex = rolegate.Actor{Principal: rolegate.Principal{
		Person: rolegate.Person{Issuer: "https://idp.example.com", Subject: "auth0|alex", Email: "alex@example.com", Name: "Alex Approver"},
		Roles:  []rolegate.PortalRole{rolegate.RoleRequester, rolegate.RoleApprover},
	}, ClientIP: "192.0.2.11"}
)

func testSessions(t *testing.T, e Engine) {
	t.Run("FoundByItsTokenAndStoredOnlyAsAHash", func(t *testing.T) { testSessionFoundByToken(t, e) })
	t.Run("Limits", func(t *testing.T) { testSessionLimits(t, e) })
	t.Run("LastSeenIsWrittenAtMostOnceAMinute", func(t *testing.T) { testSessionLastSeen(t, e) })
	t.Run("CreateReplacesThePreviousOne", func(t *testing.T) { testCreateSessionReplaces(t, e) })
	t.Run("UnknownAuthTimeStaysUnknown", func(t *testing.T) { testUnknownAuthTime(t, e) })
	t.Run("DeleteSignsOut", func(t *testing.T) { testDeleteSession(t, e) })
	t.Run("DeleteExpired", func(t *testing.T) { testDeleteExpiredSessions(t, e) })
	t.Run("PendingActionIsKeptOncePerSession", func(t *testing.T) { testPendingAction(t, e) })
	t.Run("StepUpTimeIsKept", func(t *testing.T) { testStepUpTime(t, e) })
	t.Run("PeopleWithRoleFollowsTheLastSignIn", func(t *testing.T) { testPeopleWithRole(t, e) })
	t.Run("ADraftIsTakenOnceByItsSessionAndPage", func(t *testing.T) { testDraftTakenOnce(t, e) })
	t.Run("DraftsAreBoundedPerPersonAndInSize", func(t *testing.T) { testDraftsBounded(t, e) })
}

func testSessionFoundByToken(t *testing.T, e Engine) {
	f := newSessionsFixture(t, e)
	authTime := f.clock.Now().Add(-10 * time.Minute)
	token := f.signIn(rita, authTime, "")
	if len(token) < 43 {
		t.Errorf("token %q has fewer than 256 bits", token)
	}

	s, err := f.store.Sessions.LookupSession(f.ctx, token, f.limit)
	if err != nil {
		t.Fatalf("LookupSession: %v", err)
	}
	p := s.Principal
	if p.Issuer != rita.Issuer || p.Subject != rita.Subject || p.Email != rita.Email || p.Name != rita.Name {
		t.Errorf("LookupSession person = %+v; want %+v", p.Person, rita.Person)
	}
	if p.Key() != rita.Key() || !p.Has(rolegate.RoleRequester) || p.Has(rolegate.RoleApprover) {
		t.Errorf("LookupSession principal = %q with roles %v; want %q with requester only", p.Key(), p.Roles, rita.Key())
	}
	if !s.AuthTime.Equal(authTime) || !s.ExpiresAt.Equal(f.clock.Now().Add(3*time.Hour)) {
		t.Errorf("auth time %s, expires %s; want %s and %s", s.AuthTime, s.ExpiresAt, authTime, f.clock.Now().Add(3*time.Hour))
	}
	if len(s.CSRFToken) < 43 || s.CSRFToken == token {
		t.Errorf("CSRF token %q: want its own 256-bit value", s.CSRFToken)
	}

	for _, wrong := range []string{"", token[:len(token)-1], token + "x", "not-a-token"} {
		if _, err := f.store.Sessions.LookupSession(f.ctx, wrong, f.limit); !errors.Is(err, rolegate.ErrNoSession) {
			t.Errorf("LookupSession(%q) = %v; want rolegate.ErrNoSession", wrong, err)
		}
	}
	if dump := f.store.Dump(t); !strings.Contains(dump, rolegate.TokenHash(token)) || strings.Contains(dump, token) {
		t.Errorf("the database holds the session token itself, or not its hash; want the hash only")
	}
}

func testSessionLimits(t *testing.T, e Engine) {
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
			f := newSessionsFixture(t, e)
			token := f.signIn(rita, f.clock.Now(), "")
			for i, step := range tt.steps {
				f.clock.Advance(step)
				_, err := f.store.Sessions.LookupSession(f.ctx, token, f.limit)
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
func testSessionLastSeen(t *testing.T, e Engine) {
	f := newSessionsFixture(t, e)
	begin := f.clock.Now()
	token := f.signIn(rita, f.clock.Now(), "")
	f.clock.Advance(30 * time.Second)
	s, err := f.store.Sessions.LookupSession(f.ctx, token, f.limit)
	if err != nil || !s.LastSeenAt.Equal(begin) {
		t.Fatalf("30s later last seen = %v (%v); want %s", s.LastSeenAt, err, begin)
	}
	f.clock.Advance(45 * time.Second)
	s, err = f.store.Sessions.LookupSession(f.ctx, token, f.limit)
	if err != nil || !s.LastSeenAt.Equal(f.clock.Now()) {
		t.Fatalf("75s later last seen = %v (%v); want %s", s.LastSeenAt, err, f.clock.Now())
	}
}

// A sign-in replaces the browser's previous session in the same
// transaction, and says so in its audit event.
func testCreateSessionReplaces(t *testing.T, e Engine) {
	f := newSessionsFixture(t, e)
	old := f.signIn(rita, f.clock.Now(), "")
	fresh := f.signIn(alex, f.clock.Now(), old)
	if _, err := f.store.Sessions.LookupSession(f.ctx, old, f.limit); !errors.Is(err, rolegate.ErrNoSession) {
		t.Errorf("the replaced session still answers (%v)", err)
	}
	if s, err := f.store.Sessions.LookupSession(f.ctx, fresh, f.limit); err != nil || s.Principal.Key() != alex.Key() {
		t.Errorf("the new session = %v, %v; want Alex's", s, err)
	}
	// An unknown previous token replaces nothing and is not mentioned.
	f.signIn(rita, f.clock.Now(), "gone")
	var got []string
	for _, e := range events(t, f.store, rolegate.ActionSignInSucceeded) {
		got = append(got, string(e.Details))
	}
	if want := []string{"{}", `{"replaced_session":true}`, "{}"}; strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("sign-in events' details = %q; want %q", got, want)
	}
}

// A provider that does not say when the person authenticated leaves the
// auth time unknown (zero), never "now".
func testUnknownAuthTime(t *testing.T, e Engine) {
	f := newSessionsFixture(t, e)
	token := f.signIn(rita, time.Time{}, "")
	s, err := f.store.Sessions.LookupSession(f.ctx, token, f.limit)
	if err != nil {
		t.Fatal(err)
	}
	if !s.AuthTime.IsZero() {
		t.Errorf("auth time = %s; want zero (unknown)", s.AuthTime)
	}
}

func testDeleteSession(t *testing.T, e Engine) {
	f := newSessionsFixture(t, e)
	token := f.signIn(rita, f.clock.Now(), "")
	other := f.signIn(rita, f.clock.Now(), "")
	if err := f.store.Sessions.DeleteSession(f.ctx, token, rita); err != nil {
		t.Fatalf("DeleteSession: %v", err)
	}
	if _, err := f.store.Sessions.LookupSession(f.ctx, token, f.limit); !errors.Is(err, rolegate.ErrNoSession) {
		t.Errorf("after DeleteSession the session answers (%v)", err)
	}
	if _, err := f.store.Sessions.LookupSession(f.ctx, other, f.limit); err != nil {
		t.Errorf("DeleteSession ended the person's other session too: %v", err)
	}
	if out := events(t, f.store, rolegate.ActionSignOut); len(out) != 1 || out[0].ActorKey != rita.Key() {
		t.Errorf("sign-out events = %+v; want one, by Rita", out)
	}
}

func testDeleteExpiredSessions(t *testing.T, e Engine) {
	f := newSessionsFixture(t, e)
	f.signIn(rita, f.clock.Now(), "") // left idle
	f.clock.Advance(59 * time.Minute)
	busy := f.signIn(alex, f.clock.Now(), "")
	f.clock.Advance(2 * time.Minute)
	if err := f.store.Sessions.DeleteExpiredSessions(f.ctx, f.limit.Idle); err != nil {
		t.Fatalf("DeleteExpiredSessions: %v", err)
	}
	if n := f.store.Rows(t, "sessions", ""); n != 1 {
		t.Errorf("%d sessions left; want 1 (the idle one deleted)", n)
	}
	if _, err := f.store.Sessions.LookupSession(f.ctx, busy, f.limit); err != nil {
		t.Errorf("the active session was deleted: %v", err)
	}
}

// An approval waiting for a re-authentication is kept on the session,
// one per session, and taken once.
func testPendingAction(t *testing.T, e Engine) {
	f := newSessionsFixture(t, e)
	token := f.signIn(alex, f.clock.Now(), "")
	if got, err := f.store.Sessions.TakePendingAction(f.ctx, token); err != nil || got != "" {
		t.Errorf("TakePendingAction before any = %q, %v; want empty", got, err)
	}
	for _, action := range []string{`{"request_id":1}`, `{"request_id":2}`} {
		if err := f.store.Sessions.SetPendingAction(f.ctx, token, action); err != nil {
			t.Fatalf("SetPendingAction(%s): %v", action, err)
		}
	}
	if got, err := f.store.Sessions.TakePendingAction(f.ctx, token); err != nil || got != `{"request_id":2}` {
		t.Errorf("TakePendingAction = %q, %v; want the latest action only", got, err)
	}
	if got, err := f.store.Sessions.TakePendingAction(f.ctx, token); err != nil || got != "" {
		t.Errorf("TakePendingAction again = %q, %v; want empty (used once)", got, err)
	}
	if err := f.store.Sessions.SetPendingAction(f.ctx, "no-such-session", "{}"); !errors.Is(err, rolegate.ErrNoSession) {
		t.Errorf("SetPendingAction on no session = %v; want rolegate.ErrNoSession", err)
	}
	for _, token := range []string{"", "no-such-session"} {
		if got, err := f.store.Sessions.TakePendingAction(f.ctx, token); err != nil || got != "" {
			t.Errorf("TakePendingAction(%q) = %q, %v; want empty", token, got, err)
		}
	}
}

// A prompt=login round trip's time is kept apart from the provider's
// auth_time.
func testStepUpTime(t *testing.T, e Engine) {
	f := newSessionsFixture(t, e)
	token, _, err := f.store.Sessions.CreateSession(f.ctx, alex, rolegate.SessionAuth{StepUpAt: f.clock.Now()}, f.limit, "")
	if err != nil {
		t.Fatal(err)
	}
	s, err := f.store.Sessions.LookupSession(f.ctx, token, f.limit)
	if err != nil || !s.AuthTime.IsZero() || !s.StepUpAt.Equal(f.clock.Now()) {
		t.Errorf("session = %+v, %v; want no auth time and the step-up time %s", s, err, f.clock.Now())
	}
}

// PeopleWithRole answers from the roles held at each person's last
// sign-in.
func testPeopleWithRole(t *testing.T, e Engine) {
	f := newSessionsFixture(t, e)
	f.signIn(rita, f.clock.Now(), "")
	f.signIn(alex, f.clock.Now(), "")
	approvers, err := f.store.Sessions.PeopleWithRole(f.ctx, rolegate.RoleApprover)
	if err != nil {
		t.Fatal(err)
	}
	if len(approvers) != 1 || approvers[0].Subject != alex.Subject || approvers[0].Issuer != alex.Issuer {
		t.Errorf("PeopleWithRole(approver) = %+v; want Alex", approvers)
	}

	demoted := alex
	demoted.Roles = []rolegate.PortalRole{rolegate.RoleRequester}
	f.signIn(demoted, f.clock.Now(), "")
	if approvers, err := f.store.Sessions.PeopleWithRole(f.ctx, rolegate.RoleApprover); err != nil || len(approvers) != 0 {
		t.Errorf("PeopleWithRole(approver) after Alex lost the role = %+v, %v; want nobody", approvers, err)
	}
	requesters, err := f.store.Sessions.PeopleWithRole(f.ctx, rolegate.RoleRequester)
	if err != nil || len(requesters) != 2 {
		t.Errorf("PeopleWithRole(requester) = %+v, %v; want Rita and Alex", requesters, err)
	}
}
