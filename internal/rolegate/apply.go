package rolegate

import (
	"context"
	"fmt"
)

// EffectsWriter is a store's write transaction as ApplyEffects sees it:
// the statements that write each kind of effect. Every store implements it
// over its own transaction; the order they run in is ApplyEffects's, the
// same on every engine.
type EffectsWriter interface {
	// People answers who hears of an event, from inside the transaction.
	People
	// MoveRequest changes req's status from from to to only if it is still
	// from (ECONFLICT otherwise: a racing change won), and updates req.
	MoveRequest(ctx context.Context, req *Request, from, to Status) error
	// EnqueueProvisioning writes the job of a fully approved request;
	// RequeueProvisioning makes its failed job runnable again (ECONFLICT
	// when it is not failed).
	EnqueueProvisioning(ctx context.Context, req *Request) error
	RequeueProvisioning(ctx context.Context, requestID int64) error
	// AppendEvent adds e to the audit trail and fills in what the trail
	// gave it (Seq, At, the hashes).
	AppendEvent(ctx context.Context, e *Event) error
	// QueueNotification writes one outbox row about the recorded event
	// (a row already queued for that event, channel and recipient is left
	// as it is).
	QueueNotification(ctx context.Context, e Event, req *Request, n Notification) error
}

// ApplyEffects writes in w what a transition of req causes, in this order:
// the move of its status, guarded on the status it was read in; its
// provisioning job; then each audit event, with the notifications it calls
// for (targets says where they may go; nil: nowhere) queued right after
// it. It returns how many notifications it queued, so that the store can
// wake the notifier once the transaction has committed.
func ApplyEffects(ctx context.Context, w EffectsWriter, req *Request, eff Effects, targets *NotificationTargets) (queued int, err error) {
	if eff.From != eff.To {
		if !CanMove(eff.From, eff.To) {
			return 0, fmt.Errorf("request %d: %s → %s is not a transition of the life cycle", req.ID, eff.From, eff.To)
		}
		if err := w.MoveRequest(ctx, req, eff.From, eff.To); err != nil {
			return 0, err
		}
	}
	switch eff.Job {
	case JobQueued:
		if err := w.EnqueueProvisioning(ctx, req); err != nil {
			return 0, err
		}
	case JobRequeued:
		if err := w.RequeueProvisioning(ctx, req.ID); err != nil {
			return 0, err
		}
	}
	for _, c := range eff.Events {
		// Every event of a transition is about the request (a new one has
		// its id only now).
		e := c.Event
		e.RequestID, e.RoleName = req.ID, req.RoleName
		if err := w.AppendEvent(ctx, &e); err != nil {
			return queued, err
		}
		if c.Notice == nil || targets == nil {
			continue
		}
		n, err := QueueNotice(ctx, w, e, req, c.Notice, *targets)
		queued += n
		if err != nil {
			return queued, fmt.Errorf("notifications for event %d: %w", e.Seq, err)
		}
	}
	return queued, nil
}

// QueueNotice writes the outbox rows of notice n about the recorded event
// e: who hears is the notice's rule, resolved to addresses through w.
func QueueNotice(ctx context.Context, w EffectsWriter, e Event, req *Request, n *Notice, targets NotificationTargets) (int, error) {
	var emails []Recipient
	if targets.Email {
		var err error
		if emails, err = n.Recipients(ctx, req, w); err != nil {
			return 0, err
		}
	}
	rows := n.Notifications(n.Facts(e, req), emails, targets)
	for i, r := range rows {
		if err := w.QueueNotification(ctx, e, req, r); err != nil {
			return i, err
		}
	}
	return len(rows), nil
}
