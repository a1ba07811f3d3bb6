package web

import (
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/rolegate/rolegate/internal/audit"
	"github.com/rolegate/rolegate/internal/rolegate"
	"github.com/rolegate/rolegate/views"
)

// Streaming an export: what is buffered goes out every exportFlushEvery
// events, and each flush gives the connection exportWriteWindow more to
// take it, so a large export is bounded by the client's pace rather than
// by the server's write timeout.
const (
	exportFlushEvery  = 2000
	exportWriteWindow = 2 * time.Minute
)

func (s *Server) exportAuditCSV(c echo.Context) error {
	return s.exportAudit(c, audit.FormatCSV, "text/csv; charset=utf-8", ".csv")
}

func (s *Server) exportAuditJSON(c echo.Context) error {
	return s.exportAudit(c, audit.FormatJSONL, "application/jsonl; charset=utf-8", ".jsonl")
}

// exportAudit streams every event matching the filters, oldest first, row
// by row from one snapshot of the trail. The export is recorded (who, the
// format and the filters) before the first byte leaves: an export that
// cannot be recorded does not happen.
func (s *Server) exportAudit(c echo.Context, format, contentType, ext string) error {
	q := audit.QueryFrom(c.QueryParam)
	f, errs := q.Filter()
	if errs != nil {
		actions, err := s.Audit.AuditActions(ctx(c))
		if err != nil {
			return err
		}
		projects, err := s.Pictures.Projects(ctx(c))
		if err != nil {
			return err
		}
		v := views.AuditView{Form: auditForm(q, projects), Errors: errs, Actions: actions}
		return s.render(c, http.StatusUnprocessableEntity, views.AuditPage(s.chrome(c, "audit"), v))
	}
	e := rolegate.NewEvent(s.actor(c), rolegate.OutcomeSuccess, rolegate.AuditExported{Format: format, Filter: q.Details()})
	if err := s.Audit.AppendEvent(ctx(c), e); err != nil {
		return err
	}

	name := "rolegate-audit-" + s.Now().UTC().Format("20060102T150405Z") + ext
	h := c.Response().Header()
	h.Set(echo.HeaderContentType, contentType)
	h.Set(echo.HeaderContentDisposition, `attachment; filename="`+name+`"`)
	c.Response().WriteHeader(http.StatusOK)

	rc := http.NewResponseController(c.Response().Writer)
	w := audit.NewExportWriter(c.Response(), format)
	start, n := time.Now(), 0
	write := func(e rolegate.Event, p *audit.Proof) error {
		if err := w.WriteProved(e, p); err != nil {
			return err
		}
		n++
		if n%exportFlushEvery == 0 {
			if err := w.Flush(); err != nil {
				return err
			}
			_ = rc.Flush()
			_ = rc.SetWriteDeadline(time.Now().Add(exportWriteWindow))
		}
		return nil
	}
	var err error
	if format == audit.FormatJSONL && f != (rolegate.AuditFilter{}) {
		// A filtered export is not the trail from its first event, so each
		// line carries its inclusion proof and can be checked alone
		// (rolegate audit verify -export).
		err = s.Audit.ExportProvedEvents(ctx(c), f, write)
	} else {
		err = s.Audit.ExportEvents(ctx(c), f, func(e rolegate.Event) error { return write(e, nil) })
	}
	if err == nil {
		err = w.Flush()
	}
	if err != nil {
		// The status line is gone: the only honest answer left is to cut
		// the connection, so that the client sees an incomplete download
		// rather than a complete-looking file. ErrAbortHandler is net/http's
		// way to do that (Echo's recover passes it through).
		s.Logger.Warn("audit export interrupted", "err", err, "format", format, "events", n,
			"request_id", requestIDFrom(ctx(c)))
		panic(http.ErrAbortHandler)
	}
	s.Logger.Info("audit export", "format", format, "events", n, "duration_ms", time.Since(start).Milliseconds(),
		"request_id", requestIDFrom(ctx(c)))
	return nil
}
