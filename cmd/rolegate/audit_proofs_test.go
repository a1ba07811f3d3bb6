package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/rolegate/rolegate/internal/audit"
	"github.com/rolegate/rolegate/internal/sqlite"
)

// logFixture is a trail with two checkpoints signed by the portal's key:
// A after 20 events (A is event 21), B after 50 (event 52), then 8 more
// events.
type logFixture struct {
	dir, path, keyFile, verifier string
	cpA, cpB                     string // checkpoint files
}

func newLogFixture(t *testing.T) *logFixture {
	t.Helper()
	f := &logFixture{dir: t.TempDir()}
	f.path = newTrail(t, 20)
	f.keyFile = filepath.Join(f.dir, "checkpoint.key")
	out, code := runAudit(t, "keygen", "-name", "rolegate.test/audit", f.keyFile)
	if code != 0 {
		t.Fatalf("keygen = %d %q", code, out)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	f.verifier = lines[len(lines)-1]
	f.cpA = f.checkpoint(t, f.path, "a")
	f.grow(t, f.path, 30)
	f.cpB = f.checkpoint(t, f.path, "b")
	f.grow(t, f.path, 8)
	return f
}

// checkpoint signs a checkpoint of the trail at path (recorded in it) and
// keeps the note in a file, as a witness would.
func (f *logFixture) checkpoint(t *testing.T, path, name string) string {
	t.Helper()
	out, code := runAudit(t, "checkpoint", "-db", path, "-key", f.keyFile)
	if code != 0 {
		t.Fatalf("audit checkpoint = %d %q", code, out)
	}
	file := filepath.Join(f.dir, "cp-"+name+".txt")
	if err := os.WriteFile(file, []byte(out), 0o600); err != nil {
		t.Fatal(err)
	}
	return file
}

func (f *logFixture) grow(t *testing.T, path string, n int) {
	t.Helper()
	db, err := sqlite.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	appendEvents(t, db, n)
	db.Close()
}

func (f *logFixture) write(t *testing.T, name, content string) string {
	t.Helper()
	file := filepath.Join(f.dir, name)
	if err := os.WriteFile(file, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return file
}

// runAuditOut runs an audit command and returns stdout apart.
func runAuditOut(t *testing.T, args ...string) (stdout, all string, code int) {
	t.Helper()
	var out, errb bytes.Buffer
	err := run(context.Background(), append([]string{"audit"}, args...), env(nil), &out, &errb)
	all = out.String() + errb.String()
	if err != nil {
		return out.String(), all + err.Error(), exitCode(err)
	}
	return out.String(), all, 0
}

func wantRun(t *testing.T, wantCode int, want string, args ...string) string {
	t.Helper()
	stdout, all, code := runAuditOut(t, args...)
	if code != wantCode || !strings.Contains(all, want) {
		t.Errorf("rolegate audit %q = %d %q; want %d and %q", args, code, all, wantCode, want)
	}
	return stdout
}

func TestAuditProveInclusion(t *testing.T) {
	f := newLogFixture(t)

	// Against the latest checkpoint recorded in the trail (B): the proof
	// is one exported line, carrying B, checked alone with the key.
	proof := wantRun(t, 0, "event 5 is included in the checkpoint of rolegate.test/audit at 51 events", "prove", "-db", f.path, "-event", "5")
	proofFile := f.write(t, "proof-5.jsonl", proof)
	wantRun(t, 0, "1 events included in the tree of 51 events", "verify", "-export", proofFile, "-verifier", f.verifier)
	wantRun(t, 0, "signed by the checkpoint the export carries, signed by rolegate.test/audit", "verify", "-export", proofFile, "-verifier", f.verifier)
	wantRun(t, 0, "signature was NOT checked", "verify", "-export", proofFile)
	wantRun(t, 0, "signed by the checkpoint given", "verify", "-export", proofFile, "-checkpoint", f.cpB, "-verifier", f.verifier)

	// Against an older checkpoint kept elsewhere (A), after many appends.
	for _, seq := range []string{"1", "13", "20"} {
		p := f.write(t, "proof-a-"+seq+".jsonl", wantRun(t, 0, "at 20 events", "prove", "-db", f.path, "-event", seq, "-checkpoint", f.cpA))
		wantRun(t, 0, "1 events included in the tree of 20 events", "verify", "-export", p, "-checkpoint", f.cpA, "-verifier", f.verifier)
	}
	wantRun(t, 2, "event 30 is newer than the checkpoint (20 events)", "prove", "-db", f.path, "-event", "30", "-checkpoint", f.cpA)
	// A proof against B does not fit A.
	wantRun(t, 2, "the checkpoint given covers 20 events", "verify", "-export", proofFile, "-checkpoint", f.cpA, "-verifier", f.verifier)

	// The proof file tampered with: its text, then its text with the chain
	// hash recomputed, then its proof hashes.
	e, p, err := audit.ParseProvedJSONLine([]byte(proof))
	if err != nil {
		t.Fatal(err)
	}
	edited := e
	edited.ActorName = "Mallory"
	b, _ := audit.AppendProvedJSONLine(nil, edited, p)
	wantRun(t, 1, "(line 1) its content does not match its hash", "verify", "-export", f.write(t, "edited.jsonl", string(b)), "-verifier", f.verifier)
	if edited.Hash, err = audit.Hash(edited); err != nil {
		t.Fatal(err)
	}
	b, _ = audit.AppendProvedJSONLine(nil, edited, p)
	wantRun(t, 1, "does not lead to the root that the checkpoint it carries signed", "verify", "-export", f.write(t, "rehashed.jsonl", string(b)), "-verifier", f.verifier)
	badProof := *p
	badProof.Hashes = append([]tlog.Hash(nil), p.Hashes...)
	badProof.Hashes[1][0] ^= 1
	b, _ = audit.AppendProvedJSONLine(nil, e, &badProof)
	wantRun(t, 1, "does not lead to the root", "verify", "-export", f.write(t, "badproof.jsonl", string(b)), "-verifier", f.verifier)

	// The trail tampered with: prove refuses to hand out a proof that does
	// not lead to the signed root.
	edit := tamper(t, f.path, `UPDATE audit_events SET details = '{"i":99}' WHERE seq = 5`)
	wantRun(t, 1, "event 5 as stored does not lead to the root signed by rolegate.test/audit at 51 events", "prove", "-db", edit, "-event", "5")
	rw := rewrittenAt(t, f.path, 5)
	wantRun(t, 1, "does not lead to the root signed by rolegate.test/audit at 20 events", "prove", "-db", rw, "-event", "5", "-checkpoint", f.cpA)
	truncated := tamper(t, f.path, `DELETE FROM audit_events WHERE seq > 15`)
	wantRun(t, 1, "event 18 is not in the trail, though the checkpoint covers 20 events", "prove", "-db", truncated, "-event", "18", "-checkpoint", f.cpA)

	// Usage.
	wantRun(t, 2, "give -event N", "prove", "-db", f.path)
	wantRun(t, 2, "no checkpoint of the Merkle tree is recorded", "prove", "-db", newTrail(t, 3), "-event", "1")
}

func TestAuditVerifyConsistency(t *testing.T) {
	f := newLogFixture(t)
	wantRun(t, 0, "checkpoints of rolegate.test/audit at 20 and 51 events: consistent", "verify", "-db", f.path,
		"-checkpoint", f.cpA, "-checkpoint", f.cpB, "-verifier", f.verifier)
	wantRun(t, 1, "fewer than the older one's 51 (truncated; or give the older one first)", "verify", "-db", f.path,
		"-checkpoint", f.cpB, "-checkpoint", f.cpA, "-verifier", f.verifier)

	// Offline: the proof from the portal, checked without the database.
	cons := f.write(t, "cons.json", wantRun(t, 0, "the tree of 51 events extends the tree of 20", "prove", "-db", f.path, "-checkpoint", f.cpA, "-checkpoint", f.cpB))
	wantRun(t, 0, "consistent", "verify", "-db", filepath.Join(f.dir, "no.db"), "-checkpoint", f.cpA, "-checkpoint", f.cpB, "-verifier", f.verifier, "-proof", cons)
	var p audit.ConsistencyProof
	json.Unmarshal(mustRead(t, cons), &p)
	p.Hashes[0][3] ^= 1
	b, _ := json.Marshal(p)
	wantRun(t, 1, "does not extend the tree of 20", "verify", "-checkpoint", f.cpA, "-checkpoint", f.cpB, "-verifier", f.verifier, "-proof", f.write(t, "bad.json", string(b)))

	// A portal that rewrote its history (every hash and the tree
	// recomputed) and signed a new checkpoint with its own key: the
	// witness's older checkpoint shows it.
	rw := rewrittenAt(t, f.path, 7)
	cpC := f.checkpoint(t, rw, "c")
	// (The checkpoints recorded in the trail show it too, unless the
	// forger re-signs those as well; the witness's copy of A does not
	// depend on that.)
	wantRun(t, 1, "audit event 21: it records a checkpoint of 20 events that does not match", "verify", "-db", rw, "-checkpoint", cpC, "-verifier", f.verifier)
	wantRun(t, 1, "the tree of 60 events signed later does not extend the tree of 20 signed before", "verify", "-db", rw,
		"-checkpoint", f.cpA, "-checkpoint", cpC, "-verifier", f.verifier)
	wantRun(t, 1, "does not extend", "prove", "-db", rw, "-checkpoint", f.cpA, "-checkpoint", cpC)

	// A truncated trail regrown with other events past the old size.
	cut := tamper(t, f.path, `DELETE FROM audit_events WHERE seq > 15`,
		`DELETE FROM audit_tree WHERE id >= `+itoa(tlog.StoredHashIndex(0, 15)))
	f.grow(t, cut, 10)
	cpD := f.checkpoint(t, cut, "d")
	wantRun(t, 1, "does not extend the tree of 20", "verify", "-db", cut, "-checkpoint", f.cpA, "-checkpoint", cpD, "-verifier", f.verifier)
	// Truncated, not regrown: B's events are gone.
	wantRun(t, 1, "the trail holds fewer events than the checkpoint of 51", "verify", "-db", tamper(t, f.path, `DELETE FROM audit_events WHERE seq > 40`),
		"-checkpoint", f.cpA, "-checkpoint", f.cpB, "-verifier", f.verifier)

	// A checkpoint signed before the tree (a chain head) still proves its
	// events by walking the trail, but cannot anchor a consistency proof.
	db, err := sqlite.OpenNoMigrate(context.Background(), f.path)
	if err != nil {
		t.Fatal(err)
	}
	head, err := sqlite.NewTrail(db).ChainHash(context.Background(), 20)
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	signer, err := loadCheckpointSigner(f.keyFile)
	if err != nil {
		t.Fatal(err)
	}
	legacy, err := audit.Sign(audit.Checkpoint{Origin: signer.Name(), Size: 20, Hash: head}, signer)
	if err != nil {
		t.Fatal(err)
	}
	legacyFile := f.write(t, "legacy.txt", string(legacy))
	wantRun(t, 0, "checkpoint of rolegate.test/audit at 20 events: contained, unchanged (chain head, signed before the Merkle tree)",
		"verify", "-db", f.path, "-checkpoint", legacyFile, "-verifier", f.verifier)
	wantRun(t, 1, "the trail's root after its first 20 events differs", "verify", "-db", rewrittenAt(t, f.path, 3), "-checkpoint", legacyFile, "-verifier", f.verifier)
	wantRun(t, 2, "signed before the Merkle tree", "verify", "-db", f.path, "-checkpoint", legacyFile, "-checkpoint", f.cpB, "-verifier", f.verifier)

	wantRun(t, 2, "needs the key that signed it", "verify", "-db", f.path, "-checkpoint", f.cpA, "-checkpoint", f.cpB)
	wantRun(t, 2, "at most two checkpoints", "verify", "-db", f.path, "-checkpoint", f.cpA, "-checkpoint", f.cpB, "-checkpoint", f.cpB, "-verifier", f.verifier)
}

// rewrittenAt is a copy of the trail at path whose event seq was changed
// and every hash, chain and tree, recomputed.
func rewrittenAt(t *testing.T, path string, seq int64) string {
	t.Helper()
	p := tamper(t, path, `UPDATE audit_events SET actor_name = 'Mallory' WHERE seq = `+itoa(seq))
	rehash(t, p)
	return p
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
