package views

import (
	"slices"
	"strings"

	"github.com/a-h/templ"

	"github.com/rolegate/rolegate/internal/rolegate"
)

// RequestForm is the New request form: what the person typed, the catalog to
// pick from, and the message beside each rejected field.
type RequestForm struct {
	Input rolegate.RequestInput
	// Projects are the organization's active projects, the Scope field's
	// choices besides the organization.
	Projects []rolegate.Project
	Areas    []rolegate.Area
	Errors   rolegate.FieldErrors
	Checks   FormChecks
	Catalog  int // number of permissions, 0 when the catalog is empty
	// Approvers says who will review the request and how many approvals
	// it needs.
	Approvers Approvers
}

func (f RequestForm) picked(name string) bool { return slices.Contains(f.Input.Permissions, name) }

func (f RequestForm) err(field rolegate.Field) string { return f.Errors[field] }

func invalid(msg string) string {
	if msg != "" {
		return "true"
	}
	return "false"
}

// FormChecks are the live checks shown while a person types.
type FormChecks struct {
	NameOK      bool
	NameMessage string             // why the name is not usable, or "" when not checked
	Overlaps    []rolegate.Overlap // existing roles that already grant the chosen permissions
	Payload     string             // the exact body, indented for reading
	PayloadHash string
	// Call is the method and path the body goes to; Binding the SHA-256
	// approvals bind to (the whole call).
	Call    string
	Binding string
	// InProject: the scope is a project (the overlap hint says so).
	InProject bool
	// Approvals is how many approvals the permissions picked so far need;
	// Sensitive says one of them is marked sensitive (one more approval).
	Approvals int
	Sensitive bool
}

// inThisProject places an existing role: in a project's scope, " in this
// project".
func inThisProject(inProject bool) string {
	if inProject {
		return " in this project"
	}
	return ""
}

// ScopeOf is how a request's scope reads: Organization, or its project's
// name.
func ScopeOf(r *rolegate.Request) string {
	if r.Scope == rolegate.ScopeOrganization {
		return "Organization"
	}
	if r.ScopeName != "" {
		return r.ScopeName
	}
	return r.Scope
}

// oobAttr marks a live-check fragment for an out-of-band swap.
func oobAttr(oob bool) templ.Attributes {
	if oob {
		return templ.Attributes{"hx-swap-oob": "true"}
	}
	return templ.Attributes{}
}

// permID is the element id of a permission on the form: the permission's
// own name, with anything unusual in an id replaced.
func permID(name string) string {
	return "perm-" + strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '.', r == '_', r == '-':
			return r
		}
		return '_'
	}, name)
}

// shortHash is the first 12 hex digits of a hash, for tables.
func shortHash(h string) string {
	if len(h) > 12 {
		return h[:12]
	}
	return h
}

// listPunct ends the i-th of n items of a sentence's list: a comma, or
// the full stop after the last.
func listPunct(i, n int) string {
	if i == n-1 {
		return "."
	}
	return ", "
}
