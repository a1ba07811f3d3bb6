package e2e

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"html"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rolegate/rolegate/internal/simulator"
	"github.com/rolegate/rolegate/internal/testkit"
)

// requestForm is what a person puts into the New request form.
type requestForm struct {
	RoleName      string
	Permissions   []string
	Description   string
	Justification string
}

// fileRequest fills in and submits the New request form as pe, and returns
// the id of the request it filed, whose page is then open and Pending.
func fileRequest(pe *person, f requestForm) int64 {
	pe.t.Helper()
	pe.follow(link("New request"))
	pe.typeInto("Role name", f.RoleName)
	for _, perm := range f.Permissions {
		pe.click(permissionBox(perm))
	}
	if f.Description != "" {
		pe.typeInto("Description", f.Description)
	}
	pe.typeInto("Justification", f.Justification)
	pe.follow(button("Submit request"))
	if got := pe.status(); got != "Pending" {
		pe.fail("a submitted request shows %q; want Pending", got)
	}
	return pe.requestID()
}

// openFromReviews opens the request for roleName from the review queue.
func openFromReviews(pe *person, roleName string) {
	pe.t.Helper()
	pe.follow(link("Reviews"))
	pe.follow(link(roleName))
}

// The main journey: a request filed, approved by someone else, created
// upstream, and found and exported by an auditor.
func TestRequestIsApprovedProvisionedAndAudited(t *testing.T) {
	testkit.NeedsBrowser(t)
	t.Parallel()
	p := startPortal(t, nil)
	b := newBrowser(t)
	form := requestForm{
		RoleName:      "e2e group auditors",
		Permissions:   []string{"api.groups.read", "api.audit_logs.read"},
		Description:   "Reads groups and the audit log.",
		Justification: "The security team reviews group membership every quarter.",
	}

	requester := p.signIn(t, b, riley)
	id := fileRequest(requester, form)
	requestPage := fmt.Sprintf("/requests/%d", id)

	approver := p.signIn(t, b, avery)
	// The navigation counts what waits for the approver, beside Reviews.
	if got := approver.texts(`//nav//*[@id='reviews-waiting']`); len(got) != 1 || strings.Join(strings.Fields(got[0]), " ") != "1 request waits for your review" {
		t.Errorf("the approver's navigation counts %q; want 1 request waiting", got)
	}
	openFromReviews(approver, form.RoleName)
	if got := approver.path(); got != requestPage {
		t.Fatalf("the review queue opened %s; want %s", got, requestPage)
	}
	approver.seeText("Justification")
	approver.seeText(form.Justification)
	approver.follow(button("Approve"))
	approver.waitForStatus("Provisioned", 15*time.Second)
	if n := approver.count(`//*[@id='reviews-waiting']`); n != 0 {
		t.Errorf("after approving the only request, the navigation still counts one waiting")
	}

	roleID := p.upstreamRoleID(form.RoleName)
	if roleID == "" {
		t.Fatalf("no role named %q was created upstream; roles: %+v", form.RoleName, p.Sim.Roles())
	}
	approver.seeText("Role id")
	approver.seeText(roleID)
	if n := p.Sim.CreateCalls(); n != 1 {
		t.Errorf("the portal called create %d times; want 1", n)
	}
	for _, r := range p.Sim.Roles() {
		if r.ID == roleID {
			got, want := slices.Sorted(slices.Values(r.Permissions)), slices.Sorted(slices.Values(form.Permissions))
			if !slices.Equal(got, want) || r.Description != form.Description {
				t.Errorf("upstream role = %q %q; want %q %q", got, r.Description, want, form.Description)
			}
		}
	}

	// The requester sees the outcome on their own page, then signs out.
	requester.reload()
	if got := requester.status(); got != "Provisioned" {
		t.Errorf("the requester's page shows %q; want Provisioned", got)
	}
	requester.seeText(roleID)
	requester.click(link("Sign out"))
	requester.seeText("You are signed out")
	requester.visit(requestPage)
	requester.see(button("Sign in as " + riley.Name)) // signed out: back to the identity provider

	t.Run("the auditor finds it in Audit and exports it", func(t *testing.T) {
		auditor := p.signIn(t, b, casey)
		auditor.follow(link("Audit"))
		auditor.typeInto("Request", strconv.FormatInt(id, 10))
		auditor.follow(button("Search"))
		auditor.see(`//table//tr[td]`)
		auditor.waitUntil("the results to show the request", func() bool {
			shown := strings.Join(auditor.texts(`//table`), "\n")
			return strings.Contains(shown, form.RoleName) || strings.Contains(shown, fmt.Sprintf("#%d", id))
		})

		exported := auditor.download(link("Export CSV"))
		rows, err := csv.NewReader(bytes.NewReader(exported)).ReadAll()
		if err != nil {
			t.Fatalf("Export CSV is not CSV: %v\n%s", err, exported)
		}
		if len(rows) < 3 {
			t.Fatalf("Export CSV has %d rows; want a header and the request's events\n%s", len(rows), exported)
		}
		text := string(exported)
		for _, want := range []string{"request.created", "request.approved", "provisioning.succeeded", roleID, form.RoleName} {
			if !strings.Contains(text, want) {
				t.Errorf("Export CSV does not mention %q\n%s", want, exported)
			}
		}
		// Filtered by Request, every row is this request's: its column
		// (request_id, or request) holds the id on each row.
		col := slices.IndexFunc(rows[0], func(h string) bool { return h == "request_id" || strings.EqualFold(h, "request") })
		for _, row := range rows[1:] {
			if col >= 0 && col < len(row) {
				if got := strings.TrimPrefix(row[col], "#"); got != strconv.FormatInt(id, 10) {
					t.Errorf("Export CSV, filtered by Request %d, has a row of request %q: %q", id, row[col], row)
				}
			} else if !slices.Contains(row, strconv.FormatInt(id, 10)) {
				t.Errorf("Export CSV, filtered by Request %d, has a row without it: %q", id, row)
			}
		}

		// The JSON export, fetched by the page's own link.
		raw := evalAsync[string](auditor, `(async () => {
			const a = [...document.querySelectorAll('a')].find(a => a.textContent.trim().startsWith('Export JSON'));
			if (!a) return 'no Export JSON link';
			const res = await fetch(a.href);
			return await res.text();
		})()`)
		if err := checkJSONExport(raw); err != nil {
			t.Fatalf("Export JSON is not JSON: %v\n%.500s", err, raw)
		}
		for _, want := range []string{"request.created", "provisioning.succeeded", roleID} {
			if !strings.Contains(raw, want) {
				t.Errorf("Export JSON does not mention %q\n%.2000s", want, raw)
			}
		}

		// Every filter narrows: one approver's approval within these days...
		day := func(offset int) string { return time.Now().UTC().AddDate(0, 0, offset).Format(time.DateOnly) }
		auditor.typeInto("Actor", avery.Email)
		auditor.typeInto("Action", "request.approved")
		auditor.typeInto("From", day(-1))
		auditor.typeInto("To", day(1))
		auditor.follow(button("Search"))
		found := auditor.texts(`//table//tr[td]`)
		if len(found) != 1 || !strings.Contains(found[0], "request.approved") || !strings.Contains(found[0], avery.Name) {
			t.Errorf("Audit for Actor %s, Action request.approved, Request %d = %q; want the one approval", avery.Email, id, found)
		}
		// ...and nothing in days to come.
		auditor.clearField("From")
		auditor.typeInto("From", day(2))
		auditor.clearField("To")
		auditor.typeInto("To", day(3))
		auditor.follow(button("Search"))
		if n := auditor.count(`//*[@aria-invalid='true']`); n != 0 {
			t.Errorf("Audit From %s To %s refused %d filters; want a search finding nothing", day(2), day(3), n)
		}
		if found := auditor.texts(`//table//tr[td]`); len(found) != 0 {
			t.Errorf("Audit From %s To %s = %q; want no events", day(2), day(3), found)
		}
	})
}

