package web

import (
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/netip"

	"github.com/labstack/echo/v4"

	"github.com/rolegate/rolegate/internal/rolegate"
	"github.com/rolegate/rolegate/views"
)

// statusOf maps domain error codes to HTTP statuses: the one place it happens.
var statusOf = map[string]int{
	rolegate.ECONFLICT:     http.StatusConflict,
	rolegate.EFORBIDDEN:    http.StatusForbidden,
	rolegate.EINTERNAL:     http.StatusInternalServerError,
	rolegate.EINVALID:      http.StatusUnprocessableEntity,
	rolegate.ENOTFOUND:     http.StatusNotFound,
	rolegate.EUNAUTHORIZED: http.StatusUnauthorized,
	rolegate.ETOOMANY:      http.StatusTooManyRequests,
	rolegate.EUNAVAILABLE:  http.StatusServiceUnavailable,
}

var titleOf = map[int]string{
	http.StatusBadRequest:            "Bad request",
	http.StatusUnauthorized:          "Please sign in",
	http.StatusForbidden:             "Not allowed",
	http.StatusNotFound:              "Not found",
	http.StatusMethodNotAllowed:      "Not allowed",
	http.StatusConflict:              "Already changed",
	http.StatusRequestEntityTooLarge: "Too large",
	http.StatusUnprocessableEntity:   "Please check your input",
	http.StatusTooManyRequests:       "Too many requests",
	http.StatusInternalServerError:   "Something went wrong",
	http.StatusServiceUnavailable:    "Temporarily unavailable",
}

// handleError is Echo's error handler: every error a handler returns ends
// here and becomes a full error page (or a short text for non-page paths).
func (s *Server) handleError(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	status, msg := http.StatusInternalServerError, rolegate.ErrorMessage(err)
	var he *echo.HTTPError
	switch {
	case errors.As(err, &he):
		status = he.Code
		msg = httpMessage(status)
	default:
		if code := rolegate.ErrorCode(err); code != "" {
			status = statusOf[code]
		}
	}
	if status >= 500 {
		s.Logger.Error("request failed", "err", err, "path", c.Request().URL.Path, "request_id", requestIDFrom(ctx(c)))
	}
	title := titleOf[status]
	if title == "" {
		title = http.StatusText(status)
	}
	if c.Request().Method == http.MethodHead {
		_ = c.NoContent(status)
		return
	}
	retry, label := "/", "Go to the start page"
	if status == http.StatusUnauthorized {
		retry, label = "/auth/login", "Sign in"
	}
	if err := s.render(c, status, views.ErrorPage(s.chrome(c, ""), status, title, msg, retry, label)); err != nil {
		s.Logger.Error("render error page", "err", err)
		_ = c.String(status, title+": "+msg)
	}
}

func httpMessage(status int) string {
	switch status {
	case http.StatusBadRequest:
		return "rolegate could not read what your browser sent. Reload the page and try again."
	case http.StatusNotFound:
		return "There is nothing at this address."
	case http.StatusMethodNotAllowed:
		return "This address does not accept that kind of request."
	case http.StatusRequestEntityTooLarge:
		return "What you sent is larger than rolegate accepts. Shorten it and try again."
	case http.StatusTooManyRequests:
		return "You are sending requests too quickly. Wait a moment and try again."
	}
	return http.StatusText(status)
}

func slogLevelFor(status int) slog.Level {
	switch {
	case status >= 500:
		return slog.LevelError
	case status >= 400:
		return slog.LevelWarn
	}
	return slog.LevelInfo
}

func prefixToIPNet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}
