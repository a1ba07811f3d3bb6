package metrics

import (
	"context"
	"os"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rolegate/rolegate/internal/rolegate"
)

// Store is what the scrape-time gauges read: the store's counts, and the
// SQLite file whose size they report ("" on PostgreSQL: none).
type Store interface {
	rolegate.Counts
	Path() string
}

// storeCollector reads the database at scrape time: the numbers are then
// always the database's, whichever process changed it and however long the
// portal has been up. A reading is kept for maxAge and concurrent scrapes
// wait for the one in progress, so however often /metrics is asked, the
// database is read at most once per maxAge.
type storeCollector struct {
	store   Store
	timeout time.Duration
	maxAge  time.Duration
	now     func() time.Time

	mu   sync.Mutex // held while reading: a flood of scrapes makes one read
	last storeReading

	requests   *prometheus.Desc
	queueDepth *prometheus.Desc
	queueAge   *prometheus.Desc
	dbSize     *prometheus.Desc
	scrapeOK   *prometheus.Desc
	pictureAge *prometheus.Desc
	drifted    *prometheus.Desc
}

// storeReading is one reading of the database, errors included: a
// database that fails is not asked again sooner than one that answers.
type storeReading struct {
	at         time.Time
	counts     map[rolegate.Status]int
	countErr   error
	queue      rolegate.QueueStats
	queueErr   error
	picture    rolegate.PictureStats
	pictureErr error
	sizes      map[string]int64
}

func newStoreCollector(s Store, timeout, maxAge time.Duration, now func() time.Time) *storeCollector {
	return &storeCollector{
		store: s, timeout: timeout, maxAge: maxAge, now: now,
		requests: prometheus.NewDesc("rolegate_requests",
			"Role requests in the database, by status.", []string{"status"}, nil),
		queueDepth: prometheus.NewDesc("rolegate_provisioning_queue_depth",
			"Provisioning jobs queued or running.", nil, nil),
		queueAge: prometheus.NewDesc("rolegate_provisioning_queue_oldest_age_seconds",
			"Age of the oldest provisioning job queued or running (0 when none): a growing value means the upstream is not taking roles.", nil, nil),
		dbSize: prometheus.NewDesc("rolegate_database_size_bytes",
			"Size of the SQLite files: the database, and its write-ahead log (wal).", []string{"file"}, nil),
		scrapeOK: prometheus.NewDesc("rolegate_database_scrape_success",
			"1 when the last reading of the database (at most DefaultStoreMaxAge old) succeeded, 0 when it failed.", nil, nil),
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
	r := c.reading()
	ok := 1.0

	if r.countErr != nil {
		ok = 0
		ch <- prometheus.NewInvalidMetric(c.requests, r.countErr)
	} else {
		for _, st := range rolegate.AllStatuses {
			ch <- prometheus.MustNewConstMetric(c.requests, prometheus.GaugeValue, float64(r.counts[st]), string(st))
		}
	}

	if r.queueErr != nil {
		ok = 0
		ch <- prometheus.NewInvalidMetric(c.queueDepth, r.queueErr)
	} else {
		ch <- prometheus.MustNewConstMetric(c.queueDepth, prometheus.GaugeValue, float64(r.queue.Depth))
		// The age goes on while the reading is kept.
		age := r.queue.OldestAge
		if r.queue.Depth > 0 {
			age += c.now().Sub(r.at)
		}
		ch <- prometheus.MustNewConstMetric(c.queueAge, prometheus.GaugeValue, max(age.Seconds(), 0))
	}

	if r.pictureErr != nil {
		ok = 0
		ch <- prometheus.NewInvalidMetric(c.drifted, r.pictureErr)
	} else {
		if !r.picture.SyncedAt.IsZero() {
			// Measured now: the age goes on while the reading is kept.
			ch <- prometheus.MustNewConstMetric(c.pictureAge, prometheus.GaugeValue, max(c.now().Sub(r.picture.SyncedAt).Seconds(), 0))
		}
		ch <- prometheus.MustNewConstMetric(c.drifted, prometheus.GaugeValue, float64(r.picture.Drifted))
	}

	for file, size := range r.sizes {
		ch <- prometheus.MustNewConstMetric(c.dbSize, prometheus.GaugeValue, float64(size), file)
	}
	ch <- prometheus.MustNewConstMetric(c.scrapeOK, prometheus.GaugeValue, ok)
}

// reading returns the last reading while it is younger than maxAge, and
// otherwise reads the database (once, whoever else is waiting).
func (c *storeCollector) reading() storeReading {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	if !c.last.at.IsZero() && now.Sub(c.last.at) < c.maxAge {
		return c.last
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	r := storeReading{at: now, sizes: map[string]int64{}}
	r.counts, r.countErr = c.store.CountByStatus(ctx)
	r.queue, r.queueErr = c.store.QueueStats(ctx)
	r.picture, r.pictureErr = c.store.PictureStats(ctx)
	// A PostgreSQL database has no file here (Path is ""): its size is the
	// server's to report.
	for file, path := range map[string]string{"db": c.store.Path(), "wal": c.store.Path() + "-wal"} {
		if c.store.Path() == "" {
			break
		}
		var size int64
		if fi, err := os.Stat(path); err == nil {
			size = fi.Size()
		}
		r.sizes[file] = size
	}
	c.last = r
	return r
}
