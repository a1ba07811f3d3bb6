package web_test

import (
	"fmt"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/rolegate/rolegate/internal/rolegate"
	"github.com/rolegate/rolegate/internal/simulator"
	"github.com/rolegate/rolegate/internal/testkit"
	"github.com/rolegate/rolegate/web"
)

// Filing requests through the portal: the New request form, its live
// checks, My requests and the request page, over real HTTP against a real
// SQLite file and the Admin API simulator.

// devActor is a dev-mode persona as the request service sees it, for
// setting up many requests without going through the form each time.
func devActor(id, name string, roles ...rolegate.PortalRole) rolegate.Actor {
	return rolegate.Actor{Principal: rolegate.Principal{
		Person: rolegate.Person{Issuer: web.DevIssuer, Subject: id, Name: name, Email: id + "@example.test"},
		Roles:  roles,
	}}
}

var (
	rileyActor = devActor("requester", "Riley Requester", rolegate.RoleRequester)
	// someoneElse is a requester no dev persona signs in as.
	someoneElse = devActor("someone-else", "Sam Else", rolegate.RoleRequester)
)

// seedRequest files a request as who through the service, past the form.
func (h *harness) seedRequest(who rolegate.Actor, name string, perms ...string) *rolegate.Request {
	h.t.Helper()
	if len(perms) == 0 {
		perms = []string{"api.groups.read"}
	}
	req, err := h.Requests.Create(h.t.Context(), who, rolegate.RequestInput{
		RoleName: name, Permissions: perms, Justification: "Needed for the quarterly access review.",
	}, h.Catalog.Catalog())
	if err != nil {
		h.t.Fatalf("seed request %q: %v", name, err)
	}
	return req
}

// htmxPost sends what htmx sends: the CSRF token in a header (hx-headers
// on the body), HX-Request, and the form.
func (b *browser) htmxPost(path string, form url.Values) page {
	b.h.t.Helper()
	return b.htmxPostWith(b.csrfToken(), path, form)
}

func (b *browser) htmxPostWith(token, path string, form url.Values) page {
	b.h.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, b.h.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", b.h.URL)
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	req.Header.Set("HX-Request", "true")
	req.Header.Set("X-CSRF-Token", token)
	res, err := b.Do(req)
	if err != nil {
		b.h.t.Fatalf("POST %s: %v", path, err)
	}
	return readPage(b.h.t, res)
}

// element returns the HTML element with the given id, from its start tag to
// its matching end tag (the portal's markup is well formed), or "" when
// absent.
func element(body, id string) string {
	m := regexp.MustCompile(`<(\w+)[^>]*\bid="` + regexp.QuoteMeta(id) + `"[^>]*>`).FindStringSubmatchIndex(body)
	if m == nil {
		return ""
	}
	tag := body[m[2]:m[3]]
	if tag == "input" {
		return body[m[0]:m[1]]
	}
	tags := regexp.MustCompile(`<(/?)` + tag + `\b[^>]*>`)
	depth := 1
	for _, t := range tags.FindAllStringSubmatchIndex(body[m[1]:], -1) {
		if t[3] > t[2] { // a closing tag
			depth--
		} else {
			depth++
		}
		if depth == 0 {
			return body[m[0] : m[1]+t[1]]
		}
	}
	return body[m[0]:]
}

// text strips tags and unescapes entities, for reading what a person sees.
func text(fragment string) string {
	s := regexp.MustCompile(`<[^>]*>`).ReplaceAllString(fragment, " ")
	return strings.Join(strings.Fields(html.UnescapeString(s)), " ")
}

