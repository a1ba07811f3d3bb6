package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/rolegate/rolegate/internal/audit"
	"github.com/rolegate/rolegate/internal/rolegate"
)

// Trail is the audit trail (audit.Trail): its events are appended by the
// transaction whose change they record (appendEvent); here too are the
// searches, exports, proofs and checkpoints that read it, and the event
// that accompanies no other change.
type Trail struct{ db *DB }

// NewTrail returns the audit trail over db.
func NewTrail(db *DB) *Trail { return &Trail{db: db} }

// appendEvent adds e to the trail inside tx, chaining it to the previous
// event, and fills in what the trail gave it (Seq, At, the hashes). Writes
// are serialized by the single write connection, so reading the head and
// inserting after it cannot interleave with another append.
func (tx *Tx) appendEvent(ctx context.Context, e *rolegate.Event) error {
	var prevSeq, prevAt int64
	prevHash := audit.GenesisHash
	err := tx.QueryRowContext(ctx, `SELECT seq, at, hash FROM audit_events ORDER BY seq DESC LIMIT 1`).Scan(&prevSeq, &prevAt, &prevHash)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("sqlite: read audit head: %w", err)
	}
	e.Seq = prevSeq + 1
	// The trail's time never goes backwards (a clock stepped back by NTP
	// keeps the previous event's time), so seq order is time order: the
	// audit search turns From and To into a range of seq (audit_query.go)
	// and audit verify checks it.
	e.At = tx.now
	if ms(e.At) < prevAt {
		e.At = fromMS(prevAt)
	}
	e.PrevHash = prevHash
	// Every text enters the trail as valid UTF-8, whoever built the event:
	// the hash refuses anything else (internal/audit/chain.go).
	*e = e.ValidUTF8()
	var leaf tlog.Hash
	if e.Hash, leaf, err = audit.Hashes(*e); err != nil {
		return fmt.Errorf("sqlite: append audit event %s: %w", e.Action, err)
	}
	var requestID any
	if e.RequestID != 0 {
		requestID = e.RequestID
	}
	_, err = tx.ExecContext(ctx, `
		INSERT INTO audit_events (seq, at, actor_key, actor_email, actor_name, actor_roles, action,
			request_id, role_name, outcome, details, client_ip, user_agent, http_request_id, prev_hash, hash)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		e.Seq, ms(e.At), e.ActorKey, e.ActorEmail, e.ActorName, e.ActorRoles, e.Action,
		requestID, e.RoleName, e.Outcome, string(e.Details), e.ClientIP, e.UserAgent, e.HTTPReqID, e.PrevHash, e.Hash)
	if err != nil {
		return fmt.Errorf("sqlite: append audit event %s: %w", e.Action, err)
	}
	// The event becomes the tree's next leaf in the same transaction, so a
	// committed event is always provable (audit_tree.go).
	if _, err := storeLeaf(ctx, tx.sqlConn, treeReader{ctx: ctx, q: tx.sqlConn}, e.Seq, leaf); err != nil {
		return err
	}
	// Counted once the transaction commits: a rolled-back event never happened.
	tx.appended = append(tx.appended, e.Action)
	return nil
}

// AppendEvent records an event that accompanies no other change (a failed
// sign-in, an access denied, an export).
func (t *Trail) AppendEvent(ctx context.Context, e rolegate.Event) error {
	return t.db.update(ctx, func(tx *Tx) error { return tx.appendEvent(ctx, &e) })
}

// OnEventAppended registers a callback run for every event appended (metrics).
// It must be set before the database is shared.
func (db *DB) OnEventAppended(fn func(action string)) { db.onEvent = fn }

const eventColumns = `seq, at, actor_key, actor_email, actor_name, actor_roles, action,
	COALESCE(request_id, 0), role_name, outcome, details, client_ip, user_agent, http_request_id, prev_hash, hash`

type scanner interface{ Scan(dest ...any) error }

func scanEvent(row scanner) (rolegate.Event, error) {
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
	return requestEvents(ctx, t.db.readStmts, requestID)
}

func requestEvents(ctx context.Context, q querier, requestID int64) ([]rolegate.Event, error) {
	rows, err := q.QueryContext(ctx, `SELECT `+eventColumns+` FROM audit_events
		WHERE request_id = ? ORDER BY seq`, requestID)
	if err != nil {
		return nil, fmt.Errorf("sqlite: request events: %w", err)
	}
	defer rows.Close()
	var events []rolegate.Event
	for rows.Next() {
		e, err := scanEvent(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlite: request events: %w", err)
		}
		events = append(events, e)
	}
	return events, rows.Err()
}
