package audit

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/rolegate/rolegate/internal/rolegate"
)

// TimeFormat is how exports write an event's time: UTC, to the millisecond
// that the trail records.
const TimeFormat = "2006-01-02T15:04:05.000Z"

// CSVHeader names the columns of a CSV export, in order. They are every
// field of an event, so an export answers any question the trail can.
var CSVHeader = []string{
	"seq", "at", "actor_key", "actor_email", "actor_name", "actor_roles", "action",
	"request_id", "role_name", "outcome", "details", "client_ip", "user_agent",
	"http_request_id", "prev_hash", "hash",
}

// CSVRecord is one event as a CSV row. Text that a spreadsheet would run as
// a formula is defused (see GuardFormula); the JSON export keeps every value
// exactly, for checking hashes.
func CSVRecord(e rolegate.Event) []string {
	request := ""
	if e.RequestID != 0 {
		request = strconv.FormatInt(e.RequestID, 10)
	}
	row := []string{
		strconv.FormatInt(e.Seq, 10), e.At.UTC().Format(TimeFormat),
		e.ActorKey, e.ActorEmail, e.ActorName, e.ActorRoles, e.Action,
		request, e.RoleName, e.Outcome, string(e.Details), e.ClientIP, e.UserAgent,
		e.HTTPReqID, e.PrevHash, e.Hash,
	}
	for i, cell := range row {
		row[i] = GuardFormula(cell)
	}
	return row
}

// GuardFormula prefixes a single quote to a cell that a spreadsheet would
// read as a formula (one starting with = + - @, a tab or a carriage
// return), so that text from the trail, which people and upstreams wrote,
// can never run when an auditor opens the export (CSV injection).
func GuardFormula(cell string) string {
	if cell == "" {
		return cell
	}
	switch cell[0] {
	case '=', '+', '-', '@', '\t', '\r':
		return "'" + cell
	}
	return cell
}

// exported is an event as a JSON Lines export writes it: every field, with
// the details as the JSON object they are.
type exported struct {
	Seq        int64           `json:"seq"`
	At         string          `json:"at"`
	ActorKey   string          `json:"actor_key"`
	ActorEmail string          `json:"actor_email"`
	ActorName  string          `json:"actor_name"`
	ActorRoles string          `json:"actor_roles"`
	Action     string          `json:"action"`
	RequestID  *int64          `json:"request_id"`
	RoleName   string          `json:"role_name"`
	Outcome    string          `json:"outcome"`
	Details    json.RawMessage `json:"details"`
	ClientIP   string          `json:"client_ip"`
	UserAgent  string          `json:"user_agent"`
	HTTPReqID  string          `json:"http_request_id"`
	PrevHash   string          `json:"prev_hash"`
	Hash       string          `json:"hash"`
	Proof      *Proof          `json:"proof,omitempty"`
}

// AppendJSONLine appends e as one line of JSON (with its newline) to b:
// the fields of exported, in order, written by hand because an export of
// a million events spends most of its time here (encoding/json costs
// three times as much).
func AppendJSONLine(b []byte, e rolegate.Event) ([]byte, error) {
	return AppendProvedJSONLine(b, e, nil)
}

// AppendProvedJSONLine is AppendJSONLine with the event's inclusion proof
// as a last field, "proof" (none when p is nil): the line of a filtered
// export, or of one event's proof, which can be checked alone.
func AppendProvedJSONLine(b []byte, e rolegate.Event, p *Proof) ([]byte, error) {
	str := func(name, v string) {
		b = append(b, ',', '"')
		b = append(b, name...)
		b = append(b, '"', ':')
		b = appendJSONString(b, v)
	}
	b = append(b, `{"seq":`...)
	b = strconv.AppendInt(b, e.Seq, 10)
	b = append(b, `,"at":"`...)
	b = e.At.UTC().AppendFormat(b, TimeFormat)
	b = append(b, '"')
	str("actor_key", e.ActorKey)
	str("actor_email", e.ActorEmail)
	str("actor_name", e.ActorName)
	str("actor_roles", e.ActorRoles)
	str("action", e.Action)
	b = append(b, `,"request_id":`...)
	if e.RequestID != 0 {
		b = strconv.AppendInt(b, e.RequestID, 10)
	} else {
		b = append(b, "null"...)
	}
	str("role_name", e.RoleName)
	str("outcome", e.Outcome)
	b = append(b, `,"details":`...)
	if details := bytes.TrimSpace(e.Details); len(details) > 0 && json.Valid(details) {
		b = append(b, details...)
	} else {
		// Never written by rolegate; kept as a string rather than lost.
		b = appendJSONString(b, string(e.Details))
	}
	str("client_ip", e.ClientIP)
	str("user_agent", e.UserAgent)
	str("http_request_id", e.HTTPReqID)
	str("prev_hash", e.PrevHash)
	str("hash", e.Hash)
	if p != nil {
		b = append(b, `,"proof":{"tree_size":`...)
		b = strconv.AppendInt(b, p.TreeSize, 10)
		b = append(b, `,"hashes":[`...)
		for i, h := range p.Hashes {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, '"')
			b = base64.StdEncoding.AppendEncode(b, h[:])
			b = append(b, '"')
		}
		b = append(b, ']')
		if p.Checkpoint != "" {
			b = append(b, `,"checkpoint":`...)
			b = appendJSONString(b, p.Checkpoint)
		}
		b = append(b, '}')
	}
	return append(b, '}', '\n'), nil
}