// checkJSONExport accepts one JSON document or JSON lines, one event each.
func checkJSONExport(raw string) error {
	var doc any
	if json.Unmarshal([]byte(raw), &doc) == nil {
		return nil
	}
	lines := strings.Split(strings.TrimSpace(raw), "\n")
	for i, line := range lines {
		if err := json.Unmarshal([]byte(line), &doc); err != nil {
			return fmt.Errorf("line %d: %w", i+1, err)
		}
	}
	return nil
}

// An approver rejects with a comment; the comment is required, and both
// the approver and the requester see it in the timeline.
func TestRequestIsRejectedWithAComment(t *testing.T) {
	testkit.NeedsBrowser(t)
	t.Parallel()
	p := startPortal(t, nil)
	b := newBrowser(t)
	form := requestForm{
		RoleName:      "e2e everything writer",
		Permissions:   []string{"api.users.write", "api.projects.write"},
		Justification: "Quicker than asking each time.",
	}
	requester := p.signIn(t, b, riley)
	fileRequest(requester, form)

	approver := p.signIn(t, b, blake)
	openFromReviews(approver, form.RoleName)

	// Without a comment the rejection is refused: the approver is sent
	// back to the request's own address (reloading never rejects), the
	// Comment field says why, and nothing changes.
	requestPage := approver.path()
	approver.follow(button("Reject"))
	if got := approver.path(); got != requestPage {
		t.Errorf("a refused rejection sits at %s; want the request's page %s", got, requestPage)
	}
	approver.see(field("Comment") + `[@aria-invalid='true']`)
	if focused := evalAsync[string](approver, `(async () => document.activeElement ? document.activeElement.id : '')()`); focused != "form-errors" {
		t.Errorf("after a refused rejection the focus is on %q; want the error summary", focused)
	}
	if got := approver.status(); got != "Pending" {
		t.Fatalf("after a rejection without a comment the request shows %q; want Pending", got)
	}

	const comment = `Too broad: the "reader" role <b>covers</b> what you need.`
	approver.typeInto("Comment", comment)
	approver.follow(button("Reject"))
	if got := approver.status(); got != "Rejected" {
		t.Fatalf("after rejecting, the request shows %q; want Rejected", got)
	}
	approver.seeText(comment) // shown as text, markup and all
	if n := approver.count(button("Approve")); n != 0 {
		t.Errorf("a rejected request still offers Approve (%d buttons)", n)
	}

	requester.reload()
	if got := requester.status(); got != "Rejected" {
		t.Errorf("the requester's page shows %q; want Rejected", got)
	}
	timeline := requester.texts(`//*[normalize-space()='Timeline']/following::*[contains(normalize-space(), ` + xpathString(comment) + `)]`)
	if len(timeline) == 0 {
		t.Errorf("the requester's timeline does not show the comment %q", comment)
	}
	if n := p.Sim.CreateCalls(); n != 0 {
		t.Errorf("a rejected request reached the upstream (%d creates)", n)
	}

	// The reason stands beside the status, and the requester can file a
	// corrected request from the form filled in with this one.
	requester.see(`//*[@id='status-reason'][contains(., ` + xpathString(comment) + `)]`)
	requester.follow(link("File a corrected request"))
	if got := requester.path(); !strings.HasPrefix(got, "/requests/new?from=") {
		t.Errorf("File a corrected request opened %s; want the New request form", got)
	}
	if got := fieldValue(requester, "Role name"); got != form.RoleName {
		t.Errorf("the corrected request's Role name is %q; want %q", got, form.RoleName)
	}
	if got := fieldValue(requester, "Justification"); got != form.Justification {
		t.Errorf("the corrected request's Justification is %q; want %q", got, form.Justification)
	}
	for _, perm := range form.Permissions {
		if n := requester.count(permissionBox(perm) + `[@checked]`); n != 1 {
			t.Errorf("the corrected request does not have %s picked", perm)
		}
	}
	// Correct it as the comment asked, and file it: a new request.
	requester.click(permissionBox("api.users.write"))
	requester.follow(button("Submit request"))
	if got := requester.status(); got != "Pending" {
		t.Errorf("the corrected request shows %q; want Pending", got)
	}
}

