// Command loadtest measures rolegate against its performance targets on
// this machine, with the load generator beside it as the targets assume:
// it seeds a database with a large audit trail, starts the real binary in
// dev mode on a free loopback port against an Admin API simulator that
// notes when each create call arrives, signs test sessions in through the
// dev sign-in, and drives the portal with vegeta (github.com/tsenart/vegeta).
// It prints throughput and latency percentiles for each figure of
// docs/PERFORMANCE.md. Every phase is bounded in time and count; it only
// ever talks to 127.0.0.0/8.
//
// Run it with scripts/loadtest.sh, which builds the binary as the
// Dockerfile does.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

type options struct {
	bin         string
	dir         string
	events      int
	duration    time.Duration
	conns       int
	submitRate  int
	approvals   int
	auditSearch string
	auditExport string
	trail       string
	// The ratios run (ratios.go).
	ratios       bool
	hello        string
	rawCommit    string
	approvalRate int
	postgres     bool
}

func main() {
	var o options
	flag.StringVar(&o.bin, "bin", "", "the rolegate binary to measure (scripts/loadtest.sh builds it)")
	flag.StringVar(&o.dir, "dir", "", "working folder for the database and the portal's log (default: a new temp folder)")
	flag.IntVar(&o.events, "events", 1_000_000, "audit events to seed before the portal starts")
	flag.StringVar(&o.trail, "trail", "", "keep the seeded database in this file and copy it on later runs instead of seeding again")
	flag.DurationVar(&o.duration, "duration", 10*time.Second, "length of each load phase (at most 60s)")
	flag.IntVar(&o.conns, "conns", 32, "concurrent connections for the closed-loop phases")
	flag.IntVar(&o.submitRate, "submit-rate", 500, "submissions per second for the fixed-rate phase")
	flag.IntVar(&o.approvals, "approvals", 50, "approvals timed from click to upstream create call (at most 500)")
	flag.StringVar(&o.auditSearch, "audit-search", "/audit?action=request.approved", "a filtered audit search (skipped when the portal answers 404)")
	flag.StringVar(&o.auditExport, "audit-export", "/audit/export.csv", "the full CSV export (skipped when the portal answers 404)")
	flag.BoolVar(&o.ratios, "ratios", false, "measure the ratios of issue 20 instead: the request page vs a bare Echo hello, submissions vs raw durable commits (A/B/A/B), approvals paced at -approval-rate")
	flag.StringVar(&o.hello, "hello", "", "with -ratios: the bare Echo hello server (ceiling/hello; scripts/loadtest.sh builds it)")
	flag.StringVar(&o.rawCommit, "rawcommit", "", "with -ratios: the raw durable commit server (ceiling/rawcommit; scripts/loadtest.sh builds it)")
	flag.BoolVar(&o.postgres, "postgres", false, "with -ratios: run rolegate, and the raw commits, on a throwaway PostgreSQL cluster with its durability on (internal/pgtest; needs PostgreSQL installed)")
	flag.IntVar(&o.approvalRate, "approval-rate", 50, "with -ratios: approvals sent per second, each without waiting for the last (1-200)")
	flag.Parse()
	if o.bin == "" {
		fmt.Fprintln(os.Stderr, "loadtest: -bin is required; run scripts/loadtest.sh")
		os.Exit(2)
	}
	if o.duration <= 0 || o.duration > time.Minute || o.conns < 1 || o.conns > 256 || o.submitRate < 1 || o.submitRate > 5000 ||
		o.approvals < 1 || o.approvals > 500 || o.events < 0 || o.events > 5_000_000 || o.approvalRate < 1 || o.approvalRate > 200 {
		fmt.Fprintln(os.Stderr, "loadtest: a flag is out of its bounds (duration ≤ 60s, conns 1-256, submit-rate 1-5000, approvals 1-500, events ≤ 5,000,000, approval-rate 1-200)")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if o.postgres && !o.ratios {
		fmt.Fprintln(os.Stderr, "loadtest: -postgres goes with -ratios")
		os.Exit(2)
	}
	do := run
	if o.ratios {
		do = runRatios
	}
	if err := do(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "loadtest:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, o options) error {
	if o.dir == "" {
		d, err := os.MkdirTemp("", "rolegate-load-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(d)
		o.dir = d
	}
	printMachine()
	db := filepath.Join(o.dir, "rolegate.db")
	logPath := filepath.Join(o.dir, "rolegate.log")

	section("Seeding")
	t0 := time.Now()
	if o.trail != "" && fileExists(o.trail) {
		if err := copyFile(o.trail, db); err != nil {
			return fmt.Errorf("copy the seeded trail: %w", err)
		}
		fmt.Printf("  copied the seeded database %s\n", o.trail)
	} else {
		if err := seedTrail(ctx, db, o.events); err != nil {
			return fmt.Errorf("seed: %w", err)
		}
		if o.trail != "" {
			if err := copyFile(db, o.trail); err != nil {
				return fmt.Errorf("keep the seeded trail: %w", err)
			}
		}
	}
	fi, _ := os.Stat(db)
	fmt.Printf("  %d audit events in %s (database %s)\n", o.events, time.Since(t0).Round(time.Millisecond), mib(fi.Size()))

	adminKey := "sk-admin-load-" + randomHex(16)
	up, err := startUpstream(adminKey)
	if err != nil {
		return err
	}
	defer up.Close()

	section("Start-up (ready = first 200 from /readyz, from exec)")
	p, err := startPortal(ctx, o.bin, db, up.URL, adminKey, logPath)
	if err != nil {
		return err
	}
	fmt.Printf("  first start:   listening %-8s ready %s   (includes reading the organization's roles once)\n", ms(p.Listening), ms(p.Ready))
	if _, err := p.stop(); err != nil {
		return fmt.Errorf("stop after first start: %w", err)
	}
	var readies []time.Duration
	for range 3 {
		if p, err = startPortal(ctx, o.bin, db, up.URL, adminKey, logPath); err != nil {
			return err
		}
		readies = append(readies, p.Ready)
		if len(readies) < 3 {
			if _, err := p.stop(); err != nil {
				return err
			}
		}
	}
	defer func() {
		if p != nil {
			p.kill()
		}
	}()
	fmt.Printf("  restarts:      ready %s, %s, %s   with %d events in the database   target < 500ms\n", ms(readies[0]), ms(readies[1]), ms(readies[2]), o.events)

	section("Idle memory")
	time.Sleep(2 * time.Second)
	rss, _ := p.memory()
	fmt.Printf("  resident after start, idle 2s: %s   target < 40 MiB\n", mib(rss))
	printGoMemory(p)

	section("Sessions and data")
	client := &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	// The portal throttles posts per session (a burst of 60, then 2/s), so
	// the write phases spread over many sessions, as many people would.
	perSession := 60 + 2*o.duration.Seconds()
	fixedPool := int(float64(o.submitRate)*o.duration.Seconds()/perSession*1.3) + 1
	openPool := int(3000*o.duration.Seconds()/perSession) + 1
	ip := 10
	requesters, ip, err := signInMany(p.URL, "requester", 1+fixedPool+openPool+(o.approvals/50+1), ip)
	if err != nil {
		return err
	}
	approvers, ip, err := signInMany(p.URL, "approver1", o.approvals/50+1, ip)
	if err != nil {
		return err
	}
	auditors, _, err := signInMany(p.URL, "auditor", 1, ip)
	if err != nil {
		return err
	}
	fmt.Printf("  signed in %d requester, %d approver and 1 auditor sessions\n", len(requesters), len(approvers))
	pageID, err := fileRequest(client, p.URL, requesters[0], "Load Page Role")
	if err != nil {
		return err
	}
	if err := approveAndWait(client, p.URL, approvers[0], requesters[0], up, pageID, "Load Page Role"); err != nil {
		return err
	}
	fmt.Printf("  the request page measured: /requests/%d (provisioned, with its timeline)\n", pageID)

	section(fmt.Sprintf("Request page: GET /requests/%d, %d connections, %s", pageID, o.conns, o.duration))
	meter := p.meter()
	page := attack(vegeta.NewStaticTargeter(vegeta.Target{
		Method: http.MethodGet, URL: fmt.Sprintf("%s/requests/%d", p.URL, pageID),
		Header: http.Header{"Cookie": {requesters[0].Cookie}},
	}), vegeta.ConstantPacer{}, o.conns, o.conns, o.duration, "page")
	report(page, meter.stop(), "target ≥ 3,000/s, p99 < 25ms")

	pools := requesters[1:]
	fixed, open := pools[:fixedPool], pools[fixedPool:fixedPool+openPool]
	var names atomic.Int64
	section(fmt.Sprintf("Submitting a request: POST /requests at a fixed %d/s, %s", o.submitRate, o.duration))
	meter = p.meter()
	sub := attack(submitTargeter(p.URL, fixed, &names), vegeta.ConstantPacer{Freq: o.submitRate, Per: time.Second}, o.conns, 512, o.duration, "submit-fixed")
	report(sub, meter.stop(), "target ≥ 500/s, p99 < 50ms")
	section(fmt.Sprintf("Submitting a request: POST /requests as fast as %d connections go, %s", o.conns, o.duration))
	meter = p.meter()
	subMax := attack(submitTargeter(p.URL, open, &names), vegeta.ConstantPacer{}, o.conns, o.conns, o.duration, "submit-max")
	report(subMax, meter.stop(), "the ceiling")

	section(fmt.Sprintf("Approval to upstream create call: %d approvals, one at a time", o.approvals))
	if err := timeApprovals(client, p.URL, requesters[len(requesters)-o.approvals/50-1:], approvers, up, o.approvals); err != nil {
		return err
	}

	section("Audit trail")
	if err := timeAudit(client, p, auditors[0], o); err != nil {
		return err
	}

	section("Idle memory after the load")
	client.CloseIdleConnections() // the people have gone (the default transport: the export's too; attack closes its own)
	time.Sleep(5 * time.Second)
	rss, peak := p.memory()
	fmt.Printf("  resident idle 5s after the load: %s; peak during the run: %s\n", mib(rss), mib(peak))
	printGoMemory(p)
	// Go gives freed heap back to the OS gradually (its background scavenger).
	time.Sleep(55 * time.Second)
	rss, _ = p.memory()
	fmt.Printf("  resident idle 60s after the load: %s   target < 40 MiB\n", mib(rss))
	printGoMemory(p)

	section("Shut-down")
	took, err := p.stop()
	p = nil
	if err != nil {
		return err
	}
	fmt.Printf("  SIGTERM to exit: %s\n", ms(took))
	fmt.Printf("\nload average at the end: %s\n", loadAverage())
	return nil
}

// attack runs one vegeta phase: workers start at min and grow to max
// (fixed-rate phases add workers when responses lag).
func attack(tr vegeta.Targeter, pacer vegeta.Pacer, minWorkers, maxWorkers int, d time.Duration, name string) *vegeta.Metrics {
	// The attacker's own transport, so that its connections can be closed
	// when the phase ends: left open, the portal would hold a goroutine
	// and its buffers for each until its idle timeout, and the memory
	// "after the load" would be that of open connections.
	transport := &http.Transport{DialContext: (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext}
	defer transport.CloseIdleConnections()
	a := vegeta.NewAttacker(
		vegeta.Client(&http.Client{Transport: transport}),
		vegeta.Workers(uint64(minWorkers)), vegeta.MaxWorkers(uint64(maxWorkers)),
		vegeta.Connections(maxWorkers), vegeta.MaxConnections(maxWorkers), vegeta.KeepAlive(true),
		vegeta.Redirects(vegeta.NoFollow), vegeta.Timeout(10*time.Second),
	)
	var m vegeta.Metrics
	for res := range a.Attack(tr, pacer, d, name) {
		m.Add(res)
	}
	m.Close()
	return &m
}

// submitTargeter files a new request per hit, each under a fresh name,
// rotating over the sessions.
func submitTargeter(base string, pool []*session, names *atomic.Int64) vegeta.Targeter {
	return func(t *vegeta.Target) error {
		n := names.Add(1)
		s := pool[int(n)%len(pool)]
		t.Method, t.URL = http.MethodPost, base+"/requests"
		t.Body = []byte(url.Values{
			"role_name": {fmt.Sprintf("Load Role %d", n)}, "permissions": {"api.groups.read", "api.projects.read"},
			"description":   {"Read-only access for the dashboards."},
			"justification": {"The platform team's dashboards read groups and projects."},
			"csrf_token":    {s.CSRF},
		}.Encode())
		t.Header = http.Header{"Cookie": {s.Cookie}, "Content-Type": {"application/x-www-form-urlencoded"}, "Origin": {base}}
		return nil
	}
}

func report(m *vegeta.Metrics, use cpuUse, target string) {
	codes := make([]string, 0, len(m.StatusCodes))
	for c, n := range m.StatusCodes {
		codes = append(codes, fmt.Sprintf("%s×%d", c, n))
	}
	slices.Sort(codes)
	fmt.Printf("  %d requests in %s: %.0f/s answered, %.0f/s successful (%.1f%%)   %s\n",
		m.Requests, m.Duration.Round(time.Millisecond), m.Rate, m.Throughput, m.Success*100, target)
	fmt.Printf("  latency p50 %s  p90 %s  p95 %s  p99 %s  max %s\n",
		ms(m.Latencies.P50), ms(m.Latencies.P90), ms(m.Latencies.P95), ms(m.Latencies.P99), ms(m.Latencies.Max))
	perReq := time.Duration(0)
	if m.Requests > 0 {
		perReq = use.server / time.Duration(m.Requests)
	}
	fmt.Printf("  status %s\n", strings.Join(codes, " "))
	database := ""
	if databasePID != 0 {
		database = ", PostgreSQL " + secs(use.database)
	}
	fmt.Printf("  CPU: %s %s (%s per request)%s, load generator %s, other processes %s\n",
		use.label, secs(use.server), perReq.Round(time.Microsecond), database, secs(use.generator), secs(use.others))
	for i, e := range m.Errors {
		if i == 3 {
			break
		}
		fmt.Printf("  error: %s\n", e)
	}
}

var payloadHash = regexp.MustCompile(`name="payload_hash" value="([0-9a-f]{64})"`)

// fileRequest files one request and returns its id.
func fileRequest(client *http.Client, base string, s *session, name string) (int64, error) {
	res, err := s.post(client, base, "/requests", url.Values{
		"role_name": {name}, "permissions": {"api.groups.read", "api.projects.read"},
		"justification": {"The platform team's dashboards read groups and projects."},
	})
	if err != nil {
		return 0, err
	}
	var id int64
	if _, err := fmt.Sscanf(res.Header.Get("Location"), "/requests/%d", &id); err != nil || res.StatusCode != http.StatusSeeOther {
		return 0, fmt.Errorf("file %q answered %d %q", name, res.StatusCode, res.Header.Get("Location"))
	}
	return id, nil
}

// approve reads the payload hash on the approver's page and approves;
// it returns when the click was sent and how long the answer took.
func approve(client *http.Client, base string, approver *session, id int64) (time.Time, time.Duration, error) {
	_, page, err := approver.get(client, fmt.Sprintf("%s/requests/%d", base, id))
	if err != nil {
		return time.Time{}, 0, err
	}
	m := payloadHash.FindStringSubmatch(page)
	if m == nil {
		return time.Time{}, 0, fmt.Errorf("no payload hash on request %d's page for the approver", id)
	}
	clicked := time.Now()
	res, err := approver.post(client, base, fmt.Sprintf("/requests/%d/approve", id), url.Values{"payload_hash": {m[1]}})
	if err != nil {
		return time.Time{}, 0, err
	}
	if res.StatusCode != http.StatusSeeOther {
		return time.Time{}, 0, fmt.Errorf("approve %d answered %d", id, res.StatusCode)
	}
	return clicked, time.Since(clicked), nil
}

func approveAndWait(client *http.Client, base string, approver, requester *session, up *upstream, id int64, name string) error {
	if _, _, err := approve(client, base, approver, id); err != nil {
		return err
	}
	select {
	case <-up.arrival(name):
	case <-time.After(10 * time.Second):
		return fmt.Errorf("no create call for %q within 10s of its approval", name)
	}
	for range 500 {
		if _, page, err := requester.get(client, fmt.Sprintf("%s/requests/%d", base, id)); err == nil && strings.Contains(page, "Provisioned") {
			return nil
		}
		time.Sleep(10 * time.Millisecond)
	}
	return fmt.Errorf("request %d not Provisioned within 5s", id)
}

// timeApprovals files n requests, then approves them one at a time and
// measures from the moment the click is sent to the moment the upstream
// receives the create call.
func timeApprovals(client *http.Client, base string, requesters, approvers []*session, up *upstream, n int) error {
	ids := make([]int64, n)
	names := make([]string, n)
	for i := range n {
		names[i] = fmt.Sprintf("Load Approval Role %d", i)
		id, err := fileRequest(client, base, requesters[i/50], names[i])
		if err != nil {
			return err
		}
		ids[i] = id
	}
	var toUpstream, answered []time.Duration
	for i := range n {
		clicked, took, err := approve(client, base, approvers[i/50], ids[i])
		if err != nil {
			return err
		}
		select {
		case at := <-up.arrival(names[i]):
			toUpstream = append(toUpstream, at.Sub(clicked))
		case <-time.After(10 * time.Second):
			return fmt.Errorf("no create call for %q within 10s of its approval", names[i])
		}
		answered = append(answered, took)
		time.Sleep(20 * time.Millisecond) // let the worker finish the job: one click at a time
	}
	fmt.Printf("  click → create call at the upstream: %s   target < 50ms\n", percentiles(toUpstream))
	fmt.Printf("  click → the approver's answer (303):  %s\n", percentiles(answered))
	return nil
}

// timeAudit measures a filtered search and a full CSV export, sampling
// the portal's resident memory during the export.
func timeAudit(client *http.Client, p *portal, auditor *session, o options) error {
	code, _, err := auditor.get(client, p.URL+o.auditSearch)
	if err != nil {
		return err
	}
	if code == http.StatusNotFound {
		fmt.Printf("  %s answered 404: the audit pages are not in this build; skipped\n", o.auditSearch)
		return nil
	}
	if code != http.StatusOK {
		return fmt.Errorf("audit search %s answered %d", o.auditSearch, code)
	}
	var searches []time.Duration
	for range 50 {
		t0 := time.Now()
		if code, _, err := auditor.get(client, p.URL+o.auditSearch); err != nil || code != http.StatusOK {
			return fmt.Errorf("audit search answered %d, %v", code, err)
		}
		searches = append(searches, time.Since(t0))
	}
	fmt.Printf("  filtered search %s (whole page, 50 times): %s   target < 10ms\n", o.auditSearch, percentiles(searches))

	long := &http.Client{Timeout: 2 * time.Minute}
	req, _ := http.NewRequest(http.MethodGet, p.URL+o.auditExport, nil)
	req.Header.Set("Cookie", auditor.Cookie)
	var peak atomic.Int64
	done := make(chan struct{})
	go func() {
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
				if rss, _ := p.memory(); rss > peak.Load() {
					peak.Store(rss)
				}
			}
		}
	}()
	t0 := time.Now()
	res, err := long.Do(req)
	if err != nil {
		close(done)
		return err
	}
	lines, bytes, err := countLines(res.Body)
	res.Body.Close()
	took := time.Since(t0)
	close(done)
	if err != nil {
		return err
	}
	if res.StatusCode == http.StatusNotFound {
		fmt.Printf("  %s answered 404; the export was skipped\n", o.auditExport)
		return nil
	}
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("audit export answered %d", res.StatusCode)
	}
	fmt.Printf("  CSV export %s: %d lines, %s in %s; portal resident peak during it %s   target < 10s, < 64 MiB\n",
		o.auditExport, lines, mib(bytes), took.Round(time.Millisecond), mib(peak.Load()))
	return nil
}

func countLines(r io.Reader) (lines, n int64, err error) {
	buf := make([]byte, 256<<10)
	for {
		k, err := r.Read(buf)
		n += int64(k)
		for _, b := range buf[:k] {
			if b == '\n' {
				lines++
			}
		}
		if errors.Is(err, io.EOF) {
			return lines, n, nil
		} else if err != nil {
			return lines, n, err
		}
	}
}

func percentiles(d []time.Duration) string {
	if len(d) == 0 {
		return "no samples"
	}
	at := func(q float64) time.Duration { return quantile(d, q) }
	return fmt.Sprintf("p50 %s  p90 %s  p99 %s  max %s", ms(at(.5)), ms(at(.9)), ms(at(.99)), ms(at(1)))
}

// quantile is the q-th quantile of d (nearest rank; 1 is the maximum).
func quantile(d []time.Duration, q float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	return s[min(len(s)-1, int(q*float64(len(s))))]
}

func printMachine() {
	section("Machine")
	model := "unknown"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				model = strings.TrimSpace(v)
				break
			}
		}
	}
	memTotal := "unknown"
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(line, "MemTotal:") {
				memTotal = strings.Join(strings.Fields(line)[1:], " ")
			}
		}
	}
	fmt.Printf("  %d CPUs (%s), %s memory, %s/%s, %s\n", runtime.NumCPU(), model, memTotal, runtime.GOOS, runtime.GOARCH, runtime.Version())
	fmt.Printf("  load average at the start: %s (the load generator shares these CPUs)\n", loadAverage())
}

