package web_test

import (
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/time/rate"

	"github.com/rolegate/rolegate/internal/rolegate"
	"github.com/rolegate/rolegate/internal/simulator"
	"github.com/rolegate/rolegate/web"
)

// Request access (issue 17), over real HTTP against a real SQLite file
// and the Admin API simulator, whose directory is dev mode's: Riley is in
// Support Team and Research, Avery in Research, Drew in Platform Admins.

// fileAccess files an access request as b and returns its id.
func (h *harness) fileAccess(b *browser, role, grantTo string) int64 {
	h.t.Helper()
	res := b.postWithToken("/access", url.Values{"role": {role}, "grant_to": {grantTo},
		"justification": {"Needed while the incident review lasts."}})
	var id int64
	if res.StatusCode != http.StatusSeeOther {
		h.t.Fatalf("file access: status %d; want 303\n%s", res.StatusCode, shorten(res.Body))
	}
	if _, err := fmtSscanf(res.Header.Get("Location"), "/requests/%d", &id); err != nil {
		h.t.Fatalf("file access: Location %q; want a request", res.Header.Get("Location"))
	}
	return id
}

func TestRequestAccessFormOffersThePictureAndStartsWithTheRequester(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	riley := h.signInAs("requester")
	p := riley.get("/access/new")
	if p.StatusCode != http.StatusOK {
		t.Fatalf("GET /access/new = %d", p.StatusCode)
	}
	for _, want := range []string{`<option value="reader (organization)">`, `<option value="Support Team (group)">`, `<option value="Avery Approver &lt;avery@example.test&gt;">`} {
		if !strings.Contains(p.Body, want) {
			t.Errorf("the form does not offer %s", want)
		}
	}
	if tag := fieldTag(p.Body, "grant_to"); !strings.Contains(tag, `value="Riley Requester &lt;riley@example.test&gt;"`) {
		t.Errorf("Grant to starts as %s; want the requester's own user", tag)
	}
	if strings.Contains(p.Body, `id="not-a-user"`) {
		t.Errorf("the form says Riley is not a user of the organization")
	}
	if !strings.Contains(p.Body, `<a href="/access/new" aria-current="page">Request access</a>`) {
		t.Errorf("the navigation has no current Request access link")
	}
	reader := h.pictureRole(t, "reader")
	if tag := fieldTag(riley.get("/access/new?role="+reader.ID).Body, "role"); !strings.Contains(tag, `value="reader (organization)"`) {
		t.Errorf("?role= fills Role as %s; want the role's label", tag)
	}
}

// When the organization has no user with the sign-in's email, the form
// says so and offers groups; Grant to starts empty.
func TestRequestAccessSaysWhenTheRequesterIsNotAUser(t *testing.T) {
	h := newHarness(t, harnessOptions{NoDirectory: true})
	p := h.signInAs("requester").get("/access/new")
	if got := text(element(p.Body, "not-a-user")); !strings.Contains(got, "The organization has no user with your email (riley@example.test)") || !strings.Contains(got, "pick a group") {
		t.Errorf("the form says %q; want that Riley is not a user, and to pick a group", got)
	}
	if tag := fieldTag(p.Body, "grant_to"); !strings.Contains(tag, `value=""`) {
		t.Errorf("Grant to starts as %s; want empty", tag)
	}
	if !strings.Contains(p.Body, `<option value="Contractors (group)">`) {
		t.Errorf("the form does not offer the organization's group")
	}
}

// A project's role is granted within its project: the call is the
// project's, and the role's label names the project.
func TestAccessToAProjectRoleIsGrantedWithinItsProject(t *testing.T) {
	h := newHarness(t, harnessOptions{Projects: []simulator.ProjectSeed{{Name: "Payments"}}})
	riley := h.signInAs("requester")
	payments := h.Sim.Projects()[0]
	got := text(riley.htmxPost("/access/check", url.Values{"role": {"member (project Payments)"}, "grant_to": {"Support Team"}}).Body)
	support, _ := h.Sim.GroupNamed("Support Team")
	for _, want := range []string{"in the project Payments (it can only be granted within that project)", "POST /v1/projects/" + payments.ID + "/groups/" + support.ID + "/roles"} {
		if !strings.Contains(got, want) {
			t.Errorf("the live check says %q; want %q", got, want)
		}
	}
	id := h.fileAccess(riley, "member (project Payments)", "Support Team")
	wantIn(t, "project access", riley.get(requestURL(id)), "request-scope", []string{"Project Payments", payments.ID}, nil)
}