// fieldValue is what the field labelled label holds now.
func fieldValue(pe *person, label string) string {
	pe.t.Helper()
	return evalAsync[string](pe, `(async () => {
		const r = document.evaluate(`+jsString(field(label))+`, document, null, XPathResult.FIRST_ORDERED_NODE_TYPE, null);
		return r.singleNodeValue ? r.singleNodeValue.value : '(no such field)';
	})()`)
}

// Nobody approves their own request: the button is not there, the queue
// does not offer it, and a forged POST from their own session is refused.
func TestApproverCannotApproveTheirOwnRequest(t *testing.T) {
	testkit.NeedsBrowser(t)
	t.Parallel()
	p := startPortal(t, nil)
	b := newBrowser(t)
	form := requestForm{
		RoleName:      "e2e key rotators",
		Permissions:   []string{"api.api_keys.read", "api.api_keys.write"},
		Justification: "I rotate the project keys.",
	}
	approver := p.signIn(t, b, avery)
	id := fileRequest(approver, form)
	requestPage := fmt.Sprintf("/requests/%d", id)

	for _, name := range []string{"Approve", "Reject"} {
		if n := approver.count(button(name)); n != 0 {
			t.Errorf("the approver's own request offers %s (%d buttons)", name, n)
		}
	}
	approver.follow(link("Reviews"))
	if n := approver.count(link(form.RoleName)); n != 0 {
		t.Errorf("the review queue offers the approver their own request")
	}

	// Forge the approval from the approver's own page, with the session's
	// CSRF token and the exact payload hash: only the rule refuses it.
	approver.visit(requestPage)
	if hash := approver.texts(`//*[@id='payload-hash']`); len(hash) != 1 || hash[0] == "" {
		t.Fatalf("the request page shows no payload hash to forge the approval with")
	}
	status := evalAsync[int](approver, fmt.Sprintf(`(async () => {
		const field = document.querySelector('input[name=csrf_token]');
		const token = field ? field.value : JSON.parse(document.body.getAttribute('hx-headers') || '{}')['X-CSRF-Token'];
		const hash = (document.getElementById('payload-hash') || {}).textContent || '';
		const res = await fetch(%s, {
			method: 'POST', redirect: 'manual',
			headers: {'Content-Type': 'application/x-www-form-urlencoded', 'X-CSRF-Token': token},
			body: new URLSearchParams({csrf_token: token, payload_hash: hash.trim(), comment: 'LGTM'}),
		});
		return res.status;
	})()`, jsString(requestPage+"/approve")))
	if status != 403 && status != 404 {
		t.Errorf("a forged self-approval answered %d; want 403 (or 404)", status)
	}
	approver.reload()
	if got := approver.status(); got != "Pending" {
		t.Errorf("after a forged self-approval the request shows %q; want Pending", got)
	}
	if n := p.Sim.CreateCalls(); n != 0 {
		t.Errorf("a self-approved request reached the upstream (%d creates)", n)
	}

	// Another approver may decide on it.
	other := p.signIn(t, b, blake)
	openFromReviews(other, form.RoleName)
	other.see(button("Approve"))
}

