package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/rolegate/rolegate/internal/rolegate"
)

// Sessions stores who is signed in (rolegate.SessionService), shared by
// every process on the database: a session made on one node works on
// another, and signing out on one ends it everywhere.
type Sessions struct{ db *DB }

// NewSessions returns the session service over db.
func NewSessions(db *DB) *Sessions { return &Sessions{db: db} }

// CreateSession signs actor in: a new session with a fresh token and CSRF
// token, the person's profile updated, and the sign-in recorded, in one
// transaction that also deletes the session named by previous.
func (ss *Sessions) CreateSession(ctx context.Context, actor rolegate.Actor, auth rolegate.SessionAuth, limits rolegate.SessionLimits, previous string) (string, *rolegate.Session, error) {
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
			tag, err := tx.Exec(ctx, `DELETE FROM sessions WHERE id_hash = $1`, rolegate.TokenHash(previous))
			if err != nil {
				return fmt.Errorf("postgres: delete the previous session: %w", err)
			}
			d.ReplacedSession = tag.RowsAffected() > 0
		}
		p := actor.Principal
		if _, err := tx.Exec(ctx, `INSERT INTO sessions (id_hash, person_key, issuer, subject, email, name, roles,
			csrf_token, auth_time, step_up_at, created_at, last_seen_at, expires_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`,
			rolegate.TokenHash(token), p.Key(), p.Issuer, p.Subject, p.Email, p.Name, p.RoleNames(), s.CSRFToken,
			ms(s.AuthTime), ms(s.StepUpAt), ms(tx.now), ms(tx.now), ms(s.ExpiresAt)); err != nil {
			return fmt.Errorf("postgres: create session: %w", err)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO people (person_key, issuer, subject, email, name, roles, last_seen_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (person_key) DO UPDATE SET email = excluded.email,
			name = excluded.name, roles = excluded.roles, last_seen_at = excluded.last_seen_at`,
			p.Key(), p.Issuer, p.Subject, p.Email, p.Name, p.RoleNames(), ms(tx.now)); err != nil {
			return fmt.Errorf("postgres: save person: %w", err)
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
// view should not cost a write.
const touchEvery = time.Minute

// LookupSession returns the live session for token, ending it when it is
// past its idle or absolute limit.
func (ss *Sessions) LookupSession(ctx context.Context, token string, limits rolegate.SessionLimits) (*rolegate.Session, error) {
	if token == "" {
		return nil, rolegate.ErrNoSession
	}
	id := rolegate.TokenHash(token)
	var s rolegate.Session
	var roles string
	var authTime, stepUp, created, lastSeen, expires int64
	// The draft itself is not read here (draft_path says whether the page
	// needs it): most pages have none, and it may be kilobytes.
	err := ss.db.pool.QueryRow(ctx, `SELECT issuer, subject, email, name, roles, csrf_token, auth_time, step_up_at, created_at,
		last_seen_at, expires_at, draft_path FROM sessions WHERE id_hash = $1`, id).Scan(&s.Principal.Issuer, &s.Principal.Subject,
		&s.Principal.Email, &s.Principal.Name, &roles, &s.CSRFToken, &authTime, &stepUp, &created, &lastSeen, &expires, &s.DraftPath)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, rolegate.ErrNoSession
	} else if err != nil {
		return nil, fmt.Errorf("postgres: lookup session: %w", err)
	}
	for _, r := range strings.Split(roles, ",") {
		if r != "" {
			s.Principal.Roles = append(s.Principal.Roles, rolegate.PortalRole(r))
		}
	}
	s.AuthTime, s.StepUpAt = fromMS(authTime), fromMS(stepUp)
	s.CreatedAt, s.LastSeenAt, s.ExpiresAt = fromMS(created), fromMS(lastSeen), fromMS(expires)
	now := ss.db.now()
	if !now.Before(s.ExpiresAt) || now.Sub(s.LastSeenAt) >= limits.Idle {
		_, _ = ss.db.pool.Exec(ctx, `DELETE FROM sessions WHERE id_hash = $1`, id)
		return nil, rolegate.ErrNoSession
	}
	if now.Sub(s.LastSeenAt) >= touchEvery {
		// Two nodes may touch at once; the later time wins, never an earlier one.
		if _, err := ss.db.pool.Exec(ctx, `UPDATE sessions SET last_seen_at = GREATEST(last_seen_at, $1) WHERE id_hash = $2`, ms(now), id); err != nil {
			return nil, fmt.Errorf("postgres: touch session: %w", err)
		}
		s.LastSeenAt = now
	}
	return &s, nil
}

// DeleteSession signs the session's person out and records it.
func (ss *Sessions) DeleteSession(ctx context.Context, token string, actor rolegate.Actor) error {
	return ss.db.update(ctx, func(tx *Tx) error {
		if _, err := tx.Exec(ctx, `DELETE FROM sessions WHERE id_hash = $1`, rolegate.TokenHash(token)); err != nil {
			return fmt.Errorf("postgres: delete session: %w", err)
		}
		e := rolegate.NewEvent(actor, rolegate.OutcomeSuccess, rolegate.SignOut{})
		return tx.appendEvent(ctx, &e)
	})
}

// DeleteExpiredSessions removes sessions past their absolute limit or
// idle for idle.
func (ss *Sessions) DeleteExpiredSessions(ctx context.Context, idle time.Duration) error {
	now := ss.db.now()
	if _, err := ss.db.pool.Exec(ctx, `DELETE FROM sessions WHERE expires_at <= $1 OR last_seen_at <= $2`,
		ms(now), ms(now.Add(-idle))); err != nil {
		return fmt.Errorf("postgres: delete expired sessions: %w", err)
	}
	return nil
}

// SetPendingAction keeps action on the session named by token, in place
// of any action kept before.
func (ss *Sessions) SetPendingAction(ctx context.Context, token, action string) error {
	tag, err := ss.db.pool.Exec(ctx, `UPDATE sessions SET pending_action = $1 WHERE id_hash = $2`, action, rolegate.TokenHash(token))
	if err != nil {
		return fmt.Errorf("postgres: keep pending action: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return rolegate.ErrNoSession
	}
	return nil
}

// TakePendingAction returns and clears the action kept on the session
// named by token ("" when none): one statement, so two nodes asked at once
// cannot both take it.
func (ss *Sessions) TakePendingAction(ctx context.Context, token string) (string, error) {
	if token == "" {
		return "", nil
	}
	var action string
	// The old value is read from the row as locked by the update (FROM a
	// self-join on the locked row), before it is cleared.
	err := ss.db.pool.QueryRow(ctx, `UPDATE sessions s SET pending_action = ''
		FROM (SELECT id_hash, pending_action FROM sessions WHERE id_hash = $1 FOR UPDATE) old
		WHERE s.id_hash = old.id_hash RETURNING old.pending_action`, rolegate.TokenHash(token)).Scan(&action)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil
	} else if err != nil {
		return "", fmt.Errorf("postgres: take pending action: %w", err)
	}
	return action, nil
}

// PeopleWithRole returns the people who held role at their last sign-in
// (whom to notify).
func (ss *Sessions) PeopleWithRole(ctx context.Context, role rolegate.PortalRole) ([]rolegate.Person, error) {
	return peopleWithRole(ctx, ss.db.pool, role)
}

func peopleWithRole(ctx context.Context, q querier, role rolegate.PortalRole) ([]rolegate.Person, error) {
	rows, err := q.Query(ctx, `SELECT issuer, subject, email, name FROM people
		WHERE ',' || roles || ',' LIKE $1 ORDER BY name, person_key`, "%,"+string(role)+",%")
	if err != nil {
		return nil, fmt.Errorf("postgres: people with role %s: %w", role, err)
	}
	defer rows.Close()
	var out []rolegate.Person
	for rows.Next() {
		var p rolegate.Person
		if err := rows.Scan(&p.Issuer, &p.Subject, &p.Email, &p.Name); err != nil {
			return nil, fmt.Errorf("postgres: people with role %s: %w", role, err)
		}
		out = append(out, p)
	}
	return out, rows.Err()
}
