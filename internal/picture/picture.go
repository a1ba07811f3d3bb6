// Package picture keeps rolegate's picture of the organization fresh: every
// role upstream (the organization's, and each active project's, with the
// projects themselves) and the organization's groups, users and group
// membership, read completely every ROLEGATE_SYNC_EVERY and stored (so
// that it survives a restart and pages are served without an upstream
// call). A live name check or a submission never trusts a picture older
// than MaxAge: it asks for a refresh, and every check waiting at that
// moment shares the one read, so a burst of typing is one upstream read.
//
// A read that fails part-way changes nothing: the store replaces the
// picture only with a complete list, and finds and records the
// differences (internal/sqlite). After a failure the upstream is left
// alone for a while (its Retry-After when it sent one), and checks in that
// while are told at once that the organization could not be checked.
package picture

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/rolegate/rolegate/internal/retry"
	"github.com/rolegate/rolegate/internal/rolegate"
)

// Store keeps the picture (the part of rolegate.PictureStore a sync uses).
type Store interface {
	ReplaceOrganization(ctx context.Context, read rolegate.OrganizationRead, requestedBy *rolegate.Actor) (rolegate.SyncResult, error)
	PictureSyncedAt(ctx context.Context, scope string) (time.Time, error)
	PictureRoles(ctx context.Context) ([]rolegate.UpstreamRole, error)
}

// ListRoles reads every role of the organization upstream: the complete
// list, or an error. It never creates anything.
type ListRoles func(ctx context.Context) ([]rolegate.UpstreamRole, error)

// ListProjects reads every project of the organization upstream, archived
// ones included: the complete list, or an error.
type ListProjects func(ctx context.Context) ([]rolegate.Project, error)

// ListProjectRoles reads every role of one project upstream.
type ListProjectRoles func(ctx context.Context, projectID string) ([]rolegate.UpstreamRole, error)

// ReadDirectory reads the organization's groups, users and every group's
// members upstream: all of it, or an error.
type ReadDirectory func(ctx context.Context) (rolegate.Directory, error)

// Defaults.
const (
	DefaultEvery  = 5 * time.Minute
	DefaultMaxAge = 30 * time.Second
	// DefaultTimeout bounds one complete read (every page).
	DefaultTimeout = 2 * time.Minute
	// firstBackoff and maxBackoff space the reads after failures: a dead
	// upstream is asked at most once a minute, and a recovered one is
	// noticed within a minute.
	firstBackoff = 5 * time.Second
	maxBackoff   = time.Minute
)

// ErrUnavailable wraps every failure to read the organization: the check
// says "could not check the organization just now" instead of guessing.
var ErrUnavailable = errors.New("the organization could not be read just now")

// Options configure a Picture.
type Options struct {
	Store Store
	List  ListRoles
	// Projects and ProjectRoles read the projects and each active
	// project's roles, in the same complete read as List; without them the
	// picture holds the organization's roles alone.
	Projects     ListProjects
	ProjectRoles ListProjectRoles
	// Directory reads the groups, users and membership in the same
	// complete read; without it the picture's directory is left alone.
	Directory ReadDirectory
	// Every is the period of the background sync (ROLEGATE_SYNC_EVERY).
	Every time.Duration
	// MaxAge is the oldest picture a check trusts.
	MaxAge time.Duration
	// Timeout bounds one complete read.
	Timeout time.Duration
	// Now is the clock; nil means time.Now.
	Now    func() time.Time
	Logger *slog.Logger
	// OnSynced receives every role after each successful sync, and once at
	// start from the store: the permission catalog is rebuilt from it.
	OnSynced func(roles []rolegate.UpstreamRole, at time.Time)
	// SyncFailed is told of each failed read (metrics); may be nil.
	SyncFailed func()
	// Exclusive runs the periodic sync on one process at a time when
	// several share the database (the store's RunExclusive); the others
	// take what it stored. nil: the sync runs here. A check's or an
	// admin's read runs wherever it is asked for.
	Exclusive rolegate.Exclusive
}

// Picture is the organization's picture and its refreshing. It is safe for
// concurrent use.
type Picture struct {
	opts Options
	base context.Context // reads outlive the check that started them, not the Picture
	stop context.CancelFunc
	wake *retry.Wakeup
	// reads are the reads under way, each on a goroutine of its own:
	// Close waits for them.
	reads sync.WaitGroup

	mu        sync.Mutex
	closed    bool      // no read starts after Close
	syncedAt  time.Time // when the stored picture was read (its start)
	flight    *flight   // the read in progress, nil when none
	failures  int       // consecutive failed reads
	lastErr   error
	notBefore time.Time // no read before this after a failure
}

// flight is one read that every caller waiting at the time shares.
type flight struct {
	done chan struct{}
	res  rolegate.SyncResult
	err  error
}

