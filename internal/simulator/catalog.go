package simulator

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

// organizationResource is the resource_type of every organization role.
const organizationResource = "api.organization"

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
