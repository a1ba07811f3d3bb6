package main

import (
	"bytes"
	"context"
	"database/sql"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/rolegate/rolegate/internal/audit"
	"github.com/rolegate/rolegate/internal/config"
	"github.com/rolegate/rolegate/internal/rolegate"
	"github.com/rolegate/rolegate/internal/sqlite"
	"github.com/rolegate/rolegate/internal/testkit"
)

// runAudit runs "rolegate audit args..." as main would, and returns what
// it printed and its exit status.
func runAudit(t *testing.T, args ...string) (string, int) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), append([]string{"audit"}, args...), env(nil), &stdout, &stderr)
	out := stdout.String() + stderr.String()
	if err != nil {
		out += err.Error()
		return out, exitCode(err)
	}
	return out, 0
}

// newTrail writes a database with n events and closes it.
func newTrail(t *testing.T, n int) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "rolegate.db")
	db, err := sqlite.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	appendEvents(t, db, n)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

// tamper copies the database and changes the copy behind the store's
// back, as someone with the file would: dropping the triggers that refuse
// changes, then running sql.
func tamper(t *testing.T, path string, statements ...string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	copyPath := filepath.Join(t.TempDir(), "tampered.db")
	if err := os.WriteFile(copyPath, b, 0o600); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", "file:"+copyPath)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	drop := []string{"DROP TRIGGER audit_events_no_update", "DROP TRIGGER audit_events_no_delete",
		"DROP TRIGGER audit_tree_no_update", "DROP TRIGGER audit_tree_no_delete"}
	for _, s := range append(drop, statements...) {
		if _, err := db.Exec(s); err != nil {
			t.Fatalf("tamper: %s: %v", s, err)
		}
	}
	return copyPath
}

