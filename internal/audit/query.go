package audit

import (
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/rolegate/rolegate/internal/rolegate"
)

// Query is an audit search as people type it on the Audit page (and as
// export links carry it); every field is optional.
type Query struct {
	Actor   string // a name, email, subject or person key
	Action  string // "request.approved", or a family such as "request." or "request.*"
	Request string // a request number, "42" or "#42"
	From    string // a date or date and time, UTC
	To      string // likewise; includes the day (or minute, or second) given
	Text    string // words in the details, role name, client address or HTTP request id (see TextWords)
	Scope   string // "organization" or a project's id: the events about it
}

// The query string names of the fields.
const (
	ParamActor   = "actor"
	ParamAction  = "action"
	ParamRequest = "request"
	ParamFrom    = "from"
	ParamTo      = "to"
	ParamText    = "q"
	ParamScope   = "scope"
)

// QueryFrom reads a query from URL parameters.
func QueryFrom(get func(name string) string) Query {
	return Query{
		Actor:   strings.TrimSpace(get(ParamActor)),
		Action:  strings.TrimSpace(get(ParamAction)),
		Request: strings.TrimSpace(get(ParamRequest)),
		From:    strings.TrimSpace(get(ParamFrom)),
		To:      strings.TrimSpace(get(ParamTo)),
		Text:    strings.TrimSpace(get(ParamText)),
		Scope:   strings.TrimSpace(get(ParamScope)),
	}
}

// Values encodes the non-empty fields, for links that repeat the search.
func (q Query) Values() url.Values {
	v := url.Values{}
	for _, f := range []struct{ name, value string }{
		{ParamActor, q.Actor}, {ParamAction, q.Action}, {ParamRequest, q.Request},
		{ParamFrom, q.From}, {ParamTo, q.To}, {ParamText, q.Text}, {ParamScope, q.Scope},
	} {
		if f.value != "" {
			v.Set(f.name, f.value)
		}
	}
	return v
}

// Empty reports whether no field is set.
func (q Query) Empty() bool { return q == Query{} }

// Details describes the query for the audit trail (an export's event).
func (q Query) Details() map[string]string {
	d := map[string]string{}
	for k, v := range q.Values() {
		d[k] = v[0]
	}
	return d
}

// Field length limits (rolegate.MaxAudit*, shared with the form).
const (
	maxActorLen  = rolegate.MaxAuditActorLen
	maxActionLen = rolegate.MaxAuditActionLen
	maxTextLen   = rolegate.MaxAuditTextLen
	maxTextWords = rolegate.MaxAuditTextWords
)

var actionPattern = regexp.MustCompile(`^[a-z][a-z0-9_]*(\.[a-z0-9_]+)*\.?$`)

