package e2e

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	mathrand "math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rolegate/rolegate/internal/pgtest"
	"github.com/rolegate/rolegate/internal/simulator"
	"github.com/rolegate/rolegate/internal/sso/ssotest"
	"github.com/rolegate/rolegate/internal/testkit"
)

// The people of the identity provider. Everyone is staff (the requester
// group); the others hold one more group each.
var (
	riley = ssotest.User{Subject: "u-riley", Email: "riley@example.test", Name: "Riley Requester", Groups: []string{"staff"}}
	avery = ssotest.User{Subject: "u-avery", Email: "avery@example.test", Name: "Avery Approver", Groups: []string{"staff", "role-approvers"}}
	blake = ssotest.User{Subject: "u-blake", Email: "blake@example.test", Name: "Blake Approver", Groups: []string{"staff", "role-approvers"}}
	casey = ssotest.User{Subject: "u-casey", Email: "casey@example.test", Name: "Casey Auditor", Groups: []string{"staff", "role-auditors"}}
	drew  = ssotest.User{Subject: "u-drew", Email: "drew@example.test", Name: "Drew Admin", Groups: []string{"staff", "role-admins"}}
)

// portal is one running rolegate binary with its identity provider and its
// upstream, all on loopback.
type portal struct {
	t      *testing.T
	URL    string // ROLEGATE_BASE_URL, http://127.0.0.1:port
	IdP    *ssotest.Provider
	Sim    *simulator.Simulator
	SimURL string // the simulator's base, without /v1

	adminKey     string
	clientSecret string
	log          *testkit.SyncBuffer
}

// startPortal starts the binary under test with env added to (and
// overriding) the defaults below, and stops it when the test ends.
func startPortal(t *testing.T, env map[string]string) *portal {
	t.Helper()
	return startPortalWithProvider(t, env, ssotest.Profile{})
}

// startPortalWithProvider is startPortal with an identity provider that
// behaves like a real one of the given profile.
func startPortalWithProvider(t *testing.T, env map[string]string, profile ssotest.Profile) *portal {
	t.Helper()
	return startPortalWithProjects(t, env, profile, nil)
}

// startPortalWithProjects is startPortalWithProvider with an organization
// that has projects.
func startPortalWithProjects(t *testing.T, env map[string]string, profile ssotest.Profile, projects []simulator.ProjectSeed) *portal {
	t.Helper()
	return startPortalWithOrganization(t, env, profile, simulator.Options{Projects: projects})
}

// startPortalWithOrganization is startPortalWithProvider with the
// organization org describes (its projects, users and groups); the admin
// key is the portal's.
func startPortalWithOrganization(t *testing.T, env map[string]string, profile ssotest.Profile, org simulator.Options) *portal {
	t.Helper()
	bin := rolegateBinary(t)
	p := &portal{
		t:            t,
		adminKey:     "sk-admin-e2e-" + randomHex(16),
		clientSecret: "e2e-client-secret-" + randomHex(16),
		log:          &testkit.SyncBuffer{},
	}
	addr := freeLoopbackAddr(t)
	p.URL = "http://" + addr

	idp, err := ssotest.Start(ssotest.Options{
		ClientID: "rolegate-e2e", ClientSecret: p.clientSecret, RedirectURL: p.URL + "/auth/callback", Profile: profile,
	})
	if err != nil {
		t.Fatalf("start the identity provider: %v", err)
	}
	t.Cleanup(idp.Close)
	for _, u := range []ssotest.User{riley, avery, blake, casey, drew} {
		idp.AddUser(u)
	}
	p.IdP = idp

	org.AdminKey = p.adminKey
	p.Sim = simulator.New(org)
	simSrv := httptest.NewServer(p.Sim)
	t.Cleanup(simSrv.Close)
	p.SimURL = simSrv.URL

	vars := map[string]string{
		"ROLEGATE_ADDR":               addr,
		"ROLEGATE_BASE_URL":           p.URL,
		"ROLEGATE_DB":                 filepath.Join(t.TempDir(), "rolegate.db"),
		"ROLEGATE_OIDC_ISSUER":        idp.Issuer(),
		"ROLEGATE_OIDC_CLIENT_ID":     idp.ClientID(),
		"ROLEGATE_OIDC_CLIENT_SECRET": p.clientSecret,
		"ROLEGATE_REQUESTER_GROUPS":   "staff",
		"ROLEGATE_APPROVER_GROUPS":    "role-approvers",
		"ROLEGATE_AUDITOR_GROUPS":     "role-auditors",
		"ROLEGATE_ADMIN_GROUPS":       "role-admins",
		"OPENAI_ADMIN_KEY":            p.adminKey,
		"OPENAI_BASE_URL":             simSrv.URL + "/v1",
		"ROLEGATE_LOG_FORMAT":         "text",
	}
	if os.Getenv("E2E_POSTGRES") == "1" {
		vars["ROLEGATE_DB"] = pgtest.NewDatabase(t)
	}
	for k, v := range env {
		vars[k] = v
	}

	cmd := exec.Command(bin)
	cmd.Env = portalEnv(vars)
	cmd.Stdout, cmd.Stderr = p.log, p.log
	dieWithParent(cmd)
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", bin, err)
	}
	exited := make(chan struct{})
	var waitErr error
	go func() { waitErr = cmd.Wait(); close(exited) }()
	t.Cleanup(func() { p.stop(cmd, exited) })

	// Healthy, or gone: a binary that exits at start is told at once.
	testkit.WaitFor(t, "rolegate's /healthz to answer 200", func() bool {
		select {
		case <-exited:
			return true
		default:
			return healthy(p.URL)
		}
	}, p.log.String)
	select {
	case <-exited:
		t.Fatalf("rolegate exited before it was healthy (%v)\n%s", waitErr, p.log.String())
	default:
	}
	return p
}