func TestNewRequestFormOffersTheCatalog(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	p := h.signInAs("requester").get("/requests/new")
	if p.StatusCode != http.StatusOK {
		t.Fatalf("GET /requests/new = %d; want 200", p.StatusCode)
	}
	for _, want := range []string{
		`<label for="role_name">Role name</label>`, `<legend>Permissions</legend>`,
		`<label for="description">Description</label>`, `<label for="justification">Justification</label>`,
		`<button type="submit">Submit request</button>`,
		`method="post" action="/requests"`, `name="csrf_token"`,
		`hx-post="/requests/check"`,
	} {
		if !strings.Contains(p.Body, want) {
			t.Errorf("the form lacks %s", want)
		}
	}
	// One checkbox per permission, labelled with the permission string, grouped
	// by area, with a one-line description; the sensitive ones marked.
	for _, perm := range []string{"api.groups.read", "api.users.write", "api.audit_logs.read"} {
		box := regexp.MustCompile(`<input type="checkbox" name="permissions" value="` + regexp.QuoteMeta(perm) + `"[^>]*aria-labelledby="([^"]+)"`).FindStringSubmatch(p.Body)
		if box == nil {
			t.Errorf("no checkbox for %s", perm)
			continue
		}
		if got := text(element(p.Body, box[1])); got != perm {
			t.Errorf("the checkbox for %s is labelled %q; want the permission string", perm, got)
		}
	}
	for _, area := range []string{"<legend>Groups</legend>", "<legend>Users</legend>", "<legend>API keys</legend>"} {
		if !strings.Contains(p.Body, area) {
			t.Errorf("the form lacks the area %s", area)
		}
	}
	if !strings.Contains(text(element(p.Body, "perm-api.users.write-desc")), "Change users") {
		t.Errorf("api.users.write has no description")
	}
	if n := strings.Count(p.Body, `class="tag sensitive"`); n != 6 {
		t.Errorf("%d permissions marked sensitive; want the catalog file's 6", n)
	}
}

func TestSubmitFilesTheRequest(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	riley := h.signInAs("requester")
	res := riley.postWithToken("/requests", url.Values{
		"role_name":     {"  Group Auditor "},
		"permissions":   {"api.groups.read", "api.audit_logs.read", "api.groups.read"},
		"description":   {"Reads groups and the audit log."},
		"justification": {"The compliance team reviews group membership quarterly."},
	})
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("submit = %d; want 303\n%s", res.StatusCode, res.Body)
	}
	loc := res.Header.Get("Location")
	var id int64
	if _, err := fmt.Sscanf(loc, "/requests/%d", &id); err != nil || loc != fmt.Sprintf("/requests/%d", id) {
		t.Fatalf("Location %q; want the request page", loc)
	}
	req, err := h.Requests.Get(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	const payload = `{"role_name":"Group Auditor","permissions":["api.audit_logs.read","api.groups.read"],"description":"Reads groups and the audit log."}`
	if string(req.Payload) != payload || req.Status != rolegate.StatusPending || req.Requester.Subject != "requester" {
		t.Errorf("stored %s, %s, by %s; want %s, pending, by requester", req.Payload, req.Status, req.Requester.Subject, payload)
	}
	p := riley.get(loc)
	for _, want := range []string{"Your request was submitted", "Pending", "Group Auditor", "api.audit_logs.read",
		"The compliance team reviews group membership quarterly.", "Cancel request", "Submitted the request", req.PayloadHash} {
		if !strings.Contains(p.Body, want) {
			t.Errorf("the request page lacks %q", want)
		}
	}
	for _, absent := range []string{">Approve<", ">Reject<", "Retry provisioning"} {
		if strings.Contains(p.Body, absent) {
			t.Errorf("the requester's own page offers %s", absent)
		}
	}
}

