package views

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"

	"github.com/rolegate/rolegate/internal/rolegate"
)

// AuditView is the Audit page: the filters as typed, with a message beside
// each one refused, and a page of events.
type AuditView struct {
	Form    AuditForm
	Errors  rolegate.FieldErrors // when set, nothing was searched
	Actions []string             // the actions recorded, offered for the Action filter
	Rows    AuditRows
	// Matches counts the events matching the filters, as far as the page
	// counts; MoreMatches says there are more than that.
	Matches     int
	MoreMatches bool
	// NotCounted: counting would have taken longer than the page allows
	// (free text with another filter, on a large trail).
	NotCounted bool
	// NewestURL is set on a page after the first (without JavaScript):
	// the way back to the newest events.
	NewestURL  string
	ExportCSV  string
	ExportJSON string
	// Checkpoint is the latest checkpoint of the Merkle tree recorded in
	// the trail; nil when none was signed yet.
	Checkpoint *AuditCheckpoint
}

// AuditCheckpoint is what the Audit page says of the latest checkpoint.
type AuditCheckpoint struct {
	Origin string
	Size   int64
	Root   string // hex
	URL    string // the signed note, to download
	// Changed: the trail no longer leads to this checkpoint's root.
	Changed bool
}

// AuditForm is the filters as the auditor typed them.
type AuditForm struct {
	Actor, Action, Request, From, To, Text, Scope string
	// Projects are the Scope filter's projects (archived ones too: their
	// events stay in the trail).
	Projects []rolegate.Project
}

// AuditRows is a page of events, newest first, and where the next one is.
type AuditRows struct {
	Events []rolegate.Event
	// MoreURL is the next page as a whole page (a plain link); MoreRowsURL
	// the same rows alone, which htmx puts in place of the link. Empty
	// when there are no older events.
	MoreURL     string
	MoreRowsURL string
	// Checkpoint is the size of the latest checkpoint (0: none), and
	// Included says for each event it covers whether the event's inclusion
	// proof leads to its root.
	Checkpoint int64
	Included   map[int64]bool
}

// ProofURL is where an event's inclusion proof is downloaded.
func ProofURL(seq int64) string { return "/audit/events/" + i64(seq) + "/proof" }

func (v AuditView) err(field rolegate.Field) string { return v.Errors[field] }

// auditDetails shows an event's details as text a person reads:
// "key: value" in key order, strings as they are, other values as JSON.
// Details that are not a JSON object are shown as stored.
func auditDetails(e rolegate.Event) string {
	var d map[string]any
	dec := json.NewDecoder(bytes.NewReader(e.Details))
	dec.UseNumber()
	if err := dec.Decode(&d); err != nil {
		return string(e.Details)
	}
	keys := make([]string, 0, len(d))
	for k := range d {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		v, ok := d[k].(string)
		if !ok {
			var buf bytes.Buffer
			enc := json.NewEncoder(&buf)
			enc.SetEscapeHTML(false)
			_ = enc.Encode(d[k])
			v = strings.TrimSuffix(buf.String(), "\n")
		}
		parts = append(parts, k+": "+v)
	}
	return strings.Join(parts, "; ")
}

// auditActor is who acted, as a person reads it.
func auditActor(e rolegate.Event) string {
	switch {
	case e.ActorName != "":
		return e.ActorName
	case e.ActorEmail != "":
		return e.ActorEmail
	case strings.Trim(e.ActorKey, "|") != "":
		return e.ActorKey
	}
	return "(not signed in)"
}

// auditActorTitle is the actor's identity and roles at the time, shown on
// hover.
func auditActorTitle(e rolegate.Event) string {
	t := e.ActorKey
	if e.ActorRoles != "" {
		t += " · roles: " + e.ActorRoles
	}
	return t
}

func outcomeClass(outcome string) string {
	switch outcome {
	case rolegate.OutcomeFailure, rolegate.OutcomeDenied:
		return "check bad"
	}
	return ""
}

// matchesSentence says how many events match the filters.
func (v AuditView) matchesSentence() string {
	switch {
	case v.NotCounted:
		return "The matches were not counted: with these filters, counting takes too long. The newest are below."
	case v.MoreMatches:
		return "More than " + thousands(v.Matches) + " events match."
	case v.Matches == 1:
		return "1 event matches."
	}
	return thousands(v.Matches) + " events match."
}

// thousands writes n with commas between thousands (10,000).
func thousands(n int) string {
	s := itoa(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// archivedMark follows an archived project's name in a list.
func archivedMark(p rolegate.Project) string {
	if p.Archived {
		return " (archived)"
	}
	return ""
}
