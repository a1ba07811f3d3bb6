package rolegate

import (
	"fmt"
	"strings"
)

// NameHolder is the latest request that holds a role's name in a scope
// (open, or provisioned), as a store found it.
type NameHolder struct {
	ID           int64
	Status       Status
	RequesterKey string
}

// NameTaken says to viewer why a name cannot be used in scope ("" when it
// is free): holder is the request that holds it (nil: none), inPicture
// says a role upstream has it. The request is named only to someone who
// may see it; to anyone else a request they would get a 404 for is not
// even confirmed to exist by its number.
func NameTaken(scope string, holder *NameHolder, inPicture bool, viewer Principal) string {
	where, suffix := InScope(scope), ""
	if scope != ScopeOrganization {
		suffix = " " + where
	}
	switch {
	case holder == nil && inPicture:
		return "A role with this name already exists " + where + "."
	case holder == nil:
		return ""
	case !CanViewRequestOf(viewer, holder.RequesterKey) && holder.Status == StatusProvisioned:
		return "A role with this name already exists " + where + "."
	case !CanViewRequestOf(viewer, holder.RequesterKey):
		return "A pending request already asks for a role with this name" + suffix + "."
	case holder.Status == StatusProvisioned:
		return fmt.Sprintf("A role with this name was already created through request #%d%s.", holder.ID, suffix)
	}
	return fmt.Sprintf("Request #%d already asks for a role with this name%s.", holder.ID, suffix)
}

// NameKey is a role name as names are compared: case-insensitively.
func NameKey(name string) string { return strings.ToLower(strings.TrimSpace(name)) }
