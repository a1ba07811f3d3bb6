// Package simulator is an in-memory stand-in for OpenAI's organization roles,
// projects and project roles endpoints, the organization's groups, users and
// group membership, and the role assignments of groups and users at the
// organization's and each project's level (the Admin API excerpts in
// testdata/openai-admin-roles.openapi.yaml and
// testdata/openai-admin-rbac.openapi.yaml).
//
// It answers like a fresh organization: the predefined "owner" and "reader"
// roles exist, custom roles get "role_…" ids, names are unique within their
// scope (the organization, or one project), and every failure uses the
// ErrorResponse shape. Projects exist only when Options.Projects or
// AddProject make them; each starts with its predefined "owner" and "member"
// project roles, and an archived project refuses every change. rolegate's dev mode runs the portal
// against it, and tests across the repository serve it with httptest.
// Tests can look inside (Roles, CreateCalls, LastCreateBody, Assignments,
// AssignCalls), change things behind a client's back (outofband.go,
// directory.go, AssignRole, UnassignRole) and inject
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
	// Projects are created at start, in this order (dev mode's
	// organization has some; a fresh one has none).
	Projects []ProjectSeed
	// Users and Groups are the organization's directory at start (dev
	// mode's has some; a fresh one has none). A group's members are named
	// by the email of one of Users.
	Users  []UserSeed
	Groups []GroupSeed
}

// ProjectSeed is a project that exists when the simulator starts.
type ProjectSeed struct {
	Name     string
	Archived bool
}

// Role is a role as the simulated organization holds it.
type Role struct {
	ID           string
	Name         string
	Description  string
	Permissions  []string
	ResourceType string
	Predefined   bool
	// Project is the id of the project the role belongs to; empty for an
	// organization role.
	Project string
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
	roles    []Role         // in creation order, which is the list order; every scope
	seq      map[string]int // role id → creation position, kept after delete so cursors stay valid
	next     int
	projects []Project // in creation order, which is the list order
	faults   []Fault
	creates  int
	lastBody []byte
	lastPath string

	groups      []Group             // in creation order, which is the list order
	users       []User              // in the order they joined
	members     map[string][]string // group id → user ids, in the order they were added
	assignments []Assignment        // in the order they were made
	assigns     int
	unassigns   int
	lastAssign  string // method, path and body of the last assign call
}

