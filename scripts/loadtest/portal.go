package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

// portal is one rolegate process in dev mode on a free loopback port.
type portal struct {
	URL     string
	cmd     *exec.Cmd
	exited  chan error
	logFile *os.File
	lines   atomic.Int64 // log lines written
	// Listening is from exec to the "rolegate started" line; Ready from
	// exec to the first 200 from /readyz.
	Listening, Ready time.Duration
}

// startPortal execs bin on db and waits until /readyz answers 200.
func startPortal(ctx context.Context, bin, db, upstreamURL, adminKey, logPath string) (*portal, error) {
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	p := &portal{logFile: logFile, exited: make(chan error, 1)}
	p.cmd = exec.Command(bin, "serve", "-dev", "-addr", "127.0.0.1:0", "-db", db)
	p.cmd.Env = []string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"),
		"ROLEGATE_LOG_FORMAT=json",
		// Dev mode (the dev sign-in) against the load run's own upstream.
		"ROLEGATE_DEV_REAL_UPSTREAM=1",
		"OPENAI_ADMIN_KEY=" + adminKey, "OPENAI_BASE_URL=" + upstreamURL + "/v1",
	}
	p.cmd.Stdout = io.Discard
	stderr, err := p.cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	started := make(chan string, 1)
	t0 := time.Now()
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Bytes()
			p.lines.Add(1)
			_, _ = p.logFile.Write(append(line, '\n'))
			var rec struct{ Msg, Addr string }
			if json.Unmarshal(line, &rec) == nil && rec.Msg == "rolegate started" {
				select {
				case started <- rec.Addr:
				default:
				}
			}
		}
		p.exited <- p.cmd.Wait()
	}()
	select {
	case addr := <-started:
		p.Listening = time.Since(t0)
		p.URL = "http://" + addr
	case err := <-p.exited:
		return nil, fmt.Errorf("rolegate exited at start (%v); see %s", err, logPath)
	case <-time.After(30 * time.Second):
		p.kill()
		return nil, fmt.Errorf("rolegate did not start within 30s; see %s", logPath)
	case <-ctx.Done():
		p.kill()
		return nil, ctx.Err()
	}
	client := &http.Client{Timeout: time.Second}
	for time.Since(t0) < 30*time.Second {
		res, err := client.Get(p.URL + "/readyz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				p.Ready = time.Since(t0)
				return p, nil
			}
		}
		time.Sleep(time.Millisecond)
	}
	p.kill()
	return nil, errors.New("rolegate never answered /readyz with 200")
}

// stop sends SIGTERM and waits for a graceful exit, returning how long it took.
func (p *portal) stop() (time.Duration, error) {
	t0 := time.Now()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		return 0, err
	}
	select {
	case err := <-p.exited:
		p.logFile.Close()
		return time.Since(t0), err
	case <-time.After(40 * time.Second):
		p.kill()
		return time.Since(t0), errors.New("rolegate did not stop within 40s of SIGTERM; killed")
	}
}

func (p *portal) kill() {
	_ = p.cmd.Process.Kill()
	<-p.exited
	p.logFile.Close()
}

// memory is the process's resident set now and at its peak, in bytes.
func (p *portal) memory() (rss, peak int64) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		return 0, 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		kb, _ := strconv.ParseInt(f[1], 10, 64)
		switch f[0] {
		case "VmRSS:":
			rss = kb << 10
		case "VmHWM:":
			peak = kb << 10
		}
	}
	return rss, peak
}

// cpu is the CPU time the process has used so far (user + system).
func (p *portal) cpu() time.Duration { return procCPU(p.cmd.Process.Pid) }

// procCPU is the CPU time process pid has used so far (user + system).
func procCPU(pid int) time.Duration {
	f := procStat(pid)
	if len(f) < 15 {
		return 0
	}
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	const ticksPerSecond = 100 // USER_HZ on Linux
	return time.Duration(utime+stime) * time.Second / ticksPerSecond
}

// procStat is /proc/PID/stat's fields after the command name (which is in
// parentheses and may hold spaces): f[1] is the parent's id, f[11] and
// f[12] user and system time, f[13] and f[14] those of reaped children.
func procStat(pid int) []string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return nil
	}
	s := string(b)
	return strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
}

// treeCPU is the CPU time of a server made of processes (PostgreSQL: the
// postmaster and a backend per connection): pid's own, its reaped
// children's, and its live children's.
func treeCPU(pid int) time.Duration {
	f := procStat(pid)
	if len(f) < 15 {
		return 0
	}
	var ticks int64
	for _, i := range []int{11, 12, 13, 14} {
		n, _ := strconv.ParseInt(f[i], 10, 64)
		ticks += n
	}
	const ticksPerSecond = 100 // USER_HZ on Linux
	total := time.Duration(ticks) * time.Second / ticksPerSecond
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		child, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if cf := procStat(child); len(cf) > 1 && cf[1] == strconv.Itoa(pid) {
			total += procCPU(child)
		}
	}
	return total
}

