package web_test

import (
	"bufio"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/rolegate/rolegate/internal/audit"
	"github.com/rolegate/rolegate/internal/rolegate"
)

// TestHostileBytesInHeadersStillVerifyOffline is the attack of issue 12
// item 2: a User-Agent whose cut at 300 bytes splits a character, and raw
// 0x80–0xFF bytes, sent through real requests that each write an event (a
// sign-in, a refusal). The JSON export must still verify
// offline, from its first line to its last, and every text it holds must
// be valid UTF-8 cut on a character boundary.
func TestHostileBytesInHeadersStillVerifyOffline(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	// 299 ASCII bytes, then "é" (2 bytes) across the 300-byte cut, then
	// bytes that are not UTF-8 at all.
	splitUA := strings.Repeat("a", 299) + "é tail"
	rawUA := "Mozilla/5.0 \x80\xff\xfe (\xc3) \xed\xa0\x80 end"

	send := func(b *browser, method, path, ua string, form url.Values) {
		t.Helper()
		var req *http.Request
		if method == http.MethodPost {
			req, _ = http.NewRequest(method, h.URL+path, strings.NewReader(form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("Origin", h.URL)
			req.Header.Set("Sec-Fetch-Site", "same-origin")
		} else {
			req, _ = http.NewRequest(method, h.URL+path, nil)
		}
		req.Header.Set("User-Agent", ua)
		res, err := b.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		res.Body.Close()
	}
	for persona, ua := range map[string]string{"requester": splitUA, "approver1": rawUA} {
		b := h.newBrowser()
		send(b, http.MethodPost, "/auth/dev", ua, url.Values{"persona": {persona}}) // auth.signin.succeeded
		send(b, http.MethodGet, "/audit", ua, nil)                                  // access.denied
	}

	var fromHeaders []rolegate.Event
	for _, e := range h.trailEvents() {
		if strings.HasPrefix(e.UserAgent, "aaa") || strings.HasPrefix(e.UserAgent, "Mozilla/5.0 ") {
			fromHeaders = append(fromHeaders, e)
		}
	}
	if len(fromHeaders) < 4 {
		t.Fatalf("the trail holds %d events with the hostile User-Agents; want at least a sign-in and a refusal for each", len(fromHeaders))
	}
	for _, e := range fromHeaders {
		if !utf8.ValidString(e.UserAgent) || len(e.UserAgent) > 300 {
			t.Errorf("%s recorded User-Agent %q (%d bytes); want valid UTF-8 of at most 300 bytes", e.Action, e.UserAgent, len(e.UserAgent))
		}
		if strings.HasPrefix(e.UserAgent, "aaa") && e.UserAgent != strings.Repeat("a", 299) {
			t.Errorf("%s recorded the long User-Agent as %q; want it cut before the character the 300th byte splits", e.Action, e.UserAgent)
		}
		if strings.HasPrefix(e.UserAgent, "Mozilla/5.0 ") && !strings.Contains(e.UserAgent, "\uFFFD") {
			t.Errorf("%s recorded User-Agent %q; want each invalid byte as U+FFFD", e.Action, e.UserAgent)
		}
	}

	auditor := h.signInAs("auditor")
	res, err := auditor.Get(h.URL + "/audit/export.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	walk := audit.NewWalk()
	sc := bufio.NewScanner(res.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	lines := 0
	for sc.Scan() {
		lines++
		if !utf8.Valid(sc.Bytes()) {
			t.Errorf("export line %d is not valid UTF-8: %q", lines, sc.Bytes())
		}
		e, err := audit.ParseJSONLine(sc.Bytes())
		if err != nil {
			t.Fatalf("export line %d: %v", lines, err)
		}
		if err := walk.Add(e); err != nil {
			t.Fatalf("export line %d does not verify offline: %v", lines, err)
		}
	}
	if head, err := walk.Finish(); err != nil || head.Size != int64(lines) || lines == 0 {
		t.Errorf("offline walk of the export = %+v, %v after %d lines; want every line verified", head, err, lines)
	}
}
