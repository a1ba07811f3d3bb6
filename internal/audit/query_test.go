package audit_test

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/rolegate/rolegate/internal/audit"
	"github.com/rolegate/rolegate/internal/rolegate"
)

func TestQueryFilter(t *testing.T) {
	day := func(s string) time.Time { t, _ := time.Parse("2006-01-02 15:04:05.000", s); return t }
	cases := []struct {
		q    audit.Query
		want rolegate.AuditFilter
	}{
		{audit.Query{}, rolegate.AuditFilter{}},
		{audit.Query{Actor: "riley@example.com"}, rolegate.AuditFilter{Actor: "riley@example.com"}},
		{audit.Query{Action: "request.approved"}, rolegate.AuditFilter{Action: "request.approved"}},
		{audit.Query{Action: "Request.Approved"}, rolegate.AuditFilter{Action: "request.approved"}},
		{audit.Query{Action: "request."}, rolegate.AuditFilter{Action: "request."}},
		{audit.Query{Action: "request.*"}, rolegate.AuditFilter{Action: "request."}},
		{audit.Query{Action: "auth.signin.failed"}, rolegate.AuditFilter{Action: "auth.signin.failed"}},
		{audit.Query{Request: "42"}, rolegate.AuditFilter{RequestID: 42}},
		{audit.Query{Request: "#42"}, rolegate.AuditFilter{RequestID: 42}},
		{audit.Query{From: "2025-03-01"}, rolegate.AuditFilter{From: day("2025-03-01 00:00:00.000")}},
		// To includes what it names: the whole day, minute or second.
		{audit.Query{To: "2025-03-31"}, rolegate.AuditFilter{To: day("2025-04-01 00:00:00.000")}},
		{audit.Query{To: "2025-03-31 14:30"}, rolegate.AuditFilter{To: day("2025-03-31 14:31:00.000")}},
		{audit.Query{To: "2025-03-31T14:30:15"}, rolegate.AuditFilter{To: day("2025-03-31 14:30:16.000")}},
		{audit.Query{To: "2025-03-31T14:30:15.250Z"}, rolegate.AuditFilter{To: day("2025-03-31 14:30:15.251")}},
		{audit.Query{From: "2025-03-31T16:30:00+02:00"}, rolegate.AuditFilter{From: day("2025-03-31 14:30:00.000")}},
		{audit.Query{From: "2025-03-01", To: "2025-03-01"}, rolegate.AuditFilter{From: day("2025-03-01 00:00:00.000"), To: day("2025-03-02 00:00:00.000")}},
		{audit.Query{Text: "quarterly review"}, rolegate.AuditFilter{Text: "quarterly review"}},
	}
	for _, c := range cases {
		got, errs := c.q.Filter()
		if errs != nil {
			t.Errorf("%+v.Filter() errors = %v; want none", c.q, errs)
			continue
		}
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("%+v.Filter() = %+v; want %+v", c.q, got, c.want)
		}
	}
}

func TestQueryFilterRefusesBadInput(t *testing.T) {
	cases := []struct {
		q     audit.Query
		field rolegate.Field
		want  string
	}{
		{audit.Query{Request: "abc"}, "request", "request number"},
		{audit.Query{Request: "0"}, "request", "request number"},
		{audit.Query{Request: "-3"}, "request", "request number"},
		{audit.Query{Request: "99999999999999999999"}, "request", "request number"},
		{audit.Query{From: "yesterday"}, "from", `"yesterday" is not a date`},
		{audit.Query{From: "2025-02-30"}, "from", "not a date"},
		{audit.Query{To: "31/03/2025"}, "to", "not a date"},
		{audit.Query{From: "0001-01-01"}, "from", "not a date"},
		{audit.Query{From: "2025-03-02", To: "2025-03-01"}, "to", "must not be before From"},
		{audit.Query{Action: "request approved"}, "action", "action name"},
		{audit.Query{Action: "'; DROP TABLE audit_events; --"}, "action", "action name"},
		{audit.Query{Action: strings.Repeat("a", 101)}, "action", "action name"},
		{audit.Query{Actor: strings.Repeat("x", 201)}, "actor", "too long"},
		{audit.Query{Actor: "a\x00b"}, "actor", "cannot be searched"},
		{audit.Query{Text: "!!! ..."}, rolegate.FieldText, "at least one letter or digit"},
		{audit.Query{Text: strings.Repeat("word ", 11)}, rolegate.FieldText, "at most 10 words"},
		{audit.Query{Text: strings.Repeat("x", 201)}, rolegate.FieldText, "too long"},
		{audit.Query{Text: "ab*"}, rolegate.FieldText, "at least 3 letters or digits before a *"},
	}
	for _, c := range cases {
		f, errs := c.q.Filter()
		if !strings.Contains(errs[c.field], c.want) {
			t.Errorf("%+v.Filter() errors = %v; want %s: %q", c.q, errs, c.field, c.want)
		}
		if !reflect.DeepEqual(f, rolegate.AuditFilter{}) {
			t.Errorf("%+v.Filter() = %+v with errors; want the zero filter", c.q, f)
		}
	}
}

func TestQueryValuesRoundTrip(t *testing.T) {
	q := audit.Query{Actor: "Riley", Action: "request.", Request: "#7", From: "2025-03-01", To: "2025-03-31 14:30", Text: "10.0.0.7"}
	v := q.Values()
	if got := audit.QueryFrom(v.Get); got != q {
		t.Errorf("QueryFrom(%v) = %+v; want %+v", v, got, q)
	}
	if got := (audit.Query{Action: "auth."}).Values().Encode(); got != "action=auth." {
		t.Errorf("Values() of one field = %q; want only that field", got)
	}
	if d := q.Details(); d["actor"] != "Riley" || d["q"] != "10.0.0.7" || len(d) != 6 {
		t.Errorf("Details() = %v; want the six fields by name", d)
	}
}

func TestTextWords(t *testing.T) {
	cases := []struct {
		in   string
		want []audit.Word
	}{
		{"Quarterly review", []audit.Word{{Tokens: []string{"quarterly"}}, {Tokens: []string{"review"}}}},
		{"api.groups.read", []audit.Word{{Tokens: []string{"api", "groups", "read"}}}},
		{"10.0.0.7", []audit.Word{{Tokens: []string{"10", "0", "0", "7"}}}},
		{"quarter* 3f9a2c*", []audit.Word{{Tokens: []string{"quarter"}, Prefix: true}, {Tokens: []string{"3f9a2c"}, Prefix: true}}},
		{`"quoted" AND OR NOT`, []audit.Word{{Tokens: []string{"quoted"}}, {Tokens: []string{"and"}}, {Tokens: []string{"or"}}, {Tokens: []string{"not"}}}},
		{"  ", nil},
		{"Zoë", []audit.Word{{Tokens: []string{"zoë"}}}},
	}
	for _, c := range cases {
		if got := audit.TextWords(c.in); !reflect.DeepEqual(got, c.want) {
			t.Errorf("TextWords(%q) = %+v; want %+v", c.in, got, c.want)
		}
	}
}
