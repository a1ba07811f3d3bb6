package e2e

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"github.com/rolegate/rolegate/internal/simulator"
	"github.com/rolegate/rolegate/internal/testkit"
)

// The portal tells people the truth and what happens next (issue 14): the
// flash says what was really done, to the person who acted only, once; a
// request being created updates its own page; the auditor finds a request
// by a ticket number its justification gives.
func TestThePortalSaysWhatHappenedAndWhatIsNext(t *testing.T) {
	testkit.NeedsBrowser(t)
	t.Parallel()
	p := startPortal(t, nil)
	b := newBrowser(t)
	form := requestForm{
		RoleName:      "e2e truthful readers",
		Permissions:   []string{"api.usage.read"},
		Justification: "Finance asked for it in ticket FIN-4471.",
	}
	requester := p.signIn(t, b, riley)
	id := fileRequest(requester, form)
	// No notification is configured: the flash says so, and where
	// approvers will find the request.
	const submitted = "Your request was submitted. No notification was sent: Approvers will see it under Reviews."
	if got := flashText(requester); got != submitted {
		t.Errorf("after submitting, the flash says %q; want %q", got, submitted)
	}
	requester.reload()
	if got := flashText(requester); got != "" {
		t.Errorf("after a reload the flash still says %q; want none (it is shown once)", got)
	}

	// The approver opening the requester's page sees no flash of theirs.
	// The upstream holds the creation until the test releases it, so the
	// request is seen Approved or Provisioning before it settles.
	release := make(chan struct{})
	released := false
	defer func() {
		if !released {
			close(release)
		}
	}()
	p.Sim.FailNext(1, simulator.Fault{Kind: simulator.FaultHang, Op: simulator.OpCreate, Release: release})
	approver := p.signIn(t, b, avery)
	openFromReviews(approver, form.RoleName)
	if got := flashText(approver); got != "" {
		t.Errorf("the approver opening the request sees the flash %q; want none", got)
	}
	approver.follow(button("Approve"))
	if got := flashText(approver); got != "Your approval was recorded." {
		t.Errorf("after approving, the flash says %q; want Your approval was recorded.", got)
	}
	if got := approver.status(); got != "Approved" && got != "Provisioning" {
		t.Fatalf("right after approving (the upstream holding the creation) the request shows %q; want Approved or Provisioning", got)
	}
	approver.seeText("this page updates itself")

	// Without reloading, the page follows the request until it settles.
	evalAsync[bool](approver, `(async () => { window.rolegateE2ESamePage = true; return true; })()`)
	close(release)
	released = true
	approver.waitUntil("the page to show Provisioned by itself", func() bool { return approver.status() == "Provisioned" })
	if !evalAsync[bool](approver, `(async () => window.rolegateE2ESamePage === true)()`) {
		t.Errorf("the page was reloaded to show Provisioned; want it updated in place")
	}
	approver.seeText(p.upstreamRoleID(form.RoleName))
	approver.seeText("not yet assigned to anyone")

	// The auditor finds the request by the ticket in its justification,
	// and the page counts the matches.
	auditor := p.signIn(t, b, casey)
	auditor.follow(link("Audit"))
	auditor.typeInto("Text", "FIN-4471")
	auditor.follow(button("Search"))
	rows := auditor.texts(`//table//tr[td]`)
	if len(rows) != 1 || !strings.Contains(rows[0], "request.created") || !strings.Contains(rows[0], "#"+strconv.FormatInt(id, 10)) {
		t.Errorf("Audit for the text FIN-4471 = %q; want the request's creation", rows)
	}
	if got := auditor.texts(`//*[@id='audit-count']`); len(got) != 1 || got[0] != "1 event matches." {
		t.Errorf("the Audit page counts %q; want 1 event matches.", got)
	}
}

// flashText is the flash message on the page, "" when there is none.
func flashText(pe *person) string {
	got := pe.texts(`//main/div[contains(concat(' ', normalize-space(@class), ' '), ' flash ')][@role='status']`)
	return strings.Join(got, " ")
}

