package metrics_test

import (
	"context"
	"strings"
	"testing"

	"github.com/rolegate/rolegate/internal/metrics"
)

// An access assignment past its end that may still exist upstream is the
// one thing access requests must never let last: /metrics says how many
// there are, read from the database at scrape time.
func TestAssignmentsPastTheirEndAreOnMetrics(t *testing.T) {
	db := openDB(t)
	m := metrics.New(metrics.Options{OverdueAssignments: db.Removals.OverdueAssignments})
	_, text := scrape(t, m.Handler())
	if !strings.Contains(text, "\nrolegate_access_assignments_past_end 0\n") {
		t.Errorf("scrape lacks rolegate_access_assignments_past_end 0:\n%s", text)
	}
	three := metrics.New(metrics.Options{OverdueAssignments: func(context.Context) (int, error) { return 3, nil }})
	if _, text := scrape(t, three.Handler()); !strings.Contains(text, "\nrolegate_access_assignments_past_end 3\n") {
		t.Errorf("scrape lacks the count of 3")
	}
}
