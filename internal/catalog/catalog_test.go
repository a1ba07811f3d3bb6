package catalog_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rolegate/rolegate/internal/adminapi"
	"github.com/rolegate/rolegate/internal/catalog"
	"github.com/rolegate/rolegate/internal/rolegate"
	"github.com/rolegate/rolegate/internal/simulator"
)

func TestParseFile(t *testing.T) {
	tests := []struct {
		desc string
		file string
		want string // the parsed permissions, or a word of the error
	}{
		{"valid", `[{"name":"api.groups.read","area":"Groups","description":"Read groups."},
			{"name":" api.users.write ","area":"Users","description":"Change users.","sensitive":true}]`,
			"[api.groups.read/Groups/false api.users.write/Users/true]"},
		{"no area is guessed from the name", `[{"name":"api.service_accounts.write"}]`, "[api.service_accounts.write/Service accounts/false]"},
		{"empty", `[]`, "[]"},
		{"a misspelt key", `[{"name":"api.users.write","sensitve":true}]`, "unknown field"},
		{"a permission twice", `[{"name":"api.groups.read"},{"name":"api.groups.read"}]`, "listed twice"},
		{"no name", `[{"area":"Groups"}]`, "entry 1 has no name"},
		{"a blank name", `[{"name":"api.groups.read"},{"name":"  "}]`, "entry 2 has no name"},
		{"not an array", `{"name":"api.groups.read"}`, "parse"},
		{"data after the array", `[] []`, "after the array"},
		{"not JSON", `name: api.groups.read`, "parse"},
	}
	for _, tt := range tests {
		perms, err := catalog.ParseFile([]byte(tt.file))
		var got string
		if err != nil {
			got = err.Error()
		} else {
			var parts []string
			for _, p := range perms {
				parts = append(parts, fmt.Sprintf("%s/%s/%v", p.Name, p.Area, p.Sensitive))
			}
			got = "[" + strings.Join(parts, " ") + "]"
		}
		if !strings.Contains(got, tt.want) {
			t.Errorf("ParseFile(%s) = %s; want %s", tt.desc, got, tt.want)
		}
	}
}

// The catalog file kept in the repository describes every permission the
// simulated organization knows, so dev mode offers no undescribed one.
func TestEmbeddedFileDescribesTheSimulatedOrganization(t *testing.T) {
	svc, _ := service(t, "") // never updated: the embedded file alone
	described := map[string]rolegate.Permission{}
	for _, a := range svc.Catalog().Areas() {
		for _, p := range a.Permissions {
			described[p.Name] = p
		}
	}
	for _, p := range described {
		if p.Area == "" || p.Description == "" {
			t.Errorf("%s has no area or no description", p.Name)
		}
	}
	for _, name := range simulator.DefaultPermissions() {
		if _, ok := described[name]; !ok {
			t.Errorf("the simulator knows %s but the catalog file does not describe it", name)
		}
	}
	for _, name := range []string{"api.users.write", "api.roles.write", "api.api_keys.write"} {
		if !described[name].Sensitive {
			t.Errorf("%s is not marked sensitive", name)
		}
	}
}

func TestBuild(t *testing.T) {
	described := []rolegate.Permission{
		{Name: "api.groups.read", Area: "Groups", Description: "Read groups."},
		{Name: "api.users.write", Area: "Users", Description: "Change users.", Sensitive: true},
		{Name: "api.gone.read", Area: "Gone", Description: "Described, but no role grants it."},
	}
	upstream := []rolegate.ExistingRole{
		{Name: "owner", Permissions: []string{"api.groups.read", "api.users.write", "api.new_thing.write", "", "odd"}},
		{Name: "reader", Permissions: []string{"api.groups.read", "api..read"}},
	}
	tests := []struct {
		desc     string
		upstream []rolegate.ExistingRole
		want     string // name/area/sensitive, by area then name
	}{
		{"before the first refresh: the file alone", nil,
			"[api.gone.read/Gone/false api.groups.read/Groups/false api.users.write/Users/true]"},
		{"after it: exactly the upstream's permissions, described by the file; undescribed ones sensitive", upstream,
			"[api.groups.read/Groups/false api.new_thing.write/New thing/true api..read/Other/true odd/Other/true api.users.write/Users/true]"},
	}
	for _, tt := range tests {
		cat := catalog.Build(described, tt.upstream)
		var parts []string
		for _, a := range cat.Areas() {
			for _, p := range a.Permissions {
				parts = append(parts, fmt.Sprintf("%s/%s/%v", p.Name, a.Name, p.Sensitive))
			}
		}
		if got := "[" + strings.Join(parts, " ") + "]"; got != tt.want {
			t.Errorf("Build(%s) = %s; want %s", tt.desc, got, tt.want)
		}
	}
	cat := catalog.Build(described, upstream)
	if p, _ := cat.Lookup("api.groups.read"); p.Description != "Read groups." {
		t.Errorf("Lookup(api.groups.read).Description = %q; want the file's", p.Description)
	}
	if _, ok := cat.Lookup("api.gone.read"); ok {
		t.Errorf("a permission no upstream role grants is offered")
	}
}

