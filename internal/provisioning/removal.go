package provisioning

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/rolegate/rolegate/internal/adminapi"
	"github.com/rolegate/rolegate/internal/retry"
	"github.com/rolegate/rolegate/internal/rolegate"
)

// The end of access (issue 17): the Remover removes the assignment an
// access request made, at Until or when an admin revoked it, exactly once.
// Every attempt looks before it deletes: an assignment already gone is
// done (when an earlier attempt's DELETE may have reached the upstream) or
// drift (when no attempt of rolegate's did), never deleted twice.

// RemovalUpstream is what the Remover needs of the Admin API.
type RemovalUpstream interface {
	FindAssignment(ctx context.Context, p adminapi.Principal, roleID string) (adminapi.AssignedRole, bool, error)
	UnassignRole(ctx context.Context, p adminapi.Principal, roleID string) error
}

// RemoverConfig tunes the Remover; zero values take the provisioning
// worker's defaults.
type RemoverConfig struct {
	Queue       rolegate.RemovalQueue
	Upstream    RemovalUpstream
	Logger      *slog.Logger
	MaxAttempts int
	CallTimeout time.Duration
	BackoffBase time.Duration
	BackoffMax  time.Duration
	Poll        time.Duration
	// VerifyEvery is how often every active grant is looked at upstream,
	// so that an assignment removed outside rolegate is known as drift
	// before its end (and for access without an end at all); 0 means
	// DefaultVerifyEvery.
	VerifyEvery time.Duration
	// Exclusive runs the scheduling of due removals and the reminders on
	// one process at a time (the store's RunExclusive); nil: here. The
	// removals themselves are claimed one by one, with a lease, by every
	// process.
	Exclusive rolegate.Exclusive
}

// DefaultVerifyEvery is how often active grants are looked at for drift:
// as often as the organization's picture is read by default.
const DefaultVerifyEvery = 5 * time.Minute

// Remover ends access on time.
type Remover struct {
	cfg   RemoverConfig
	owner string
	wake  *retry.Wakeup
}

// NewRemover returns a Remover; Run starts it.
func NewRemover(cfg RemoverConfig) *Remover {
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = DefaultMaxAttempts
	}
	if cfg.CallTimeout <= 0 {
		cfg.CallTimeout = DefaultCallTimeout
	}
	if cfg.BackoffBase <= 0 {
		cfg.BackoffBase = DefaultBackoffBase
	}
	if cfg.BackoffMax <= 0 {
		cfg.BackoffMax = 5 * time.Minute
	}
	if cfg.Poll <= 0 {
		cfg.Poll = 30 * time.Second
	}
	if cfg.VerifyEvery <= 0 {
		cfg.VerifyEvery = DefaultVerifyEvery
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Exclusive == nil {
		cfg.Exclusive = rolegate.RunHere
	}
	return &Remover{cfg: cfg, owner: fmt.Sprintf("remover-%d-%d", time.Now().UnixNano(), rand.Int64()), wake: retry.NewWakeup()}
}

// Wake makes the Remover look now (a revocation, or a test's clock).
func (rv *Remover) Wake() { rv.wake.Wake() }

func (rv *Remover) lease() time.Duration { return 3*rv.cfg.CallTimeout + 10*time.Second }

// Run works until ctx ends; at start it reclaims removals a dead process left.
func (rv *Remover) Run(ctx context.Context) {
	if n, err := rv.cfg.Queue.ReleaseRemovalLeases(ctx); err != nil {
		rv.cfg.Logger.Error("removal: release leases", "err", err)
	} else if n > 0 {
		rv.cfg.Logger.Warn("removal: resuming removals interrupted by a restart", "count", n)
	}
	nextVerify := time.Now()
	for ctx.Err() == nil {
		if !time.Now().Before(nextVerify) {
			// One process at a time looks (the others skip their turn).
			_, err := rv.cfg.Exclusive(ctx, "access-drift-check", func(ctx context.Context) error {
				_, err := rv.Verify(ctx)
				return err
			})
			if err != nil && ctx.Err() == nil {
				rv.cfg.Logger.Error("removal: look for drift", "err", err)
			}
			nextVerify = time.Now().Add(rv.cfg.VerifyEvery)
		}
		if !rv.Step(ctx) {
			rv.wake.Sleep(ctx, min(rv.untilNext(ctx), max(time.Until(nextVerify), 10*time.Millisecond)))
		}
	}
}

// Verify looks upstream for the assignment of every active grant and
// ends, as drift, those found removed outside rolegate (or no longer held
// directly): nothing is removed for them at their end, and the requester
// is told now. It returns how many it ended. A look-up that fails is left
// for the next round.
func (rv *Remover) Verify(ctx context.Context) (int, error) {
	held, err := rv.cfg.Queue.HeldGrants(ctx)
	if err != nil {
		return 0, err
	}
	ended := 0
	for _, h := range held {
		if ctx.Err() != nil {
			return ended, ctx.Err()
		}
		p := adminapi.Principal{Kind: adminapi.PrincipalKind(h.Grantee.Kind), ID: h.Grantee.ID, Project: h.Scope}
		callCtx, cancel := context.WithTimeout(ctx, rv.cfg.CallTimeout)
		a, found, err := rv.cfg.Upstream.FindAssignment(callCtx, p, h.RoleID)
		cancel()
		if err != nil {
			rv.cfg.Logger.Warn("removal: look for drift", "request_id", h.RequestID, "err", err)
			continue
		}
		if found && a.Direct(p) {
			continue
		}
		rctx, cancel := recordContext(ctx)
		ok, err := rv.cfg.Queue.EndByDrift(rctx, h.RequestID)
		cancel()
		if err != nil {
			return ended, err
		}
		if ok {
			ended++
			rv.cfg.Logger.Warn("removal: an assignment was removed outside rolegate", "request_id", h.RequestID)
		}
	}
	return ended, nil
}