// A rejected form sends the person back to the form (303, never a page at
// the post's address), which shows everything they typed and each field's
// message beside that field; nothing is stored.
func TestSubmitErrorsKeepWhatWasTyped(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	riley := h.signInAs("requester")
	h.seedRequest(someoneElse, "Taken Name")
	tests := []struct {
		desc   string
		form   url.Values
		errors map[string]string // field → a word of its message
	}{
		{"everything wrong", url.Values{
			"role_name": {"x<"}, "permissions": {"api.groups.read", "api.nukes.launch"},
			"description": {"Reads <groups> & \"more\""}, "justification": {"short"},
		}, map[string]string{"role_name": "at least 3", "permissions": "Unknown permission: api.nukes.launch",
			"justification": "at least 10"}},
		{"nothing filled in", url.Values{}, map[string]string{
			"role_name": "Enter a role name", "permissions": "Pick at least one", "justification": "Say why"}},
		{"a name an open request has", url.Values{
			"role_name": {"taken name"}, "permissions": {"api.groups.read"}, "justification": {"Needed for the quarterly review."},
		}, map[string]string{"role_name": "already asks for a role with this name"}},
		{"a name the organization has", url.Values{
			"role_name": {"Owner"}, "permissions": {"api.groups.read"}, "justification": {"Needed for the quarterly review."},
		}, map[string]string{"role_name": "already exists in the organization"}},
		{"a control character", url.Values{
			"role_name": {"Group Reader"}, "permissions": {"api.groups.read"}, "description": {"bell\a"}, "justification": {"Needed for the quarterly review."},
		}, map[string]string{"description": "control characters"}},
		{"text reordered by a bidi override, a C1 control", url.Values{
			"role_name": {"Group Reader"}, "permissions": {"api.groups.read"}, "description": {"Reads groups \u202eetirw dna"},
			"justification": {"Needed for the\u0085quarterly review."},
		}, map[string]string{"description": "change the direction of text (found U+202E)", "justification": "control characters (found U+0085)"}},
		{"too many permissions", url.Values{
			"role_name": {"Group Reader"}, "permissions": slices.Repeat([]string{"api.groups.read"}, 101), "justification": {"Needed for the quarterly review."},
		}, map[string]string{"permissions": "at most 50"}},
	}
	for _, tt := range tests {
		res := riley.refused(riley.postWithToken("/requests", tt.form), "/requests/new")
		for _, field := range []string{"role_name", "permissions", "description", "justification"} {
			got := text(element(res.Body, field+"-error"))
			want, bad := tt.errors[field]
			switch {
			case bad && !strings.Contains(got, want):
				t.Errorf("%s: beside %s: %q; want %q", tt.desc, field, got, want)
			case !bad && got != "":
				t.Errorf("%s: beside %s: %q; want nothing", tt.desc, field, got)
			}
		}
		if _, bad := tt.errors["role_name"]; bad && !strings.Contains(element(res.Body, "role_name"), `aria-invalid="true"`) {
			t.Errorf("%s: the role name field is not marked invalid", tt.desc)
		}
		// The live check's verdict on the name stands beside it too, unless
		// the field's own message already says what is wrong.
		nameCheck := text(element(res.Body, "name-check"))
		if _, bad := tt.errors["role_name"]; bad && nameCheck != "" {
			t.Errorf("%s: the name check repeats the field's message: %q", tt.desc, nameCheck)
		} else if !bad && tt.form.Get("role_name") != "" && nameCheck != "The name is available." {
			t.Errorf("%s: name check %q; want the name said available", tt.desc, nameCheck)
		}
		// What was typed comes back, escaped.
		if name := tt.form.Get("role_name"); !strings.Contains(element(res.Body, "role_name"), `value="`+html.EscapeString(name)+`"`) {
			t.Errorf("%s: the role name %q was not kept:\n%s", tt.desc, name, element(res.Body, "role_name"))
		}
		if d := tt.form.Get("description"); d != "" && !strings.Contains(res.Body, ">"+html.EscapeString(d)+"</textarea>") {
			t.Errorf("%s: the description %q was not kept", tt.desc, d)
		}
		if j := tt.form.Get("justification"); j != "" && !strings.Contains(res.Body, ">"+html.EscapeString(j)+"</textarea>") {
			t.Errorf("%s: the justification %q was not kept", tt.desc, j)
		}
		for _, perm := range tt.form["permissions"] {
			if box := regexp.MustCompile(`<input type="checkbox" name="permissions" value="` + regexp.QuoteMeta(perm) + `" checked`); strings.HasPrefix(perm, "api.groups") && !box.MatchString(res.Body) {
				t.Errorf("%s: %s is no longer ticked", tt.desc, perm)
			}
		}
	}
	_, total, err := h.Requests.List(t.Context(), rolegate.RequestFilter{RequesterKey: rileyActor.Key()})
	if err != nil || total != 0 {
		t.Errorf("rejected forms stored %d requests (%v); want none", total, err)
	}
}