// appendJSONString appends s as a JSON string: quotes, backslashes and
// control characters escaped, U+2028 and U+2029 too (some JavaScript
// readers choke on them), invalid UTF-8 replaced by U+FFFD as
// encoding/json does.
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// ParseJSONLine reads back one exported line, exactly as recorded, so that
// an export can be checked with Walk (see TestJSONExportVerifies).
func ParseJSONLine(line []byte) (rolegate.Event, error) {
	e, _, err := ParseProvedJSONLine(line)
	return e, err
}

// ParseProvedJSONLine reads back one exported line and its inclusion
// proof, nil when the line has none.
func ParseProvedJSONLine(line []byte) (rolegate.Event, *Proof, error) {
	var x exported
	if err := json.Unmarshal(line, &x); err != nil {
		return rolegate.Event{}, nil, err
	}
	at, err := time.Parse(TimeFormat, x.At)
	if err != nil {
		return rolegate.Event{}, nil, err
	}
	e := rolegate.Event{
		Seq: x.Seq, At: at, ActorKey: x.ActorKey, ActorEmail: x.ActorEmail, ActorName: x.ActorName,
		ActorRoles: x.ActorRoles, Action: x.Action, RoleName: x.RoleName, Outcome: x.Outcome,
		Details: x.Details, ClientIP: x.ClientIP, UserAgent: x.UserAgent, HTTPReqID: x.HTTPReqID,
		PrevHash: x.PrevHash, Hash: x.Hash,
	}
	if x.RequestID != nil {
		e.RequestID = *x.RequestID
	}
	return e, x.Proof, nil
}

// Export formats.
const (
	FormatCSV   = "csv"
	FormatJSONL = "jsonl"
)

// ExportWriter writes events one at a time as CSV (with a header row) or
// JSON Lines, buffered; Flush pushes what is buffered to the writer.
type ExportWriter struct {
	format string
	buf    *bufio.Writer
	csv    *csv.Writer
	line   []byte
	header bool
}

// NewExportWriter returns a writer of format (FormatCSV or FormatJSONL;
// anything else is JSON Lines).
func NewExportWriter(w io.Writer, format string) *ExportWriter {
	x := &ExportWriter{format: format, buf: bufio.NewWriterSize(w, 64<<10)}
	if format == FormatCSV {
		x.csv = csv.NewWriter(x.buf)
	}
	return x
}

// Write adds one event.
func (x *ExportWriter) Write(e rolegate.Event) error { return x.WriteProved(e, nil) }

// WriteProved adds one event with its inclusion proof (JSON Lines only; a
// CSV row has no room for it).
func (x *ExportWriter) WriteProved(e rolegate.Event, p *Proof) error {
	if x.csv != nil {
		if !x.header {
			x.header = true
			if err := x.csv.Write(CSVHeader); err != nil {
				return fmt.Errorf("audit: export: %w", err)
			}
		}
		if err := x.csv.Write(CSVRecord(e)); err != nil {
			return fmt.Errorf("audit: export: %w", err)
		}
		return nil
	}
	var err error
	if x.line, err = AppendProvedJSONLine(x.line[:0], e, p); err != nil {
		return fmt.Errorf("audit: export event %d: %w", e.Seq, err)
	}
	if _, err := x.buf.Write(x.line); err != nil {
		return fmt.Errorf("audit: export: %w", err)
	}
	return nil
}

// Flush writes out what is buffered. A CSV export with no events still
// gets its header row.
func (x *ExportWriter) Flush() error {
	if x.csv != nil {
		if !x.header {
			x.header = true
			if err := x.csv.Write(CSVHeader); err != nil {
				return fmt.Errorf("audit: export: %w", err)
			}
		}
		x.csv.Flush()
		if err := x.csv.Error(); err != nil {
			return fmt.Errorf("audit: export: %w", err)
		}
	}
	if err := x.buf.Flush(); err != nil {
		return fmt.Errorf("audit: export: %w", err)
	}
	return nil
}
