package postgres

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"unicode"

	"github.com/jackc/pgx/v5"
	"golang.org/x/text/runes"
	"golang.org/x/text/transform"
	"golang.org/x/text/unicode/norm"

	"github.com/rolegate/rolegate/internal/audit"
	"github.com/rolegate/rolegate/internal/rolegate"
	"github.com/rolegate/rolegate/internal/sqlrows"
)

// The trail's search on PostgreSQL: the same filters as on SQLite
// (internal/sqlite's audit_query.go), with PostgreSQL's own text search
// for the free text.
//
// The free text of an event (its role name, the values of its details,
// its client address and HTTP request id) is split into words here, in
// Go, the way SQLite's full-text index splits it (letters and digits,
// lower case, diacritics removed: unicode61 remove_diacritics 2), and
// stored with the event as a tsvector written out lexeme by lexeme, so
// that no text search configuration of the server changes what matches.
// A search's words are split the same way (audit.TextWords) and become a
// tsquery of phrases (a word of several tokens, "192.0.2.20", is a
// phrase; a word ending in * is a prefix). The four fields are set apart
// in the vector, as SQLite's index keeps them in columns of their own, so
// that a phrase never spans two of them.
//
// The scope an event names in its details ("scope") is stored beside it
// too, so that the Scope filter never parses JSON.

// Audit search sizes, as on SQLite.
const (
	AuditPageSize    = 50
	auditPageSizeMax = 500
)

// searchFieldGap is the distance between two fields in an event's vector:
// a phrase (consecutive positions) never crosses it.
const searchFieldGap = 100

// maxLexemeBytes keeps a lexeme well under PostgreSQL's limit (2 KB); a
// longer token is cut there.
const maxLexemeBytes = 1024

// foldWord lower-cases s and removes its diacritics (é → e).
func foldWord(s string) string {
	t := transform.Chain(norm.NFD, runes.Remove(runes.In(unicode.Mn)), norm.NFC)
	out, _, err := transform.String(t, strings.ToLower(s))
	if err != nil {
		return strings.ToLower(s)
	}
	return out
}

// searchTokens splits s into the tokens the search matches.
func searchTokens(s string) []string {
	fields := strings.FieldsFunc(foldWord(s), func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsNumber(r) })
	for i, f := range fields {
		if len(f) > maxLexemeBytes {
			fields[i] = strings.ToValidUTF8(f[:maxLexemeBytes], "")
		}
	}
	return fields
}

// detailValues are the values of an event's details (not its keys), in
// the order written, as SQLite's index takes them (json_tree: strings,
// numbers, true as 1 and false as 0; null and the containers themselves
// add nothing). Details that are not JSON are taken as they are.
func detailValues(details []byte) string {
	dec := json.NewDecoder(bytes.NewReader(details))
	dec.UseNumber()
	var parts []string
	// In an object, every other string token is a key.
	type level struct{ object, wantKey bool }
	var stack []level
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return string(details)
		}
		isKey := len(stack) > 0 && stack[len(stack)-1].object && stack[len(stack)-1].wantKey
		if len(stack) > 0 && stack[len(stack)-1].object {
			if _, closing := tok.(json.Delim); !closing || tok != json.Delim('}') {
				stack[len(stack)-1].wantKey = !stack[len(stack)-1].wantKey
			}
		}
		switch v := tok.(type) {
		case json.Delim:
			switch v {
			case '{':
				stack = append(stack, level{object: true, wantKey: true})
			case '[':
				stack = append(stack, level{})
			default:
				stack = stack[:len(stack)-1]
			}
		case string:
			if !isKey {
				parts = append(parts, v)
			}
		case json.Number:
			parts = append(parts, v.String())
		case bool:
			if v {
				parts = append(parts, "1")
			} else {
				parts = append(parts, "0")
			}
		}
	}
	return strings.Join(parts, " ")
}

