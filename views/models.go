// Package views renders rolegate's pages with templ. View models live next
// to the components; views know the domain types but nothing of HTTP or SQL.
package views

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/rolegate/rolegate/internal/rolegate"
)

// Chrome is what every page's frame needs: who is signed in, the CSRF token
// for forms, which navigation entry is current, and the asset URLs.
type Chrome struct {
	Principal *rolegate.Principal // nil when signed out
	CSRFToken string
	Dev       bool
	// DevSummary says, in dev mode, what stands in for SSO and OpenAI, and
	// names a real upstream when dev mode was asked to call one.
	DevSummary string
	Active     string // "new", "mine", "reviews", "audit"
	CSSURL     string
	JSURL      string
	ScriptURL  string // rolegate.js
	IconURL    string
	Flash      Flash
	// ReviewsWaiting counts the requests waiting for an approver's
	// decision (Reviews in the navigation); 0 for others.
	ReviewsWaiting int
}

// Flash is a one-line message at the top of a page.
type Flash struct {
	Kind string // "ok", "bad", "warn"
	Text string
}

// hxHeaders is the hx-headers value that sends the CSRF token with every
// htmx request.
func (c Chrome) hxHeaders() string {
	// A token of rolegate.NewToken's alphabet (base64url) needs no JSON
	// escaping: the object is written as json.Marshal writes it, without
	// the map and the reflection on every page.
	if strings.IndexFunc(c.CSRFToken, func(r rune) bool {
		return (r < 'a' || r > 'z') && (r < 'A' || r > 'Z') && (r < '0' || r > '9') && r != '-' && r != '_'
	}) < 0 {
		return `{"X-CSRF-Token":"` + c.CSRFToken + `"}`
	}
	b, _ := json.Marshal(map[string]string{"X-CSRF-Token": c.CSRFToken})
	return string(b)
}

// htmxConfig keeps htmx within a strict CSP: no eval, no injected styles, no
// scripts from swapped content, no history snapshots in localStorage.
const htmxConfig = `{"allowEval":false,"allowScriptTags":false,"includeIndicatorStyles":false,"historyCacheSize":0,"refreshOnHistoryMiss":true,"selfRequestsOnly":true,"responseHandling":[{"code":"204","swap":false},{"code":"[23]..","swap":true},{"code":"422","swap":true},{"code":"[45]..","swap":false,"error":true}]}`

func (c Chrome) has(role rolegate.PortalRole) bool {
	return c.Principal != nil && c.Principal.Has(role)
}

func current(active, name string) string {
	if active == name {
		return "page"
	}
	return ""
}

// when formats a time as rolegate writes it everywhere, emails included
// (rolegate.FormatTime). Pages show times through When, which rolegate.js
// turns to the viewer's zone, keeping this on hover.
func when(t time.Time) string { return rolegate.FormatTime(t) }

// whenPrecise formats a time to the millisecond (audit rows).
func whenPrecise(t time.Time) string {
	return t.UTC().Format("2006-01-02 15:04:05.000Z")
}

func statusClass(s rolegate.Status) string { return "status " + string(s) }

func requestURL(id int64) string { return fmt.Sprintf("/requests/%d", id) }

func itoa(n int) string { return fmt.Sprint(n) }

func i64(n int64) string { return fmt.Sprint(n) }

// PrettyJSON indents a JSON payload for display; the bytes sent upstream are
// the compact original. A payload's indented form is kept (memo.go).
func PrettyJSON(b []byte) string {
	if s, ok := indented.get(b); ok {
		return s
	}
	s := prettyJSON(b)
	indented.put(string(b), s, len(s))
	return s
}

func prettyJSON(b []byte) string {
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		return string(b)
	}
	out, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return string(b)
	}
	return string(out)
}

// TimelineItem is one line of a request's timeline.
type TimelineItem struct {
	Action  string // the audit action it tells
	At      time.Time
	Actor   string
	What    string
	Comment string
	Detail  string
	Failed  bool
}

// Timeline turns a request's audit events into sentences.
func Timeline(events []rolegate.Event) []TimelineItem {
	items := make([]TimelineItem, 0, len(events))
	for _, e := range events {
		d := describeForTimeline(e)
		items = append(items, TimelineItem{Action: e.Action, At: e.At, Actor: e.ActorName, What: d.Did, Comment: d.Comment,
			Detail: d.Detail, Failed: e.Outcome == rolegate.OutcomeFailure})
	}
	return items
}

// Pager is a simple offset pager.
type Pager struct {
	Page, PerPage, Total int
	BaseURL              string // with the filter's query, without page
}

func (p Pager) HasPrev() bool { return p.Page > 1 }
func (p Pager) HasNext() bool { return p.Page*p.PerPage < p.Total }

// Pages is how many pages the list has (at least one).
func (p Pager) Pages() int {
	if p.PerPage <= 0 || p.Total <= p.PerPage {
		return 1
	}
	return (p.Total + p.PerPage - 1) / p.PerPage
}
func (p Pager) link(page int) string {
	sep := "?"
	if strings.Contains(p.BaseURL, "?") {
		sep = "&"
	}
	return fmt.Sprintf("%s%spage=%d", p.BaseURL, sep, page)
}

// waitingWords finishes the navigation's count of reviews for a screen
// reader ("3" alone says nothing).
func waitingWords(n int) string {
	if n == 1 {
		return "request waits for your review"
	}
	return "requests wait for your review"
}

// waitingTitle is the count's tooltip.
func waitingTitle(n int) string { return itoa(n) + " " + waitingWords(n) }
