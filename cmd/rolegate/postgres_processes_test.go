package main

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rolegate/rolegate/internal/pgtest"
	"github.com/rolegate/rolegate/internal/simulator"
	"github.com/rolegate/rolegate/internal/testkit"
)

// Two real rolegate processes serve one organization from one PostgreSQL
// database (issue 19). Requests are filed and approved through both at
// once, with a session made on one node used on the other; the node whose
// worker is in the middle of the first create call upstream (applied
// there, its answer held back) is killed with SIGKILL. The other node
// takes the job over when its lease runs out, finds the role the dead
// node created and adopts it: every request ends provisioned, with exactly
// one role each upstream and no second create, and rolegate audit verify
// passes on the database both nodes appended to.
func TestTwoProcessesOnOnePostgres(t *testing.T) {
	testkit.MultiProcess(t)
	bin := buildRolegate(t)
	up := startTaggedUpstream(t, crashKey)
	// The first create is applied upstream and its answer held until the
	// caller gives up or dies.
	up.sim.FailNext(1, simulator.Fault{Kind: simulator.FaultHangAfterApply, Op: simulator.OpCreate})

	dir := t.TempDir()
	dbFile := filepath.Join(dir, "db-url")
	if err := os.WriteFile(dbFile, []byte(withPassword(t, pgtest.NewDatabase(t))), 0o600); err != nil {
		t.Fatal(err)
	}
	var nodes [2]*rolegateProcess
	for i := range nodes {
		vars := crashEnv(dir, up.urls[i])
		delete(vars, "ROLEGATE_DB")
		vars["ROLEGATE_DB_FILE"] = dbFile
		vars["OPENAI_ADMIN_KEY"] = crashKey
		// A short call timeout keeps the lease (four calls and 10 s) short:
		// the dead node's job is taken over when it runs out.
		vars["ROLEGATE_PROVISION_TIMEOUT"] = "2s"
		vars["ROLEGATE_PROVISION_BACKOFF"] = "50ms"
		nodes[i] = startRolegate(t, bin, vars)
	}

	// Four requests, filed two through each node; a session made on one
	// node serves on the other.
	requesterA := nodes[0].signIn("requester")
	requesterB := &visitor{p: nodes[1].p, Client: requesterA.Client}
	var ids []int64
	for i := range 4 {
		v := []*visitor{requesterA, requesterB}[i%2]
		ids = append(ids, fileRequest(t, v, "", fmt.Sprintf("Shared Reader %d", i), "api.groups.read"))
	}
	// Approved through both nodes at once, each by the node that did not
	// file it.
	approvers := [2]*visitor{nodes[0].signIn("approver1"), nil}
	approvers[1] = &visitor{p: nodes[1].p, Client: approvers[0].Client}
	type approval struct {
		v    *visitor
		id   int64
		form url.Values
		code int
		err  error
	}
	var approvals []*approval
	for i, id := range ids {
		v := approvers[(i+1)%2]
		_, page := v.get(fmt.Sprintf("/requests/%d", id))
		hash, token := crashHash.FindStringSubmatch(page), csrfField.FindStringSubmatch(page)
		if hash == nil || token == nil {
			t.Fatalf("the approver's page of request %d has no payload hash or CSRF token", id)
		}
		approvals = append(approvals, &approval{v: v, id: id, form: url.Values{"payload_hash": {hash[1]}, "csrf_token": {token[1]}}})
	}
	var wg sync.WaitGroup
	for _, a := range approvals {
		wg.Go(func() {
			req, _ := http.NewRequest(http.MethodPost, fmt.Sprintf("%s/requests/%d/approve", a.v.p.URL, a.id), strings.NewReader(a.form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("Origin", a.v.p.URL)
			res, err := a.v.Do(req)
			if err != nil {
				a.err = err
				return
			}
			res.Body.Close()
			a.code = res.StatusCode
		})
	}
	wg.Wait()
	for _, a := range approvals {
		if a.err != nil || a.code != http.StatusSeeOther {
			t.Fatalf("approve %d through %s = %d, %v; want 303", a.id, a.v.p.URL, a.code, a.err)
		}
	}

	// Kill the node whose worker holds the hung create, once the role it
	// asked for exists upstream.
	nodes[0].waitFor("the first create to be applied upstream", func() bool { return up.firstCreate.Load() >= 0 && len(up.customRoles()) >= 1 })
	victim, survivor := nodes[up.firstCreate.Load()], nodes[1-up.firstCreate.Load()]
	victim.kill()

	// The hung job waits for its lease to run out (18 s here) before the
	// survivor takes it over: patience beyond the usual.
	requester := survivor.signIn("requester")
	for _, id := range ids {
		var status string
		if !testkit.Poll(testkit.Patience+provisioningLease, 50*time.Millisecond, func() bool {
			_, page := requester.get(fmt.Sprintf("/requests/%d", id))
			if m := crashStatus.FindStringSubmatch(page); m != nil {
				status = m[1]
			}
			return status == "provisioned"
		}) {
			t.Fatalf("request %d is %s, not provisioned, after the lease ran out\nsurvivor's log:\n%s", id, status, survivor.log)
		}
	}
	if _, page := requester.get(fmt.Sprintf("/requests/%d", up.firstRequest(t, ids, requester))); !strings.Contains(page, "already created") {
		t.Errorf("the hung request's timeline does not say its role was found already created (adopted)")
	}
	roles := up.customRoles()
	var names []string
	for _, r := range roles {
		names = append(names, r.Name)
	}
	slices.Sort(names)
	if want := []string{"Shared Reader 0", "Shared Reader 1", "Shared Reader 2", "Shared Reader 3"}; !slices.Equal(names, want) {
		t.Errorf("custom roles upstream: %q; want exactly %q", names, want)
	}
	if n := up.sim.CreateCalls(); n != len(ids) {
		t.Errorf("%d create calls upstream; want %d (the hung one adopted, not sent again)", n, len(ids))
	}
	survivor.terminate()

	verify := exec.Command(bin, "audit", "verify")
	verify.Env = []string{"ROLEGATE_DB_FILE=" + dbFile, "HOME=" + dir}
	out, err := verify.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "audit trail verified") {
		t.Errorf("rolegate audit verify on the shared database: %v\n%s", err, out)
	}
	for i, n := range nodes {
		if log := n.log.String(); strings.Contains(log, testPassword) || strings.Contains(log, strings.TrimPrefix(crashKey, "sk-admin-")) {
			t.Errorf("node %d's log holds the database password or the admin key", i)
		}
	}
}

// provisioningLease is a claim's lease with ROLEGATE_PROVISION_TIMEOUT=2s
// (provisioning's lease: four calls and 10 s).
const provisioningLease = 4*2*time.Second + 10*time.Second

// taggedUpstream is one simulator reached by each node at a URL of its
// own, so that the test knows which node sent the first create.
type taggedUpstream struct {
	*crashUpstream
	urls [2]string
	// firstCreate is the node (0 or 1) that sent the first create; -1 before.
	firstCreate atomic.Int32
}

func startTaggedUpstream(t *testing.T, key string) *taggedUpstream {
	t.Helper()
	sim := simulator.New(simulator.Options{AdminKey: key})
	up := &taggedUpstream{crashUpstream: &crashUpstream{sim: sim}}
	up.firstCreate.Store(-1)
	for i := range up.urls {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/roles") {
				up.firstCreate.CompareAndSwap(-1, int32(i))
			}
			sim.ServeHTTP(w, r)
		}))
		t.Cleanup(srv.Close)
		up.urls[i] = srv.URL + "/v1"
	}
	up.url = up.urls[0]
	return up
}

// firstRequest is the request whose create was the first upstream (the
// hung one): the one named by the first role the simulator holds.
func (u *taggedUpstream) firstRequest(t *testing.T, ids []int64, v *visitor) int64 {
	t.Helper()
	first := u.customRoles()[0]
	for _, id := range ids {
		if _, page := v.get(fmt.Sprintf("/requests/%d", id)); strings.Contains(page, first.ID) {
			return id
		}
	}
	t.Fatalf("no request shows the first role created, %s", first.ID)
	return 0
}
