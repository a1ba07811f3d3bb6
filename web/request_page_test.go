package web_test

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rolegate/rolegate/internal/rolegate"
)

var drewActor = devActor("admin", "Drew Admin", rolegate.RoleRequester, rolegate.RoleAdmin)

// wantIn fails unless the element id of p holds every one of want and none
// of absent.
func wantIn(t *testing.T, what string, p page, id string, want, absent []string) {
	t.Helper()
	got := text(element(p.Body, id))
	for _, w := range want {
		if !strings.Contains(got, w) {
			t.Errorf("%s: #%s says %q; want it to say %q", what, id, got, w)
		}
	}
	for _, a := range absent {
		if strings.Contains(got, a) {
			t.Errorf("%s: #%s says %q; it must not say %q", what, id, got, a)
		}
	}
}

// provisionRequest approves id and records its role as created.
func (h *harness) provisionRequest(id int64) {
	h.t.Helper()
	req, job := h.approveAndClaim(id)
	if err := h.App.Services.Provisioning.CompleteJob(h.t.Context(), job, rolegate.ProvisionedRole{ID: "role_page_test", Name: req.RoleName, Permissions: req.Permissions}, false); err != nil {
		h.t.Fatal(err)
	}
}

// A request page says what is true at its status: the hash of bytes sent
// only when something was or will be sent, no approvals "needed" once it
// has ended, the reason of an ending beside the status, what a provisioned
// role means, and no empty rows.
func TestRequestPageSaysWhatIsTrueAtEachStatus(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	riley, avery := h.signInAs("requester"), h.signInAs("approver1")
	ctx := t.Context()

	pending := h.seedRequest(rileyActor, "Pending Page Role")
	p := riley.get(requestURL(pending.ID))
	if strings.Contains(p.Body, "<dt>Description</dt>") {
		t.Errorf("a request without a description shows an empty Description row")
	}
	wantIn(t, "pending", p, "approval-count", []string{"0 of 1 needed"}, nil)
	wantIn(t, "pending", p, "payload-note", []string{"will be sent if it is approved"}, []string{"bytes sent:"})

	rejected := h.seedRequest(rileyActor, "Rejected Page Role")
	if _, err := h.Requests.Reject(ctx, averyActor, rejected.ID, "Ticket SEC-41 says a reader role exists."); err != nil {
		t.Fatal(err)
	}
	for who, b := range map[string]*browser{"the requester": riley, "the approver": avery} {
		p = b.get(requestURL(rejected.ID))
		wantIn(t, "rejected, to "+who, p, "status-reason", []string{"Rejected by Avery Approver", "“Ticket SEC-41 says a reader role exists.”"}, nil)
		wantIn(t, "rejected, to "+who, p, "approval-count", []string{"None before it ended"}, []string{"needed"})
		wantIn(t, "rejected, to "+who, p, "payload-note", []string{"nothing was sent"}, []string{"bytes sent"})
		wantIn(t, "rejected, to "+who, p, "next-step", []string{"Nothing was sent to the organization."}, nil)
	}
	wantIn(t, "rejected, to the requester", riley.get(requestURL(rejected.ID)), "next-step", []string{"file a corrected request"}, nil)

	cancelled := h.seedRequest(rileyActor, "Cancelled Page Role")
	if _, err := h.Requests.Cancel(ctx, rileyActor, cancelled.ID); err != nil {
		t.Fatal(err)
	}
	p = riley.get(requestURL(cancelled.ID))
	wantIn(t, "cancelled", p, "status-reason", []string{"Cancelled by Riley Requester"}, nil)
	wantIn(t, "cancelled", p, "payload-note", []string{"nothing was sent"}, []string{"bytes sent"})

	provisioned := h.seedRequest(rileyActor, "Provisioned Page Role")
	h.provisionRequest(provisioned.ID)
	p = riley.get(requestURL(provisioned.ID))
	wantIn(t, "provisioned", p, "next-step", []string{"now exists in the organization", "not yet assigned to anyone", "To get it"}, nil)
	wantIn(t, "provisioned", p, "payload-note", []string{"SHA-256 of the exact bytes sent"}, nil)
	wantIn(t, "provisioned", p, "approval-count", []string{"1 of 1 needed, all given"}, nil)
	if strings.Contains(p.Body, `id="status-reason"`) {
		t.Errorf("a provisioned request shows an ending reason")
	}
}

