package simulator_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/rolegate/rolegate/internal/simulator"
	"github.com/rolegate/rolegate/internal/testkit"
)

const createBody = `{"role_name":"Auditors","permissions":["api.audit_logs.read"]}`

// send makes one real HTTP request with the right key.
func send(ctx context.Context, t *testing.T, srv *httptest.Server, method, path, body string) (*http.Response, []byte, error) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, method, srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+adminKey)
	req.Header.Set("Content-Type", "application/json")
	res, err := srv.Client().Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	return res, b, err
}

func serve(t *testing.T) (*simulator.Simulator, *httptest.Server) {
	t.Helper()
	sim := newSimulator()
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)
	return sim, srv
}

func TestRateLimitFaultAnswers429WithRetryAfter(t *testing.T) {
	sim := newSimulator()
	sim.FailNext(1, simulator.Fault{Kind: simulator.FaultRateLimit, RetryAfter: 2500 * time.Millisecond})

	a := do(t, sim, "POST", "/v1/organization/roles", createBody)
	e := wantError(t, a, http.StatusTooManyRequests)
	if got := a.Header.Get("Retry-After"); got != "3" {
		t.Errorf("Retry-After = %q; want 3 (whole seconds, rounded up)", got)
	}
	if deref(e.Error.Code) != "rate_limit_exceeded" {
		t.Errorf("code = %s; want rate_limit_exceeded", deref(e.Error.Code))
	}
	if len(sim.Roles()) != 2 || sim.CreateCalls() != 1 {
		t.Errorf("a rate-limited create changed the roles (%d) or was not counted (%d)", len(sim.Roles()), sim.CreateCalls())
	}
	if a := do(t, sim, "POST", "/v1/organization/roles", createBody); a.Status != http.StatusOK {
		t.Errorf("the next create: status %d; want 200 once the fault is used up", a.Status)
	}
}

func TestRateLimitFaultWithoutRetryAfterSendsNoHeader(t *testing.T) {
	sim := newSimulator()
	sim.FailNext(1, simulator.Fault{Kind: simulator.FaultRateLimit, Message: "Slow down."})
	a := do(t, sim, "GET", "/v1/organization/roles", "")
	if e := wantError(t, a, http.StatusTooManyRequests); e.Error.Message != "Slow down." {
		t.Errorf("message = %q; want the fault's own", e.Error.Message)
	}
	if _, ok := a.Header["Retry-After"]; ok {
		t.Error("Retry-After sent without Fault.RetryAfter")
	}
}

func TestServerErrorFaultHitsTheNextNRequests(t *testing.T) {
	sim := newSimulator()
	sim.FailNext(2, simulator.Fault{Kind: simulator.FaultServerError})

	for i := range 2 {
		e := wantError(t, do(t, sim, "GET", "/v1/organization/roles", ""), http.StatusInternalServerError)
		if e.Error.Type != "server_error" {
			t.Errorf("request %d: type %q; want server_error", i, e.Error.Type)
		}
	}
	if a := do(t, sim, "GET", "/v1/organization/roles", ""); a.Status != http.StatusOK {
		t.Errorf("third request: status %d; want 200", a.Status)
	}
}

func TestFaultsWaitForTheirOperation(t *testing.T) {
	sim := newSimulator()
	sim.FailNext(1, simulator.Fault{Kind: simulator.FaultServerError, Op: simulator.OpCreate})
	sim.FailNext(1, simulator.Fault{Kind: simulator.FaultRateLimit, Op: simulator.OpRetrieve})

	if a := do(t, sim, "GET", "/v1/organization/roles", ""); a.Status != http.StatusOK {
		t.Errorf("list: status %d; want 200, no fault is aimed at it", a.Status)
	}
	wantError(t, do(t, sim, "GET", "/v1/organization/roles/role_x", ""), http.StatusTooManyRequests)
	wantError(t, do(t, sim, "POST", "/v1/organization/roles", createBody), http.StatusInternalServerError)
	if n := sim.PendingFaults(); n != 0 {
		t.Errorf("PendingFaults() = %d; want 0", n)
	}
}

func TestRefusedKeysDoNotUseUpFaults(t *testing.T) {
	sim := newSimulator()
	sim.FailNext(1, simulator.Fault{Kind: simulator.FaultServerError})
	wantError(t, doWithAuth(t, sim, "GET", "/v1/organization/roles", "", "Bearer sk-admin-other"), http.StatusUnauthorized)
	if n := sim.PendingFaults(); n != 1 {
		t.Errorf("PendingFaults() = %d after a 401; want 1", n)
	}
}

