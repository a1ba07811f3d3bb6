// Package catalog builds the permission catalog people pick from: the
// permissions the organization's own roles grant (from the organization's
// picture, internal/picture) described and grouped by a file kept in the
// repository, which also marks the sensitive ones.
package catalog

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/rolegate/rolegate/internal/rolegate"
)

//go:embed permissions.json
var embeddedFile []byte

type fileEntry struct {
	// ResourceType is the kind of role that may grant the permission:
	// api.organization (the default, for files written before project
	// roles) or api.project.
	ResourceType string `json:"resource_type"`
	Name         string `json:"name"`
	Area         string `json:"area"`
	Description  string `json:"description"`
	Sensitive    bool   `json:"sensitive"`
}

// ParseFile reads a catalog file: a JSON array of {name, area, description,
// sensitive}. A misspelt key or a permission listed twice is refused rather
// than guessed at: a typo in "sensitive" must not quietly drop an approval.
func ParseFile(b []byte) ([]rolegate.Permission, error) {
	var entries []fileEntry
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&entries); err != nil {
		return nil, fmt.Errorf("catalog: parse: %w", err)
	}
	if dec.More() {
		return nil, fmt.Errorf("catalog: parse: unexpected data after the array")
	}
	perms := make([]rolegate.Permission, 0, len(entries))
	seen := map[string]bool{}
	for i, e := range entries {
		name := strings.TrimSpace(e.Name)
		switch {
		case name == "":
			return nil, fmt.Errorf("catalog: entry %d has no name", i+1)
		case seen[name]:
			return nil, fmt.Errorf("catalog: entry %d: %q is listed twice", i+1, name)
		}
		seen[name] = true
		area := strings.TrimSpace(e.Area)
		if area == "" {
			area = areaOf(name)
		}
		rt := strings.TrimSpace(e.ResourceType)
		switch rt {
		case "":
			rt = rolegate.ResourceOrganization
		case rolegate.ResourceOrganization, rolegate.ResourceProject:
		default:
			return nil, fmt.Errorf("catalog: entry %d: resource_type %q is neither %s nor %s", i+1, rt, rolegate.ResourceOrganization, rolegate.ResourceProject)
		}
		perms = append(perms, rolegate.Permission{Name: name, Area: area, Description: strings.TrimSpace(e.Description),
			Sensitive: e.Sensitive, ResourceType: rt})
	}
	return perms, nil
}

// Build merges the described permissions with those the organization's
// roles grant. When the upstream is known, exactly its permissions are
// offered (a permission it does not know would fail at creation); the file
// only describes them. A permission the file does not describe is offered
// as sensitive: nobody has judged it yet, so it takes the extra approval.
// Before the first refresh the file alone is used.
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
			if name == "" || seen[name] {
				continue
			}
			seen[name] = true
			p, ok := byName[name]
			if !ok {
				p = rolegate.Permission{Name: name, Area: areaOf(name), Sensitive: true,
					Description: "Not yet described in the catalog file; treated as sensitive until it is."}
			}
			perms = append(perms, p)
		}
	}
	return rolegate.NewCatalog(perms)
}

// areaOf guesses a grouping from a permission's name: "api.groups.read" →
// "Groups", "api.service_accounts.write" → "Service accounts".
func areaOf(name string) string {
	parts := strings.Split(name, ".")
	if len(parts) < 3 {
		return "Other"
	}
	a := strings.TrimSpace(strings.ReplaceAll(parts[len(parts)-2], "_", " "))
	r, size := utf8.DecodeRuneInString(a)
	if a == "" || r == utf8.RuneError {
		return "Other"
	}
	return string(unicode.ToUpper(r)) + a[size:]
}

// Service holds the catalogs in force, rebuilt from the organization's
// picture (internal/picture) after every sync: a permission that appears in
// a new upstream role is offered without anyone's resync. Each scope has
// its own: the organization's offers the organization's permissions (of
// its roles, described by the file's api.organization entries), a
// project's the project permissions (of that project's roles, described by
// the api.project entries).
type Service struct {
	described []rolegate.Permission
	current   atomic.Pointer[snapshot]
}

type snapshot struct {
	catalog   *rolegate.Catalog                  // the organization's
	roles     []rolegate.ExistingRole            // the organization's
	projects  map[string]*rolegate.Catalog       // by project id
	byScope   map[string][]rolegate.ExistingRole // each project's roles
	refreshed time.Time
}

// describedFor is the file's entries for roles of resource type rt.
func (s *Service) describedFor(rt string) []rolegate.Permission {
	var out []rolegate.Permission
	for _, p := range s.described {
		if p.ResourceType == rt {
			out = append(out, p)
		}
	}
	return out
}

// NewService loads the catalog file (the embedded one when path is empty);
// until Update, the file alone is the catalog.
func NewService(path string) (*Service, error) {
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
	s := &Service{described: described}
	s.Update(nil, time.Time{})
	return s, nil
}

// Update rebuilds the catalogs from the picture's roles read at at.
func (s *Service) Update(upstream []rolegate.UpstreamRole, at time.Time) {
	roles := make([]rolegate.ExistingRole, 0, len(upstream))
	byScope := map[string][]rolegate.ExistingRole{}
	for _, r := range upstream {
		if r.Scope != rolegate.ScopeOrganization {
			byScope[r.Scope] = append(byScope[r.Scope], r.Existing())
			continue
		}
		roles = append(roles, r.Existing())
	}
	projects := make(map[string]*rolegate.Catalog, len(byScope))
	forProjects := s.describedFor(rolegate.ResourceProject)
	for scope, rs := range byScope {
		projects[scope] = Build(forProjects, rs)
	}
	s.current.Store(&snapshot{catalog: Build(s.describedFor(rolegate.ResourceOrganization), roles), roles: roles,
		projects: projects, byScope: byScope, refreshed: at})
}

// Catalog is the organization's catalog in force.
func (s *Service) Catalog() *rolegate.Catalog { return s.current.Load().catalog }

// CatalogFor is the catalog of scope: the organization's, or a project's
// (the file's project permissions alone for a project the picture holds no
// roles of).
func (s *Service) CatalogFor(scope string) *rolegate.Catalog {
	snap := s.current.Load()
	if scope == rolegate.ScopeOrganization {
		return snap.catalog
	}
	if c, ok := snap.projects[scope]; ok {
		return c
	}
	return Build(s.describedFor(rolegate.ResourceProject), nil)
}

// Roles are the organization's roles as last read, and when.
func (s *Service) Roles() ([]rolegate.ExistingRole, time.Time) {
	snap := s.current.Load()
	return snap.roles, snap.refreshed
}

// Overlaps returns up to three existing roles that already grant every one
// of perms and little more, closest first (see rolegate.Overlapping). A
// role that would add a sensitive permission nobody picked is not offered:
// suggesting it would steer people toward more risk, not less.
func (s *Service) Overlaps(perms []string) []rolegate.Overlap {
	return s.OverlapsIn(rolegate.ScopeOrganization, perms)
}

// OverlapsIn is Overlaps among the roles of scope only: a project's roles
// are no answer to an organization request, nor the reverse.
func (s *Service) OverlapsIn(scope string, perms []string) []rolegate.Overlap {
	snap := s.current.Load()
	existing := snap.roles
	if scope != rolegate.ScopeOrganization {
		existing = snap.byScope[scope]
	}
	cat := s.CatalogFor(scope)
	near := rolegate.Overlapping(existing, perms, 0)
	out := near[:0]
	for _, o := range near {
		if !cat.AnySensitive(o.Adds) {
			out = append(out, o)
		}
	}
	return out[:min(len(out), 3)]
}
