package simulator_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/rolegate/rolegate/internal/simulator"
)

func TestAFreshSimulatorLooksLikeAFreshOrganization(t *testing.T) {
	sim := newSimulator()
	list := decode[listBody](t, do(t, sim, http.MethodGet, "/v1/organization/roles", ""))

	if list.Object != "list" || list.HasMore || list.Next != nil {
		t.Errorf("list envelope = {object:%q has_more:%v next:%s}; want {list false null}", list.Object, list.HasMore, deref(list.Next))
	}
	if got := names(list.Data); !slices.Equal(got, []string{"owner", "reader"}) {
		t.Fatalf("roles = %q; want the predefined owner and reader", got)
	}
	for _, r := range list.Data {
		if r.Object != "role" || !r.PredefinedRole || r.ResourceType != "api.organization" || r.Description == "" {
			t.Errorf("predefined role %+v; want object role, predefined_role true, resource_type api.organization, a description", r)
		}
	}
	owner, reader := list.Data[0], list.Data[1]
	if !slices.Equal(owner.Permissions, simulator.DefaultPermissions()) {
		t.Errorf("owner permissions = %q; want every default permission", owner.Permissions)
	}
	for _, p := range reader.Permissions {
		if !strings.HasSuffix(p, ".read") {
			t.Errorf("reader holds %q; want read permissions only", p)
		}
	}
	if len(reader.Permissions) == 0 {
		t.Error("reader holds no permission")
	}
}

func TestDefaultPermissionsAreACoherentCatalog(t *testing.T) {
	perms := simulator.DefaultPermissions()
	if n := len(perms); n < 15 || n > 25 {
		t.Errorf("len(DefaultPermissions()) = %d; want 15 to 25", n)
	}
	shape := regexp.MustCompile(`^api\.[a-z_]+\.(read|write)$`)
	seen := map[string]bool{}
	for _, p := range perms {
		if !shape.MatchString(p) {
			t.Errorf("permission %q does not look like api.<resource>.<read|write>", p)
		}
		if seen[p] {
			t.Errorf("permission %q listed twice", p)
		}
		seen[p] = true
	}
	for _, p := range []string{"api.groups.read", "api.groups.write", "api.roles.read", "api.roles.write", "api.usage.read", "api.audit_logs.read"} {
		if !seen[p] {
			t.Errorf("DefaultPermissions() lacks %q", p)
		}
	}
	perms[0] = "mutated"
	if simulator.DefaultPermissions()[0] == "mutated" {
		t.Error("DefaultPermissions() hands out its own slice")
	}
}

func TestEveryRequestNeedsTheAdminKey(t *testing.T) {
	sim := newSimulator()
	wrong := "sk-admin-WRONGKEY-9876543210-zyxw"
	for _, tc := range []struct {
		name, authorization string
		wantCode            string
	}{
		{"no Authorization header", "", "<null>"},
		{"not a bearer token", "Basic " + adminKey, "<null>"},
		{"empty bearer token", "Bearer ", "<null>"},
		{"another key", "Bearer " + wrong, "invalid_api_key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, target := range []string{"GET /v1/organization/roles", "POST /v1/organization/roles", "GET /v1/organization/roles/role_x", "DELETE /v1/organization/roles/role_x"} {
				method, path, _ := strings.Cut(target, " ")
				e := wantError(t, doWithAuth(t, sim, method, path, `{}`, tc.authorization), http.StatusUnauthorized)
				if got := deref(e.Error.Code); got != tc.wantCode {
					t.Errorf("%s: code = %s; want %s", target, got, tc.wantCode)
				}
				if strings.Contains(e.Error.Message, wrong) || strings.Contains(e.Error.Message, adminKey) {
					t.Errorf("%s: message repeats the whole key: %q", target, e.Error.Message)
				}
			}
		})
	}
}

func TestWrongKeyIsEchoedMaskedLikeUpstream(t *testing.T) {
	// Upstream shows the tail of a wrong key; clients must redact it.
	e := wantError(t, doWithAuth(t, newSimulator(), "GET", "/v1/organization/roles", "", "Bearer sk-admin-abcdefghijklmnop1234"), http.StatusUnauthorized)
	if !strings.Contains(e.Error.Message, "sk-admin-****1234") {
		t.Errorf("message = %q; want the masked key sk-admin-****1234", e.Error.Message)
	}
}

