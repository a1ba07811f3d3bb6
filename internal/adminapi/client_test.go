package adminapi_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rolegate/rolegate/internal/adminapi"
	"github.com/rolegate/rolegate/internal/simulator"
)

const testKey = "sk-admin-rolegate-test-0123456789abcdef"

// upstream is a simulator served over real HTTP, counting list requests.
type upstream struct {
	*simulator.Simulator
	srv   *httptest.Server
	lists atomic.Int32
	gets  atomic.Int32
}

func newUpstream(t *testing.T) *upstream {
	t.Helper()
	u := &upstream{Simulator: simulator.New(simulator.Options{AdminKey: testKey})}
	u.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Method == http.MethodGet && r.URL.Path == "/v1/organization/roles":
			u.lists.Add(1)
		case r.Method == http.MethodGet:
			u.gets.Add(1)
		}
		u.ServeHTTP(w, r)
	}))
	t.Cleanup(u.srv.Close)
	return u
}

func (u *upstream) client(key adminapi.KeySource, opts ...adminapi.Option) *adminapi.Client {
	return adminapi.New(u.srv.URL+"/v1", key, u.srv.Client(), opts...)
}

// asError requires err to be an *adminapi.Error that does not leak keys.
func asError(t *testing.T, err error, keys ...string) *adminapi.Error {
	t.Helper()
	if err == nil {
		t.Fatal("err = nil; want an *adminapi.Error")
	}
	var e *adminapi.Error
	if !errors.As(err, &e) {
		t.Fatalf("err = %T %v; want an *adminapi.Error", err, err)
	}
	for _, k := range append(keys, testKey) {
		for _, text := range []string{err.Error(), fmt.Sprintf("%+v", err), fmt.Sprintf("%#v", err), e.Message, e.Code} {
			if strings.Contains(text, k) {
				t.Errorf("error text holds the key %q: %s", k, text)
			}
		}
	}
	return e
}

func roleJSON(name string, perms ...string) []byte {
	return fmt.Appendf(nil, `{"role_name":%q,"permissions":["%s"]}`, name, strings.Join(perms, `","`))
}

func TestListRolesFollowsEveryPage(t *testing.T) {
	u := newUpstream(t)
	c := u.client(adminapi.StaticKey(testKey), adminapi.WithPageSize(2))
	for i := range 5 {
		if _, err := c.CreateRole(t.Context(), roleJSON(fmt.Sprint("custom-", i), "api.usage.read")); err != nil {
			t.Fatal(err)
		}
	}

	roles, err := c.ListRoles(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range roles {
		got = append(got, r.Name)
	}
	want := []string{"owner", "reader", "custom-0", "custom-1", "custom-2", "custom-3", "custom-4"}
	if !slices.Equal(got, want) {
		t.Errorf("ListRoles = %q; want %q", got, want)
	}
	if n := u.lists.Load(); n != 4 {
		t.Errorf("%d list requests; want 4 pages of at most 2", n)
	}
	if !roles[0].Predefined || roles[2].Predefined || roles[0].ResourceType != "api.organization" || len(roles[0].Permissions) == 0 {
		t.Errorf("roles lost their fields: %+v, %+v", roles[0], roles[2])
	}
}

func TestFindRoleByNameMatchesExactly(t *testing.T) {
	u := newUpstream(t)
	c := u.client(adminapi.StaticKey(testKey), adminapi.WithPageSize(1))
	created, err := c.CreateRole(t.Context(), roleJSON("Group Managers", "api.groups.write"))
	if err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name   string
		wantOK bool
	}{
		{"Group Managers", true},
		{"group managers", false},
		{"Group", false},
		{"reader", true},
	} {
		r, ok, err := c.FindRoleByName(t.Context(), tc.name)
		if err != nil || ok != tc.wantOK {
			t.Errorf("FindRoleByName(%q) = %v, %v; want found=%v", tc.name, ok, err, tc.wantOK)
		}
		if tc.name == "Group Managers" && r.ID != created.ID {
			t.Errorf("FindRoleByName(%q).ID = %q; want %q", tc.name, r.ID, created.ID)
		}
	}
}

