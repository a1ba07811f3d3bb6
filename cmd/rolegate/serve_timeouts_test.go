package main

import (
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// The portal's server bounds every phase of a connection: a slow or silent
// client is cut off rather than holding a connection for ever.
func TestHTTPServerBoundsConnections(t *testing.T) {
	srv := newHTTPServer(http.NotFoundHandler(), slog.New(slog.DiscardHandler))
	for name, d := range map[string]time.Duration{
		"ReadHeaderTimeout": srv.ReadHeaderTimeout, "ReadTimeout": srv.ReadTimeout,
		"WriteTimeout": srv.WriteTimeout, "IdleTimeout": srv.IdleTimeout,
	} {
		if d <= 0 || d > 10*time.Minute {
			t.Errorf("%s = %v; want set, and at most 10 minutes", name, d)
		}
	}
	if srv.ReadHeaderTimeout > 30*time.Second || srv.ReadHeaderTimeout > srv.ReadTimeout {
		t.Errorf("ReadHeaderTimeout = %v (ReadTimeout %v); want at most 30s and no more than ReadTimeout", srv.ReadHeaderTimeout, srv.ReadTimeout)
	}

	// Oversized headers are refused outright.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	req, _ := http.NewRequest(http.MethodGet, "http://"+ln.Addr().String()+"/", nil)
	req.Header.Set("X-Padding", strings.Repeat("a", 2*srv.MaxHeaderBytes))
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET with oversized headers: %v", err)
	}
	_, _ = io.Copy(io.Discard, res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("GET with %d bytes of headers = %d; want 431", 2*srv.MaxHeaderBytes, res.StatusCode)
	}
}
