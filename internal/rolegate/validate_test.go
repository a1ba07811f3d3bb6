package rolegate_test

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/rolegate/rolegate/internal/rolegate"
)

func TestValidateRoleName(t *testing.T) {
	tests := []struct {
		name string
		want string // "" = valid; otherwise a word the message must contain
	}{
		{"API Group Manager", ""},
		{"billing-reader", ""},
		{"team_2.read-only", ""},
		{"abc", ""},
		{"A1", "at least 3"},
		{"", "Enter a role name"},
		{strings.Repeat("a", 64), ""},
		{strings.Repeat("a", 65), "at most 64"},
		{"two  spaces", "two spaces"},
		{" leading", "starting and ending"},
		{"trailing-", "starting and ending"},
		{".dotfirst", "starting and ending"},
		{"semi;colon", "Use letters"},
		{"slash/role", "Use letters"},
		{"<script>", "Use letters"},
		{"tab\there", "Use letters"},
		{"new\nline", "Use letters"},
		{"nul\x00byte", "Use letters"},
		{"del\x7fchar", "Use letters"},
		{"émile role", "Use letters"},
		{"rôle", "Use letters"},
		{"bad\xffutf8", "valid text"},
		{"zero\u200bwidth", "Use letters"},
	}
	for _, tt := range tests {
		got := rolegate.ValidateRoleName(tt.name)
		switch {
		case tt.want == "" && got != "":
			t.Errorf("ValidateRoleName(%q) = %q; want valid", tt.name, got)
		case tt.want != "" && !strings.Contains(got, tt.want):
			t.Errorf("ValidateRoleName(%q) = %q; want a message containing %q", tt.name, got, tt.want)
		}
	}
}

func testCatalog() *rolegate.Catalog {
	var perms []rolegate.Permission
	for i := range 60 {
		perms = append(perms, rolegate.Permission{Name: fmt.Sprintf("api.p%02d.read", i), Area: "Test"})
	}
	perms = append(perms,
		rolegate.Permission{Name: "api.groups.read", Area: "Groups"},
		rolegate.Permission{Name: "api.users.write", Area: "Users", Sensitive: true},
	)
	return rolegate.NewCatalog(perms)
}

func manyPerms(n int) []string {
	var out []string
	for i := range n {
		out = append(out, fmt.Sprintf("api.p%02d.read", i))
	}
	return out
}

