package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/rolegate/rolegate/internal/pgtest"
)

// The ratios run (issue 20): rolegate against the ceiling of its own stack
// on this machine, in the same run, so that the figures hold on any
// hardware. Two tiny programs are the ceilings (ceiling/hello, a bare Echo
// route; ceiling/rawcommit, durable single-row commits with internal/sqlite's
// settings behind the same Echo), and each pair is measured A/B/A/B with the
// same generator, connections and phase length, so that a neighbour's burst
// of CPU lands on both sides rather than on one.

// ceiling is one of the two ceiling programs, on a free loopback port.
type ceiling struct {
	URL    string
	cmd    *exec.Cmd
	exited chan error
}

// startCeiling execs bin with args and waits for its "listening URL" line.
func startCeiling(ctx context.Context, bin string, args ...string) (*ceiling, error) {
	c := &ceiling{cmd: exec.Command(bin, args...), exited: make(chan error, 1)}
	c.cmd.Stderr = os.Stderr
	out, err := c.cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := c.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	listening := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if f := strings.Fields(sc.Text()); len(f) >= 2 && f[0] == "listening" {
				select {
				case listening <- f[1]:
				default:
				}
			}
		}
		_, _ = io.Copy(io.Discard, out)
		c.exited <- c.cmd.Wait()
	}()
	select {
	case u := <-listening:
		c.URL = u
		return c, nil
	case err := <-c.exited:
		return nil, fmt.Errorf("%s exited at start: %v", bin, err)
	case <-time.After(30 * time.Second):
	case <-ctx.Done():
	}
	c.kill()
	return nil, fmt.Errorf("%s did not start", bin)
}

func (c *ceiling) kill() {
	_ = c.cmd.Process.Kill()
	<-c.exited
}

func (c *ceiling) meter() cpuMeter { return newMeter(c.cmd.Process.Pid, filepath.Base(c.cmd.Path)) }

// side is one side of an A/B comparison: what it is and how to load it.
type side struct {
	name   string
	target vegeta.Targeter
	meter  func() cpuMeter
}

// alternate loads a and b in turn, rounds times each (A/B/A/B), with the
// same connections and phase length, and returns the ratio of a's
// successful throughput to b's over all rounds.
func alternate(a func(round int) side, b side, conns int, d time.Duration, rounds int, target string) float64 {
	var sumA, sumB float64
	for r := range rounds {
		for _, s := range []side{a(r), b} {
			fmt.Printf("  round %d, %s:\n", r+1, s.name)
			m := s.meter()
			res := attack(s.target, vegeta.ConstantPacer{}, conns, conns, d, s.name)
			report(res, m.stop(), "")
			if s.name == b.name {
				sumB += res.Throughput
			} else {
				sumA += res.Throughput
			}
		}
	}
	ratio := 0.0
	if sumB > 0 {
		ratio = sumA / sumB
	}
	fmt.Printf("  ratio: %.0f/s vs %.0f/s (means of %d rounds) = %.1f%%   %s\n",
		sumA/float64(rounds), sumB/float64(rounds), rounds, ratio*100, target)
	return ratio
}

