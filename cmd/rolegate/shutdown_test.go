package main

import (
	"bufio"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rolegate/rolegate/internal/testkit"
)

// A stop signal lets a request already in flight finish: its answer is
// complete, and run returns without error once it has been sent.
func TestShutdownLetsInFlightRequestsFinish(t *testing.T) {
	p := startPortal(t)
	conn, err := net.Dial("tcp", strings.TrimPrefix(p.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	addr := strings.TrimPrefix(p.URL, "http://")
	body := "persona=requester"
	// Send the headers asking to be told when the handler reads the body
	// (Expect: 100-continue), then half of the body: once "100 Continue"
	// is back, the handler is running and reading.
	head := "POST /auth/dev HTTP/1.1\r\nHost: " + addr +
		"\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: " + strconv.Itoa(len(body)) +
		"\r\nExpect: 100-continue\r\n\r\n"
	if _, err := conn.Write([]byte(head)); err != nil {
		t.Fatal(err)
	}
	answers := bufio.NewReader(conn)
	if res, err := http.ReadResponse(answers, nil); err != nil || res.StatusCode != http.StatusContinue {
		t.Fatalf("the handler did not start reading the body: %v, %v", res, err)
	}
	if _, err := conn.Write([]byte(body[:8])); err != nil {
		t.Fatal(err)
	}

	stopped := make(chan error, 1)
	go func() { stopped <- p.stop() }()
	// The stop is under way once the portal says so and its listener takes
	// no new connection; run must still be waiting for the request.
	testkit.WaitFor(t, "the stop to close the listener", func() bool {
		if !strings.Contains(p.Log.String(), "rolegate shutting down") {
			return false
		}
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
		}
		return err != nil
	}, p.Log.String)
	select {
	case err := <-stopped:
		t.Fatalf("rolegate stopped (%v) with a request still in flight", err)
	default:
	}

	if _, err := conn.Write([]byte(body[8:])); err != nil {
		t.Fatal(err)
	}
	res, err := http.ReadResponse(answers, nil)
	if err != nil {
		t.Fatalf("the in-flight request got no answer: %v", err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusSeeOther {
		t.Errorf("in-flight sign-in answered %d; want 303", res.StatusCode)
	}
	select {
	case err := <-stopped:
		if err != nil {
			t.Errorf("run returned %v after a graceful stop; want nil", err)
		}
	case <-time.After(testkit.Patience):
		t.Fatal("rolegate did not stop after the in-flight request finished")
	}
	if !strings.Contains(p.Log.String(), "rolegate stopped") {
		t.Errorf("no shutdown line in the log:\n%s", p.Log)
	}
}
