package simulator

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"time"
)

// Op names an endpoint, to aim a fault at it.
type Op string

// The operations of the contract. The role operations (list, create,
// retrieve, update, delete) match organization and project roles alike.
const (
	OpAny      Op = ""
	OpList     Op = "list"
	OpCreate   Op = "create"
	OpRetrieve Op = "retrieve"
	OpUpdate   Op = "update"
	OpDelete   Op = "delete"

	OpListProjects    Op = "list-projects"
	OpCreateProject   Op = "create-project"
	OpRetrieveProject Op = "retrieve-project"
	OpUpdateProject   Op = "modify-project"

	OpListGroups     Op = "list-groups"
	OpCreateGroup    Op = "create-group"
	OpListGroupUsers Op = "list-group-users"
	OpAddGroupUser   Op = "add-group-user"
	OpListUsers      Op = "list-users"
	OpRetrieveUser   Op = "retrieve-user"
	// The role assignment operations match groups and users at both
	// levels alike.
	OpListAssignments    Op = "list-role-assignments"
	OpAssign             Op = "assign-role"
	OpRetrieveAssignment Op = "retrieve-role-assignment"
	OpUnassign           Op = "unassign-role"
)

// FaultKind says how a request goes wrong.
type FaultKind int

const (
	// FaultRateLimit answers 429 in the ErrorResponse shape, with a
	// Retry-After header when Fault.RetryAfter is set. Nothing is applied.
	FaultRateLimit FaultKind = iota + 1
	// FaultServerError answers 500 in the ErrorResponse shape. Nothing is applied.
	FaultServerError
	// FaultHang holds the request until the client gives up (its context
	// ends) or Fault.Release is closed; after a release it is answered normally.
	FaultHang
	// FaultDropConnection applies the request (a create really creates the
	// role), then closes the connection without answering: the client
	// cannot know whether it worked.
	FaultDropConnection
	// FaultHangAfterApply applies the request (a create really creates the
	// role), then holds the answer until the client gives up or
	// Fault.Release is closed: a process killed during the wait leaves a
	// role upstream that it never heard about.
	FaultHangAfterApply
	// FaultAlterStored applies the request and answers it normally, then
	// changes the stored role with Fault.Alter, as if something upstream
	// had altered it: only reading the role back reveals the difference.
	FaultAlterStored
)

// Fault is one injected failure, for the next authenticated request of Op.
type Fault struct {
	Kind FaultKind
	// Op limits the fault to one operation; OpAny matches every request.
	Op Op
	// RetryAfter is sent with FaultRateLimit, in whole seconds rounded up
	// (the contract allows no less than 1); zero sends no header.
	RetryAfter time.Duration
	// Message replaces the default error message of FaultRateLimit and
	// FaultServerError, e.g. to test what a client does with it.
	Message string
	// Release ends a FaultHang or FaultHangAfterApply when closed. Nil
	// waits for the client.
	Release <-chan struct{}
	// Alter changes the role a FaultAlterStored request created or updated;
	// it runs under the simulator's lock and must not call the simulator.
	Alter func(*Role)
}

// FailNext queues f for the next n authenticated requests that match f.Op.
// Faults are taken in the order they were queued; a request takes at most
// one. Requests refused for a bad key do not use up a fault.
func (s *Simulator) FailNext(n int, f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range n {
		s.faults = append(s.faults, f)
	}
}

// PendingFaults returns how many queued faults no request has taken yet.
func (s *Simulator) PendingFaults() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.faults)
}

func (s *Simulator) takeFault(op Op) (Fault, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, f := range s.faults {
		if f.Op == OpAny || f.Op == op {
			s.faults = append(s.faults[:i:i], s.faults[i+1:]...)
			return f, true
		}
	}
	return Fault{}, false
}

func (s *Simulator) applyFault(w http.ResponseWriter, r *http.Request, f Fault, handle http.HandlerFunc) {
	switch f.Kind {
	case FaultRateLimit:
		msg := f.Message
		if msg == "" {
			msg = "Rate limit reached for requests to the Admin API. Please try again later."
		}
		if f.RetryAfter > 0 {
			secs := max(1, int((f.RetryAfter+time.Second-1)/time.Second))
			w.Header().Set("Retry-After", fmt.Sprint(secs))
		}
		writeError(w, http.StatusTooManyRequests, "requests", msg, nil, ptr("rate_limit_exceeded"))
	case FaultServerError:
		msg := f.Message
		if msg == "" {
			msg = "The server had an error while processing your request. Sorry about that!"
		}
		writeError(w, http.StatusInternalServerError, "server_error", msg, nil, nil)
	case FaultHang:
		select {
		case <-r.Context().Done():
			return // the client is gone; there is no one to answer
		case <-f.Release:
			handle(w, r)
		}
	case FaultDropConnection:
		// Let the operation happen, but throw its answer away.
		handle(discard{header: http.Header{}}, r)
		hj, ok := w.(http.Hijacker)
		if !ok {
			panic("simulator: FaultDropConnection needs a connection that can be hijacked (HTTP/1.x)")
		}
		conn, _, err := hj.Hijack()
		if err != nil {
			return
		}
		if tcp, ok := conn.(*net.TCPConn); ok {
			_ = tcp.SetLinger(0) // reset, like a proxy or load balancer dying mid-request
		}
		_ = conn.Close()
	case FaultHangAfterApply:
		rec := newRecorder()
		handle(rec, r)
		select {
		case <-r.Context().Done():
		case <-f.Release:
			rec.replay(w)
		}
	case FaultAlterStored:
		rec := newRecorder()
		handle(rec, r)
		var applied struct {
			ID string `json:"id"`
		}
		if rec.status == http.StatusOK && json.Unmarshal(rec.body.Bytes(), &applied) == nil && f.Alter != nil {
			s.mu.Lock()
			if i := s.indexLocked(applied.ID); i >= 0 {
				f.Alter(&s.roles[i])
			}
			s.mu.Unlock()
		}
		rec.replay(w)
	default:
		panic(fmt.Sprintf("simulator: unknown fault kind %d", f.Kind))
	}
}

// recorder keeps an answer to send later, or never.
type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func newRecorder() *recorder { return &recorder{header: http.Header{}, status: http.StatusOK} }

func (r *recorder) Header() http.Header         { return r.header }
func (r *recorder) Write(b []byte) (int, error) { return r.body.Write(b) }
func (r *recorder) WriteHeader(status int)      { r.status = status }

func (r *recorder) replay(w http.ResponseWriter) {
	for k, v := range r.header {
		w.Header()[k] = v
	}
	w.WriteHeader(r.status)
	_, _ = w.Write(r.body.Bytes())
}

// discard is a ResponseWriter that forgets the answer.
type discard struct{ header http.Header }

func (d discard) Header() http.Header         { return d.header }
func (d discard) Write(b []byte) (int, error) { return len(b), nil }
func (d discard) WriteHeader(int)             {}
