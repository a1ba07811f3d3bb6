package views

import (
	"strings"
	"time"

	"github.com/rolegate/rolegate/internal/rolegate"
)

// RolesView is the Roles page: one page of the organization's picture.
type RolesView struct {
	Roles    []rolegate.PictureRole
	Search   string
	Pager    Pager
	SyncedAt time.Time // zero: the organization was never read
}

// ScopeLabel is how a role's scope reads: Organization, or its project.
func ScopeLabel(r rolegate.UpstreamRole) string {
	if r.Scope == rolegate.ScopeOrganization {
		return "Organization"
	}
	if r.ScopeName != "" {
		return r.ScopeName
	}
	return r.Scope
}

// DriftView is what a request page says about its role upstream.
type DriftView struct {
	Role rolegate.PictureRole
}

func joinComma(ss []string) string { return strings.Join(ss, ", ") }