// session is a signed-in dev persona: its cookie and CSRF token.
type session struct {
	Cookie string
	CSRF   string
}

var csrfField = regexp.MustCompile(`name="csrf_token" value="([^"]+)"`)

// signIn signs persona in through the dev sign-in page from the loopback
// address ip: the portal throttles sign-ins per client address, so many
// sessions come from several of the 127/8 addresses.
func signIn(base, persona, ip string) (*session, error) {
	dialer := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
	client := &http.Client{
		Transport:     &http.Transport{DialContext: dialer.DialContext, DisableKeepAlives: true},
		Timeout:       10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	res, err := client.PostForm(base+"/auth/dev", url.Values{"persona": {persona}})
	if err != nil {
		return nil, err
	}
	res.Body.Close()
	if res.StatusCode != http.StatusSeeOther {
		return nil, fmt.Errorf("dev sign-in as %s from %s answered %d", persona, ip, res.StatusCode)
	}
	var cookies []string
	for _, c := range res.Cookies() {
		if c.Value != "" && c.MaxAge >= 0 {
			cookies = append(cookies, c.Name+"="+c.Value)
		}
	}
	s := &session{Cookie: strings.Join(cookies, "; ")}
	_, page, err := s.get(client, base+"/auth/logout")
	if err != nil {
		return nil, err
	}
	m := csrfField.FindStringSubmatch(page)
	if m == nil {
		return nil, fmt.Errorf("no CSRF token on the sign-out page for %s", persona)
	}
	s.CSRF = m[1]
	return s, nil
}

func (s *session) get(client *http.Client, u string) (int, string, error) {
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	req.Header.Set("Cookie", s.Cookie)
	res, err := client.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	return res.StatusCode, string(b), err
}

// post sends a form with the session's cookie and CSRF token, as a
// same-origin browser would.
func (s *session) post(client *http.Client, base, path string, form url.Values) (*http.Response, error) {
	form.Set("csrf_token", s.CSRF)
	req, _ := http.NewRequest(http.MethodPost, base+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", base)
	req.Header.Set("Cookie", s.Cookie)
	res, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	_, _ = io.Copy(io.Discard, res.Body)
	res.Body.Close()
	return res, nil
}

// signInMany signs n sessions of persona in, spreading them over loopback
// addresses 127.0.0.<first>... at most perIP each.
func signInMany(base, persona string, n, first int) ([]*session, int, error) {
	const perIP = 50
	out := make([]*session, 0, n)
	ip := first
	for i := range n {
		if i > 0 && i%perIP == 0 {
			ip++
		}
		s, err := signIn(base, persona, fmt.Sprintf("127.0.0.%d", ip))
		if err != nil {
			return nil, ip, err
		}
		out = append(out, s)
	}
	return out, ip + 1, nil
}

// cpuUse is the CPU time spent during a phase by rolegate, by this load
// generator and by everything else on the machine: the machine is shared,
// and a busy neighbour shows here rather than as a mystery in the figures.
type cpuUse struct {
	label                     string // the server measured
	server, generator, others time.Duration
	database                  time.Duration // PostgreSQL's, with -postgres
}

type cpuMeter struct {
	pid                       int // the server measured
	label                     string
	server, self, machineBusy time.Duration
	database                  time.Duration
}

// databasePID is the PostgreSQL server's process with -ratios -postgres (0:
// none): its CPU, and its backends', is reported apart from the others'.
var databasePID int

func (p *portal) meter() cpuMeter { return newMeter(p.cmd.Process.Pid, "rolegate") }

func newMeter(pid int, label string) cpuMeter {
	m := cpuMeter{pid: pid, label: label, server: procCPU(pid), self: selfCPU(), machineBusy: machineBusy()}
	if databasePID != 0 {
		m.database = treeCPU(databasePID)
	}
	return m
}

func (m cpuMeter) stop() cpuUse {
	u := cpuUse{label: m.label, server: procCPU(m.pid) - m.server, generator: selfCPU() - m.self}
	if databasePID != 0 {
		u.database = max(treeCPU(databasePID)-m.database, 0)
	}
	u.others = max(machineBusy()-m.machineBusy-u.server-u.generator-u.database, 0)
	return u
}

// selfCPU is the CPU time this process has used.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// machineBusy is the CPU time all CPUs have spent not idle (/proc/stat).
func machineBusy() time.Duration {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 8 || f[0] != "cpu" {
		return 0
	}
	var busy int64
	for i, v := range f[1:] {
		n, _ := strconv.ParseInt(v, 10, 64)
		if i == 3 || i == 4 { // idle, iowait
			continue
		}
		if i >= 8 { // guest time is already counted in user
			break
		}
		busy += n
	}
	const ticksPerSecond = 100 // USER_HZ on Linux
	return time.Duration(busy) * time.Second / ticksPerSecond
}
