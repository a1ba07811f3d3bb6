package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"

	"github.com/rolegate/rolegate/internal/audit"
	"github.com/rolegate/rolegate/internal/rolegate"
	"github.com/rolegate/rolegate/internal/sqlrows"
)

// Audit search sizes.
const (
	AuditPageSize    = 50  // events per page unless the filter asks otherwise
	auditPageSizeMax = 500 // the most a page may ask for
)

// auditColumns are eventColumns for the table aliased e (the full-text
// table shares some column names).
const auditColumns = `e.seq, e.at, e.actor_key, e.actor_email, e.actor_name, e.actor_roles, e.action,
	COALESCE(e.request_id, 0), e.role_name, e.outcome, e.details, e.client_ip, e.user_agent, e.http_request_id, e.prev_hash, e.hash`

// SearchEvents returns a page of the events matching f, newest first, and
// the cursor of the next page (f.BeforeSeq for it), 0 when there is none.
//
// Each search is a walk down one index in seq order that stops after a
// page: by request, action, actor, the full-text index, or seq itself.
// From and To become a range of seq (the trail's time never goes
// backwards), and the walk is chosen by the fewest rows it is expected to
// read before the page is full, from the per-action, per-actor and
// per-word counts. With 1,000,000 events every single filter and the
// usual combinations answer in milliseconds (README, "Audit trail").
func (t *Trail) SearchEvents(ctx context.Context, f rolegate.AuditFilter) ([]rolegate.Event, int64, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = AuditPageSize
	}
	limit = min(limit, auditPageSizeMax)
	tx, err := t.db.readPool.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, 0, fmt.Errorf("sqlite: search audit: %w", err)
	}
	defer tx.Rollback()
	p, err := planAuditQuery(ctx, tx, f, limit+1)
	if err != nil || p.empty {
		return nil, 0, err
	}
	query, args := p.sql(true, limit+1)
	rows, err := tx.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, 0, fmt.Errorf("sqlite: search audit: %w", err)
	}
	defer rows.Close()
	var events []rolegate.Event
	for rows.Next() {
		e, err := scanEvent(rows)
		if err != nil {
			return nil, 0, fmt.Errorf("sqlite: search audit: %w", err)
		}
		events = append(events, e)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, fmt.Errorf("sqlite: search audit: %w", err)
	}
	var next int64
	if len(events) > limit {
		events = events[:limit]
		next = events[limit-1].Seq
	}
	return events, next, nil
}

// CountEvents counts the events matching f (f.BeforeSeq and f.Limit
// ignored), up to most: beyond it, it says only that there are more
// (more true), so that a broad search stops after most+1 matches. When
// the count is expected to cost more than sqlrows.MaxAuditCountCost (about
// 50 ms; only free text combined with another filter gets there, on a
// large trail: docs/PERFORMANCE.md) it does not count, and returns
// audit.ErrNotCounted: the rule PostgreSQL declines by, from the same
// estimates.
//
// A count needs no order, so it walks as a page would if a page were
// most+1 events long, and also down several runs of an index at once (an
// action family, several people), which a page must sort. It reads only
// what the filters need: the seq range alone is counted without reading
// anything (seq has no gaps), free text alone in the full-text index
// alone, one filter's index alone without the events (README, "Audit
// trail", measured at a million events).
func (t *Trail) CountEvents(ctx context.Context, f rolegate.AuditFilter, most int) (n int, more bool, err error) {
	f.BeforeSeq, f.Limit = 0, 0
	tx, err := t.db.readPool.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return 0, false, fmt.Errorf("sqlite: count audit: %w", err)
	}
	defer tx.Rollback()
	p, err := planAuditQuery(ctx, tx, f, most+1)
	if err != nil || p.empty {
		return 0, false, err
	}
	if countCost(p.cands, float64(p.hi-p.lo), most+1, p.prefix) > sqlrows.MaxAuditCountCost && !p.rangeOnly() {
		return 0, false, audit.ErrNotCounted
	}
	p.walk, p.probe = chooseCountWalk(p.cands, float64(p.hi-p.lo), most+1, p.prefix)
	if p.rangeOnly() {
		n = int(min(p.hi-p.lo, int64(most)+1))
	} else {
		query, args := p.countSQL(most + 1)
		if err := tx.QueryRowContext(ctx, query, args...).Scan(&n); err != nil {
			return 0, false, fmt.Errorf("sqlite: count audit: %w", err)
		}
	}
	if n > most {
		return most, true, nil
	}
	return n, false, nil
}