func TestCreateRoleSendsTheApprovedBodyByteForByte(t *testing.T) {
	u := newUpstream(t)
	c := u.client(adminapi.StaticKey(testKey))
	// Spacing, member order, an escape and a trailing newline that any
	// re-encoding would change. The approval hash covers these exact bytes.
	body := []byte("{\n  \"permissions\" : [\"api.groups.read\",\"api.groups.write\"],\n  \"description\":\"Groups \\u0026 members\",\n  \"role_name\":\"Caf\\u00e9 admins\"\n}\n")

	role, err := c.CreateRole(t.Context(), body)
	if err != nil {
		t.Fatal(err)
	}
	if got := u.LastCreateBody(); string(got) != string(body) {
		t.Errorf("upstream received\n%q\nwant\n%q", got, body)
	}
	want := adminapi.Role{
		ID: role.ID, Name: "Café admins", Description: "Groups & members",
		Permissions: []string{"api.groups.read", "api.groups.write"}, ResourceType: "api.organization",
	}
	if !strings.HasPrefix(role.ID, "role_") || fmt.Sprint(role) != fmt.Sprint(want) {
		t.Errorf("CreateRole = %+v; want %+v", role, want)
	}
	if got, err := c.GetRole(t.Context(), role.ID); err != nil || fmt.Sprint(got) != fmt.Sprint(role) {
		t.Errorf("GetRole(%q) = %+v, %v; want %+v", role.ID, got, err, role)
	}
}

func TestDuplicateNameIsPermanentWithUpstreamMessage(t *testing.T) {
	u := newUpstream(t)
	c := u.client(adminapi.StaticKey(testKey))
	if _, err := c.CreateRole(t.Context(), roleJSON("Auditors", "api.audit_logs.read")); err != nil {
		t.Fatal(err)
	}

	_, err := c.CreateRole(t.Context(), roleJSON("Auditors", "api.usage.read"))
	e := asError(t, err)
	if e.Status != 400 || e.Kind != adminapi.Permanent {
		t.Errorf("duplicate: status %d kind %v; want 400 permanent", e.Status, e.Kind)
	}
	if want := "A role named 'Auditors' already exists in this organization. Role names must be unique."; e.Message != want {
		t.Errorf("Message = %q; want upstream's %q", e.Message, want)
	}
	if !strings.Contains(err.Error(), e.Message) || !strings.Contains(err.Error(), "400") {
		t.Errorf("Error() = %q; want the status and upstream's message", err)
	}
}

func TestPermanentFailures(t *testing.T) {
	u := newUpstream(t)
	c := u.client(adminapi.StaticKey(testKey))
	for _, tc := range []struct {
		name   string
		call   func() error
		status int
	}{
		{"unknown permission", func() error {
			_, err := c.CreateRole(t.Context(), roleJSON("x", "api.moon.write"))
			return err
		}, 400},
		{"not JSON", func() error { _, err := c.CreateRole(t.Context(), []byte("role_name=x")); return err }, 400},
		{"unknown role id", func() error { _, err := c.GetRole(t.Context(), "role_0000"); return err }, 404},
		{"empty role id", func() error { _, err := c.GetRole(t.Context(), ""); return err }, 0},
		{"wrong key", func() error {
			_, err := u.client(adminapi.StaticKey("sk-admin-wrong-0000000000000000")).ListRoles(t.Context())
			return err
		}, 401},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := asError(t, tc.call(), "sk-admin-wrong-0000000000000000")
			if e.Kind != adminapi.Permanent || e.Status != tc.status || e.Message == "" {
				t.Errorf("got %v kind %v status %d; want permanent %d with a message", e, e.Kind, e.Status, tc.status)
			}
		})
	}
}

func TestRateLimitIsRetryableAfterTheAskedDelay(t *testing.T) {
	u := newUpstream(t)
	c := u.client(adminapi.StaticKey(testKey))
	u.FailNext(1, simulator.Fault{Kind: simulator.FaultRateLimit, Op: simulator.OpCreate, RetryAfter: 7 * time.Second})

	_, err := c.CreateRole(t.Context(), roleJSON("Auditors", "api.audit_logs.read"))
	e := asError(t, err)
	if e.Kind != adminapi.Retryable || e.Status != 429 || e.RetryAfter != 7*time.Second || e.Code != "rate_limit_exceeded" {
		t.Errorf("got kind %v status %d RetryAfter %v code %q; want retryable 429 after 7s, rate_limit_exceeded", e.Kind, e.Status, e.RetryAfter, e.Code)
	}
	if n := u.CreateCalls(); n != 1 {
		t.Errorf("%d create requests; want 1 (the SDK must not retry)", n)
	}
	if len(u.Roles()) != 2 {
		t.Error("a rate-limited create created a role")
	}
}

