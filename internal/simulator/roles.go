package simulator

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// maxBodyBytes bounds request bodies; a role is a few hundred bytes.
const maxBodyBytes = 1 << 20

// roleJSON is the Role schema of the contract.
type roleJSON struct {
	Object         string   `json:"object"`
	ID             string   `json:"id"`
	Name           string   `json:"name"`
	Description    string   `json:"description"`
	Permissions    []string `json:"permissions"`
	ResourceType   string   `json:"resource_type"`
	PredefinedRole bool     `json:"predefined_role"`
}

func toJSON(r Role) roleJSON {
	perms := r.Permissions
	if perms == nil {
		perms = []string{} // the contract wants an array, never null
	}
	return roleJSON{
		Object:         "role",
		ID:             r.ID,
		Name:           r.Name,
		Description:    r.Description,
		Permissions:    perms,
		ResourceType:   r.ResourceType,
		PredefinedRole: r.Predefined,
	}
}

// roleListJSON is the PublicRoleListResource schema of the contract.
type roleListJSON struct {
	Object  string     `json:"object"`
	Data    []roleJSON `json:"data"`
	HasMore bool       `json:"has_more"`
	Next    *string    `json:"next"`
}

// roleDeletedJSON is the RoleDeletedResource schema of the contract.
type roleDeletedJSON struct {
	Object  string `json:"object"`
	ID      string `json:"id"`
	Deleted bool   `json:"deleted"`
}

const (
	defaultLimit = 1000
	maxLimit     = 1000
)

// listRoles pages through roles in creation order. The cursor ("after",
// answered as "next") is the id of the last role of the previous page; it
// stays valid when that role is deleted meanwhile.
func (s *Simulator) listRoles(w http.ResponseWriter, r *http.Request) {
	scope := r.PathValue("project_id")
	q := r.URL.Query()
	limit := defaultLimit
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > maxLimit {
			invalidRequest(w, "limit", fmt.Sprintf("Invalid 'limit': expected an integer between 0 and %d, got '%s'.", maxLimit, v))
			return
		}
		// The SDK omits a zero limit, so 0 reaching us means "unset".
		if n > 0 {
			limit = n
		}
	}
	desc := false
	switch v := q.Get("order"); v {
	case "", "asc":
	case "desc":
		desc = true
	default:
		invalidRequest(w, "order", fmt.Sprintf("Invalid 'order': expected 'asc' or 'desc', got '%s'.", v))
		return
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if refuse := s.scopeRefusalLocked(scope, false); refuse != nil {
		refuse(w)
		return
	}
	roles := slices.DeleteFunc(slices.Clone(s.roles), func(r Role) bool { return r.Project != scope })
	if desc {
		slices.Reverse(roles)
	}
	start := 0
	if v := q.Get("after"); v != "" {
		after, ok := s.seq[v]
		if !ok {
			invalidRequest(w, "after", fmt.Sprintf("Invalid 'after': no role with id '%s'.", v))
			return
		}
		start = len(roles)
		for i, role := range roles {
			if (!desc && s.seq[role.ID] > after) || (desc && s.seq[role.ID] < after) {
				start = i
				break
			}
		}
	}

	end := min(start+limit, len(roles))
	page := roleListJSON{Object: "list", Data: []roleJSON{}, HasMore: end < len(roles)}
	for _, role := range roles[start:end] {
		page.Data = append(page.Data, toJSON(role.clone()))
	}
	if page.HasMore {
		page.Next = ptr(roles[end-1].ID)
	}
	writeJSON(w, http.StatusOK, page)
}