// ExportEvents calls fn for every event matching f (f.BeforeSeq and
// f.Limit are ignored), oldest first, from one consistent snapshot of the
// trail, one row at a time: memory stays constant however many match. It
// stops at fn's first error.
func (t *Trail) ExportEvents(ctx context.Context, f rolegate.AuditFilter, fn func(rolegate.Event) error) error {
	return t.exportEvents(ctx, f, false, func(e rolegate.Event, _ *audit.Proof) error { return fn(e) })
}

// ExportProvedEvents is ExportEvents with each event's inclusion proof,
// for a filtered export whose lines must each be checkable alone. An
// event covered by the latest checkpoint recorded in the trail is proved
// in that checkpoint's tree, which the proof carries; a newer one, in the
// tree of the whole trail as the snapshot holds it (no checkpoint signs it
// yet). Each proof costs a few dozen hashes read.
func (t *Trail) ExportProvedEvents(ctx context.Context, f rolegate.AuditFilter, fn func(rolegate.Event, *audit.Proof) error) error {
	return t.exportEvents(ctx, f, true, fn)
}

func (t *Trail) exportEvents(ctx context.Context, f rolegate.AuditFilter, prove bool, fn func(rolegate.Event, *audit.Proof) error) error {
	f.BeforeSeq, f.Limit = 0, 0
	tx, err := t.db.readPool.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return fmt.Errorf("sqlite: export audit: %w", err)
	}
	defer tx.Rollback()
	var cp audit.Checkpoint
	var note []byte
	var size int64
	if prove {
		if cp, note, _, err = latestCheckpoint(ctx, tx, -1); err != nil {
			return err
		}
		if note == nil {
			cp = audit.Checkpoint{}
		}
		if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(seq), 0) FROM audit_events`).Scan(&size); err != nil {
			return fmt.Errorf("sqlite: export audit: %w", err)
		}
	}
	p, err := planAuditQuery(ctx, tx, f, 0)
	if err != nil || p.empty {
		return err
	}
	query, args := p.sql(false, 0)
	rows, err := tx.QueryContext(ctx, query, args...)
	if err != nil {
		return fmt.Errorf("sqlite: export audit: %w", err)
	}
	defer rows.Close()
	// Proved events go out in batches whose proofs are read with one
	// query each (proveEvents); memory stays bounded by the batch.
	const batch = 256
	var pending []rolegate.Event
	flush := func() error {
		var inCP, after []int64
		for _, e := range pending {
			if e.Seq <= cp.Size {
				inCP = append(inCP, e.Seq)
			} else {
				after = append(after, e.Seq)
			}
		}
		cpProofs, err := proveEvents(ctx, tx, inCP, cp.Size)
		if err != nil {
			return err
		}
		afterProofs, err := proveEvents(ctx, tx, after, size)
		if err != nil {
			return err
		}
		for i, e := range pending {
			p := &audit.Proof{TreeSize: cp.Size, Checkpoint: string(note)}
			if i < len(inCP) {
				p.Hashes = cpProofs[i]
			} else {
				p = &audit.Proof{TreeSize: size, Hashes: afterProofs[i-len(inCP)]}
			}
			if err := fn(e, p); err != nil {
				return err
			}
		}
		pending = pending[:0]
		return nil
	}
	for rows.Next() {
		e, err := scanEvent(rows)
		if err != nil {
			return fmt.Errorf("sqlite: export audit: %w", err)
		}
		if !prove {
			if err := fn(e, nil); err != nil {
				return err
			}
			continue
		}
		if pending = append(pending, e); len(pending) == batch {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("sqlite: export audit: %w", err)
	}
	return flush()
}

// AuditActions lists the actions recorded so far, for the Action filter's
// choices.
func (t *Trail) AuditActions(ctx context.Context) ([]string, error) {
	rows, err := t.db.readPool.QueryContext(ctx, `SELECT action FROM audit_actions ORDER BY action`)
	if err != nil {
		return nil, fmt.Errorf("sqlite: audit actions: %w", err)
	}
	defer rows.Close()
	var actions []string
	for rows.Next() {
		var a string
		if err := rows.Scan(&a); err != nil {
			return nil, fmt.Errorf("sqlite: audit actions: %w", err)
		}
		actions = append(actions, a)
	}
	return actions, rows.Err()
}

// WalkAuditTrail calls fn for every event in seq order, from one
// consistent snapshot (audit verify). It stops at fn's first error.
func (t *Trail) WalkAuditTrail(ctx context.Context, fn func(rolegate.Event) error) error {
	tx, err := t.db.readPool.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return fmt.Errorf("sqlite: walk audit trail: %w", err)
	}
	defer tx.Rollback()
	rows, err := tx.QueryContext(ctx, `SELECT `+eventColumns+` FROM audit_events ORDER BY seq`)
	if err != nil {
		return fmt.Errorf("sqlite: walk audit trail: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		e, err := scanEvent(rows)
		if err != nil {
			return fmt.Errorf("sqlite: walk audit trail: %w", err)
		}
		if err := fn(e); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("sqlite: walk audit trail: %w", err)
	}
	return nil
}

// The indexes a search can walk.
type auditWalk int

const (
	walkSeq     auditWalk = iota // the table itself, in seq order
	walkRequest                  // audit_events_by_request
	walkAction                   // audit_events_by_action
	walkActor                    // audit_events_by_actor
	walkText                     // the full-text index, whose rowid is seq
	walkScope                    // audit_events_by_scope and the scope's requests' events, gathered and sorted
)

// The Scope filter's two halves, each the seq of its events in a range
// (args: the scope, lo, hi): those whose details name the scope, through
// audit_events_by_scope (migration 00016 writes the same expressions:
// SQLite uses an index on an expression, or a partial index, only for a
// query that writes them alike), and those of the scope's requests, each
// request's through audit_events_by_request (requests first, so that a
// count stops at its cap without gathering the organization's requests).
const (
	scopeNamedEvents = `SELECT seq FROM audit_events INDEXED BY audit_events_by_scope
		WHERE instr(details, '"scope"') > 0 AND (CASE WHEN json_valid(details) THEN json_extract(details, '$.scope') END) = ?
		AND seq >= ? AND seq < ?`
	scopeRequestedEvents = `SELECT s.seq FROM requests AS r CROSS JOIN audit_events AS s INDEXED BY audit_events_by_request
		WHERE r.scope = ? AND s.request_id = r.id AND s.seq >= ? AND s.seq < ?`
	// scopeCountCap bounds the planner's count of each half. Past it, a
	// walk that gathers and sorts every event of the scope costs more than
	// reading the trail newest first until a page is found, so the exact
	// number does not matter.
	scopeCountCap = 8192
)

// auditPlan is a search made ready: the range of seq, the filters resolved
// to what the indexes hold, and the walk chosen.
type auditPlan struct {
	f      rolegate.AuditFilter
	lo, hi int64 // seq in [lo, hi)
	empty  bool  // nothing can match: no query needed

	actions   []string // the Action filter resolved to recorded actions
	actorKeys []string // the Actor filter resolved to people
	match     string   // the full-text query
	prefix    bool     // the text has a word ending in *
	walk      auditWalk
	probe     bool        // check the text row by row rather than gathering it first
	cands     []candidate // the walks the filters offer, for a count's own choice
}

// rangeOnly reports whether the plan filters by the seq range alone (no
// filter, or From and To): its events are every seq in the range.
func (p *auditPlan) rangeOnly() bool {
	return p.f.RequestID == 0 && len(p.actions) == 0 && len(p.actorKeys) == 0 && p.match == "" && p.f.Scope == ""
}

// The costs of reading one event in each walk, in units of one row of
// audit_events read in seq order (about a microsecond). Measured with the
// benchmark (audit_query_bench_test.go).
const (
	costIndexRow = 1.5 // an index entry, then its row
	costTextRow  = 2   // a full-text entry, then its row
	// When another walk drives, each row read is checked against the free
	// text either by a lookup in the full-text index (which parses and
	// starts the query again: costly per row) or among the events holding
	// the text in the range, gathered first (costly per event gathered).
	costTextProbe    = 100
	costTextGathered = 1.2
)

// textSample is how many of the newest events of the range are searched
// to estimate the share of events that hold the text.
const textSample = 4096

// candidate is a walk the plan may take and what the filter behind it
// keeps.
type candidate struct {
	walk    auditWalk
	inRange float64 // its events in the seq range (estimated)
	multi   bool    // several runs of its index (an action family, several people), merged by sorting
}

// planAuditQuery resolves f and chooses the walk; page is the rows wanted
// (0 for all of them: an export).
func planAuditQuery(ctx context.Context, tx *sql.Tx, f rolegate.AuditFilter, page int) (*auditPlan, error) {
	p := &auditPlan{f: f}
	var total int64
	if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(seq), 0) FROM audit_events`).Scan(&total); err != nil {
		return nil, fmt.Errorf("sqlite: audit head: %w", err)
	}
	p.lo, p.hi = 1, total+1
	if f.BeforeSeq > 0 {
		p.hi = min(p.hi, f.BeforeSeq)
	}
	// From and To to seq: the first event at or after each, found in the
	// (at, seq) index.
	firstAtOrAfter := func(ms int64) (int64, bool, error) {
		var seq int64
		err := tx.QueryRowContext(ctx, `SELECT seq FROM audit_events WHERE at >= ? ORDER BY at, seq LIMIT 1`, ms).Scan(&seq)
		if errors.Is(err, sql.ErrNoRows) {
			return 0, false, nil
		}
		return seq, err == nil, err
	}
	if !f.From.IsZero() {
		seq, ok, err := firstAtOrAfter(ms(f.From))
		if err != nil {
			return nil, fmt.Errorf("sqlite: audit search from: %w", err)
		}
		if !ok {
			p.empty = true
			return p, nil
		}
		p.lo = max(p.lo, seq)
	}
	if !f.To.IsZero() {
		seq, ok, err := firstAtOrAfter(ms(f.To))
		if err != nil {
			return nil, fmt.Errorf("sqlite: audit search to: %w", err)
		}
		if ok {
			p.hi = min(p.hi, seq)
		}
	}

	// Resolve each filter and estimate how many events it keeps.
	var cands []candidate
	frac := func() float64 { return float64(p.hi-p.lo) / float64(max(total, 1)) }
	if f.RequestID != 0 {
		// A request's events are few: its first and last narrow the range.
		var n, first, last int64
		err := tx.QueryRowContext(ctx, `SELECT count(*), COALESCE(MIN(seq), 0), COALESCE(MAX(seq), 0)
			FROM audit_events INDEXED BY audit_events_by_request WHERE request_id = ?`, f.RequestID).Scan(&n, &first, &last)
		if err != nil {
			return nil, fmt.Errorf("sqlite: audit search request: %w", err)
		}
		p.lo, p.hi = max(p.lo, first), min(p.hi, last+1)
		cands = append(cands, candidate{walk: walkRequest, inRange: float64(n)})
	}
	if p.lo >= p.hi {
		p.empty = true
		return p, nil
	}
	if f.Action != "" {
		n, err := p.resolveActions(ctx, tx)
		if err != nil {
			return nil, err
		}
		cands = append(cands, candidate{walk: walkAction, inRange: float64(n) * frac(), multi: len(p.actions) > 1})
	}
	if f.Actor != "" {
		n, err := p.resolveActor(ctx, tx)
		if err != nil {
			return nil, err
		}
		cands = append(cands, candidate{walk: walkActor, inRange: float64(n) * frac(), multi: len(p.actorKeys) > 1})
	}
	if f.Action != "" && len(p.actions) == 0 || f.Actor != "" && len(p.actorKeys) == 0 {
		p.empty = true // an action or a person never recorded
		return p, nil
	}
	if f.Scope != "" {
		n, err := p.countScope(ctx, tx)
		if err != nil {
			return nil, err
		}
		cands = append(cands, candidate{walk: walkScope, inRange: n, multi: true})
	}
	if f.Text != "" {
		words := audit.TextWords(f.Text)
		p.match, p.prefix = ftsMatch(words)
		if p.match == "" {
			p.empty = true
			return p, nil
		}
		share := 1.0
		if !p.prefix { // a prefix is slow to sample (and walks the full-text index anyway)
			from := max(p.lo, p.hi-textSample)
			var n int64
			err := tx.QueryRowContext(ctx, `SELECT count(*) FROM audit_events_fts WHERE audit_events_fts MATCH ? AND rowid >= ? AND rowid < ?`,
				p.match, from, p.hi).Scan(&n)
			if err != nil {
				return nil, fmt.Errorf("sqlite: audit search text: %w", err)
			}
			share = (float64(n) + 0.5) / float64(p.hi-from+1)
		}
		cands = append(cands, candidate{walk: walkText, inRange: share * float64(p.hi-p.lo)})
	}
	p.cands = cands
	p.walk, p.probe = chooseWalk(cands, float64(p.hi-p.lo), page, p.prefix)
	return p, nil
}

