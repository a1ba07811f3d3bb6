package rolegate_test

import (
	"testing"

	"github.com/rolegate/rolegate/internal/rolegate"
)

func TestCallForNeverMixesTheScopes(t *testing.T) {
	for scope, want := range map[string]string{
		rolegate.ScopeOrganization: "POST /v1/organization/roles",
		"proj_abc":                 "POST /v1/projects/proj_abc/roles",
	} {
		if got := rolegate.CallFor(scope).String(); got != want {
			t.Errorf("CallFor(%q) = %s; want %s", scope, got, want)
		}
	}
}

// Version 1 binds the body alone and only for the organization's call;
// version 2 binds method, path and body, so the same body in another scope
// is another binding.
func TestBindingVersions(t *testing.T) {
	body := []byte(`{"role_name":"x","permissions":["p"]}`)
	v1, err := rolegate.Binding(rolegate.BindingBody, rolegate.ScopeOrganization, body)
	if err != nil || v1 != rolegate.PayloadHash(body) {
		t.Errorf("v1 for the organization = %s, %v; want the body's hash", v1, err)
	}
	if _, err := rolegate.Binding(rolegate.BindingBody, "proj_a", body); err == nil {
		t.Error("v1 for a project: no error; want one (it never covered a project's path)")
	}
	if _, err := rolegate.Binding(3, rolegate.ScopeOrganization, body); err == nil {
		t.Error("an unknown version: no error")
	}
	org, _ := rolegate.Binding(rolegate.BindingCall, rolegate.ScopeOrganization, body)
	a, _ := rolegate.Binding(rolegate.BindingCall, "proj_a", body)
	b, _ := rolegate.Binding(rolegate.BindingCall, "proj_b", body)
	other, _ := rolegate.Binding(rolegate.BindingCall, "proj_a", []byte(`{"role_name":"y","permissions":["p"]}`))
	seen := map[string]bool{v1: true}
	for _, h := range []string{org, a, b, other} {
		if len(h) != 64 || seen[h] {
			t.Errorf("binding %q is not a fresh SHA-256: the call's parts are not all bound", h)
		}
		seen[h] = true
	}
	post := rolegate.Call{Method: "DELETE", Path: "/v1/projects/proj_a/roles"}
	if rolegate.CallBinding(post, body) == a {
		t.Error("the method is not bound")
	}
}

func TestScopeProblemNamesTheProject(t *testing.T) {
	for _, tc := range []struct {
		id    string
		p     rolegate.Project
		found bool
		want  string
	}{
		{"", rolegate.Project{}, false, ""},
		{"proj_a", rolegate.Project{ID: "proj_a", Name: "A"}, true, ""},
		{"proj_a", rolegate.Project{ID: "proj_a", Name: "Alpha", Archived: true}, true,
			"The project Alpha (proj_a) is archived: no role can be created in it. Pick the organization or an active project."},
		{"proj_z", rolegate.Project{}, false,
			"The project proj_z is not one of the organization's projects as rolegate last read them; pick the organization or an active project."},
	} {
		if got := rolegate.ScopeProblem(tc.id, tc.p, tc.found); got != tc.want {
			t.Errorf("ScopeProblem(%q) = %q; want %q", tc.id, got, tc.want)
		}
	}
}