// Step does what is due now: queues the removals whose Until has come,
// records the reminders, and makes one attempt at one removal. It reports
// whether it made an attempt (more may be waiting).
func (rv *Remover) Step(ctx context.Context) bool {
	_, err := rv.cfg.Exclusive(ctx, "access-removal-schedule", func(ctx context.Context) error {
		if _, err := rv.cfg.Queue.ScheduleDue(ctx); err != nil && ctx.Err() == nil {
			rv.cfg.Logger.Error("removal: schedule due", "err", err)
		}
		if _, err := rv.cfg.Queue.RemindEnding(ctx); err != nil && ctx.Err() == nil {
			rv.cfg.Logger.Error("removal: reminders", "err", err)
		}
		return nil
	})
	if err != nil && ctx.Err() == nil {
		rv.cfg.Logger.Error("removal: take the schedule's turn", "err", err)
	}
	rm, err := rv.cfg.Queue.ClaimRemoval(ctx, rv.owner, rv.lease())
	if err != nil {
		if ctx.Err() == nil {
			rv.cfg.Logger.Error("removal: claim", "err", err)
		}
		return false
	}
	if rm == nil {
		return false
	}
	rv.process(ctx, rm)
	return true
}

func (rv *Remover) untilNext(ctx context.Context) time.Duration {
	d := rv.cfg.Poll
	if next, err := rv.cfg.Queue.NextRemovalAt(ctx); err == nil && !next.IsZero() {
		d = min(d, max(time.Until(next), 10*time.Millisecond))
	}
	return d
}

func (rv *Remover) process(ctx context.Context, rm *rolegate.Removal) {
	log := rv.cfg.Logger.With("request_id", rm.RequestID, "attempt", rm.Attempt)
	p := adminapi.Principal{Kind: adminapi.PrincipalKind(rm.Grantee.Kind), ID: rm.Grantee.ID, Project: rm.Scope}
	callCtx, cancel := context.WithTimeout(ctx, rv.cfg.CallTimeout)
	held, found, err := rv.cfg.Upstream.FindAssignment(callCtx, p, rm.RoleID)
	cancel()
	if err != nil {
		rv.failed(ctx, log, rm, "look up the assignment", err)
		return
	}
	if !found || !held.Direct(p) {
		// Gone: removed by an earlier attempt of ours, or outside rolegate.
		rv.complete(ctx, log, rm, !rm.Reconcile)
		return
	}
	if err := rv.cfg.Queue.BeforeDelete(ctx, rm); err != nil {
		if ctx.Err() == nil {
			log.Error("removal: record the DELETE about to be sent; nothing was sent", "err", err)
		}
		return // the lease runs out and the next attempt looks again
	}
	callCtx, cancel = context.WithTimeout(ctx, rv.cfg.CallTimeout)
	err = rv.cfg.Upstream.UnassignRole(callCtx, p, rm.RoleID)
	cancel()
	var ae *adminapi.Error
	switch {
	case err == nil:
		rv.complete(ctx, log, rm, false)
	case errors.As(err, &ae) && ae.Status == 404:
		// Removed by someone else between the look-up and the DELETE.
		rv.complete(ctx, log, rm, true)
	default:
		rv.failed(ctx, log, rm, "remove the assignment", err)
	}
}

func (rv *Remover) complete(ctx context.Context, log *slog.Logger, rm *rolegate.Removal, drift bool) {
	rctx, cancel := recordContext(ctx)
	defer cancel()
	if err := rv.cfg.Queue.CompleteRemoval(rctx, rm, drift); err != nil {
		log.Error("removal: record success", "err", err)
		return
	}
	log.Info("removal: access ended", "drift", drift, "call", rm.Call().String())
}

func (rv *Remover) failed(ctx context.Context, log *slog.Logger, rm *rolegate.Removal, op string, err error) {
	if ctx.Err() != nil {
		log.Info("removal: interrupted by shutdown", "op", op)
		return
	}
	var ae *adminapi.Error
	if !errors.As(err, &ae) {
		ae = &adminapi.Error{Op: op, Message: "unexpected error", Kind: adminapi.Retryable}
	}
	msg := upstreamMessage(op, ae)
	rctx, cancel := recordContext(ctx)
	defer cancel()
	if ae.Kind != adminapi.Retryable || rm.Attempt >= rv.cfg.MaxAttempts {
		if rm.Attempt >= rv.cfg.MaxAttempts && ae.Kind == adminapi.Retryable {
			msg = fmt.Sprintf("Gave up after %d attempts. Last error: %s", rm.Attempt, msg)
		}
		if err := rv.cfg.Queue.FailRemoval(rctx, rm, msg); err != nil {
			log.Error("removal: record failure", "err", err)
		}
		log.Warn("removal: failed", "reason", msg)
		return
	}
	delay := retry.Backoff(rv.cfg.BackoffBase, rv.cfg.BackoffMax, rm.Attempt, ae.RetryAfter)
	if err := rv.cfg.Queue.RetryRemovalLater(rctx, rm, delay, msg); err != nil {
		log.Error("removal: record retry", "err", err)
	}
	log.Warn("removal: attempt failed, will retry", "op", op, "err", ae, "retry_in", delay)
}
