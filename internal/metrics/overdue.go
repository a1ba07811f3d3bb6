package metrics

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// overdueCollector reports the assignments of access requests that are
// past their end and not known to be gone upstream (issue 17): the one
// thing access requests must never let last, so an alert can fire on any
// value above 0 held for a few minutes (a removal takes seconds).
type overdueCollector struct {
	count   func(context.Context) (int, error)
	timeout time.Duration
	desc    *prometheus.Desc
}

func newOverdueCollector(count func(context.Context) (int, error), timeout time.Duration) *overdueCollector {
	return &overdueCollector{count: count, timeout: timeout, desc: prometheus.NewDesc("rolegate_access_assignments_past_end",
		"Role assignments made by access requests whose end (Until) has passed and that may still exist upstream (removal queued, running or failed). Alert when above 0 for more than a few minutes.", nil, nil)}
}

// Describe implements prometheus.Collector.
func (c *overdueCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

// Collect implements prometheus.Collector; a failed read drops the gauge
// (the scrape's error counter says so) rather than report 0.
func (c *overdueCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	n, err := c.count(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(c.desc, err)
		return
	}
	ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(n))
}