// The New request form helps to ask for the least: the permission list
// can be searched (with a count of matches for screen readers), Enter in
// Role name does not send a half-filled form, and a refused form does not
// sit on the post's address, so a reload does not send it again, and what
// was typed stays, with or without JavaScript.
func TestNewRequestFormSearchEnterAndReload(t *testing.T) {
	testkit.NeedsBrowser(t)
	t.Parallel()
	p := startPortal(t, nil)
	b := newBrowser(t)
	requester := p.signIn(t, b, riley)
	requester.follow(link("New request"))

	all := requester.count(`//input[@type='checkbox'][@name='permissions']`)
	requester.click(permissionBox("api.usage.read"))
	requester.typeInto("Search permissions", "groups")
	requester.waitUntil("the permission list to narrow to groups", func() bool {
		return visibleBoxes(requester) < all
	})
	for _, perm := range visiblePermissions(requester) {
		if perm != "api.usage.read" && !strings.Contains(perm, "groups") && !strings.Contains(strings.ToLower(permissionDescription(requester, perm)), "groups") {
			t.Errorf("searching groups shows %s", perm)
		}
	}
	if !slices.Contains(visiblePermissions(requester), "api.groups.read") {
		t.Errorf("searching groups hides api.groups.read")
	}
	if !slices.Contains(visiblePermissions(requester), "api.usage.read") {
		t.Errorf("searching groups hides the picked api.usage.read")
	}
	count := requester.texts(`//*[@id='perm-search-count']`)
	want := fmt.Sprintf("of %d permissions match", all)
	if len(count) != 1 || !strings.Contains(count[0], want) {
		t.Errorf("the search counts %q; want … %s", count, want)
	}
	// Enter in the search submits nothing. A form's implicit submission
	// fires its submit event while the key is handled, which the key
	// event waits for: counting submit events needs no waiting.
	evalAsync[bool](requester, `(async () => {
		window.rolegateE2ESubmits = 0;
		document.addEventListener('submit', () => { window.rolegateE2ESubmits++; }, true);
		return true;
	})()`)
	requester.do("press Enter in the search", chromedp.Focus(field("Search permissions")), chromedp.KeyEvent("\r"))
	if n := evalAsync[int](requester, `(async () => window.rolegateE2ESubmits)()`); n != 0 {
		t.Fatalf("Enter in the permission search submitted the form (%d submit events)", n)
	}
	requester.clearField("Search permissions")
	requester.waitUntil("every permission to show again", func() bool { return visibleBoxes(requester) == all })

	// Nor does Enter in Role name submit the half-filled form.
	requester.typeInto("Role name", "e2e half filled")
	requester.do("press Enter in Role name", chromedp.Focus(field("Role name")), chromedp.KeyEvent("\r"))
	if n := evalAsync[int](requester, `(async () => window.rolegateE2ESubmits)()`); n != 0 {
		t.Fatalf("Enter in Role name submitted the form (%d submit events)", n)
	}
	if got := requester.path(); got != "/requests/new" {
		t.Fatalf("Enter in Role name went to %s; want to stay on /requests/new", got)
	}

	// Submit request with the justification missing: refused. The browser
	// is sent back to the form's own address (303), where the summary has
	// the focus and everything typed is still there; reloading gets the
	// form, never the post again. Then the same without JavaScript, which
	// the portal needs for none of it.
	requester.typeInto("Description", "Usage for the <finance> dashboards.")
	wantRefusedAndKept := func(roleName string) {
		t.Helper()
		if status := requester.followStatus(button("Submit request")); status != http.StatusOK {
			t.Fatalf("submitting without a justification led to a page of status %d; want the form again (200, after a 303)", status)
		}
		if got := requester.path(); got != "/requests/new" {
			t.Errorf("the refused form sits at %s; want /requests/new", got)
		}
		requester.see(field("Justification") + `[@aria-invalid='true']`)
		if focused := evalAsync[string](requester, `(async () => document.activeElement ? document.activeElement.id : '')()`); focused != "form-errors" {
			t.Errorf("after a refused submit the focus is on %q; want the error summary", focused)
		}
		if got := fieldValue(requester, "Role name"); got != roleName {
			t.Errorf("after a refused submit Role name holds %q; want %q as typed", got, roleName)
		}
		if got := fieldValue(requester, "Description"); got != "Usage for the <finance> dashboards." {
			t.Errorf("after a refused submit Description holds %q; want it as typed", got)
		}
		if !boxChecked(requester, "api.usage.read") {
			t.Errorf("after a refused submit api.usage.read is no longer picked")
		}
		ctx, cancel := context.WithTimeout(requester.ctx, stepTimeout)
		res, err := chromedp.RunResponse(ctx, chromedp.Reload())
		cancel()
		if err != nil {
			t.Fatalf("reload: %v", err)
		}
		if res == nil || res.Status != http.StatusOK || requester.path() != "/requests/new" {
			t.Errorf("reloading the refused form answered %v at %s; want 200 at /requests/new", res, requester.path())
		}
		// A post sent again would be refused again, and say so.
		if n := requester.count(`//*[@id='form-errors']`); n != 0 {
			t.Errorf("reloading the refused form posted it again")
		}
	}
	wantRefusedAndKept("e2e half filled")

	requester.setScripts(false)
	requester.reload()
	// The witness that no script runs: rolegate.js shows the permission
	// search, which stays hidden.
	if n := requester.count(`//div[@class='perm-search'][@hidden]`); n != 1 {
		t.Fatalf("with JavaScript off the permission search shows; the page's script ran")
	}
	requester.typeInto("Role name", "e2e without script")
	requester.click(permissionBox("api.usage.read"))
	requester.typeInto("Description", "Usage for the <finance> dashboards.")
	wantRefusedAndKept("e2e without script")
	requester.setScripts(true)

	requester.follow(link("My requests"))
	if n := requester.count(link("e2e half filled")); n != 0 {
		t.Errorf("a half-filled form was filed")
	}
}

