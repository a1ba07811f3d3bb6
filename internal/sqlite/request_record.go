package sqlite

import (
	"cmp"
	"context"
	"fmt"
	"reflect"
	"slices"
	"strings"

	"github.com/rolegate/rolegate/internal/rolegate"
	"github.com/rolegate/rolegate/internal/sqlrows"
)

// The request page's read (GetRecord) is one statement: the request, its
// approvals, its grant, its timeline, its notifications and the role it
// created, as the parts of one UNION ALL, told apart by the first column.
// Each part is sorted here, not by SQLite: an ORDER BY over the UNION had
// SQLite sort every part in a temporary b-tree first, a tenth of the
// page's CPU under load, for a dozen rows. A single SELECT reads one committed state
// (SQLite gives each statement a read transaction of its own, which WAL
// keeps on one snapshot), so the parts agree as the separate statements of
// one read transaction did, for one statement's cost instead of five and a
// transaction's (docs/PERFORMANCE.md, issue 20).
//
// Each part's columns are the ones its scanner reads elsewhere
// (requestColumns, eventColumns, …), padded with NULLs to the widest;
// partRow hands a part's columns to that same scanner.
const (
	partRequest = iota
	partApproval
	partGrant
	partEvent
	partNotification
	partRole
)

// The columns of an approval and a grant, as both engines read them.
const (
	approvalColumns = sqlrows.ApprovalColumns
	grantColumns    = sqlrows.GrantColumns
)

// recordKeys is how many columns come before a part's own: the part and,
// for the request, which of its rows this is.
const recordKeys = 2

// recordWidth is how many columns of its own a row of the statement
// carries: an event's. A wider part (the request) is split over several
// rows, the second column numbering them, and joined again when read:
// every column of every row costs the driver a call into SQLite under
// the connection's mutex, so padding every row to the request's width
// cost more than the rows' own columns (docs/PERFORMANCE.md).
var recordWidth = len(splitColumns(eventColumns))

// requestChunks is how many rows the request is split over.
var requestChunks = (len(splitColumns(requestColumns)) + recordWidth - 1) / recordWidth

var recordQuery = buildRecordQuery()

func buildRecordQuery() string {
	type part struct{ keys, cols, from string }
	var parts []part
	reqCols := splitColumns(requestColumns)
	for i := 0; i < len(reqCols); i += recordWidth {
		parts = append(parts, part{fmt.Sprintf("%d, %d", partRequest, i/recordWidth),
			strings.Join(reqCols[i:min(i+recordWidth, len(reqCols))], ", "), `FROM requests WHERE id = ?1`})
	}
	parts = append(parts,
		part{fmt.Sprint(partApproval, ", 0"), approvalColumns, `FROM approvals WHERE request_id = ?1`},
		part{fmt.Sprint(partGrant, ", 0"), grantColumns,
			`FROM access_grants WHERE request_id = ?1 AND (SELECT kind FROM requests WHERE id = ?1) = 'access'`},
		part{fmt.Sprint(partEvent, ", 0"), eventColumns, `FROM audit_events WHERE request_id = ?1`},
		part{fmt.Sprint(partNotification, ", 0"), notificationColumns, `FROM notifications WHERE request_id = ?1`},
		// The role is read only for a request that names one.
		part{fmt.Sprint(partRole, ", 0"), pictureColumns,
			`FROM org_roles WHERE request_id = ?1 AND (SELECT upstream_role_id FROM requests WHERE id = ?1) <> ''`},
	)
	var b strings.Builder
	for i, p := range parts {
		n := len(splitColumns(p.cols))
		if n > recordWidth {
			panic(fmt.Sprintf("sqlite: a part of the request record has %d columns, more than %d", n, recordWidth))
		}
		if i > 0 {
			b.WriteString("\nUNION ALL\n")
		}
		b.WriteString("SELECT " + p.keys + ", " + p.cols + strings.Repeat(", NULL", recordWidth-n) + " " + p.from)
	}
	return b.String()
}

