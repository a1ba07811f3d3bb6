package rolegate_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/rolegate/rolegate/internal/rolegate"
)

// fuzzCatalog is a small catalog with names that look like the real ones.
func fuzzCatalog() *rolegate.Catalog {
	return rolegate.NewCatalog([]rolegate.Permission{
		{Name: "api.groups.read", Area: "Groups"},
		{Name: "api.groups.write", Area: "Groups"},
		{Name: "api.roles.read", Area: "Roles"},
		{Name: "api.users.write", Area: "Users", Sensitive: true},
	})
}

// FuzzRequestInput feeds the New request form's fields (permissions
// separated by commas, as many checkboxes would send them) through
// Normalize, Validate and Payload. Nothing panics; normalizing is stable;
// whatever Validate accepts obeys every rule and yields a payload that is
// the upstream's create body, round-tripping as JSON with exactly the
// accepted fields and hashing to the hash the approvers bind to.
//
// Run longer with: go test -fuzz=FuzzRequestInput ./internal/rolegate
func FuzzRequestInput(f *testing.F) {
	f.Add("Group Reader", "api.groups.read", "", "Needed for the quarterly access review.")
	f.Add("  billing-reader  ", "api.groups.read, api.groups.read ,api.roles.read", "Reads groups.", "Because the auditors asked us to.")
	f.Add("<script>alert(1)</script>", "api.groups.read", `"><img src=x onerror=alert(1)>`, "=HYPERLINK(\"http://evil.example\",\"x\")")
	f.Add("Role\u200bName", "api.unknown.perm", "nul\x00byte", "tab\tand\nnewlines are fine here")
	f.Add("abc", ",,,", "\xff\xfe", "short")
	f.Add(strings.Repeat("a", 64), strings.Repeat("api.groups.read,", 60), strings.Repeat("é", 500), strings.Repeat("x", 2000))
	f.Add("Quote \"Role\"", "api.users.write", "\\u0000 and \u2028 line separator", "Justified\u0085with a NEL and \u202e bidi override")
	f.Add("Group Reader", "api.groups.read", "Reads \u2066groups\u2069 \u200f", "Needed for the quarterly access review\u061c.")
	f.Add("Group Reader", "api.groups.read", "C1 \u009b31m and \u0080", "Needed for the review \u202aembedded\u202c.")

	catalog := fuzzCatalog()
	f.Fuzz(func(t *testing.T, roleName, perms, description, justification string) {
		in := rolegate.RequestInput{
			RoleName: roleName, Permissions: strings.Split(perms, ","),
			Description: description, Justification: justification,
		}
		// Un-normalized input must not panic anywhere either.
		_ = in.Validate(catalog)
		_, _ = in.Payload()

		norm := in.Normalize()
		if again := norm.Normalize(); !sameInput(again, norm) {
			t.Fatalf("Normalize is not stable: %#v then %#v", norm, again)
		}
		errs := norm.Validate(catalog)
		payload, hash := norm.Payload()
		if !json.Valid(payload) {
			t.Fatalf("Payload(%#v) = %q; not valid JSON", norm, payload)
		}
		if errs != nil {
			for field, msg := range errs {
				if msg == "" || !utf8.ValidString(msg) || strings.ContainsFunc(msg, unicode.IsControl) {
					t.Fatalf("Validate: field %q has message %q; want readable text", field, msg)
				}
			}
			return
		}
		checkAccepted(t, norm, catalog)

		sum := sha256.Sum256(payload)
		if want := hex.EncodeToString(sum[:]); hash != want || rolegate.PayloadHash(payload) != want {
			t.Fatalf("Payload hash = %s; want the SHA-256 of the payload %s", hash, want)
		}
		if again, againHash := norm.Payload(); !bytes.Equal(again, payload) || againHash != hash {
			t.Fatalf("Payload is not deterministic: %q then %q", payload, again)
		}

		var fields map[string]json.RawMessage
		if err := json.Unmarshal(payload, &fields); err != nil {
			t.Fatalf("Payload %q: %v", payload, err)
		}
		wantKeys := []string{"permissions", "role_name"}
		if norm.Description != "" {
			wantKeys = append(wantKeys, "description")
		}
		var keys []string
		for k := range fields {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		slices.Sort(wantKeys)
		if !slices.Equal(keys, wantKeys) {
			t.Fatalf("Payload %q has fields %q; want %q", payload, keys, wantKeys)
		}
		var body struct {
			RoleName    string   `json:"role_name"`
			Permissions []string `json:"permissions"`
			Description *string  `json:"description"`
		}
		if err := json.Unmarshal(payload, &body); err != nil {
			t.Fatalf("Payload %q: %v", payload, err)
		}
		got := rolegate.RequestInput{RoleName: body.RoleName, Permissions: body.Permissions, Justification: norm.Justification}
		if body.Description != nil {
			got.Description = *body.Description
		}
		if !sameInput(got, norm) {
			t.Fatalf("Payload %q round-trips to %#v; want %#v", payload, got, norm)
		}
	})
}

// checkAccepted restates the rules independently of Validate's code.
func checkAccepted(t *testing.T, in rolegate.RequestInput, catalog *rolegate.Catalog) {
	t.Helper()
	name := []rune(in.RoleName)
	switch {
	case len(name) < rolegate.MinRoleNameLen || len(name) > rolegate.MaxRoleNameLen:
		t.Fatalf("accepted role name %q of %d characters", in.RoleName, len(name))
	case strings.TrimSpace(in.RoleName) != in.RoleName || strings.Contains(in.RoleName, "  "):
		t.Fatalf("accepted role name %q with stray spaces", in.RoleName)
	}
	for _, r := range in.RoleName {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune(" ._-", r)) {
			t.Fatalf("accepted role name %q with %q", in.RoleName, r)
		}
	}
	if n := len(in.Permissions); n < 1 || n > rolegate.MaxPermissions {
		t.Fatalf("accepted %d permissions", n)
	}
	if !slices.IsSorted(in.Permissions) || len(slices.Compact(slices.Clone(in.Permissions))) != len(in.Permissions) {
		t.Fatalf("accepted permissions %q not sorted and unique", in.Permissions)
	}
	for _, p := range in.Permissions {
		if _, ok := catalog.Lookup(p); !ok {
			t.Fatalf("accepted permission %q outside the catalog", p)
		}
	}
	checkText(t, "description", in.Description, 0, rolegate.MaxDescriptionLen)
	checkText(t, "justification", in.Justification, rolegate.MinJustificationLen, rolegate.MaxJustificationLen)
}

