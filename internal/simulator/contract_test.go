package simulator_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"
	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/rolegate/rolegate/internal/simulator"
)

// The contracts are copies of upstream's public OpenAPI excerpts (also in
// /shared/spec), kept here so the test runs from a bare clone: the
// organization roles, and the RBAC excerpt (projects, project roles and
// the rest of role-based access). Both are OpenAPI 3.1, which kin-openapi
// loads and, with EnableJSONSchema2020, validates (type: 'null', anyOf).
const (
	contractFile     = "testdata/openai-admin-roles.openapi.yaml"
	rbacContractFile = "testdata/openai-admin-rbac.openapi.yaml"
)

type contract struct {
	doc    *openapi3.T
	router routers.Router
}

func loadContract(t *testing.T) contract {
	t.Helper()
	return loadContractFile(t, contractFile)
}

func loadContractFile(t *testing.T, file string) contract {
	t.Helper()
	doc, err := openapi3.NewLoader().LoadFromFile(file)
	if err != nil {
		t.Fatalf("load %s: %v", file, err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.1") {
		t.Fatalf("%s is OpenAPI %s; the simulator follows 3.1 excerpts", file, doc.OpenAPI)
	}
	// Upstream's server is https://api.openai.com/v1; ours is wherever
	// httptest put it, under the same /v1 prefix.
	doc.Servers = openapi3.Servers{{URL: "/v1"}}
	router, err := legacy.NewRouter(doc)
	if err != nil {
		t.Fatalf("router for %s: %v", file, err)
	}
	return contract{doc: doc, router: router}
}

// bearerAuth satisfies AdminApiKeyAuth the way the contract states it: an
// Authorization header with a bearer token.
func bearerAuth(_ context.Context, in *openapi3filter.AuthenticationInput) error {
	if in.SecurityScheme.Type != "http" || in.SecurityScheme.Scheme != "bearer" {
		return fmt.Errorf("unexpected security scheme %s/%s", in.SecurityScheme.Type, in.SecurityScheme.Scheme)
	}
	token, ok := strings.CutPrefix(in.RequestValidationInput.Request.Header.Get("Authorization"), "Bearer ")
	if !ok || token == "" {
		return errors.New("no bearer token")
	}
	return nil
}

// checkRequest validates r against the contract, leaving r's body readable.
func (c contract) checkRequest(r *http.Request) (*openapi3filter.RequestValidationInput, error) {
	body, _ := io.ReadAll(r.Body)
	r.Body = io.NopCloser(bytes.NewReader(body))

	probe := r.Clone(r.Context())
	probe.Body = io.NopCloser(bytes.NewReader(body))
	route, params, err := c.router.FindRoute(probe)
	if err != nil {
		return nil, fmt.Errorf("no route in the contract: %w", err)
	}
	in := &openapi3filter.RequestValidationInput{
		Request:    probe,
		PathParams: params,
		Route:      route,
		Options: &openapi3filter.Options{
			AuthenticationFunc: bearerAuth,
			// The simulator must see the request as sent, without defaults filled in.
			SkipSettingDefaults: true,
			MultiError:          true,
		},
	}
	return in, openapi3filter.ValidateRequest(r.Context(), in)
}

// checkResponse validates an answer: documented statuses against their
// operation, and every error against ErrorResponse, which the excerpt only
// references for 429 but upstream uses for all errors.
func (c contract) checkResponse(in *openapi3filter.RequestValidationInput, status int, header http.Header, body []byte) error {
	out := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: in,
		Status:                 status,
		Header:                 header,
		Options:                &openapi3filter.Options{MultiError: true},
	}
	out.SetBodyBytes(body)
	if err := openapi3filter.ValidateResponse(context.Background(), out); err != nil {
		return err
	}
	if status < 400 {
		return nil
	}
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		return fmt.Errorf("error answer is not JSON: %w", err)
	}
	return c.doc.Components.Schemas["ErrorResponse"].Value.VisitJSON(v, openapi3.EnableJSONSchema2020(), openapi3.MultiErrors())
}

// conformance sits in front of the simulator and records every way a
// request or an answer strays from the contract.
type conformance struct {
	contract
	next http.Handler

	mu       sync.Mutex
	checked  int
	problems []string
}

func (c *conformance) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	in, err := c.checkRequest(r)
	if err != nil {
		c.report("request %s %s: %v", r.Method, r.URL, err)
	}
	rec := httptest.NewRecorder()
	c.next.ServeHTTP(rec, r)
	if in != nil {
		if err := c.checkResponse(in, rec.Code, rec.Header(), rec.Body.Bytes()); err != nil {
			c.report("answer %d to %s %s: %v\n%s", rec.Code, r.Method, r.URL, err, rec.Body.Bytes())
		}
	}
	for k, v := range rec.Header() {
		w.Header()[k] = v
	}
	w.WriteHeader(rec.Code)
	_, _ = w.Write(rec.Body.Bytes())

	c.mu.Lock()
	c.checked++
	c.mu.Unlock()
}

