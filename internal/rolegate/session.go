package rolegate

import (
	"context"
	"errors"
	"time"
)

// Session is a signed-in browser. Only the SHA-256 of its cookie value is
// stored, so a copy of the database signs nobody in.
type Session struct {
	Principal Principal
	CSRFToken string
	AuthTime  time.Time // last authentication at the identity provider; zero when it did not say
	// StepUpAt is when a prompt=login round trip completed without the
	// provider stating auth_time (ROLEGATE_APPROVE_REAUTH=login); zero
	// otherwise.
	StepUpAt   time.Time
	CreatedAt  time.Time
	LastSeenAt time.Time
	ExpiresAt  time.Time // absolute limit
	// DraftPath is the path of the page a draft waits for (KeepDraft),
	// "" when none does: pages look the draft up only when it is theirs.
	DraftPath string
}

// MaxDraftBytes bounds a draft (KeepDraft), so that a signed-in person
// cannot grow the database with their refused posts; the store refuses a
// larger one. The web layer clips what it keeps well within it.
const MaxDraftBytes = 32 << 10

// SessionLimits are the idle and absolute lifetimes of a session.
type SessionLimits struct {
	Idle     time.Duration
	Absolute time.Duration
}

// ErrNoSession means the cookie names no live session.
var ErrNoSession = errors.New("rolegate: no such session")

// SessionAuth is how the person authenticated for a new session.
type SessionAuth struct {
	// AuthTime is the provider's auth_time. Zero means the provider did not
	// say; it is kept as unknown, which makes approving re-authenticate
	// first.
	AuthTime time.Time
	// StepUpAt: see Session.StepUpAt.
	StepUpAt time.Time
}

// SessionService signs people in and out, and keeps what a session must
// remember across a re-authentication at the identity provider (the
// approval waiting for it).
type SessionService interface {
	// CreateSession signs actor in: a new session, the person's profile
	// updated and the sign-in recorded, in one transaction; the session
	// named by previous (the browser's cookie before, if any) is deleted.
	// It returns the new cookie value.
	CreateSession(ctx context.Context, actor Actor, auth SessionAuth, limits SessionLimits, previous string) (string, *Session, error)
	// LookupSession returns the live session named by token, or ErrNoSession.
	LookupSession(ctx context.Context, token string, limits SessionLimits) (*Session, error)
	// DeleteSession signs the session's person out and records it.
	DeleteSession(ctx context.Context, token string, actor Actor) error
	// DeleteExpiredSessions removes sessions past their limits.
	DeleteExpiredSessions(ctx context.Context, idle time.Duration) error
	// SetPendingAction keeps one action on the session until the person
	// comes back from re-authenticating; TakePendingAction returns and
	// clears it (usable once).
	SetPendingAction(ctx context.Context, token, action string) error
	TakePendingAction(ctx context.Context, token string) (string, error)
	// KeepDraft keeps draft (the web layer's: what a refused post typed
	// and why it was refused) on the session named by token for the page
	// at path, which shows it once after the redirect. One draft per
	// person: it replaces any draft on this session and clears those on
	// the person's other sessions. At most MaxDraftBytes.
	KeepDraft(ctx context.Context, token, path, draft string) error
	// TakeDraft returns and clears the draft kept on the session for the
	// page at path ("" when there is none for it).
	TakeDraft(ctx context.Context, token, path string) (string, error)
}