// rehash recomputes every hash of the trail at path, the chain and the
// whole Merkle tree, as a forger who knows the scheme would after
// rewriting an event.
func rehash(t *testing.T, path string) {
	t.Helper()
	db, err := sqlite.OpenNoMigrate(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	var events []rolegate.Event
	if err := sqlite.NewTrail(db).WalkAuditTrail(context.Background(), func(e rolegate.Event) error { events = append(events, e); return nil }); err != nil {
		t.Fatal(err)
	}
	db.Close()
	raw, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	if _, err := raw.Exec(`DELETE FROM audit_tree`); err != nil {
		t.Fatal(err)
	}
	prev := audit.GenesisHash
	tree := map[int64]tlog.Hash{}
	reader := tlog.HashReaderFunc(func(idx []int64) ([]tlog.Hash, error) {
		out := make([]tlog.Hash, len(idx))
		for i, x := range idx {
			out[i] = tree[x]
		}
		return out, nil
	})
	for _, e := range events {
		e.PrevHash = prev
		if e.Hash, err = audit.Hash(e); err != nil {
			t.Fatal(err)
		}
		prev = e.Hash
		if _, err := raw.Exec(`UPDATE audit_events SET prev_hash = ?, hash = ? WHERE seq = ?`, e.PrevHash, e.Hash, e.Seq); err != nil {
			t.Fatal(err)
		}
		canonical, err := audit.Canonical(e)
		if err != nil {
			t.Fatal(err)
		}
		hashes, err := tlog.StoredHashes(e.Seq-1, canonical, reader)
		if err != nil {
			t.Fatal(err)
		}
		for i, h := range hashes {
			idx := tlog.StoredHashIndex(0, e.Seq-1) + int64(i)
			tree[idx] = h
			if _, err := raw.Exec(`INSERT INTO audit_tree (id, hash) VALUES (?, ?)`, idx, h[:]); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func TestAuditVerify(t *testing.T) {
	path := newTrail(t, 20)

	out, code := runAudit(t, "verify", "-db", path)
	if code != 0 || !strings.Contains(out, "audit trail verified: 20 events, head ") {
		t.Fatalf("audit verify (intact) = %d %q; want 0 and the count and head", code, out)
	}

	cases := []struct {
		name string
		sql  []string
		want string
	}{
		{"details edited", []string{`UPDATE audit_events SET details = '{"i":99}' WHERE seq = 7`},
			"audit event 7: its content does not match its stored hash"},
		{"actor edited", []string{`UPDATE audit_events SET actor_name = 'Someone Else' WHERE seq = 12`},
			"audit event 12: its content does not match its stored hash"},
		{"hash replaced", []string{`UPDATE audit_events SET hash = '` + strings.Repeat("ab", 32) + `' WHERE seq = 3`},
			"audit event 3: its content does not match"},
		{"event deleted", []string{`DELETE FROM audit_events WHERE seq = 9`},
			"audit event 9: missing: the next event stored is 10"},
		{"first event deleted", []string{`DELETE FROM audit_events WHERE seq = 1`},
			"audit event 1: missing"},
	}
	for _, c := range cases {
		out, code := runAudit(t, "verify", "-db", tamper(t, path, c.sql...))
		if code != 1 || !strings.Contains(out, c.want) {
			t.Errorf("audit verify (%s) = %d %q; want 1 and %q", c.name, code, out, c.want)
		}
	}

	// The original is untouched by all this.
	if out, code := runAudit(t, "verify", "-db", path); code != 0 {
		t.Errorf("audit verify (original after tampering with copies) = %d %q", code, out)
	}
}

func TestAuditCheckpoints(t *testing.T) {
	dir := t.TempDir()
	path := newTrail(t, 20)
	keyFile := filepath.Join(dir, "checkpoint.key")

	out, code := runAudit(t, "keygen", "-name", "rolegate.test/audit", keyFile)
	if code != 0 {
		t.Fatalf("audit keygen = %d %q", code, out)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	verifier := lines[len(lines)-1]
	if !strings.HasPrefix(verifier, "rolegate.test/audit+") {
		t.Fatalf("audit keygen printed %q; want the verifier key last", out)
	}
	if fi, err := os.Stat(keyFile); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("signer key file mode = %v, %v; want 0600", fi.Mode(), err)
	}
	if out, code := runAudit(t, "keygen", keyFile); code != 2 || !strings.Contains(out, "already exists") {
		t.Errorf("audit keygen over an existing key = %d %q; want 2, never overwritten", code, out)
	}

	out, code = runAudit(t, "checkpoint", "-db", path, "-key", keyFile)
	if code != 0 || !strings.HasPrefix(out, "rolegate.test/audit\n20\n") || !strings.Contains(out, "\n— rolegate.test/audit ") {
		t.Fatalf("audit checkpoint = %d %q; want a signed note of 20 events", code, out)
	}
	cpFile := filepath.Join(dir, "checkpoint.txt")
	if err := os.WriteFile(cpFile, []byte(out), 0o600); err != nil {
		t.Fatal(err)
	}
	// The checkpoint is itself event 21; the trail goes on.
	db, err := sqlite.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	appendEvents(t, db, 4)
	db.Close()

	out, code = runAudit(t, "verify", "-db", path, "--checkpoint", cpFile, "--verifier", verifier) // as documented
	for _, want := range []string{"audit trail verified: 25 events", "checkpoint of rolegate.test/audit at 20 events: contained, unchanged",
		"1 checkpoints recorded in the trail and signed by rolegate.test/audit match"} {
		if code != 0 || !strings.Contains(out, want) {
			t.Errorf("audit verify -checkpoint (intact) = %d %q; want 0 and %q", code, out, want)
		}
	}
	verifierFile := filepath.Join(dir, "verifier.txt")
	os.WriteFile(verifierFile, []byte(verifier+"\n"), 0o600)
	if out, code := runAudit(t, "verify", "-db", path, "-checkpoint", cpFile, "-verifier-file", verifierFile); code != 0 {
		t.Errorf("audit verify -verifier-file = %d %q; want 0", code, out)
	}

	cases := []struct {
		name    string
		path    string
		args    []string
		wantOut string
	}{
		// A truncated tail is a valid chain on its own: only a checkpoint
		// kept elsewhere shows what is gone.
		{"truncated, no checkpoint", tamper(t, path, `DELETE FROM audit_events WHERE seq > 15`), nil, "audit trail verified: 15 events"},
		{"truncated", tamper(t, path, `DELETE FROM audit_events WHERE seq > 15`), []string{"-checkpoint", cpFile, "-verifier", verifier},
			"audit event 16: missing: the trail ends at event 15 but the checkpoint signed by rolegate.test/audit covers 20 events (the trail was truncated)"},
		{"rewritten and rehashed", rewritten(t, path), []string{"-checkpoint", cpFile, "-verifier", verifier},
			"audit event 20: the trail's root after its first 20 events differs from the checkpoint"},
		// Without the checkpoint file, the checkpoint recorded in the trail
		// still catches the rewrite: the forger cannot sign a new one.
		{"rewritten, recorded checkpoint", rewritten(t, path), []string{"-verifier", verifier},
			"audit event 21: it records a checkpoint of 20 events that does not match the trail before it"},
	}
	for _, c := range cases {
		out, code := runAudit(t, append([]string{"verify", "-db", c.path}, c.args...)...)
		wantCode := 1
		if c.args == nil {
			wantCode = 0
		}
		if code != wantCode || !strings.Contains(out, c.wantOut) {
			t.Errorf("audit verify (%s) = %d %q; want %d and %q", c.name, code, out, wantCode, c.wantOut)
		}
	}

	// What cannot be checked says so, with status 2.
	_, otherVerifier, _ := audit.GenerateKey("rolegate.test/audit")
	altered := strings.Replace(string(mustRead(t, cpFile)), "\n20\n", "\n19\n", 1)
	alteredFile := filepath.Join(dir, "altered.txt")
	os.WriteFile(alteredFile, []byte(altered), 0o600)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"verify", "-db", filepath.Join(dir, "missing.db")}, "ROLEGATE_DB: no database at"},
		{[]string{"verify", "-db", path, "-checkpoint", cpFile}, "-checkpoint needs the key that signed it"},
		{[]string{"verify", "-db", path, "-checkpoint", cpFile, "-verifier", otherVerifier}, "not signed by the key rolegate.test/audit"},
		{[]string{"verify", "-db", path, "-checkpoint", alteredFile, "-verifier", verifier}, "does not verify: it was altered"},
		{[]string{"verify", "-db", path, "-verifier", "not-a-key"}, "not a checkpoint verifier key"},
		{[]string{"verify", "extra"}, "unexpected"},
		{[]string{"checkpoint", "-db", path}, "ROLEGATE_CHECKPOINT_KEY_FILE: no signer key"},
		{[]string{"checkpoint", "-db", path, "-key", cpFile}, "not a checkpoint signer key"},
		{[]string{"frobnicate"}, `unknown command "frobnicate"`},
		{nil, "usage:"},
	} {
		out, code := runAudit(t, c.args...)
		if code != 2 || !strings.Contains(out, c.want) {
			t.Errorf("rolegate audit %q = %d %q; want 2 and %q", c.args, code, out, c.want)
		}
	}
}

// rewritten is a copy of the trail at path whose event 3 was changed and
// every hash recomputed: self-consistent, so only a checkpoint shows it.
func rewritten(t *testing.T, path string) string {
	t.Helper()
	p := tamper(t, path, `UPDATE audit_events SET actor_name = 'Mallory' WHERE seq = 3`)
	rehash(t, p)
	if out, code := runAudit(t, "verify", "-db", p); code != 0 {
		t.Fatalf("a rehashed trail should verify without checkpoints: %d %q", code, out)
	}
	return p
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestPeriodicCheckpoints: the loop signs at start, logs the note, skips a
// trail that has not moved, and signs again once it has. It runs in a
// synctest bubble, whose clock moves only when every goroutine of it is
// blocked: after time.Sleep(n periods) and synctest.Wait, the loop has
// done exactly those n rounds and is waiting for the next tick.
func TestPeriodicCheckpoints(t *testing.T) {
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "checkpoint.key")
	if _, code := runAudit(t, "keygen", "-name", "rolegate.test/audit", keyFile); code != 0 {
		t.Fatal("keygen failed")
	}
	synctest.Test(t, func(t *testing.T) {
		db, err := sqlite.Open(context.Background(), filepath.Join(dir, "rolegate.db"))
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		appendEvents(t, db, 3)

		var logs testkit.SyncBuffer
		logger := slog.New(slog.NewTextHandler(&logs, nil))
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		const every = 20 * time.Millisecond
		go func() {
			defer close(done)
			runCheckpoints(ctx, &config.Config{CheckpointKeyFile: keyFile, CheckpointEvery: every}, sqlite.NewTrail(db), db.RunExclusive, logger)
		}()
		defer func() { cancel(); <-done }()

		checkpoints := func() []rolegate.Event {
			var out []rolegate.Event
			_ = sqlite.NewTrail(db).WalkAuditTrail(context.Background(), func(e rolegate.Event) error {
				if e.Action == rolegate.ActionAuditCheckpoint {
					out = append(out, e)
				}
				return nil
			})
			return out
		}
		synctest.Wait() // the round at start
		cps := checkpoints()
		if len(cps) != 1 {
			t.Fatalf("%d checkpoints after the start; want 1\n%s", len(cps), logs.String())
		}
		if first := cps[0]; first.Seq != 4 || !strings.Contains(string(first.Details), `"size":3`) || !strings.Contains(string(first.Details), `"trigger":"schedule"`) {
			t.Errorf("first checkpoint = event %d %s; want event 4 covering 3 events", first.Seq, first.Details)
		}
		if !strings.Contains(logs.String(), `msg="audit checkpoint signed" origin=rolegate.test/audit size=3`) {
			t.Errorf("no log line of the signed checkpoint:\n%s", logs.String())
		}
		time.Sleep(5 * every) // five rounds over a trail with nothing new
		synctest.Wait()
		if n := len(checkpoints()); n != 1 {
			t.Errorf("%d checkpoints of an unchanged trail; want 1", n)
		}
		appendEvents(t, db, 1)
		time.Sleep(every)
		synctest.Wait()
		cps = checkpoints()
		if len(cps) != 2 || !strings.Contains(string(cps[1].Details), `"size":5`) {
			t.Errorf("after one new event and a period, checkpoints = %d, the last %s; want 2, the second covering 5 events", len(cps), cps[len(cps)-1].Details)
		}
	})
}

func TestServeRefusesAnUnusableCheckpointKey(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.key")
	os.WriteFile(bad, []byte("PRIVATE+KEY+not+really"), 0o600)
	for _, keyFile := range []string{bad, filepath.Join(dir, "missing.key")} {
		err := run(context.Background(), []string{"serve", "-dev", "-addr", "127.0.0.1:0", "-db", filepath.Join(dir, "rolegate.db")},
			env(map[string]string{"ROLEGATE_CHECKPOINT_KEY_FILE": keyFile}), io.Discard, io.Discard)
		if err == nil || !strings.HasPrefix(err.Error(), "ROLEGATE_CHECKPOINT_KEY_FILE: ") || strings.Contains(err.Error(), "not+really") {
			t.Errorf("serve with checkpoint key %s = %v; want one line naming ROLEGATE_CHECKPOINT_KEY_FILE, without the key", filepath.Base(keyFile), err)
		}
	}
}