func runRatios(ctx context.Context, o options) error {
	if o.hello == "" || o.rawCommit == "" {
		return errors.New("-ratios needs -hello and -rawcommit (scripts/loadtest.sh builds them)")
	}
	if o.dir == "" {
		d, err := os.MkdirTemp("", "rolegate-ratios-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(d)
		o.dir = d
	}
	printMachine()
	// rolegate's database and the raw commits' sit side by side: two SQLite
	// files on one disk, or two databases of one PostgreSQL cluster.
	db, rawDB := filepath.Join(o.dir, "rolegate.db"), filepath.Join(o.dir, "rawcommit.db")
	if o.postgres {
		cluster, err := startDatabaseCluster()
		if err != nil {
			return err
		}
		defer cluster.Stop()
		if db, err = cluster.CreateDatabase(ctx, "rolegate"); err != nil {
			return err
		}
		if rawDB, err = cluster.CreateDatabase(ctx, "rawcommit"); err != nil {
			return err
		}
	} else if err := seedTrail(ctx, db, 0); err != nil {
		return fmt.Errorf("create the database: %w", err)
	}
	adminKey := "sk-admin-load-" + randomHex(16)
	up, err := startUpstream(adminKey)
	if err != nil {
		return err
	}
	defer up.Close()
	p, err := startPortal(ctx, o.bin, db, up.URL, adminKey, filepath.Join(o.dir, "rolegate.log"))
	if err != nil {
		return err
	}
	defer p.kill()
	hello, err := startCeiling(ctx, o.hello)
	if err != nil {
		return err
	}
	defer hello.kill()
	raw, err := startCeiling(ctx, o.rawCommit, "-db", rawDB)
	if err != nil {
		return err
	}
	defer raw.kill()
	where := "databases in " + o.dir
	if o.postgres {
		where = "databases on PostgreSQL (pid " + strconv.Itoa(databasePID) + "; its CPU is counted apart)"
	}
	fmt.Printf("  rolegate %s, hello %s, rawcommit %s; %s\n", p.URL, hello.URL, raw.URL, where)

	section("Sessions and data")
	client := &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	const rounds = 2
	// Posts are throttled per session (a burst of 60, then 2/s): each
	// flat-out round gets sessions of its own.
	perSession := 60 + 2*o.duration.Seconds()
	pool := int(3000*o.duration.Seconds()/perSession) + 1
	filers := o.approvals/50 + 1
	requesters, ip, err := signInMany(p.URL, "requester", 1+rounds*pool+filers, 10)
	if err != nil {
		return err
	}
	approvers, _, err := signInMany(p.URL, "approver1", o.approvals/50+1, ip)
	if err != nil {
		return err
	}
	fmt.Printf("  signed in %d requester and %d approver sessions\n", len(requesters), len(approvers))
	pageID, err := fileRequest(client, p.URL, requesters[0], "Load Page Role")
	if err != nil {
		return err
	}
	if err := approveAndWait(client, p.URL, approvers[0], requesters[0], up, pageID, "Load Page Role"); err != nil {
		return err
	}
	fmt.Printf("  the request page measured: /requests/%d (provisioned, with its timeline)\n", pageID)

	section(fmt.Sprintf("Request page vs bare Echo hello: %d connections, %s each, A/B × %d", o.conns, o.duration, rounds))
	pageTarget := vegeta.NewStaticTargeter(vegeta.Target{
		Method: http.MethodGet, URL: fmt.Sprintf("%s/requests/%d", p.URL, pageID),
		Header: http.Header{"Cookie": {requesters[0].Cookie}},
	})
	pageRatio := alternate(
		func(int) side { return side{"rolegate GET /requests/:id", pageTarget, p.meter} },
		side{"hello GET /", vegeta.NewStaticTargeter(vegeta.Target{Method: http.MethodGet, URL: hello.URL + "/"}), hello.meter},
		o.conns, o.duration, rounds, "target ≥ 30%")

	section(fmt.Sprintf("Submitting flat out vs raw durable commits: %d connections, %s each, A/B × %d", o.conns, o.duration, rounds))
	var names, rawN atomic.Int64
	pools := requesters[1 : 1+rounds*pool]
	rawTarget := func(t *vegeta.Target) error {
		n := rawN.Add(1)
		t.Method, t.URL = http.MethodPost, raw.URL+"/commit"
		t.Body = []byte(url.Values{
			"role_name": {fmt.Sprintf("Load Role %d", n)}, "permissions": {"api.groups.read", "api.projects.read"},
			"description":   {"Read-only access for the dashboards."},
			"justification": {"The platform team's dashboards read groups and projects."},
		}.Encode())
		t.Header = http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}
		return nil
	}
	submitRatio := alternate(
		func(r int) side {
			return side{"rolegate POST /requests", submitTargeter(p.URL, pools[r*pool:(r+1)*pool], &names), p.meter}
		},
		side{"rawcommit POST /commit", rawTarget, raw.meter},
		o.conns, o.duration, rounds, "target ≥ 50%")

	section(fmt.Sprintf("Approval to upstream create call: %d approvals at %d/s", o.approvals, o.approvalRate))
	m := p.meter()
	p99, err := timePacedApprovals(client, p.URL, requesters[1+rounds*pool:], approvers, up, o.approvals, o.approvalRate)
	if err != nil {
		return err
	}
	u := m.stop()
	database := ""
	if databasePID != 0 {
		database = ", PostgreSQL " + secs(u.database)
	}
	fmt.Printf("  CPU: rolegate %s%s, load generator %s, other processes %s\n", secs(u.server), database, secs(u.generator), secs(u.others))

	section("Ratios")
	fmt.Printf("  %-58s %10s   %s\n", "figure", "measured", "target")
	fmt.Printf("  %-58s %9.1f%%   %s\n", "request page vs bare Echo hello", pageRatio*100, "≥ 30%")
	fmt.Printf("  %-58s %9.1f%%   %s\n", "submitting flat out vs raw durable commits", submitRatio*100, "≥ 50%")
	fmt.Printf("  %-58s %10s   %s\n", fmt.Sprintf("approving click → upstream create, p99 at %d/s", o.approvalRate), ms(p99), "< 10ms")
	fmt.Printf("\nload average at the end: %s\n", loadAverage())
	return nil
}