// The live checks answer as the person types: the name, the overlap with
// existing roles, and the exact body with its SHA-256.
func TestLiveChecks(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	riley := h.signInAs("requester")
	h.seedRequest(someoneElse, "Pending Name")
	var reads []string
	for _, a := range h.Catalog.Catalog().Areas() {
		for _, p := range a.Permissions {
			if strings.HasSuffix(p.Name, ".read") {
				reads = append(reads, p.Name)
			}
		}
	}
	tests := []struct {
		desc     string
		form     url.Values
		name     string // a word of the name check, "" = empty
		nameBad  bool
		overlaps []string // words of the overlap warning
		preview  bool
	}{
		{"an empty form", url.Values{}, "", false, nil, false},
		{"a free name", url.Values{"role_name": {"Fresh Name"}}, "The name is available.", false, nil, false},
		{"a malformed name", url.Values{"role_name": {"a;b"}}, "Use letters", true, nil, false},
		{"a name upstream", url.Values{"role_name": {"READER"}}, "already exists in the organization", true, nil, false},
		{"a name of an open request", url.Values{"role_name": {"pending name"}}, "already asks", true, nil, false},
		// Two read permissions: neither reader nor owner is offered, both
		// being far broader than what was picked.
		{"only far broader roles exist", url.Values{"role_name": {"Fresh Name"}, "permissions": {"api.groups.read", "api.usage.read"}}, "available", false,
			nil, true},
		{"a close superset exists", url.Values{"role_name": {"Fresh Name"}, "permissions": reads[1:]}, "available", false,
			[]string{"The existing role reader already grants all of these permissions, and 1 more: " + reads[0], "What reader grants"}, true},
		{"an exact match exists", url.Values{"role_name": {"Fresh Name"}, "permissions": reads}, "available", false,
			[]string{"The existing role reader already grants exactly these permissions."}, true},
	}
	for _, tt := range tests {
		p := riley.htmxPost("/requests/check", tt.form)
		if p.StatusCode != http.StatusOK {
			t.Errorf("%s: status %d; want 200", tt.desc, p.StatusCode)
			continue
		}
		nameCheck := element(p.Body, "name-check")
		if !strings.Contains(nameCheck, `hx-swap-oob="true"`) {
			t.Errorf("%s: the name check is not swapped out of band: %s", tt.desc, nameCheck)
		}
		if got := text(nameCheck); (tt.name == "") != (got == "") || !strings.Contains(got, tt.name) {
			t.Errorf("%s: name check %q; want %q", tt.desc, got, tt.name)
		}
		if tt.nameBad != strings.Contains(nameCheck, "check bad") {
			t.Errorf("%s: name check marked bad = %v; want %v", tt.desc, !tt.nameBad, tt.nameBad)
		}
		overlap := text(element(p.Body, "overlap-check"))
		for _, want := range tt.overlaps {
			if !strings.Contains(overlap, want) {
				t.Errorf("%s: overlap warning %q; want %q", tt.desc, overlap, want)
			}
		}
		if len(tt.overlaps) == 0 && overlap != "" {
			t.Errorf("%s: overlap warning %q; want none", tt.desc, overlap)
		}
		preview := text(element(p.Body, "preview"))
		if !tt.preview {
			if !strings.Contains(preview, "Fill in the role name") {
				t.Errorf("%s: preview %q; want the hint", tt.desc, preview)
			}
			continue
		}
		in := rolegate.RequestInput{RoleName: tt.form.Get("role_name"), Permissions: tt.form["permissions"]}.Normalize()
		payload, hash := in.Payload()
		if got := text(element(p.Body, "preview-hash")); got != hash {
			t.Errorf("%s: preview hash %q; want %q (SHA-256 of %s)", tt.desc, got, hash, payload)
		}
		for _, perm := range in.Permissions {
			if !strings.Contains(preview, `"`+perm+`"`) {
				t.Errorf("%s: preview lacks %s: %s", tt.desc, perm, preview)
			}
		}
	}
	// Without the CSRF header the check is refused.
	res := riley.post("/requests/check", url.Values{"role_name": {"Fresh Name"}})
	if res.StatusCode != http.StatusForbidden {
		t.Errorf("live check without a CSRF token = %d; want 403", res.StatusCode)
	}
}

