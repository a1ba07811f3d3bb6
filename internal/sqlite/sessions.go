package sqlite

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/rolegate/rolegate/internal/rolegate"
)

// Session is a signed-in browser. Only the SHA-256 of its cookie value is
// stored, so a copy of the database signs nobody in.
type Session struct {
	Principal  rolegate.Principal
	CSRFToken  string
	AuthTime   time.Time // last authentication at the identity provider; zero when it did not say
	CreatedAt  time.Time
	LastSeenAt time.Time
	ExpiresAt  time.Time // absolute limit
}

// SessionLimits are the idle and absolute lifetimes of a session.
type SessionLimits struct {
	Idle     time.Duration
	Absolute time.Duration
}

// ErrNoSession means the cookie names no live session.
var ErrNoSession = errors.New("sqlite: no such session")

// NewToken returns a random 256-bit token, URL-safe.
func NewToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on supported platforms
	return base64.RawURLEncoding.EncodeToString(b)
}

func hashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// CreateSession signs actor in: a new session with a fresh token and CSRF
// token, the person's profile updated, and the sign-in recorded, in one
// transaction. The session named by previous (the browser's cookie before
// this sign-in, if any) is deleted in that same transaction, so that nothing
// from before a sign-in survives it. A zero authTime means the identity
// provider did not say when the person authenticated; it is kept as
// unknown, which makes approving re-authenticate first.
func (db *DB) CreateSession(ctx context.Context, actor rolegate.Actor, authTime time.Time, limits SessionLimits, previous string) (string, *Session, error) {
	// The profile comes from the identity provider's claims: kept as
	// valid UTF-8 of a sane length in the session, people and the trail.
	actor.Person = actor.Person.ValidText()
	token := NewToken()
	s := &Session{Principal: actor.Principal, CSRFToken: NewToken()}
	if !authTime.IsZero() {
		s.AuthTime = authTime.UTC()
	}
	err := db.update(ctx, func(tx *Tx) error {
		s.CreatedAt, s.LastSeenAt, s.ExpiresAt = tx.now, tx.now, tx.now.Add(limits.Absolute)
		var details map[string]any
		if previous != "" {
			res, err := tx.ExecContext(ctx, `DELETE FROM sessions WHERE id_hash = ?`, hashToken(previous))
			if err != nil {
				return fmt.Errorf("sqlite: delete the previous session: %w", err)
			}
			if n, _ := res.RowsAffected(); n > 0 {
				details = map[string]any{"replaced_session": true}
			}
		}
		p := actor.Principal
		if _, err := tx.ExecContext(ctx, `INSERT INTO sessions (id_hash, person_key, issuer, subject, email, name, roles,
			csrf_token, auth_time, created_at, last_seen_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			hashToken(token), p.Key(), p.Issuer, p.Subject, p.Email, p.Name, p.RoleNames(), s.CSRFToken,
			ms(s.AuthTime), ms(tx.now), ms(tx.now), ms(s.ExpiresAt)); err != nil {
			return fmt.Errorf("sqlite: create session: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO people (person_key, issuer, subject, email, name, roles, last_seen_at)
			VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (person_key) DO UPDATE SET email = excluded.email,
			name = excluded.name, roles = excluded.roles, last_seen_at = excluded.last_seen_at`,
			p.Key(), p.Issuer, p.Subject, p.Email, p.Name, p.RoleNames(), ms(tx.now)); err != nil {
			return fmt.Errorf("sqlite: save person: %w", err)
		}
		return tx.appendEvent(ctx, rolegate.NewEvent(actor, rolegate.ActionSignInSucceeded, rolegate.OutcomeSuccess, details))
	})
	if err != nil {
		return "", nil, err
	}
	return token, s, nil
}

// touchEvery limits how often a session's last-seen time is written: a page
// view should not cost a write and an fsync.
const touchEvery = time.Minute

// LookupSession returns the live session for token, ending it when it is
// past its idle or absolute limit.
func (db *DB) LookupSession(ctx context.Context, token string, limits SessionLimits) (*Session, error) {
	if token == "" {
		return nil, ErrNoSession
	}
	id := hashToken(token)
	var s Session
	var roles string
	var authTime, created, lastSeen, expires int64
	// Issuer and subject are read from their own columns: a subject may
	// itself contain "|" (Auth0's "auth0|123"), so the key is not split.
	err := db.reads.QueryRowContext(ctx, `SELECT issuer, subject, email, name, roles, csrf_token, auth_time, created_at,
		last_seen_at, expires_at FROM sessions WHERE id_hash = ?`, id).Scan(&s.Principal.Issuer, &s.Principal.Subject,
		&s.Principal.Email, &s.Principal.Name, &roles, &s.CSRFToken, &authTime, &created, &lastSeen, &expires)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNoSession
	} else if err != nil {
		return nil, fmt.Errorf("sqlite: lookup session: %w", err)
	}
	for _, r := range strings.Split(roles, ",") {
		if r != "" {
			s.Principal.Roles = append(s.Principal.Roles, rolegate.PortalRole(r))
		}
	}
	s.AuthTime, s.CreatedAt, s.LastSeenAt, s.ExpiresAt = fromMS(authTime), fromMS(created), fromMS(lastSeen), fromMS(expires)
	now := db.now()
	if !now.Before(s.ExpiresAt) || now.Sub(s.LastSeenAt) >= limits.Idle {
		_, _ = db.write.ExecContext(ctx, `DELETE FROM sessions WHERE id_hash = ?`, id)
		return nil, ErrNoSession
	}
	if now.Sub(s.LastSeenAt) >= touchEvery {
		if _, err := db.write.ExecContext(ctx, `UPDATE sessions SET last_seen_at = ? WHERE id_hash = ?`, ms(now), id); err != nil {
			return nil, fmt.Errorf("sqlite: touch session: %w", err)
		}
		s.LastSeenAt = now
	}
	return &s, nil
}

