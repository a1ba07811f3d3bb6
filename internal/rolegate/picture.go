package rolegate

import (
	"slices"
	"strings"
	"time"
)

// Audit actions of the organization's picture: a difference between what
// the upstream holds and what rolegate last saw (or, for a role rolegate
// created, what was approved). Each difference is recorded once.
const (
	ActionUpstreamRoleAppeared = "upstream.role.appeared" // a role created outside rolegate
	ActionUpstreamRoleChanged  = "upstream.role.changed"  // name, permissions or description changed upstream
	ActionUpstreamRoleDeleted  = "upstream.role.deleted"  // gone upstream
)

// ScopeOrganization is the scope of an organization role; project roles
// carry their project's id.
const ScopeOrganization = ""

// Project is one project of the organization as the picture holds it.
type Project struct {
	ID       string
	Name     string
	Archived bool
}

// OrganizationRead is one complete read of the organization upstream.
type OrganizationRead struct {
	// Roles are the organization's roles (Scope ScopeOrganization).
	Roles []UpstreamRole
	// Projects is every project, archived ones included; nil when the
	// projects were not read (then the picture's projects stay as they are).
	Projects []Project
	// ProjectRoles are the roles of each active project, by project id.
	ProjectRoles map[string][]UpstreamRole
	// Directory is the organization's groups, users and group membership;
	// nil when they were not read (then the picture's stay as they are).
	Directory *Directory
}

// Directory is one complete read of the organization's groups and users
// and of who is in which group (GET /v1/organization/groups/{id}/users).
type Directory struct {
	Groups []Group
	Users  []User
	// Members are the ids of each group's users, by group id.
	Members map[string][]string
}

// Group is a group of the organization as the picture holds it.
type Group struct {
	ID   string
	Name string
}

// User is a user of the organization as the picture holds it. Email may
// be empty (the upstream's email is nullable).
type User struct {
	ID    string
	Name  string
	Email string
}

// UpstreamRole is one role as the upstream lists it.
type UpstreamRole struct {
	ID           string
	Scope        string // ScopeOrganization, or a project id
	ScopeName    string // the project's name; empty for the organization
	Name         string
	Description  string
	Permissions  []string // sorted, without duplicates
	ResourceType string
	Predefined   bool
}

// Normalize sorts and de-duplicates the permissions, so that comparing two
// roles compares what they grant, not the order the upstream listed it in,
// and makes every text fit for every store (UpstreamText: a NUL becomes
// U+FFFD). Both stores normalize each role they are given, so the picture,
// its differences and their events hold the same text on either engine.
func (r UpstreamRole) Normalize() UpstreamRole {
	perms := make([]string, len(r.Permissions))
	for i, p := range r.Permissions {
		perms[i] = UpstreamText(p)
	}
	r.Permissions = sortedSet(perms)
	r.Name, r.Description = UpstreamText(r.Name), UpstreamText(r.Description)
	r.ScopeName, r.ResourceType = UpstreamText(r.ScopeName), UpstreamText(r.ResourceType)
	return r
}

// State is everything a difference can be about, as one comparable string.
func (r UpstreamRole) State() string {
	return r.Name + "\x00" + r.Description + "\x00" + strings.Join(sortedSet(r.Permissions), "\x00")
}

// Existing is the role as the catalog and the overlap hints see it.
func (r UpstreamRole) Existing() ExistingRole {
	return ExistingRole{ID: r.ID, Name: r.Name, Permissions: r.Permissions, Predefined: r.Predefined}
}

// Drift is how a role that rolegate created stands against what was approved.
type Drift string

const (
	DriftNone    Drift = ""
	DriftChanged Drift = "changed" // Changed outside rolegate
	DriftDeleted Drift = "deleted" // Deleted outside rolegate
)

// Difference is one field that differs, old (approved, or last seen) and new.
type Difference struct {
	Field   string   `json:"field"` // "name", "description", "permissions"
	Old     string   `json:"old,omitempty"`
	New     string   `json:"new,omitempty"`
	Added   []string `json:"added,omitempty"`   // permissions only
	Removed []string `json:"removed,omitempty"` // permissions only
}

// RoleShape is what a difference compares: a role's name, description and
// permissions.
type RoleShape struct {
	Name        string
	Description string
	Permissions []string
}

// Shape of an upstream role.
func (r UpstreamRole) Shape() RoleShape {
	return RoleShape{Name: r.Name, Description: r.Description, Permissions: r.Permissions}
}

// Compare lists how now differs from was (nil when in nothing). Names are
// compared exactly: a change of case is a change someone made.
func Compare(was, now RoleShape) []Difference {
	var out []Difference
	if was.Name != now.Name {
		out = append(out, Difference{Field: "name", Old: was.Name, New: now.Name})
	}
	if was.Description != now.Description {
		out = append(out, Difference{Field: "description", Old: was.Description, New: now.Description})
	}
	old, cur := sortedSet(was.Permissions), sortedSet(now.Permissions)
	if !slices.Equal(old, cur) {
		d := Difference{Field: "permissions", Old: strings.Join(old, ", "), New: strings.Join(cur, ", ")}
		for _, p := range cur {
			if !slices.Contains(old, p) {
				d.Added = append(d.Added, p)
			}
		}
		for _, p := range old {
			if !slices.Contains(cur, p) {
				d.Removed = append(d.Removed, p)
			}
		}
		out = append(out, d)
	}
	return out
}

// PictureRole is one role of the picture with where it came from.
type PictureRole struct {
	UpstreamRole
	// RequestID is the request that created it; 0 when created outside rolegate.
	RequestID   int64
	FirstSeenAt time.Time
	Drift       Drift
	// Differences from what was approved, when Drift is DriftChanged.
	Differences []Difference
	DeletedAt   time.Time
}

// CreatedOutside reports whether the role was not created through rolegate.
func (r PictureRole) CreatedOutside() bool { return r.RequestID == 0 }

// RoleFilter selects roles of the picture for the Roles page.
type RoleFilter struct {
	// Search matches part of a role's name or of one of its permissions,
	// ignoring case.
	Search string
	Limit  int
	Offset int
}

// SyncResult is what one complete read of the upstream changed.
type SyncResult struct {
	Roles                      int // in the picture now
	Appeared, Changed, Deleted int // differences recorded
	Baseline                   bool
}

func sortedSet(in []string) []string {
	out := make([]string, 0, len(in))
	for _, s := range in {
		if s != "" {
			out = append(out, s)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// RoleNameKey is the form under which role names collide: the upstream's
// uniqueness rule is assumed to ignore case (README), so "Billing Reader"
// and "billing reader" are one name.
func RoleNameKey(name string) string { return strings.ToLower(strings.TrimSpace(name)) }

// PictureStats is the picture's state for the metrics.
type PictureStats struct {
	SyncedAt time.Time // zero: never read completely
	Roles    int       // existing upstream
	Drifted  int       // created by rolegate, then changed or deleted outside it
}
