package rolegate

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Limits on what a request may hold. The upstream states none; these keep
// names readable in the OpenAI dashboard and rows small.
const (
	MaxRoleNameLen      = 64
	MinRoleNameLen      = 3
	MaxDescriptionLen   = 500
	MaxJustificationLen = 2000
	MinJustificationLen = 10
	MaxPermissions      = 50
	MaxCommentLen       = 1000
)

// roleNamePattern: letters, digits, spaces, dot, dash, underscore; starts and
// ends with a letter or digit (e.g. "API Group Manager", "billing-reader").
var roleNamePattern = regexp.MustCompile(`^[A-Za-z0-9](?:[A-Za-z0-9 ._-]*[A-Za-z0-9])?$`)

// RequestInput is what a person submits on the New request form.
type RequestInput struct {
	// Scope is ScopeOrganization or the id of the project to create the
	// role in; ScopeName is that project's name, which the store fills in
	// from the picture (never from the form).
	Scope         string
	ScopeName     string
	RoleName      string
	Permissions   []string
	Description   string
	Justification string
}

// Field names an input of an operation in the domain's terms. Which form
// element shows its message is the views' business (each template pairs
// its input with its Field): the domain and the store know no HTML.
type Field string

// The inputs of a request and of a decision on it.
const (
	FieldScope         Field = "scope"
	FieldRoleName      Field = "role name"
	FieldPermissions   Field = "permissions"
	FieldDescription   Field = "description"
	FieldJustification Field = "justification"
	FieldComment       Field = "comment" // a reviewer's comment, or why provisioning is abandoned
)

// FieldErrors maps an input to the message shown beside it.
type FieldErrors map[Field]string

// Normalize trims surrounding space and removes duplicate permissions,
// keeping them sorted so that the same choice always yields the same payload.
func (in RequestInput) Normalize() RequestInput {
	out := RequestInput{
		Scope:         strings.TrimSpace(in.Scope),
		ScopeName:     in.ScopeName,
		RoleName:      strings.TrimSpace(in.RoleName),
		Description:   strings.TrimSpace(in.Description),
		Justification: strings.TrimSpace(in.Justification),
	}
	for _, p := range in.Permissions {
		p = strings.TrimSpace(p)
		if p != "" && !slices.Contains(out.Permissions, p) {
			out.Permissions = append(out.Permissions, p)
		}
	}
	slices.Sort(out.Permissions)
	return out
}

// ValidateRoleName checks a role name's form (not whether it is taken).
func ValidateRoleName(name string) string {
	switch n := utf8.RuneCountInString(name); {
	case name == "":
		return "Enter a role name."
	case !utf8.ValidString(name):
		return "The role name must be valid text."
	case n < MinRoleNameLen:
		return fmt.Sprintf("The role name must be at least %d characters.", MinRoleNameLen)
	case n > MaxRoleNameLen:
		return fmt.Sprintf("The role name must be at most %d characters.", MaxRoleNameLen)
	case strings.Contains(name, "  "):
		return "The role name must not contain two spaces in a row."
	case !roleNamePattern.MatchString(name):
		return "Use letters, digits, spaces, dots, dashes and underscores, starting and ending with a letter or digit."
	}
	return ""
}

// Validate checks a normalized input against the rules and the catalog. It is
// the one place these rules live: the form, the live checks and the store use it.
func (in RequestInput) Validate(catalog *Catalog) FieldErrors {
	errs := FieldErrors{}
	if !ValidScopeID(in.Scope) {
		errs[FieldScope] = "Pick the organization or one of its active projects."
	}
	if msg := ValidateRoleName(in.RoleName); msg != "" {
		errs[FieldRoleName] = msg
	}
	switch {
	case len(in.Permissions) == 0:
		errs[FieldPermissions] = "Pick at least one permission."
	case len(in.Permissions) > MaxPermissions:
		errs[FieldPermissions] = fmt.Sprintf("Pick at most %d permissions.", MaxPermissions)
	default:
		for _, p := range in.Permissions {
			if _, ok := catalog.Lookup(p); !ok {
				errs[FieldPermissions] = "Unknown permission: " + printable(truncate(p, 80)) + "."
				break
			}
		}
	}
	if !utf8.ValidString(in.Description) || utf8.RuneCountInString(in.Description) > MaxDescriptionLen {
		errs[FieldDescription] = fmt.Sprintf("The description must be at most %d characters.", MaxDescriptionLen)
	} else if msg := hiddenCharacter("description", in.Description); msg != "" {
		errs[FieldDescription] = msg
	}
	switch n := utf8.RuneCountInString(in.Justification); {
	case in.Justification == "":
		errs[FieldJustification] = "Say why this role is needed."
	case !utf8.ValidString(in.Justification) || n > MaxJustificationLen:
		errs[FieldJustification] = fmt.Sprintf("The justification must be at most %d characters.", MaxJustificationLen)
	case n < MinJustificationLen:
		errs[FieldJustification] = fmt.Sprintf("Say a little more (at least %d characters) so approvers can decide.", MinJustificationLen)
	default:
		if msg := hiddenCharacter("justification", in.Justification); msg != "" {
			errs[FieldJustification] = msg
		}
	}
	if len(errs) == 0 {
		return nil
	}
	return errs
}

