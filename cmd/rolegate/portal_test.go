package main

import (
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/rolegate/rolegate/internal/testkit"
)

// portal is the whole program started by run, as main starts it, in dev
// mode on a free loopback port and a temp database.
type portal struct {
	t      *testing.T
	URL    string
	DBPath string
	Log    *testkit.SyncBuffer
	Stdout *testkit.SyncBuffer
	stop   func() error
}

var startedAddr = regexp.MustCompile(`msg="rolegate started" addr=(\S+)`)

// startPortal runs "rolegate -dev" until the test ends; stopping it is
// checked to return no error.
func startPortal(t *testing.T) *portal { return startPortalWith(t, nil) }

// startPortalWith is startPortal with more variables.
func startPortalWith(t *testing.T, more map[string]string) *portal {
	t.Helper()
	p := &portal{t: t, DBPath: filepath.Join(t.TempDir(), "rolegate.db"), Log: &testkit.SyncBuffer{}, Stdout: &testkit.SyncBuffer{}}
	vars := map[string]string{"ROLEGATE_LOG_FORMAT": "text"}
	for k, v := range more {
		vars[k] = v
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	args := []string{"serve", "-dev", "-addr", "127.0.0.1:0", "-db", p.DBPath}
	if vars["ROLEGATE_DB"] != "" || vars["ROLEGATE_DB_FILE"] != "" {
		args, p.DBPath = args[:4], "" // the database the variables name
	}
	go func() {
		done <- run(ctx, args, env(vars), p.Stdout, p.Log)
	}()
	var stopped bool
	p.stop = func() error {
		if stopped {
			return nil
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			return err
		case <-time.After(20 * time.Second):
			t.Fatalf("rolegate did not stop within 20s; log:\n%s", p.Log)
			return nil
		}
	}
	t.Cleanup(func() {
		if err := p.stop(); err != nil {
			t.Errorf("rolegate stopped with %v", err)
		}
	})
	var m []string
	testkit.WaitFor(t, "rolegate to log its start", func() bool {
		select {
		case err := <-done:
			t.Fatalf("rolegate exited at start: %v\n%s", err, p.Log)
		default:
		}
		m = startedAddr.FindStringSubmatch(p.Log.String())
		return m != nil
	}, p.Log.String)
	p.URL = "http://" + m[1]
	return p
}

// visitor is a cookie-keeping client that sees every redirect.
type visitor struct {
	p *portal
	*http.Client
}

func (p *portal) visitor() *visitor {
	jar, _ := cookiejar.New(nil)
	return &visitor{p: p, Client: &http.Client{Jar: jar, Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// signIn signs a dev persona in.
func (p *portal) signIn(persona string) *visitor {
	p.t.Helper()
	v := p.visitor()
	if code, _, _ := v.post("/auth/dev", url.Values{"persona": {persona}}); code != http.StatusSeeOther {
		p.t.Fatalf("dev sign-in as %s = %d; want 303", persona, code)
	}
	return v
}

func (v *visitor) get(path string) (int, string) {
	v.p.t.Helper()
	res, err := v.Get(v.p.URL + path)
	if err != nil {
		v.p.t.Fatalf("GET %s: %v", path, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

func (v *visitor) post(path string, form url.Values) (int, string, http.Header) {
	v.p.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, v.p.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", v.p.URL)
	res, err := v.Do(req)
	if err != nil {
		v.p.t.Fatalf("POST %s: %v", path, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b), res.Header
}

var csrfField = regexp.MustCompile(`name="csrf_token" value="([^"]+)"`)

// postWithToken posts a form carrying the session's CSRF token.
func (v *visitor) postWithToken(path string, form url.Values) (int, string, http.Header) {
	v.p.t.Helper()
	_, page := v.get("/auth/logout")
	m := csrfField.FindStringSubmatch(page)
	if m == nil {
		v.p.t.Fatalf("no CSRF token on /auth/logout")
	}
	form.Set("csrf_token", m[1])
	return v.post(path, form)
}
