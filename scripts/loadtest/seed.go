package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/url"
	"time"

	"github.com/rolegate/rolegate/internal/app"
	"github.com/rolegate/rolegate/internal/audit"
	"github.com/rolegate/rolegate/internal/rolegate"
	"github.com/rolegate/rolegate/internal/sqlite"
)

// seedTrail creates the database at path (migrated by rolegate's own code)
// and appends n audit events of a plausible portal's life, chained exactly
// as the portal chains them, with the schema's triggers (search index)
// firing as in production. It writes in large transactions with
// synchronous=OFF: this is set-up, not what is measured.
func seedTrail(ctx context.Context, path string, n int) error {
	db, err := app.OpenStore(ctx, path)
	if err != nil {
		return err
	}
	if err := db.Close(); err != nil {
		return err
	}
	if n == 0 {
		return nil
	}
	q := url.Values{}
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(OFF)")
	q.Add("_pragma", "foreign_keys(1)")
	raw, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return err
	}
	defer raw.Close()
	raw.SetMaxOpenConns(1)

	rng := rand.New(rand.NewPCG(8, 8))
	actions := []struct {
		action, outcome string
		request         bool
	}{
		{rolegate.ActionSignInSucceeded, rolegate.OutcomeSuccess, false},
		{rolegate.ActionSignInSucceeded, rolegate.OutcomeSuccess, false},
		{rolegate.ActionSignOut, rolegate.OutcomeSuccess, false},
		{rolegate.ActionRequestCreated, rolegate.OutcomeSuccess, true},
		{rolegate.ActionRequestApproved, rolegate.OutcomeSuccess, true},
		{rolegate.ActionProvisioningQueued, rolegate.OutcomeSuccess, true},
		{rolegate.ActionProvisioningAttempt, rolegate.OutcomeSuccess, true},
		{rolegate.ActionProvisioningSucceeded, rolegate.OutcomeSuccess, true},
		{rolegate.ActionRequestRejected, rolegate.OutcomeSuccess, true},
		{rolegate.ActionAccessDenied, rolegate.OutcomeDenied, false},
	}
	words := []string{"billing", "analytics", "support", "onboarding", "incident", "audit", "research", "finetune", "batch", "vector"}
	start := time.Now().Add(-3 * 365 * 24 * time.Hour).UTC().Truncate(time.Millisecond)
	step := 3 * 365 * 24 * time.Hour / time.Duration(n)
	prev := audit.GenesisHash
	const batch = 100_000
	for from := 0; from < n; from += batch {
		tx, err := raw.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		stmt, err := tx.PrepareContext(ctx, `INSERT INTO audit_events (seq, at, actor_key, actor_email, actor_name,
			actor_roles, action, request_id, role_name, outcome, details, client_ip, user_agent, http_request_id, prev_hash, hash)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
		if err != nil {
			tx.Rollback()
			return fmt.Errorf("prepare the seed insert (has the audit_events schema changed?): %w", err)
		}
		for i := from; i < min(from+batch, n); i++ {
			a := actions[rng.IntN(len(actions))]
			person := rng.IntN(2000)
			e := rolegate.Event{
				Seq: int64(i + 1), At: start.Add(time.Duration(i) * step),
				ActorKey:   fmt.Sprintf("https://idp.example.com|employee-%04d", person),
				ActorEmail: fmt.Sprintf("employee%04d@example.com", person), ActorName: fmt.Sprintf("Employee %04d", person),
				ActorRoles: "requester", Action: a.action, Outcome: a.outcome,
				ClientIP: fmt.Sprintf("10.%d.%d.%d", rng.IntN(256), rng.IntN(256), rng.IntN(256)), UserAgent: "Mozilla/5.0 (X11; Linux x86_64)",
				HTTPReqID: fmt.Sprintf("%024x", rng.Uint64()), PrevHash: prev,
			}
			details := map[string]any{}
			var requestID any
			if a.request {
				e.RequestID = int64(1_000_000 + i/10)
				requestID = e.RequestID
				e.RoleName = fmt.Sprintf("%s %s %d", words[rng.IntN(len(words))], words[rng.IntN(len(words))], i/10)
				details["permissions"] = []string{"api.groups.read", "api.projects.read"}
			}
			e.Details, _ = json.Marshal(details)
			if e.Hash, err = audit.Hash(e); err != nil {
				stmt.Close()
				tx.Rollback()
				return fmt.Errorf("seed event %d: %w", e.Seq, err)
			}
			prev = e.Hash
			if _, err := stmt.ExecContext(ctx, e.Seq, e.At.UnixMilli(), e.ActorKey, e.ActorEmail, e.ActorName, e.ActorRoles,
				e.Action, requestID, e.RoleName, e.Outcome, string(e.Details), e.ClientIP, e.UserAgent, e.HTTPReqID,
				e.PrevHash, e.Hash); err != nil {
				stmt.Close()
				tx.Rollback()
				return fmt.Errorf("seed event %d: %w", e.Seq, err)
			}
		}
		stmt.Close()
		if err := tx.Commit(); err != nil {
			return err
		}
	}
	// The events written here, around the append, become the Merkle
	// tree's leaves as migration 00009 makes an older trail's.
	sdb, err := sqlite.Open(ctx, path) // migrated above: opening changes nothing
	if err != nil {
		return err
	}
	if _, err := sqlite.NewTrail(sdb).CatchUpAuditTree(ctx); err != nil {
		sdb.Close()
		return err
	}
	if err := sdb.Close(); err != nil {
		return err
	}
	_, err = raw.ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`)
	return err
}