// New loads the stored picture. ctx bounds the reads for the life of the
// Picture (the process's context); Close ends them sooner.
func New(ctx context.Context, opts Options) (*Picture, error) {
	if opts.Every <= 0 {
		opts.Every = DefaultEvery
	}
	if opts.MaxAge <= 0 {
		opts.MaxAge = DefaultMaxAge
	}
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Exclusive == nil {
		opts.Exclusive = rolegate.RunHere
	}
	p := &Picture{opts: opts, wake: retry.NewWakeup()}
	p.base, p.stop = context.WithCancel(ctx)
	at, err := opts.Store.PictureSyncedAt(ctx, rolegate.ScopeOrganization)
	if err == nil {
		p.syncedAt = at
		err = p.publish(ctx, at)
	}
	if err != nil {
		p.stop()
		return nil, err
	}
	return p, nil
}

// Close cancels the reads under way and returns once they have finished,
// their outcome stored and logged; no read starts after it (a check is
// told the organization could not be read). Close the Picture before its
// store.
func (p *Picture) Close() {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	p.stop()
	p.reads.Wait()
}

// SyncedAt is when the picture was last read completely (zero: never).
func (p *Picture) SyncedAt() time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.syncedAt
}

// Fresh makes sure the picture is at most MaxAge old, reading the
// organization when it is older (sharing a read already under way). An
// error wraps ErrUnavailable: the picture could not be brought up to date.
func (p *Picture) Fresh(ctx context.Context) error {
	p.mu.Lock()
	now := p.opts.Now()
	if !p.syncedAt.IsZero() && now.Sub(p.syncedAt) <= p.opts.MaxAge {
		p.mu.Unlock()
		return nil
	}
	f := p.flight
	if f == nil {
		if now.Before(p.notBefore) {
			err := p.lastErr
			p.mu.Unlock()
			return fmt.Errorf("%w: %w", ErrUnavailable, err)
		}
		f = p.startLocked(nil)
	}
	p.mu.Unlock()
	_, err := wait(ctx, f)
	return err
}

// Sync reads the organization now. A background sync (requestedBy nil)
// shares a read under way; an admin's resync waits for it and then reads
// again, so that what they see is newer than their click, and is recorded
// as theirs.
func (p *Picture) Sync(ctx context.Context, requestedBy *rolegate.Actor) (rolegate.SyncResult, error) {
	for {
		p.mu.Lock()
		f := p.flight
		if f == nil {
			f = p.startLocked(requestedBy)
			p.mu.Unlock()
			return wait(ctx, f)
		}
		p.mu.Unlock()
		if requestedBy == nil {
			return wait(ctx, f)
		}
		if _, err := wait(ctx, f); ctx.Err() != nil {
			return rolegate.SyncResult{}, err
		}
	}
}

func wait(ctx context.Context, f *flight) (rolegate.SyncResult, error) {
	select {
	case <-f.done:
		return f.res, f.err
	case <-ctx.Done():
		return rolegate.SyncResult{}, fmt.Errorf("%w: %w", ErrUnavailable, ctx.Err())
	}
}

// errClosed is why a Picture that was closed reads nothing.
var errClosed = errors.New("the picture was closed")

// startLocked starts a read; p.mu must be held.
func (p *Picture) startLocked(requestedBy *rolegate.Actor) *flight {
	f := &flight{done: make(chan struct{})}
	if p.closed {
		f.err = fmt.Errorf("%w: %w", ErrUnavailable, errClosed)
		close(f.done)
		return f
	}
	p.flight = f
	p.reads.Go(func() { p.read(f, requestedBy) })
	return f
}

// read is one complete read and its replacement of the picture. It runs on
// the Picture's own context, so that the check that started it giving up
// does not cancel it for the others waiting.
func (p *Picture) read(f *flight, requestedBy *rolegate.Actor) {
	ctx, cancel := context.WithTimeout(p.base, p.opts.Timeout)
	defer cancel()
	started := p.opts.Now()
	org, err := p.readOrganization(ctx)
	if err == nil {
		f.res, err = p.opts.Store.ReplaceOrganization(ctx, org, requestedBy)
	}
	if err == nil {
		err = p.publish(ctx, started)
	}

	p.mu.Lock()
	if err != nil {
		p.failures++
		p.lastErr = err
		p.notBefore = p.opts.Now().Add(retry.Backoff(firstBackoff, maxBackoff, p.failures, retryDelay(err)))
		f.err = fmt.Errorf("%w: %w", ErrUnavailable, err)
	} else {
		p.failures, p.lastErr, p.notBefore = 0, nil, time.Time{}
		p.syncedAt = started
	}
	p.flight = nil
	failures := p.failures
	p.mu.Unlock()
	// Counted before anyone waiting hears of the failure, so that what they
	// see next (a scrape, a test) already includes it.
	if err != nil && p.opts.SyncFailed != nil {
		p.opts.SyncFailed()
	}
	close(f.done)

	if err != nil {
		p.opts.Logger.Warn("picture: could not read the organization's roles; the stored picture stays as it was",
			"err", err, "consecutive_failures", failures)
		return
	}
	if r := f.res; r.Appeared+r.Changed+r.Deleted > 0 || r.Baseline {
		p.opts.Logger.Info("picture: synced", "roles", r.Roles, "appeared", r.Appeared, "changed", r.Changed,
			"deleted", r.Deleted, "baseline", r.Baseline)
	}
}