// splitColumns splits a list of columns at its commas, those inside
// parentheses aside.
func splitColumns(cols string) []string {
	var out []string
	depth, from := 0, 0
	for i, r := range cols {
		switch r {
		case '(':
			depth++
		case ')':
			depth--
		case ',':
			if depth == 0 {
				out = append(out, strings.TrimSpace(cols[from:i]))
				from = i + 1
			}
		}
	}
	return append(out, strings.TrimSpace(cols[from:]))
}

// GetRecord returns request id with its timeline, its notifications and
// the role it created, read in one snapshot: the page that shows them
// never pairs a status with a timeline from before or after it. The
// record is kept in the read cache until the next write (readcache.go):
// the caller gets its own copy of the record and of the request, whose
// slices (and the events', notifications' and role's) it shares with
// other readers and must only read.
func (s *Requests) GetRecord(ctx context.Context, id int64) (*rolegate.RequestRecord, error) {
	gen := s.db.gen.Load()
	rec, ok := s.db.records.get(gen, id)
	if !ok {
		var size int
		var err error
		if rec, size, err = readRecord(ctx, s.db.readStmts, id); err != nil {
			return nil, err
		}
		s.db.records.put(gen, id, rec, size)
	}
	out := *rec
	req := *rec.Request
	out.Request = &req
	return &out, nil
}