// chooseWalk returns the walk expected to cost least, and how it checks
// the free text. A walk down one index reads its events in the range until
// page of them have also passed the other filters (each assumed
// independent of the others); a walk over several runs of an index reads
// them all and sorts; an export (page 0) reads all it walks, and never
// sorts, to stream in constant memory. A walk other than the full-text
// index's checks each row it reads against the text, by a lookup or among
// the events gathered first. A prefix (a word ending in *) costs the
// full-text index the same however little is read, so its walk wins.
func chooseWalk(cands []candidate, inRange float64, page int, prefix bool) (walk auditWalk, probe bool) {
	walk, probe, _ = chooseWalkFor(cands, inRange, page, prefix, true)
	return walk, probe
}

// chooseCountWalk is chooseWalk for counting up to page events: no order,
// so a walk over several runs of an index stops as early as one over a
// single run.
func chooseCountWalk(cands []candidate, inRange float64, page int, prefix bool) (walk auditWalk, probe bool) {
	walk, probe, _ = chooseWalkFor(cands, inRange, page, prefix, false)
	return walk, probe
}

// countCost is the expected cost of counting up to page events: the
// cheapest walk's, by the rule both engines decline a count by
// (sqlrows.AuditCountCost, the cost chooseCountWalk's walk has).
func countCost(cands []candidate, inRange float64, page int, prefix bool) float64 {
	shared := make([]sqlrows.AuditCandidate, len(cands))
	for i, c := range cands {
		shared[i] = sqlrows.AuditCandidate{Text: c.walk == walkText, InRange: c.inRange}
	}
	return sqlrows.AuditCountCost(shared, inRange, page, prefix)
}

