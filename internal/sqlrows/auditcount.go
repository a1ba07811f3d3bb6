package sqlrows

import "math"

// The rule by which an audit count is declined (audit.ErrNotCounted), on
// both engines (internal/sqlite's and internal/postgres's CountEvents), so
// that they decline the same searches from the same trail: the estimates
// come from what both stores keep alike (the events of each action and
// each actor, the seq range, and the share of the newest events holding
// the text). Its costs are those of SQLite's planner (internal/sqlite's
// audit_query.go), whose walk for a count costs what AuditCountCost says.

// MaxAuditCountCost is the most a count may be expected to cost, in the
// units of one event read in seq order (about a microsecond on SQLite):
// beyond it the count is declined.
const MaxAuditCountCost = 50_000

// AuditTextSample is how many of the newest events of the range are
// searched to estimate the share of events that hold the text.
const AuditTextSample = 4096

// The costs of reading one event in each walk, as on SQLite.
const (
	costIndexRow     = 1.5 // an index entry (request, action, actor), then its row
	costTextRow      = 2   // a full-text entry, then its row
	costTextProbe    = 100 // checking a row read against the text by a lookup
	costTextGathered = 1.2 // or among the text's events gathered first
)

// AuditCandidate is a filter a count may walk down: its index, or the
// text's, and the events it keeps in the seq range (estimated).
type AuditCandidate struct {
	Text    bool
	InRange float64
}

// AuditCountCost is the expected cost of counting, up to page events, the
// events of a range of inRange events that pass every candidate's filter:
// the cheapest walk, down the table in seq order or down one candidate's
// index, each filter assumed independent of the others. A walk other than
// the text's checks each row it reads against the text. A prefix (a word
// ending in *) is walked in the text's index alone.
func AuditCountCost(cands []AuditCandidate, inRange float64, page int, prefix bool) float64 {
	text := -1.0 // the events holding the text in the range; -1 without text
	for _, c := range cands {
		if c.Text {
			text = c.InRange
		}
	}
	best := math.Inf(1)
	walks := append([]AuditCandidate{{InRange: inRange}}, cands...) // walks[0]: the table itself
	for i, c := range walks {
		if prefix && !c.Text {
			continue
		}
		others := 1.0 // the share of this walk's events that pass the other filters
		for j, o := range cands {
			if j+1 != i {
				others *= min(o.InRange/max(inRange, 1), 1)
			}
		}
		visited := c.InRange
		if page > 0 {
			visited = min(c.InRange, float64(page)/max(others, 1/max(inRange, 1)))
		}
		perRow := 1.0
		switch {
		case c.Text:
			perRow = costTextRow
		case i > 0:
			perRow = costIndexRow
		}
		cost := visited * perRow
		if text >= 0 && !c.Text {
			cost += min(visited*costTextProbe, text*costTextGathered)
		}
		best = min(best, cost)
	}
	return best
}
