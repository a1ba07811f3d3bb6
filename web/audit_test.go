package web_test

import (
	"bufio"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/rolegate/rolegate/internal/audit"
	"github.com/rolegate/rolegate/internal/rolegate"
)

// getHX fetches path as htmx does.
func (b *browser) getHX(path string) page {
	b.h.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, b.h.URL+path, nil)
	req.Header.Set("HX-Request", "true")
	res, err := b.Do(req)
	if err != nil {
		b.h.t.Fatalf("GET %s: %v", path, err)
	}
	return readPage(b.h.t, res)
}

// appendAuditEvents records n events by someone, through the store's one
// append path.
func (h *harness) appendAuditEvents(n int, who rolegate.Actor, d rolegate.Details) {
	h.t.Helper()
	for range n {
		if err := h.App.Store.Audit.AppendEvent(context.Background(), rolegate.NewEvent(who, rolegate.OutcomeSuccess, d)); err != nil {
			h.t.Fatal(err)
		}
	}
}

// trailEvents reads the whole trail, oldest first.
func (h *harness) trailEvents() []rolegate.Event {
	h.t.Helper()
	var events []rolegate.Event
	if err := h.App.Store.Audit.WalkAuditTrail(context.Background(), func(e rolegate.Event) error { events = append(events, e); return nil }); err != nil {
		h.t.Fatal(err)
	}
	return events
}

func countActions(events []rolegate.Event, action string) int {
	n := 0
	for _, e := range events {
		if e.Action == action {
			n++
		}
	}
	return n
}

var seqPattern = regexp.MustCompile(`<tr data-seq="(\d+)"`)

func shownSeqs(body string) []string {
	var out []string
	for _, m := range seqPattern.FindAllStringSubmatch(body, -1) {
		out = append(out, m[1])
	}
	return out
}

func TestAuditIsForAuditorsOnly(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	for _, persona := range []string{"requester", "approver1", "admin"} {
		b := h.signInAs(persona)
		for _, path := range []string{"/audit", "/audit/rows", "/audit/export.csv", "/audit/export.jsonl"} {
			if p := b.get(path); p.StatusCode != http.StatusForbidden {
				t.Errorf("GET %s as %s = %d; want 403", path, persona, p.StatusCode)
			}
		}
		if home := b.get("/"); strings.Contains(home.Body, `href="/audit"`) {
			t.Errorf("the %s sees a link to the Audit page", persona)
		}
	}
	if n := countActions(h.trailEvents(), rolegate.ActionAuditExported); n != 0 {
		t.Errorf("refused exports recorded %d audit.exported events; want 0", n)
	}
	if n := countActions(h.trailEvents(), rolegate.ActionAccessDenied); n < 12 {
		t.Errorf("refusals recorded %d access.denied events; want each of the 12", n)
	}

	auditor := h.signInAs("auditor")
	p := auditor.get("/audit")
	if p.StatusCode != http.StatusOK {
		t.Fatalf("GET /audit as auditor = %d; want 200\n%s", p.StatusCode, p.Body)
	}
	for _, word := range []string{">Audit<", ">Actor<", ">Action<", ">Request<", ">From<", ">To<", ">Search<", ">Export CSV<", ">Export JSON (JSON Lines, one event per line)<", `aria-current="page">Audit<`} {
		if !strings.Contains(p.Body, word) {
			t.Errorf("the Audit page lacks %q", word)
		}
	}
}

