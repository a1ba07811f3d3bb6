package rolegate

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"regexp"
)

// An approval is bound to what will be sent upstream. How, is the request's
// binding version:
//
//   - BindingBody (1): the SHA-256 of the JSON body alone. Every request
//     filed before project roles existed has it; its call can only be
//     POST /v1/organization/roles, so the body was the whole of it.
//   - BindingCall (2): the SHA-256 of the whole call, method, path (with the
//     project's id) and body (CallBinding), so that an approved request
//     cannot be sent to another scope than the one approved.
//
// A request keeps the version it was filed with: one approved before the
// change provisions exactly as before.
const (
	BindingBody = 1
	BindingCall = 2
)

// Call is the upstream call that creates a request's role.
type Call struct {
	Method string
	Path   string // from the API's root, /v1/…
}

func (c Call) String() string { return c.Method + " " + c.Path }

// CallFor is the create call of scope: POST /v1/organization/roles for the
// organization, POST /v1/projects/{id}/roles for a project, never the one
// for the other.
func CallFor(scope string) Call {
	if scope == ScopeOrganization {
		return Call{Method: "POST", Path: "/v1/organization/roles"}
	}
	return Call{Method: "POST", Path: "/v1/projects/" + scope + "/roles"}
}

// bindingPrefix starts what a version 2 binding hashes, so that it can
// never equal the hash of a body alone.
const bindingPrefix = "rolegate call binding v2\n"

// CallBinding is the hex SHA-256 of a whole call (binding version 2):
// "rolegate call binding v2\n" + method + " " + path + "\n" + body.
func CallBinding(c Call, body []byte) string {
	h := sha256.New()
	h.Write([]byte(bindingPrefix + c.Method + " " + c.Path + "\n"))
	h.Write(body)
	return hex.EncodeToString(h.Sum(nil))
}

// Binding is what an approval binds to, for a request of version version
// sending body to scope: the body's hash (version 1, the organization's
// call only) or the whole call's (version 2). An error means no approval
// can cover that call: a version 1 request was never approved for a
// project, and an unknown version for anything.
func Binding(version int, scope string, body []byte) (string, error) {
	switch version {
	case BindingBody:
		if scope != ScopeOrganization {
			return "", fmt.Errorf("a version 1 binding covers only %s, not a project's path", CallFor(ScopeOrganization))
		}
		return PayloadHash(body), nil
	case BindingCall:
		return CallBinding(CallFor(scope), body), nil
	}
	return "", fmt.Errorf("unknown binding version %d", version)
}

// projectIDPattern is what a project id may look like before it is looked
// up (upstream's are proj_ and letters and digits).
var projectIDPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// ValidScopeID reports whether id can name a scope: "" (the organization)
// or something shaped like a project id. Whether that project exists and
// is active is for the picture to say (ScopeProblem).
func ValidScopeID(id string) bool {
	return id == ScopeOrganization || projectIDPattern.MatchString(id)
}

// ScopeProblem is why a request cannot be filed in project id, given what
// the picture knows of it (found: the picture lists it); "" when it can.
// The message names the project.
func ScopeProblem(id string, p Project, found bool) string {
	switch {
	case id == ScopeOrganization:
		return ""
	case !found:
		return fmt.Sprintf("The project %s is not one of the organization's projects as rolegate last read them; pick the organization or an active project.", printable(truncate(id, 80)))
	case p.Archived:
		return fmt.Sprintf("The project %s (%s) is archived: no role can be created in it. Pick the organization or an active project.", p.Name, p.ID)
	}
	return ""
}

// ResourceTypeOf is the resource type of the roles of scope.
func ResourceTypeOf(scope string) string {
	if scope == ScopeOrganization {
		return ResourceOrganization
	}
	return ResourceProject
}

// The resource types of the upstream's roles.
const (
	ResourceOrganization = "api.organization"
	ResourceProject      = "api.project"
)

// InScope is how a message says where a name is taken: "in the
// organization" or "in this project".
func InScope(scope string) string {
	if scope == ScopeOrganization {
		return "in the organization"
	}
	return "in this project"
}
