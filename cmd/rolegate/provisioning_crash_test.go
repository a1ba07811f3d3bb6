package main

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rolegate/rolegate/internal/simulator"
	"github.com/rolegate/rolegate/internal/testkit"
)

// The provisioning promises that only a real process can break: the real
// binary, built from this package, is killed with SIGKILL while its create
// call hangs upstream and started again on the same database; it ends the
// request Provisioned with exactly one role upstream. The upstream is the
// Admin API simulator in this test process, reached over real HTTP
// (OPENAI_BASE_URL), so faults can be injected and the roles counted.
func TestProvisioningAcrossProcesses(t *testing.T) {
	testkit.MultiProcess(t)
	bin := buildRolegate(t)

	kills := []struct {
		name    string
		fault   simulator.FaultKind
		creates int    // create calls upstream in all
		event   string // how the timeline says the role came to be
		project bool   // the role is a project's (POST /v1/projects/{id}/roles)
	}{
		{"killed while a create hangs unapplied", simulator.FaultHang, 2, "Created the role", false},
		{"killed while the answer to an applied create hangs", simulator.FaultHangAfterApply, 1, "already created", false},
		{"killed while a project create hangs unapplied", simulator.FaultHang, 2, "Created the role", true},
		{"killed while the answer to an applied project create hangs", simulator.FaultHangAfterApply, 1, "already created", true},
	}
	for _, tc := range kills {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			up := startCrashUpstream(t, crashKey, simulator.ProjectSeed{Name: "Payments"})
			up.sim.FailNext(1, simulator.Fault{Kind: tc.fault, Op: simulator.OpCreate})
			dir := t.TempDir()
			vars := crashEnv(dir, up.url)
			vars["OPENAI_ADMIN_KEY"] = crashKey
			vars["ROLEGATE_PROVISION_TIMEOUT"] = "2m" // the call hangs until the kill
			scope, perm := "", "api.groups.read"
			if tc.project {
				scope, perm = up.sim.Projects()[0].ID, "api.organization.projects.api_keys.read"
			}
			// The roles of the request's scope, and those of the other one,
			// which must stay without any.
			here, elsewhere := up.customRoles, up.projectRoles
			if tc.project {
				here, elsewhere = up.projectRoles, up.customRoles
			}

			first := startRolegate(t, bin, vars)
			id := first.fileAndApproveIn(scope, "Crash Test Reader", perm)
			first.waitFor("the create call to reach the upstream", func() bool { return up.sim.CreateCalls() == 1 })
			if tc.fault == simulator.FaultHangAfterApply {
				// The simulator counts the call when it arrives and applies
				// it a moment later: the kill must come after the apply.
				first.waitFor("the create to be applied upstream", func() bool { return len(here()) == 1 })
			}
			first.kill()

			second := startRolegate(t, bin, vars)
			page := second.waitForStatus(id, "provisioned")
			roles := here()
			if len(roles) != 1 {
				t.Fatalf("custom roles upstream in the request's scope = %+v; want exactly one", roles)
			}
			if other := elsewhere(); len(other) != 0 {
				t.Errorf("custom roles in the other scope = %+v; want none", other)
			}
			if tc.project && up.sim.LastCreatePath() != "/v1/projects/"+scope+"/roles" {
				t.Errorf("the last create went to %s; want the project's path", up.sim.LastCreatePath())
			}
			if got := crashRoleID.FindStringSubmatch(page); got == nil || got[1] != roles[0].ID {
				t.Errorf("the request page shows role id %v; want %s", got, roles[0].ID)
			}
			if n := up.sim.CreateCalls(); n != tc.creates {
				t.Errorf("CreateCalls() = %d; want %d", n, tc.creates)
			}
			if !strings.Contains(page, tc.event) {
				t.Errorf("the timeline does not say %q", tc.event)
			}
			if !strings.Contains(second.log.String(), "resuming jobs interrupted by a restart") {
				t.Errorf("the restarted portal did not log that it resumed the job:\n%s", second.log)
			}
			second.terminate()
			assertNoSecret(t, crashKey, first, second)
		})
	}

	t.Run("failures are shown and retried through the portal; a rotated key file is used at once", func(t *testing.T) {
		t.Parallel()
		const rotated = "sk-admin-crash-rotated-5d6e7f8091a2b3c4"
		up := startCrashUpstream(t, crashKey)
		dir := t.TempDir()
		keyFile := filepath.Join(dir, "admin-key")
		writeCrashKey(t, keyFile, crashKey)
		vars := crashEnv(dir, up.url)
		vars["OPENAI_ADMIN_KEY_FILE"] = keyFile
		vars["ROLEGATE_PROVISION_ATTEMPTS"] = "2"
		vars["ROLEGATE_PROVISION_BACKOFF"] = "10ms"
		p := startRolegate(t, bin, vars)

		// The budget is spent on 500s whose message echoes the key.
		up.sim.FailNext(2, simulator.Fault{Kind: simulator.FaultServerError, Op: simulator.OpCreate,
			Message: "Upstream trace: Authorization: Bearer " + crashKey})
		id := p.fileAndApprove("Budget Reader")
		page := p.waitForStatus(id, "failed")
		failure := crashFailure.FindStringSubmatch(page)
		if failure == nil || !strings.Contains(failure[1], "Gave up after 2 attempts") || !strings.Contains(failure[1], "[redacted]") {
			t.Errorf("the request page shows the problem %v; want the attempts spent and the upstream's message, redacted", failure)
		}
		if strings.Contains(page, "Retry provisioning") {
			t.Errorf("the requester is offered Retry provisioning")
		}
		admin := p.signIn("admin")
		if _, adminPage := admin.get(fmt.Sprintf("/requests/%d", id)); !strings.Contains(adminPage, "Retry provisioning") {
			t.Fatalf("the admin is not offered Retry provisioning")
		}
		if code, body, _ := admin.postWithToken(fmt.Sprintf("/requests/%d/retry", id), url.Values{}); code != http.StatusSeeOther {
			t.Fatalf("Retry provisioning = %d; want 303\n%s", code, body)
		}
		page = p.waitForStatus(id, "provisioned")
		if roles := up.customRoles(); len(roles) != 1 || !strings.Contains(page, roles[0].ID) {
			t.Errorf("custom roles upstream = %+v; want one, its id on the page", roles)
		}

		// The key is rotated upstream and in the file; the portal keeps running.
		up.sim.SetAdminKey(rotated)
		writeCrashKey(t, keyFile, rotated)
		up.sim.FailNext(1, simulator.Fault{Kind: simulator.FaultAlterStored, Op: simulator.OpCreate, Alter: func(r *simulator.Role) {
			r.Permissions = append(r.Permissions, "api.users.write")
		}})
		id = p.fileAndApprove("Mismatch Reader")
		page = p.waitForStatus(id, "failed")
		roles := up.customRoles()
		if len(roles) != 2 {
			t.Fatalf("custom roles upstream = %+v; want the second one created with the rotated key", roles)
		}
		if !strings.Contains(page, "The created role does not match what was approved") {
			t.Errorf("the timeline does not show the read-back mismatch")
		}
		if failure := crashFailure.FindStringSubmatch(page); failure == nil || !strings.Contains(failure[1], roles[1].ID) || !strings.Contains(failure[1], "api.users.write") {
			t.Errorf("the request page shows the problem %v; want the role id and the permission that differs", failure)
		}
		p.terminate()
		assertNoSecret(t, crashKey, p)
		assertNoSecret(t, rotated, p)
	})
}

