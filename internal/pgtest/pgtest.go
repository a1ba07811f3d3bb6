// Package pgtest gives tests a real, throwaway PostgreSQL: one cluster per
// test binary (initdb and pg_ctl in a temporary folder, listening on a free
// loopback port), started on first use, and a fresh database per test,
// dropped when the test ends. The package's TestMain calls Main, which
// stops the cluster and removes its folder after the tests.
//
// PostgreSQL refuses to run as root, so when the tests run as root the
// cluster runs as the "postgres" system user (Debian's package creates
// it), or "nobody", in a folder that user owns.
//
// Without PostgreSQL installed, a test that needs it fails when CI=true
// (CI must never pass by skipping) and is skipped elsewhere with the
// command that installs it.
package pgtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// Install says how to get PostgreSQL where it is missing.
const Install = "install PostgreSQL (Debian: apt-get install postgresql) or put its bin folder (initdb, pg_ctl) on PATH"

// superuser is the cluster's superuser; tests connect as it, trusted on loopback.
const superuser = "rolegate"

var (
	// installed is set by Main: only then is there someone to stop the cluster.
	installed atomic.Bool
	once      sync.Once
	shared    *Cluster
	startErr  error
	dbCount   atomic.Int64
)

// Main runs the tests of a package that uses PostgreSQL, then stops the
// cluster if one was started: func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }.
func Main(m *testing.M) int {
	installed.Store(true)
	code := m.Run()
	if shared != nil {
		if err := shared.Stop(); err != nil {
			fmt.Fprintf(os.Stderr, "pgtest: %v\n", err)
			if code == 0 {
				code = 1
			}
		}
	}
	return code
}

// NewDatabase creates an empty database on the test binary's cluster
// (starting it on first use), drops it when t ends, and returns its URL.
func NewDatabase(t testing.TB) string {
	t.Helper()
	if !installed.Load() {
		t.Fatal("pgtest: the package's TestMain must call pgtest.Main, which stops the cluster after the tests")
	}
	once.Do(func() { shared, startErr = Start() })
	if startErr != nil {
		if errors.Is(startErr, errNotInstalled) && os.Getenv("CI") != "true" {
			t.Skipf("PostgreSQL tests skipped: %v", startErr)
		}
		t.Fatalf("PostgreSQL: %v", startErr)
	}
	url, err := shared.CreateDatabase(context.Background(), fmt.Sprintf("t%d", dbCount.Add(1)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := shared.DropDatabase(context.Background(), url); err != nil {
			t.Errorf("pgtest: %v", err)
		}
	})
	return url
}

var errNotInstalled = errors.New("PostgreSQL is not installed (no initdb found); " + Install)

// Cluster is a running PostgreSQL in a folder of its own.
type Cluster struct {
	dir  string // removed by Stop
	data string
	bin  string
	port int
	cred *syscall.Credential // the unprivileged user it runs as; nil: this process's
}

// Start creates a cluster in a new temporary folder and starts it on a
// free loopback port. It is tuned for tests: no fsync (a crash of the
// machine loses a throwaway cluster, nothing else).
func Start() (*Cluster, error) { return start(false) }

// StartDurable is Start with PostgreSQL's own durability left on (fsync,
// synchronous commit, full page writes): what a measurement of commits
// must run against (scripts/loadtest -ratios -postgres).
func StartDurable() (*Cluster, error) { return start(true) }

func start(durable bool) (*Cluster, error) {
	bin, err := findBin()
	if err != nil {
		return nil, err
	}
	c := &Cluster{bin: bin}
	if os.Geteuid() == 0 {
		if c.cred, err = unprivileged(); err != nil {
			return nil, err
		}
	}
	if c.dir, err = os.MkdirTemp("", "rolegate-pg-"); err != nil {
		return nil, fmt.Errorf("pgtest: %w", err)
	}
	if c.cred != nil {
		if err := os.Chown(c.dir, int(c.cred.Uid), int(c.cred.Gid)); err != nil {
			os.RemoveAll(c.dir)
			return nil, fmt.Errorf("pgtest: give the cluster's folder to its user: %w", err)
		}
	}
	c.data = filepath.Join(c.dir, "data")
	if out, err := c.run("initdb", "-D", c.data, "-U", superuser, "-A", "trust", "-E", "UTF8", "--no-locale", "--no-sync"); err != nil {
		os.RemoveAll(c.dir)
		return nil, fmt.Errorf("pgtest: initdb: %w\n%s", err, out)
	}
	// A port found free may be taken before the server binds it: try again.
	for attempt := 0; ; attempt++ {
		if c.port, err = freePort(); err != nil {
			os.RemoveAll(c.dir)
			return nil, err
		}
		opts := []string{
			"-c listen_addresses=127.0.0.1", "-p " + strconv.Itoa(c.port), "-k " + c.dir,
			"-c max_connections=200", "-c shared_buffers=32MB",
		}
		if !durable {
			opts = append(opts, "-c fsync=off", "-c synchronous_commit=off", "-c full_page_writes=off")
		}
		out, err := c.run("pg_ctl", "-D", c.data, "-o", strings.Join(opts, " "), "-l", filepath.Join(c.dir, "log"), "-w", "-t", "60", "start")
		if err == nil {
			return c, nil
		}
		if attempt == 2 {
			log, _ := os.ReadFile(filepath.Join(c.dir, "log"))
			os.RemoveAll(c.dir)
			return nil, fmt.Errorf("pgtest: pg_ctl start: %w\n%s\n%s", err, out, log)
		}
	}
}

