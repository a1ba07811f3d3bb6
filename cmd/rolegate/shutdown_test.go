package main

import (
	"bufio"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
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
	body := "persona=requester"
	// Send the headers and half of the body: the handler is now reading.
	head := "POST /auth/dev HTTP/1.1\r\nHost: " + strings.TrimPrefix(p.URL, "http://") +
		"\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n"
	if _, err := conn.Write([]byte(head + body[:8])); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)

	stopped := make(chan error, 1)
	go func() { stopped <- p.stop() }()
	select {
	case err := <-stopped:
		t.Fatalf("rolegate stopped (%v) with a request still in flight", err)
	case <-time.After(300 * time.Millisecond):
	}

	if _, err := conn.Write([]byte(body[8:])); err != nil {
		t.Fatal(err)
	}
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
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
	case <-time.After(20 * time.Second):
		t.Fatal("rolegate did not stop after the in-flight request finished")
	}
	if !strings.Contains(p.Log.String(), "rolegate stopped") {
		t.Errorf("no shutdown line in the log:\n%s", p.Log)
	}
}