func chooseWalkFor(cands []candidate, inRange float64, page int, prefix, ordered bool) (walk auditWalk, probe bool, cost float64) {
	text := -1.0 // the events holding the text in the range; -1 without text
	for _, c := range cands {
		if c.walk == walkText {
			text = c.inRange
		}
	}
	bestCost := math.Inf(1)
	for _, c := range append([]candidate{{walk: walkSeq, inRange: inRange}}, cands...) {
		if prefix && c.walk != walkText {
			continue
		}
		multi := c.multi && ordered // unordered, several runs read like one
		if multi && page == 0 {
			continue
		}
		others := 1.0 // the share of this walk's events that pass the other filters
		for _, o := range cands {
			if o.walk != c.walk {
				others *= min(o.inRange/max(inRange, 1), 1)
			}
		}
		visited := c.inRange
		if page > 0 && !multi {
			visited = min(c.inRange, float64(page)/max(others, 1/max(inRange, 1)))
		}
		perRow := 1.0
		switch c.walk {
		case walkText:
			perRow = costTextRow
		case walkRequest, walkAction, walkActor:
			perRow = costIndexRow
		}
		c0, byProbe := visited*perRow, false
		if text >= 0 && c.walk != walkText {
			probes, gather := visited*costTextProbe, text*costTextGathered
			byProbe = probes < gather
			c0 += min(probes, gather)
		}
		if c0 < bestCost {
			walk, probe, bestCost = c.walk, byProbe, c0
		}
	}
	return walk, probe, bestCost
}

