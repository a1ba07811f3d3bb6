package simulator_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/rolegate/rolegate/internal/simulator"
)

// Faults are queued and taken by the next matching requests, in order.
func ExampleSimulator_FailNext() {
	sim := simulator.New(simulator.Options{AdminKey: "sk-admin-example"})
	srv := httptest.NewServer(sim)
	defer srv.Close()

	// The next two list requests are rate limited; creates are not affected.
	sim.FailNext(2, simulator.Fault{Kind: simulator.FaultRateLimit, Op: simulator.OpList, RetryAfter: 5 * time.Second})

	for range 3 {
		req, _ := http.NewRequest("GET", srv.URL+"/v1/organization/roles", nil)
		req.Header.Set("Authorization", "Bearer sk-admin-example")
		res, err := srv.Client().Do(req)
		if err != nil {
			panic(err)
		}
		res.Body.Close()
		fmt.Println(res.StatusCode, res.Header.Get("Retry-After"))
	}
	// Output:
	// 429 5
	// 429 5
	// 200
}
