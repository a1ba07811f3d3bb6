package rolegate

import (
	"cmp"
	"slices"
	"sort"
)

// Permission is one permission people may pick for a new role.
type Permission struct {
	Name        string // as the upstream spells it, e.g. "api.groups.read"
	Area        string // grouping on the form, e.g. "Groups"
	Description string // one line
	Sensitive   bool   // asking for it needs one more approval
	// ResourceType is the kind of role that may grant it: api.organization
	// or api.project.
	ResourceType string
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

// Overlap is an existing role that already grants every permission a request
// asks for, and little more: people are shown it so that they reuse roles
// instead of multiplying them, never so that they take a broader one.
type Overlap struct {
	Role  ExistingRole
	Exact bool     // it grants exactly the chosen permissions, no more
	Extra int      // how many permissions it grants beyond them
	Adds  []string // those permissions, sorted
}

// MaxOverlapExtra is the most permissions beyond those picked that a
// suggested role may grant. A role is also never suggested when it grants
// more beyond them than was picked: two read permissions are not "nearly"
// an owner's dozens.
const MaxOverlapExtra = 3

// Close reports whether a role granting extra permissions beyond the want
// picked is close enough to suggest instead.
func Close(want, extra int) bool {
	return extra <= MaxOverlapExtra && extra <= want
}

// Overlapping returns the roles among existing that grant every one of
// perms and are close to them (Close), closest first (exact matches, then
// the fewest extra permissions, then by name), at most limit of them (all
// when limit <= 0).
func Overlapping(existing []ExistingRole, perms []string, limit int) []Overlap {
	want := distinct(perms)
	if len(want) == 0 {
		return nil
	}
	var out []Overlap
	for _, r := range existing {
		if !r.Covers(want) {
			continue
		}
		var adds []string
		for _, p := range distinct(r.Permissions) {
			if !slices.Contains(want, p) {
				adds = append(adds, p)
			}
		}
		if !Close(len(want), len(adds)) {
			continue
		}
		slices.Sort(adds)
		out = append(out, Overlap{Role: r, Exact: len(adds) == 0, Extra: len(adds), Adds: adds})
	}
	slices.SortFunc(out, func(a, b Overlap) int {
		return cmp.Or(cmp.Compare(a.Extra, b.Extra), cmp.Compare(a.Role.Name, b.Role.Name))
	})
	if limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	return out
}

func distinct(names []string) []string {
	out := make([]string, 0, len(names))
	for _, n := range names {
		if n != "" && !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	return out
}