// The SDK retries 5xx on its own by default; rolegate's worker owns retries,
// so every operation must make exactly one request.
func TestServerErrorsAreRetryableAndNeverRetriedHere(t *testing.T) {
	for _, tc := range []struct {
		op       simulator.Op
		call     func(*adminapi.Client) error
		requests func(*upstream) int
	}{
		{simulator.OpCreate, func(c *adminapi.Client) error {
			_, err := c.CreateRole(context.Background(), roleJSON("x", "api.usage.read"))
			return err
		}, func(u *upstream) int { return u.CreateCalls() }},
		{simulator.OpList, func(c *adminapi.Client) error { _, err := c.ListRoles(context.Background()); return err },
			func(u *upstream) int { return int(u.lists.Load()) }},
		{simulator.OpRetrieve, func(c *adminapi.Client) error { _, err := c.GetRole(context.Background(), "role_x"); return err },
			func(u *upstream) int { return int(u.gets.Load()) }},
	} {
		t.Run(string(tc.op), func(t *testing.T) {
			u := newUpstream(t)
			u.FailNext(1, simulator.Fault{Kind: simulator.FaultServerError, Op: tc.op})
			e := asError(t, tc.call(u.client(adminapi.StaticKey(testKey))))
			if e.Kind != adminapi.Retryable || e.Status != 500 || e.Message != "The server had an error while processing your request. Sorry about that!" {
				t.Errorf("got %v (kind %v); want retryable 500 with upstream's message", e, e.Kind)
			}
			if n := tc.requests(u); n != 1 {
				t.Errorf("%d requests; want 1", n)
			}
		})
	}
}

func TestAHangingUpstreamTimesOutRetryably(t *testing.T) {
	u := newUpstream(t)
	release := make(chan struct{})
	defer close(release)
	u.FailNext(1, simulator.Fault{Kind: simulator.FaultHang, Op: simulator.OpCreate, Release: release})
	c := u.client(adminapi.StaticKey(testKey), adminapi.WithTimeout(100*time.Millisecond))

	start := time.Now()
	_, err := c.CreateRole(t.Context(), roleJSON("Auditors", "api.audit_logs.read"))
	e := asError(t, err)
	if e.Kind != adminapi.Retryable || e.Status != 0 || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("got %v (kind %v, status %d); want a retryable deadline error without status", e, e.Kind, e.Status)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("took %v; want about the 100ms timeout", d)
	}
}

func TestCallerCancellationIsReportedAsSuch(t *testing.T) {
	u := newUpstream(t)
	u.FailNext(1, simulator.Fault{Kind: simulator.FaultHang, Op: simulator.OpList})
	c := u.client(adminapi.StaticKey(testKey))
	ctx, cancel := context.WithCancel(t.Context())
	time.AfterFunc(50*time.Millisecond, cancel)

	_, err := c.ListRoles(ctx)
	if e := asError(t, err); e.Kind != adminapi.Retryable || !errors.Is(err, context.Canceled) {
		t.Errorf("got %v (kind %v); want retryable, errors.Is context.Canceled", e, e.Kind)
	}
}

func TestADroppedConnectionIsRetryableAndTheRoleExists(t *testing.T) {
	u := newUpstream(t)
	u.FailNext(1, simulator.Fault{Kind: simulator.FaultDropConnection, Op: simulator.OpCreate})
	c := u.client(adminapi.StaticKey(testKey))

	_, err := c.CreateRole(t.Context(), roleJSON("Auditors", "api.audit_logs.read"))
	e := asError(t, err)
	if e.Kind != adminapi.Retryable || e.Status != 0 {
		t.Errorf("got %v (kind %v, status %d); want retryable without status", e, e.Kind, e.Status)
	}
	if n := u.CreateCalls(); n != 1 {
		t.Errorf("%d create requests; want 1: neither the SDK nor net/http may resend a POST", n)
	}
	// The outcome was unknown to the client, but the role was created:
	// this is how the worker finds out before it would send again.
	r, ok, err := c.FindRoleByName(t.Context(), "Auditors")
	if err != nil || !ok || !strings.HasPrefix(r.ID, "role_") {
		t.Errorf("FindRoleByName after the drop = %+v, %v, %v; want the created role", r, ok, err)
	}
}

