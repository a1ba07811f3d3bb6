// Package simulator is an in-memory stand-in for OpenAI's organization roles
// endpoints (the Admin API excerpt in testdata/openai-admin-roles.openapi.yaml).
//
// It answers like a fresh organization: the predefined "owner" and "reader"
// roles exist, custom roles get "role_…" ids, names are unique, and every
// failure uses the ErrorResponse shape. rolegate's dev mode runs the portal
// against it, and tests across the repository serve it with httptest.
// Tests can look inside (Roles, CreateCalls, LastCreateBody) and inject
// faults (FailNext) such as rate limits, server errors, hangs and dropped
// connections.
package simulator

import (
	"bytes"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
)

// Options configure a Simulator.
type Options struct {
	// AdminKey is the only bearer key the simulator accepts. With an empty
	// key every request is refused, as no key can match it.
	AdminKey string
}

// Role is a role as the simulated organization holds it.
type Role struct {
	ID           string
	Name         string
	Description  string
	Permissions  []string
	ResourceType string
	Predefined   bool
}

func (r Role) clone() Role {
	r.Permissions = slices.Clone(r.Permissions)
	return r
}

// Simulator serves the organization roles endpoints under /v1. It is safe
// for concurrent use.
type Simulator struct {
	mux *http.ServeMux

	mu       sync.Mutex
	adminKey string
	roles    []Role         // in creation order, which is the list order
	seq      map[string]int // role id → creation position, kept after delete so cursors stay valid
	next     int
	faults   []Fault
	creates  int
	lastBody []byte
}

// New returns a simulator that looks like a freshly created organization.
func New(opts Options) *Simulator {
	s := &Simulator{adminKey: opts.AdminKey, seq: make(map[string]int)}
	for _, r := range predefinedRoles() {
		s.insertLocked(r)
	}
	s.mux = http.NewServeMux()
	s.mux.Handle("GET /v1/organization/roles", s.endpoint(OpList, s.listRoles))
	s.mux.Handle("POST /v1/organization/roles", s.endpoint(OpCreate, s.createRole))
	s.mux.Handle("GET /v1/organization/roles/{role_id}", s.endpoint(OpRetrieve, s.retrieveRole))
	s.mux.Handle("POST /v1/organization/roles/{role_id}", s.endpoint(OpUpdate, s.updateRole))
	s.mux.Handle("DELETE /v1/organization/roles/{role_id}", s.endpoint(OpDelete, s.deleteRole))
	// Anything else gets the upstream's own answer to an unknown route,
	// rather than ServeMux's plain-text 404/405.
	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "invalid_request_error",
			fmt.Sprintf("Invalid URL (%s %s)", r.Method, r.URL.Path), nil, ptr("unknown_url"))
	})
	return s
}

// ServeHTTP implements http.Handler.
func (s *Simulator) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mux.ServeHTTP(w, r)
}

// SetAdminKey replaces the accepted key, as rotating an admin key upstream
// would: requests with the old key are refused from now on.
func (s *Simulator) SetAdminKey(key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.adminKey = key
}

// AdminKey is the key the simulator accepts now (empty: any).
func (s *Simulator) AdminKey() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.adminKey
}

// Roles returns a copy of every role, predefined ones first, in creation order.
func (s *Simulator) Roles() []Role {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Role, len(s.roles))
	for i, r := range s.roles {
		out[i] = r.clone()
	}
	return out
}

// CreateCalls counts the create requests received, whatever their outcome
// (refused, faulted or applied).
func (s *Simulator) CreateCalls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.creates
}

// LastCreateBody returns the raw bytes of the last create request body, or
// nil before the first one.
func (s *Simulator) LastCreateBody() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.lastBody)
}

// endpoint wraps an operation with what every upstream endpoint does first:
// authentication, then any injected fault.
func (s *Simulator) endpoint(op Op, handle func(http.ResponseWriter, *http.Request)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if op == OpCreate && !s.recordCreate(w, r) {
			return
		}
		if !s.authenticate(w, r) {
			return
		}
		f, ok := s.takeFault(op)
		if !ok {
			handle(w, r)
			return
		}
		s.applyFault(w, r, f, handle)
	})
}

// recordCreate counts a create request and keeps its body, before anything
// can refuse it, so tests see every attempt a client made.
func (s *Simulator) recordCreate(w http.ResponseWriter, r *http.Request) bool {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	s.mu.Lock()
	s.creates++
	s.lastBody = body
	s.mu.Unlock()
	if err != nil {
		invalidRequest(w, "", "The request body could not be read or is too large.")
		return false
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	return true
}

func (s *Simulator) authenticate(w http.ResponseWriter, r *http.Request) bool {
	s.mu.Lock()
	want := s.adminKey
	s.mu.Unlock()

	got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	got = strings.TrimSpace(got)
	if !ok || got == "" {
		writeError(w, http.StatusUnauthorized, "invalid_request_error",
			"You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
			nil, nil)
		return false
	}
	if want == "" || subtle.ConstantTimeCompare([]byte(got), []byte(want)) != 1 {
		// Upstream echoes a masked form of the wrong key; clients must
		// redact it before showing the message anywhere.
		writeError(w, http.StatusUnauthorized, "invalid_request_error",
			fmt.Sprintf("Incorrect API key provided: %s. You can find your API key at https://platform.openai.com/settings/organization/admin-keys.", maskKey(got)),
			nil, ptr("invalid_api_key"))
		return false
	}
	return true
}

// maskKey keeps what upstream keeps of a wrong key: its kind and last four characters.
func maskKey(key string) string {
	if len(key) <= 8 {
		return "****"
	}
	prefix := ""
	if strings.HasPrefix(key, "sk-admin-") {
		prefix = "sk-admin-"
	}
	return prefix + "****" + key[len(key)-4:]
}

// newRoleID returns an id shaped like upstream's: "role_" and random hex.
func newRoleID() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b) // never fails, per crypto/rand
	return "role_" + hex.EncodeToString(b)
}

// insertLocked stores r under a fresh id. s.mu must be held (or s unshared).
func (s *Simulator) insertLocked(r Role) Role {
	r.ID = newRoleID()
	s.seq[r.ID] = s.next
	s.next++
	s.roles = append(s.roles, r)
	return r.clone()
}

// indexLocked returns the position of role id in s.roles, or -1.
func (s *Simulator) indexLocked(id string) int {
	return slices.IndexFunc(s.roles, func(r Role) bool { return r.ID == id })
}

// nameTakenLocked reports whether another role than except already has name.
func (s *Simulator) nameTakenLocked(name, except string) bool {
	return slices.ContainsFunc(s.roles, func(r Role) bool { return r.Name == name && r.ID != except })
}
