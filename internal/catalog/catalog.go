// Package catalog builds the permission catalog people pick from: the
// permissions the organization's own roles grant (read upstream, cached in
// the database, refreshed by an admin) described and grouped by a file kept
// in the repository, which also marks the sensitive ones.
package catalog

import (
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/rolegate/rolegate/internal/rolegate"
)

//go:embed permissions.json
var embeddedFile []byte

type fileEntry struct {
	Name        string `json:"name"`
	Area        string `json:"area"`
	Description string `json:"description"`
	Sensitive   bool   `json:"sensitive"`
}

// ParseFile reads a catalog file: a JSON array of {name, area, description, sensitive}.
func ParseFile(b []byte) ([]rolegate.Permission, error) {
	var entries []fileEntry
	if err := json.Unmarshal(b, &entries); err != nil {
		return nil, fmt.Errorf("catalog: parse: %w", err)
	}
	perms := make([]rolegate.Permission, 0, len(entries))
	for i, e := range entries {
		if strings.TrimSpace(e.Name) == "" {
			return nil, fmt.Errorf("catalog: entry %d has no name", i+1)
		}
		perms = append(perms, rolegate.Permission{Name: e.Name, Area: e.Area, Description: e.Description, Sensitive: e.Sensitive})
	}
	return perms, nil
}

// Build merges the described permissions with those the organization's
// roles grant. When the upstream is known, exactly its permissions are
// offered (a permission it does not know would fail at creation); the file
// only describes them. Before the first refresh the file alone is used.
func Build(described []rolegate.Permission, upstream []rolegate.ExistingRole) *rolegate.Catalog {
	if len(upstream) == 0 {
		return rolegate.NewCatalog(described)
	}
	byName := map[string]rolegate.Permission{}
	for _, p := range described {
		byName[p.Name] = p
	}
	var perms []rolegate.Permission
	seen := map[string]bool{}
	for _, r := range upstream {
		for _, name := range r.Permissions {
			if seen[name] {
				continue
			}
			seen[name] = true
			p, ok := byName[name]
			if !ok {
				p = rolegate.Permission{Name: name, Area: areaOf(name), Description: "Not yet described in the catalog file."}
			}
			perms = append(perms, p)
		}
	}
	return rolegate.NewCatalog(perms)
}

// areaOf guesses a grouping from a permission's name: "api.groups.read" → "Groups".
func areaOf(name string) string {
	parts := strings.Split(name, ".")
	if len(parts) >= 3 {
		a := strings.ReplaceAll(parts[len(parts)-2], "_", " ")
		return strings.ToUpper(a[:1]) + a[1:]
	}
	return "Other"
}

// Store keeps the upstream roles between runs.
type Store interface {
	SaveUpstreamRoles(ctx context.Context, actor rolegate.Actor, roles []rolegate.ExistingRole) error
	UpstreamRoles(ctx context.Context) ([]rolegate.ExistingRole, time.Time, error)
}

// ListRoles reads the organization's roles upstream.
type ListRoles func(ctx context.Context) ([]rolegate.ExistingRole, error)

// Service holds the current catalog and refreshes it.
type Service struct {
	described []rolegate.Permission
	store     Store
	list      ListRoles
	current   atomic.Pointer[snapshot]
}

type snapshot struct {
	catalog   *rolegate.Catalog
	roles     []rolegate.ExistingRole
	refreshed time.Time
}

// NewService loads the catalog file (the embedded one when path is empty)
// and the cached upstream roles.
func NewService(ctx context.Context, path string, store Store, list ListRoles) (*Service, error) {
	raw := embeddedFile
	if path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("catalog: read %s: %w", path, err)
		}
		raw = b
	}
	described, err := ParseFile(raw)
	if err != nil {
		return nil, err
	}
	s := &Service{described: described, store: store, list: list}
	roles, at, err := store.UpstreamRoles(ctx)
	if err != nil {
		return nil, err
	}
	s.set(roles, at)
	return s, nil
}

func (s *Service) set(roles []rolegate.ExistingRole, at time.Time) {
	s.current.Store(&snapshot{catalog: Build(s.described, roles), roles: roles, refreshed: at})
}

// Catalog is the catalog in force.
func (s *Service) Catalog() *rolegate.Catalog { return s.current.Load().catalog }

// Roles are the organization's roles as last read, and when.
func (s *Service) Roles() ([]rolegate.ExistingRole, time.Time) {
	snap := s.current.Load()
	return snap.roles, snap.refreshed
}

// Refresh reads the organization's roles upstream and rebuilds the catalog.
func (s *Service) Refresh(ctx context.Context, actor rolegate.Actor) error {
	roles, err := s.list(ctx)
	if err != nil {
		return err
	}
	if err := s.store.SaveUpstreamRoles(ctx, actor, roles); err != nil {
		return err
	}
	_, at, err := s.store.UpstreamRoles(ctx)
	if err != nil {
		return err
	}
	s.set(roles, at)
	return nil
}

// Overlaps returns the existing roles that already grant every one of perms,
// exact reporting whether the first one grants exactly them.
func (s *Service) Overlaps(perms []string) (roles []rolegate.ExistingRole, exact bool) {
	if len(perms) == 0 {
		return nil, false
	}
	existing, _ := s.Roles()
	for _, r := range existing {
		if r.Covers(perms) {
			if len(r.Permissions) == len(perms) {
				exact = true
				roles = append([]rolegate.ExistingRole{r}, roles...)
				continue
			}
			roles = append(roles, r)
		}
	}
	slices.SortStableFunc(roles[min(1, len(roles)):], func(a, b rolegate.ExistingRole) int {
		return len(a.Permissions) - len(b.Permissions)
	})
	if len(roles) > 3 {
		roles = roles[:3]
	}
	return roles, exact
}
