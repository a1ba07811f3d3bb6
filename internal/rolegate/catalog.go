package rolegate

import (
	"slices"
	"sort"
)

// Permission is one permission people may pick for a new role.
type Permission struct {
	Name        string // as the upstream spells it, e.g. "api.groups.read"
	Area        string // grouping on the form, e.g. "Groups"
	Description string // one line
	Sensitive   bool   // asking for it needs one more approval
}

// Catalog is the set of permissions a request may ask for.
type Catalog struct {
	perms map[string]Permission
}

// NewCatalog builds a catalog from permissions; later duplicates win.
func NewCatalog(perms []Permission) *Catalog {
	c := &Catalog{perms: make(map[string]Permission, len(perms))}
	for _, p := range perms {
		c.perms[p.Name] = p
	}
	return c
}

// Lookup returns the permission named name.
func (c *Catalog) Lookup(name string) (Permission, bool) {
	if c == nil {
		return Permission{}, false
	}
	p, ok := c.perms[name]
	return p, ok
}

// Len is the number of permissions in the catalog.
func (c *Catalog) Len() int {
	if c == nil {
		return 0
	}
	return len(c.perms)
}

// AnySensitive reports whether one of names is marked sensitive.
func (c *Catalog) AnySensitive(names []string) bool {
	for _, n := range names {
		if p, ok := c.Lookup(n); ok && p.Sensitive {
			return true
		}
	}
	return false
}

// Area is one group of permissions on the form.
type Area struct {
	Name        string
	Permissions []Permission
}

// Areas returns the permissions grouped by area, both sorted by name.
func (c *Catalog) Areas() []Area {
	if c == nil {
		return nil
	}
	byArea := map[string][]Permission{}
	for _, p := range c.perms {
		byArea[p.Area] = append(byArea[p.Area], p)
	}
	areas := make([]Area, 0, len(byArea))
	for name, perms := range byArea {
		sort.Slice(perms, func(i, j int) bool { return perms[i].Name < perms[j].Name })
		areas = append(areas, Area{Name: name, Permissions: perms})
	}
	sort.Slice(areas, func(i, j int) bool { return areas[i].Name < areas[j].Name })
	return areas
}

// ExistingRole is a role already in the organization, as far as the portal knows.
type ExistingRole struct {
	ID          string
	Name        string
	Permissions []string
	Predefined  bool
}

// Covers reports whether the role grants every one of perms.
func (r ExistingRole) Covers(perms []string) bool {
	if len(perms) == 0 {
		return false
	}
	for _, p := range perms {
		if !slices.Contains(r.Permissions, p) {
			return false
		}
	}
	return true
}
