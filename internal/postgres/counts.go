package postgres

import (
	"context"
	"fmt"

	"github.com/rolegate/rolegate/internal/rolegate"
)

// Counts are the numbers the metrics read at scrape time (rolegate.Counts):
// the requests by status, the queue's and the picture's state. They are
// the database's, so every process reports the same.
type Counts struct{ db *DB }

// NewCounts returns the counts over db.
func NewCounts(db *DB) *Counts { return &Counts{db: db} }

// QueueStats reads the provisioning queue's state (Jobs.QueueStats).
func (c *Counts) QueueStats(ctx context.Context) (rolegate.QueueStats, error) {
	return NewJobs(c.db).QueueStats(ctx)
}

// PictureStats reads the picture's state (Picture.PictureStats).
func (c *Counts) PictureStats(ctx context.Context) (rolegate.PictureStats, error) {
	return NewPicture(c.db).PictureStats(ctx)
}

// CountByStatus returns how many requests are in each status (metrics).
func (c *Counts) CountByStatus(ctx context.Context) (map[rolegate.Status]int, error) {
	rows, err := c.db.pool.Query(ctx, `SELECT status, COUNT(*) FROM requests GROUP BY status`)
	if err != nil {
		return nil, fmt.Errorf("postgres: count by status: %w", err)
	}
	defer rows.Close()
	out := map[rolegate.Status]int{}
	for rows.Next() {
		var st string
		var n int
		if err := rows.Scan(&st, &n); err != nil {
			return nil, fmt.Errorf("postgres: count by status: %w", err)
		}
		out[rolegate.Status(st)] = n
	}
	return out, rows.Err()
}
