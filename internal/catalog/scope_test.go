package catalog_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rolegate/rolegate/internal/catalog"
	"github.com/rolegate/rolegate/internal/rolegate"
)

// A catalog file entry names the kind of role that grants it: the
// organization's when it says nothing (files written before project
// roles), api.project for a project's; anything else is refused.
func TestParseFileReadsEachEntrysResourceType(t *testing.T) {
	perms, err := catalog.ParseFile([]byte(`[{"name":"api.groups.read"},
		{"resource_type":"api.organization","name":"api.users.read"},
		{"resource_type":"api.project","name":"api.organization.projects.api_keys.read"}]`))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range perms {
		got = append(got, p.Name+":"+p.ResourceType)
	}
	if want := "api.groups.read:api.organization api.users.read:api.organization api.organization.projects.api_keys.read:api.project"; strings.Join(got, " ") != want {
		t.Errorf("ParseFile = %s; want %s", strings.Join(got, " "), want)
	}
	if _, err := catalog.ParseFile([]byte(`[{"resource_type":"api.team","name":"api.groups.read"}]`)); err == nil || !strings.Contains(err.Error(), `resource_type "api.team"`) {
		t.Errorf("an unknown resource type = %v; want it refused by name", err)
	}
}

// Each scope has its own catalog and its own overlaps: the organization's
// offers the organization's permissions, a project's the project ones
// (those of the file and of that project's roles upstream), and a role in
// one project is no answer in another, nor in the organization.
func TestEachScopeHasItsOwnCatalogAndOverlaps(t *testing.T) {
	path := filepath.Join(t.TempDir(), "permissions.json")
	if err := os.WriteFile(path, []byte(`[{"name":"api.groups.read","area":"Groups"},
		{"resource_type":"api.project","name":"api.organization.projects.api_keys.read","area":"Project API keys"}]`), 0o600); err != nil {
		t.Fatal(err)
	}
	svc, err := catalog.NewService(path)
	if err != nil {
		t.Fatal(err)
	}
	keys := []string{"api.organization.projects.api_keys.read"}
	svc.Update([]rolegate.UpstreamRole{
		{ID: "role_org", Name: "Group Readers", Permissions: []string{"api.groups.read"}},
		{ID: "role_a", Name: "Key Readers", Scope: "proj_a", ScopeName: "A", Permissions: keys},
		{ID: "role_a2", Name: "Model Readers", Scope: "proj_a", ScopeName: "A", Permissions: []string{"api.organization.projects.models.read"}},
	}, time.Now())
	offers := func(c *rolegate.Catalog, names ...string) string {
		var out []string
		for _, n := range names {
			_, ok := c.Lookup(n)
			out = append(out, fmt.Sprintf("%s:%v", n, ok))
		}
		return strings.Join(out, " ")
	}
	const all = "api.groups.read api.organization.projects.api_keys.read api.organization.projects.models.read"
	for _, tc := range []struct{ scope, want string }{
		{rolegate.ScopeOrganization, "api.groups.read:true api.organization.projects.api_keys.read:false api.organization.projects.models.read:false"},
		{"proj_a", "api.groups.read:false api.organization.projects.api_keys.read:true api.organization.projects.models.read:true"},
		{"proj_b", "api.groups.read:false api.organization.projects.api_keys.read:true api.organization.projects.models.read:false"},
	} {
		if got := offers(svc.CatalogFor(tc.scope), strings.Fields(all)...); got != tc.want {
			t.Errorf("CatalogFor(%q) offers %s; want %s", tc.scope, got, tc.want)
		}
	}
	names := func(os []rolegate.Overlap) string {
		var out []string
		for _, o := range os {
			out = append(out, fmt.Sprintf("%s:%v", o.Role.Name, o.Exact))
		}
		return strings.Join(out, " ")
	}
	if got := names(svc.OverlapsIn("proj_a", keys)); got != "Key Readers:true" {
		t.Errorf("OverlapsIn(proj_a) = %q; want the project's Key Readers, exact", got)
	}
	if got := names(svc.OverlapsIn("proj_b", keys)); got != "" {
		t.Errorf("OverlapsIn(proj_b) = %q; want none (Key Readers is another project's)", got)
	}
	if got := names(svc.Overlaps([]string{"api.groups.read"})); got != "Group Readers:true" {
		t.Errorf("Overlaps in the organization = %q; want Group Readers", got)
	}
	if got := names(svc.OverlapsIn("proj_a", []string{"api.groups.read"})); got != "" {
		t.Errorf("OverlapsIn(proj_a) of an organization permission = %q; want none", got)
	}
}