// provisionedAccess files access as b, has Avery approve it and records
// its assignment as the worker would: the grant is active.
func (h *harness) provisionedAccess(b *browser, role, grantTo string) int64 {
	h.t.Helper()
	id := h.fileAccess(b, role, grantTo)
	_, job := h.approveAndClaim(id)
	if err := h.App.Services.Provisioning.CompleteJob(h.t.Context(), job, rolegate.ProvisionedRole{ID: job.AccessRoleID}, false); err != nil {
		h.t.Fatal(err)
	}
	return id
}

// pictureRole is the role of the organization's picture named name.
func (h *harness) pictureRole(t *testing.T, name string) rolegate.UpstreamRole {
	t.Helper()
	roles, err := h.App.Services.Pictures.PictureRoles(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range roles {
		if r.Name == name && r.Scope == rolegate.ScopeOrganization {
			return r
		}
	}
	t.Fatalf("the picture has no organization role %s", name)
	return rolegate.UpstreamRole{}
}

// A refused submission says why beside each field, keeps what was typed,
// and files nothing.
func TestRequestAccessRefusesBadInputBesideEachField(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	riley := h.signInAs("requester")
	for _, tc := range []struct {
		name               string
		form               url.Values
		wantID, wantPhrase string
	}{
		{"an unknown role", url.Values{"role": {"Nonexistent Role"}, "grant_to": {"Support Team"}}, "role-error", "No role of the organization's picture has a name containing Nonexistent Role."},
		{"part of a name", url.Values{"role": {"read"}, "grant_to": {"Support Team"}}, "role-error", "Did you mean reader (organization)?"},
		{"an unknown grantee", url.Values{"role": {"reader"}, "grant_to": {"nobody@example.test"}}, "grant_to-error", "matches nobody@example.test"},
		{"Until in the past", url.Values{"role": {"reader"}, "grant_to": {"Support Team"}, "until": {"2020-01-01"}}, "until-error", "must be in the future"},
		{"Until beyond the maximum", url.Values{"role": {"reader"}, "grant_to": {"Support Team"}, "until": {"2099-01-01"}}, "until-error", "Access can last at most 90 days"},
		{"Until malformed", url.Values{"role": {"reader"}, "grant_to": {"Support Team"}, "until": {"next week"}}, "until-error", "YYYY-MM-DD"},
		{"no justification", url.Values{"role": {"reader"}, "grant_to": {"Support Team"}, "justification": {" "}}, "justification-error", "Say why this access is needed."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.form.Get("justification") == "" && tc.wantID != "justification-error" {
				tc.form.Set("justification", "Needed while the incident review lasts.")
			}
			p := riley.refused(riley.postWithToken("/access", tc.form), "/access/new")
			if got := text(element(p.Body, tc.wantID)); !strings.Contains(got, tc.wantPhrase) {
				t.Errorf("%s says %q; want %q", tc.wantID, got, tc.wantPhrase)
			}
			if !strings.Contains(fieldTag(p.Body, "role"), `value="`+tc.form.Get("role")+`"`) {
				t.Errorf("the refused form lost what was typed in Role: %s", fieldTag(p.Body, "role"))
			}
		})
	}
	if n := h.countRows("requests"); n != 0 {
		t.Errorf("%d requests filed by refused submissions; want none", n)
	}
}

