package views

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/a-h/templ"

	"github.com/rolegate/rolegate/internal/rolegate"
)

// The words kept (memo.go) are the words the functions give, for every
// value: two events that differ in anything the words are made of are
// not told alike, whatever their hash says.
func TestMemoGivesTheFunctionsWords(t *testing.T) {
	base := rolegate.Event{Action: rolegate.ActionRequestApproved, RoleName: "Reader", Hash: "same",
		Details: []byte(`{"comment":"fine","approvals":1,"required_approvals":2,"payload_sha256":"abc"}`)}
	variants := []rolegate.Event{base, base, base, base}
	variants[1].Details = []byte(`{"comment":"changed","approvals":2,"required_approvals":2,"payload_sha256":"abc"}`)
	variants[2].RoleName = "Writer"
	variants[3].Action = rolegate.ActionRequestRejected
	for round := range 2 { // the second round is the memo's
		for i, e := range variants {
			want := rolegate.Describe(e)
			got := Timeline([]rolegate.Event{e})[0]
			if got.What != want.Did || got.Detail != want.Detail || got.Comment != want.Comment {
				t.Errorf("round %d, event %d: the timeline says %q/%q/%q; Describe says %q/%q/%q",
					round, i, got.What, got.Detail, got.Comment, want.Did, want.Detail, want.Comment)
			}
		}
	}
	for _, payload := range []string{`{"name":"a","permissions":["x"]}`, `{"name":"b","permissions":["x"]}`, `not json`} {
		for range 2 {
			if got, want := PrettyJSON([]byte(payload)), prettyJSON([]byte(payload)); got != want {
				t.Errorf("PrettyJSON(%s) = %q; want %q", payload, got, want)
			}
		}
	}
}

func TestMemosCountTheirKeysAndForgetEverythingWhenAsked(t *testing.T) {
	m := newMemo[string](10, 2000)
	m.put("k", "value", 100)
	if n, b := m.entries.Len(); n != 1 || b != 100+len("k")+64 {
		t.Fatalf("one value: %d entries, %d bytes; the key and the entry's overhead count too", n, b)
	}
	m.put(strings.Repeat("k", 100), "value", 100)
	if _, ok := m.get([]byte(strings.Repeat("k", 100))); ok {
		t.Error("a value over a tenth of the bound, with its key, is kept")
	}

	PrettyJSON([]byte(`{"name":"kept"}`))
	if n, _ := indented.entries.Len(); n == 0 {
		t.Fatal("PrettyJSON kept nothing to forget")
	}
	ForgetWords()
	if n, _ := indented.entries.Len(); n != 0 {
		t.Fatalf("after ForgetWords, %d payloads are still kept", n)
	}
	if got, want := PrettyJSON([]byte(`{"name":"kept"}`)), prettyJSON([]byte(`{"name":"kept"}`)); got != want {
		t.Errorf("after ForgetWords, PrettyJSON = %q; want %q", got, want)
	}
}

// The hx-headers value is what json.Marshal writes, for a token of
// NewToken's alphabet and for any other.
func TestHXHeadersIsJSON(t *testing.T) {
	for _, token := range []string{rolegate.NewToken(), "", "a\"b</script>&é", "AZaz09-_"} {
		want, _ := json.Marshal(map[string]string{"X-CSRF-Token": token})
		if got := (Chrome{CSRFToken: token}).hxHeaders(); got != string(want) {
			t.Errorf("hxHeaders(%q) = %s; want %s", token, got, want)
		}
	}
}

// When writes what its template wrote: the time in RFC 3339 and in
// rolegate's words, escaped as templ escapes them; nothing for the zero
// time.
func TestWhenWritesWhatTheTemplateWrote(t *testing.T) {
	for _, at := range []time.Time{
		{}, time.Date(2026, 12, 1, 9, 5, 7, 123456789, time.UTC),
		time.Date(2026, 3, 1, 23, 59, 59, 0, time.FixedZone("CET", 3600)), time.Unix(0, 0),
	} {
		var want string
		if !at.IsZero() {
			want = `<time datetime="` + templ.EscapeString(at.UTC().Format(time.RFC3339)) + `" title="` + templ.EscapeString(when(at)) +
				`" data-local>` + templ.EscapeString(when(at)) + `</time>`
		}
		var got strings.Builder
		if err := When(at).Render(t.Context(), &got); err != nil || got.String() != want {
			t.Errorf("When(%v) = %q, %v; want %q", at, got.String(), err, want)
		}
	}
}