// Filter validates q and turns it into a filter. Each problem is reported
// against its field in words a person can act on; with any problem the
// filter must not be used.
func (q Query) Filter() (rolegate.AuditFilter, rolegate.FieldErrors) {
	var f rolegate.AuditFilter
	errs := rolegate.FieldErrors{}

	switch {
	case utf8.RuneCountInString(q.Actor) > maxActorLen:
		errs[rolegate.FieldActor] = fmt.Sprintf("Actor is too long: at most %d characters.", maxActorLen)
	case !utf8.ValidString(q.Actor) || strings.ContainsFunc(q.Actor, unicode.IsControl):
		errs[rolegate.FieldActor] = "Actor contains characters that cannot be searched."
	default:
		f.Actor = q.Actor
	}

	action := strings.ToLower(q.Action)
	action = strings.TrimSuffix(action, "*")
	switch {
	case action == "":
	case len(action) > maxActionLen || !actionPattern.MatchString(action):
		errs[rolegate.FieldAction] = "Action must be an action name such as request.approved, or a family such as request."
	default:
		f.Action = action
	}

	if q.Request != "" {
		n, err := strconv.ParseInt(strings.TrimPrefix(q.Request, "#"), 10, 64)
		if err != nil || n <= 0 {
			errs[rolegate.FieldRequest] = "Request must be a request number, such as 42."
		} else {
			f.RequestID = n
		}
	}

	if q.From != "" {
		t, _, err := ParseTime(q.From)
		if err != nil {
			errs[rolegate.FieldFrom] = "From: " + err.Error()
		} else {
			f.From = t
		}
	}
	if q.To != "" {
		t, precision, err := ParseTime(q.To)
		if err != nil {
			errs[rolegate.FieldTo] = "To: " + err.Error()
		} else {
			f.To = t.Add(precision) // To includes what it names: the whole day, minute or second
		}
	}
	if !f.From.IsZero() && !f.To.IsZero() && !f.From.Before(f.To) {
		errs[rolegate.FieldTo] = "To must not be before From."
	}

	if q.Text != "" {
		words := TextWords(q.Text)
		switch {
		case utf8.RuneCountInString(q.Text) > maxTextLen:
			errs[rolegate.FieldText] = fmt.Sprintf("The text is too long: at most %d characters.", maxTextLen)
		case len(words) == 0:
			errs[rolegate.FieldText] = "Type at least one letter or digit to search the text."
		case len(words) > maxTextWords:
			errs[rolegate.FieldText] = fmt.Sprintf("Search for at most %d words at a time.", maxTextWords)
		case shortPrefix(words):
			errs[rolegate.FieldText] = fmt.Sprintf("Put at least %d letters or digits before a *.", minPrefix)
		default:
			f.Text = q.Text
		}
	}

	switch {
	case q.Scope == "":
	case q.Scope == rolegate.ScopeLabelOrganization, rolegate.ValidScopeID(q.Scope):
		f.Scope = q.Scope
	default:
		errs[rolegate.FieldScope] = "Scope must be organization or a project's id, such as proj_abc123."
	}

	if len(errs) > 0 {
		return rolegate.AuditFilter{}, errs
	}
	return f, nil
}

func shortPrefix(words []Word) bool {
	for _, w := range words {
		if w.Prefix && utf8.RuneCountInString(w.Tokens[len(w.Tokens)-1]) < minPrefix {
			return true
		}
	}
	return false
}

// timeLayouts are the forms From and To accept, with the span each names.
var timeLayouts = []struct {
	layout    string
	precision time.Duration
}{
	{"2006-01-02", 24 * time.Hour},
	{"2006-01-02T15:04", time.Minute},
	{"2006-01-02 15:04", time.Minute},
	{"2006-01-02T15:04:05", time.Second},
	{"2006-01-02 15:04:05", time.Second},
	{"2006-01-02T15:04:05Z07:00", time.Second},
}

// ParseTime reads a date or a date and time (UTC unless an offset is
// given) and returns the moment it starts and the span it names.
func ParseTime(s string) (time.Time, time.Duration, error) {
	for _, l := range timeLayouts {
		if t, err := time.Parse(l.layout, s); err == nil {
			if t.Year() < 2000 || t.Year() > 9999 {
				break
			}
			precision := l.precision
			if t.Nanosecond() != 0 { // a fraction of a second, which Parse accepts after the seconds
				t, precision = t.Truncate(time.Millisecond), time.Millisecond
			}
			return t.UTC(), precision, nil
		}
	}
	return time.Time{}, 0, fmt.Errorf("%q is not a date; write it as 2025-03-31 or 2025-03-31 14:30 (UTC)", truncate(s, 40))
}

func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n]) + "…"
}

// Word is one word of free text: its tokens as the full-text index splits
// them (runs of letters and digits, lower case), so "api.groups.read" is
// one word of three tokens, matched as a phrase. A word typed with a
// trailing * (Prefix) also matches longer words its last token begins:
// "quarter*" finds "quarterly", "3f9a2c*" a hash.
type Word struct {
	Tokens []string
	Prefix bool
}

// minPrefix is the shortest token a trailing * may extend: shorter ones
// match too many words to be useful or fast.
const minPrefix = 3

// TextWords splits free text into words.
func TextWords(s string) []Word {
	var words []Word
	for _, field := range strings.Fields(s) {
		tokens := strings.FieldsFunc(strings.ToLower(field), func(r rune) bool {
			return !unicode.IsLetter(r) && !unicode.IsNumber(r)
		})
		if len(tokens) > 0 {
			words = append(words, Word{Tokens: tokens, Prefix: strings.HasSuffix(field, "*")})
		}
	}
	return words
}