// DeleteSession signs the session's person out and records it.
func (db *DB) DeleteSession(ctx context.Context, token string, actor rolegate.Actor) error {
	return db.update(ctx, func(tx *Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM sessions WHERE id_hash = ?`, hashToken(token)); err != nil {
			return fmt.Errorf("sqlite: delete session: %w", err)
		}
		return tx.appendEvent(ctx, rolegate.NewEvent(actor, rolegate.ActionSignOut, rolegate.OutcomeSuccess, nil))
	})
}

// DeleteExpiredSessions removes sessions and sign-in attempts past their
// absolute limit; idle ones go when next looked up or here.
func (db *DB) DeleteExpiredSessions(ctx context.Context, idle time.Duration) error {
	now := db.now()
	return db.update(ctx, func(tx *Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM sessions WHERE expires_at <= ? OR last_seen_at <= ?`,
			ms(now), ms(now.Add(-idle))); err != nil {
			return fmt.Errorf("sqlite: delete expired sessions: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM signin_attempts WHERE expires_at <= ?`, ms(now)); err != nil {
			return fmt.Errorf("sqlite: delete expired sign-in attempts: %w", err)
		}
		return nil
	})
}

// SigninAttempt is a sign-in in flight, kept server-side between the
// redirect to the identity provider and its callback.
type SigninAttempt struct {
	State        string
	Nonce        string
	CodeVerifier string
	ReturnTo     string
	MaxAge       time.Duration
	// PendingAction is completed after the sign-in (JSON; the web layer's).
	PendingAction string
	CreatedAt     time.Time // set by SaveSigninAttempt
}

// Errors of TakeSigninAttempt.
var (
	ErrNoSigninAttempt      = errors.New("sqlite: no such sign-in attempt")
	ErrSigninAttemptExpired = errors.New("sqlite: sign-in attempt expired")
)

// maxLiveSigninAttempts bounds the sign-in attempts in flight. Starting a
// sign-in needs no account, so without a bound anyone could fill the disk;
// a company's people never come near it. A variable only so that a test
// can lower it.
var maxLiveSigninAttempts = 10000

// SaveSigninAttempt stores a and returns the token for the browser's cookie.
// Expired attempts are swept in the same transaction; when too many are
// live it refuses with rolegate.ETOOMANY.
func (db *DB) SaveSigninAttempt(ctx context.Context, a SigninAttempt, ttl time.Duration) (string, error) {
	token := NewToken()
	err := db.update(ctx, func(tx *Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM signin_attempts WHERE expires_at <= ?`, ms(tx.now)); err != nil {
			return fmt.Errorf("sqlite: sweep sign-in attempts: %w", err)
		}
		var live int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM signin_attempts`).Scan(&live); err != nil {
			return fmt.Errorf("sqlite: count sign-in attempts: %w", err)
		}
		if live >= maxLiveSigninAttempts {
			return rolegate.Errorf(rolegate.ETOOMANY, "Too many sign-ins are in progress. Wait a few minutes and try again.")
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO signin_attempts (id_hash, state, nonce, code_verifier, return_to,
			max_age_ms, pending_action, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			hashToken(token), a.State, a.Nonce, a.CodeVerifier, a.ReturnTo, a.MaxAge.Milliseconds(), a.PendingAction, ms(tx.now), ms(tx.now.Add(ttl)))
		if err != nil {
			return fmt.Errorf("sqlite: save sign-in attempt: %w", err)
		}
		return nil
	})
	return token, err
}

// TakeSigninAttempt returns and deletes the attempt for token: each attempt
// is usable once, so a replayed callback finds nothing
// (ErrNoSigninAttempt). An attempt past its lifetime is deleted too and
// reported as ErrSigninAttemptExpired.
func (db *DB) TakeSigninAttempt(ctx context.Context, token string) (*SigninAttempt, error) {
	if token == "" {
		return nil, ErrNoSigninAttempt
	}
	var a SigninAttempt
	var expired bool
	err := db.update(ctx, func(tx *Tx) error {
		var maxAge, created, expires int64
		err := tx.QueryRowContext(ctx, `DELETE FROM signin_attempts WHERE id_hash = ?
			RETURNING state, nonce, code_verifier, return_to, max_age_ms, pending_action, created_at, expires_at`, hashToken(token)).Scan(
			&a.State, &a.Nonce, &a.CodeVerifier, &a.ReturnTo, &maxAge, &a.PendingAction, &created, &expires)
		if errors.Is(err, sql.ErrNoRows) {
			return ErrNoSigninAttempt
		} else if err != nil {
			return fmt.Errorf("sqlite: take sign-in attempt: %w", err)
		}
		// The row stays deleted (the transaction commits) even when it
		// turns out to be too old.
		expired = !tx.now.Before(fromMS(expires))
		a.MaxAge = time.Duration(maxAge) * time.Millisecond
		a.CreatedAt = fromMS(created)
		return nil
	})
	switch {
	case err != nil:
		return nil, err
	case expired:
		return nil, ErrSigninAttemptExpired
	}
	return &a, nil
}

// PeopleWithRole returns the people who held role at their last sign-in
// (whom to notify), with the same query the notification outbox runs
// inside its transactions.
func (db *DB) PeopleWithRole(ctx context.Context, role rolegate.PortalRole) ([]rolegate.Person, error) {
	sqlTx, err := db.read.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, fmt.Errorf("sqlite: people with role %s: %w", role, err)
	}
	defer sqlTx.Rollback()
	return (&Tx{Tx: sqlTx, db: db}).peopleWithRole(ctx, role)
}