const crashKey = "sk-admin-crash-0a1b2c3d4e5f60718293"

var (
	crashStatus  = regexp.MustCompile(`data-status="([a-z]+)"`)
	crashRoleID  = regexp.MustCompile(`<code id="role-id">([^<]+)</code>`)
	crashFailure = regexp.MustCompile(`id="failure">([^<]*)<`)
	crashHash    = regexp.MustCompile(`name="payload_hash" value="([0-9a-f]{64})"`)
)

// crashUpstream is the simulator served over HTTP by the test process.
type crashUpstream struct {
	sim *simulator.Simulator
	url string
}

func startCrashUpstream(t *testing.T, key string, projects ...simulator.ProjectSeed) *crashUpstream {
	sim := simulator.New(simulator.Options{AdminKey: key, Projects: projects})
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)
	return &crashUpstream{sim: sim, url: srv.URL + "/v1"}
}

func (u *crashUpstream) customRoles() []simulator.Role {
	var out []simulator.Role
	for _, r := range u.sim.Roles() {
		if !r.Predefined {
			out = append(out, r)
		}
	}
	return out
}

// projectRoles are the custom roles of every project upstream.
func (u *crashUpstream) projectRoles() []simulator.Role {
	var out []simulator.Role
	for _, p := range u.sim.Projects() {
		for _, r := range u.sim.ProjectRoles(p.ID) {
			if !r.Predefined {
				out = append(out, r)
			}
		}
	}
	return out
}