// ValidateComment checks a reviewer's comment; required for rejections.
func ValidateComment(comment string, required bool) string {
	switch {
	case required && strings.TrimSpace(comment) == "":
		return "Say why you reject the request."
	case !utf8.ValidString(comment) || utf8.RuneCountInString(comment) > MaxCommentLen:
		return fmt.Sprintf("The comment must be at most %d characters.", MaxCommentLen)
	}
	return hiddenCharacter("comment", comment)
}

// hiddenCharacter returns the message for free text (a description, a
// justification, a comment) holding a character that a reader cannot see
// but that changes what they read: control characters other than newlines
// and tabs, C0 and DEL as well as C1 (U+0080–U+009F, such as U+0085, a
// line break to some programs), and the bidirectional controls
// (U+202A–U+202E, U+2066–U+2069, U+200E, U+200F, U+061C: Unicode's
// Bidi_Control), which make "and write" display as "etirw dna" and hide
// what an approver approves or what the upstream receives. "" when there
// is none. Refused, not removed: the text sent and approved is exactly the
// text typed.
func hiddenCharacter(field, s string) string {
	for _, r := range s {
		switch {
		case r == '\n' || r == '\r' || r == '\t':
		case unicode.IsControl(r):
			return fmt.Sprintf("The %s must not contain control characters (found %U).", field, r)
		case unicode.Is(unicode.Bidi_Control, r):
			return fmt.Sprintf("The %s must not contain invisible characters that change the direction of text (found %U).", field, r)
		}
	}
	return ""
}

// printable makes what someone typed safe to repeat in a message: valid
// UTF-8 without control characters or those that turn text around (each
// replaced by U+FFFD).
func printable(s string) string {
	return strings.Map(func(r rune) rune {
		if r == utf8.RuneError || unicode.IsControl(r) || unicode.Is(unicode.Bidi_Control, r) {
			return utf8.RuneError
		}
		return r
	}, s)
}

func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n]) + "…"
}

// createRoleBody mirrors the upstream's PublicCreateOrganizationRoleBody.
type createRoleBody struct {
	RoleName    string   `json:"role_name"`
	Permissions []string `json:"permissions"`
	Description *string  `json:"description,omitempty"`
}

// Payload returns the exact JSON body of the create call (the same for an
// organization and a project role) and its SHA-256 in hex. Deterministic: the same normalized input, the same bytes.
func (in RequestInput) Payload() ([]byte, string) {
	body := createRoleBody{RoleName: in.RoleName, Permissions: in.Permissions}
	if body.Permissions == nil {
		body.Permissions = []string{}
	}
	if in.Description != "" {
		d := in.Description
		body.Description = &d
	}
	b, err := json.Marshal(body)
	if err != nil {
		panic("rolegate: marshal of a plain struct failed: " + err.Error())
	}
	return b, PayloadHash(b)
}

// PayloadHash is the hex SHA-256 of a payload.
func PayloadHash(payload []byte) string {
	sum := sha256.Sum256(payload)
	return hex.EncodeToString(sum[:])
}

// SameRoleName reports whether two role names collide upstream; we treat
// names case-insensitively so people do not create near-duplicates.
func SameRoleName(a, b string) bool {
	return strings.EqualFold(strings.TrimSpace(a), strings.TrimSpace(b))
}