// A failed request says whether the admins were told and that the
// requester has nothing to do; an abandoned one gives the admin's reason
// beside the status. My requests tells the two apart.
func TestFailedAndAbandonedRequestsSayWhoActs(t *testing.T) {
	t.Run("notifications off", func(t *testing.T) {
		h := newHarness(t, harnessOptions{})
		riley, drew := h.signInAs("requester"), h.signInAs("admin")
		failed := h.seedRequest(rileyActor, "Failed Page Role")
		dropped := h.seedRequest(rileyActor, "Dropped Page Role")
		h.failRequest(failed.ID)
		h.failRequest(dropped.ID)
		if _, err := h.Requests.AbandonProvisioning(t.Context(), drewActor, dropped.ID, "The permission was withdrawn upstream."); err != nil {
			t.Fatal(err)
		}

		wantIn(t, "failed, to the requester", riley.get(requestURL(failed.ID)), "next-step",
			[]string{"No admin was emailed", "Admin page", "You have nothing to do"}, nil)
		wantIn(t, "failed, to the admin", drew.get(requestURL(failed.ID)), "next-step",
			[]string{"The requester has nothing to do"}, []string{"You have"})

		p := riley.get(requestURL(dropped.ID))
		wantIn(t, "abandoned", p, "status-reason", []string{"Abandoned by Drew Admin", "“The permission was withdrawn upstream.”"}, nil)
		wantIn(t, "abandoned", p, "next-step", []string{"will not be tried again", "file a corrected request"}, nil)

		mine := riley.get("/requests")
		rows := text(element(mine.Body, "requests"))
		for _, want := range []string{"Failed Page Role New role Failed an admin may retry", "Dropped Page Role New role Failed abandoned"} {
			if !strings.Contains(rows, want) {
				t.Errorf("My requests says %q; want %q", rows, want)
			}
		}
	})
	t.Run("admins emailed", func(t *testing.T) {
		h := newHarness(t, harnessOptions{Notify: &rolegate.NotificationTargets{Email: true}})
		riley := h.signInAs("requester")
		h.signInAs("admin")
		failed := h.seedRequest(rileyActor, "Failed Told Role")
		h.failRequest(failed.ID)
		wantIn(t, "failed with email on", riley.get(requestURL(failed.ID)), "next-step",
			[]string{"The admins were notified by email (1)"}, []string{"No admin"})
	})
}

// Before submitting, the form says who approves and how many approvals the
// request needs, the extra one for a sensitive permission in plain text,
// and the live check counts them for the permissions picked; the pending
// request's page says whom it waits for.
func TestFormAndPageSayWhoApproves(t *testing.T) {
	h := newHarness(t, harnessOptions{Env: map[string]string{"ROLEGATE_REQUIRED_APPROVALS": "2"}})
	riley := h.signInAs("requester")
	form := riley.get("/requests/new")
	wantIn(t, "the form", form, "approval-policy", []string{
		"members of the group rolegate-approvers", "nobody approves their own request", "It needs 2 approvals",
		"sensitive grants wide or risky access", "3 approvals in all",
	}, nil)

	for _, tc := range []struct {
		perms []string
		want  string
	}{
		{[]string{"api.groups.read"}, "With the permissions picked, this request needs 2 approvals."},
		{[]string{"api.groups.read", "api.users.write"}, "With the permissions picked, this request needs 3 approvals (one more because of a sensitive permission)."},
	} {
		p := riley.htmxPost("/requests/check", url.Values{"role_name": {"Who Approves"}, "permissions": tc.perms})
		if got := text(element(p.Body, "approvals-needed")); got != tc.want {
			t.Errorf("live check for %v says %q; want %q", tc.perms, got, tc.want)
		}
	}

	id := h.fileRequest(riley, "Who Approves Role", "api.groups.read", "api.users.write")
	wantIn(t, "the pending request", riley.get(requestURL(id)), "next-step", []string{
		"Waiting for 3 more approvals, from members of the group rolegate-approvers (not the requester), who see it under Reviews.",
		"It needs 3 approvals in all (one more than usual, because it asks for a sensitive permission).", "it expires",
	}, nil)
}

