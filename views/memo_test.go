package views

import (
	"encoding/json"
	"fmt"
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

func TestMemoBounds(t *testing.T) {
	m := newMemo[string](3, 2000)
	for i := range 20 {
		m.put(fmt.Sprint(i), "value", 100)
		if len(m.entries) > 3 || m.bytes > 2000 {
			t.Fatalf("after %d puts: %d entries, %d bytes; want at most 3 and 2000", i+1, len(m.entries), m.bytes)
		}
	}
	m.put("big", "value", 200)
	if _, ok := m.get([]byte("big")); ok {
		t.Error("a value over a tenth of the bound is kept")
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