// scopeValues are the Scope filter's values: the label an event's details
// name, and the scope a request holds ("" for the organization).
func (p *auditPlan) scopeValues() (named, requested string) {
	if p.f.Scope == rolegate.ScopeLabelOrganization {
		return p.f.Scope, rolegate.ScopeOrganization
	}
	return p.f.Scope, p.f.Scope
}

// countScope estimates the events of the Scope filter in the range: those
// whose details name it and those of its requests, each counted up to
// scopeCountCap; a half past it counts as the whole range (a scope that
// common is found sooner by reading the trail).
func (p *auditPlan) countScope(ctx context.Context, tx *sql.Tx) (float64, error) {
	named, requested := p.scopeValues()
	total := 0.0
	for _, half := range []struct {
		events string
		scope  string
	}{{scopeNamedEvents, named}, {scopeRequestedEvents, requested}} {
		var n int64
		q := "SELECT count(*) FROM (" + half.events + " LIMIT ?)"
		if err := tx.QueryRowContext(ctx, q, half.scope, p.lo, p.hi, scopeCountCap).Scan(&n); err != nil {
			return 0, fmt.Errorf("sqlite: audit search scope: %w", err)
		}
		if n >= scopeCountCap {
			return float64(p.hi - p.lo), nil
		}
		total += float64(n)
	}
	return min(total, float64(p.hi-p.lo)), nil
}

