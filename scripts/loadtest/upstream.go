package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/rolegate/rolegate/internal/simulator"
)

// upstream is the Admin API simulator on a loopback port, noting when each
// create call arrives: the end of the approval-to-upstream measurement.
type upstream struct {
	URL string
	sim http.Handler
	srv *http.Server

	mu      sync.Mutex
	arrived map[string]chan time.Time // by role name
}

func startUpstream(adminKey string) (*upstream, error) {
	u := &upstream{sim: simulator.New(simulator.Options{AdminKey: adminKey}), arrived: map[string]chan time.Time{}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	u.URL = "http://" + ln.Addr().String()
	u.srv = &http.Server{Handler: u, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = u.srv.Serve(ln) }()
	return u, nil
}

func (u *upstream) Close() { _ = u.srv.Close() }

// ServeHTTP notes the arrival of a create call, then lets the simulator
// answer it.
func (u *upstream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodPost && r.URL.Path == "/v1/organization/roles" {
		at := time.Now()
		body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		r.Body = io.NopCloser(bytes.NewReader(body))
		var create struct {
			RoleName string `json:"role_name"`
		}
		if json.Unmarshal(body, &create) == nil {
			select {
			case u.arrival(create.RoleName) <- at:
			default:
			}
		}
	}
	u.sim.ServeHTTP(w, r)
}

// arrival is the channel on which the create call for name is announced.
func (u *upstream) arrival(name string) chan time.Time {
	u.mu.Lock()
	defer u.mu.Unlock()
	ch, ok := u.arrived[name]
	if !ok {
		ch = make(chan time.Time, 1)
		u.arrived[name] = ch
	}
	return ch
}