// The form checks what the person types as they type: a taken or invalid
// name gets a message, and the exact JSON to be sent is previewed.
func TestNewRequestFormChecksAsThePersonTypes(t *testing.T) {
	testkit.NeedsBrowser(t)
	t.Parallel()
	p := startPortal(t, nil)
	b := newBrowser(t)
	requester := p.signIn(t, b, riley)
	requester.follow(link("New request"))

	names := []struct {
		typed string
		says  string
	}{
		// Each message differs from the one before, so a stale one cannot pass.
		{"reader", "already exists"}, // a predefined role of the organization
		{"ab", "at least 3 characters"},
		{"OWNER", "already exists"}, // names are unique whatever their case
		{"e2e usage watchers", "available"},
	}
	for _, n := range names {
		requester.clearField("Role name")
		requester.typeInto("Role name", n.typed)
		requester.waitUntil(fmt.Sprintf("a message with %q after typing %q", n.says, n.typed), func() bool {
			return strings.Contains(requester.bodyText(), n.says)
		})
	}

	preview := `//*[normalize-space()='What will be sent']/following::pre[1]`
	if n := requester.count(preview); n != 0 {
		t.Errorf("the preview shows JSON before any permission is picked: %q", requester.texts(preview))
	}
	picked := []string{"api.usage.read", "api.projects.read"}
	for _, perm := range picked {
		requester.click(permissionBox(perm))
	}
	var body struct {
		RoleName    string   `json:"role_name"`
		Permissions []string `json:"permissions"`
	}
	requester.waitUntil("the preview to show both permissions", func() bool {
		shown := requester.texts(preview)
		return len(shown) == 1 && json.Unmarshal([]byte(shown[0]), &body) == nil && len(body.Permissions) == len(picked)
	})
	if body.RoleName != "e2e usage watchers" || !slices.Equal(slices.Sorted(slices.Values(body.Permissions)), slices.Sorted(slices.Values(picked))) {
		t.Errorf("preview = %+v; want role_name %q and permissions %q", body, "e2e usage watchers", picked)
	}

	// Unticking one updates the preview too.
	requester.click(permissionBox("api.projects.read"))
	requester.waitUntil("the preview to drop api.projects.read", func() bool {
		shown := requester.texts(preview)
		return len(shown) == 1 && !strings.Contains(shown[0], "api.projects.read")
	})

	// Checking is not filing.
	requester.follow(link("My requests"))
	if n := requester.count(link("e2e usage watchers")); n != 0 {
		t.Errorf("the live checks filed a request")
	}
}