func TestSetAdminKeyRotatesTheAcceptedKey(t *testing.T) {
	sim := newSimulator()
	sim.SetAdminKey("sk-admin-new-key-000000000000")

	wantError(t, do(t, sim, "GET", "/v1/organization/roles", ""), http.StatusUnauthorized)
	if a := doWithAuth(t, sim, "GET", "/v1/organization/roles", "", "Bearer sk-admin-new-key-000000000000"); a.Status != http.StatusOK {
		t.Errorf("new key: status %d; want 200", a.Status)
	}
}

func TestCreateRoleAnswersTheNewRole(t *testing.T) {
	sim := newSimulator()
	a := do(t, sim, "POST", "/v1/organization/roles",
		`{"role_name":"API Group Manager","permissions":["api.groups.read","api.groups.write"],"description":"Allows managing organization groups"}`)
	if a.Status != http.StatusOK {
		t.Fatalf("status %d; want 200\n%s", a.Status, a.Body)
	}
	got := decode[roleBody](t, a)
	want := roleBody{
		Object: "role", ID: got.ID, Name: "API Group Manager", Description: "Allows managing organization groups",
		Permissions: []string{"api.groups.read", "api.groups.write"}, ResourceType: "api.organization",
	}
	if !regexp.MustCompile(`^role_[0-9a-f]{24}$`).MatchString(got.ID) {
		t.Errorf("id = %q; want role_ and 24 hex digits", got.ID)
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("created role = %+v; want %+v", got, want)
	}

	roles := sim.Roles()
	last := roles[len(roles)-1]
	if len(roles) != 3 || last.ID != got.ID || last.Name != got.Name || last.Predefined {
		t.Errorf("Roles() = %+v; want the predefined two and the new custom role", roles)
	}
}

func TestCreateRoleWithoutDescriptionHasAnEmptyOne(t *testing.T) {
	sim := newSimulator()
	for i, body := range []string{
		`{"role_name":"r1","permissions":["api.usage.read"]}`,
		`{"role_name":"r2","permissions":["api.usage.read"],"description":null}`,
	} {
		got := decode[roleBody](t, do(t, sim, "POST", "/v1/organization/roles", body))
		if got.Description != "" {
			t.Errorf("case %d: description = %q; want empty", i, got.Description)
		}
	}
}

func TestRoleNamesAreUnique(t *testing.T) {
	sim := newSimulator()
	createRole(t, sim, "Auditors", "api.audit_logs.read")

	for _, body := range []string{
		`{"role_name":"Auditors","permissions":["api.usage.read"]}`,
		`{"role_name":"owner","permissions":["api.usage.read"]}`, // predefined names are taken too
	} {
		e := wantError(t, do(t, sim, "POST", "/v1/organization/roles", body), http.StatusBadRequest)
		var sent struct {
			RoleName string `json:"role_name"`
		}
		_ = json.Unmarshal([]byte(body), &sent)
		if !strings.Contains(e.Error.Message, "'"+sent.RoleName+"' already exists") || deref(e.Error.Param) != "role_name" || e.Error.Type != "invalid_request_error" {
			t.Errorf("duplicate %q: error = %+v; want invalid_request_error on role_name saying it already exists", sent.RoleName, e.Error)
		}
	}
	if n := len(sim.Roles()); n != 3 {
		t.Errorf("len(Roles()) = %d after refused duplicates; want 3", n)
	}
}

