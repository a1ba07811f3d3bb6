package e2e

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/rolegate/rolegate/internal/simulator"
	"github.com/rolegate/rolegate/internal/sso/ssotest"
	"github.com/rolegate/rolegate/internal/testkit"
)

// screenshotsDir is where TestScreenshots saves its pictures; the test is
// skipped without it:
//
//	go test ./e2e -run TestScreenshots -screenshots=DIR
var screenshotsDir = flag.String("screenshots", "", "save a screenshot of every page at desktop and phone width into this folder (TestScreenshots)")

// screenWidths are the widths of the screenshot set: the desktop window,
// and a phone's 390 CSS pixels.
var screenWidths = []struct {
	name  string
	width int64 // 0: the browser window as it is (1280 px)
}{{"desktop", 0}, {"phone", 390}}

// TestScreenshots walks every page of the portal with people and requests
// in each state, and saves each page whole at desktop and phone width,
// for people to review the layout. Each page is also checked like in the
// journeys (axe-core, fits 360 px).
func TestScreenshots(t *testing.T) {
	testkit.NeedsBrowser(t)
	if *screenshotsDir == "" {
		t.Skip("no -screenshots=DIR: go test ./e2e -run TestScreenshots -screenshots=DIR")
	}
	dir, err := filepath.Abs(*screenshotsDir)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	shots := &screenshotSet{t: t, dir: dir}
	defer shots.writeIndex()
	t.Run("access", func(t *testing.T) { screenshotAccess(t, shots) })

	t.Run("portal", func(t *testing.T) {
		p := startPortal(t, nil)
		b := newBrowser(t)
		requester := p.signIn(t, b, riley)
		shots.take(requester, "home-requester")

		requester.follow(link("New request"))
		shots.take(requester, "new-request-empty")
		requester.followStatus(button("Submit request"))
		shots.take(requester, "new-request-refused")
		requester.visit("/requests/new")
		requester.typeInto("Role name", "screenshot usage and projects readers")
		for _, perm := range []string{"api.usage.read", "api.projects.read", "api.users.write"} {
			requester.click(permissionBox(perm))
		}
		requester.typeInto("Search permissions", "read")
		requester.waitUntil("the live checks to show the body", func() bool { return requester.count(`//pre[@id='preview']`) == 1 })
		shots.take(requester, "new-request-filled")

		form := func(name string, perms ...string) requestForm {
			return requestForm{RoleName: name, Permissions: perms, Description: "Shown in the screenshots.",
				Justification: "Ticket SHOT-1: the screenshot set shows a request in this state."}
		}
		pending := fileRequest(requester, form("screenshot pending", "api.groups.read", "api.users.write"))
		shots.take(requester, "request-pending-just-filed")
		rejected := fileRequest(requester, form("screenshot rejected", "api.users.write"))
		cancelled := fileRequest(requester, form("screenshot cancelled", "api.usage.read"))
		requester.follow(button("Cancel request"))
		provisioned := fileRequest(requester, form("screenshot provisioned", "api.audit_logs.read"))
		failed := fileRequest(requester, form("screenshot failed", "api.billing.read"))
		p.createUpstreamRole(t, "screenshot failed", "api.usage.read") // its name is then taken upstream

		approver := p.signIn(t, b, avery)
		shots.take(approver, "home-approver")
		approver.follow(link("Reviews"))
		shots.take(approver, "reviews")
		approver.visit(fmt.Sprintf("/requests/%d", pending))
		shots.take(approver, "request-pending-to-approver")
		approver.visit(fmt.Sprintf("/requests/%d", rejected))
		approver.follow(button("Reject")) // without a comment: refused, on the request's page
		shots.take(approver, "request-refused-rejection")
		approver.typeInto("Comment", "Too broad: users.write lets you remove people. Ask for api.users.read.")
		approver.follow(button("Reject"))
		for _, id := range []int64{provisioned, failed} {
			approver.visit(fmt.Sprintf("/requests/%d", id))
			approver.follow(button("Approve"))
		}
		approver.visit(fmt.Sprintf("/requests/%d", provisioned))
		approver.waitForStatus("Provisioned", 15*time.Second)
		approver.visit(fmt.Sprintf("/requests/%d", failed))
		approver.waitForStatus("Failed", 15*time.Second)

		for _, r := range []struct {
			name string
			id   int64
		}{{"request-rejected", rejected}, {"request-cancelled", cancelled}, {"request-provisioned", provisioned}, {"request-failed", failed}} {
			requester.visit(fmt.Sprintf("/requests/%d", r.id))
			shots.take(requester, r.name)
		}
		requester.visit(fmt.Sprintf("/requests/%d", rejected))
		requester.follow(link("File a corrected request"))
		shots.take(requester, "new-request-corrected")
		requester.follow(link("My requests"))
		shots.take(requester, "my-requests")
		requester.follow(link("Roles"))
		shots.take(requester, "roles")
		requester.visitStatus("/audit", http.StatusForbidden)
		shots.take(requester, "error-forbidden")
		requester.visitStatus("/requests/999999", http.StatusNotFound)
		shots.take(requester, "error-not-found")

		auditor := p.signIn(t, b, casey)
		auditor.follow(link("Audit"))
		shots.take(auditor, "audit")
		auditor.typeInto("Text", "SHOT-1")
		auditor.follow(button("Search"))
		shots.take(auditor, "audit-search")

		admin := p.signIn(t, b, drew)
		admin.follow(link("Admin"))
		shots.take(admin, "admin")

		requester.visit("/auth/logout")
		shots.take(requester, "sign-out")
		requester.follow(button("Sign out"))
		shots.take(requester, "signed-out")
	})

	t.Run("dev mode", func(t *testing.T) {
		p := startPortal(t, map[string]string{
			"ROLEGATE_DEV": "1", "ROLEGATE_OIDC_ISSUER": "", "ROLEGATE_OIDC_CLIENT_ID": "", "ROLEGATE_OIDC_CLIENT_SECRET": "",
			"OPENAI_ADMIN_KEY": "", "OPENAI_BASE_URL": "",
			"ROLEGATE_REQUESTER_GROUPS": "", "ROLEGATE_APPROVER_GROUPS": "", "ROLEGATE_AUDITOR_GROUPS": "", "ROLEGATE_ADMIN_GROUPS": "",
		})
		pe := p.openBrowser(t, newBrowser(t), "Newcomer")
		pe.visit("/")
		shots.take(pe, "dev-sign-in")
		pe.follow(button("Sign in as Drew Admin"))
		pe.follow(link("Admin"))
		shots.take(pe, "dev-admin")
	})
}

