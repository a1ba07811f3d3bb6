package audit_test

import (
	"context"
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/rolegate/rolegate/internal/app"
	"github.com/rolegate/rolegate/internal/audit"
	"github.com/rolegate/rolegate/internal/rolegate"
)

// FuzzAuditQuery feeds the Audit page's filters, as typed, through
// QueryFrom and Filter, and every accepted filter into a real audit trail.
// Nothing panics; a refused query yields no filter and a readable message
// against a known field; an accepted one holds only what the rules allow,
// repeats itself through its links (Values), and runs against SQLite
// without an error, finding only events it describes.
//
// Run longer with: go test -run '^$' -fuzz=FuzzAuditQuery ./internal/audit
func FuzzAuditQuery(f *testing.F) {
	f.Add("Riley", "request.approved", "42", "2025-03-01", "2025-03-31 14:30", "quarterly review")
	f.Add("", "request.*", "#7", "", "", "api.groups.read")
	f.Add("<script>alert(1)</script>", "Request.", "-1", "2025-02-30", "1999-12-31", `"quoted" OR 1=1 --`)
	f.Add("riley\x00", "request.approved; DROP TABLE audit_events", "9223372036854775808", "2025-03-31T16:30:00+02:00", "2025-03-31", "NEAR(a b) col:x ^start")
	f.Add(strings.Repeat("a", 201), strings.Repeat("a.", 60), "0x10", "9999-12-31", "9999-12-31", strings.Repeat("w ", 11))
	f.Add("  padded  ", "  auth.  ", " 12 ", " 2025-01-01 ", " 2025-01-02 ", "  qu*  ")
	f.Add("%", "_", "1", "2025-03-31T14:30:15.250Z", "2025-03-31T14:30:15.250Z", "quarter* 3f9a2c* \xff")
	f.Add("=cmd|' /C calc'!A0", "*", "#", "today", "now", "*")

	ctx := context.Background()
	db, err := app.OpenStore(ctx, filepath.Join(f.TempDir(), "audit.db"))
	if err != nil {
		f.Fatalf("open: %v", err)
	}
	f.Cleanup(func() { db.Close() })
	riley := rolegate.Actor{Principal: rolegate.Principal{Person: rolegate.Person{Issuer: "https://idp.example", Subject: "riley", Name: "Riley Requester", Email: "riley@example.com"},
		Roles: []rolegate.PortalRole{rolegate.RoleRequester}}, ClientIP: "203.0.113.7"}
	const words = "quarterly review of api.groups.read"
	for i, d := range []rolegate.Details{rolegate.RequestCreated{Justification: words, RequiredApprovals: 1}, rolegate.RequestApproved{Comment: words, Approvals: 1},
		rolegate.AccessDenied{Reason: words, Repeats: rolegate.Repeats{Count: 1}}, rolegate.SignInSucceeded{}} {
		e := rolegate.NewEvent(riley, rolegate.OutcomeSuccess, d)
		e.RequestID, e.RoleName = int64(i%2+1), "Group Reader"
		if err := db.Audit.AppendEvent(ctx, e); err != nil {
			f.Fatalf("append: %v", err)
		}
	}

	fields := []rolegate.Field{rolegate.FieldActor, rolegate.FieldAction, rolegate.FieldRequest, rolegate.FieldFrom, rolegate.FieldTo, rolegate.FieldText}
	action := regexp.MustCompile(`^[a-z][a-z0-9_]*(\.[a-z0-9_]+)*\.?$`)
	f.Fuzz(func(t *testing.T, actor, act, request, from, to, text string) {
		params := map[string]string{audit.ParamActor: actor, audit.ParamAction: act, audit.ParamRequest: request,
			audit.ParamFrom: from, audit.ParamTo: to, audit.ParamText: text}
		q := audit.QueryFrom(func(name string) string { return params[name] })
		if again := audit.QueryFrom(q.Values().Get); again != q {
			t.Fatalf("a query's links do not repeat it: %#v became %#v", q, again)
		}
		_ = q.Details()

		filter, errs := q.Filter()
		if errs != nil {
			if filter != (rolegate.AuditFilter{}) {
				t.Fatalf("Filter(%#v) refused with %v yet returned %#v", q, errs, filter)
			}
			for field, msg := range errs {
				if !slices.Contains(fields, field) {
					t.Fatalf("Filter(%#v): message against unknown field %q", q, field)
				}
				if msg == "" || !utf8.ValidString(msg) || strings.ContainsFunc(msg, unicode.IsControl) {
					t.Fatalf("Filter(%#v): field %q has message %q; want readable text", q, field, msg)
				}
			}
			return
		}

		switch {
		case filter.Actor != q.Actor || !utf8.ValidString(filter.Actor) || strings.ContainsFunc(filter.Actor, unicode.IsControl) || utf8.RuneCountInString(filter.Actor) > 200:
			t.Fatalf("Filter(%#v) accepted actor %q", q, filter.Actor)
		case filter.Action != "" && (!action.MatchString(filter.Action) || len(filter.Action) > 100):
			t.Fatalf("Filter(%#v) accepted action %q", q, filter.Action)
		case (q.Request != "") != (filter.RequestID > 0):
			t.Fatalf("Filter(%#v) accepted request %q as %d", q, q.Request, filter.RequestID)
		case !filter.From.IsZero() && !filter.To.IsZero() && !filter.From.Before(filter.To):
			t.Fatalf("Filter(%#v) accepted From %v not before To %v", q, filter.From, filter.To)
		case filter.Text != q.Text || utf8.RuneCountInString(filter.Text) > 200:
			t.Fatalf("Filter(%#v) accepted text %q", q, filter.Text)
		case q.Text != "" && (len(audit.TextWords(q.Text)) == 0 || len(audit.TextWords(q.Text)) > 10):
			t.Fatalf("Filter(%#v) accepted text of %d words", q, len(audit.TextWords(q.Text)))
		}
		for _, tm := range []time.Time{filter.From, filter.To} {
			if !tm.IsZero() && (tm.Year() < 2000 || tm.Year() > 10000 || tm.Location() != time.UTC) {
				t.Fatalf("Filter(%#v) accepted time %v", q, tm)
			}
		}

		events, _, err := db.Audit.SearchEvents(ctx, filter)
		if err != nil {
			t.Fatalf("SearchEvents(%#v) from %#v: %v", filter, q, err)
		}
		for _, e := range events {
			if why := outside(filter, e); why != "" {
				t.Fatalf("SearchEvents(%#v) found event %d: %s", filter, e.Seq, why)
			}
		}
		n := 0
		if err := db.Audit.ExportEvents(ctx, filter, func(rolegate.Event) error { n++; return nil }); err != nil {
			t.Fatalf("ExportEvents(%#v) from %#v: %v", filter, q, err)
		}
		if n < len(events) {
			t.Fatalf("ExportEvents(%#v) found %d events; the search found %d", filter, n, len(events))
		}
	})
}

// outside says how e does not match f, "" when it does (for the fields a
// test can check without the full-text index).
func outside(f rolegate.AuditFilter, e rolegate.Event) string {
	switch {
	case f.RequestID != 0 && e.RequestID != f.RequestID:
		return fmt.Sprintf("request %d, not %d", e.RequestID, f.RequestID)
	case f.Action != "" && strings.HasSuffix(f.Action, ".") && !strings.HasPrefix(e.Action, f.Action):
		return fmt.Sprintf("action %q outside the family %q", e.Action, f.Action)
	case f.Action != "" && !strings.HasSuffix(f.Action, ".") && e.Action != f.Action:
		return fmt.Sprintf("action %q, not %q", e.Action, f.Action)
	case !f.From.IsZero() && e.At.Before(f.From):
		return fmt.Sprintf("at %v, before %v", e.At, f.From)
	case !f.To.IsZero() && !e.At.Before(f.To):
		return fmt.Sprintf("at %v, not before %v", e.At, f.To)
	}
	return ""
}