// stop ends the portal gracefully (SIGTERM, as a container runtime would),
// then checks that its log kept the secrets, and saves the log when the
// test failed.
func (p *portal) stop(cmd *exec.Cmd, exited <-chan struct{}) {
	t := p.t
	_ = cmd.Process.Signal(os.Interrupt)
	select {
	case <-exited:
	case <-time.After(15 * time.Second):
		_ = cmd.Process.Kill()
		<-exited
		t.Errorf("rolegate did not stop within 15s of SIGINT; killed it")
	}
	logText := p.log.String()
	if strings.Contains(logText, "WARNING: DATA RACE") {
		t.Errorf("the race detector found a data race in the portal (see its log)")
	}
	for name, secret := range map[string]string{"the admin key": p.adminKey, "the OIDC client secret": p.clientSecret} {
		if strings.Contains(logText, secret) {
			t.Errorf("the portal's log shows %s", name)
		}
	}
	if t.Failed() {
		if dir := artifactDir(t); dir != "" {
			path := filepath.Join(dir, "portal.log")
			if err := os.WriteFile(path, []byte(logText), 0o644); err == nil {
				t.Logf("the portal's log is saved at %s", path)
			}
		}
	}
}

// createUpstreamRole creates a role in the simulated organization directly,
// as someone with the admin key would in OpenAI's dashboard.
func (p *portal) createUpstreamRole(t *testing.T, name string, perms ...string) {
	t.Helper()
	body := fmt.Sprintf(`{"role_name":%q,"permissions":[%s]}`, name, quoteAll(perms))
	p.upstream(t, http.MethodPost, "/v1/organization/roles", body, http.StatusOK)
}

// deleteUpstreamRole deletes a role of the simulated organization by name.
func (p *portal) deleteUpstreamRole(t *testing.T, name string) {
	t.Helper()
	for _, r := range p.Sim.Roles() {
		if r.Name == name {
			p.upstream(t, http.MethodDelete, "/v1/organization/roles/"+r.ID, "", http.StatusOK)
			return
		}
	}
	t.Fatalf("no role named %q upstream", name)
}

// upstreamRoleID is the id of the role named name in the simulated
// organization, "" when there is none.
func (p *portal) upstreamRoleID(name string) string {
	for _, r := range p.Sim.Roles() {
		if r.Name == name {
			return r.ID
		}
	}
	return ""
}

func (p *portal) upstream(t *testing.T, method, path, body string, want int) {
	t.Helper()
	req, err := http.NewRequest(method, p.SimURL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+p.adminKey)
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != want {
		t.Fatalf("%s %s = %d; want %d\n%s", method, path, res.StatusCode, want, b)
	}
}

func quoteAll(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = fmt.Sprintf("%q", s)
	}
	return strings.Join(q, ",")
}

// portalEnv is this process's environment without any rolegate or OpenAI
// setting (a developer's own must not leak into the test), plus vars.
func portalEnv(vars map[string]string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "ROLEGATE_") || strings.HasPrefix(kv, "OPENAI_") {
			continue
		}
		env = append(env, kv)
	}
	for k, v := range vars {
		env = append(env, k+"="+v)
	}
	return env
}

// freeLoopbackAddr finds a free port on 127.0.0.1 for the binary under
// test. The portal's URL must be known before it starts (it is the
// redirect URI registered at the provider), so the port is chosen here and
// bound later by the binary. It is drawn below the kernel's ephemeral range
// (see ip_local_port_range): a port the kernel hands out for a :0 listener
// or an outgoing connection (Chromium opens many) could otherwise take it
// in between, and the binary would fail with "address already in use".
func freeLoopbackAddr(t *testing.T) string {
	t.Helper()
	for range 200 {
		addr := fmt.Sprintf("127.0.0.1:%d", 20000+mathrand.IntN(12000))
		l, err := net.Listen("tcp", addr)
		if err != nil {
			continue // taken: draw again
		}
		l.Close()
		return addr
	}
	t.Fatal("found no free port on 127.0.0.1 between 20000 and 32000")
	return ""
}

// healthy says whether the portal at base answers /healthz with 200.
func healthy(base string) bool {
	client := &http.Client{Timeout: time.Second}
	res, err := client.Get(base + "/healthz")
	if err != nil {
		return false
	}
	res.Body.Close()
	return res.StatusCode == http.StatusOK
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
