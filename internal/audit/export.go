package audit

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"time"

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
}

// AppendJSONLine appends e as one line of JSON (with its newline) to b.
func AppendJSONLine(b []byte, e rolegate.Event) ([]byte, error) {
	x := exported{
		Seq: e.Seq, At: e.At.UTC().Format(TimeFormat),
		ActorKey: e.ActorKey, ActorEmail: e.ActorEmail, ActorName: e.ActorName, ActorRoles: e.ActorRoles,
		Action: e.Action, RoleName: e.RoleName, Outcome: e.Outcome, Details: e.Details,
		ClientIP: e.ClientIP, UserAgent: e.UserAgent, HTTPReqID: e.HTTPReqID, PrevHash: e.PrevHash, Hash: e.Hash,
	}
	if e.RequestID != 0 {
		x.RequestID = &e.RequestID
	}
	if !json.Valid(e.Details) {
		// Never written by rolegate; kept as a string rather than lost.
		s, _ := json.Marshal(string(e.Details))
		x.Details = s
	}
	buf := bytes.NewBuffer(b)
	enc := json.NewEncoder(buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(x); err != nil { // Encode ends the line with "\n"
		return b, err
	}
	return buf.Bytes(), nil
}

// ParseJSONLine reads back one exported line, exactly as recorded, so that
// an export can be checked with Walk (see TestJSONExportVerifies).
func ParseJSONLine(line []byte) (rolegate.Event, error) {
	var x exported
	if err := json.Unmarshal(line, &x); err != nil {
		return rolegate.Event{}, err
	}
	at, err := time.Parse(TimeFormat, x.At)
	if err != nil {
		return rolegate.Event{}, err
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
	return e, nil
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
func (x *ExportWriter) Write(e rolegate.Event) error {
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
	if x.line, err = AppendJSONLine(x.line[:0], e); err != nil {
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
