package metrics

import (
	"context"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rolegate/rolegate/internal/rolegate"
	"github.com/rolegate/rolegate/internal/sqlite"
)

// Store is what the scrape-time gauges read (sqlite.DB).
type Store interface {
	CountByStatus(ctx context.Context) (map[rolegate.Status]int, error)
	QueueStats(ctx context.Context) (sqlite.QueueStats, error)
	PictureStats(ctx context.Context) (sqlite.PictureStats, error)
	Path() string
}

// storeCollector reads the database at scrape time: the numbers are then
// always the database's, whichever process changed it and however long the
// portal has been up.
type storeCollector struct {
	store   Store
	timeout time.Duration

	requests   *prometheus.Desc
	queueDepth *prometheus.Desc
	queueAge   *prometheus.Desc
	dbSize     *prometheus.Desc
	scrapeOK   *prometheus.Desc
	pictureAge *prometheus.Desc
	drifted    *prometheus.Desc
}

func newStoreCollector(s Store, timeout time.Duration) *storeCollector {
	return &storeCollector{
		store: s, timeout: timeout,
		requests: prometheus.NewDesc("rolegate_requests",
			"Role requests in the database, by status.", []string{"status"}, nil),
		queueDepth: prometheus.NewDesc("rolegate_provisioning_queue_depth",
			"Provisioning jobs queued or running.", nil, nil),
		queueAge: prometheus.NewDesc("rolegate_provisioning_queue_oldest_age_seconds",
			"Age of the oldest provisioning job queued or running (0 when none): a growing value means the upstream is not taking roles.", nil, nil),
		dbSize: prometheus.NewDesc("rolegate_database_size_bytes",
			"Size of the SQLite files: the database, and its write-ahead log (wal).", []string{"file"}, nil),
		scrapeOK: prometheus.NewDesc("rolegate_database_scrape_success",
			"1 when this scrape could read the database, 0 when it could not.", nil, nil),
		pictureAge: prometheus.NewDesc("rolegate_picture_age_seconds",
			"Age of the organization's picture: time since its last complete read (absent before the first).", nil, nil),
		drifted: prometheus.NewDesc("rolegate_picture_drifted_roles",
			"Roles rolegate created that were then changed or deleted outside it.", nil, nil),
	}
}

// Describe implements prometheus.Collector.
func (c *storeCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.requests, c.queueDepth, c.queueAge, c.dbSize, c.scrapeOK, c.pictureAge, c.drifted} {
		ch <- d
	}
}

// Collect implements prometheus.Collector. A failed read is reported as an
// invalid metric (logged by the handler) and as scrape_success 0; the rest
// of the scrape is still served.
func (c *storeCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	ok := 1.0

	if counts, err := c.store.CountByStatus(ctx); err != nil {
		ok = 0
		ch <- prometheus.NewInvalidMetric(c.requests, err)
	} else {
		for _, st := range rolegate.AllStatuses {
			ch <- prometheus.MustNewConstMetric(c.requests, prometheus.GaugeValue, float64(counts[st]), string(st))
		}
	}

	if q, err := c.store.QueueStats(ctx); err != nil {
		ok = 0
		ch <- prometheus.NewInvalidMetric(c.queueDepth, err)
	} else {
		ch <- prometheus.MustNewConstMetric(c.queueDepth, prometheus.GaugeValue, float64(q.Depth))
		ch <- prometheus.MustNewConstMetric(c.queueAge, prometheus.GaugeValue, max(q.OldestAge.Seconds(), 0))
	}

	if p, err := c.store.PictureStats(ctx); err != nil {
		ok = 0
		ch <- prometheus.NewInvalidMetric(c.drifted, err)
	} else {
		if !p.SyncedAt.IsZero() {
			ch <- prometheus.MustNewConstMetric(c.pictureAge, prometheus.GaugeValue, max(time.Since(p.SyncedAt).Seconds(), 0))
		}
		ch <- prometheus.MustNewConstMetric(c.drifted, prometheus.GaugeValue, float64(p.Drifted))
	}

	for file, path := range map[string]string{"db": c.store.Path(), "wal": c.store.Path() + "-wal"} {
		var size int64
		if fi, err := os.Stat(path); err == nil {
			size = fi.Size()
		}
		ch <- prometheus.MustNewConstMetric(c.dbSize, prometheus.GaugeValue, float64(size), file)
	}
	ch <- prometheus.MustNewConstMetric(c.scrapeOK, prometheus.GaugeValue, ok)
}
