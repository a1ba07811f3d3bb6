package simulator_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
)

// The official SDK is what rolegate talks through, so the simulator must
// satisfy it end to end: auth, paging, every operation, and errors.
func TestOfficialSDKWorksAgainstTheSimulator(t *testing.T) {
	sim := newSimulator()
	srv := httptest.NewServer(sim)
	defer srv.Close()
	client := openai.NewClient(
		option.WithBaseURL(srv.URL+"/v1"),
		option.WithAdminAPIKey(adminKey),
		option.WithHTTPClient(srv.Client()),
		option.WithMaxRetries(0),
	)
	roles := client.Admin.Organization.Roles
	ctx := context.Background()

	created, err := roles.New(ctx, openai.AdminOrganizationRoleNewParams{
		RoleName:    "API Group Manager",
		Permissions: []string{"api.groups.read", "api.groups.write"},
		Description: openai.String("Allows managing organization groups"),
	})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if created.Name != "API Group Manager" || created.PredefinedRole || created.ResourceType != "api.organization" {
		t.Errorf("New answered %+v", created)
	}
	for _, name := range []string{"a", "b", "c"} {
		if _, err := roles.New(ctx, openai.AdminOrganizationRoleNewParams{RoleName: name, Permissions: []string{"api.usage.read"}}); err != nil {
			t.Fatalf("New(%q): %v", name, err)
		}
	}

	// Two per page over six roles: the auto-pager must follow "next".
	var listed []string
	iter := roles.ListAutoPaging(ctx, openai.AdminOrganizationRoleListParams{Limit: openai.Int(2)})
	for iter.Next() {
		listed = append(listed, iter.Current().Name)
	}
	if err := iter.Err(); err != nil {
		t.Fatalf("ListAutoPaging: %v", err)
	}
	want := []string{"owner", "reader", "API Group Manager", "a", "b", "c"}
	if !slices.Equal(listed, want) {
		t.Errorf("ListAutoPaging = %q; want %q", listed, want)
	}

	got, err := roles.Get(ctx, created.ID)
	if err != nil || got.ID != created.ID || got.Description != "Allows managing organization groups" {
		t.Errorf("Get(%q) = %+v, %v", created.ID, got, err)
	}

	updated, err := roles.Update(ctx, created.ID, openai.AdminOrganizationRoleUpdateParams{
		Permissions: []string{"api.groups.read"},
	})
	if err != nil || !slices.Equal(updated.Permissions, []string{"api.groups.read"}) || updated.Name != "API Group Manager" {
		t.Errorf("Update = %+v, %v; want only permissions changed", updated, err)
	}

	deleted, err := roles.Delete(ctx, created.ID)
	if err != nil || !deleted.Deleted || deleted.ID != created.ID {
		t.Errorf("Delete = %+v, %v", deleted, err)
	}

	_, err = roles.Get(ctx, created.ID)
	var apiErr *openai.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusNotFound || apiErr.Message == "" {
		t.Errorf("Get after Delete: err = %v; want a 404 *openai.Error with a message", err)
	}
}