// resolveActions turns the Action filter into the recorded actions it
// names (one, a family by prefix, or those with a word as one of their
// parts) and returns their events.
func (p *auditPlan) resolveActions(ctx context.Context, tx *sql.Tx) (int64, error) {
	var rows *sql.Rows
	var err error
	if strings.HasSuffix(p.f.Action, ".") {
		rows, err = tx.QueryContext(ctx, `SELECT action, events FROM audit_actions WHERE action >= ? AND action < ?`,
			p.f.Action, prefixEnd(p.f.Action))
	} else if !strings.Contains(p.f.Action, ".") {
		// A single word ("approved") names every action with that part,
		// as people say it: request.approved, or all the failures.
		rows, err = tx.QueryContext(ctx, `SELECT action, events FROM audit_actions
			WHERE instr('.' || action || '.', '.' || ?1 || '.') > 0`, p.f.Action)
	} else {
		rows, err = tx.QueryContext(ctx, `SELECT action, events FROM audit_actions WHERE action = ?`, p.f.Action)
	}
	if err != nil {
		return 0, fmt.Errorf("sqlite: audit search actions: %w", err)
	}
	defer rows.Close()
	var total int64
	for rows.Next() {
		var a string
		var n int64
		if err := rows.Scan(&a, &n); err != nil {
			return 0, fmt.Errorf("sqlite: audit search actions: %w", err)
		}
		p.actions = append(p.actions, a)
		total += n
	}
	return total, rows.Err()
}