// searchVector is the tsvector literal of e's free text.
func searchVector(e rolegate.Event) string {
	positions := map[string][]int{}
	pos := 0
	for _, field := range []string{e.RoleName, detailValues(e.Details), e.ClientIP, e.HTTPReqID} {
		for _, tok := range searchTokens(field) {
			pos++
			positions[tok] = append(positions[tok], min(pos, 16383))
		}
		pos += searchFieldGap
	}
	lexemes := make([]string, 0, len(positions))
	for tok := range positions {
		lexemes = append(lexemes, tok)
	}
	slices.Sort(lexemes)
	var b strings.Builder
	for i, tok := range lexemes {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString("'" + tok + "':")
		for j, p := range slices.Compact(positions[tok]) {
			if j > 0 {
				b.WriteByte(',')
			}
			b.WriteString(strconv.Itoa(p))
		}
	}
	return b.String()
}

// detailsScope is the scope e's details name ("" when none).
func detailsScope(details []byte) string {
	var d struct {
		Scope any `json:"scope"`
	}
	if json.Unmarshal(details, &d) != nil {
		return ""
	}
	s, _ := d.Scope.(string)
	return s
}

// searchQuery is the tsquery literal of a search's words: each word a
// phrase of its tokens, its last a prefix when the word ends in *, all of
// them required. "" when the words hold no token.
func searchQuery(words []audit.Word) string {
	var parts []string
	for _, w := range words {
		var toks []string
		for _, t := range w.Tokens {
			toks = append(toks, searchTokens(t)...)
		}
		if len(toks) == 0 {
			continue
		}
		for i, t := range toks {
			toks[i] = "'" + t + "'"
		}
		if w.Prefix {
			toks[len(toks)-1] += ":*"
		}
		parts = append(parts, "("+strings.Join(toks, " <-> ")+")")
	}
	return strings.Join(parts, " & ")
}

// auditQuery is a search made ready: the range of seq and the filters
// resolved to what the tables hold.
type auditQuery struct {
	f         rolegate.AuditFilter
	lo, hi    int64 // seq in [lo, hi)
	empty     bool  // nothing can match
	actions   []string
	actorKeys []string
	match     string // the tsquery
	prefix    bool   // the text has a word ending in *
	// For a count (planAudit's estimate): the events each filter keeps in
	// the range, estimated as SQLite's planner does.
	cands []sqlrows.AuditCandidate
}

// rangeOnly reports whether p filters by the seq range alone (no filter,
// or From and To): its events are every seq in the range (seq has no gaps).
func (p *auditQuery) rangeOnly() bool {
	return p.f.RequestID == 0 && len(p.actions) == 0 && len(p.actorKeys) == 0 && p.match == "" && p.f.Scope == ""
}