func TestCreateRoleRefusesInvalidBodies(t *testing.T) {
	for _, tc := range []struct {
		body, param, message string
	}{
		{`not json`, "<null>", "could not parse the JSON body"},
		{`["a"]`, "<null>", "could not parse the JSON body"},
		{`null`, "<null>", "could not parse the JSON body"},
		{`{"permissions":["api.usage.read"]}`, "role_name", "Missing required parameter: 'role_name'"},
		{`{"role_name":null,"permissions":["api.usage.read"]}`, "role_name", "Invalid type for 'role_name'"},
		{`{"role_name":7,"permissions":["api.usage.read"]}`, "role_name", "Invalid type for 'role_name'"},
		{`{"role_name":"  ","permissions":["api.usage.read"]}`, "role_name", "must not be empty"},
		{`{"role_name":"x"}`, "permissions", "Missing required parameter: 'permissions'"},
		{`{"role_name":"x","permissions":"api.usage.read"}`, "permissions", "Invalid type for 'permissions'"},
		{`{"role_name":"x","permissions":[1]}`, "permissions", "Invalid type for 'permissions'"},
		{`{"role_name":"x","permissions":[]}`, "permissions", "at least one permission"},
		{`{"role_name":"x","permissions":["api.moon.write"]}`, "permissions", "unknown permission 'api.moon.write'"},
		{`{"role_name":"x","permissions":["api.usage.read"],"description":5}`, "description", "Invalid type for 'description'"},
		{`{"role_name":"x","permissions":["api.usage.read"],"color":"red"}`, "color", "Unrecognized request argument supplied: color"},
	} {
		t.Run(tc.body, func(t *testing.T) {
			sim := newSimulator()
			e := wantError(t, do(t, sim, "POST", "/v1/organization/roles", tc.body), http.StatusBadRequest)
			if deref(e.Error.Param) != tc.param || !strings.Contains(e.Error.Message, tc.message) {
				t.Errorf("error = {param:%s message:%q}; want {param:%s message containing %q}", deref(e.Error.Param), e.Error.Message, tc.param, tc.message)
			}
			if n := len(sim.Roles()); n != 2 {
				t.Errorf("a refused create changed the roles: %d roles", n)
			}
		})
	}
}

func TestCreateRoleDropsRepeatedPermissions(t *testing.T) {
	got := createRole(t, newSimulator(), "x", "api.usage.read", "api.groups.read", "api.usage.read")
	if want := []string{"api.usage.read", "api.groups.read"}; !slices.Equal(got.Permissions, want) {
		t.Errorf("permissions = %q; want %q", got.Permissions, want)
	}
}

func TestRetrieveRole(t *testing.T) {
	sim := newSimulator()
	created := createRole(t, sim, "Readers of usage", "api.usage.read")

	got := decode[roleBody](t, do(t, sim, "GET", "/v1/organization/roles/"+created.ID, ""))
	if fmt.Sprint(got) != fmt.Sprint(created) {
		t.Errorf("retrieve = %+v; want %+v", got, created)
	}

	e := wantError(t, do(t, sim, "GET", "/v1/organization/roles/role_000000000000000000000000", ""), http.StatusNotFound)
	if !strings.Contains(e.Error.Message, "role_000000000000000000000000") {
		t.Errorf("404 message = %q; want it to name the id", e.Error.Message)
	}
}

func TestUpdateRoleChangesOnlyWhatIsGiven(t *testing.T) {
	sim := newSimulator()
	r := createRole(t, sim, "Groups", "api.groups.read")
	path := "/v1/organization/roles/" + r.ID

	got := decode[roleBody](t, do(t, sim, "POST", path, `{"description":"Manages groups","permissions":null}`))
	if got.Name != "Groups" || got.Description != "Manages groups" || !slices.Equal(got.Permissions, []string{"api.groups.read"}) {
		t.Errorf("after description update: %+v", got)
	}
	got = decode[roleBody](t, do(t, sim, "POST", path, `{"role_name":"Group admins","permissions":["api.groups.read","api.groups.write"]}`))
	if got.Name != "Group admins" || got.Description != "Manages groups" || len(got.Permissions) != 2 || got.ID != r.ID {
		t.Errorf("after rename: %+v", got)
	}
	// Keeping one's own name is not a clash.
	if a := do(t, sim, "POST", path, `{"role_name":"Group admins"}`); a.Status != http.StatusOK {
		t.Errorf("re-sending the same name: status %d\n%s", a.Status, a.Body)
	}
}