// screenshotAccess adds the pages of access requests (issue 17) to the set:
// the Request access form empty, refused and filled in, and an access
// request pending (to an approver in the group), provisioned (to an admin)
// and revoked.
func screenshotAccess(t *testing.T, shots *screenshotSet) {
	p := startPortalWithOrganization(t, nil, ssotest.Profile{}, simulator.Options{Users: simulator.DevUsers(), Groups: simulator.DevGroups()})
	b := newBrowser(t)
	requester := p.signIn(t, b, riley)
	requester.follow(link("Request access"))
	shots.take(requester, "request-access-default")
	requester.clearField("Grant to")
	requester.followStatus(button("Submit request"))
	shots.take(requester, "request-access-refused")
	requester.visit("/access/new")
	requester.typeInto("Role", "reader (organization)")
	requester.clearField("Grant to")
	requester.typeInto("Grant to", "Research (group)")
	requester.typeInto("Justification", "Research reads usage while the quarter closes.")
	requester.seeText("Granted to the group Research.")
	shots.take(requester, "request-access-filled")
	requester.follow(button("Submit request"))
	id := requester.requestID()

	member := p.signIn(t, b, avery)
	member.visit(fmt.Sprintf("/requests/%d", id))
	shots.take(member, "access-pending-to-a-member")
	approver := p.signIn(t, b, blake)
	approver.visit(fmt.Sprintf("/requests/%d", id))
	approver.follow(button("Approve"))
	approver.waitForStatus("Provisioned", 15*time.Second)
	admin := p.signIn(t, b, drew)
	admin.visit(fmt.Sprintf("/requests/%d", id))
	shots.take(admin, "access-provisioned-admin")
	admin.typeInto("Reason", "The quarter is closed.")
	admin.follow(button("Revoke access"))
	admin.waitForStatus("Revoked", 15*time.Second)
	shots.take(admin, "access-revoked")
	requester.follow(link("My requests"))
	shots.take(requester, "my-requests-with-access")
}

// screenshotSet saves pages into dir and lists them in index.html.
type screenshotSet struct {
	t     *testing.T
	dir   string
	files []string
}

// take saves the open page, whole, at each of screenWidths, as
// NN-name-desktop.png and NN-name-phone.png.
func (s *screenshotSet) take(pe *person, name string) {
	pe.t.Helper()
	for _, w := range screenWidths {
		file := fmt.Sprintf("%02d-%s-%s.png", len(s.files)/len(screenWidths)+1, name, w.name)
		ctx, cancel := context.WithTimeout(pe.ctx, stepTimeout)
		if w.width > 0 {
			if err := emulatePhone(ctx, w.width); err != nil {
				cancel()
				pe.fail("emulate a %d px phone: %v", w.width, err)
			}
		}
		png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		if w.width > 0 {
			clearEmulation(ctx)
		}
		cancel()
		if err != nil {
			pe.fail("screenshot %s: %v", file, err)
		}
		if err := os.WriteFile(filepath.Join(s.dir, file), png, 0o644); err != nil {
			pe.t.Fatal(err)
		}
		s.files = append(s.files, file)
	}
}

// writeIndex lists the pictures side by side, desktop and phone, in
// index.html.
func (s *screenshotSet) writeIndex() {
	var b strings.Builder
	b.WriteString("<!doctype html><meta charset=utf-8><title>rolegate screenshots</title>\n<h1>rolegate screenshots</h1>\n")
	for i := 0; i+1 < len(s.files); i += 2 {
		name := strings.TrimSuffix(s.files[i], "-desktop.png")
		fmt.Fprintf(&b, "<h2>%s</h2>\n<p><img src=%q width=640 alt=\"%s at desktop width\"> <img src=%q width=195 alt=\"%s at phone width\"></p>\n",
			name, s.files[i], name, s.files[i+1], name)
	}
	if err := os.WriteFile(filepath.Join(s.dir, "index.html"), []byte(b.String()), 0o644); err != nil {
		s.t.Error(err)
	}
	s.t.Logf("%d screenshots and index.html in %s", len(s.files), s.dir)
}
