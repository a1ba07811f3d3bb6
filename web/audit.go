package web

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/rolegate/rolegate/internal/audit"
	"github.com/rolegate/rolegate/internal/rolegate"
	"github.com/rolegate/rolegate/views"
)

// auditRoutes are the auditors' pages: the search, its older rows for
// htmx, and the exports (audit_export.go). Only auditors reach them.
func (s *Server) auditRoutes() []Route {
	return []Route{
		{http.MethodGet, "/audit", Auditor, UsesSession, NoLimit, s.auditPage},
		{http.MethodGet, "/audit/rows", Auditor, UsesSession, NoLimit, s.auditOlderRows},
		{http.MethodGet, "/audit/export.csv", Auditor, UsesSession, ExportsLimit, s.exportAuditCSV},
		{http.MethodGet, "/audit/export.jsonl", Auditor, UsesSession, ExportsLimit, s.exportAuditJSON},
	}
}

// auditCountMost is as far as the Audit page counts the matches: beyond
// it, it says "more than", so a search over a large trail stays quick.
const auditCountMost = 10000

// defaultAuditCountBudget is the longest the Audit page lets the count of
// matches take (Deps.AuditCountBudget). The store declines the counts it
// expects to be slow (audit.ErrNotCounted: free text with another common
// filter, on a large trail; docs/PERFORMANCE.md); this bounds what it did
// not expect, on a machine far busier than usual.
const defaultAuditCountBudget = 250 * time.Millisecond

// errBadCursor answers a "before" parameter that rolegate did not write.
var errBadCursor = rolegate.Errorf(rolegate.EINVALID, "The link to older events is broken. Search again from the Audit page.")

// auditQuery reads the filters and the page cursor ("before") from the
// query string. Field errors mean the filters must not be used; an error
// means the cursor was not one rolegate wrote.
func auditQuery(c echo.Context) (audit.Query, rolegate.AuditFilter, rolegate.FieldErrors, error) {
	q := audit.QueryFrom(c.QueryParam)
	f, errs := q.Filter()
	if b := c.QueryParam("before"); b != "" {
		n, err := strconv.ParseInt(b, 10, 64)
		if err != nil || n <= 1 {
			return q, f, errs, errBadCursor
		}
		f.BeforeSeq = n
	}
	return q, f, errs, nil
}

// auditURL is path with the query's filters and extra parameters.
func auditURL(path string, q audit.Query, extra url.Values) string {
	v := q.Values()
	for k, vs := range extra {
		v[k] = vs
	}
	if len(v) == 0 {
		return path
	}
	return path + "?" + v.Encode()
}

func auditForm(q audit.Query, projects []rolegate.Project) views.AuditForm {
	return views.AuditForm{Actor: q.Actor, Action: q.Action, Request: q.Request, From: q.From, To: q.To, Text: q.Text,
		Scope: q.Scope, Projects: projects}
}

// auditRows is a page of events with the links to the next one.
func auditRows(q audit.Query, events []rolegate.Event, next int64) views.AuditRows {
	r := views.AuditRows{Events: events}
	if next > 0 {
		before := url.Values{"before": {strconv.FormatInt(next, 10)}}
		r.MoreURL = auditURL("/audit", q, before)
		r.MoreRowsURL = auditURL("/audit/rows", q, before)
	}
	return r
}

// auditPage searches the trail, or shows the filters again with a message
// beside each refused one, searching nothing.
func (s *Server) auditPage(c echo.Context) error {
	q, f, errs, err := auditQuery(c)
	if err != nil {
		return err
	}
	actions, err := s.Audit.AuditActions(ctx(c))
	if err != nil {
		return err
	}
	projects, err := s.Pictures.Projects(ctx(c))
	if err != nil {
		return err
	}
	v := views.AuditView{Form: auditForm(q, projects), Errors: errs, Actions: actions}
	if errs != nil {
		return s.render(c, http.StatusUnprocessableEntity, views.AuditPage(s.chrome(c, "audit"), v))
	}
	events, next, err := s.Audit.SearchEvents(ctx(c), f)
	if err != nil {
		return err
	}
	if v.Matches, v.MoreMatches, v.NotCounted, err = s.countMatches(c, f); err != nil {
		return err
	}
	if v.Rows, v.Checkpoint, err = s.withInclusion(c, auditRows(q, events, next)); err != nil {
		return err
	}
	v.ExportCSV = auditURL("/audit/export.csv", q, nil)
	v.ExportJSON = auditURL("/audit/export.jsonl", q, nil)
	if f.BeforeSeq > 0 {
		v.NewestURL = auditURL("/audit", q, nil)
	}
	return s.render(c, http.StatusOK, views.AuditPage(s.chrome(c, "audit"), v))
}

// countMatches counts the events matching f for the Audit page; notCounted
// says the store declined (counting would be slow) or the count's time
// budget ran out first. The count is a convenience: the page is shown
// without it.
func (s *Server) countMatches(c echo.Context, f rolegate.AuditFilter) (n int, more, notCounted bool, err error) {
	budget := s.AuditCountBudget
	if budget <= 0 {
		budget = defaultAuditCountBudget
	}
	cctx, cancel := context.WithTimeout(ctx(c), budget)
	defer cancel()
	n, more, err = s.Audit.CountEvents(cctx, f, auditCountMost)
	switch {
	case errors.Is(err, audit.ErrNotCounted):
		return 0, false, true, nil
	case err != nil && cctx.Err() != nil && ctx(c).Err() == nil:
		s.Logger.Warn("the audit count ran over its budget", "budget", budget, "request_id", requestIDFrom(ctx(c)))
		return 0, false, true, nil
	}
	return n, more, false, err
}

// auditOlderRows answers the "Older events" link under htmx: the next rows
// and a new link, in place of the old one.
func (s *Server) auditOlderRows(c echo.Context) error {
	q, f, errs, err := auditQuery(c)
	switch {
	case err != nil:
		return s.render(c, http.StatusUnprocessableEntity, views.AuditRowsProblem(rolegate.ErrorMessage(err)))
	case errs != nil:
		return s.render(c, http.StatusUnprocessableEntity, views.AuditRowsProblem("The filters of this page are not valid. Search again from the Audit page."))
	}
	events, next, err := s.Audit.SearchEvents(ctx(c), f)
	if err != nil {
		return err
	}
	rows, _, err := s.withInclusion(c, auditRows(q, events, next))
	if err != nil {
		return err
	}
	return s.render(c, http.StatusOK, views.AuditRowsFragment(rows))
}