// startDatabaseCluster starts a throwaway PostgreSQL cluster with its
// durability on (fsync, synchronous commit: a ratio of commits means
// nothing without them) and notes its process for the CPU meters.
func startDatabaseCluster() (*pgtest.Cluster, error) {
	cluster, err := pgtest.StartDurable()
	if err != nil {
		return nil, fmt.Errorf("-postgres: %w", err)
	}
	if databasePID, err = cluster.PID(); err != nil {
		cluster.Stop()
		return nil, err
	}
	fmt.Printf("  PostgreSQL: a throwaway cluster with fsync and synchronous_commit on\n")
	return cluster, nil
}

// timePacedApprovals files n requests, reads each approver page first (for
// its payload hash), then sends the approving posts at rate per second,
// each without waiting for the previous, and measures from the moment a
// click is sent to the moment the upstream receives its create call. It
// returns the p99.
func timePacedApprovals(client *http.Client, base string, requesters, approvers []*session, up *upstream, n, rate int) (time.Duration, error) {
	ids := make([]int64, n)
	names := make([]string, n)
	hashes := make([]string, n)
	for i := range n {
		names[i] = fmt.Sprintf("Load Paced Approval Role %d", i)
		id, err := fileRequest(client, base, requesters[i/50], names[i])
		if err != nil {
			return 0, err
		}
		ids[i] = id
		_, page, err := approvers[i/50].get(client, fmt.Sprintf("%s/requests/%d", base, id))
		if err != nil {
			return 0, err
		}
		m := payloadHash.FindStringSubmatch(page)
		if m == nil {
			return 0, fmt.Errorf("no payload hash on request %d's page for the approver", id)
		}
		hashes[i] = m[1]
	}
	toUpstream := make([]time.Duration, n)
	answered := make([]time.Duration, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	tick := time.NewTicker(time.Second / time.Duration(rate))
	defer tick.Stop()
	for i := range n {
		<-tick.C
		wg.Go(func() {
			arrived := up.arrival(names[i])
			clicked := time.Now()
			res, err := approvers[i/50].post(client, base, fmt.Sprintf("/requests/%d/approve", ids[i]), url.Values{"payload_hash": {hashes[i]}})
			if err == nil && res.StatusCode != http.StatusSeeOther {
				err = fmt.Errorf("approve %d answered %d", ids[i], res.StatusCode)
			}
			if err != nil {
				errs[i] = err
				return
			}
			answered[i] = time.Since(clicked)
			select {
			case at := <-arrived:
				toUpstream[i] = at.Sub(clicked)
			case <-time.After(10 * time.Second):
				errs[i] = fmt.Errorf("no create call for %q within 10s of its approval", names[i])
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return 0, err
	}
	fmt.Printf("  click → create call at the upstream: %s   target p99 < 10ms\n", percentiles(toUpstream))
	fmt.Printf("  click → the approver's answer (303):  %s\n", percentiles(answered))
	s := append([]time.Duration(nil), toUpstream...)
	return quantile(s, .99), nil
}