func TestRequestInputValidate(t *testing.T) {
	valid := rolegate.RequestInput{
		RoleName:      "Group Reader",
		Permissions:   []string{"api.groups.read"},
		Description:   "Reads groups.",
		Justification: "Needed for the quarterly access review.",
	}
	tests := []struct {
		desc   string
		change func(in *rolegate.RequestInput)
		field  rolegate.Field // "" = valid
		want   string         // a word of the field's message
	}{
		{"valid", func(*rolegate.RequestInput) {}, "", ""},
		{"no description is fine", func(in *rolegate.RequestInput) { in.Description = "" }, "", ""},
		{"bad role name", func(in *rolegate.RequestInput) { in.RoleName = "x" }, rolegate.FieldRoleName, "at least 3"},
		{"no permission", func(in *rolegate.RequestInput) { in.Permissions = nil }, "permissions", "at least one"},
		{"unknown permission", func(in *rolegate.RequestInput) { in.Permissions = []string{"api.groups.read", "api.nukes.launch"} }, "permissions", "api.nukes.launch"},
		{"long unknown permission is cut", func(in *rolegate.RequestInput) { in.Permissions = []string{strings.Repeat("x", 300)} }, "permissions", "…"},
		{"50 permissions", func(in *rolegate.RequestInput) { in.Permissions = manyPerms(50) }, "", ""},
		{"51 permissions", func(in *rolegate.RequestInput) { in.Permissions = manyPerms(51) }, "permissions", "at most 50"},
		{"description 500", func(in *rolegate.RequestInput) { in.Description = strings.Repeat("é", 500) }, "", ""},
		{"description 501", func(in *rolegate.RequestInput) { in.Description = strings.Repeat("é", 501) }, "description", "at most 500"},
		{"description control character", func(in *rolegate.RequestInput) { in.Description = "bell\a" }, "description", "control"},
		{"description invalid UTF-8", func(in *rolegate.RequestInput) { in.Description = "bad\xff" }, "description", "at most 500"},
		{"description newlines are fine", func(in *rolegate.RequestInput) { in.Description = "line one\nline two\ttabbed" }, "", ""},
		{"no justification", func(in *rolegate.RequestInput) { in.Justification = "" }, "justification", "why"},
		{"short justification", func(in *rolegate.RequestInput) { in.Justification = "because" }, "justification", "at least 10"},
		{"justification 2000", func(in *rolegate.RequestInput) { in.Justification = strings.Repeat("j", 2000) }, "", ""},
		{"justification 2001", func(in *rolegate.RequestInput) { in.Justification = strings.Repeat("j", 2001) }, "justification", "at most 2000"},
		{"justification control character", func(in *rolegate.RequestInput) { in.Justification = "ten chars and \x1b[31m red" }, "justification", "control"},
		{"justification NUL", func(in *rolegate.RequestInput) { in.Justification = "ten chars and \x00" }, "justification", "control"},
		{"justification DEL", func(in *rolegate.RequestInput) { in.Justification = "ten chars and \x7f" }, "justification", "control"},
		{"description bidi override", func(in *rolegate.RequestInput) { in.Description = "Reads groups \u202eetirw dna" }, "description", "direction of text (found U+202E)"},
		{"description C1 control", func(in *rolegate.RequestInput) { in.Description = "Reads\u0085groups" }, "description", "control characters (found U+0085)"},
		{"justification bidi isolate", func(in *rolegate.RequestInput) { in.Justification = "Needed for \u2067the review\u2069." }, "justification", "found U+2067"},
		{"justification C1 control", func(in *rolegate.RequestInput) { in.Justification = "Needed for the review\u009b31m" }, "justification", "found U+009B"},
		{"right-to-left text is fine", func(in *rolegate.RequestInput) {
			in.Description = "קורא קבוצות — يقرأ المجموعات"
		}, "", ""},
	}
	for _, tt := range tests {
		in := valid
		in.Permissions = slices.Clone(valid.Permissions)
		tt.change(&in)
		errs := in.Normalize().Validate(testCatalog())
		if tt.field == "" {
			if errs != nil {
				t.Errorf("%s: Validate = %v; want no errors", tt.desc, errs)
			}
			continue
		}
		if len(errs) != 1 {
			t.Errorf("%s: Validate = %v; want exactly one error, on %s", tt.desc, errs, tt.field)
			continue
		}
		if got := errs[tt.field]; !strings.Contains(got, tt.want) {
			t.Errorf("%s: Validate()[%q] = %q; want a message containing %q", tt.desc, tt.field, got, tt.want)
		}
	}
}

func TestValidateReportsEveryFieldAtOnce(t *testing.T) {
	errs := rolegate.RequestInput{}.Normalize().Validate(testCatalog())
	for _, field := range []rolegate.Field{rolegate.FieldRoleName, rolegate.FieldPermissions, rolegate.FieldJustification} {
		if errs[field] == "" {
			t.Errorf("Validate(empty)[%q] = \"\"; want a message", field)
		}
	}
	if _, ok := errs["description"]; ok {
		t.Errorf("Validate(empty) complains about the optional description: %q", errs["description"])
	}
}

func TestNormalize(t *testing.T) {
	in := rolegate.RequestInput{
		RoleName:      "  Group Reader \t",
		Permissions:   []string{" api.users.write", "api.groups.read", "", "api.users.write", "api.groups.read "},
		Description:   "\n Reads groups. ",
		Justification: "  Needed for the review.  ",
	}
	got := in.Normalize()
	want := rolegate.RequestInput{
		RoleName:      "Group Reader",
		Permissions:   []string{"api.groups.read", "api.users.write"},
		Description:   "Reads groups.",
		Justification: "Needed for the review.",
	}
	if got.RoleName != want.RoleName || got.Description != want.Description || got.Justification != want.Justification ||
		!slices.Equal(got.Permissions, want.Permissions) {
		t.Errorf("Normalize(%+v) = %+v; want %+v", in, got, want)
	}
}

