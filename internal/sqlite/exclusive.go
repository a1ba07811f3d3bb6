package sqlite

import (
	"context"
	"errors"
	"fmt"
	"os"
	"regexp"
	"syscall"
)

// jobName is what a periodic job may be called (it names a file).
var jobName = regexp.MustCompile(`^[a-z][a-z0-9-]{0,40}$`)

// RunExclusive runs fn, a periodic job (checkpoint signing, expiry,
// reminders), unless the job is already running beside this database, and
// reports whether it ran. The lock is a file lock beside the database
// file (database.db.job-NAME.lock), held while fn runs: any other opener
// of the file (another *DB, the rolegate command line) is refused it, and
// a process that dies releases it. The PostgreSQL store holds an advisory
// lock instead, across nodes.
func (db *DB) RunExclusive(ctx context.Context, job string, fn func(context.Context) error) (bool, error) {
	if !jobName.MatchString(job) {
		return false, fmt.Errorf("sqlite: job name %q", job)
	}
	f, err := os.OpenFile(db.path+".job-"+job+".lock", os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return false, fmt.Errorf("sqlite: open the lock of job %s: %w", job, err)
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return false, nil
		}
		return false, fmt.Errorf("sqlite: lock job %s: %w", job, err)
	}
	defer syscall.Flock(int(f.Fd()), syscall.LOCK_UN) //nolint:errcheck // closing releases it too
	return true, fn(ctx)
}