func TestUnreachableUpstreamIsRetryable(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()

	_, err := adminapi.New(url+"/v1", adminapi.StaticKey(testKey), nil).ListRoles(t.Context())
	if e := asError(t, err); e.Kind != adminapi.Retryable || e.Status != 0 {
		t.Errorf("got %v (kind %v, status %d); want retryable without status", e, e.Kind, e.Status)
	}
}

func TestAnAnswerOutsideTheErrorShapeIsStillClassified(t *testing.T) {
	// A proxy in front of upstream answers with HTML and an HTTP-date.
	retryAt := time.Now().Add(90 * time.Second).UTC().Format(http.TimeFormat)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		w.Header().Set("Retry-After", retryAt)
		w.WriteHeader(http.StatusBadGateway)
		fmt.Fprint(w, "<html><body>502 Bad Gateway</body></html>")
	}))
	defer srv.Close()

	_, err := adminapi.New(srv.URL+"/v1", adminapi.StaticKey(testKey), srv.Client()).CreateRole(t.Context(), roleJSON("x", "api.usage.read"))
	e := asError(t, err)
	if e.Kind != adminapi.Retryable || e.Status != 502 || e.Message == "" {
		t.Errorf("got %v (kind %v, status %d); want retryable 502 with a message", e, e.Kind, e.Status)
	}
	if e.RetryAfter < 80*time.Second || e.RetryAfter > 91*time.Second {
		t.Errorf("RetryAfter = %v; want about 90s from the HTTP date", e.RetryAfter)
	}
}

func TestAnUpstreamEchoingTheKeyYieldsARedactedError(t *testing.T) {
	u := newUpstream(t)
	u.FailNext(1, simulator.Fault{
		Kind:    simulator.FaultServerError,
		Message: "Key " + testKey + " sent as Authorization: Bearer " + testKey + " looks like sk-admin-abcd****wxyz",
	})
	_, err := u.client(adminapi.StaticKey(testKey)).ListRoles(t.Context())

	e := asError(t, err, "abcd****wxyz")
	if want := "Key [redacted] sent as Authorization: Bearer [redacted] looks like [redacted]"; e.Message != want {
		t.Errorf("Message = %q; want %q", e.Message, want)
	}
}

func TestARotatedKeyFileIsUsedByTheNextCall(t *testing.T) {
	const oldKey = "sk-admin-old-aaaaaaaaaaaaaaaaaaaaaaaa"
	const newKey = "sk-admin-new-bbbbbbbbbbbbbbbbbbbbbbbb" // same length: size alone cannot tell them apart
	path := filepath.Join(t.TempDir(), "admin-key")
	if err := os.WriteFile(path, []byte(oldKey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	u := newUpstream(t)
	u.SetAdminKey(newKey) // upstream already rotated
	c := u.client(adminapi.FileKey(path))

	_, err := c.ListRoles(t.Context())
	e := asError(t, err, oldKey, newKey, oldKey[len(oldKey)-4:])
	if e.Status != 401 || e.Kind != adminapi.Permanent {
		t.Fatalf("with the old key: %v (kind %v); want a permanent 401", e, e.Kind)
	}
	if !strings.Contains(e.Message, adminapi.Redacted) {
		t.Errorf("Message = %q; want upstream's masked key replaced by %s", e.Message, adminapi.Redacted)
	}

	if err := os.WriteFile(path, []byte(newKey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ListRoles(t.Context()); err != nil {
		t.Errorf("after rewriting the key file: %v; want success without a restart", err)
	}
}

func TestAKeyThatCannotBeReadSendsNothing(t *testing.T) {
	u := newUpstream(t)
	c := u.client(adminapi.FileKey(filepath.Join(t.TempDir(), "missing")))

	_, err := c.CreateRole(t.Context(), roleJSON("x", "api.usage.read"))
	if e := asError(t, err); e.Kind != adminapi.Retryable || e.Status != 0 {
		t.Errorf("got %v (kind %v); want retryable, nothing sent", e, e.Kind)
	}
	if n := u.CreateCalls(); n != 0 {
		t.Errorf("%d create requests without a key; want 0", n)
	}
}

func TestAnUnusableBaseURLFailsPermanently(t *testing.T) {
	for _, base := range []string{"api.openai.com/v1", "ftp://example.com/v1", "http://"} {
		_, err := adminapi.New(base, adminapi.StaticKey(testKey), nil).ListRoles(t.Context())
		if e := asError(t, err); e.Kind != adminapi.Permanent {
			t.Errorf("New(%q): kind %v; want permanent", base, e.Kind)
		}
	}
}
