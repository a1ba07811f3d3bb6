package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rolegate/rolegate/internal/audit"
	"github.com/rolegate/rolegate/internal/rolegate"
	"github.com/rolegate/rolegate/internal/sqlite"
)

// hostileTexts is text a client, a person or an upstream could send:
// quotes and escapes, every control character, invalid UTF-8, line and
// paragraph separators, bidirectional overrides, emoji with joiners and
// modifiers, combining marks, scripts of many languages, markup.
var hostileTexts = func() []string {
	var controls strings.Builder
	for c := 0; c < 0x20; c++ {
		controls.WriteByte(byte(c))
	}
	controls.WriteByte(0x7f)
	return []string{
		controls.String(),
		`"quoted" \back\slash\ \u0000 \n {"json":true} ]}`,
		"nul\x00inside",
		"invalid \xff\xfe utf-8 \xc3\x28 and a truncated \xe2\x82",
		"separators \u2028 and \u2029, BOM \ufeff, replacement \ufffd",
		"bidi \u202egnp.exe\u202c \u2066isolate\u2069",
		"emoji 👩🏽‍💻 🏳️‍🌈 🇫🇷 family 👨‍👩‍👧‍👦 ✔︎",
		"combining e\u0301 Z\u0351\u0352\u0353a\u0354l\u0355g\u0356o",
		"日本語 中文 한국어 العربية עברית ελληνικά русский हिन्दी ไทย Zoë",
		`<script>alert(1)</script> ' OR 1=1; -- =HYPERLINK("x")`,
		strings.Repeat("long ", 400),
		"",
	}
}()

// hostileTrail appends an event per hostile text, the text in every field
// a client can reach, and a few plain events between them.
func hostileTrail(t *testing.T, db *sqlite.DB) {
	t.Helper()
	for i, s := range hostileTexts {
		a := rolegate.System("test")
		a.Subject, a.Name, a.Email = "sub|"+s, s, s+"@example.com"
		a.ClientIP, a.UserAgent, a.HTTPRequestID = s, s, s
		e := rolegate.NewEvent(a, rolegate.OutcomeSuccess, rolegate.RequestCreated{})
		// Details as any version may have stored them: hostile keys too.
		e.Details, _ = json.Marshal(map[string]any{"comment": s, s: []string{s, s}, "n": i})
		e.RoleName, e.RequestID = s, int64(i+1)
		if err := sqlite.NewTrail(db).AppendEvent(context.Background(), e); err != nil {
			t.Fatal(err)
		}
		appendEvents(t, db, 2)
	}
}