func (s *Simulator) createRole(w http.ResponseWriter, r *http.Request) {
	scope := r.PathValue("project_id")
	if !s.scopeExists(w, scope) {
		return
	}
	fields, ok := decodeObject(w, r, "role_name", "permissions", "description")
	if !ok {
		return
	}
	name, ok := roleName(w, fields, true)
	if !ok {
		return
	}
	perms, ok := permissions(w, fields, true, catalogOf(scope))
	if !ok {
		return
	}
	desc, _, ok := optionalString(w, fields, "description")
	if !ok {
		return
	}

	s.mu.Lock()
	// Checked again under the lock: the project may have been archived
	// while the body was read.
	if refuse := s.scopeRefusalLocked(scope, true); refuse != nil {
		s.mu.Unlock()
		refuse(w)
		return
	}
	if s.nameTakenLocked(scope, name, "") {
		s.mu.Unlock()
		nameTaken(w, scope, name)
		return
	}
	role := s.insertLocked(Role{Name: name, Description: desc, Permissions: perms, ResourceType: resourceTypeOf(scope), Project: scope})
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, toJSON(role))
}

func (s *Simulator) retrieveRole(w http.ResponseWriter, r *http.Request) {
	scope, id := r.PathValue("project_id"), r.PathValue("role_id")
	s.mu.Lock()
	if refuse := s.scopeRefusalLocked(scope, false); refuse != nil {
		s.mu.Unlock()
		refuse(w)
		return
	}
	i := s.indexInLocked(scope, id)
	var role Role
	if i >= 0 {
		role = s.roles[i].clone()
	}
	s.mu.Unlock()
	if i < 0 {
		roleNotFound(w, id)
		return
	}
	writeJSON(w, http.StatusOK, toJSON(role))
}

func (s *Simulator) updateRole(w http.ResponseWriter, r *http.Request) {
	scope, id := r.PathValue("project_id"), r.PathValue("role_id")
	if !s.scopeExists(w, scope) {
		return
	}
	fields, ok := decodeObject(w, r, "role_name", "permissions", "description")
	if !ok {
		return
	}
	var name string
	if _, present := fields["role_name"]; present && !isNull(fields["role_name"]) {
		if name, ok = roleName(w, fields, false); !ok {
			return
		}
	}
	var perms []string
	if _, present := fields["permissions"]; present && !isNull(fields["permissions"]) {
		if perms, ok = permissions(w, fields, false, catalogOf(scope)); !ok {
			return
		}
	}
	desc, hasDesc, ok := optionalString(w, fields, "description")
	if !ok {
		return
	}

	s.mu.Lock()
	if refuse := s.scopeRefusalLocked(scope, true); refuse != nil {
		s.mu.Unlock()
		refuse(w)
		return
	}
	i := s.indexInLocked(scope, id)
	if i < 0 {
		s.mu.Unlock()
		roleNotFound(w, id)
		return
	}
	if s.roles[i].Predefined {
		s.mu.Unlock()
		invalidRequest(w, "role_id", fmt.Sprintf("The predefined role '%s' cannot be modified.", s.roles[i].Name))
		return
	}
	if name != "" && s.nameTakenLocked(scope, name, id) {
		s.mu.Unlock()
		nameTaken(w, scope, name)
		return
	}
	role := &s.roles[i]
	if name != "" {
		role.Name = name
	}
	if perms != nil {
		role.Permissions = perms
	}
	if hasDesc {
		role.Description = desc
	}
	updated := role.clone()
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, toJSON(updated))
}

func (s *Simulator) deleteRole(w http.ResponseWriter, r *http.Request) {
	scope, id := r.PathValue("project_id"), r.PathValue("role_id")
	s.mu.Lock()
	if refuse := s.scopeRefusalLocked(scope, true); refuse != nil {
		s.mu.Unlock()
		refuse(w)
		return
	}
	i := s.indexInLocked(scope, id)
	if i < 0 {
		s.mu.Unlock()
		roleNotFound(w, id)
		return
	}
	if s.roles[i].Predefined {
		name := s.roles[i].Name
		s.mu.Unlock()
		invalidRequest(w, "role_id", fmt.Sprintf("The predefined role '%s' cannot be deleted.", name))
		return
	}
	s.roles = slices.Delete(s.roles, i, i+1)
	s.dropAssignmentsOfLocked(id)
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, roleDeletedJSON{Object: "role.deleted", ID: id, Deleted: true})
}