func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	return strings.Join(strings.Fields(string(b))[:3], " ")
}

func section(title string) { fmt.Printf("\n%s\n", title) }

func secs(d time.Duration) string { return fmt.Sprintf("%.2fs", d.Seconds()) }

func ms(d time.Duration) string { return fmt.Sprintf("%.1fms", float64(d.Microseconds())/1000) }

func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// printGoMemory splits the resident memory (/proc/PID/status) into the
// anonymous part, Go's runtime (what it obtained from the system less what
// it gave back) and the rest (SQLite's page caches: modernc's allocator);
// the files mapped (mostly the binary's code); and shared memory (SQLite's
// WAL index).
func printGoMemory(p *portal) {
	res, err := http.Get(p.URL + "/metrics")
	if err != nil {
		return
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	values := map[string]float64{}
	for _, line := range strings.Split(string(body), "\n") {
		f := strings.Fields(line)
		if len(f) == 2 && !strings.HasPrefix(line, "#") {
			var v float64
			if _, err := fmt.Sscanf(f[1], "%g", &v); err == nil {
				values[f[0]] = v
			}
		}
	}
	status := map[string]int64{}
	if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid)); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if f := strings.Fields(line); len(f) >= 2 {
				kb, _ := strconv.ParseInt(f[1], 10, 64)
				status[f[0]] = kb << 10
			}
		}
	}
	anon, file, shmem := status["RssAnon:"], status["RssFile:"], status["RssShmem:"]
	goHeld := int64(values["go_memstats_sys_bytes"] - values["go_memstats_heap_released_bytes"])
	fmt.Printf("  anonymous %s: Go's runtime about %s (heap in use %s), the rest (SQLite's caches) about %s; files mapped %s (the binary's code); shared %s (SQLite's WAL index)\n",
		mib(anon), mib(min(goHeld, anon)), mib(int64(values["go_memstats_heap_inuse_bytes"])), mib(max(anon-goHeld, 0)), mib(file), mib(shmem))
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

func copyFile(from, to string) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
