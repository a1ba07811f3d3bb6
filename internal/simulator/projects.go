package simulator

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Project is a project as the simulated organization holds it.
type Project struct {
	ID         string
	Name       string
	CreatedAt  time.Time
	ArchivedAt time.Time // zero while active
}

// Archived reports whether the project was archived.
func (p Project) Archived() bool { return !p.ArchivedAt.IsZero() }

// projectJSON is the Project schema of the contract.
type projectJSON struct {
	ID         string  `json:"id"`
	Object     string  `json:"object"`
	Name       string  `json:"name"`
	CreatedAt  int64   `json:"created_at"`
	ArchivedAt *int64  `json:"archived_at"`
	Status     *string `json:"status"`
}

func projectToJSON(p Project) projectJSON {
	out := projectJSON{ID: p.ID, Object: "organization.project", Name: p.Name, CreatedAt: p.CreatedAt.Unix(), Status: ptr("active")}
	if p.Archived() {
		at := p.ArchivedAt.Unix()
		out.ArchivedAt, out.Status = &at, ptr("archived")
	}
	return out
}

// projectListJSON is the ProjectListResponse schema: it pages with
// first_id/last_id/has_more, not with the roles' "next".
type projectListJSON struct {
	Object  string        `json:"object"`
	Data    []projectJSON `json:"data"`
	FirstID *string       `json:"first_id"`
	LastID  *string       `json:"last_id"`
	HasMore bool          `json:"has_more"`
}

const (
	defaultProjectLimit = 20
	maxProjectLimit     = 100
)

// ErrNoSuchProject is returned for an id the organization does not hold.
var ErrNoSuchProject = errors.New("simulator: no such project")

// ErrProjectArchived is returned for a change to an archived project.
var ErrProjectArchived = errors.New("simulator: the project is archived")

func newProjectID() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b) // never fails, per crypto/rand
	return "proj_" + hex.EncodeToString(b)
}

// addProjectLocked creates an active project with its predefined roles.
func (s *Simulator) addProjectLocked(name string) Project {
	p := Project{ID: newProjectID(), Name: name, CreatedAt: time.Now().UTC().Truncate(time.Second)}
	s.projects = append(s.projects, p)
	for _, r := range predefinedProjectRoles(p.ID) {
		s.insertLocked(r)
	}
	return p
}

func (s *Simulator) projectIndexLocked(id string) int {
	return slices.IndexFunc(s.projects, func(p Project) bool { return p.ID == id })
}

func (s *Simulator) archiveProjectLocked(id string) {
	if i := s.projectIndexLocked(id); i >= 0 && !s.projects[i].Archived() {
		s.projects[i].ArchivedAt = time.Now().UTC().Truncate(time.Second)
	}
}

// scopeRefusalLocked says how a request about the roles of scope is
// refused, or nil when it may go on: the organization always exists; a
// project must exist, and a change needs it active.
func (s *Simulator) scopeRefusalLocked(scope string, change bool) func(http.ResponseWriter) {
	if scope == "" {
		return nil
	}
	i := s.projectIndexLocked(scope)
	if i < 0 {
		return func(w http.ResponseWriter) { projectNotFound(w, scope) }
	}
	if change && s.projects[i].Archived() {
		return func(w http.ResponseWriter) { projectArchived(w, scope) }
	}
	return nil
}

// scopeExists refuses a request about an unknown project before its body
// is read, as the upstream routes by path first.
func (s *Simulator) scopeExists(w http.ResponseWriter, scope string) bool {
	s.mu.Lock()
	refuse := s.scopeRefusalLocked(scope, false)
	s.mu.Unlock()
	if refuse != nil {
		refuse(w)
		return false
	}
	return true
}

func projectNotFound(w http.ResponseWriter, id string) {
	writeError(w, http.StatusNotFound, "invalid_request_error",
		fmt.Sprintf("No project found with id '%s'.", id), ptr("project_id"), nil)
}

func projectArchived(w http.ResponseWriter, id string) {
	invalidRequest(w, "project_id", fmt.Sprintf("The project '%s' is archived. Archived projects cannot be used or updated.", id))
}