func TestHangFaultHoldsTheRequestUntilReleased(t *testing.T) {
	sim, srv := serve(t)
	release := make(chan struct{})
	sim.FailNext(1, simulator.Fault{Kind: simulator.FaultHang, Op: simulator.OpCreate, Release: release})

	type result struct {
		status int
		err    error
	}
	done := make(chan result, 1)
	go func() {
		res, _, err := send(context.Background(), t, srv, "POST", "/v1/organization/roles", createBody)
		if err != nil {
			done <- result{err: err}
			return
		}
		done <- result{status: res.StatusCode}
	}()

	// The request has arrived and holds once it has taken the fault.
	testkit.WaitFor(t, "the create to take the hang fault", func() bool { return sim.PendingFaults() == 0 })
	select {
	case r := <-done:
		t.Fatalf("answered while hung: %+v", r)
	default:
	}
	if len(sim.Roles()) != 2 {
		t.Error("the hung create was applied before its release")
	}
	close(release)
	if r := <-done; r.err != nil || r.status != http.StatusOK {
		t.Errorf("after release: %+v; want a normal 200", r)
	}
	if len(sim.Roles()) != 3 {
		t.Error("the released create was not applied")
	}
}

func TestHangFaultEndsWhenTheClientGivesUp(t *testing.T) {
	sim, srv := serve(t)
	sim.FailNext(1, simulator.Fault{Kind: simulator.FaultHang})

	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, _, err := send(ctx, t, srv, "GET", "/v1/organization/roles", "")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err = %v; want the client's deadline", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("took %v to give up", d)
	}
	// srv.Close in cleanup would block if the handler were still hanging.
}

func TestDropConnectionFaultAppliesTheCreateButNeverAnswers(t *testing.T) {
	sim, srv := serve(t)
	sim.FailNext(1, simulator.Fault{Kind: simulator.FaultDropConnection, Op: simulator.OpCreate})

	res, _, err := send(context.Background(), t, srv, "POST", "/v1/organization/roles", createBody)
	if err == nil {
		t.Fatalf("got an answer (%d); want the connection dropped", res.StatusCode)
	}
	roles := sim.Roles()
	if len(roles) != 3 || roles[2].Name != "Auditors" {
		t.Errorf("Roles() = %+v; want the create applied despite the drop", roles)
	}
	if n := sim.CreateCalls(); n != 1 {
		t.Errorf("CreateCalls() = %d; want 1 (nothing may resend a POST)", n)
	}

	// The simulator keeps serving afterwards.
	if res, _, err := send(context.Background(), t, srv, "GET", "/v1/organization/roles", ""); err != nil || res.StatusCode != http.StatusOK {
		t.Errorf("list after the drop: %v, %v", res, err)
	}
}

func TestHangAfterApplyFaultCreatesTheRoleAndNeverAnswersAGoneClient(t *testing.T) {
	sim, srv := serve(t)
	sim.FailNext(1, simulator.Fault{Kind: simulator.FaultHangAfterApply, Op: simulator.OpCreate})

	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_, _, err := send(ctx, t, srv, "POST", "/v1/organization/roles", createBody)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err = %v; want the client's deadline", err)
	}
	if roles := sim.Roles(); len(roles) != 3 || roles[2].Name != "Auditors" {
		t.Errorf("Roles() = %+v; want the create applied before the hang", roles)
	}
}

func TestHangAfterApplyFaultAnswersOnRelease(t *testing.T) {
	sim, srv := serve(t)
	release := make(chan struct{})
	sim.FailNext(1, simulator.Fault{Kind: simulator.FaultHangAfterApply, Op: simulator.OpCreate, Release: release})
	time.AfterFunc(50*time.Millisecond, func() { close(release) })

	res, body, err := send(context.Background(), t, srv, "POST", "/v1/organization/roles", createBody)
	if err != nil || res.StatusCode != http.StatusOK || !strings.Contains(string(body), `"name":"Auditors"`) {
		t.Fatalf("after release: %v %s; want the create's own 200 answer", err, body)
	}
	if n := len(sim.Roles()); n != 3 {
		t.Errorf("%d roles; want 3 (applied once)", n)
	}
}

func TestAlterStoredFaultAnswersAsAskedButStoresTheAlteredRole(t *testing.T) {
	sim, srv := serve(t)
	sim.FailNext(1, simulator.Fault{Kind: simulator.FaultAlterStored, Op: simulator.OpCreate, Alter: func(r *simulator.Role) {
		r.Permissions = append(r.Permissions, "api.users.write")
	}})

	res, body, err := send(context.Background(), t, srv, "POST", "/v1/organization/roles", createBody)
	if err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("create: %v %v", res, err)
	}
	if strings.Contains(string(body), "api.users.write") {
		t.Errorf("the create's answer shows the alteration: %s", body)
	}
	roles := sim.Roles()
	if got := roles[len(roles)-1].Permissions; len(got) != 2 || got[1] != "api.users.write" {
		t.Errorf("stored permissions = %v; want the altered ones", got)
	}
}