// planAudit resolves f in q's snapshot; with estimate, it also estimates
// the events each filter keeps (p.cands), for a count's decision to count.
func planAudit(ctx context.Context, q querier, f rolegate.AuditFilter, estimate bool) (*auditQuery, error) {
	p := &auditQuery{f: f}
	var total int64
	if err := q.QueryRow(ctx, `SELECT COALESCE(MAX(seq), 0) FROM audit_events`).Scan(&total); err != nil {
		return nil, fmt.Errorf("postgres: audit head: %w", err)
	}
	p.lo, p.hi = 1, total+1
	frac := func() float64 { return float64(p.hi-p.lo) / float64(max(total, 1)) }
	if f.BeforeSeq > 0 {
		p.hi = min(p.hi, f.BeforeSeq)
	}
	// From and To to seq (the trail's time never goes backwards).
	firstAtOrAfter := func(at int64) (int64, bool, error) {
		var seq int64
		err := q.QueryRow(ctx, `SELECT seq FROM audit_events WHERE at >= $1 ORDER BY at, seq LIMIT 1`, at).Scan(&seq)
		if errors.Is(err, pgx.ErrNoRows) {
			return 0, false, nil
		}
		return seq, err == nil, err
	}
	if !f.From.IsZero() {
		seq, ok, err := firstAtOrAfter(ms(f.From))
		if err != nil {
			return nil, fmt.Errorf("postgres: audit search from: %w", err)
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
			return nil, fmt.Errorf("postgres: audit search to: %w", err)
		}
		if ok {
			p.hi = min(p.hi, seq)
		}
	}
	if f.RequestID != 0 {
		// A request's events are few: its first and last narrow the range.
		var n, first, last int64
		if err := q.QueryRow(ctx, `SELECT count(*), COALESCE(MIN(seq), 0), COALESCE(MAX(seq), 0) FROM audit_events WHERE request_id = $1`,
			f.RequestID).Scan(&n, &first, &last); err != nil {
			return nil, fmt.Errorf("postgres: audit search request: %w", err)
		}
		p.lo, p.hi = max(p.lo, first), min(p.hi, last+1)
		p.cands = append(p.cands, sqlrows.AuditCandidate{InRange: float64(n)})
	}
	if p.lo >= p.hi {
		p.empty = true
		return p, nil
	}
	// The actions and people named, each with its events (the counts the
	// trigger keeps).
	type named struct {
		Name   string
		Events int64
	}
	collect := func(rows pgx.Rows, err error) ([]string, float64, error) {
		if err != nil {
			return nil, 0, err
		}
		list, err := pgx.CollectRows(rows, pgx.RowToStructByPos[named])
		var names []string
		var events float64
		for _, n := range list {
			names, events = append(names, n.Name), events+float64(n.Events)
		}
		return names, events, err
	}
	if f.Action != "" {
		var events float64
		var err error
		switch {
		case strings.HasSuffix(f.Action, "."): // a family: request.
			p.actions, events, err = collect(q.Query(ctx, `SELECT action, events FROM audit_actions
				WHERE starts_with(action, $1) ORDER BY action`, f.Action))
		case !strings.Contains(f.Action, "."): // a word of an action: approved
			p.actions, events, err = collect(q.Query(ctx, `SELECT action, events FROM audit_actions
				WHERE strpos('.' || action || '.', '.' || $1 || '.') > 0 ORDER BY action`, f.Action))
		default:
			p.actions, events, err = collect(q.Query(ctx, `SELECT action, events FROM audit_actions WHERE action = $1`, f.Action))
		}
		if err != nil {
			return nil, fmt.Errorf("postgres: audit search actions: %w", err)
		}
		p.cands = append(p.cands, sqlrows.AuditCandidate{InRange: events * frac()})
	}
	if f.Actor != "" {
		// A person's key or subject exactly, or part of an email or name
		// (LIKE's wildcards taken literally), as on SQLite.
		like := "%" + escapeLike(strings.ToLower(f.Actor)) + "%"
		var events float64
		var err error
		p.actorKeys, events, err = collect(q.Query(ctx, `SELECT actor_key, SUM(events)::bigint FROM audit_actors
			WHERE actor_key = $1 OR substr(actor_key, strpos(actor_key, '|') + 1) = $1
				OR lower(actor_email) LIKE $2 ESCAPE '\' OR lower(actor_name) LIKE $2 ESCAPE '\'
			GROUP BY actor_key ORDER BY actor_key`, f.Actor, like))
		if err != nil {
			return nil, fmt.Errorf("postgres: audit search actor: %w", err)
		}
		p.cands = append(p.cands, sqlrows.AuditCandidate{InRange: events * frac()})
	}
	if f.Action != "" && len(p.actions) == 0 || f.Actor != "" && len(p.actorKeys) == 0 {
		p.empty = true // an action or a person never recorded
		return p, nil
	}
	if f.Text != "" {
		words := audit.TextWords(f.Text)
		if p.match = searchQuery(words); p.match == "" {
			p.empty = true
			return p, nil
		}
		for _, w := range words {
			p.prefix = p.prefix || w.Prefix
		}
		if estimate {
			// The share of the newest events of the range that hold the
			// text (a prefix is taken as in every event, as on SQLite).
			share := 1.0
			if !p.prefix {
				from := max(p.lo, p.hi-sqlrows.AuditTextSample)
				var n int64
				if err := q.QueryRow(ctx, `SELECT count(*) FROM audit_events WHERE seq >= $1 AND seq < $2 AND search @@ $3::tsquery`,
					pgx.QueryExecModeExec, from, p.hi, p.match).Scan(&n); err != nil {
					return nil, fmt.Errorf("postgres: audit search text: %w", err)
				}
				share = (float64(n) + 0.5) / float64(p.hi-from+1)
			}
			p.cands = append(p.cands, sqlrows.AuditCandidate{Text: true, InRange: share * float64(p.hi-p.lo)})
		}
	}
	return p, nil
}