// The live check must keep up with typing: it reads the in-memory catalog
// and one indexed row, never the upstream, whatever the number of requests.
func TestLiveCheckNeverCallsTheUpstream(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	for i := range 100 {
		h.seedRequest(someoneElse, fmt.Sprintf("Seeded Role %03d", i))
	}
	riley := h.signInAs("requester")
	form := url.Values{"role_name": {"Seeded Role 050"}, "permissions": {"api.groups.read", "api.users.read"}}
	token := riley.csrfToken()
	riley.htmxPostWith(token, "/requests/check", form) // warm up
	// A trap: the next call to the upstream, of any kind, would take it.
	h.Sim.FailNext(1, simulator.Fault{Op: simulator.OpAny, Kind: simulator.FaultServerError})
	var took []time.Duration
	for range 15 {
		start := time.Now()
		p := riley.htmxPostWith(token, "/requests/check", form)
		took = append(took, time.Since(start))
		if !strings.Contains(p.Body, "already asks") {
			t.Fatalf("the name of a seeded request is not reported taken:\n%s", p.Body)
		}
	}
	sort.Slice(took, func(i, j int) bool { return took[i] < took[j] })
	median := took[len(took)/2]
	t.Logf("live check over 100 requests: median %s, fastest %s", median, took[0])
	// Speed is measured by benchmarks and load runs (docs/PERFORMANCE.md), not
	// asserted here: a loaded CI machine would make any bound flaky.
	if h.Sim.PendingFaults() != 1 {
		t.Errorf("the live check called the upstream")
	}
}

