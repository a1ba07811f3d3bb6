package simulator

import "strings"

// permissionCatalog is what a fresh simulated organization knows. Every
// permission appears in the predefined owner role, and the read permissions
// also in the reader role, so a dev-mode catalog built from
// DefaultPermissions never offers a permission the simulator would refuse.
var permissionCatalog = []string{
	"api.organization.read",
	"api.organization.write",
	"api.users.read",
	"api.users.write",
	"api.invites.read",
	"api.invites.write",
	"api.groups.read",
	"api.groups.write",
	"api.roles.read",
	"api.roles.write",
	"api.projects.read",
	"api.projects.write",
	"api.service_accounts.read",
	"api.service_accounts.write",
	"api.api_keys.read",
	"api.api_keys.write",
	"api.rate_limits.read",
	"api.rate_limits.write",
	"api.usage.read",
	"api.billing.read",
	"api.audit_logs.read",
}

// DefaultPermissions returns the permission strings a fresh simulator
// accepts, in a stable order grouped by resource. The slice is a copy.
func DefaultPermissions() []string {
	return append([]string(nil), permissionCatalog...)
}

// projectPermissionCatalog is what a project role may grant (resource type
// api.project); the predefined project owner role holds every one.
var projectPermissionCatalog = []string{
	"api.organization.projects.api_keys.read",
	"api.organization.projects.api_keys.write",
	"api.organization.projects.service_accounts.read",
	"api.organization.projects.service_accounts.write",
	"api.organization.projects.users.read",
	"api.organization.projects.users.write",
	"api.organization.projects.rate_limits.read",
	"api.organization.projects.rate_limits.write",
}

// DefaultProjectPermissions returns the permission strings a project role
// may hold in the simulator, in a stable order. The slice is a copy.
func DefaultProjectPermissions() []string {
	return append([]string(nil), projectPermissionCatalog...)
}

// The resource types of the two scopes.
const (
	organizationResource = "api.organization"
	projectResource      = "api.project"
)

// catalogOf is the permissions a role of scope may grant.
func catalogOf(scope string) []string {
	if scope != "" {
		return projectPermissionCatalog
	}
	return permissionCatalog
}

// resourceTypeOf is the resource_type of a role of scope.
func resourceTypeOf(scope string) string {
	if scope != "" {
		return projectResource
	}
	return organizationResource
}

// predefinedProjectRoles are the roles every new project starts with.
func predefinedProjectRoles(projectID string) []Role {
	var read []string
	for _, p := range projectPermissionCatalog {
		if strings.HasSuffix(p, ".read") {
			read = append(read, p)
		}
	}
	return []Role{
		{
			Name:         "owner",
			Description:  "Full access to the project: its members, service accounts, keys and limits.",
			Permissions:  DefaultProjectPermissions(),
			ResourceType: projectResource,
			Predefined:   true,
			Project:      projectID,
		},
		{
			Name:         "member",
			Description:  "Read access to the project's keys, members and limits.",
			Permissions:  read,
			ResourceType: projectResource,
			Predefined:   true,
			Project:      projectID,
		},
	}
}

func predefinedRoles() []Role {
	var read []string
	for _, p := range permissionCatalog {
		if len(p) > 5 && p[len(p)-5:] == ".read" {
			read = append(read, p)
		}
	}
	return []Role{
		{
			Name:         "owner",
			Description:  "Full access to the organization: members, projects, keys, billing and roles.",
			Permissions:  DefaultPermissions(),
			ResourceType: organizationResource,
			Predefined:   true,
		},
		{
			Name:         "reader",
			Description:  "Read-only access to the organization's settings, usage and audit logs.",
			Permissions:  read,
			ResourceType: organizationResource,
			Predefined:   true,
		},
	}
}