// Stop stops the server at once (nothing in it is worth a clean shutdown)
// and removes its folder.
func (c *Cluster) Stop() error {
	_, err := c.run("pg_ctl", "-D", c.data, "-m", "immediate", "-w", "stop")
	if err != nil {
		err = fmt.Errorf("pgtest: stop the cluster: %w", err)
	}
	return errors.Join(err, os.RemoveAll(c.dir))
}

// URL is the address of database name on the cluster.
func (c *Cluster) URL(name string) string {
	return fmt.Sprintf("postgres://%s@127.0.0.1:%d/%s?sslmode=disable", superuser, c.port, name)
}

// CreateDatabase creates database name and returns its URL.
func (c *Cluster) CreateDatabase(ctx context.Context, name string) (string, error) {
	if err := c.admin(ctx, `CREATE DATABASE `+pgx.Identifier{name}.Sanitize()); err != nil {
		return "", fmt.Errorf("pgtest: create database %s: %w", name, err)
	}
	return c.URL(name), nil
}

// DropDatabase drops the database at url, ending its connections.
func (c *Cluster) DropDatabase(ctx context.Context, url string) error {
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		return err
	}
	if err := c.admin(ctx, `DROP DATABASE `+pgx.Identifier{cfg.Database}.Sanitize()+` WITH (FORCE)`); err != nil {
		return fmt.Errorf("pgtest: drop database %s: %w", cfg.Database, err)
	}
	return nil
}

func (c *Cluster) admin(ctx context.Context, sql string) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, c.URL("postgres"))
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	_, err = conn.Exec(ctx, sql)
	return err
}

// run runs one of PostgreSQL's programs as the cluster's user.
func (c *Cluster) run(name string, args ...string) ([]byte, error) {
	cmd := exec.Command(filepath.Join(c.bin, name), args...)
	cmd.Dir = os.TempDir()
	// LC_ALL: initdb needs a locale that exists; C always does.
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	if c.cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: c.cred}
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.Bytes(), err
}

// findBin finds the folder of initdb and pg_ctl: on PATH, or where
// Debian's package puts them (newest version first).
func findBin() (string, error) {
	if p, err := exec.LookPath("initdb"); err == nil {
		if real, err := filepath.EvalSymlinks(p); err == nil {
			p = real
		}
		return filepath.Dir(p), nil
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return version(dirs[i]) > version(dirs[j]) })
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			return d, nil
		}
	}
	return "", errNotInstalled
}

func version(bin string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(bin)))
	return n
}

// unprivileged is the user the cluster runs as when the tests run as root.
func unprivileged() (*syscall.Credential, error) {
	for _, name := range []string{"postgres", "nobody"} {
		u, err := user.Lookup(name)
		if err != nil {
			continue
		}
		uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
		gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
		if err1 != nil || err2 != nil {
			continue
		}
		return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
	}
	return nil, errors.New("pgtest: running as root, and neither a postgres nor a nobody user exists to run PostgreSQL as (it refuses root)")
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("pgtest: find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// PID is the server's process id (the postmaster, parent of every backend),
// read from its postmaster.pid: a load run counts the cluster's CPU by it.
func (c *Cluster) PID() (int, error) {
	b, err := os.ReadFile(filepath.Join(c.data, "postmaster.pid"))
	if err != nil {
		return 0, fmt.Errorf("pgtest: %w", err)
	}
	first, _, _ := strings.Cut(string(b), "\n")
	pid, err := strconv.Atoi(strings.TrimSpace(first))
	if err != nil {
		return 0, fmt.Errorf("pgtest: postmaster.pid: %w", err)
	}
	return pid, nil
}