// TestAuditSearchFindsWhatHappened files and decides requests through the
// portal, then looks them up as an auditor would.
func TestAuditSearchFindsWhatHappened(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	requester := h.signInAs("requester")
	first := h.fileRequest(requester, "Group Reader")
	second := h.fileRequest(requester, "Billing Viewer")
	res := requester.postWithToken("/requests", url.Values{"role_name": {"Invite Reader"}, "permissions": {"api.invites.read"},
		"description": {"Reads invitations for onboarding."}, "justification": {"Asked for in ticket SEC-2291 by the onboarding team."}})
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("file a request with a ticket = %d\n%s", res.StatusCode, res.Body)
	}
	ticketed := res.Header.Get("Location")
	approver := h.signInAs("approver1")
	res = approver.postWithToken(fmt.Sprintf("/requests/%d/reject", second), url.Values{"comment": {`<script>alert("x")</script> not needed`}})
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("reject = %d\n%s", res.StatusCode, res.Body)
	}
	auditor := h.signInAs("auditor")

	cases := []struct {
		query   string
		want    []string // text the results must show
		notWant []string
	}{
		{"action=request.created", []string{fmt.Sprintf(`href="/requests/%d"`, first), fmt.Sprintf(`href="/requests/%d"`, second), "Group Reader"}, []string{"request.rejected<"}},
		{"action=request.", []string{"request.created<", "request.rejected<"}, []string{"auth.signin.succeeded<"}},
		{"actor=riley", []string{"Riley Requester", "request.created<"}, []string{"request.rejected<"}},
		{"actor=Avery+Approver&action=request.rejected", []string{"request.rejected<", "not needed"}, []string{"request.created<"}},
		{fmt.Sprintf("request=%%23%d", second), []string{"request.created<", "request.rejected<"}, []string{"Group Reader"}},
		{"q=alert", []string{"request.rejected<"}, []string{"request.created<"}},
		// What the requester wrote is in the trail: a ticket number in a
		// justification, a word of a description, finds the request.
		{"q=SEC-2291", []string{"request.created<", `href="` + ticketed + `"`}, []string{"Group Reader", "request.rejected<"}},
		{"q=onboarding", []string{"request.created<", `href="` + ticketed + `"`}, []string{"Group Reader"}},
		// A word of an action finds it, as people say it.
		{"action=rejected", []string{"request.rejected<"}, []string{"request.created<"}},
		{"action=Created", []string{"request.created<", "Group Reader"}, []string{"request.rejected<", "auth.signin.succeeded<"}},
		{"q=viewer", []string{"request.created<", "request.rejected<"}, []string{"Group Reader"}},
		{"from=2000-01-01&to=9999-12-31&action=auth.", []string{"auth.signin.succeeded<"}, []string{"request.created<"}},
		{"from=2999-01-01", []string{"No events match these filters."}, []string{"<tr data-seq"}},
		{"action=never.recorded", []string{"No events match these filters."}, []string{"<tr data-seq"}},
	}
	for _, c := range cases {
		p := auditor.get("/audit?" + c.query)
		if p.StatusCode != http.StatusOK {
			t.Errorf("GET /audit?%s = %d; want 200", c.query, p.StatusCode)
			continue
		}
		results := p.Body[strings.Index(p.Body, "</form>"):]
		for _, w := range c.want {
			if !strings.Contains(results, w) {
				t.Errorf("GET /audit?%s lacks %q", c.query, w)
			}
		}
		for _, w := range c.notWant {
			if strings.Contains(results, w) {
				t.Errorf("GET /audit?%s shows %q", c.query, w)
			}
		}
		// The page counts the matches: here all fit on it.
		rows := strings.Count(results, "<tr data-seq")
		want := fmt.Sprintf("%d events match.", rows)
		if rows == 1 {
			want = "1 event matches."
		}
		if got := text(element(p.Body, "audit-count")); got != want {
			t.Errorf("GET /audit?%s counts %q; want %q", c.query, got, want)
		}
	}

	// What people typed is shown as text, never as markup.
	p := auditor.get("/audit?action=request.")
	if strings.Contains(p.Body, "<script>alert") {
		t.Errorf("the Audit page renders recorded text as HTML")
	}
	if !strings.Contains(p.Body, "&lt;script&gt;") {
		t.Errorf("the Audit page does not show the comment's text")
	}
	// The filters are kept in the form and in the export links.
	p = auditor.get("/audit?actor=riley&action=request.&q=viewer")
	for _, w := range []string{`value="riley"`, `value="request."`, `value="viewer"`,
		`href="/audit/export.csv?action=request.&amp;actor=riley&amp;q=viewer"`,
		`href="/audit/export.jsonl?action=request.&amp;actor=riley&amp;q=viewer"`} {
		if !strings.Contains(p.Body, w) {
			t.Errorf("GET /audit with filters lacks %s", w)
		}
	}
}