// listProjects pages through projects in creation order; archived ones
// only with include_archived=true. The cursor "after" is a project id.
func (s *Simulator) listProjects(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	limit := defaultProjectLimit
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxProjectLimit {
			invalidRequest(w, "limit", fmt.Sprintf("Invalid 'limit': expected an integer between 1 and %d, got '%s'.", maxProjectLimit, v))
			return
		}
		limit = n
	}
	archived := false
	if v := q.Get("include_archived"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil || (v != "true" && v != "false") {
			invalidRequest(w, "include_archived", fmt.Sprintf("Invalid 'include_archived': expected 'true' or 'false', got '%s'.", v))
			return
		}
		archived = b
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	projects := slices.DeleteFunc(slices.Clone(s.projects), func(p Project) bool { return p.Archived() && !archived })
	start := 0
	if v := q.Get("after"); v != "" {
		at := s.projectIndexLocked(v)
		if at < 0 {
			invalidRequest(w, "after", fmt.Sprintf("Invalid 'after': no project with id '%s'.", v))
			return
		}
		// Projects are never deleted, so the cursor's position is stable;
		// the page starts after it whether or not it is listed itself.
		start = len(projects)
		for i, p := range projects {
			if s.projectIndexLocked(p.ID) > at {
				start = i
				break
			}
		}
	}
	end := min(start+limit, len(projects))
	page := projectListJSON{Object: "list", Data: []projectJSON{}, HasMore: end < len(projects)}
	for _, p := range projects[start:end] {
		page.Data = append(page.Data, projectToJSON(p))
	}
	if len(page.Data) > 0 {
		page.FirstID, page.LastID = ptr(page.Data[0].ID), ptr(page.Data[len(page.Data)-1].ID)
	}
	writeJSON(w, http.StatusOK, page)
}

func (s *Simulator) createProject(w http.ResponseWriter, r *http.Request) {
	fields, ok := decodeObject(w, r, "name", "residency", "external_key_id")
	if !ok {
		return
	}
	name, ok := projectName(w, fields, true)
	if !ok {
		return
	}
	s.mu.Lock()
	p := s.addProjectLocked(name)
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, projectToJSON(p))
}

func (s *Simulator) retrieveProject(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("project_id")
	s.mu.Lock()
	i := s.projectIndexLocked(id)
	var p Project
	if i >= 0 {
		p = s.projects[i]
	}
	s.mu.Unlock()
	if i < 0 {
		projectNotFound(w, id)
		return
	}
	writeJSON(w, http.StatusOK, projectToJSON(p))
}

func (s *Simulator) updateProject(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("project_id")
	if !s.scopeExists(w, id) {
		return
	}
	fields, ok := decodeObject(w, r, "name", "external_key_id")
	if !ok {
		return
	}
	var name string
	if raw, present := fields["name"]; present && !isNull(raw) {
		if name, ok = projectName(w, fields, false); !ok {
			return
		}
	}
	s.mu.Lock()
	if refuse := s.scopeRefusalLocked(id, true); refuse != nil {
		s.mu.Unlock()
		refuse(w)
		return
	}
	i := s.projectIndexLocked(id)
	if name != "" {
		s.projects[i].Name = name
	}
	p := s.projects[i]
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, projectToJSON(p))
}

func projectName(w http.ResponseWriter, fields map[string]json.RawMessage, required bool) (string, bool) {
	raw, present := fields["name"]
	if !present {
		if required {
			invalidRequest(w, "name", "Missing required parameter: 'name'.")
		}
		return "", !required
	}
	var name string
	if isNull(raw) || json.Unmarshal(raw, &name) != nil {
		invalidRequest(w, "name", "Invalid type for 'name': expected a string.")
		return "", false
	}
	if strings.TrimSpace(name) == "" {
		invalidRequest(w, "name", "Invalid 'name': the name must not be empty.")
		return "", false
	}
	return name, true
}

// Out-of-band changes to projects and their roles, as someone in OpenAI's
// console would make them.

// Projects returns a copy of every project, archived ones included, in
// creation order.
func (s *Simulator) Projects() []Project {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.projects)
}

// AddProject creates an active project with its predefined roles.
func (s *Simulator) AddProject(name string) (Project, error) {
	if strings.TrimSpace(name) == "" {
		return Project{}, errors.New("simulator: a project needs a name")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addProjectLocked(name), nil
}

// ArchiveProject archives project id: its roles stay readable, and every
// change to them is refused from now on.
func (s *Simulator) ArchiveProject(id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.projectIndexLocked(id) < 0 {
		return ErrNoSuchProject
	}
	s.archiveProjectLocked(id)
	return nil
}

// AddProjectRole creates a custom role in project id outside rolegate. A
// name taken in that project, an archived project or an unknown one is
// refused, as the upstream would.
func (s *Simulator) AddProjectRole(projectID, name, description string, permissions []string) (Role, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	i := s.projectIndexLocked(projectID)
	switch {
	case i < 0:
		return Role{}, ErrNoSuchProject
	case s.projects[i].Archived():
		return Role{}, ErrProjectArchived
	case name == "":
		return Role{}, errors.New("simulator: a role needs a name")
	case s.nameTakenLocked(projectID, name, ""):
		return Role{}, fmt.Errorf("simulator: a role named %q already exists in the project", name)
	}
	return s.insertLocked(Role{Name: name, Description: description, Permissions: slices.Clone(permissions),
		ResourceType: projectResource, Project: projectID}), nil
}

// DevProjects is dev mode's organization: two active projects and an
// archived one, so the New request form's Scope has something to offer and
// something to leave out.
func DevProjects() []ProjectSeed {
	return []ProjectSeed{
		{Name: "Customer Support Bot"},
		{Name: "Research Sandbox"},
		{Name: "Legacy Chatbot", Archived: true},
	}
}