// escapeLike escapes LIKE's wildcards and its escape character.
func escapeLike(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}

// sql is the query of p's events in seq order (newest first or oldest
// first), at most limit of them (0: all).
func (p *auditQuery) sql(columns string, newestFirst bool, limit int) (string, []any) {
	order := "seq"
	if newestFirst {
		order += " DESC"
	}
	return p.build(columns, order, limit)
}

// countSQL is the query counting p's events, up to limit: in no order, so
// that PostgreSQL may stop at the limit whichever way it reads them.
func (p *auditQuery) countSQL(limit int) (string, []any) {
	q, args := p.build("1", "", limit)
	return "SELECT count(*) FROM (" + q + ") matched", args
}

// build is p's query selecting columns in order ("" for none: then From
// and To are left to the seq range, which they are exactly, since the
// trail's time never goes backwards), at most limit rows (0: all).
//
// The values are in the query's parameters, and PostgreSQL plans it for
// them on every run, never with a generic plan: a plan made for any action
// or word reads the whole trail for a rare one. One action or person is
// compared with = rather than = ANY, so that its index gives the events in
// seq order (PostgreSQL 15 does not for = ANY).
func (p *auditQuery) build(columns, order string, limit int) (string, []any) {
	var args params
	where := []string{"seq >= " + args.add(p.lo), "seq < " + args.add(p.hi)}
	if !p.f.From.IsZero() && order != "" {
		where = append(where, "at >= "+args.add(ms(p.f.From)))
	}
	if !p.f.To.IsZero() && order != "" {
		where = append(where, "at < "+args.add(ms(p.f.To)))
	}
	in := func(column string, values []string) string {
		if len(values) == 1 {
			return column + " = " + args.add(values[0])
		}
		return column + " = ANY(" + args.add(values) + ")"
	}
	if p.f.RequestID != 0 {
		where = append(where, "request_id = "+args.add(p.f.RequestID))
	}
	if p.f.Scope != "" {
		// An event is about a scope when it says so, or when its request
		// is of that scope (requests filed before scopes: the organization).
		scope := p.f.Scope
		if scope == rolegate.ScopeLabelOrganization {
			scope = rolegate.ScopeOrganization
		}
		// The scope's requests as an array (an InitPlan), so that both
		// sides of the OR are index scans (a BitmapOr).
		where = append(where, "(details_scope = "+args.add(p.f.Scope)+
			" OR request_id = ANY(ARRAY(SELECT id FROM requests WHERE scope = "+args.add(scope)+")))")
	}
	if len(p.actions) > 0 {
		where = append(where, in("action", p.actions))
	}
	if len(p.actorKeys) > 0 {
		where = append(where, in("actor_key", p.actorKeys))
	}
	if p.match != "" {
		where = append(where, "search @@ "+args.add(p.match)+"::tsquery")
	}
	q := "SELECT " + columns + " FROM audit_events WHERE " + strings.Join(where, " AND ")
	if order != "" {
		q += " ORDER BY " + order
	}
	if limit > 0 {
		q += " LIMIT " + args.add(limit)
	}
	return q, append([]any{pgx.QueryExecModeExec}, args...)
}

