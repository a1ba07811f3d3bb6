package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/rolegate/rolegate/internal/rolegate"
)

// Sessions stores who is signed in (rolegate.SessionService): sessions,
// the people they belong to, and each sign-in and sign-out in the audit
// trail, written by the transaction that makes the change.
type Sessions struct{ db *DB }

// NewSessions returns the session service over db.
func NewSessions(db *DB) *Sessions { return &Sessions{db: db} }

func hashToken(token string) string { return rolegate.TokenHash(token) }

// CreateSession signs actor in: a new session with a fresh token and CSRF
// token, the person's profile updated, and the sign-in recorded, in one
// transaction. The session named by previous (the browser's cookie before
// this sign-in, if any) is deleted in that same transaction, so that nothing
// from before a sign-in survives it.
func (ss *Sessions) CreateSession(ctx context.Context, actor rolegate.Actor, auth rolegate.SessionAuth, limits rolegate.SessionLimits, previous string) (string, *rolegate.Session, error) {
	// The profile comes from the identity provider's claims: kept as
	// valid UTF-8 of a sane length in the session, people and the trail.
	actor.Person = actor.Person.ValidText()
	token := rolegate.NewToken()
	s := &rolegate.Session{Principal: actor.Principal, CSRFToken: rolegate.NewToken()}
	if !auth.AuthTime.IsZero() {
		s.AuthTime = auth.AuthTime.UTC()
	}
	if !auth.StepUpAt.IsZero() {
		s.StepUpAt = auth.StepUpAt.UTC()
	}
	err := ss.db.update(ctx, func(tx *Tx) error {
		s.CreatedAt, s.LastSeenAt, s.ExpiresAt = tx.now, tx.now, tx.now.Add(limits.Absolute)
		var d rolegate.SignInSucceeded
		if previous != "" {
			res, err := tx.ExecContext(ctx, `DELETE FROM sessions WHERE id_hash = ?`, hashToken(previous))
			if err != nil {
				return fmt.Errorf("sqlite: delete the previous session: %w", err)
			}
			if n, _ := res.RowsAffected(); n > 0 {
				d.ReplacedSession = true
			}
		}
		p := actor.Principal
		if _, err := tx.ExecContext(ctx, `INSERT INTO sessions (id_hash, person_key, issuer, subject, email, name, roles,
			csrf_token, auth_time, step_up_at, created_at, last_seen_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			hashToken(token), p.Key(), p.Issuer, p.Subject, p.Email, p.Name, p.RoleNames(), s.CSRFToken,
			ms(s.AuthTime), ms(s.StepUpAt), ms(tx.now), ms(tx.now), ms(s.ExpiresAt)); err != nil {
			return fmt.Errorf("sqlite: create session: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO people (person_key, issuer, subject, email, name, roles, last_seen_at)
			VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (person_key) DO UPDATE SET email = excluded.email,
			name = excluded.name, roles = excluded.roles, last_seen_at = excluded.last_seen_at`,
			p.Key(), p.Issuer, p.Subject, p.Email, p.Name, p.RoleNames(), ms(tx.now)); err != nil {
			return fmt.Errorf("sqlite: save person: %w", err)
		}
		e := rolegate.NewEvent(actor, rolegate.OutcomeSuccess, d)
		return tx.appendEvent(ctx, &e)
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
// past its idle or absolute limit. The session's row is read from the
// read cache while nothing has been written since it was read
// (readcache.go); the limits and the touch are checked on every call.
func (ss *Sessions) LookupSession(ctx context.Context, token string, limits rolegate.SessionLimits) (*rolegate.Session, error) {
	if token == "" {
		return nil, rolegate.ErrNoSession
	}
	id := hashToken(token)
	gen := ss.db.gen.Load()
	row, ok := ss.db.sessions.get(gen, id)
	if !ok {
		var err error
		if row, err = ss.readSession(ctx, id); err != nil {
			return nil, err
		}
		ss.db.sessions.put(gen, id, row, row.size())
	}
	// The cached row is shared: the caller gets its own copy.
	s := row.Session
	s.Principal.Roles = slices.Clone(row.Principal.Roles)
	now := ss.db.now()
	if !now.Before(s.ExpiresAt) || now.Sub(s.LastSeenAt) >= limits.Idle {
		_ = ss.db.update(ctx, func(tx *Tx) error {
			_, err := tx.ExecContext(ctx, `DELETE FROM sessions WHERE id_hash = ?`, id)
			return err
		})
		return nil, rolegate.ErrNoSession
	}
	if now.Sub(s.LastSeenAt) >= touchEvery {
		if err := ss.db.update(ctx, func(tx *Tx) error {
			_, err := tx.ExecContext(ctx, `UPDATE sessions SET last_seen_at = ? WHERE id_hash = ?`, ms(now), id)
			return err
		}); err != nil {
			return nil, fmt.Errorf("sqlite: touch session: %w", err)
		}
		s.LastSeenAt = now
	}
	return &s, nil
}

// cachedSession is a session's row as read, kept by the read cache.
type cachedSession struct{ rolegate.Session }

// size is about how much memory the row takes.
func (c cachedSession) size() int {
	p := c.Principal
	return 256 + len(p.Issuer) + len(p.Subject) + len(p.Email) + len(p.Name) + 16*len(p.Roles) + len(c.CSRFToken) + len(c.DraftPath)
}

// readSession reads the session whose token hashes to id.
func (ss *Sessions) readSession(ctx context.Context, id string) (cachedSession, error) {
	var s rolegate.Session
	var roles string
	var authTime, stepUp, created, lastSeen, expires int64
	// Issuer and subject are read from their own columns: a subject may
	// itself contain "|" (Auth0's "auth0|123"), so the key is not split.
	// The draft itself is not read here (draft_path says whether the page
	// needs it): most pages have none, and it may be kilobytes.
	err := ss.db.readStmts.QueryRowContext(keyedRead(ctx), `SELECT issuer, subject, email, name, roles, csrf_token, auth_time, step_up_at, created_at,
		last_seen_at, expires_at, draft_path FROM sessions WHERE id_hash = ?`, id).Scan(&s.Principal.Issuer, &s.Principal.Subject,
		&s.Principal.Email, &s.Principal.Name, &roles, &s.CSRFToken, &authTime, &stepUp, &created, &lastSeen, &expires, &s.DraftPath)
	if errors.Is(err, sql.ErrNoRows) {
		return cachedSession{}, rolegate.ErrNoSession
	} else if err != nil {
		return cachedSession{}, fmt.Errorf("sqlite: lookup session: %w", err)
	}
	for _, r := range strings.Split(roles, ",") {
		if r != "" {
			s.Principal.Roles = append(s.Principal.Roles, rolegate.PortalRole(r))
		}
	}
	s.AuthTime, s.StepUpAt = fromMS(authTime), fromMS(stepUp)
	s.CreatedAt, s.LastSeenAt, s.ExpiresAt = fromMS(created), fromMS(lastSeen), fromMS(expires)
	return cachedSession{s}, nil
}

// DeleteSession signs the session's person out and records it.
func (ss *Sessions) DeleteSession(ctx context.Context, token string, actor rolegate.Actor) error {
	return ss.db.update(ctx, func(tx *Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM sessions WHERE id_hash = ?`, hashToken(token)); err != nil {
			return fmt.Errorf("sqlite: delete session: %w", err)
		}
		e := rolegate.NewEvent(actor, rolegate.OutcomeSuccess, rolegate.SignOut{})
		return tx.appendEvent(ctx, &e)
	})
}

// DeleteExpiredSessions removes sessions past their absolute limit; idle
// ones go when next looked up or here.
func (ss *Sessions) DeleteExpiredSessions(ctx context.Context, idle time.Duration) error {
	now := ss.db.now()
	return ss.db.update(ctx, func(tx *Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM sessions WHERE expires_at <= ? OR last_seen_at <= ?`,
			ms(now), ms(now.Add(-idle))); err != nil {
			return fmt.Errorf("sqlite: delete expired sessions: %w", err)
		}
		return nil
	})
}

// SetPendingAction keeps action (JSON; the web layer's) on the session
// named by token until the person comes back from re-authenticating, in
// place of any action kept before: one per session, so a signed-in person
// cannot grow it.
func (ss *Sessions) SetPendingAction(ctx context.Context, token, action string) error {
	return ss.db.update(ctx, func(tx *Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE sessions SET pending_action = ? WHERE id_hash = ?`, action, hashToken(token))
		if err != nil {
			return fmt.Errorf("sqlite: keep pending action: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return rolegate.ErrNoSession
		}
		return nil
	})
}

// TakePendingAction returns and clears the action kept on the session
// named by token ("" when there is none, or no such session): each is
// usable once.
func (ss *Sessions) TakePendingAction(ctx context.Context, token string) (string, error) {
	if token == "" {
		return "", nil
	}
	var action string
	err := ss.db.update(ctx, func(tx *Tx) error {
		err := tx.QueryRowContext(ctx, `SELECT pending_action FROM sessions WHERE id_hash = ?`, hashToken(token)).Scan(&action)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		} else if err != nil {
			return fmt.Errorf("sqlite: read pending action: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE sessions SET pending_action = '' WHERE id_hash = ?`, hashToken(token)); err != nil {
			return fmt.Errorf("sqlite: clear pending action: %w", err)
		}
		return nil
	})
	return action, err
}

// PeopleWithRole returns the people who held role at their last sign-in
// (whom to notify), with the same query the notification outbox runs
// inside its transactions.
func (ss *Sessions) PeopleWithRole(ctx context.Context, role rolegate.PortalRole) ([]rolegate.Person, error) {
	sqlTx, err := ss.db.readPool.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, fmt.Errorf("sqlite: people with role %s: %w", role, err)
	}
	defer sqlTx.Rollback()
	return (&Tx{sqlConn: sqlTx, db: ss.db}).peopleWithRole(ctx, role)
}