func TestAuditRefusesBadFiltersAndSearchesNothing(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	auditor := h.signInAs("auditor")
	cases := []struct{ query, want string }{
		{"request=abc", "Request must be a request number, such as 42."},
		{"request=12x", "Request must be a request number"},
		{"from=yesterday", "From: &#34;yesterday&#34; is not a date"},
		{"to=2025-13-01", "To: &#34;2025-13-01&#34; is not a date"},
		{"from=2025-03-02&to=2025-03-01", "To must not be before From."},
		{"action=DROP+TABLE", "Action must be an action name"},
		{"q=%21%21%21", "Type at least one letter or digit"},
	}
	for _, c := range cases {
		p := auditor.get("/audit?" + c.query)
		if p.StatusCode != http.StatusUnprocessableEntity {
			t.Errorf("GET /audit?%s = %d; want 422", c.query, p.StatusCode)
		}
		if !strings.Contains(p.Body, c.want) {
			t.Errorf("GET /audit?%s lacks the message %q", c.query, c.want)
		}
		if strings.Contains(p.Body, "audit-results") || strings.Contains(p.Body, "Export CSV") {
			t.Errorf("GET /audit?%s shows results or exports despite the error", c.query)
		}
		// An export with the same filters is refused the same way, unrecorded.
		if p := auditor.get("/audit/export.csv?" + c.query); p.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(p.Body, c.want) {
			t.Errorf("GET /audit/export.csv?%s = %d; want 422 with %q", c.query, p.StatusCode, c.want)
		}
	}
	for _, path := range []string{"/audit?before=abc", "/audit?before=-5", "/audit/rows?before=x"} {
		if p := auditor.get(path); p.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(p.Body, "link to older events is broken") {
			t.Errorf("GET %s = %d; want 422 saying the link is broken", path, p.StatusCode)
		}
	}
	if n := countActions(h.trailEvents(), rolegate.ActionAuditExported); n != 0 {
		t.Errorf("refused exports recorded %d audit.exported events; want 0", n)
	}
}