// A request that ended without a role offers its requester "File a
// corrected request": the New request form, filled in with what they asked
// for. Nobody else may copy it.
func TestCorrectedRequestOpensTheFormFilledIn(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	riley, avery := h.signInAs("requester"), h.signInAs("approver1")
	req, err := h.Requests.Create(t.Context(), rileyActor, rolegate.RequestInput{
		RoleName: "Corrected Role", Permissions: []string{"api.groups.read", "api.users.write"},
		Description: "Reads groups & writes users.", Justification: "Ticket OPS-7 <needs> it.",
	}, h.Catalog.Catalog())
	if err != nil {
		t.Fatal(err)
	}
	if p := riley.get(requestURL(req.ID)); strings.Contains(p.Body, `id="file-again"`) {
		t.Errorf("a pending request offers File a corrected request")
	}
	if _, err := h.Requests.Reject(t.Context(), averyActor, req.ID, "Too broad: drop api.users.write."); err != nil {
		t.Fatal(err)
	}
	if p := avery.get(requestURL(req.ID)); strings.Contains(p.Body, `id="file-again"`) {
		t.Errorf("the approver is offered File a corrected request of someone else's request")
	}
	link := element(riley.get(requestURL(req.ID)).Body, "file-again")
	href := regexpFind(t, link, `href="([^"]+)"`)
	if text(link) != "File a corrected request" || href != fmt.Sprintf("/requests/new?from=%d", req.ID) {
		t.Fatalf("the rejected request offers %q to %s; want File a corrected request to the form", text(link), href)
	}
	form := riley.get(href)
	if form.StatusCode != http.StatusOK {
		t.Fatalf("GET %s = %d; want 200", href, form.StatusCode)
	}
	if got := element(form.Body, "role_name"); !strings.Contains(got, `value="Corrected Role"`) {
		t.Errorf("Role name is %s; want Corrected Role", got)
	}
	for id, want := range map[string]string{"description": "Reads groups & writes users.", "justification": "Ticket OPS-7 <needs> it."} {
		if got := text(element(form.Body, id)); got != want {
			t.Errorf("%s holds %q; want %q", id, got, want)
		}
	}
	for _, perm := range req.Permissions {
		box := regexp.MustCompile(`<input type="checkbox" name="permissions" value="` + regexp.QuoteMeta(perm) + `"[^>]*>`).FindString(form.Body)
		if !strings.Contains(box, " checked") {
			t.Errorf("the permission %s is not picked: %s", perm, box)
		}
	}
	// Filing it is a new request; the old one stays as it was.
	if p := avery.get(href); p.StatusCode != http.StatusNotFound {
		t.Errorf("another person copying the request = %d; want 404", p.StatusCode)
	}
	for _, bad := range []string{"0", "x", "999999"} {
		if p := riley.get("/requests/new?from=" + bad); p.StatusCode != http.StatusNotFound {
			t.Errorf("GET /requests/new?from=%s = %d; want 404", bad, p.StatusCode)
		}
	}
}

// The request page says what each permission allows and marks the
// sensitive ones, so that an approver judges more than a code.
func TestRequestPageDescribesEachPermission(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	req := h.seedRequest(rileyActor, "Described Role", "api.groups.read", "api.users.write")
	list := element(h.signInAs("approver1").get(requestURL(req.ID)).Body, "request-permissions")
	cat := h.Catalog.Catalog()
	for _, name := range req.Permissions {
		perm, _ := cat.Lookup(name)
		item := regexp.MustCompile(`(?s)<li><code>` + regexp.QuoteMeta(name) + `</code>.*?</li>`).FindString(list)
		if perm.Description == "" || !strings.Contains(text(item), perm.Description) {
			t.Errorf("%s is shown as %q; want its description %q", name, text(item), perm.Description)
		}
		if got := strings.Contains(item, "tag sensitive"); got != perm.Sensitive {
			t.Errorf("%s marked sensitive = %v; want %v", name, got, perm.Sensitive)
		}
	}
}

// Cancel request asks first: the form is driven by htmx with hx-confirm
// (a browser dialog; the CSP allows no inline script), and the htmx post
// lands on the request with the flash.
func TestCancelRequestAsksFirst(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	riley := h.signInAs("requester")
	id := h.fileRequest(riley, "Cancel Asks Role")
	p := riley.get(requestURL(id))
	form := regexp.MustCompile(`<form[^>]*action="` + requestURL(id) + `/cancel"[^>]*>`).FindString(p.Body)
	if !strings.Contains(form, `hx-post="`+requestURL(id)+`/cancel"`) || !strings.Contains(form, `hx-confirm="Cancel this request?`) {
		t.Fatalf("the Cancel request form does not ask first: %s", form)
	}
	res := riley.htmxPost(requestURL(id)+"/cancel", nil)
	if res.StatusCode != http.StatusNoContent || res.Header.Get("HX-Redirect") != requestURL(id) {
		t.Fatalf("htmx cancel = %d, HX-Redirect %q; want 204 to %s", res.StatusCode, res.Header.Get("HX-Redirect"), requestURL(id))
	}
	if got := flashOf(riley.get(requestURL(id))); got != "The request was cancelled." {
		t.Errorf("after cancelling the page says %q", got)
	}
}