// exportTrail writes the trail's events matching f as the portal's JSON
// export does (with proofs when proved).
func exportTrail(t *testing.T, path string, f rolegate.AuditFilter, proved bool) string {
	t.Helper()
	db, err := sqlite.OpenNoMigrate(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var buf bytes.Buffer
	w := audit.NewExportWriter(&buf, audit.FormatJSONL)
	if proved {
		err = sqlite.NewTrail(db).ExportProvedEvents(context.Background(), f, w.WriteProved)
	} else {
		err = sqlite.NewTrail(db).ExportEvents(context.Background(), f, w.Write)
	}
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

func TestAuditVerifyExport(t *testing.T) {
	f := newLogFixture(t) // 20 events, A, 30, B, 8: 60 events
	db, err := sqlite.Open(context.Background(), f.path)
	if err != nil {
		t.Fatal(err)
	}
	hostileTrail(t, db)
	db.Close()
	cpC := f.checkpoint(t, f.path, "c")
	f.grow(t, f.path, 3)                // events no checkpoint covers yet
	covered := 60 + 3*len(hostileTexts) // by C, which is the next event
	total := covered + 1 + 3

	full := exportTrail(t, f.path, rolegate.AuditFilter{}, false)
	fullFile := f.write(t, "full.jsonl", full)
	lines := strings.SplitAfter(strings.TrimSuffix(full, "\n"), "\n")
	if len(lines) != total {
		t.Fatalf("full export has %d lines; want %d", len(lines), total)
	}
	// The whole export, against each checkpoint: before and after the
	// hostile events, with the recorded checkpoints checked too.
	for _, cp := range []string{f.cpA, f.cpB, cpC} {
		wantRun(t, 0, "export verified: the trail's first "+itoa(int64(total))+" events", "verify", "-export", fullFile, "-checkpoint", cp, "-verifier", f.verifier)
	}
	wantRun(t, 0, "3 checkpoints recorded in the export and signed by rolegate.test/audit match", "verify", "-export", fullFile, "-verifier", f.verifier)
	wantRun(t, 0, "the 4 events after it are chained to it", "verify", "-export", fullFile, "-checkpoint", cpC, "-verifier", f.verifier)

	// A filtered export: the hostile events alone, each with its proof in
	// the checkpoint C, which they carry.
	filtered := exportTrail(t, f.path, rolegate.AuditFilter{Action: rolegate.ActionRequestCreated}, true)
	filteredFile := f.write(t, "filtered.jsonl", filtered)
	n := itoa(int64(len(hostileTexts)))
	wantRun(t, 0, n+" events included in the tree of "+itoa(int64(covered))+" events", "verify", "-export", filteredFile, "-verifier", f.verifier)
	wantRun(t, 0, "signed by the checkpoint given", "verify", "-export", filteredFile, "-checkpoint", cpC, "-verifier", f.verifier)
	if !strings.Contains(filtered, `\ufffd`) || !strings.Contains(filtered, `\u2028`) || !strings.Contains(filtered, "👩🏽‍💻") {
		t.Errorf("the filtered export does not hold the hostile texts as expected:\n%.400s", filtered)
	}
	// Every event, filtered by a request: a newer event is proved in the
	// tree as it was at the export, and says that no checkpoint signs it.
	newest := exportTrail(t, f.path, rolegate.AuditFilter{Action: rolegate.ActionCatalogRefreshed}, true)
	wantRun(t, 0, "3 events included in the tree of "+itoa(int64(total))+" events, root", "verify", "-export", f.write(t, "newest.jsonl", newest), "-verifier", f.verifier)
	wantRun(t, 0, "no checkpoint: compare the root", "verify", "-export", f.write(t, "newest.jsonl", newest), "-verifier", f.verifier)

	flines := strings.SplitAfter(strings.TrimSuffix(filtered, "\n"), "\n")
	join := func(ls ...[]string) string {
		var b strings.Builder
		for _, l := range ls {
			b.WriteString(strings.Join(l, ""))
		}
		return b.String()
	}
	edit := func(l, from, to string) string {
		if !strings.Contains(l, from) {
			t.Fatalf("%q not in line %.200s", from, l)
		}
		return strings.Replace(l, from, to, 1)
	}
	// Tampering with any line: every field of every line of the full
	// export, one at a time, is caught by the content hash.
	fields := []string{`"actor_name":"`, `"role_name":"`, `"details":{`, `"user_agent":"`, `"client_ip":"`, `"http_request_id":"`, `"actor_key":"`, `"actor_email":"`, `"actor_roles":"`, `"action":"`, `"outcome":"`}
	for i := 60; i < len(lines); i += 7 {
		for _, field := range fields {
			tampered := append([]string(nil), lines...)
			to := field + "X"
			if strings.HasSuffix(field, "{") {
				to = field + `"x":0,`
			}
			tampered[i] = edit(lines[i], field, to)
			wantRun(t, 1, "its content does not match its stored hash", "verify", "-export", f.write(t, "t.jsonl", join(tampered)))
		}
	}
	cases := []struct {
		name, content, cp, want string
	}{
		{"full: a line edited", join(lines[:30], []string{edit(lines[30], `"outcome":"success"`, `"outcome":"failure"`)}, lines[31:]), f.cpB,
			"(line 31) its content does not match its stored hash"},
		{"full: two lines swapped", join(lines[:40], lines[41:42], lines[40:41], lines[42:]), f.cpB, "(line 41) missing"},
		{"full: a line dropped", join(lines[:12], lines[13:]), f.cpA, "(line 13) missing: the next event stored is 14"},
		{"full: truncated before the checkpoint", join(lines[:45]), f.cpB, "the trail was truncated"},
		{"full: first line dropped", join(lines[1:]), f.cpA, "(line 1) missing"},
		{"filtered: a line edited", join(flines[:3], []string{edit(flines[3], `"outcome":"success"`, `"outcome":"failure"`)}, flines[4:]), cpC,
			"(line 4) its content does not match its hash"},
		{"filtered: reordered", join(flines[:2], flines[3:4], flines[2:3], flines[4:]), cpC, "(line 4) out of order"},
		{"filtered: a line repeated", join(flines[:5], flines[4:]), cpC, "(line 6) out of order"},
		{"filtered: a proof removed", join(flines[:1], []string{exportLineWithoutProof(t, flines[1])}, flines[2:]), cpC, "(line 2) no inclusion proof"},
		{"filtered: a full export's line mixed in", join(flines[:2], lines[70:71], flines[2:]), cpC, "(line 3) no inclusion proof"},
		{"full: a proved line mixed in", join(lines[:5], flines[:1], lines[5:]), "", "a line with a proof in an export whose first line has none"},
	}
	for _, c := range cases {
		args := []string{"verify", "-export", f.write(t, "case.jsonl", c.content), "-verifier", f.verifier}
		if c.cp != "" {
			args = append(args, "-checkpoint", c.cp)
		}
		wantRun(t, 1, c.want, args...)
	}

	// A history rewritten with every hash recomputed, exported in full:
	// self-consistent, so only a checkpoint from before shows it.
	rw := exportTrail(t, rewrittenAt(t, f.path, 10), rolegate.AuditFilter{}, false)
	rwFile := f.write(t, "rewritten.jsonl", rw)
	wantRun(t, 0, "export verified", "verify", "-export", rwFile)
	wantRun(t, 1, "audit event 20: (line 20) the trail's root after its first 20 events differs from the checkpoint", "verify", "-export", rwFile, "-checkpoint", f.cpA, "-verifier", f.verifier)
	wantRun(t, 1, "it records a checkpoint of 20 events that does not match", "verify", "-export", rwFile, "-verifier", f.verifier)
	// A filtered export is refused by the rewritten trail itself: its
	// latest recorded checkpoint no longer matches. Lines proved in the
	// forged tree against C's size lead to another root than C's.
	rwPath := rewrittenAt(t, f.path, 10)
	rwdb, err := sqlite.OpenNoMigrate(context.Background(), rwPath)
	if err != nil {
		t.Fatal(err)
	}
	err = sqlite.NewTrail(rwdb).ExportProvedEvents(context.Background(), rolegate.AuditFilter{Action: rolegate.ActionRequestCreated},
		func(rolegate.Event, *audit.Proof) error { return nil })
	if !errors.Is(err, audit.ErrTrailChanged) {
		t.Errorf("filtered export of a rewritten trail = %v; want ErrTrailChanged", err)
	}
	var forged strings.Builder
	for _, l := range flines {
		e, p, _ := audit.ParseProvedJSONLine([]byte(l))
		e2, hashes, err := sqlite.NewTrail(rwdb).ProveEvent(context.Background(), e.Seq, p.TreeSize)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := audit.AppendProvedJSONLine(nil, e2, &audit.Proof{TreeSize: p.TreeSize, Hashes: hashes})
		forged.Write(b)
	}
	rwdb.Close()
	wantRun(t, 1, "does not lead to the root of the checkpoint signed by rolegate.test/audit", "verify", "-export", f.write(t, "rwf.jsonl", forged.String()), "-checkpoint", cpC, "-verifier", f.verifier)
	wantRun(t, 1, "the trail no longer matches its latest recorded checkpoint", "prove", "-db", rwPath, "-event", "5")

	// What cannot be checked says so.
	wantRun(t, 2, "no such file", "verify", "-export", filepath.Join(f.dir, "missing.jsonl"))
	wantRun(t, 2, "needs the key", "verify", "-export", fullFile, "-checkpoint", f.cpA)
	wantRun(t, 1, "(line 1) not an exported event", "verify", "-export", f.write(t, "junk.jsonl", "not json\n"))
}

// exportLineWithoutProof drops the proof of a filtered export's line.
func exportLineWithoutProof(t *testing.T, line string) string {
	t.Helper()
	e, _, err := audit.ParseProvedJSONLine([]byte(line))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := audit.AppendJSONLine(nil, e)
	return string(b)
}
