package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rolegate/rolegate/internal/pgtest"
	"github.com/rolegate/rolegate/internal/testkit"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// rolegate on PostgreSQL, selected by a postgres:// URL in
// ROLEGATE_DB_FILE: a request filed, approved and provisioned through the
// portal; /readyz and /metrics answer from the database; the start line
// names the database without the URL's user or password; audit verify
// and migrate work on it and backup points to pg_dump.
func TestServeOnPostgres(t *testing.T) {
	dbURL := withPassword(t, pgtest.NewDatabase(t))
	file := filepath.Join(t.TempDir(), "db-url")
	if err := os.WriteFile(file, []byte(dbURL), 0o600); err != nil {
		t.Fatal(err)
	}
	vars := map[string]string{"ROLEGATE_DB_FILE": file}
	p := startPortalWith(t, vars)
	id, requester := fileAndApprove(t, p, "Postgres Reader")
	testkit.WaitFor(t, fmt.Sprintf("request %d to be provisioned", id), func() bool {
		_, page := requester.get(fmt.Sprintf("/requests/%d", id))
		return strings.Contains(page, "Provisioned")
	}, p.Log.String)
	if code, body := p.visitor().get("/readyz"); code != http.StatusOK {
		t.Errorf("GET /readyz = %d; want 200\n%s", code, body)
	}
	var text string
	testkit.WaitFor(t, "the provisioned request in /metrics", func() bool {
		_, text = p.visitor().get("/metrics")
		fams := testkit.ParseMetrics(t, text)
		n, _ := testkit.MetricValue(fams, "rolegate_requests", map[string]string{"status": "provisioned"})
		ok, _ := testkit.MetricValue(fams, "rolegate_database_scrape_success", nil)
		return n == 1 && ok == 1
	}, func() string { return text })
	if strings.Contains(text, "rolegate_database_size_bytes{") {
		t.Errorf("/metrics reports a database file's size on PostgreSQL:\n%s", text)
	}
	if err := p.stop(); err != nil {
		t.Fatalf("stop: %v", err)
	}
	log := p.Log.String()
	if !strings.Contains(log, "db=postgres://127.0.0.1:") {
		t.Errorf("the start line does not name the PostgreSQL database:\n%s", log)
	}
	if strings.Contains(log, testPassword) {
		t.Errorf("the log holds the database's password:\n%s", log)
	}

	var stdout, stderr bytes.Buffer
	if err := run(context.Background(), []string{"audit", "verify"}, env(vars), &stdout, &stderr); err != nil {
		t.Errorf("audit verify on PostgreSQL: %v\n%s%s", err, stdout.String(), stderr.String())
	}
	if !strings.Contains(stdout.String(), "audit trail verified") {
		t.Errorf("audit verify says %q", stdout.String())
	}
	stdout.Reset()
	if err := run(context.Background(), []string{"migrate"}, env(vars), &stdout, &stderr); err != nil || !strings.Contains(stdout.String(), "schema version 1") {
		t.Errorf("migrate on PostgreSQL = %v: %s", err, stdout.String())
	}
	out, err := runBackup(t, env(vars), filepath.Join(t.TempDir(), "copy.db"))
	if err == nil || !strings.Contains(err.Error(), "pg_dump") {
		t.Errorf("backup on PostgreSQL = %v; want a refusal pointing to pg_dump", err)
	}
	if all := out + stdout.String() + stderr.String() + fmt.Sprint(err); strings.Contains(all, testPassword) {
		t.Errorf("a command printed the database's password: %s", all)
	}
}

// testPassword is the password withPassword gives the test's role.
const testPassword = "pg-test-pw-4f1d"

// withPassword returns dbURL with a role of its own that has a password
// (the cluster trusts loopback, so any password works; what matters is
// that it is in the URL and must show nowhere).
func withPassword(t *testing.T, dbURL string) string {
	t.Helper()
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.UserPassword(u.User.Username(), testPassword)
	return u.String()
}

// fileAndApprove files a request for a new role as the dev requester and
// approves it as the first dev approver; it returns the request's id and
// the requester's session.
func fileAndApprove(t *testing.T, p *portal, name string) (int64, *visitor) {
	t.Helper()
	requester := p.signIn("requester")
	code, body, hdr := requester.postWithToken("/requests", url.Values{
		"role_name": {name}, "permissions": {"api.groups.read"}, "justification": {"Dashboards for the platform team."},
	})
	if code != http.StatusSeeOther {
		t.Fatalf("file a request = %d; want 303\n%s", code, body)
	}
	var id int64
	if _, err := fmt.Sscanf(hdr.Get("Location"), "/requests/%d", &id); err != nil {
		t.Fatalf("Location after filing = %q", hdr.Get("Location"))
	}
	approver := p.signIn("approver1")
	_, page := approver.get(fmt.Sprintf("/requests/%d", id))
	m := payloadHashField.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("the approver's request page has no payload hash:\n%s", page)
	}
	if code, body, _ := approver.postWithToken(fmt.Sprintf("/requests/%d/approve", id), url.Values{"payload_hash": {m[1]}}); code != http.StatusSeeOther {
		t.Fatalf("approve = %d; want 303\n%s", code, body)
	}
	return id, requester
}