// A failed provisioning is shown to the people involved and an admin
// retries it to success: once for upstream server errors that outlast the
// attempts, once for a name someone took upstream by hand meanwhile.
func TestFailedProvisioningIsRetriedByAnAdmin(t *testing.T) {
	testkit.NeedsBrowser(t)
	t.Parallel()
	p := startPortal(t, map[string]string{
		"ROLEGATE_PROVISION_ATTEMPTS": "2",
		"ROLEGATE_PROVISION_BACKOFF":  "100ms",
	})
	b := newBrowser(t)

	tests := []struct {
		name     string
		form     requestForm
		breakIt  func(t *testing.T, roleName string) // before the approval
		problem  string                              // shown on the failed request
		repairIt func(t *testing.T, roleName string) // before the retry
	}{
		{
			name: "server errors outlast the attempts",
			form: requestForm{RoleName: "e2e invite readers", Permissions: []string{"api.invites.read"}, Justification: "Onboarding checks pending invites."},
			breakIt: func(t *testing.T, _ string) {
				p.Sim.FailNext(2, simulator.Fault{Kind: simulator.FaultServerError, Op: simulator.OpCreate})
			},
			problem:  "500",
			repairIt: func(*testing.T, string) {},
		},
		{
			name: "the name was taken upstream by hand",
			form: requestForm{RoleName: "e2e billing readers", Permissions: []string{"api.billing.read"}, Justification: "Finance reads the bill."},
			breakIt: func(t *testing.T, roleName string) {
				p.createUpstreamRole(t, roleName, "api.usage.read")
			},
			problem: "already exists",
			repairIt: func(t *testing.T, roleName string) {
				p.deleteUpstreamRole(t, roleName)
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			requester := p.signIn(t, b, riley)
			id := fileRequest(requester, tc.form)
			tc.breakIt(t, tc.form.RoleName)

			approver := p.signIn(t, b, avery)
			openFromReviews(approver, tc.form.RoleName)
			approver.follow(button("Approve"))
			approver.waitForStatus("Failed", 15*time.Second)
			approver.seeText(tc.problem)

			requester.reload()
			if got := requester.status(); got != "Failed" {
				t.Errorf("the requester's page shows %q; want Failed", got)
			}
			requester.seeText(tc.problem)
			if n := requester.count(button("Retry provisioning")); n != 0 {
				t.Errorf("the requester is offered Retry provisioning")
			}
			if n := approver.count(button("Retry provisioning")); n != 0 {
				t.Errorf("the approver is offered Retry provisioning")
			}

			tc.repairIt(t, tc.form.RoleName)
			admin := p.signIn(t, b, drew)
			admin.follow(link("Admin"))
			admin.follow(link(fmt.Sprintf("#%d", id)))
			admin.follow(button("Retry provisioning"))
			admin.waitForStatus("Provisioned", 15*time.Second)
			roleID := p.upstreamRoleID(tc.form.RoleName)
			if roleID == "" {
				t.Fatalf("no role %q upstream after the retry", tc.form.RoleName)
			}
			admin.seeText(roleID)
			if n := p.Sim.PendingFaults(); n != 0 {
				t.Errorf("%d injected faults were never met", n)
			}
		})
	}
}