func TestMyRequestsFiltersAndPages(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	var ids []int64
	for i := range 30 {
		ids = append(ids, h.seedRequest(rileyActor, fmt.Sprintf("Riley Role %02d", i)).ID)
	}
	for _, id := range ids[:3] {
		if _, err := h.Requests.Cancel(t.Context(), rileyActor, id); err != nil {
			t.Fatal(err)
		}
	}
	h.seedRequest(someoneElse, "Not Riley Role")
	riley := h.signInAs("requester")
	listed := func(body string) []string {
		return regexp.MustCompile(`<td class="wrap"><a href="/requests/\d+">([^<]+)</a>`).FindAllString(body, -1)
	}
	p := riley.get("/requests")
	if n := len(listed(p.Body)); n != 25 {
		t.Errorf("page 1 lists %d requests; want 25", n)
	}
	for _, want := range []string{"Riley Role 29", "Riley Role 05", `href="/requests?page=2"`, "Page 1 of 2", "30 in all"} {
		if !strings.Contains(p.Body, want) {
			t.Errorf("page 1 lacks %q", want)
		}
	}
	if strings.Contains(p.Body, "Not Riley") {
		t.Errorf("My requests lists another person's request")
	}
	if strings.Index(p.Body, "Riley Role 29") > strings.Index(p.Body, "Riley Role 28") {
		t.Errorf("My requests is not newest first")
	}
	p = riley.get("/requests?page=2")
	if n := len(listed(p.Body)); n != 5 || !strings.Contains(p.Body, "Riley Role 00") || !strings.Contains(p.Body, `href="/requests?page=1"`) {
		t.Errorf("page 2 lists %d requests; want the 5 oldest and a link back", n)
	}
	p = riley.get("/requests?status=cancelled")
	if n := len(listed(p.Body)); n != 3 || !strings.Contains(p.Body, `<option value="cancelled" selected>`) {
		t.Errorf("the cancelled filter lists %d requests; want 3, with the filter selected", n)
	}
	p = riley.get("/requests?status=pending&page=2")
	if n := len(listed(p.Body)); n != 2 || !strings.Contains(p.Body, `href="/requests?status=pending&amp;page=1"`) {
		t.Errorf("pending page 2 lists %d; want 2 and a link back that keeps the filter", n)
	}
	p = riley.get("/requests?status=provisioned")
	if !strings.Contains(p.Body, "You have no requests here yet") {
		t.Errorf("an empty filter does not say so")
	}
	for _, odd := range []string{"?status=bogus", "?page=-1", "?page=abc", "?page=99999999999"} {
		if p := riley.get("/requests" + odd); p.StatusCode != http.StatusOK {
			t.Errorf("GET /requests%s = %d; want 200", odd, p.StatusCode)
		}
	}
	if p := riley.get("/requests?page=7"); !strings.Contains(p.Body, `href="/requests?page=6"`) || !strings.Contains(p.Body, "30 in all") {
		t.Errorf("a page past the end gives no way back")
	}
}

// Another person's request does not exist for a plain requester: not its
// page, not its cancel button (no hint that the id is valid).
func TestAnotherPersonsRequestIsNotFound(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	theirs := h.seedRequest(someoneElse, "Their Role")
	riley := h.signInAs("requester")
	never := riley.get("/requests/999999")
	tests := []struct {
		desc string
		do   func() page
	}{
		{"view", func() page { return riley.get(fmt.Sprintf("/requests/%d", theirs.ID)) }},
		{"cancel", func() page { return riley.postWithToken(fmt.Sprintf("/requests/%d/cancel", theirs.ID), nil) }},
	}
	for _, tt := range tests {
		p := tt.do()
		if p.StatusCode != http.StatusNotFound {
			t.Errorf("%s another person's request = %d; want 404", tt.desc, p.StatusCode)
		}
		if strings.Contains(p.Body, "Their Role") {
			t.Errorf("%s another person's request shows its role name", tt.desc)
		}
	}
	if never.StatusCode != http.StatusNotFound {
		t.Errorf("an unknown id = %d; want 404", never.StatusCode)
	}
	for _, who := range []string{"approver1", "auditor", "admin"} {
		if p := h.signInAs(who).get(fmt.Sprintf("/requests/%d", theirs.ID)); p.StatusCode != http.StatusOK {
			t.Errorf("%s views a request = %d; want 200", who, p.StatusCode)
		}
	}
	if got, _ := h.Requests.Get(t.Context(), theirs.ID); got.Status != rolegate.StatusPending {
		t.Errorf("the request is %s after the refused cancel; want pending", got.Status)
	}
}

