package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/rolegate/rolegate/internal/notify"
	"github.com/rolegate/rolegate/internal/testkit"
)

// The organization changes behind rolegate's back, as it does when people
// use OpenAI's console: a role created there is taken while typing within
// the picture's age, shows on Roles as created outside rolegate after the
// next sync, and a role rolegate created that is then changed or deleted
// there is marked so, recorded once in the audit trail, and told once to
// the admins (email) and the webhooks.
func TestOrganizationChangedOutsideRolegate(t *testing.T) {
	testkit.NeedsBrowser(t)
	t.Parallel()
	mail := testkit.StartMailbox(t)
	hooks := startHookReceiver(t, "whsec-e2e-picture-never-shown")
	// The picture's age and the sync period are shortened so the journey
	// takes seconds; the product's are 30 s and 5 min.
	p := startPortal(t, map[string]string{
		"ROLEGATE_PICTURE_MAX_AGE": "2s",
		"ROLEGATE_SYNC_EVERY":      "3s",
		"ROLEGATE_SMTP_ADDR":       mail.Addr,
		"ROLEGATE_SMTP_FROM":       "rolegate@example.test",
		"ROLEGATE_WEBHOOK_URLS":    hooks.url,
		"ROLEGATE_WEBHOOK_SECRET":  hooks.secret,
	})
	b := newBrowser(t)
	admin := p.signIn(t, b, drew) // the admins are those who have signed in
	requester := p.signIn(t, b, riley)

	// A role rolegate creates.
	form := requestForm{RoleName: "e2e drift watchers", Permissions: []string{"api.groups.read"},
		Justification: "The platform team watches group changes."}
	id := fileRequest(requester, form)
	approver := p.signIn(t, b, avery)
	approver.visit(fmt.Sprintf("/requests/%d", id))
	approver.follow(button("Approve"))
	approver.waitForStatus("Provisioned", 15*time.Second)
	roleID := p.upstreamRoleID(form.RoleName)

	// Someone creates a role in the console; typing its name says taken.
	p.createUpstreamRole(t, "Existing Role 795075", "api.groups.read")
	requester.follow(link("New request"))
	requester.typeInto("Role name", "existing role 795075")
	variants := []string{"Existing Role 795075", "EXISTING ROLE 795075", "existing role 795075"}
	typed := 0
	requester.waitUntil("the name to be reported taken", func() bool {
		if strings.Contains(requester.bodyText(), "already exists in the organization") {
			return true
		}
		// The person types on (names collide whatever their case): each
		// new value is checked again, against a picture at most 2 s old.
		typed++
		requester.clearField("Role name")
		requester.typeInto("Role name", variants[typed%len(variants)])
		time.Sleep(300 * time.Millisecond) // typing speed, not a wait for the answer
		return false
	})

	// After the next sync it is on Roles, created outside rolegate.
	admin.follow(link("Roles"))
	admin.typeInto("Search", "795075")
	admin.follow(button("Search"))
	reloadUntil(admin, "the console's role on Roles", func() bool {
		text := admin.bodyText()
		return strings.Contains(text, "Existing Role 795075") && strings.Contains(text, "Created outside rolegate")
	})

	// Someone widens rolegate's role in the console: changed outside rolegate.
	p.upstream(t, http.MethodPost, "/v1/organization/roles/"+roleID, `{"permissions":["api.groups.read","api.groups.write"]}`, http.StatusOK)
	admin.visit("/roles?q=drift+watchers")
	reloadUntil(admin, "the change on Roles", func() bool {
		return strings.Contains(admin.bodyText(), "Changed outside rolegate")
	})
	admin.seeText("api.groups.write")
	admin.see(link(fmt.Sprintf("Request #%d", id)))
	requester.visit(fmt.Sprintf("/requests/%d", id))
	requester.seeText("Changed outside rolegate")
	requester.seeText("api.groups.write")

	// Someone deletes it: deleted outside rolegate.
	p.deleteUpstreamRole(t, form.RoleName)
	admin.visit("/roles?q=drift+watchers")
	reloadUntil(admin, "the deletion on Roles", func() bool {
		return strings.Contains(admin.bodyText(), "Deleted outside rolegate")
	})

	// More syncs see the same organization (an admin's resyncs, each a
	// complete read of its own): nothing is recorded twice.
	for range 2 {
		admin.visit("/admin")
		admin.follow(button("Resync the permission catalog"))
		admin.seeText("read again from the organization")
	}
	auditor := p.signIn(t, b, casey)
	for _, action := range []string{"upstream.role.appeared", "upstream.role.changed", "upstream.role.deleted"} {
		auditor.visit("/audit?action=" + action)
		if rows := auditor.texts(`//table//tr[td]`); len(rows) != 1 {
			t.Errorf("Audit for %s = %d rows %q; want 1", action, len(rows), rows)
		}
	}
	// The admins were told once of each drift; a role created outside
	// rolegate notifies nobody.
	admin.waitUntil("the admin's two drift emails", func() bool { return mail.Count(drew.Email, "outside rolegate") >= 2 })
	if n := mail.Count(drew.Email, "changed outside rolegate"); n != 1 {
		t.Errorf("%d 'changed outside rolegate' emails to the admin; want 1", n)
	}
	if n := mail.Count(drew.Email, "deleted outside rolegate"); n != 1 {
		t.Errorf("%d 'deleted outside rolegate' emails to the admin; want 1", n)
	}
	admin.waitUntil("the drift webhooks", func() bool { return hooks.count("upstream.role.deleted") >= 1 })
	for event, want := range map[string]int{"upstream.role.changed": 1, "upstream.role.deleted": 1, "upstream.role.appeared": 0} {
		if got := hooks.count(event); got != want {
			t.Errorf("%d webhooks for %s; want %d", got, event, want)
		}
	}
	if n := p.Sim.CreateCalls(); n != 2 {
		t.Errorf("%d create calls; want 2, the approved role's and the console's", n)
	}
}

// reloadUntil reloads the page until cond holds (a sync has to happen
// first), within twice the step timeout.
func reloadUntil(pe *person, what string, cond func() bool) {
	pe.t.Helper()
	if !testkit.Poll(2*stepTimeout, 500*time.Millisecond, func() bool {
		if cond() {
			return true
		}
		pe.do("reload", chromedp.Reload())
		return false
	}) {
		pe.fail("reloaded for %s for %s", 2*stepTimeout, what)
	}
}

// hookReceiver counts the signed webhook posts it gets by event.
type hookReceiver struct {
	url, secret string
	mu          sync.Mutex
	events      map[string]int
}

func startHookReceiver(t *testing.T, secret string) *hookReceiver {
	t.Helper()
	hr := &hookReceiver{secret: secret, events: map[string]int{}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if err := notify.VerifySignature([]byte(secret), r.Header.Get(notify.SignatureHeader), body, time.Now(), notify.SignatureTolerance); err != nil {
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		var msg struct {
			Event string `json:"event"`
		}
		_ = json.Unmarshal(body, &msg)
		hr.mu.Lock()
		hr.events[msg.Event]++
		hr.mu.Unlock()
	}))
	t.Cleanup(srv.Close)
	hr.url = srv.URL + "/hooks/rolegate"
	return hr
}

func (hr *hookReceiver) count(event string) int {
	hr.mu.Lock()
	defer hr.mu.Unlock()
	return hr.events[event]
}
