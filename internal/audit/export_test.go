package audit_test

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/rolegate/rolegate/internal/audit"
	"github.com/rolegate/rolegate/internal/rolegate"
)

func TestGuardFormula(t *testing.T) {
	cases := []struct{ in, want string }{
		{"", ""},
		{"Riley Requester", "Riley Requester"},
		{"=HYPERLINK(\"http://evil\")", "'=HYPERLINK(\"http://evil\")"},
		{"+1+1", "'+1+1"},
		{"-2+3", "'-2+3"},
		{"@SUM(A1)", "'@SUM(A1)"},
		{"\tcmd", "'\tcmd"},
		{"\rcmd", "'\rcmd"},
		{"a=b", "a=b"},
		{"{\"comment\":\"=1+1\"}", "{\"comment\":\"=1+1\"}"},
	}
	for _, c := range cases {
		if got := audit.GuardFormula(c.in); got != c.want {
			t.Errorf("GuardFormula(%q) = %q; want %q", c.in, got, c.want)
		}
	}
}

func TestCSVExport(t *testing.T) {
	events := chain(2)
	events[1].ActorName = "=cmd|' /C calc'!A0"
	events[1].RoleName = "@Group, \"Reader\"\nsecond line"
	events[0].RequestID = 0

	var buf bytes.Buffer
	w := audit.NewExportWriter(&buf, audit.FormatCSV)
	for _, e := range events {
		if err := w.Write(e); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	records, err := csv.NewReader(&buf).ReadAll()
	if err != nil {
		t.Fatalf("the export is not valid CSV: %v", err)
	}
	if len(records) != 3 || !reflect.DeepEqual(records[0], audit.CSVHeader) {
		t.Fatalf("CSV = %q; want the header and 2 rows", records)
	}
	col := func(name string) int {
		for i, h := range audit.CSVHeader {
			if h == name {
				return i
			}
		}
		t.Fatalf("no column %s", name)
		return -1
	}
	row := records[2]
	checks := []struct{ column, want string }{
		{"seq", "2"},
		{"at", events[1].At.UTC().Format("2006-01-02T15:04:05.000Z")},
		{"actor_name", "'=cmd|' /C calc'!A0"},
		{"role_name", "'@Group, \"Reader\"\nsecond line"},
		{"action", "request.created"},
		{"request_id", "1"},
		{"details", string(events[1].Details)},
		{"hash", events[1].Hash},
		{"prev_hash", events[0].Hash},
	}
	for _, c := range checks {
		if got := row[col(c.column)]; got != c.want {
			t.Errorf("CSV %s = %q; want %q", c.column, got, c.want)
		}
	}
	if got := records[1][col("request_id")]; got != "" {
		t.Errorf("CSV request_id of an event without request = %q; want empty", got)
	}

	var empty bytes.Buffer
	w = audit.NewExportWriter(&empty, audit.FormatCSV)
	if err := w.Flush(); err != nil || strings.TrimSpace(empty.String()) != strings.Join(audit.CSVHeader, ",") {
		t.Errorf("CSV of no events = %q, %v; want the header row", empty.String(), err)
	}
}

// TestJSONExportVerifies: the JSON Lines export keeps every value exactly,
// so an unfiltered export can be checked offline with the same walk as
// the database.
func TestJSONExportVerifies(t *testing.T) {
	events := chain(5)
	events[2].ActorName = "<Mallory & Co>"
	events[2].Details = []byte(`{"comment":"a <b> & \"c\"","n":2}`)
	events[4].RequestID = 0
	events[2].Hash = mustHash(events[2])
	for i := 3; i < len(events); i++ {
		events[i].PrevHash = events[i-1].Hash
		events[i].Hash = mustHash(events[i])
	}

	var buf bytes.Buffer
	w := audit.NewExportWriter(&buf, audit.FormatJSONL)
	for _, e := range events {
		if err := w.Write(e); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}

	walk := audit.NewWalk()
	sc := bufio.NewScanner(&buf)
	lines := 0
	for sc.Scan() {
		lines++
		var generic map[string]any
		if err := json.Unmarshal(sc.Bytes(), &generic); err != nil {
			t.Fatalf("line %d is not JSON: %v", lines, err)
		}
		if _, ok := generic["details"].(map[string]any); !ok {
			t.Errorf("line %d details = %v; want a JSON object", lines, generic["details"])
		}
		e, err := audit.ParseJSONLine(sc.Bytes())
		if err != nil {
			t.Fatalf("ParseJSONLine(line %d): %v", lines, err)
		}
		if err := walk.Add(e); err != nil {
			t.Fatalf("the exported event %d does not verify: %v", lines, err)
		}
		if lines == 5 && generic["request_id"] != nil {
			t.Errorf("request_id of an event without request = %v; want null", generic["request_id"])
		}
	}
	if head, err := walk.Finish(); err != nil || head.Hash != events[4].Hash || lines != 5 {
		t.Errorf("walk of the export = %+v, %v after %d lines; want 5 events ending at %s", head, err, lines, events[4].Hash)
	}
}

func TestJSONLineKeepsDetailsThatAreNotJSON(t *testing.T) {
	e := rolegate.Event{Seq: 1, Details: []byte("not json")}
	line, err := audit.AppendJSONLine(nil, e)
	if err != nil {
		t.Fatalf("AppendJSONLine(non-JSON details) = %v", err)
	}
	if !bytes.Contains(line, []byte(`"details":"not json"`)) {
		t.Errorf("AppendJSONLine(non-JSON details) = %s; want the details as a string", line)
	}
}

// TestJSONLineEscapesEverything: whatever text the trail holds, each line
// is valid JSON that reads back as the same text (invalid UTF-8 as U+FFFD,
// as encoding/json writes it).
func TestJSONLineEscapesEverything(t *testing.T) {
	cases := []struct{ in, want string }{
		{`plain`, `plain`},
		{`"quoted" \back\slash`, `"quoted" \back\slash`},
		{"new\nline\ttab\rcr\x00nul\x1fus", "new\nline\ttab\rcr\x00nul\x1fus"},
		{"<script>&amp;</script>", "<script>&amp;</script>"},
		{"Zoë 日本 \u2028\u2029 😀", "Zoë 日本 \u2028\u2029 😀"},
		{"bad \xff\xfe utf8", "bad \ufffd\ufffd utf8"},
	}
	for _, c := range cases {
		e := rolegate.Event{Seq: 1, ActorName: c.in, Details: []byte(`{"comment":"x"}`)}
		line, err := audit.AppendJSONLine(nil, e)
		if err != nil {
			t.Fatal(err)
		}
		if !json.Valid(line) || bytes.Count(line, []byte("\n")) != 1 || line[len(line)-1] != '\n' {
			t.Errorf("AppendJSONLine(%q) = %q; want one valid JSON line", c.in, line)
			continue
		}
		var got map[string]any
		if err := json.Unmarshal(line, &got); err != nil || got["actor_name"] != c.want {
			t.Errorf("AppendJSONLine(%q) reads back as %q (%v); want %q", c.in, got["actor_name"], err, c.want)
		}
	}
}
