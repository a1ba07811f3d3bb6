package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/rolegate/rolegate/internal/audit"
	"github.com/rolegate/rolegate/internal/rolegate"
)

// Trail is the audit trail: its events are appended by the transaction
// whose change they record (appendEvent).
type Trail struct{ db *DB }

// NewTrail returns the audit trail over db.
func NewTrail(db *DB) *Trail { return &Trail{db: db} }

// appendLock is the advisory lock every append takes for the rest of its
// transaction ("rolegate audit" as a number: any fixed key will do, as
// long as every rolegate uses the same).
const appendLock int64 = 0x726f6c6567617465

// appendEvent adds e to the trail inside tx, chaining it to the previous
// event, and fills in what the trail gave it (Seq, At, the hashes).
//
// Appends from every process are serialized by a transaction-level
// advisory lock, held until commit or rollback: the head read after
// taking it is the last committed event (READ COMMITTED reads what
// committed before each statement), and no other append can read that
// head until this transaction ends. So seq has no gaps or duplicates and
// the chain and the tree grow from the true head. A transaction that rolls
// back leaves no trace: the next append reads the same head.
func (tx *Tx) appendEvent(ctx context.Context, e *rolegate.Event) error {
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, appendLock); err != nil {
		return fmt.Errorf("postgres: lock the audit trail: %w", err)
	}
	var prevSeq, prevAt int64
	prevHash := audit.GenesisHash
	err := tx.QueryRow(ctx, `SELECT seq, at, hash FROM audit_events ORDER BY seq DESC LIMIT 1`).Scan(&prevSeq, &prevAt, &prevHash)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("postgres: read audit head: %w", err)
	}
	e.Seq = prevSeq + 1
	// The trail's time never goes backwards, whichever node's clock is
	// behind: seq order is time order (the audit search relies on it).
	e.At = tx.now
	if ms(e.At) < prevAt {
		e.At = fromMS(prevAt)
	}
	e.PrevHash = prevHash
	// Every text enters the trail as valid UTF-8 (internal/audit/chain.go).
	*e = e.ValidUTF8()
	var leaf tlog.Hash
	if e.Hash, leaf, err = audit.Hashes(*e); err != nil {
		return fmt.Errorf("postgres: append audit event %s: %w", e.Action, err)
	}
	var requestID *int64
	if e.RequestID != 0 {
		requestID = &e.RequestID
	}
	_, err = tx.Exec(ctx, `
		INSERT INTO audit_events (seq, at, actor_key, actor_email, actor_name, actor_roles, action,
			request_id, role_name, outcome, details, client_ip, user_agent, http_request_id, prev_hash, hash,
			search, details_scope)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17::tsvector, $18)`,
		e.Seq, ms(e.At), e.ActorKey, e.ActorEmail, e.ActorName, e.ActorRoles, e.Action,
		requestID, e.RoleName, e.Outcome, string(e.Details), e.ClientIP, e.UserAgent, e.HTTPReqID, e.PrevHash, e.Hash,
		searchVector(*e), detailsScope(e.Details))
	if err != nil {
		return fmt.Errorf("postgres: append audit event %s: %w", e.Action, err)
	}
	// The event becomes the tree's next leaf in the same transaction, so a
	// committed event is always provable (audit_tree.go).
	if err := storeLeaf(ctx, tx, e.Seq, leaf); err != nil {
		return err
	}
	tx.appended = append(tx.appended, e.Action)
	return nil
}

// AppendEvent records an event that accompanies no other change (a failed
// sign-in, an access denied, an export).
func (t *Trail) AppendEvent(ctx context.Context, e rolegate.Event) error {
	return t.db.update(ctx, func(tx *Tx) error { return tx.appendEvent(ctx, &e) })
}

const eventColumns = `seq, at, actor_key, actor_email, actor_name, actor_roles, action,
	COALESCE(request_id, 0), role_name, outcome, details, client_ip, user_agent, http_request_id, prev_hash, hash`

func scanEvent(row pgx.Row) (rolegate.Event, error) {
	var e rolegate.Event
	var at int64
	var details string
	err := row.Scan(&e.Seq, &at, &e.ActorKey, &e.ActorEmail, &e.ActorName, &e.ActorRoles, &e.Action,
		&e.RequestID, &e.RoleName, &e.Outcome, &details, &e.ClientIP, &e.UserAgent, &e.HTTPReqID, &e.PrevHash, &e.Hash)
	e.At = fromMS(at)
	e.Details = []byte(details)
	return e, err
}

// RequestEvents returns a request's events, oldest first: its timeline.
func (t *Trail) RequestEvents(ctx context.Context, requestID int64) ([]rolegate.Event, error) {
	return queryEvents(ctx, t.db.pool, `SELECT `+eventColumns+` FROM audit_events WHERE request_id = $1 ORDER BY seq`, requestID)
}

// WalkAuditTrail calls fn for every event in seq order, from one
// consistent snapshot (audit verify). It stops at fn's first error.
func (t *Trail) WalkAuditTrail(ctx context.Context, fn func(rolegate.Event) error) error {
	return t.db.snapshot(ctx, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT `+eventColumns+` FROM audit_events ORDER BY seq`)
		if err != nil {
			return fmt.Errorf("postgres: walk audit trail: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			e, err := scanEvent(rows)
			if err != nil {
				return fmt.Errorf("postgres: walk audit trail: %w", err)
			}
			if err := fn(e); err != nil {
				return err
			}
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("postgres: walk audit trail: %w", err)
		}
		return nil
	})
}

func queryEvents(ctx context.Context, q querier, sql string, args ...any) ([]rolegate.Event, error) {
	rows, err := q.Query(ctx, sql, args...)
	if err != nil {
		return nil, fmt.Errorf("postgres: read audit events: %w", err)
	}
	defer rows.Close()
	var events []rolegate.Event
	for rows.Next() {
		e, err := scanEvent(rows)
		if err != nil {
			return nil, fmt.Errorf("postgres: read audit events: %w", err)
		}
		events = append(events, e)
	}
	return events, rows.Err()
}