func roleNotFound(w http.ResponseWriter, id string) {
	writeError(w, http.StatusNotFound, "invalid_request_error",
		fmt.Sprintf("No role found with id '%s'.", id), ptr("role_id"), nil)
}

func nameTaken(w http.ResponseWriter, scope, name string) {
	where := "organization"
	if scope != "" {
		where = "project"
	}
	invalidRequest(w, "role_name", fmt.Sprintf("A role named '%s' already exists in this %s. Role names must be unique.", name, where))
}

// decodeObject reads a JSON object body and refuses members outside
// allowed, as upstream refuses unrecognized request arguments.
func decodeObject(w http.ResponseWriter, r *http.Request, allowed ...string) (map[string]json.RawMessage, bool) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	if err != nil {
		invalidRequest(w, "", "The request body could not be read or is too large.")
		return nil, false
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(body, &fields); err != nil || fields == nil {
		invalidRequest(w, "", "We could not parse the JSON body of your request. The API expects a JSON object as the request body.")
		return nil, false
	}
	var unknown []string
	for k := range fields {
		if !slices.Contains(allowed, k) {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		invalidRequest(w, unknown[0], fmt.Sprintf("Unrecognized request argument supplied: %s", strings.Join(unknown, ", ")))
		return nil, false
	}
	return fields, true
}

func isNull(raw json.RawMessage) bool {
	return bytes.Equal(bytes.TrimSpace(raw), []byte("null"))
}

func roleName(w http.ResponseWriter, fields map[string]json.RawMessage, required bool) (string, bool) {
	raw, present := fields["role_name"]
	if !present {
		if required {
			invalidRequest(w, "role_name", "Missing required parameter: 'role_name'.")
			return "", false
		}
		return "", true
	}
	var name string
	if isNull(raw) || json.Unmarshal(raw, &name) != nil {
		invalidRequest(w, "role_name", "Invalid type for 'role_name': expected a string.")
		return "", false
	}
	if strings.TrimSpace(name) == "" {
		invalidRequest(w, "role_name", "Invalid 'role_name': the name must not be empty.")
		return "", false
	}
	return name, true
}

// permissions reads a non-empty list of permissions known to the scope's
// catalog, without duplicates.
func permissions(w http.ResponseWriter, fields map[string]json.RawMessage, required bool, catalog []string) ([]string, bool) {
	raw, present := fields["permissions"]
	if !present {
		if required {
			invalidRequest(w, "permissions", "Missing required parameter: 'permissions'.")
			return nil, false
		}
		return nil, true
	}
	var perms []string
	if isNull(raw) || json.Unmarshal(raw, &perms) != nil {
		invalidRequest(w, "permissions", "Invalid type for 'permissions': expected an array of strings.")
		return nil, false
	}
	if len(perms) == 0 {
		invalidRequest(w, "permissions", "Invalid 'permissions': a role needs at least one permission.")
		return nil, false
	}
	out := make([]string, 0, len(perms))
	for _, p := range perms {
		if !slices.Contains(catalog, p) {
			invalidRequest(w, "permissions", fmt.Sprintf("Invalid 'permissions': unknown permission '%s'.", p))
			return nil, false
		}
		if !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	return out, true
}

// optionalString reads a nullable string member; present reports whether
// it was given as a string.
func optionalString(w http.ResponseWriter, fields map[string]json.RawMessage, name string) (value string, present, ok bool) {
	raw, found := fields[name]
	if !found || isNull(raw) {
		return "", false, true
	}
	if err := json.Unmarshal(raw, &value); err != nil {
		invalidRequest(w, name, fmt.Sprintf("Invalid type for '%s': expected a string or null.", name))
		return "", false, false
	}
	return value, true, true
}