func TestCancelOnlyByTheOwnerWhilePending(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	riley := h.signInAs("requester")
	id := h.fileRequest(riley, "Group Reader")
	path := fmt.Sprintf("/requests/%d", id)

	avery := h.signInAs("approver1")
	if p := avery.get(path); strings.Contains(p.Body, "Cancel request") {
		t.Errorf("an approver is offered Cancel request on another's request")
	}
	if p := avery.postWithToken(path+"/cancel", nil); p.StatusCode != http.StatusForbidden {
		t.Errorf("an approver cancelling = %d; want 403", p.StatusCode)
	}
	if p := riley.postWithToken(path+"/cancel", nil); p.StatusCode != http.StatusSeeOther {
		t.Fatalf("the owner cancelling = %d; want 303", p.StatusCode)
	}
	p := riley.get(path)
	if !strings.Contains(p.Body, `data-status="cancelled">Cancelled<`) || !strings.Contains(p.Body, "Cancelled the request") {
		t.Errorf("after cancelling, the page does not say Cancelled with a timeline entry")
	}
	if strings.Contains(p.Body, ">Cancel request<") {
		t.Errorf("a cancelled request still offers Cancel request")
	}
	if p := riley.refused(riley.postWithToken(path+"/cancel", nil), path); !strings.Contains(summary(p), "Nothing was changed: This request is Cancelled; only pending requests can be cancelled.") {
		t.Errorf("cancelling twice: the request page says %q; want that it is cancelled already", summary(p))
	}

	// Once approved, the requester can no longer cancel.
	id2 := h.fileRequest(riley, "Group Writer", "api.groups.write")
	path2 := fmt.Sprintf("/requests/%d", id2)
	hash := regexpFind(t, avery.get(path2).Body, `name="payload_hash" value="([0-9a-f]{64})"`)
	if p := avery.postWithToken(path2+"/approve", url.Values{"payload_hash": {hash}}); p.StatusCode != http.StatusSeeOther {
		t.Fatalf("approve = %d", p.StatusCode)
	}
	if p := riley.get(path2); strings.Contains(p.Body, ">Cancel request<") {
		t.Errorf("an approved request offers Cancel request")
	}
	if p := riley.refused(riley.postWithToken(path2+"/cancel", nil), path2); !strings.Contains(summary(p), "This request is Approved; only pending requests can be cancelled.") {
		t.Errorf("cancelling an approved request: the request page says %q; want that it is approved", summary(p))
	}
}

// The request page shows everything about the request as plain text, even
// hostile text.
func TestRequestPageShowsHostileTextAsText(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	riley := h.signInAs("requester")
	res := riley.postWithToken("/requests", url.Values{
		"role_name": {"Group Reader"}, "permissions": {"api.groups.read"},
		"description":   {`<script>alert("d")</script>`},
		"justification": {`<img src=x onerror=alert(1)> =HYPERLINK("x")`},
	})
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("submit = %d\n%s", res.StatusCode, res.Body)
	}
	p := riley.get(res.Header.Get("Location"))
	if strings.Contains(p.Body, "<script>alert") || strings.Contains(p.Body, "<img src=x") {
		t.Errorf("hostile text is rendered as markup")
	}
	if !strings.Contains(p.Body, "&lt;img src=x onerror=alert(1)&gt;") {
		t.Errorf("the justification is not shown as text")
	}
}

func TestExpiryShowsItsReasonInTheTimeline(t *testing.T) {
	clk := testkit.NewClock(time.Now())
	h := newHarness(t, harnessOptions{Now: clk.Now, Env: map[string]string{"ROLEGATE_REQUEST_TTL": "72h"}})
	riley := h.signInAs("requester")
	id := h.fileRequest(riley, "Group Reader")
	id2 := h.fileRequest(riley, "Group Writer", "api.groups.write")
	path := fmt.Sprintf("/requests/%d", id)
	if p := riley.get(path); !strings.Contains(p.Body, "Expires") {
		t.Errorf("a pending request does not say when it expires")
	}
	clk.Advance(72 * time.Hour)
	if n, err := h.Requests.ExpireDue(t.Context()); err != nil || n != 2 {
		t.Fatalf("ExpireDue = %d, %v; want 2", n, err)
	}
	riley = h.signInAs("requester") // three days later: a new session
	p := riley.get(path)
	timeline := text(element(p.Body, "timeline"))
	if !strings.Contains(p.Body, `data-status="expired">Expired<`) || !strings.Contains(timeline, "The request expired") ||
		!strings.Contains(timeline, "No decision within 3 days of submission.") {
		t.Errorf("an expired request's page: timeline %q; want Expired with its reason", timeline)
	}
	if strings.Contains(p.Body, ">Cancel request<") {
		t.Errorf("an expired request offers Cancel request")
	}
	avery := h.signInAs("approver1")
	if p := avery.get(fmt.Sprintf("/requests/%d", id2)); strings.Contains(p.Body, ">Approve<") {
		t.Errorf("an expired request offers Approve")
	}
}