// readRecord reads request id's record, and about how many bytes it takes
// (its columns' values, for the read cache's bound).
func readRecord(ctx context.Context, q querier, id int64) (*rolegate.RequestRecord, int, error) {
	rows, err := q.QueryContext(keyedRead(ctx), recordQuery, id)
	if err != nil {
		return nil, 0, fmt.Errorf("sqlite: get request %d: %w", id, err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return nil, 0, fmt.Errorf("sqlite: get request %d: %w", id, err)
	}
	vals := make(partRow, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	var rec struct {
		rolegate.RequestRecord
		// The request's parts, read before the request is.
		Approvals []rolegate.Approval
		Grant     *rolegate.Grant
	}
	var roles []rolegate.PictureRole
	// The request's columns, joined from its rows in their order.
	request := make(partRow, requestChunks*recordWidth)
	chunks := 0
	size := 1024
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return nil, 0, fmt.Errorf("sqlite: get request %d: %w", id, err)
		}
		size += vals.size()
		part, _ := vals[0].(int64)
		row := vals[recordKeys:]
		switch part {
		case partRequest:
			chunk, _ := vals[1].(int64)
			if chunk < 0 || int(chunk) >= requestChunks {
				err = fmt.Errorf("a row %d of the request", chunk)
				break
			}
			copy(request[int(chunk)*recordWidth:], row)
			chunks++
		case partApproval:
			var a rolegate.Approval
			if a, err = scanApproval(row); err == nil {
				rec.Approvals = append(rec.Approvals, a)
			}
		case partGrant:
			rec.Grant, err = scanGrant(row)
		case partEvent:
			var e rolegate.Event
			if e, err = scanEvent(row); err == nil {
				rec.Events = append(rec.Events, e)
			}
		case partNotification:
			var n rolegate.Notification
			if n, err = scanNotification(row); err == nil {
				rec.Notifications = append(rec.Notifications, n)
			}
		case partRole:
			var r rolegate.PictureRole
			if r, err = scanPictureRole(row); err == nil {
				roles = append(roles, r)
			}
		default:
			err = fmt.Errorf("unknown part %v", vals[0])
		}
		if err != nil {
			return nil, 0, fmt.Errorf("sqlite: get request %d: %w", id, err)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, 0, fmt.Errorf("sqlite: get request %d: %w", id, err)
	}
	if chunks == 0 {
		return nil, 0, rolegate.Errorf(rolegate.ENOTFOUND, "There is no request #%d.", id)
	}
	if rec.Request, err = scanRequest(request); err != nil {
		return nil, 0, fmt.Errorf("sqlite: get request %d: %w", id, err)
	}
	// Each part in the order of its own read: approvals by time then
	// approver, events by seq, notifications by id, and of the roles the
	// live one (deleted_at 0) before any deleted one.
	slices.SortStableFunc(rec.Approvals, func(a, b rolegate.Approval) int {
		return cmp.Or(a.At.Compare(b.At), strings.Compare(a.Approver.Issuer+"|"+a.Approver.Subject, b.Approver.Issuer+"|"+b.Approver.Subject))
	})
	slices.SortFunc(rec.Events, func(a, b rolegate.Event) int { return cmp.Compare(a.Seq, b.Seq) })
	slices.SortFunc(rec.Notifications, func(a, b rolegate.Notification) int { return cmp.Compare(a.ID, b.ID) })
	rec.Request.Approvals, rec.Approvals = rec.Approvals, nil
	rec.Request.Grant, rec.Grant = rec.Grant, nil
	if len(roles) > 0 {
		r := slices.MinFunc(roles, func(a, b rolegate.PictureRole) int { return a.DeletedAt.Compare(b.DeletedAt) })
		rec.Role = &r
	}
	return &rec.RequestRecord, size, nil
}

func scanApproval(row scanner) (rolegate.Approval, error) {
	var a sqlrows.ApprovalRow
	if err := row.Scan(a.Dest()...); err != nil {
		return rolegate.Approval{}, err
	}
	return a.Approval(), nil
}

// scanGrant reads grantColumns as getGrant does.
func scanGrant(row scanner) (*rolegate.Grant, error) {
	var g sqlrows.GrantRow
	if err := row.Scan(g.Dest()...); err != nil {
		return nil, err
	}
	return g.Grant(), nil
}

// size is about how much memory the row's values take once converted.
func (r partRow) size() int {
	n := 0
	for _, v := range r {
		switch v := v.(type) {
		case string:
			n += 16 + len(v)
		case []byte:
			n += 24 + len(v)
		default:
			n += 16
		}
	}
	return n
}

// partRow is one row's values as the driver gave them (int64, float64,
// string, []byte or nil), scanned again into a part's own destinations:
// the conversions database/sql makes for the types rolegate scans into.
// A NULL or a value of the wrong type is an error, as it is there.
type partRow []any

func (r partRow) Scan(dest ...any) error {
	if len(dest) > len(r) {
		return fmt.Errorf("%d destinations for %d columns", len(dest), len(r))
	}
	for i, d := range dest {
		if err := assignValue(d, r[i]); err != nil {
			return fmt.Errorf("column %d: %w", i, err)
		}
	}
	return nil
}

func assignValue(dest, src any) error {
	switch d := dest.(type) {
	case *string:
		switch s := src.(type) {
		case string:
			*d = s
			return nil
		case []byte:
			*d = string(s)
			return nil
		}
	case *[]byte:
		// database/sql gave a copy of a []byte to the *any it was
		// scanned into; it is this row's own.
		switch s := src.(type) {
		case []byte:
			*d = s
			return nil
		case string:
			*d = []byte(s)
			return nil
		}
	case *int64:
		if v, ok := src.(int64); ok {
			*d = v
			return nil
		}
	case *int:
		if v, ok := src.(int64); ok {
			*d = int(v)
			return nil
		}
	case *bool:
		if v, ok := src.(int64); ok {
			*d = v != 0
			return nil
		}
	default:
		// A named type (rolegate.Status, rolegate.NotifyChannel, …).
		v := reflect.ValueOf(dest)
		if v.Kind() != reflect.Pointer || v.IsNil() {
			return fmt.Errorf("cannot scan into %T", dest)
		}
		e := v.Elem()
		switch s := src.(type) {
		case string:
			if e.Kind() == reflect.String {
				e.SetString(s)
				return nil
			}
		case int64:
			switch e.Kind() {
			case reflect.Int, reflect.Int64, reflect.Int32:
				e.SetInt(s)
				return nil
			case reflect.Bool:
				e.SetBool(s != 0)
				return nil
			}
		}
	}
	return fmt.Errorf("cannot scan %T into %T", src, dest)
}
