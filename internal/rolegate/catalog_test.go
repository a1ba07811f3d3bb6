package rolegate_test

import (
	"fmt"
	"testing"

	"github.com/rolegate/rolegate/internal/rolegate"
)

func TestCatalogAreasAndSensitivity(t *testing.T) {
	cat := rolegate.NewCatalog([]rolegate.Permission{
		{Name: "api.users.write", Area: "Users", Sensitive: true},
		{Name: "api.groups.write", Area: "Groups"},
		{Name: "api.users.read", Area: "Users"},
		{Name: "api.groups.read", Area: "Groups"},
	})
	var got []string
	for _, a := range cat.Areas() {
		for _, p := range a.Permissions {
			got = append(got, a.Name+"/"+p.Name)
		}
	}
	want := []string{"Groups/api.groups.read", "Groups/api.groups.write", "Users/api.users.read", "Users/api.users.write"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("Areas() = %v; want %v", got, want)
	}
	if cat.Len() != 4 {
		t.Errorf("Len() = %d; want 4", cat.Len())
	}
	tests := []struct {
		perms []string
		want  bool
	}{
		{[]string{"api.groups.read"}, false},
		{[]string{"api.groups.read", "api.users.write"}, true},
		{[]string{"api.unknown"}, false},
		{nil, false},
	}
	for _, tt := range tests {
		if got := cat.AnySensitive(tt.perms); got != tt.want {
			t.Errorf("AnySensitive(%q) = %v; want %v", tt.perms, got, tt.want)
		}
	}
	var none *rolegate.Catalog
	if _, ok := none.Lookup("api.groups.read"); ok || none.Len() != 0 || none.Areas() != nil {
		t.Errorf("a nil catalog is not empty")
	}
}

func TestOverlapping(t *testing.T) {
	roles := []rolegate.ExistingRole{
		{Name: "owner", Permissions: []string{"a", "b", "c", "d"}, Predefined: true},
		{Name: "reader", Permissions: []string{"a", "c"}, Predefined: true},
		{Name: "ab-exact", Permissions: []string{"b", "a"}},
		{Name: "ab-dupes", Permissions: []string{"a", "b", "a"}},
		{Name: "abc", Permissions: []string{"a", "b", "c"}},
		{Name: "empty", Permissions: nil},
		{Name: "x-wide", Permissions: []string{"x1", "x2", "x3", "x4", "x5", "x6", "x7"}},
		{Name: "x-owner", Permissions: []string{"x1", "x2", "x3", "x4", "x5", "x6", "x7", "x8", "x9", "a", "b", "c", "d"}},
	}
	tests := []struct {
		perms []string
		limit int
		want  string // name:exact:extra, closest first
	}{
		{[]string{"a", "b"}, 0, "[ab-dupes:true:0 ab-exact:true:0 abc:false:1 owner:false:2]"},
		{[]string{"b", "a", "b"}, 2, "[ab-dupes:true:0 ab-exact:true:0]"},
		{[]string{"a", "c"}, 0, "[reader:true:0 abc:false:1 owner:false:2]"},
		// One permission: a role granting three more is far broader.
		{[]string{"d"}, 0, "[]"},
		{[]string{"c"}, 0, "[reader:false:1]"},
		// The owner of many permissions is never offered for a few.
		{[]string{"x1", "x2"}, 0, "[]"},
		{[]string{"x1", "x2", "x3", "x4"}, 0, "[x-wide:false:3]"},
		{[]string{"e"}, 0, "[]"},
		{[]string{"a", "e"}, 0, "[]"},
		{nil, 0, "[]"},
	}
	for _, tt := range tests {
		var got []string
		for _, o := range rolegate.Overlapping(roles, tt.perms, tt.limit) {
			got = append(got, fmt.Sprintf("%s:%v:%d", o.Role.Name, o.Exact, o.Extra))
			if len(o.Adds) != o.Extra {
				t.Errorf("Overlapping(%q): %s adds %q; want %d permissions", tt.perms, o.Role.Name, o.Adds, o.Extra)
			}
		}
		if fmt.Sprint(got) != tt.want {
			t.Errorf("Overlapping(%q, %d) = %v; want %s", tt.perms, tt.limit, got, tt.want)
		}
	}
}