// crashEnv is a complete environment for dev mode (the dev sign-in) against
// an external upstream: nothing is inherited from the developer's shell.
func crashEnv(dir, upstreamURL string) map[string]string {
	return map[string]string{
		"PATH":         os.Getenv("PATH"),
		"HOME":         dir,
		"ROLEGATE_DEV": "1",
		// Dev mode against a key and an upstream of the test's own.
		"ROLEGATE_DEV_REAL_UPSTREAM": "1",
		"ROLEGATE_ADDR":              "127.0.0.1:0",
		"ROLEGATE_DB":                filepath.Join(dir, "rolegate.db"),
		"ROLEGATE_LOG_FORMAT":        "text",
		"OPENAI_BASE_URL":            upstreamURL,
	}
}

// writeCrashKey replaces the key file as a secret mount does.
func writeCrashKey(t *testing.T, path, key string) {
	t.Helper()
	if err := os.WriteFile(path+".tmp", []byte(key+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(path+".tmp", path); err != nil {
		t.Fatal(err)
	}
}

// rolegateProcess is one run of the binary.
type rolegateProcess struct {
	t      *testing.T
	cmd    *exec.Cmd
	log    *testkit.SyncBuffer // stdout and stderr
	dbPath string
	p      *portal // the HTTP helpers of portal_test.go, pointed at this process
	bodies *testkit.SyncBuffer
	exited chan struct{}
}

// buildRolegate builds the binary from this package into the test's
// temporary folder and returns its path.
func buildRolegate(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "rolegate")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// startRolegate runs the binary with exactly vars as its environment and
// waits until it serves; the test's end kills it if it still runs.
func startRolegate(t *testing.T, bin string, vars map[string]string) *rolegateProcess {
	t.Helper()
	cmd := exec.Command(bin)
	for k, v := range vars {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	proc := &rolegateProcess{t: t, cmd: cmd, log: &testkit.SyncBuffer{}, dbPath: vars["ROLEGATE_DB"], bodies: &testkit.SyncBuffer{}, exited: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = proc.log, proc.log
	crashDieWithParent(cmd)
	if err := cmd.Start(); err != nil {
		t.Fatalf("start rolegate: %v", err)
	}
	go func() {
		_ = cmd.Wait()
		close(proc.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-proc.exited:
		default:
			_ = cmd.Process.Kill()
			<-proc.exited
		}
	})
	var m []string
	testkit.WaitFor(t, "rolegate to start", func() bool {
		select {
		case <-proc.exited:
			t.Fatalf("rolegate exited at start:\n%s", proc.log)
		default:
		}
		m = startedAddr.FindStringSubmatch(proc.log.String())
		return m != nil
	}, proc.log.String)
	proc.p = &portal{t: t, URL: "http://" + m[1], DBPath: proc.dbPath, Log: proc.log}
	return proc
}

// signIn signs a dev persona in with a client that keeps every answer's
// body, to be searched for secrets at the end.
func (r *rolegateProcess) signIn(persona string) *visitor {
	r.t.Helper()
	v := r.p.visitor()
	v.Transport = keepBodies{into: r.bodies}
	if code, _, _ := v.post("/auth/dev", url.Values{"persona": {persona}}); code != http.StatusSeeOther {
		r.t.Fatalf("dev sign-in as %s = %d; want 303", persona, code)
	}
	return v
}

// fileAndApprove files a request as the requester and approves it as an
// approver, through HTTP, and returns its id.
func (r *rolegateProcess) fileAndApprove(roleName string) int64 {
	r.t.Helper()
	return r.fileAndApproveIn("", roleName, "api.groups.read")
}

// fileAndApproveIn is fileAndApprove in scope ("": the organization, or a
// project's id), asking for perm.
func (r *rolegateProcess) fileAndApproveIn(scope, roleName, perm string) int64 {
	r.t.Helper()
	id := fileRequest(r.t, r.signIn("requester"), scope, roleName, perm)
	approver := r.signIn("approver1")
	_, page := approver.get(fmt.Sprintf("/requests/%d", id))
	m := crashHash.FindStringSubmatch(page)
	if m == nil {
		r.t.Fatalf("the approver's page of request %d has no payload hash", id)
	}
	if code, body, _ := approver.postWithToken(fmt.Sprintf("/requests/%d/approve", id), url.Values{"payload_hash": {m[1]}}); code != http.StatusSeeOther {
		r.t.Fatalf("approve %d = %d; want 303\n%s", id, code, body)
	}
	return id
}

// fileRequest files, through v, a request for a new role named name in
// scope ("": the organization, or a project's id), asking for perm, and
// returns its id.
func fileRequest(t *testing.T, v *visitor, scope, name, perm string) int64 {
	t.Helper()
	code, body, hdr := v.postWithToken("/requests", url.Values{
		"scope": {scope}, "role_name": {name}, "permissions": {perm}, "justification": {"Needed for the quarterly access review."},
	})
	var id int64
	if _, err := fmt.Sscanf(hdr.Get("Location"), "/requests/%d", &id); code != http.StatusSeeOther || err != nil {
		t.Fatalf("file %q = %d %q; want 303 to the request\n%s", name, code, hdr.Get("Location"), body)
	}
	return id
}

// waitForStatus polls the request page, as its requester, until it shows
// status, and returns the page.
func (r *rolegateProcess) waitForStatus(id int64, status string) string {
	r.t.Helper()
	requester := r.signIn("requester")
	var page, last string
	r.waitFor("request "+fmt.Sprint(id)+" to be "+status, func() bool {
		_, page = requester.get(fmt.Sprintf("/requests/%d", id))
		if m := crashStatus.FindStringSubmatch(page); m != nil {
			last = m[1]
		}
		return last == status
	})
	return page
}

func (r *rolegateProcess) waitFor(what string, cond func() bool) {
	r.t.Helper()
	testkit.WaitFor(r.t, what, cond, r.log.String)
}

// kill ends the process with SIGKILL: no shutdown code runs.
func (r *rolegateProcess) kill() {
	r.t.Helper()
	if err := r.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		r.t.Fatalf("kill: %v", err)
	}
	<-r.exited
}

// terminate asks for a graceful stop and waits for it.
func (r *rolegateProcess) terminate() {
	r.t.Helper()
	if err := r.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		r.t.Fatalf("SIGTERM: %v", err)
	}
	select {
	case <-r.exited:
	case <-time.After(30 * time.Second):
		r.t.Fatalf("rolegate did not stop within 30s of SIGTERM:\n%s", r.log)
	}
	if code := r.cmd.ProcessState.ExitCode(); code != 0 {
		r.t.Errorf("rolegate exited with %d after SIGTERM:\n%s", code, r.log)
	}
}

// assertNoSecret checks that secret is in no answer, no log line, no table
// and no byte of the database files of the processes.
func assertNoSecret(t *testing.T, secret string, procs ...*rolegateProcess) {
	t.Helper()
	secret = strings.TrimPrefix(secret, "sk-admin-")
	for i, proc := range procs {
		if proc.bodies.String() == "" || proc.log.String() == "" {
			t.Fatalf("process %d: nothing captured to search", i+1)
		}
		for where, text := range map[string]string{
			"an HTTP answer":            proc.bodies.String(),
			"the log":                   proc.log.String(),
			"a table":                   dumpCrashTables(t, proc.dbPath),
			"the database file and WAL": testkit.DatabaseFiles(t, proc.dbPath),
		} {
			if strings.Contains(text, secret) {
				t.Errorf("process %d: the admin key appears in %s", i+1, where)
			}
		}
	}
}

// dumpCrashTables renders every row of every table as text.
func dumpCrashTables(t *testing.T, path string) string {
	t.Helper()
	dump := testkit.DumpTables(t, testkit.OpenReadOnly(t, path))
	if !strings.Contains(dump, "provisioning.") {
		t.Fatalf("the table dump holds no provisioning events; it proves nothing")
	}
	return dump
}

// keepBodies is a transport that copies every answer's body into a buffer.
type keepBodies struct{ into *testkit.SyncBuffer }

func (k keepBodies) RoundTrip(req *http.Request) (*http.Response, error) {
	res, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	body, err := io.ReadAll(res.Body)
	res.Body.Close()
	if err != nil {
		return nil, err
	}
	_, _ = k.into.Write(body)
	res.Body = io.NopCloser(bytes.NewReader(body))
	return res, nil
}
