package simulator_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/rolegate/rolegate/internal/simulator"
)

const adminKey = "sk-admin-simulator-test-0123456789abcdef"

// answer is what the simulator said to one request.
type answer struct {
	Status int
	Header http.Header
	Body   []byte
}

// errorBody is the ErrorResponse shape, with nullable members as pointers
// so a test can tell null from "".
type errorBody struct {
	Error struct {
		Message string  `json:"message"`
		Type    string  `json:"type"`
		Param   *string `json:"param"`
		Code    *string `json:"code"`
	} `json:"error"`
}

type roleBody struct {
	Object         string   `json:"object"`
	ID             string   `json:"id"`
	Name           string   `json:"name"`
	Description    string   `json:"description"`
	Permissions    []string `json:"permissions"`
	ResourceType   string   `json:"resource_type"`
	PredefinedRole bool     `json:"predefined_role"`
}

type deletedBody struct {
	Object  string `json:"object"`
	ID      string `json:"id"`
	Deleted bool   `json:"deleted"`
}

type listBody struct {
	Object  string     `json:"object"`
	Data    []roleBody `json:"data"`
	HasMore bool       `json:"has_more"`
	Next    *string    `json:"next"`
}

func newSimulator() *simulator.Simulator {
	return simulator.New(simulator.Options{AdminKey: adminKey})
}

// do sends one request with the right key, in process.
func do(t *testing.T, h http.Handler, method, target, body string) answer {
	t.Helper()
	return doWithAuth(t, h, method, target, body, "Bearer "+adminKey)
}

func doWithAuth(t *testing.T, h http.Handler, method, target, body, authorization string) answer {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, target, r)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if authorization != "" {
		req.Header.Set("Authorization", authorization)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return answer{Status: rec.Code, Header: rec.Header(), Body: rec.Body.Bytes()}
}

func decode[T any](t *testing.T, a answer) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(a.Body, &v); err != nil {
		t.Fatalf("answer %d is not the expected JSON: %v\n%s", a.Status, err, a.Body)
	}
	return v
}

// wantError checks an answer is an ErrorResponse with the given status and
// returns its error member.
func wantError(t *testing.T, a answer, status int) errorBody {
	t.Helper()
	if a.Status != status {
		t.Fatalf("status = %d; want %d\n%s", a.Status, status, a.Body)
	}
	if ct := a.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q; want application/json", ct)
	}
	e := decode[errorBody](t, a)
	if e.Error.Message == "" || e.Error.Type == "" {
		t.Errorf("error answer lacks a message or type: %s", a.Body)
	}
	// The contract requires param and code to be present, even when null.
	var raw struct {
		Error map[string]json.RawMessage `json:"error"`
	}
	_ = json.Unmarshal(a.Body, &raw)
	for _, member := range []string{"message", "type", "param", "code"} {
		if _, ok := raw.Error[member]; !ok {
			t.Errorf("error answer lacks %q: %s", member, a.Body)
		}
	}
	return e
}

// createRole creates a custom role and returns it, failing the test otherwise.
func createRole(t *testing.T, h http.Handler, name string, perms ...string) roleBody {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"role_name": name, "permissions": perms})
	a := do(t, h, http.MethodPost, "/v1/organization/roles", string(body))
	if a.Status != http.StatusOK {
		t.Fatalf("create %q: status %d\n%s", name, a.Status, a.Body)
	}
	return decode[roleBody](t, a)
}

func names(roles []roleBody) []string {
	out := make([]string, len(roles))
	for i, r := range roles {
		out[i] = r.Name
	}
	return out
}

func deref(s *string) string {
	if s == nil {
		return "<null>"
	}
	return *s
}
