package sqlite

import (
	"context"
	"fmt"

	"github.com/rolegate/rolegate/internal/rolegate"
)

// apply writes in tx what a transition of req causes (rolegate.Effects), in
// this order: the move of its status, guarded on the status it was read
// in; its provisioning job; then each audit event, with the notifications
// it calls for queued right after it.
func (tx *Tx) apply(ctx context.Context, req *rolegate.Request, eff rolegate.Effects) error {
	if eff.From != eff.To {
		if err := tx.move(ctx, req, eff.From, eff.To); err != nil {
			return err
		}
	}
	switch eff.Job {
	case rolegate.JobQueued:
		if err := tx.enqueueProvisioning(ctx, req); err != nil {
			return err
		}
	case rolegate.JobRequeued:
		if err := tx.requeueProvisioning(ctx, req.ID); err != nil {
			return err
		}
	}
	for _, c := range eff.Events {
		// Every event of a transition is about the request (a new one has
		// its id only now).
		e := c.Event
		e.RequestID, e.RoleName = req.ID, req.RoleName
		if err := tx.appendEvent(ctx, &e); err != nil {
			return err
		}
		if c.Notice != nil {
			if err := tx.queueNotifications(ctx, e, req, c.Notice); err != nil {
				return fmt.Errorf("sqlite: notifications for event %d: %w", e.Seq, err)
			}
		}
	}
	return nil
}
