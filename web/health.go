package web

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/rolegate/rolegate/internal/metrics"
)

// healthz says the process is up; it touches nothing.
func (s *Server) healthz(c echo.Context) error {
	return c.String(http.StatusOK, "ok\n")
}

// readyz says the database answers.
func (s *Server) readyz(c echo.Context) error {
	cctx, cancel := context.WithTimeout(ctx(c), 2*time.Second)
	defer cancel()
	if err := s.Store.Ping(cctx); err != nil {
		s.Logger.Error("readiness: database", "err", err)
		return c.String(http.StatusServiceUnavailable, "database unavailable\n")
	}
	return c.String(http.StatusOK, "ready\n")
}

// metrics serves Prometheus text to the scraper only, never to whoever
// reaches the portal: with ROLEGATE_METRICS_ADDR they are on a listener of
// their own and not here; with ROLEGATE_METRICS_TOKEN only a request
// bearing it gets them (a session is not enough); with neither they are
// off, except in dev mode, which listens on loopback alone.
func (s *Server) metrics(c echo.Context) error {
	switch {
	case s.Metrics == nil || s.Config.MetricsAddr != "":
		return echo.ErrNotFound
	case s.Config.MetricsToken != "":
		metrics.RequireBearer(s.Config.MetricsToken.Reveal(), s.Metrics.Handler()).ServeHTTP(c.Response(), c.Request())
	case s.Config.Dev:
		s.Metrics.Handler().ServeHTTP(c.Response(), c.Request())
	default:
		return echo.ErrNotFound
	}
	return nil
}

// staticAsset serves an embedded file under its fingerprinted name, cached
// for a year (in place of the no-store of securityHeaders): a new version
// has a new name.
func (s *Server) staticAsset(c echo.Context) error {
	asset, ok := s.Assets.ByPath(c.Request().URL.Path)
	if !ok || strings.Contains(c.Request().URL.Path, "..") {
		return echo.ErrNotFound
	}
	h := c.Response().Header()
	h.Set("Cache-Control", "public, max-age=31536000, immutable")
	return c.Blob(http.StatusOK, asset.ContentType, asset.Body)
}
