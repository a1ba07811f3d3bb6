// Command hello is the ceiling of rolegate's web stack on this machine: a
// bare Echo v4 route answering "hello", nothing else (no middleware, no
// session, no template). scripts/loadtest -ratios measures the request page
// against it, alternating the two under the same load. The Echo version is
// the product's (scripts/loadtest.sh refuses to run if the two modules
// disagree).
//
// It prints "listening http://ADDR" on stdout once it accepts connections.
package main

import (
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/labstack/echo/v4"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "address to listen on")
	flag.Parse()
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.GET("/", func(c echo.Context) error { return c.String(http.StatusOK, "hello") })
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "hello:", err)
		os.Exit(1)
	}
	fmt.Printf("listening http://%s\n", ln.Addr())
	// The same server settings as rolegate serve (cmd/rolegate/serve.go).
	srv := &http.Server{Handler: e, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
		WriteTimeout: 5 * time.Minute, IdleTimeout: 2 * time.Minute}
	if err := srv.Serve(ln); err != nil {
		fmt.Fprintln(os.Stderr, "hello:", err)
		os.Exit(1)
	}
}