func TestPayloadIsTheExactUpstreamBody(t *testing.T) {
	tests := []struct {
		in   rolegate.RequestInput
		want string
	}{
		{
			rolegate.RequestInput{RoleName: "Group Reader", Permissions: []string{"api.groups.read"}},
			`{"role_name":"Group Reader","permissions":["api.groups.read"]}`,
		},
		{
			rolegate.RequestInput{RoleName: "Group Reader", Permissions: []string{"api.users.write", "api.groups.read"}, Description: "Reads <groups> & \"more\""},
			`{"role_name":"Group Reader","permissions":["api.groups.read","api.users.write"],"description":"Reads \u003cgroups\u003e \u0026 \"more\""}`,
		},
		{
			rolegate.RequestInput{RoleName: "Empty"},
			`{"role_name":"Empty","permissions":[]}`,
		},
	}
	for _, tt := range tests {
		payload, hash := tt.in.Normalize().Payload()
		if string(payload) != tt.want {
			t.Errorf("Payload(%+v) = %s; want %s", tt.in, payload, tt.want)
		}
		if want := rolegate.PayloadHash([]byte(tt.want)); hash != want {
			t.Errorf("Payload(%+v) hash = %s; want %s", tt.in, hash, want)
		}
		if !json.Valid(payload) {
			t.Errorf("Payload(%+v) = %s; not valid JSON", tt.in, payload)
		}
	}
	// The same choice in another order is the same body, byte for byte.
	a, _ := rolegate.RequestInput{RoleName: "R1x", Permissions: []string{"b", "a"}}.Normalize().Payload()
	b, _ := rolegate.RequestInput{RoleName: "R1x", Permissions: []string{"a", "b", "a"}}.Normalize().Payload()
	if string(a) != string(b) {
		t.Errorf("payloads of the same choice differ: %s and %s", a, b)
	}
}

func TestPayloadHash(t *testing.T) {
	// SHA-256("abc"), the FIPS 180-2 test vector.
	const want = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
	if got := rolegate.PayloadHash([]byte("abc")); got != want {
		t.Errorf("PayloadHash(%q) = %s; want %s", "abc", got, want)
	}
}

func TestValidateComment(t *testing.T) {
	tests := []struct {
		comment  string
		required bool
		want     string // "" = valid
	}{
		{"", false, ""},
		{"", true, "Say why"},
		{"   \n ", true, "Say why"},
		{"Looks right.", true, ""},
		{"Two lines\nare fine", false, ""},
		{strings.Repeat("c", 1000), false, ""},
		{strings.Repeat("c", 1001), false, "at most 1000"},
		{"escape \x1b[2J", false, "control"},
		{"bad \xff", false, "at most 1000"},
		{"approve \u202eetirw dna", false, "direction of text (found U+202E)"},
		{"next\u0085line", false, "control characters (found U+0085)"},
		{"Zoë, 日本, שלום, مرحبا: any script is fine", false, ""},
	}
	for _, tt := range tests {
		got := rolegate.ValidateComment(tt.comment, tt.required)
		switch {
		case tt.want == "" && got != "":
			t.Errorf("ValidateComment(%q, %v) = %q; want valid", tt.comment, tt.required, got)
		case tt.want != "" && !strings.Contains(got, tt.want):
			t.Errorf("ValidateComment(%q, %v) = %q; want a message containing %q", tt.comment, tt.required, got, tt.want)
		}
	}
}

func TestSameRoleName(t *testing.T) {
	tests := []struct {
		a, b string
		want bool
	}{
		{"Group Reader", "group reader", true},
		{"Group Reader", " GROUP READER ", true},
		{"Group Reader", "Group-Reader", false},
		{"owner", "Owner", true},
	}
	for _, tt := range tests {
		if got := rolegate.SameRoleName(tt.a, tt.b); got != tt.want {
			t.Errorf("SameRoleName(%q, %q) = %v; want %v", tt.a, tt.b, got, tt.want)
		}
	}
}

// TestHiddenCharactersRefusedEverywhere: every bidirectional control and
// every C1 control is refused in each free-text field, with a message
// naming it, beside that field.
func TestHiddenCharactersRefusedEverywhere(t *testing.T) {
	var hidden []rune
	for r := rune(0x80); r <= 0x9f; r++ {
		hidden = append(hidden, r)
	}
	hidden = append(hidden, 0x061c, 0x200e, 0x200f, 0x202a, 0x202b, 0x202c, 0x202d, 0x202e, 0x2066, 0x2067, 0x2068, 0x2069)
	valid := rolegate.RequestInput{RoleName: "Group Reader", Permissions: []string{"api.groups.read"}, Justification: "Needed for the quarterly access review."}
	for _, r := range hidden {
		want := fmt.Sprintf("found %U", r)
		in := valid
		in.Description = "Reads " + string(r) + "groups"
		if got := in.Validate(testCatalog())["description"]; !strings.Contains(got, want) {
			t.Errorf("description with %U: %q; want a message containing %q", r, got, want)
		}
		in = valid
		in.Justification = valid.Justification + string(r)
		if got := in.Validate(testCatalog())["justification"]; !strings.Contains(got, want) {
			t.Errorf("justification with %U: %q; want a message containing %q", r, got, want)
		}
		if got := rolegate.ValidateComment("Looks "+string(r)+"right.", false); !strings.Contains(got, want) {
			t.Errorf("comment with %U: %q; want a message containing %q", r, got, want)
		}
	}
}