// boxChecked says whether perm's checkbox is ticked now.
func boxChecked(pe *person, perm string) bool {
	return evalAsync[bool](pe, `(async () => [...document.querySelectorAll("input[type=checkbox][name=permissions]")]
		.some(el => el.value === `+jsString(perm)+` && el.checked))()`)
}

// visibleBoxes counts the permission checkboxes a person can see.
func visibleBoxes(pe *person) int { return len(visiblePermissions(pe)) }

// visiblePermissions are the permissions whose checkbox is shown.
func visiblePermissions(pe *person) []string {
	return evalAsync[[]string](pe, `(async () => [...document.querySelectorAll("input[type=checkbox][name=permissions]")]
		.filter(el => el.offsetParent !== null).map(el => el.value))()`)
}

// permissionDescription is the description the form gives perm.
func permissionDescription(pe *person, perm string) string {
	return evalAsync[string](pe, `(async () => {
		const box = [...document.querySelectorAll("input[type=checkbox][name=permissions]")].find(el => el.value === `+jsString(perm)+`);
		const label = box && box.closest('label');
		return label ? label.textContent : '';
	})()`)
}

// Every time a page shows is written in the viewer's time zone, with the
// UTC time on hover; without the script the page still says UTC.
func TestTimesAreShownInTheViewersZone(t *testing.T) {
	testkit.NeedsBrowser(t)
	t.Parallel()
	p := startPortal(t, nil)
	b := newBrowser(t)
	requester := p.signIn(t, b, riley)
	// India is UTC+5:30 all year: no daylight saving to trip on.
	requester.do("move the browser to Kolkata", chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, emulation.SetTimezoneOverride, emulation.SetTimezoneOverrideParams{TimezoneID: "Asia/Kolkata"})
		return err
	}))
	fileRequest(requester, requestForm{RoleName: "e2e time zone readers", Permissions: []string{"api.usage.read"}, Justification: "Dashboards."})
	type shown struct {
		Datetime string `json:"datetime"`
		Text     string `json:"text"`
		Title    string `json:"title"`
	}
	times := evalAsync[[]shown](requester, `(async () => [...document.querySelectorAll('main time')]
		.map(el => ({datetime: el.getAttribute('datetime'), text: el.textContent.trim(), title: el.title})))()`)
	if len(times) < 3 {
		t.Fatalf("the request page shows %d <time> elements; want its submission, expiry and timeline times", len(times))
	}
	for _, tm := range times {
		at, err := time.Parse(time.RFC3339, tm.Datetime)
		if err != nil {
			t.Errorf("<time datetime=%q>: %v", tm.Datetime, err)
			continue
		}
		kolkata := at.In(time.FixedZone("IST", 5*3600+1800)).Format("2006-01-02 15:04")
		if !strings.HasPrefix(tm.Text, kolkata) || strings.HasSuffix(tm.Text, "UTC") {
			t.Errorf("the time %s is shown as %q; want %s in the viewer's zone", tm.Datetime, tm.Text, kolkata)
		}
		if want := at.UTC().Format("2006-01-02 15:04") + " UTC"; tm.Title != want {
			t.Errorf("the time %s says %q on hover; want %q", tm.Datetime, tm.Title, want)
		}
	}
}