// New returns a simulator that looks like a freshly created organization.
func New(opts Options) *Simulator {
	s := &Simulator{adminKey: opts.AdminKey, seq: make(map[string]int), members: make(map[string][]string)}
	for _, r := range predefinedRoles() {
		s.insertLocked(r)
	}
	for _, p := range opts.Projects {
		proj := s.addProjectLocked(p.Name)
		if p.Archived {
			s.archiveProjectLocked(proj.ID)
		}
	}
	for _, u := range opts.Users {
		s.addUserLocked(u.Name, u.Email)
	}
	for _, g := range opts.Groups {
		group := s.addGroupLocked(g.Name)
		for _, email := range g.Members {
			for _, u := range s.users {
				if strings.EqualFold(u.Email, email) {
					s.addMemberLocked(group.ID, u.ID)
				}
			}
		}
	}
	s.mux = http.NewServeMux()
	s.mux.Handle("GET /v1/organization/roles", s.endpoint(OpList, s.listRoles))
	s.mux.Handle("POST /v1/organization/roles", s.endpoint(OpCreate, s.createRole))
	s.mux.Handle("GET /v1/organization/roles/{role_id}", s.endpoint(OpRetrieve, s.retrieveRole))
	s.mux.Handle("POST /v1/organization/roles/{role_id}", s.endpoint(OpUpdate, s.updateRole))
	s.mux.Handle("DELETE /v1/organization/roles/{role_id}", s.endpoint(OpDelete, s.deleteRole))
	// Project roles: the same handlers, scoped by the path's project_id.
	s.mux.Handle("GET /v1/projects/{project_id}/roles", s.endpoint(OpList, s.listRoles))
	s.mux.Handle("POST /v1/projects/{project_id}/roles", s.endpoint(OpCreate, s.createRole))
	s.mux.Handle("GET /v1/projects/{project_id}/roles/{role_id}", s.endpoint(OpRetrieve, s.retrieveRole))
	s.mux.Handle("POST /v1/projects/{project_id}/roles/{role_id}", s.endpoint(OpUpdate, s.updateRole))
	s.mux.Handle("DELETE /v1/projects/{project_id}/roles/{role_id}", s.endpoint(OpDelete, s.deleteRole))
	s.mux.Handle("GET /v1/organization/projects", s.endpoint(OpListProjects, s.listProjects))
	s.mux.Handle("POST /v1/organization/projects", s.endpoint(OpCreateProject, s.createProject))
	s.mux.Handle("GET /v1/organization/projects/{project_id}", s.endpoint(OpRetrieveProject, s.retrieveProject))
	s.mux.Handle("POST /v1/organization/projects/{project_id}", s.endpoint(OpUpdateProject, s.updateProject))
	s.mux.Handle("GET /v1/organization/groups", s.endpoint(OpListGroups, s.listGroups))
	s.mux.Handle("POST /v1/organization/groups", s.endpoint(OpCreateGroup, s.createGroup))
	s.mux.Handle("GET /v1/organization/groups/{group_id}/users", s.endpoint(OpListGroupUsers, s.listGroupUsers))
	s.mux.Handle("POST /v1/organization/groups/{group_id}/users", s.endpoint(OpAddGroupUser, s.addGroupUser))
	s.mux.Handle("GET /v1/organization/users", s.endpoint(OpListUsers, s.listUsers))
	s.mux.Handle("GET /v1/organization/users/{user_id}", s.endpoint(OpRetrieveUser, s.retrieveUser))
	// Role assignments: one set of handlers for both principals at both
	// levels, scoped by the path's project_id when there is one.
	for _, kind := range []PrincipalKind{PrincipalGroup, PrincipalUser} {
		for _, base := range []string{"/v1/organization/", "/v1/projects/{project_id}/"} {
			coll := base + string(kind) + "s/{" + string(kind) + "_id}/roles"
			s.mux.Handle("GET "+coll, s.endpoint(OpListAssignments, s.listAssignments(kind)))
			s.mux.Handle("POST "+coll, s.endpoint(OpAssign, s.assignRole(kind)))
			s.mux.Handle("GET "+coll+"/{role_id}", s.endpoint(OpRetrieveAssignment, s.retrieveAssignment(kind)))
			s.mux.Handle("DELETE "+coll+"/{role_id}", s.endpoint(OpUnassign, s.unassignRole(kind)))
		}
	}
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

// Roles returns a copy of every organization role, predefined ones first,
// in creation order. Project roles are not among them (ProjectRoles).
func (s *Simulator) Roles() []Role {
	return s.rolesIn("")
}

// ProjectRoles returns a copy of every role of the project, predefined ones
// first, in creation order (none for an unknown project).
func (s *Simulator) ProjectRoles(projectID string) []Role {
	if projectID == "" {
		return nil
	}
	return s.rolesIn(projectID)
}

func (s *Simulator) rolesIn(scope string) []Role {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []Role{}
	for _, r := range s.roles {
		if r.Project == scope {
			out = append(out, r.clone())
		}
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

// LastCreatePath returns the URL path of the last create request (which
// scope it was sent to), or "" before the first one.
func (s *Simulator) LastCreatePath() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lastPath
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
		if (op == OpAssign || op == OpUnassign) && !s.recordAssign(w, r, op) {
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
	s.lastPath = r.URL.Path
	s.mu.Unlock()
	if err != nil {
		invalidRequest(w, "", "The request body could not be read or is too large.")
		return false
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	return true
}

// recordAssign counts an assign or unassign request and keeps it, before
// anything can refuse it.
func (s *Simulator) recordAssign(w http.ResponseWriter, r *http.Request, op Op) bool {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	s.mu.Lock()
	if op == OpAssign {
		s.assigns++
	} else {
		s.unassigns++
	}
	s.lastAssign = strings.TrimSpace(r.Method + " " + r.URL.Path + " " + string(body))
	s.mu.Unlock()
	if err != nil {
		invalidRequest(w, "", "The request body could not be read or is too large.")
		return false
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	return true
}

// AssignCalls counts the assign requests received (POST …/roles on a
// group or user, either level), whatever their outcome.
func (s *Simulator) AssignCalls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.assigns
}

// UnassignCalls counts the unassign requests received (DELETE
// …/roles/{role_id} on a group or user), whatever their outcome.
func (s *Simulator) UnassignCalls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.unassigns
}

// LastAssignCall is the method, path and body of the last assign or
// unassign request ("" before the first), to check that a client sent
// exactly the call that was approved.
func (s *Simulator) LastAssignCall() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lastAssign
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

// indexLocked returns the position of role id in s.roles, or -1. Role ids
// are unique across scopes.
func (s *Simulator) indexLocked(id string) int {
	return slices.IndexFunc(s.roles, func(r Role) bool { return r.ID == id })
}

// indexInLocked returns the position of role id of scope ("" for the
// organization, else a project id) in s.roles, or -1: a project's path
// never reaches another scope's role.
func (s *Simulator) indexInLocked(scope, id string) int {
	return slices.IndexFunc(s.roles, func(r Role) bool { return r.ID == id && r.Project == scope })
}

// nameTakenLocked reports whether another role than except already has
// name in scope: names are unique within the organization, and within each
// project.
func (s *Simulator) nameTakenLocked(scope, name, except string) bool {
	return slices.ContainsFunc(s.roles, func(r Role) bool { return r.Project == scope && r.Name == name && r.ID != except })
}