func (c *conformance) report(format string, args ...any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.problems = append(c.problems, fmt.Sprintf(format, args...))
}

// Everything the official SDK sends and everything the simulator answers,
// successes and errors, must fit the published contract.
func TestRequestsAndAnswersFollowTheContract(t *testing.T) {
	sim := newSimulator()
	check := &conformance{contract: loadContract(t), next: sim}
	srv := httptest.NewServer(check)
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
		RoleName: "API Group Manager", Permissions: []string{"api.groups.read", "api.groups.write"},
		Description: openai.String("Allows managing organization groups"),
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"b", "c", "d"} {
		if _, err := roles.New(ctx, openai.AdminOrganizationRoleNewParams{RoleName: name, Permissions: []string{"api.usage.read"}}); err != nil {
			t.Fatal(err)
		}
	}
	for _, order := range []openai.AdminOrganizationRoleListParamsOrder{"asc", "desc"} {
		iter := roles.ListAutoPaging(ctx, openai.AdminOrganizationRoleListParams{Limit: openai.Int(2), Order: order})
		n := 0
		for iter.Next() {
			n++
		}
		if iter.Err() != nil || n != 6 {
			t.Errorf("listing %s: %d roles, %v", order, n, iter.Err())
		}
	}
	if _, err := roles.Get(ctx, created.ID); err != nil {
		t.Error(err)
	}
	if _, err := roles.Update(ctx, created.ID, openai.AdminOrganizationRoleUpdateParams{RoleName: openai.String("Group Managers")}); err != nil {
		t.Error(err)
	}
	if _, err := roles.Delete(ctx, created.ID); err != nil {
		t.Error(err)
	}

	// Errors: unknown id, duplicate name, invalid permission, rate limit, server error.
	_, _ = roles.Get(ctx, created.ID)
	_, _ = roles.New(ctx, openai.AdminOrganizationRoleNewParams{RoleName: "b", Permissions: []string{"api.usage.read"}})
	_, _ = roles.New(ctx, openai.AdminOrganizationRoleNewParams{RoleName: "e", Permissions: []string{"api.nope.read"}})
	sim.FailNext(1, simulator.Fault{Kind: simulator.FaultRateLimit, RetryAfter: time.Second})
	_, _ = roles.List(ctx, openai.AdminOrganizationRoleListParams{})
	sim.FailNext(1, simulator.Fault{Kind: simulator.FaultServerError})
	_, _ = roles.Get(ctx, "role_x")

	if check.checked < 16 {
		t.Errorf("only %d exchanges checked", check.checked)
	}
	for _, p := range check.problems {
		t.Error(p)
	}
}

// What the contract forbids, the simulator refuses, in the ErrorResponse shape.
func TestRequestsOutsideTheContractAreRefused(t *testing.T) {
	c := loadContract(t)
	sim := newSimulator()
	for _, tc := range []struct {
		name, method, target, body string
		status                     int
	}{
		{"no role_name", "POST", "/v1/organization/roles", `{"permissions":["api.usage.read"]}`, 400},
		{"role_name not a string", "POST", "/v1/organization/roles", `{"role_name":1,"permissions":["api.usage.read"]}`, 400},
		{"no permissions", "POST", "/v1/organization/roles", `{"role_name":"x"}`, 400},
		{"permissions not an array", "POST", "/v1/organization/roles", `{"role_name":"x","permissions":"api.usage.read"}`, 400},
		{"permission not a string", "POST", "/v1/organization/roles", `{"role_name":"x","permissions":[true]}`, 400},
		{"description not a string", "POST", "/v1/organization/roles", `{"role_name":"x","permissions":["api.usage.read"],"description":[]}`, 400},
		{"update role_name not a string", "POST", "/v1/organization/roles/" + sim.Roles()[0].ID, `{"role_name":false}`, 400},
		{"limit above 1000", "GET", "/v1/organization/roles?limit=1001", "", 400},
		{"negative limit", "GET", "/v1/organization/roles?limit=-1", "", 400},
		{"order outside the enum", "GET", "/v1/organization/roles?order=random", "", 400},
		{"no bearer key", "GET", "/v1/organization/roles", "", 401},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest(tc.method, tc.target, strings.NewReader(tc.body))
			req.Header.Set("Content-Type", "application/json")
			if tc.status != 401 {
				req.Header.Set("Authorization", "Bearer "+adminKey)
			}
			in, err := c.checkRequest(req)
			if err == nil {
				t.Fatalf("the contract accepts this request; the case is wrong")
			}
			rec := httptest.NewRecorder()
			sim.ServeHTTP(rec, req)
			if rec.Code != tc.status {
				t.Errorf("status = %d; want %d\n%s", rec.Code, tc.status, rec.Body)
			}
			if err := c.checkResponse(in, rec.Code, rec.Header(), rec.Body.Bytes()); err != nil {
				t.Errorf("refusal does not fit ErrorResponse: %v\n%s", err, rec.Body)
			}
		})
	}
}