// A page elsewhere cannot make a signed-in approver's browser approve: not
// from another site, nor from another origin of the same site (another
// service on the same host), even knowing the exact payload hash.
func TestAnotherOriginCannotApproveThroughTheApproversBrowser(t *testing.T) {
	testkit.NeedsBrowser(t)
	t.Parallel()
	p := startPortal(t, nil)
	b := newBrowser(t)
	requester := p.signIn(t, b, riley)
	id := fileRequest(requester, requestForm{
		RoleName: "e2e project readers", Permissions: []string{"api.projects.read"}, Justification: "Dashboards list the projects.",
	})
	hash := requester.texts(`//*[@id='payload-hash']`)
	if len(hash) != 1 || hash[0] == "" {
		t.Fatalf("the request page shows no payload hash")
	}
	approveURL := fmt.Sprintf("%s/requests/%d/approve", p.URL, id)
	hostile := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, `<!doctype html><title>Prize</title><form method="post" action="%s">
<input type="hidden" name="payload_hash" value="%s"><input type="hidden" name="comment" value="ok">
<button type="submit">Claim your prize</button></form>`, html.EscapeString(approveURL), html.EscapeString(hash[0]))
	}))
	t.Cleanup(hostile.Close)
	port := hostile.Listener.Addr().(*net.TCPAddr).Port

	approver := p.signIn(t, b, avery)
	for _, origin := range []struct{ name, url string }{
		{"another site", fmt.Sprintf("http://localhost:%d/", port)},
		{"another origin of the same site", fmt.Sprintf("http://127.0.0.1:%d/", port)},
	} {
		approver.visitURL(origin.url)
		if status := approver.followStatus(button("Claim your prize")); status != http.StatusForbidden {
			t.Errorf("a form on %s posting to Approve got status %d; want 403", origin.name, status)
		}
		approver.visit(fmt.Sprintf("/requests/%d", id))
		if got := approver.status(); got != "Pending" {
			t.Fatalf("after a form on %s posted to Approve, the request shows %q; want Pending", origin.name, got)
		}
	}
	if n := p.Sim.CreateCalls(); n != 0 {
		t.Errorf("a forged approval reached the upstream (%d creates)", n)
	}
}
