package provisioning

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"

	"github.com/rolegate/rolegate/internal/adminapi"
	"github.com/rolegate/rolegate/internal/rolegate"
)

// Access requests (issue 17): the job assigns an existing role to a group
// or a user, exactly once. Before an attempt that may follow one that
// reached the upstream, it looks: an assignment already there (held
// directly by the grantee) is adopted, not repeated. After assigning, it
// reads the assignment back: Provisioned means the assignment exists
// upstream.

// principal is the grantee of job as the Admin API names it.
func principal(job *rolegate.Job) adminapi.Principal {
	return adminapi.Principal{Kind: adminapi.PrincipalKind(job.Grantee.Kind), ID: job.Grantee.ID, Project: job.Scope}
}

func (w *Worker) processAccess(ctx context.Context, log *slog.Logger, job *rolegate.Job) {
	var body struct {
		RoleID string `json:"role_id"`
	}
	if err := json.Unmarshal(job.Payload, &body); err != nil || body.RoleID == "" || body.RoleID != job.AccessRoleID {
		w.fail(ctx, log, job, rolegate.ActionProvisioningFailed, "The approved payload is not the assignment of the request's role; nothing was sent.", nil)
		return
	}
	p := principal(job)
	if job.Reconcile {
		held, found, err := w.findAssignment(ctx, p, job.AccessRoleID)
		if err != nil {
			w.upstreamFailed(ctx, log, job, "look up the assignment", err, nil)
			return
		}
		if found && held.Direct(p) {
			w.completeAccess(ctx, log, job, held, true)
			return
		}
	}
	callCtx, cancel := context.WithTimeout(ctx, w.cfg.CallTimeout)
	// The call sent is the one checkApproved hashed: this grantee, this
	// scope, this body.
	err := w.cfg.Upstream.AssignRole(callCtx, p, job.Payload)
	cancel()
	if err != nil {
		var ae *adminapi.Error
		if errors.As(err, &ae) && ae.Kind == adminapi.Permanent && ctx.Err() == nil {
			// Refused, perhaps because the assignment is there already (our
			// own earlier attempt, applied after the look-up): look once more.
			if held, found, ferr := w.findAssignment(ctx, p, job.AccessRoleID); ferr == nil && found && held.Direct(p) {
				w.completeAccess(ctx, log, job, held, true)
				return
			}
		}
		w.upstreamFailed(ctx, log, job, "assign", err, nil)
		return
	}
	held, found, err := w.findAssignment(ctx, p, job.AccessRoleID)
	switch {
	case err != nil:
		// Assigned; the next attempt looks first and adopts it.
		w.upstreamFailed(ctx, log, job, "read back the assignment", err, nil)
	case !found || !held.Direct(p):
		w.fail(ctx, log, job, rolegate.ActionProvisioningMismatch, fmt.Sprintf(
			"The role %s was assigned to the %s, but reading the assignment back does not show it held directly.", job.AccessRoleID, job.Grantee), nil)
	default:
		w.completeAccess(ctx, log, job, held, false)
	}
}

func (w *Worker) findAssignment(ctx context.Context, p adminapi.Principal, roleID string) (adminapi.AssignedRole, bool, error) {
	callCtx, cancel := context.WithTimeout(ctx, w.cfg.CallTimeout)
	defer cancel()
	return w.cfg.Upstream.FindAssignment(callCtx, p, roleID)
}

func (w *Worker) completeAccess(ctx context.Context, log *slog.Logger, job *rolegate.Job, held adminapi.AssignedRole, adopted bool) {
	w.complete(ctx, log, job, held.Role, adopted)
}
