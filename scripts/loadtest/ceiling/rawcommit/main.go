// Command rawcommit is the ceiling of durable writes on this machine: each
// POST /commit is one single-row INSERT in its own transaction, committed
// with SQLite's settings in rolegate (internal/sqlite/db.go: WAL,
// synchronous=FULL, BEGIN IMMEDIATE, one write connection), through the
// same driver (modernc.org/sqlite, the product's version) and the same web
// stack (Echo v4), so that scripts/loadtest -ratios can measure rolegate's
// submissions against it under the same load, on the same disk.
//
// Given a postgres:// URL instead of a file, it commits the same row to
// PostgreSQL through the product's driver (pgx's pool, 16 connections as
// internal/postgres opens by default), each in its own transaction with the
// server's durability as configured: the ceiling of rolegate on PostgreSQL.
//
// It prints "listening http://ADDR" on stdout once it accepts connections.
package main

import (
	"context"
	"database/sql"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/labstack/echo/v4"
	_ "modernc.org/sqlite"
)

// pragmas are internal/sqlite's (db.go), copied: the point is to commit
// exactly as the product does.
var pragmas = []string{
	"journal_mode(WAL)",
	"synchronous(FULL)",
	"foreign_keys(1)",
	"busy_timeout(5000)",
	"temp_store(MEMORY)",
	"cache_size(-2000)",
}

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "address to listen on")
	path := flag.String("db", "", "the SQLite file to commit to (created; put it on the disk rolegate's database is on), or a postgres:// URL")
	flag.Parse()
	run := runSQLite
	if strings.HasPrefix(*path, "postgres://") {
		run = runPostgres
	}
	if err := run(*addr, *path); err != nil {
		fmt.Fprintln(os.Stderr, "rawcommit:", err)
		os.Exit(1)
	}
}

func runSQLite(addr, path string) error {
	if path == "" {
		return fmt.Errorf("-db is required")
	}
	q := url.Values{}
	for _, p := range pragmas {
		q.Add("_pragma", p)
	}
	db, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode()+"&_txlock=immediate")
	if err != nil {
		return err
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	db.SetConnMaxLifetime(0)
	if _, err := db.Exec(`CREATE TABLE IF NOT EXISTS commits (id INTEGER PRIMARY KEY, body TEXT NOT NULL, at TEXT NOT NULL)`); err != nil {
		return err
	}
	// Say what the connection really runs with, not what was asked for.
	var journal string
	var synchronous int
	if err := db.QueryRow(`PRAGMA journal_mode`).Scan(&journal); err != nil {
		return err
	}
	if err := db.QueryRow(`PRAGMA synchronous`).Scan(&synchronous); err != nil {
		return err
	}
	if journal != "wal" || synchronous != 2 {
		return fmt.Errorf("journal_mode=%s synchronous=%d; want wal and 2 (FULL)", journal, synchronous)
	}

	commit := func(ctx context.Context, body string) error {
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		defer tx.Rollback()
		if _, err := tx.ExecContext(ctx, `INSERT INTO commits (body, at) VALUES (?, ?)`,
			body, time.Now().UTC().Format(time.RFC3339Nano)); err != nil {
			return err
		}
		return tx.Commit()
	}
	return serve(addr, commit, "journal_mode="+journal+" synchronous=FULL")
}

// runPostgres commits to PostgreSQL at url, one row per transaction.
func runPostgres(addr, url string) error {
	ctx := context.Background()
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return err
	}
	cfg.MaxConns = 16
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return err
	}
	defer pool.Close()
	if _, err := pool.Exec(ctx, `CREATE TABLE IF NOT EXISTS commits (id bigserial PRIMARY KEY, body text NOT NULL, at timestamptz NOT NULL)`); err != nil {
		return err
	}
	var fsync, syncCommit string
	if err := pool.QueryRow(ctx, `SELECT current_setting('fsync'), current_setting('synchronous_commit')`).Scan(&fsync, &syncCommit); err != nil {
		return err
	}
	commit := func(ctx context.Context, body string) error {
		tx, err := pool.Begin(ctx)
		if err != nil {
			return err
		}
		defer tx.Rollback(ctx)
		if _, err := tx.Exec(ctx, `INSERT INTO commits (body, at) VALUES ($1, $2)`, body, time.Now()); err != nil {
			return err
		}
		return tx.Commit(ctx)
	}
	return serve(addr, commit, "postgres fsync="+fsync+" synchronous_commit="+syncCommit)
}

// serve answers POST /commit with one durable commit of its body, and a
// redirect, as rolegate answers a submission.
func serve(addr string, commit func(ctx context.Context, body string) error, settings string) error {
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.POST("/commit", func(c echo.Context) error {
		body, err := io.ReadAll(io.LimitReader(c.Request().Body, 64<<10))
		if err != nil {
			return err
		}
		if err := commit(c.Request().Context(), string(body)); err != nil {
			return err
		}
		return c.Redirect(http.StatusSeeOther, "/done")
	})
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	fmt.Printf("listening http://%s (%s)\n", ln.Addr(), settings)
	srv := &http.Server{Handler: e, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
		WriteTimeout: 5 * time.Minute, IdleTimeout: 2 * time.Minute}
	return srv.Serve(ln)
}