// The live check names what was picked, says when the grantee already
// holds the role upstream (a user also through a group) and when an open
// request already asks for the same grant.
func TestRequestAccessLiveCheck(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	riley := h.signInAs("requester")
	reader := h.pictureRole(t, "reader")
	check := func(role, grantTo string) string {
		t.Helper()
		return text(riley.htmxPost("/access/check", url.Values{"role": {role}, "grant_to": {grantTo}}).Body)
	}
	got := check("reader (organization)", "Support Team (group)")
	for _, want := range []string{"reader: a predefined role in the organization", "Granted to the group Support Team.", "POST /v1/organization/groups/", "needs 1 approval"} {
		if !strings.Contains(got, want) {
			t.Errorf("the live check says %q; want %q", got, want)
		}
	}
	if strings.Contains(got, "already") {
		t.Errorf("the live check says %q before anyone holds the role", got)
	}

	// Given to Support Team behind rolegate's back: the group holds it,
	// and Riley holds it through the group.
	support, _ := h.Sim.GroupNamed("Support Team")
	if err := h.Sim.AssignRole(simulator.Assignment{Kind: simulator.PrincipalGroup, PrincipalID: support.ID, RoleID: reader.ID}); err != nil {
		t.Fatal(err)
	}
	if got := check("reader", "Support Team"); !strings.Contains(got, "The group Support Team already holds the role reader") {
		t.Errorf("the live check says %q; want that the group holds it", got)
	}
	if got := check("reader", "riley@example.test"); !strings.Contains(got, "Riley Requester already holds the role reader through the group Support Team") {
		t.Errorf("the live check says %q; want that Riley holds it through Support Team", got)
	}

	id := h.fileAccess(riley, "reader", "Research")
	if got := check("reader", "Research (group)"); !strings.Contains(got, "An open request already asks for this: request #"+itoa(id)) {
		t.Errorf("the live check says %q; want the open request #%d", got, id)
	}
	again := riley.refused(riley.postWithToken("/access", url.Values{"role": {"reader"}, "grant_to": {"Research"},
		"justification": {"Needed while the incident review lasts."}}), "/access/new")
	if got := text(element(again.Body, "grant_to-error")); !strings.Contains(got, "An open request already asks for the role reader for the group Research") {
		t.Errorf("filing the same grant again says %q", got)
	}
}

// Nobody approves access they would receive: Avery is in Research, so
// Avery's page says why instead of offering Approve, and a forged approval
// is refused; Blake, outside it, approves. The request page, My requests
// and Reviews say it is access, for whom and until when.
func TestAccessForAGroupIsApprovedOnlyBySomeoneOutsideIt(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	riley, avery, blake := h.signInAs("requester"), h.signInAs("approver1"), h.signInAs("approver2")
	id := h.fileAccess(riley, "reader (organization)", "Research (group)")

	page := avery.get(requestURL(id))
	wantIn(t, "to a member of the group", page, "self-benefit", []string{"you are a member of the group Research"}, nil)
	if strings.Contains(page.Body, ">Approve</button>") {
		t.Errorf("Avery, in Research, is offered Approve")
	}
	req, err := h.Requests.Get(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	forged := avery.postWithToken(requestURL(id)+"/approve", url.Values{"payload_hash": {req.Binding()}})
	if forged.StatusCode != http.StatusForbidden || !strings.Contains(forged.Body, "member of the group Research") {
		t.Errorf("Avery's forged approval = %d; want 403 saying why\n%s", forged.StatusCode, shorten(forged.Body))
	}

	wantIn(t, "kind", blake.get(requestURL(id)), "request-kind", []string{"Access"}, nil)
	wantIn(t, "grantee", blake.get(requestURL(id)), "grantee", []string{"group Research"}, nil)
	wantIn(t, "until", blake.get(requestURL(id)), "until", []string{time.Now().Add(rolegate.DefaultAccessMaxDuration).UTC().Format("2006-01-02")}, nil)
	if rows := text(element(blake.get("/reviews").Body, "requests")); !strings.Contains(rows, "Access for the group Research") {
		t.Errorf("Reviews says %q; want the kind and the grantee", rows)
	}
	if res := blake.postWithToken(requestURL(id)+"/approve", url.Values{"payload_hash": {req.Binding()}}); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("Blake's approval = %d", res.StatusCode)
	}
	if got := <-h.HandedOff; got != id {
		t.Fatalf("handed off %d; want %d", got, id)
	}
	if rows := text(element(riley.get("/requests").Body, "requests")); !strings.Contains(rows, "Access for the group Research") {
		t.Errorf("My requests says %q; want the kind and the grantee", rows)
	}
}