// Before the sweep runs, a request past its deadline offers no decision,
// and an approval posted anyway expires it rather than counting.
func TestActingPastTheDeadlineExpiresTheRequest(t *testing.T) {
	clk := testkit.NewClock(time.Now())
	h := newHarness(t, harnessOptions{Now: clk.Now, Env: map[string]string{"ROLEGATE_REQUEST_TTL": "24h"}})
	riley := h.signInAs("requester")
	id := h.fileRequest(riley, "Group Reader")
	path := fmt.Sprintf("/requests/%d", id)
	avery := h.signInAs("approver1")
	hash := regexpFind(t, avery.get(path).Body, `name="payload_hash" value="([0-9a-f]{64})"`)
	clk.Advance(24 * time.Hour)
	avery, riley = h.signInAs("approver1"), h.signInAs("requester") // a day later: new sessions
	if p := avery.get(path); strings.Contains(p.Body, ">Approve<") || !strings.Contains(p.Body, "past its deadline") {
		t.Errorf("a request past its deadline still offers Approve, or does not say why not")
	}
	if p := avery.refused(avery.postWithToken(path+"/approve", url.Values{"payload_hash": {hash}}), path); !strings.Contains(summary(p), "expired") {
		t.Errorf("approving past the deadline: the request page says %q; want that it expired", summary(p))
	}
	if p := riley.get(path); !strings.Contains(p.Body, `data-status="expired"`) || !strings.Contains(p.Body, "No decision within 1 day of submission.") {
		t.Errorf("after the refused approval the request is not Expired with its reason")
	}
}

// TestNameChecksNameOnlyRequestsThePersonMaySee: the live check and the
// submission tell a requester that a name is taken by a pending request,
// never which one, when that request answers 404 to them; its owner and
// approvers are told its number.
func TestNameChecksNameOnlyRequestsThePersonMaySee(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	req := h.seedRequest(someoneElse, "Hidden Name")
	riley := h.signInAs("requester")
	if p := riley.get(fmt.Sprintf("/requests/%d", req.ID)); p.StatusCode != http.StatusNotFound {
		t.Fatalf("GET /requests/%d as Riley = %d; want 404 (the premise)", req.ID, p.StatusCode)
	}
	number := fmt.Sprintf("#%d", req.ID)
	check := text(element(riley.htmxPost("/requests/check", url.Values{"role_name": {"hidden name"}}).Body, "name-check"))
	if check != "A pending request already asks for a role with this name." {
		t.Errorf("Riley's live check = %q; want only that a pending request holds the name", check)
	}
	p := riley.refused(riley.postWithToken("/requests", url.Values{
		"role_name": {"Hidden Name"}, "permissions": {"api.groups.read"}, "justification": {"Needed for the quarterly review."},
	}), "/requests/new")
	if got := text(element(p.Body, "role_name-error")); strings.Contains(p.Body, number) || !strings.Contains(got, "A pending request already asks") {
		t.Errorf("Riley's refused submission shows %q beside the name; want it taken, without the request's number", got)
	}
	avery := h.signInAs("approver1") // may see every request
	if got := text(element(avery.htmxPost("/requests/check", url.Values{"role_name": {"Hidden Name"}}).Body, "name-check")); !strings.Contains(got, "Request "+number) {
		t.Errorf("an approver's live check = %q; want request %s named", got, number)
	}
}