func TestUpdateRoleRefusals(t *testing.T) {
	sim := newSimulator()
	r := createRole(t, sim, "Groups", "api.groups.read")
	createRole(t, sim, "Taken", "api.groups.read")
	owner := sim.Roles()[0]

	for _, tc := range []struct {
		name, path, body string
		status           int
		message          string
	}{
		{"unknown id", "/v1/organization/roles/role_nope", `{"description":"x"}`, 404, "No role found"},
		{"predefined role", "/v1/organization/roles/" + owner.ID, `{"description":"x"}`, 400, "cannot be modified"},
		{"name taken", "/v1/organization/roles/" + r.ID, `{"role_name":"Taken"}`, 400, "already exists"},
		{"unknown permission", "/v1/organization/roles/" + r.ID, `{"permissions":["api.nope.read"]}`, 400, "unknown permission"},
		{"unknown member", "/v1/organization/roles/" + r.ID, `{"name":"x"}`, 400, "Unrecognized request argument"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := wantError(t, do(t, sim, "POST", tc.path, tc.body), tc.status)
			if !strings.Contains(e.Error.Message, tc.message) {
				t.Errorf("message = %q; want it to contain %q", e.Error.Message, tc.message)
			}
		})
	}
	if got := sim.Roles()[2]; got.Name != "Groups" || got.Description != "" {
		t.Errorf("a refused update changed the role: %+v", got)
	}
}

func TestDeleteRole(t *testing.T) {
	sim := newSimulator()
	r := createRole(t, sim, "Temporary", "api.usage.read")
	path := "/v1/organization/roles/" + r.ID

	got := decode[deletedBody](t, do(t, sim, "DELETE", path, ""))
	if got.Object != "role.deleted" || got.ID != r.ID || !got.Deleted {
		t.Errorf("delete = %+v; want {role.deleted %s true}", got, r.ID)
	}
	wantError(t, do(t, sim, "GET", path, ""), http.StatusNotFound)
	wantError(t, do(t, sim, "DELETE", path, ""), http.StatusNotFound)

	// The name is free again.
	createRole(t, sim, "Temporary", "api.usage.read")

	e := wantError(t, do(t, sim, "DELETE", "/v1/organization/roles/"+sim.Roles()[1].ID, ""), http.StatusBadRequest)
	if !strings.Contains(e.Error.Message, "predefined role 'reader' cannot be deleted") {
		t.Errorf("deleting reader: message %q", e.Error.Message)
	}
}

func TestListPagesThroughRolesWithACursor(t *testing.T) {
	sim := newSimulator()
	for i := range 5 {
		createRole(t, sim, fmt.Sprintf("custom-%d", i), "api.usage.read")
	}
	all := []string{"owner", "reader", "custom-0", "custom-1", "custom-2", "custom-3", "custom-4"}

	for _, tc := range []struct {
		order string
		want  []string
	}{
		{"", all},
		{"asc", all},
		{"desc", reversed(all)},
	} {
		t.Run("order="+tc.order, func(t *testing.T) {
			var got []string
			pages := 0
			query := url.Values{"limit": {"3"}}
			if tc.order != "" {
				query.Set("order", tc.order)
			}
			for {
				page := decode[listBody](t, do(t, sim, "GET", "/v1/organization/roles?"+query.Encode(), ""))
				pages++
				got = append(got, names(page.Data)...)
				if !page.HasMore {
					if page.Next != nil {
						t.Errorf("last page: next = %q; want null", *page.Next)
					}
					break
				}
				if page.Next == nil || *page.Next != page.Data[len(page.Data)-1].ID {
					t.Fatalf("page %d: next = %s; want the id of its last role", pages, deref(page.Next))
				}
				query.Set("after", *page.Next)
			}
			if pages != 3 || !slices.Equal(got, tc.want) {
				t.Errorf("%d pages of %q; want 3 pages of %q", pages, got, tc.want)
			}
		})
	}
}

func TestListWithoutLimitAnswersEverythingAtOnce(t *testing.T) {
	sim := newSimulator()
	for i := range 20 {
		createRole(t, sim, fmt.Sprint(i), "api.usage.read")
	}
	page := decode[listBody](t, do(t, sim, "GET", "/v1/organization/roles", ""))
	if len(page.Data) != 22 || page.HasMore {
		t.Errorf("got %d roles, has_more %v; want all 22 in one page (default limit 1000)", len(page.Data), page.HasMore)
	}
}