// resolveActor turns the Actor filter into the people it names: a person
// key or subject exactly, or a name or email containing the text (case
// does not matter). It returns their events.
func (p *auditPlan) resolveActor(ctx context.Context, tx *sql.Tx) (int64, error) {
	like := "%" + escapeLike(p.f.Actor) + "%"
	rows, err := tx.QueryContext(ctx, `
		SELECT actor_key, SUM(events) FROM audit_actors
		WHERE actor_key = ?1 OR substr(actor_key, instr(actor_key, '|') + 1) = ?1
			OR actor_email LIKE ?2 ESCAPE '\' OR actor_name LIKE ?2 ESCAPE '\'
		GROUP BY actor_key`, p.f.Actor, like)
	if err != nil {
		return 0, fmt.Errorf("sqlite: audit search actor: %w", err)
	}
	defer rows.Close()
	var total int64
	for rows.Next() {
		var key string
		var n int64
		if err := rows.Scan(&key, &n); err != nil {
			return 0, fmt.Errorf("sqlite: audit search actor: %w", err)
		}
		p.actorKeys = append(p.actorKeys, key)
		total += n
	}
	return total, rows.Err()
}

// sql builds the query of the plan: newest first with a limit for a page,
// oldest first without one for an export.
func (p *auditPlan) sql(newestFirst bool, limit int) (string, []any) {
	order := "ASC"
	if newestFirst {
		order = "DESC"
	}
	return p.build(auditColumns, order, limit)
}

// countSQL builds the query counting the plan's events, up to limit. Free
// text alone is counted in the full-text index alone; otherwise the walk
// selects nothing but 1, so that a walk down one filter's index with no
// other filter reads the index alone (each holds seq), and From and To are
// left to the seq range, which is exact (the trail's time never goes
// backwards).
func (p *auditPlan) countSQL(limit int) (string, []any) {
	if p.f.RequestID == 0 && len(p.actions) == 0 && len(p.actorKeys) == 0 && p.match != "" && p.f.Scope == "" {
		return `SELECT count(*) FROM (SELECT 1 FROM audit_events_fts WHERE audit_events_fts MATCH ? AND rowid >= ? AND rowid < ? LIMIT ?)`,
			[]any{p.match, p.lo, p.hi, limit}
	}
	q, args := p.build("1", "", limit)
	return "SELECT count(*) FROM (" + q + ")", args
}

