package postgres

import (
	"context"
	"fmt"
	"hash/fnv"
)

// jobLockKey is the advisory lock of periodic job: a 64-bit hash of its
// name, in a space of its own ("rolegate job " before the name), apart
// from the trail's and the picture's fixed keys.
func jobLockKey(job string) int64 {
	h := fnv.New64a()
	h.Write([]byte("rolegate job " + job))
	return int64(h.Sum64())
}

// RunExclusive runs fn, a periodic job (checkpoint signing, the picture's
// sync, reminders, expiry), on one node at a time, and reports whether it
// ran here: it takes the job's session-level advisory lock without
// waiting (pg_try_advisory_lock) on a connection of its own, held while fn
// runs. A node that holds it and dies loses its connection, and with it
// the lock: the next node to try takes the job over.
func (db *DB) RunExclusive(ctx context.Context, job string, fn func(context.Context) error) (bool, error) {
	conn, err := db.pool.Acquire(ctx)
	if err != nil {
		return false, fmt.Errorf("postgres: a connection for job %s: %w", job, err)
	}
	defer conn.Release()
	key := jobLockKey(job)
	var got bool
	if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1)`, key).Scan(&got); err != nil {
		return false, fmt.Errorf("postgres: lock job %s: %w", job, err)
	}
	if !got {
		return false, nil
	}
	defer func() {
		if _, err := conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, key); err != nil {
			// The lock dies with the connection: close it rather than
			// return it to the pool still holding the job.
			_ = conn.Conn().Close(context.WithoutCancel(ctx))
		}
	}()
	return true, fn(ctx)
}
