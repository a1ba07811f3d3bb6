package postgres

import (
	"context"
	"encoding/csv"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strconv"

	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/rolegate/rolegate/internal/audit"
	"github.com/rolegate/rolegate/internal/rolegate"
)

// copyEvents appends events to the empty trail of db in bulk (COPY), as
// appendEvent would one by one: numbered from 1, chained, each made a
// leaf of the tree, with its search vector and scope, and counted among
// its action's and actor's events; an event without a time gets the
// clock's. For tests and benchmarks that need large trails: appending tens
// of thousands of events one transaction at a time takes minutes under
// the race detector.
func copyEvents(ctx context.Context, conn *pgxpool.Conn, db *DB, events func(yield func(rolegate.Event) error) error) error {
	var head int64
	if err := conn.QueryRow(ctx, `SELECT COALESCE(MAX(seq), 0) FROM audit_events`).Scan(&head); err != nil {
		return err
	}
	if head != 0 {
		return errors.New("copyEvents needs an empty trail")
	}
	// The counts of actions and actors are written from the events at the
	// end rather than by the trigger row by row (most of the time of a
	// COPY of a few thousand events).
	if _, err := conn.Exec(ctx, `ALTER TABLE audit_events DISABLE TRIGGER audit_events_counted`); err != nil {
		return err
	}
	var tree []tlog.Hash
	pr, pw := io.Pipe()
	go func() {
		w := csv.NewWriter(pw)
		var seq, at int64
		prev := audit.GenesisHash
		err := events(func(e rolegate.Event) error {
			seq++
			e.Seq, e.PrevHash = seq, prev
			if e.At.IsZero() {
				e.At = db.now()
			}
			e.At = fromMS(max(ms(e.At), at))
			at = ms(e.At)
			e = e.ValidUTF8()
			var leaf tlog.Hash
			var err error
			if e.Hash, leaf, err = audit.Hashes(e); err != nil {
				return err
			}
			prev = e.Hash
			hashes, err := tlog.StoredHashesForRecordHash(e.Seq-1, leaf, sliceHashes(tree))
			if err != nil {
				return err
			}
			tree = append(tree, hashes...)
			rid := `\N`
			if e.RequestID != 0 {
				rid = strconv.FormatInt(e.RequestID, 10)
			}
			return w.Write([]string{strconv.FormatInt(e.Seq, 10), strconv.FormatInt(ms(e.At), 10),
				e.ActorKey, e.ActorEmail, e.ActorName, e.ActorRoles, e.Action, rid, e.RoleName, e.Outcome,
				string(e.Details), e.ClientIP, e.UserAgent, e.HTTPReqID, e.PrevHash, e.Hash,
				searchVector(e), detailsScope(e.Details)})
		})
		w.Flush()
		if err == nil {
			err = w.Error()
		}
		pw.CloseWithError(err)
	}()
	if _, err := conn.Conn().PgConn().CopyFrom(ctx, pr, `COPY audit_events (seq, at, actor_key, actor_email, actor_name,
		actor_roles, action, request_id, role_name, outcome, details, client_ip, user_agent, http_request_id, prev_hash, hash,
		search, details_scope) FROM STDIN (FORMAT csv, NULL '\N')`); err != nil {
		pr.CloseWithError(err)
		return fmt.Errorf("copy the events: %w", err)
	}
	pr, pw = io.Pipe()
	go func() {
		w := csv.NewWriter(pw)
		for i, h := range tree {
			if err := w.Write([]string{strconv.Itoa(i), `\x` + hex.EncodeToString(h[:])}); err != nil {
				break
			}
		}
		w.Flush()
		pw.CloseWithError(w.Error())
	}()
	if _, err := conn.Conn().PgConn().CopyFrom(ctx, pr, `COPY audit_tree (id, hash) FROM STDIN (FORMAT csv)`); err != nil {
		pr.CloseWithError(err)
		return fmt.Errorf("copy the tree: %w", err)
	}
	for _, sql := range []string{
		`INSERT INTO audit_actions (action, events) SELECT action, count(*) FROM audit_events GROUP BY action`,
		`INSERT INTO audit_actors (actor_key, actor_email, actor_name, events)
			SELECT actor_key, actor_email, actor_name, count(*) FROM audit_events GROUP BY 1, 2, 3`,
		`ALTER TABLE audit_events ENABLE TRIGGER audit_events_counted`,
	} {
		if _, err := conn.Exec(ctx, sql); err != nil {
			return fmt.Errorf("%s: %w", sql, err)
		}
	}
	return nil
}

// sliceHashes serves the tree's hashes from memory, indexed as stored.
type sliceHashes []tlog.Hash

func (s sliceHashes) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(indexes))
	for i, idx := range indexes {
		if idx < 0 || idx >= int64(len(s)) {
			return nil, fmt.Errorf("tree hash %d not made yet", idx)
		}
		out[i] = s[idx]
	}
	return out, nil
}

// CopyEvents is copyEvents for the package's external tests.
func CopyEvents(ctx context.Context, db *DB, events []rolegate.Event) error {
	conn, err := db.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	return copyEvents(ctx, conn, db, func(yield func(rolegate.Event) error) error {
		for _, e := range events {
			if err := yield(e); err != nil {
				return err
			}
		}
		return nil
	})
}