func checkText(t *testing.T, field, s string, minLen, maxLen int) {
	t.Helper()
	if !utf8.ValidString(s) {
		t.Fatalf("accepted %s %q that is not valid UTF-8", field, s)
	}
	if n := utf8.RuneCountInString(s); n < minLen || n > maxLen {
		t.Fatalf("accepted %s of %d characters; want %d to %d", field, n, minLen, maxLen)
	}
	if strings.TrimSpace(s) != s {
		t.Fatalf("accepted %s %q with surrounding space", field, s)
	}
	for _, r := range s {
		if (r < 0x20 && r != '\n' && r != '\r' && r != '\t') || r == 0x7f || (r >= 0x80 && r <= 0x9f) {
			t.Fatalf("accepted %s %q with control character %U", field, s, r)
		}
		if r == 0x061c || r == 0x200e || r == 0x200f || (r >= 0x202a && r <= 0x202e) || (r >= 0x2066 && r <= 0x2069) {
			t.Fatalf("accepted %s %q with bidirectional control %U", field, s, r)
		}
	}
}

func sameInput(a, b rolegate.RequestInput) bool {
	return a.RoleName == b.RoleName && a.Description == b.Description && a.Justification == b.Justification &&
		slices.Equal(a.Permissions, b.Permissions)
}