// SearchEvents returns a page of the events matching f, newest first, and
// the cursor of the next page (f.BeforeSeq for it), 0 when there is none,
// read in one snapshot.
func (t *Trail) SearchEvents(ctx context.Context, f rolegate.AuditFilter) (events []rolegate.Event, next int64, err error) {
	limit := f.Limit
	if limit <= 0 {
		limit = AuditPageSize
	}
	limit = min(limit, auditPageSizeMax)
	err = t.db.snapshot(ctx, func(tx pgx.Tx) error {
		p, err := planAudit(ctx, tx, f, false)
		if err != nil || p.empty {
			return err
		}
		q, args := p.sql(eventColumns, true, limit+1)
		events, err = queryEvents(ctx, tx, q, args...)
		return err
	})
	if err != nil {
		return nil, 0, fmt.Errorf("postgres: search audit: %w", err)
	}
	if len(events) > limit {
		events = events[:limit]
		next = events[limit-1].Seq
	}
	return events, next, nil
}

// CountEvents counts the events matching f (f.BeforeSeq and f.Limit
// ignored), up to most: beyond it, it says only that there are more. When
// the count is expected to cost more than sqlrows.MaxAuditCountCost it
// does not count and returns audit.ErrNotCounted: the same rule, from the
// same estimates, as on SQLite, so both decline the same searches (free
// text with another common filter on a large trail). A range alone is
// counted without reading anything (seq has no gaps).
func (t *Trail) CountEvents(ctx context.Context, f rolegate.AuditFilter, most int) (n int, more bool, err error) {
	f.BeforeSeq, f.Limit = 0, 0
	err = t.db.snapshot(ctx, func(tx pgx.Tx) error {
		p, err := planAudit(ctx, tx, f, true)
		switch {
		case err != nil || p.empty:
			return err
		case p.rangeOnly():
			n = int(min(p.hi-p.lo, int64(most)+1))
			return nil
		case sqlrows.AuditCountCost(p.cands, float64(p.hi-p.lo), most+1, p.prefix) > sqlrows.MaxAuditCountCost:
			return audit.ErrNotCounted
		}
		q, args := p.countSQL(most + 1)
		return tx.QueryRow(ctx, q, args...).Scan(&n)
	})
	if errors.Is(err, audit.ErrNotCounted) {
		return 0, false, err
	}
	if err != nil {
		return 0, false, fmt.Errorf("postgres: count audit: %w", err)
	}
	if n > most {
		return most, true, nil
	}
	return n, false, nil
}

// ExportEvents calls fn for every event matching f (f.BeforeSeq and
// f.Limit are ignored), oldest first, from one snapshot, one row at a
// time. It stops at fn's first error.
func (t *Trail) ExportEvents(ctx context.Context, f rolegate.AuditFilter, fn func(rolegate.Event) error) error {
	f.BeforeSeq, f.Limit = 0, 0
	return t.db.snapshot(ctx, func(tx pgx.Tx) error {
		p, err := planAudit(ctx, tx, f, false)
		if err != nil || p.empty {
			return err
		}
		q, args := p.sql(eventColumns, false, 0)
		rows, err := tx.Query(ctx, q, args...)
		if err != nil {
			return fmt.Errorf("postgres: export audit: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			e, err := scanEvent(rows)
			if err != nil {
				return fmt.Errorf("postgres: export audit: %w", err)
			}
			if err := fn(e); err != nil {
				return err
			}
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("postgres: export audit: %w", err)
		}
		return nil
	})
}

// AuditActions lists the actions recorded so far, for the Action filter's
// choices.
func (t *Trail) AuditActions(ctx context.Context) ([]string, error) {
	rows, err := t.db.pool.Query(ctx, `SELECT action FROM audit_actions ORDER BY action`)
	if err != nil {
		return nil, fmt.Errorf("postgres: audit actions: %w", err)
	}
	actions, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("postgres: audit actions: %w", err)
	}
	return actions, nil
}