// An admin revokes provisioned access with a reason; without one, nothing
// changes. The request then shows Revoked with the reason, in lists too.
func TestAdminRevokesAccessWithAReason(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	riley, drew := h.signInAs("requester"), h.signInAs("admin")
	id := h.provisionedAccess(riley, "reader", "Support Team")
	if strings.Contains(riley.get(requestURL(id)).Body, ">Revoke access</button>") {
		t.Errorf("the requester is offered Revoke access")
	}
	page := drew.get(requestURL(id))
	wantIn(t, "provisioned", page, "next-step", []string{"The group Support Team now holds the role reader in the organization, until"}, nil)
	if !strings.Contains(page.Body, ">Revoke access</button>") {
		t.Fatalf("the admin is not offered Revoke access")
	}

	noReason := drew.refused(drew.postWithToken(requestURL(id)+"/revoke", url.Values{"comment": {"  "}}), requestURL(id))
	wantIn(t, "no reason", noReason, "revoke-error", []string{"Say why access is revoked."}, nil)
	if r, _ := h.Requests.Get(t.Context(), id); r.Grant == nil || r.Grant.State != rolegate.GrantActive {
		t.Fatalf("after a revocation without reason the grant is %+v; want active", r.Grant)
	}

	if res := drew.postWithToken(requestURL(id)+"/revoke", url.Values{"comment": {"The incident is closed."}}); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("revoke = %d", res.StatusCode)
	}
	wantIn(t, "removing", drew.get(requestURL(id)), "next-step", []string{"rolegate is removing the assignment"}, nil)
	rm, err := h.App.Store.Removals.ClaimRemoval(t.Context(), "test-remover", time.Minute)
	if err != nil || rm == nil || rm.RequestID != id {
		t.Fatalf("ClaimRemoval = %+v, %v; want the removal of %d", rm, err, id)
	}
	if err := h.App.Store.Removals.CompleteRemoval(t.Context(), rm, false); err != nil {
		t.Fatal(err)
	}
	page = riley.get(requestURL(id))
	if got := text(element(page.Body, "status-reason")); !strings.Contains(got, "The incident is closed.") {
		t.Errorf("the status line says %q; want the reason", got)
	}
	wantIn(t, "revoked", page, "grant-state", []string{"Revoked", "by Drew Admin", "The incident is closed."}, nil)
	if !strings.Contains(page.Body, `data-status="revoked">Revoked<`) {
		t.Errorf("the request page does not show Revoked")
	}
	if rows := text(element(riley.get("/requests").Body, "requests")); !strings.Contains(rows, "Revoked") {
		t.Errorf("My requests says %q; want Revoked", rows)
	}
	again := drew.refused(drew.postWithToken(requestURL(id)+"/revoke", url.Values{"comment": {"Twice."}}), requestURL(id))
	if got := summary(again); !strings.Contains(got, "already revoked") {
		t.Errorf("revoking twice says %q", got)
	}
}

