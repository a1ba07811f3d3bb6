package adminapi_test

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"

	"github.com/rolegate/rolegate/internal/adminapi"
	"github.com/rolegate/rolegate/internal/simulator"
)

// How the provisioning worker is meant to use CreateRole: on a Retryable
// error the role may exist already, so look for it before sending again.
func ExampleClient_CreateRole() {
	sim := simulator.New(simulator.Options{AdminKey: "sk-admin-example"})
	srv := httptest.NewServer(sim)
	defer srv.Close()
	sim.FailNext(1, simulator.Fault{Kind: simulator.FaultDropConnection, Op: simulator.OpCreate})

	c := adminapi.New(srv.URL+"/v1", adminapi.StaticKey("sk-admin-example"), srv.Client())
	ctx := context.Background()
	body := []byte(`{"role_name":"Auditors","permissions":["api.audit_logs.read"]}`)

	_, err := c.CreateRole(ctx, body)
	var e *adminapi.Error
	if errors.As(err, &e) && e.Kind == adminapi.Retryable {
		if role, found, err := c.FindRoleByName(ctx, "Auditors"); err == nil && found {
			fmt.Println("created after all:", role.Name)
		}
	}
	// Output: created after all: Auditors
}