// service is a catalog service fed the simulated organization's roles,
// read over real HTTP by the real client.
func service(t *testing.T, path string) (*catalog.Service, []rolegate.UpstreamRole) {
	t.Helper()
	const key = "sk-admin-catalog-test"
	sim := simulator.New(simulator.Options{AdminKey: key})
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)
	upstream := adminapi.New(srv.URL+"/v1", adminapi.StaticKey(key), srv.Client())
	roles, err := upstream.OrganizationRoles(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	svc, err := catalog.NewService(path)
	if err != nil {
		t.Fatal(err)
	}
	return svc, roles
}

func TestServiceUpdateRebuildsTheCatalogFromTheOrganization(t *testing.T) {
	svc, roles := service(t, "")
	if got, at := svc.Roles(); len(got) != 0 || !at.IsZero() {
		t.Fatalf("before Update: %d roles at %s; want none", len(got), at)
	}
	before := svc.Catalog().Len()
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	svc.Update(roles, at)
	got, gotAt := svc.Roles()
	if len(got) != len(roles) || !gotAt.Equal(at) {
		t.Errorf("after Update: %d roles at %s; want %d at %s", len(got), gotAt, len(roles), at)
	}
	if got, want := svc.Catalog().Len(), len(simulator.DefaultPermissions()); got != want || got > before {
		t.Errorf("catalog after Update has %d permissions; want %d (the file had %d)", got, want, before)
	}
	// A permission that appears in a new upstream role is offered at once,
	// as sensitive until the file describes it.
	svc.Update(append(roles, rolegate.UpstreamRole{ID: "role_new", Name: "New", Permissions: []string{"api.brand_new.write"}}), at)
	if p, ok := svc.Catalog().Lookup("api.brand_new.write"); !ok || !p.Sensitive {
		t.Errorf("Lookup(api.brand_new.write) = %+v, %v; want a sensitive permission", p, ok)
	}
}

func TestServiceOverlaps(t *testing.T) {
	svc, roles := service(t, "")
	svc.Update(roles, time.Now())
	var reads []string
	for _, p := range simulator.DefaultPermissions() {
		if strings.HasSuffix(p, ".read") {
			reads = append(reads, p)
		}
	}
	// The simulated organization's owner grants everything, its reader
	// every read permission; two custom roles are each one permission
	// more than api.groups.read, one of them a sensitive one.
	roles = append(roles,
		rolegate.UpstreamRole{ID: "role_near", Name: "groups and users reader", Permissions: []string{"api.groups.read", "api.users.read"}},
		rolegate.UpstreamRole{ID: "role_risky", Name: "groups reader, users writer", Permissions: []string{"api.groups.read", "api.users.write"}},
	)
	svc.Update(roles, time.Now())
	tests := []struct {
		perms []string
		want  string // name:exact, closest first
	}{
		// Neither the reader nor the owner is offered for one or two
		// read permissions: both are far broader.
		{[]string{"api.groups.read"}, "groups and users reader:false"},
		{[]string{"api.groups.read", "api.usage.read"}, ""},
		{[]string{"api.groups.read", "api.users.read"}, "groups and users reader:true"},
		{reads, "reader:true"},
		{simulator.DefaultPermissions(), "owner:true"},
		{[]string{"api.groups.write"}, ""},
		{nil, ""},
	}
	for _, tt := range tests {
		var parts []string
		for _, o := range svc.Overlaps(tt.perms) {
			parts = append(parts, fmt.Sprintf("%s:%v", o.Role.Name, o.Exact))
		}
		if got := strings.Join(parts, " "); got != tt.want {
			t.Errorf("Overlaps(%q) = %q; want %q", tt.perms, got, tt.want)
		}
	}
}

func TestServiceWithACatalogFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "permissions.json")
	if err := os.WriteFile(path, []byte(`[{"name":"api.groups.read","area":"Groups","description":"Read groups."}]`), 0o600); err != nil {
		t.Fatal(err)
	}
	svc, _ := service(t, path)
	if got := svc.Catalog().Len(); got != 1 {
		t.Errorf("catalog from a one-entry file has %d permissions; want 1", got)
	}
	bad := filepath.Join(t.TempDir(), "bad.json")
	if err := os.WriteFile(bad, bytes.Repeat([]byte("x"), 10), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := catalog.NewService(bad); err == nil {
		t.Errorf("NewService with a malformed file = nil error")
	}
	if _, err := catalog.NewService(filepath.Join(t.TempDir(), "missing.json")); err == nil {
		t.Errorf("NewService with a missing file = nil error")
	}
}