// TestAuditPagesWithAndWithoutJavaScript: the "Older events" link opens
// the next page as a plain link, and under htmx brings only the next rows
// with a new link, until there are no older events.
func TestAuditPagesWithAndWithoutJavaScript(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	auditor := h.signInAs("auditor")
	h.appendAuditEvents(60, rolegate.System("test"), rolegate.CatalogRefreshed{Roles: 3})
	all := h.trailEvents()
	catalog := countActions(all, rolegate.ActionCatalogRefreshed) // the harness's own refresh too

	first := auditor.get("/audit?action=catalog.refreshed")
	seqs := shownSeqs(first.Body)
	if len(seqs) != 50 {
		t.Fatalf("first page shows %d events; want 50", len(seqs))
	}
	more := regexpFind(t, first.Body, `<a href="(/audit\?[^"]+)" hx-get`)
	moreRows := regexpFind(t, first.Body, `hx-get="(/audit/rows\?[^"]+)"`)
	more, moreRows = strings.ReplaceAll(more, "&amp;", "&"), strings.ReplaceAll(moreRows, "&amp;", "&")
	if !strings.Contains(more, "action=catalog.refreshed") || !strings.Contains(more, "before="+seqs[49]) {
		t.Errorf("the Older events link %q does not keep the filter and start before %s", more, seqs[49])
	}

	// Without JavaScript: a whole page of the rest, and a way back.
	second := auditor.get(more)
	rest := shownSeqs(second.Body)
	if len(rest) != catalog-50 || strings.Contains(second.Body, "Older events") || !strings.Contains(second.Body, "Newest events") {
		t.Errorf("second page shows %d events (want %d), older link %v, newest link %v",
			len(rest), catalog-50, strings.Contains(second.Body, "Older events"), strings.Contains(second.Body, "Newest events"))
	}

	// With htmx: the rows alone, no page around them.
	frag := auditor.getHX(moreRows)
	if frag.StatusCode != http.StatusOK || strings.Contains(frag.Body, "<html") || strings.Contains(frag.Body, "<form") {
		t.Fatalf("GET %s (htmx) = %d; want the rows alone\n%s", moreRows, frag.StatusCode, frag.Body)
	}
	if got := shownSeqs(frag.Body); strings.Join(got, ",") != strings.Join(rest, ",") {
		t.Errorf("htmx rows = %v; want the second page's %v", got, rest)
	}
	// Newest first, and every event once across the pages.
	joined := append(seqs, rest...)
	for i := 1; i < len(joined); i++ {
		var a, b int
		fmt.Sscan(joined[i-1], &a)
		fmt.Sscan(joined[i], &b)
		if a <= b {
			t.Fatalf("events not newest first across pages: %v", joined)
		}
	}

	// A page that ends exactly at the last event shows no link.
	if p := auditor.get(fmt.Sprintf("/audit?action=catalog.refreshed&before=%s", rest[len(rest)-1])); strings.Contains(p.Body, "Older events") || len(shownSeqs(p.Body)) != 0 {
		t.Errorf("the page after the oldest event shows events or an older link")
	}
}