// readOrganization reads the organization completely: its roles, its
// projects and the roles of each active project (one list per project).
// Any failure fails the whole read, so the picture is replaced only by a
// complete one.
func (p *Picture) readOrganization(ctx context.Context) (rolegate.OrganizationRead, error) {
	var org rolegate.OrganizationRead
	var err error
	if org.Roles, err = p.opts.List(ctx); err != nil {
		return org, err
	}
	if p.opts.Directory != nil {
		dir, err := p.opts.Directory(ctx)
		if err != nil {
			return org, fmt.Errorf("the groups and users: %w", err)
		}
		org.Directory = &dir
	}
	if p.opts.Projects == nil || p.opts.ProjectRoles == nil {
		return org, nil
	}
	if org.Projects, err = p.opts.Projects(ctx); err != nil {
		return org, err
	}
	if org.Projects == nil {
		org.Projects = []rolegate.Project{} // read, and none: not "not read"
	}
	org.ProjectRoles = map[string][]rolegate.UpstreamRole{}
	for _, proj := range org.Projects {
		if proj.Archived {
			continue
		}
		roles, err := p.opts.ProjectRoles(ctx, proj.ID)
		if err != nil {
			return org, fmt.Errorf("the roles of project %s: %w", proj.ID, err)
		}
		org.ProjectRoles[proj.ID] = roles
	}
	return org, nil
}

// publish hands the stored roles to OnSynced.
func (p *Picture) publish(ctx context.Context, at time.Time) error {
	if p.opts.OnSynced == nil {
		return nil
	}
	roles, err := p.opts.Store.PictureRoles(ctx)
	if err != nil {
		return err
	}
	p.opts.OnSynced(roles, at)
	return nil
}

// retryDelay is the Retry-After an upstream error carries, or 0.
func retryDelay(err error) time.Duration {
	var ra interface{ RetryDelay() time.Duration }
	if errors.As(err, &ra) {
		return ra.RetryDelay()
	}
	return 0
}

// Run syncs every Every (counted from the last read, whoever caused it)
// until ctx ends; after a failure it tries again as the backoff allows.
func (p *Picture) Run(ctx context.Context) {
	for {
		p.wake.Sleep(ctx, p.untilDue())
		if ctx.Err() != nil {
			return
		}
		if p.untilDue() > 0 {
			continue // a check refreshed it meanwhile
		}
		ran, err := p.opts.Exclusive(ctx, "picture-sync", func(ctx context.Context) error {
			_, err := p.Sync(ctx, nil)
			return err
		})
		if !ran {
			// Another process is reading the organization: take its read
			// from the store once stored, and look again a little later
			// (as after a failure to ask whose turn it is).
			if err == nil {
				p.adopt(ctx)
			} else if ctx.Err() == nil {
				p.opts.Logger.Warn("picture: could not ask whose turn the sync is", "err", err)
			}
			p.wake.Sleep(ctx, min(p.opts.Every, adoptRetry))
		}
	}
}

// adoptRetry is how soon a process that found another one syncing looks
// at the store again.
const adoptRetry = 10 * time.Second

// adopt takes a picture another process stored, when it is newer than
// this one's: the catalog and the freshness of checks follow it.
func (p *Picture) adopt(ctx context.Context) {
	at, err := p.opts.Store.PictureSyncedAt(ctx, rolegate.ScopeOrganization)
	if err != nil || !at.After(p.SyncedAt()) {
		return
	}
	if err := p.publish(ctx, at); err != nil {
		p.opts.Logger.Warn("picture: could not read the picture another process stored", "err", err)
		return
	}
	p.mu.Lock()
	if at.After(p.syncedAt) {
		p.syncedAt = at
	}
	p.mu.Unlock()
}

// untilDue is how long until the next background read.
func (p *Picture) untilDue() time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.opts.Now()
	if p.failures > 0 {
		return max(p.notBefore.Sub(now), 0)
	}
	if p.syncedAt.IsZero() {
		return 0
	}
	return max(p.syncedAt.Add(p.opts.Every).Sub(now), 0)
}