// build is the plan's query selecting columns, in seq order ("ASC" or
// "DESC"; "" for no order and a count's exact range), at most limit rows
// (0 for all).
func (p *auditPlan) build(columns, order string, limit int) (string, []any) {
	var from string
	var where []string
	var args []any
	cond := func(c string, a ...any) { where = append(where, c); args = append(args, a...) }
	// set is a filter on a column: through the walk's index when it drives
	// the walk, else checked on each row read (the unary + keeps SQLite
	// from using another index than the one chosen).
	set := func(column string, values []string, drives bool) {
		plus := "+"
		if drives {
			plus = ""
		}
		if len(values) == 1 {
			cond(plus+column+" = ?", values[0])
			return
		}
		list, _ := json.Marshal(values)
		cond(plus+column+" IN (SELECT value FROM json_each(?))", string(list))
	}

	seq := "e.seq"
	switch p.walk {
	case walkRequest:
		from = "audit_events AS e INDEXED BY audit_events_by_request"
	case walkAction:
		from = "audit_events AS e INDEXED BY audit_events_by_action"
	case walkActor:
		from = "audit_events AS e INDEXED BY audit_events_by_actor"
	case walkScope:
		// The rows are looked up by seq from the scope's gathered events
		// (below); NOT INDEXED still allows a lookup by rowid.
		from = "audit_events AS e NOT INDEXED"
	case walkText:
		// CROSS JOIN keeps the full-text index as the outer loop: it yields
		// rowids (= seq) in order, within the range.
		from = "audit_events_fts AS t CROSS JOIN audit_events AS e"
		seq = "t.rowid"
		cond("audit_events_fts MATCH ?", p.match)
		where = append(where, "e.seq = t.rowid")
	default:
		from = "audit_events AS e NOT INDEXED"
	}
	cond(seq+" >= ?", p.lo)
	cond(seq+" < ?", p.hi)
	if !p.f.From.IsZero() && order != "" {
		cond("+e.at >= ?", ms(p.f.From))
	}
	if !p.f.To.IsZero() && order != "" {
		cond("+e.at < ?", ms(p.f.To))
	}
	if p.f.RequestID != 0 {
		if p.walk == walkRequest {
			cond("e.request_id = ?", p.f.RequestID)
		} else {
			cond("+e.request_id = ?", p.f.RequestID)
		}
	}
	if p.f.Scope != "" {
		// An event is about a scope when it says so (requests filed since
		// project roles, the picture's differences), or when its request
		// is of that scope (requests filed before: the organization).
		named, requested := p.scopeValues()
		if p.walk == walkScope {
			// Walking the scope: its events in the range, gathered from
			// both halves' indexes; each row read is looked up by seq.
			cond("e.seq IN ("+scopeNamedEvents+" UNION ALL "+scopeRequestedEvents+")",
				named, p.lo, p.hi, requested, p.lo, p.hi)
		}
		// Checked on each row read: its request looked up by id (not the
		// scope's requests gathered first: the organization's are most of
		// them, and gathering them cost 100 ms at 190,000 requests).
		cond("(json_extract(e.details, '$.scope') = ? OR EXISTS (SELECT 1 FROM requests AS r WHERE r.id = e.request_id AND r.scope = ?))", named, requested)
	}
	if len(p.actions) > 0 {
		set("e.action", p.actions, p.walk == walkAction)
	}
	if len(p.actorKeys) > 0 {
		set("e.actor_key", p.actorKeys, p.walk == walkActor)
	}
	switch {
	case p.match == "" || p.walk == walkText:
	case p.probe:
		cond("EXISTS (SELECT 1 FROM audit_events_fts WHERE audit_events_fts MATCH ? AND rowid = e.seq)", p.match)
	default:
		// Gathered once: SQLite keeps the subquery's rows in a temporary index.
		cond("+e.seq IN (SELECT rowid FROM audit_events_fts WHERE audit_events_fts MATCH ? AND rowid >= ? AND rowid < ?)",
			p.match, p.lo, p.hi)
	}
	q := "SELECT " + columns + " FROM " + from + " WHERE " + strings.Join(where, " AND ")
	if order != "" {
		q += " ORDER BY " + seq + " " + order
	}
	if limit > 0 {
		q += " LIMIT ?"
		args = append(args, limit)
	}
	return q, args
}

// ftsMatch builds the full-text query of the free text: every word must
// appear; a word of several tokens ("api.groups.read", "10.0.0.7") is a
// phrase; a word typed with a trailing * matches longer words too. Tokens
// hold only letters and digits, so quoting them is safe.
func ftsMatch(words []audit.Word) (match string, prefix bool) {
	var parts []string
	for _, w := range words {
		phrase := `"` + strings.Join(w.Tokens, " ") + `"`
		if w.Prefix {
			phrase += "*"
			prefix = true
		}
		parts = append(parts, phrase)
	}
	return strings.Join(parts, " AND "), prefix
}

// prefixEnd is the least string greater than every string starting with
// prefix (prefix is non-empty and valid UTF-8, so its last byte is not 0xff).
func prefixEnd(prefix string) string {
	b := []byte(prefix)
	b[len(b)-1]++
	return string(b)
}

// escapeLike escapes LIKE's wildcards (with ESCAPE '\').
func escapeLike(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}
