package catalog_test

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rolegate/rolegate/internal/adminapi"
	"github.com/rolegate/rolegate/internal/catalog"
	"github.com/rolegate/rolegate/internal/rolegate"
	"github.com/rolegate/rolegate/internal/simulator"
	"github.com/rolegate/rolegate/internal/sqlite"
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
	svc, _, _ := service(t, "") // never refreshed: the embedded file alone
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

// service is a catalog service over a real database and the Admin API
// simulator behind the real client.
func service(t *testing.T, path string) (*catalog.Service, *sqlite.DB, *simulator.Simulator) {
	t.Helper()
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "rolegate.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	const key = "sk-admin-catalog-test"
	sim := simulator.New(simulator.Options{AdminKey: key})
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)
	upstream := adminapi.New(srv.URL+"/v1", adminapi.StaticKey(key), srv.Client())
	svc, err := catalog.NewService(ctx, path, db, func(ctx context.Context) ([]rolegate.ExistingRole, error) {
		roles, err := upstream.ListRoles(ctx)
		if err != nil {
			return nil, err
		}
		var out []rolegate.ExistingRole
		for _, r := range roles {
			out = append(out, rolegate.ExistingRole{ID: r.ID, Name: r.Name, Permissions: r.Permissions, Predefined: r.Predefined})
		}
		return out, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return svc, db, sim
}

func TestServiceRefreshReadsTheOrganizationAndRecordsIt(t *testing.T) {
	ctx := context.Background()
	svc, db, sim := service(t, "")
	if _, at := svc.Roles(); !at.IsZero() {
		t.Fatalf("a fresh database has refreshed roles")
	}
	before := svc.Catalog().Len()
	if err := svc.Refresh(ctx, rolegate.System("test")); err != nil {
		t.Fatal(err)
	}
	roles, at := svc.Roles()
	if len(roles) != len(sim.Roles()) || at.IsZero() {
		t.Errorf("after Refresh: %d roles at %s; want %d and a time", len(roles), at, len(sim.Roles()))
	}
	if got, want := svc.Catalog().Len(), len(simulator.DefaultPermissions()); got != want || got > before {
		t.Errorf("catalog after Refresh has %d permissions; want %d (the file had %d)", got, want, before)
	}
	raw, err := sql.Open("sqlite", "file:"+db.Path()+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	var n int
	if err := raw.QueryRow(`SELECT COUNT(*) FROM audit_events WHERE action = ?`, rolegate.ActionCatalogRefreshed).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Errorf("%d %s events; want 1", n, rolegate.ActionCatalogRefreshed)
	}

	// A second service on the same database starts from the cached roles.
	again, err := catalog.NewService(ctx, "", db, func(context.Context) ([]rolegate.ExistingRole, error) {
		return nil, fmt.Errorf("not called at start")
	})
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := again.Roles(); len(got) != len(roles) {
		t.Errorf("a restarted service knows %d roles; want the cached %d", len(got), len(roles))
	}
}

func TestServiceRefreshFailureKeepsTheCatalog(t *testing.T) {
	ctx := context.Background()
	svc, _, sim := service(t, "")
	if err := svc.Refresh(ctx, rolegate.System("test")); err != nil {
		t.Fatal(err)
	}
	roles, at := svc.Roles()
	sim.FailNext(1, simulator.Fault{Op: simulator.OpList, Kind: simulator.FaultServerError})
	if err := svc.Refresh(ctx, rolegate.System("test")); err == nil {
		t.Fatalf("Refresh with the upstream failing = nil; want an error")
	}
	if got, gotAt := svc.Roles(); len(got) != len(roles) || !gotAt.Equal(at) {
		t.Errorf("after a failed refresh: %d roles at %s; want the %d from %s", len(got), gotAt, len(roles), at)
	}
}

func TestServiceOverlaps(t *testing.T) {
	ctx := context.Background()
	svc, _, _ := service(t, "")
	if err := svc.Refresh(ctx, rolegate.System("test")); err != nil {
		t.Fatal(err)
	}
	var reads []string
	for _, p := range simulator.DefaultPermissions() {
		if strings.HasSuffix(p, ".read") {
			reads = append(reads, p)
		}
	}
	// The simulated organization's owner grants everything, its reader
	// every read permission.
	tests := []struct {
		perms []string
		want  string // name:exact, closest first
	}{
		{[]string{"api.groups.read"}, "reader:false owner:false"},
		{reads, "reader:true owner:false"},
		{simulator.DefaultPermissions(), "owner:true"},
		{[]string{"api.groups.write"}, "owner:false"},
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
	svc, _, _ := service(t, path)
	if got := svc.Catalog().Len(); got != 1 {
		t.Errorf("catalog from a one-entry file has %d permissions; want 1", got)
	}
	bad := filepath.Join(t.TempDir(), "bad.json")
	if err := os.WriteFile(bad, bytes.Repeat([]byte("x"), 10), 0o600); err != nil {
		t.Fatal(err)
	}
	db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "other.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := catalog.NewService(context.Background(), bad, db, nil); err == nil {
		t.Errorf("NewService with a malformed file = nil error")
	}
	if _, err := catalog.NewService(context.Background(), filepath.Join(t.TempDir(), "missing.json"), db, nil); err == nil {
		t.Errorf("NewService with a missing file = nil error")
	}
}
