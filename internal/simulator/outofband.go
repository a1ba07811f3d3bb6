package simulator

import (
	"errors"
	"fmt"
	"slices"
)

// Out-of-band changes: what someone else does to the organization while
// rolegate runs (another tool, a person in OpenAI's console). They are not
// counted as create calls, so a test still sees every create rolegate made.

// ErrNoSuchRole is returned for an id the organization does not hold.
var ErrNoSuchRole = errors.New("simulator: no such role")

// AddRole creates a custom role outside rolegate. A taken name is refused,
// as the upstream would.
func (s *Simulator) AddRole(name, description string, permissions []string) (Role, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if name == "" {
		return Role{}, errors.New("simulator: a role needs a name")
	}
	if s.nameTakenLocked("", name, "") {
		return Role{}, fmt.Errorf("simulator: a role named %q already exists", name)
	}
	return s.insertLocked(Role{Name: name, Description: description, Permissions: slices.Clone(permissions),
		ResourceType: organizationResource}), nil
}

// ChangeRole changes role id (of any scope; it stays in its scope) outside rolegate; change must not call the
// simulator. A name taken by another role is refused.
func (s *Simulator) ChangeRole(id string, change func(*Role)) (Role, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	i := s.indexLocked(id)
	if i < 0 {
		return Role{}, ErrNoSuchRole
	}
	r := s.roles[i].clone()
	change(&r)
	r.ID, r.Project = id, s.roles[i].Project
	if s.nameTakenLocked(r.Project, r.Name, id) {
		return Role{}, fmt.Errorf("simulator: a role named %q already exists", r.Name)
	}
	s.roles[i] = r
	return r.clone(), nil
}

// DeleteRole deletes role id (of any scope) outside rolegate.
func (s *Simulator) DeleteRole(id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	i := s.indexLocked(id)
	if i < 0 {
		return ErrNoSuchRole
	}
	s.dropAssignmentsOfLocked(id)
	s.roles = slices.Delete(s.roles, i, i+1)
	return nil
}

// RoleNamed returns the organization role named exactly name.
func (s *Simulator) RoleNamed(name string) (Role, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range s.roles {
		if r.Name == name && r.Project == "" {
			return r.clone(), true
		}
	}
	return Role{}, false
}