// fieldTag returns the form element with the given id, or "".
func fieldTag(html, id string) string {
	return regexp.MustCompile(`<(?:input|textarea|select)\b[^>]*\sid="` + regexp.QuoteMeta(id) + `"[^>]*>`).FindString(html)
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// A removal that failed waits for an admin: the page says the assignment
// may still exist, and an admin's Retry provisioning queues it again.
func TestAnAdminRetriesAFailedRemoval(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	riley, drew := h.signInAs("requester"), h.signInAs("admin")
	id := h.provisionedAccess(riley, "reader", "Support Team")
	if res := drew.postWithToken(requestURL(id)+"/revoke", url.Values{"comment": {"The incident is closed."}}); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("revoke = %d", res.StatusCode)
	}
	rm, err := h.App.Store.Removals.ClaimRemoval(t.Context(), "test-remover", time.Minute)
	if err != nil || rm == nil {
		t.Fatalf("ClaimRemoval = %+v, %v", rm, err)
	}
	if err := h.App.Store.Removals.FailRemoval(t.Context(), rm, "Gave up after 3 attempts. Last error: 502"); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(riley.get(requestURL(id)).Body, ">Retry provisioning</button>") {
		t.Errorf("the requester is offered Retry provisioning")
	}
	page := drew.get(requestURL(id))
	wantIn(t, "failed removal", page, "next-step", []string{"Removing the assignment failed, so it may still exist upstream"}, nil)
	wantIn(t, "failed removal", page, "grant-state", []string{"Removing it failed: Gave up after 3 attempts."}, nil)
	if !strings.Contains(page.Body, `action="/requests/`+itoa(id)+`/retry-removal"`) {
		t.Fatalf("the admin is not offered Retry provisioning of the removal")
	}
	if res := drew.postWithToken(requestURL(id)+"/retry-removal", nil); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("retry-removal = %d", res.StatusCode)
	}
	if r, _ := h.Requests.Get(t.Context(), id); r.Grant == nil || r.Grant.State != rolegate.GrantRemoving {
		t.Errorf("after Retry provisioning the grant is %+v; want removing", r.Grant)
	}
	again := drew.refused(drew.postWithToken(requestURL(id)+"/retry-removal", nil), requestURL(id))
	if got := summary(again); !strings.Contains(got, "Only a failed removal of access can be retried.") {
		t.Errorf("retrying a removal under way says %q", got)
	}
}

// The live checks' calls to the Admin API are bounded for everyone
// together: past the limit a check says it could not ask, and asks nothing.
func TestLiveChecksDoNotSpendTheAdminKeysRateLimit(t *testing.T) {
	limits := web.DefaultRateLimits()
	limits.UpstreamChecks = web.RateLimit{Per: rate.Every(time.Hour), Burst: 2}
	h := newHarness(t, harnessOptions{RateLimits: &limits})
	riley, avery := h.signInAs("requester"), h.signInAs("approver1")
	const couldNot = "We could not ask the organization whether they already hold it"
	for i, b := range []*browser{riley, avery} {
		if got := text(b.htmxPost("/access/check", url.Values{"role": {"reader"}, "grant_to": {"Support Team"}}).Body); strings.Contains(got, couldNot) {
			t.Errorf("check %d within the limit says %q", i+1, got)
		}
	}
	if got := text(riley.htmxPost("/access/check", url.Values{"role": {"reader"}, "grant_to": {"Support Team"}}).Body); !strings.Contains(got, couldNot) {
		t.Errorf("a check past the shared limit says %q; want that it could not ask", got)
	}
}

// In dev mode an admin can remove an assignment behind rolegate's back,
// as someone in OpenAI's console would, to watch access drift.
func TestDevModeRemovesAnAssignmentOutsideRolegate(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	drew := h.signInAs("admin")
	reader := h.pictureRole(t, "reader")
	support, _ := h.Sim.GroupNamed("Support Team")
	a := simulator.Assignment{Kind: simulator.PrincipalGroup, PrincipalID: support.ID, RoleID: reader.ID}
	if err := h.Sim.AssignRole(a); err != nil {
		t.Fatal(err)
	}
	page := drew.get("/admin")
	if got := text(element(page.Body, "dev-upstream")); !strings.Contains(got, "reader → group Support Team (organization)") {
		t.Fatalf("the dev controls say %q; want the assignment offered", got)
	}
	res := drew.postWithToken("/admin/dev/upstream", url.Values{"action": {"unassign"}, "assignment": {"group|" + support.ID + "||" + reader.ID}})
	if res.StatusCode != http.StatusSeeOther || len(h.Sim.Assignments()) != 0 {
		t.Fatalf("remove outside rolegate = %d; upstream holds %v", res.StatusCode, h.Sim.Assignments())
	}
	if p := drew.refused(drew.postWithToken("/admin/dev/upstream", url.Values{"action": {"unassign"}, "assignment": {"user|x"}}), "/admin"); !strings.Contains(summary(p), "Choose the assignment to remove.") {
		t.Errorf("a malformed assignment says %q", summary(p))
	}
}