func TestListCursorSurvivesDeletingItsRole(t *testing.T) {
	sim := newSimulator()
	a := createRole(t, sim, "a", "api.usage.read")
	createRole(t, sim, "b", "api.usage.read")

	first := decode[listBody](t, do(t, sim, "GET", "/v1/organization/roles?limit=3", ""))
	if *first.Next != a.ID {
		t.Fatalf("next = %s; want %s", deref(first.Next), a.ID)
	}
	do(t, sim, "DELETE", "/v1/organization/roles/"+a.ID, "")
	rest := decode[listBody](t, do(t, sim, "GET", "/v1/organization/roles?limit=3&after="+a.ID, ""))
	if got := names(rest.Data); !slices.Equal(got, []string{"b"}) {
		t.Errorf("page after a deleted cursor = %q; want [b]", got)
	}
}

func TestListRefusesBadParameters(t *testing.T) {
	sim := newSimulator()
	for _, tc := range []struct{ query, param string }{
		{"limit=1001", "limit"},
		{"limit=-1", "limit"},
		{"limit=ten", "limit"},
		{"order=sideways", "order"},
		{"after=role_unknown", "after"},
	} {
		e := wantError(t, do(t, sim, "GET", "/v1/organization/roles?"+tc.query, ""), http.StatusBadRequest)
		if deref(e.Error.Param) != tc.param {
			t.Errorf("%s: param = %s; want %s", tc.query, deref(e.Error.Param), tc.param)
		}
	}
}

func TestUnknownURLsAnswerInTheErrorShape(t *testing.T) {
	sim := newSimulator()
	for _, target := range []string{"GET /v1/organization/invites", "PUT /v1/organization/roles", "PATCH /v1/organization/roles/role_x", "GET /"} {
		method, path, _ := strings.Cut(target, " ")
		e := wantError(t, do(t, sim, method, path, ""), http.StatusNotFound)
		if want := fmt.Sprintf("Invalid URL (%s %s)", method, path); e.Error.Message != want {
			t.Errorf("%s: message %q; want %q", target, e.Error.Message, want)
		}
	}
}

func TestCreateCallsAndLastCreateBodySeeEveryAttempt(t *testing.T) {
	sim := newSimulator()
	if sim.CreateCalls() != 0 || sim.LastCreateBody() != nil {
		t.Fatalf("fresh simulator: CreateCalls %d, LastCreateBody %q; want 0, nil", sim.CreateCalls(), sim.LastCreateBody())
	}
	body := "{ \"role_name\" : \"caf\\u00e9\",\n  \"permissions\":[\"api.usage.read\"] }"
	do(t, sim, "POST", "/v1/organization/roles", body)
	doWithAuth(t, sim, "POST", "/v1/organization/roles", `{"refused":"no key"}`, "")
	do(t, sim, "GET", "/v1/organization/roles", "")

	if n := sim.CreateCalls(); n != 2 {
		t.Errorf("CreateCalls() = %d; want 2 (refused creates count, lists do not)", n)
	}
	if got := string(sim.LastCreateBody()); got != `{"refused":"no key"}` {
		t.Errorf("LastCreateBody() = %q; want the last body as sent", got)
	}
	if got := sim.Roles()[2].Name; got != "café" {
		t.Errorf("created name = %q; want café", got)
	}
}

func TestConcurrentCreatesOfOneNameCreateOneRole(t *testing.T) {
	sim := newSimulator()
	var wg sync.WaitGroup
	statuses := make([]int, 20)
	for i := range statuses {
		wg.Go(func() {
			statuses[i] = do(t, sim, "POST", "/v1/organization/roles", `{"role_name":"race","permissions":["api.usage.read"]}`).Status
		})
	}
	for i := range 20 {
		wg.Go(func() {
			do(t, sim, "GET", "/v1/organization/roles", "")
			createRole(t, sim, fmt.Sprint("distinct-", i), "api.usage.read")
		})
	}
	wg.Wait()

	if ok := slices.Index(statuses, http.StatusOK); ok < 0 || slices.Index(statuses[ok+1:], http.StatusOK) >= 0 {
		t.Errorf("statuses = %v; want exactly one 200", statuses)
	}
	ids := map[string]bool{}
	for _, r := range sim.Roles() {
		ids[r.ID] = true
	}
	if len(ids) != 2+1+20 || sim.CreateCalls() != 40 {
		t.Errorf("%d distinct ids after %d creates; want 23 after 40", len(ids), sim.CreateCalls())
	}
}

func reversed(s []string) []string {
	out := slices.Clone(s)
	slices.Reverse(out)
	return out
}