func TestAuditExports(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	requester := h.signInAs("requester")
	id := h.fileRequest(requester, "Group Reader")
	// Text that a spreadsheet would run, recorded as people wrote it.
	mallory := rolegate.Actor{Principal: rolegate.Principal{Person: rolegate.Person{
		Issuer: "https://idp.example.com", Subject: "mallory", Email: "@mallory@example.com", Name: `=HYPERLINK("http://evil.example","open")`,
	}}, ClientIP: "10.0.0.66"}
	h.appendAuditEvents(1, mallory, rolegate.AccessDenied{Path: "/audit", Reason: "+cmd|' /C calc'!A0"})
	auditor := h.signInAs("auditor")

	// CSV, filtered: the matching events, oldest first, defused.
	res, err := auditor.Get(h.URL + "/audit/export.csv?action=access.denied")
	if err != nil {
		t.Fatal(err)
	}
	if ct, cd := res.Header.Get("Content-Type"), res.Header.Get("Content-Disposition"); ct != "text/csv; charset=utf-8" ||
		!regexp.MustCompile(`^attachment; filename="rolegate-audit-\d{8}T\d{6}Z\.csv"$`).MatchString(cd) {
		t.Errorf("CSV export headers: Content-Type %q, Content-Disposition %q", ct, cd)
	}
	records, err := csv.NewReader(res.Body).ReadAll()
	res.Body.Close()
	if err != nil {
		t.Fatalf("the CSV export does not parse: %v", err)
	}
	if len(records) != 2 || strings.Join(records[0], ",") != strings.Join(audit.CSVHeader, ",") {
		t.Fatalf("CSV export = %q; want the header and Mallory's one event", records)
	}
	row := strings.Join(records[1], "\x1f")
	for _, want := range []string{`'=HYPERLINK("http://evil.example","open")`, "'@mallory@example.com", "access.denied", "10.0.0.66"} {
		if !strings.Contains(row, want) {
			t.Errorf("CSV row %q lacks %q", records[1], want)
		}
	}
	for _, cell := range records[1] {
		if cell != "" && strings.ContainsRune("=+-@\t\r", rune(cell[0])) {
			t.Errorf("CSV cell %q would run as a formula", cell)
		}
	}

	// The export was recorded, with its filter and by whom, before it ran.
	events := h.trailEvents()
	last := events[len(events)-1]
	var d struct {
		Format string            `json:"format"`
		Filter map[string]string `json:"filter"`
	}
	_ = json.Unmarshal(last.Details, &d)
	if last.Action != rolegate.ActionAuditExported || last.ActorName != "Casey Auditor" || d.Format != "csv" || d.Filter["action"] != "access.denied" {
		t.Errorf("last event = %s by %s, details %s; want audit.exported by Casey Auditor with the CSV format and the filter", last.Action, last.ActorName, last.Details)
	}

	// JSON Lines, unfiltered: the whole trail, whose chain verifies from
	// the export alone, ending with this export's own record.
	res, err = auditor.Get(h.URL + "/audit/export.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if ct := res.Header.Get("Content-Type"); ct != "application/jsonl; charset=utf-8" {
		t.Errorf("JSON export Content-Type = %q", ct)
	}
	walk := audit.NewWalk()
	sc := bufio.NewScanner(res.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	var got []rolegate.Event
	for sc.Scan() {
		e, err := audit.ParseJSONLine(sc.Bytes())
		if err != nil {
			t.Fatalf("JSON export line %d: %v", len(got)+1, err)
		}
		if err := walk.Add(e); err != nil {
			t.Fatalf("JSON export line %d does not verify: %v", len(got)+1, err)
		}
		got = append(got, e)
	}
	if head, err := walk.Finish(); err != nil || head.Size != int64(len(events))+1 {
		t.Fatalf("JSON export = %d events, %v; want the %d events of the trail and the export's own record", head.Size, err, len(events)+1)
	}
	if e := got[len(got)-1]; e.Action != rolegate.ActionAuditExported || !strings.Contains(string(e.Details), `"format":"jsonl"`) {
		t.Errorf("the JSON export's last line is %s %s; want its own audit.exported record", e.Action, e.Details)
	}
	found := false
	for _, e := range got {
		found = found || (e.RequestID == id && e.Action == rolegate.ActionRequestCreated)
	}
	if !found {
		t.Errorf("the JSON export lacks request #%d's creation", id)
	}
}

// signTestCheckpoint signs a checkpoint of the harness's trail with a new
// key (as rolegate audit checkpoint does) and returns the key's verifier.
func signTestCheckpoint(t *testing.T, h *harness) note.Verifier {
	t.Helper()
	skey, vkey, err := audit.GenerateKey("rolegate.test/audit")
	if err != nil {
		t.Fatal(err)
	}
	signer, _ := audit.NewSigner(skey)
	verifier, _ := audit.NewVerifier(vkey)
	_, _, err = h.App.Store.Audit.SignCheckpoint(context.Background(), rolegate.System("checkpoint"), signer.Name(),
		func(cp audit.Checkpoint) ([]byte, error) { return audit.Sign(cp, signer) }, rolegate.AuditCheckpoint{})
	if err != nil {
		t.Fatal(err)
	}
	return verifier
}

// The count of matches is a convenience with a time budget: when it runs
// out, the page says the matches were not counted and still shows them.
func TestTheAuditCountGivesUpRatherThanKeepTheAuditorWaiting(t *testing.T) {
	h := newHarness(t, harnessOptions{AuditCountBudget: time.Nanosecond})
	h.fileRequest(h.signInAs("requester"), "Uncounted Role")
	auditor := h.signInAs("auditor")
	p := auditor.get("/audit?q=uncounted")
	if p.StatusCode != http.StatusOK {
		t.Fatalf("GET /audit with the count over its budget = %d; want 200", p.StatusCode)
	}
	if got := text(element(p.Body, "audit-count")); !strings.HasPrefix(got, "The matches were not counted") {
		t.Errorf("with the count over its budget the page counts %q; want it said that they were not counted", got)
	}
	if !strings.Contains(p.Body, "request.created<") {
		t.Errorf("with the count over its budget the page lost its rows")
	}
}