// Every page names the favicon, served from the portal under a
// fingerprinted name like the other assets.
func TestFavicon(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	b := h.newBrowser()
	for _, path := range []string{"/auth/dev", "/roles"} {
		if path == "/roles" {
			b = h.signInAs("requester")
		}
		href := regexp.MustCompile(`<link rel="icon" type="image/svg\+xml" href="(/static/favicon\.[0-9a-f]{12}\.svg)">`).FindStringSubmatch(b.get(path).Body)
		if href == nil {
			t.Errorf("%s names no fingerprinted favicon", path)
			continue
		}
		icon := b.get(href[1])
		if icon.StatusCode != http.StatusOK || icon.Header.Get("Content-Type") != "image/svg+xml" ||
			!strings.Contains(icon.Header.Get("Cache-Control"), "immutable") || !strings.HasPrefix(icon.Body, "<svg") {
			t.Errorf("GET %s = %d %q %q; want the SVG, cached for good", href[1], icon.StatusCode, icon.Header.Get("Content-Type"), icon.Header.Get("Cache-Control"))
		}
	}
}

// After a refused submit the focus lands on the error summary (autofocus:
// no script needed), so a keyboard or screen reader user starts there.
func TestRefusedSubmitFocusesTheErrorSummary(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	riley := h.signInAs("requester")
	p := riley.refused(riley.postWithToken("/requests", url.Values{"role_name": {"x"}}), "/requests/new")
	summary := regexp.MustCompile(`<div[^>]*id="form-errors"[^>]*>`).FindString(p.Body)
	if !strings.Contains(summary, `tabindex="-1"`) || !strings.Contains(summary, "autofocus") {
		t.Errorf("the error summary cannot take the focus: %s", summary)
	}
	if strings.Contains(riley.get("/requests/new").Body, "autofocus") {
		t.Errorf("the empty form moves the focus somewhere")
	}
}

// While a request is Approved or Provisioning its page asks for itself
// again (htmx polling of its own part); once settled, it stops.
func TestRequestPageUpdatesItselfUntilSettled(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	riley := h.signInAs("requester")
	req := h.seedRequest(rileyActor, "Live Page Role")
	live := func() string {
		return regexp.MustCompile(`<div id="request-live"[^>]*>`).FindString(riley.get(requestURL(req.ID)).Body)
	}
	if got := live(); strings.Contains(got, "hx-trigger") {
		t.Errorf("a pending request polls: %s", got)
	}
	if _, err := h.Requests.ApproveWith(t.Context(), averyActor, req.ID, req.Binding(), "", rolegate.Reauth{}); err != nil {
		t.Fatal(err)
	}
	<-h.HandedOff
	got := live()
	for _, want := range []string{`hx-get="` + requestURL(req.ID) + `"`, `hx-trigger="every 2s"`, `hx-select="#request-live"`, `hx-swap="outerHTML"`} {
		if !strings.Contains(got, want) {
			t.Errorf("an approved request's page lacks %s: %s", want, got)
		}
	}
	job, err := h.App.Services.Provisioning.ClaimJob(t.Context(), "test-worker", time.Minute)
	if err != nil || job == nil {
		t.Fatalf("ClaimJob = %+v, %v", job, err)
	}
	if err := h.App.Services.Provisioning.CompleteJob(t.Context(), job, rolegate.ProvisionedRole{ID: "role_live", Name: req.RoleName, Permissions: req.Permissions}, false); err != nil {
		t.Fatal(err)
	}
	if got := live(); got == "" || strings.Contains(got, "hx-trigger") {
		t.Errorf("a provisioned request still polls (or lost its live part): %q", got)
	}
}

// Many people view one request at once: the pages are rendered from the
// one record the store keeps for them all (internal/sqlite's read cache),
// and each is the page its viewer gets alone. Under the race detector, a
// page that changed the shared record while another read it would fail.
func TestRequestPageViewedByManyAtOnce(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	viewers := []*browser{h.signInAs("requester"), h.signInAs("approver1"), h.signInAs("admin")}
	id := h.seedRequest(rileyActor, "Concurrent Page Role").ID
	h.provisionRequest(id)
	want := make([]string, len(viewers))
	for i, b := range viewers {
		p := b.get(requestURL(id))
		if p.StatusCode != http.StatusOK || !strings.Contains(p.Body, "Concurrent Page Role") {
			t.Fatalf("viewer %d: GET = %d; want 200 with the role's name", i, p.StatusCode)
		}
		want[i] = p.Body
	}
	var wg sync.WaitGroup
	for i, b := range viewers {
		for range 4 {
			wg.Go(func() {
				for range 10 {
					res, err := b.Get(h.URL + requestURL(id))
					if err != nil {
						t.Error(err)
						return
					}
					body, err := io.ReadAll(res.Body)
					res.Body.Close()
					if err != nil || res.StatusCode != http.StatusOK || string(body) != want[i] {
						t.Errorf("viewer %d: GET = %d (%v), a page that differs from the one seen alone", i, res.StatusCode, err)
						return
					}
				}
			})
		}
	}
	wg.Wait()
}
