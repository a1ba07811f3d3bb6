package web

import (
	"bytes"
	"net/http"
	"strconv"
	"sync"

	"github.com/a-h/templ"
	"github.com/labstack/echo/v4"

	"github.com/rolegate/rolegate/internal/rolegate"
	"github.com/rolegate/rolegate/static"
	"github.com/rolegate/rolegate/views"
)

var buffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// render renders a component into a buffer first, so that an error midway
// becomes an error page rather than half a page with status 200.
func (s *Server) render(c echo.Context, status int, comp templ.Component) error {
	buf := buffers.Get().(*bytes.Buffer)
	buf.Reset()
	defer buffers.Put(buf)
	if err := comp.Render(ctx(c), buf); err != nil {
		return err
	}
	// The length is known: the page goes out in one piece rather than
	// in chunks (net/http chunks what it was not told the length of, past
	// its first 2 KiB), which costs both ends of the connection.
	c.Response().Header().Set(echo.HeaderContentLength, strconv.Itoa(buf.Len()))
	return c.HTMLBlob(status, buf.Bytes())
}

// chrome is the frame of a page for the current person.
func (s *Server) chrome(c echo.Context, active string) views.Chrome {
	ch := s.anonymousChrome()
	ch.Active, ch.Flash = active, s.takeFlash(c)
	if sess := sessionFrom(ctx(c)); sess != nil {
		p := sess.Principal
		ch.Principal, ch.CSRFToken = &p, sess.CSRFToken
		if p.Has(rolegate.RoleApprover) {
			ch.ReviewsWaiting = s.reviewsWaiting(c, p)
		}
	}
	return ch
}

// reviewsWaiting counts the requests waiting for the approver's decision,
// for the navigation. The number is a convenience: when it cannot be read
// the page is shown without it (the error is logged), not refused.
func (s *Server) reviewsWaiting(c echo.Context, p rolegate.Principal) int {
	n, err := s.Requests.Count(ctx(c), reviewQueue(p))
	if err != nil {
		s.Logger.Error("count the reviews waiting", "err", err, "request_id", requestIDFrom(ctx(c)))
		return 0
	}
	return n
}

// anonymousChrome is the frame of a page shown to nobody in particular
// (before the session is read).
func (s *Server) anonymousChrome() views.Chrome {
	ch := views.Chrome{
		Dev:       s.Config.Dev,
		CSSURL:    s.Assets.URL("rolegate.css"),
		JSURL:     s.Assets.URL(static.HTMX),
		ScriptURL: s.Assets.URL(static.Script),
		// The icon is named on every page, so a browser never asks for
		// /favicon.ico (a 404 and a refusal in the trail).
		IconURL: s.Assets.URL(static.Favicon),
	}
	if s.Config.Dev {
		ch.DevSummary = s.Config.DevSummary()
	}
	return ch
}

// redirectAfterPost answers a successful form post: a 303 for plain forms,
// HX-Redirect for htmx.
func redirectAfterPost(c echo.Context, target string) error {
	if c.Request().Header.Get("HX-Request") == "true" {
		c.Response().Header().Set("HX-Redirect", target)
		return c.NoContent(http.StatusNoContent)
	}
	return c.Redirect(http.StatusSeeOther, target)
}
