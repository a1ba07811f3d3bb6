package views

import (
	"slices"

	"github.com/rolegate/rolegate/internal/rolegate"
)

// RequestForm is the New request form: what the person typed, the catalog to
// pick from, and the message beside each rejected field.
type RequestForm struct {
	Input   rolegate.RequestInput
	Areas   []rolegate.Area
	Errors  rolegate.FieldErrors
	Checks  FormChecks
	Catalog int // number of permissions, 0 when the catalog is empty
}

func (f RequestForm) picked(name string) bool { return slices.Contains(f.Input.Permissions, name) }

func (f RequestForm) err(field string) string { return f.Errors[field] }

func invalid(msg string) string {
	if msg != "" {
		return "true"
	}
	return "false"
}

// FormChecks are the live checks shown while a person types.
type FormChecks struct {
	NameOK      bool
	NameMessage string // why the name is not usable, or "" when not checked
	Overlaps    []rolegate.ExistingRole
	Exact       bool // an overlapping role grants exactly the chosen permissions
	Payload     string
	PayloadHash string
}
