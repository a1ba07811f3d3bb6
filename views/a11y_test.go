package views

import (
	"bytes"
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/a-h/templ"

	"github.com/rolegate/rolegate/internal/rolegate"
)

// everyPage is each page of the portal rendered with everything it can
// show: all roles, errors beside fields, tables with rows. The browser
// journeys run axe-core over what people reach; these render what is hard
// to reach there (every field error, the abandon form) and run in a blink.
func everyPage() map[string]templ.Component {
	now := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	person := rolegate.Person{Issuer: "https://idp.example.test", Subject: "u-1", Email: "riley@example.test", Name: "Riley Requester"}
	c := Chrome{
		Principal: &rolegate.Principal{Person: person, Roles: []rolegate.PortalRole{
			rolegate.RoleRequester, rolegate.RoleApprover, rolegate.RoleAuditor, rolegate.RoleAdmin,
		}},
		CSRFToken: "token", Dev: true, Active: "new", CSSURL: "/static/rolegate.css", JSURL: "/static/htmx.js",
		Flash: Flash{Kind: "ok", Text: "Done."},
	}
	signedOut := Chrome{CSSURL: c.CSSURL, JSURL: c.JSURL}
	role := rolegate.ExistingRole{ID: "role_1", Name: "reader", Permissions: []string{"api.groups.read"}}
	req := &rolegate.Request{
		ID: 7, RoleName: "group readers", Permissions: []string{"api.groups.read", "api.users.write"},
		Description: "Reads groups.", Justification: "Quarterly review.", Payload: []byte(`{"role_name":"group readers"}`),
		PayloadHash: strings.Repeat("ab", 32), Status: rolegate.StatusFailed, Requester: person, RequiredApprovals: 2,
		CreatedAt: now, ExpiresAt: now.Add(time.Hour), UpstreamRoleID: "role_2", FailureMessage: "already exists",
		AbandonedAt: now, Approvals: []rolegate.Approval{{Approver: person, PayloadHash: strings.Repeat("ab", 32), Comment: "ok", At: now}},
	}
	changed := rolegate.PictureRole{UpstreamRole: rolegate.UpstreamRole{ID: "role_2", Scope: rolegate.ScopeOrganization, Name: "group readers",
		Permissions: []string{"api.groups.read"}}, RequestID: 7, Drift: rolegate.DriftChanged,
		Differences: []rolegate.Difference{{Field: "permissions", Added: []string{"a"}, Removed: []string{"b"}}, {Field: "name", Old: "x", New: "y"}}}
	deleted := rolegate.PictureRole{UpstreamRole: rolegate.UpstreamRole{ID: "role_3", Scope: "proj_1", ScopeName: "Payments", Name: "gone"},
		RequestID: 8, Drift: rolegate.DriftDeleted, DeletedAt: now}
	outside := rolegate.PictureRole{UpstreamRole: rolegate.UpstreamRole{ID: "role_4", Scope: rolegate.ScopeOrganization, Name: "reader", Predefined: true}}
	checks := FormChecks{NameMessage: "already exists", Overlaps: []rolegate.Overlap{{Role: role, Exact: true}},
		Payload: `{"role_name":"x"}`, PayloadHash: "abc"}
	access := &rolegate.Request{
		ID: 9, Kind: rolegate.KindAccess, RoleName: "reader", AccessRoleID: "role_4", Permissions: []string{"api.groups.read"},
		Grantee: rolegate.Grantee{Kind: rolegate.GranteeGroup, ID: "group_1", Name: "Support Team"}, AccessUntil: now.Add(time.Hour),
		Justification: "Incident.", Payload: []byte(`{"role_id":"role_4"}`), PayloadHash: strings.Repeat("cd", 32), Status: rolegate.StatusProvisioned,
		Requester: person, RequiredApprovals: 1, CreatedAt: now, ExpiresAt: now.Add(time.Hour),
		Grant: &rolegate.Grant{State: rolegate.GrantFailed, LastError: "502 from upstream"},
	}
	revoked := *access
	revoked.Grant = &rolegate.Grant{State: rolegate.GrantRevoked, EndCause: rolegate.EndRevoked, EndReason: "Closed.", EndedBy: "Drew Admin", EndedAt: now}
	return map[string]templ.Component{
		"home":           HomePage(c, Home{MyOpen: 1, ReviewsWaiting: 2, Failed: 3}),
		"home, no roles": HomePage(Chrome{Principal: &rolegate.Principal{Person: person}}, Home{}),
		"dev sign-in":    DevSignInPage(signedOut, []Persona{{ID: "requester", Name: "Riley Requester", Email: "riley@example.test", Blurb: "Files requests."}}, "/"),
		"admin": AdminPage(c, AdminView{Failed: []*rolegate.Request{req}, CatalogSize: 3, CatalogRefreshed: time.Date(2026, 12, 3, 14, 0, 0, 0, time.UTC),
			UpstreamRoles: []rolegate.ExistingRole{role}, DevRoles: []rolegate.ExistingRole{role},
			DevAssignments: []DevAssignment{{Key: "group|g|p|r", Label: "reader → group Support Team (organization)"}}}),
		"admin, nothing failed": AdminPage(c, AdminView{}),
		"new request, refused": NewRequestPage(c, RequestForm{
			Areas: []rolegate.Area{
				{Name: "Groups", Permissions: []rolegate.Permission{{Name: "api.groups.read", Description: "Read groups."}}},
				{Name: "Users", Permissions: []rolegate.Permission{{Name: "api.users.write", Description: "Change users.", Sensitive: true}}},
			},
			Errors: rolegate.FieldErrors{rolegate.FieldRoleName: "taken", rolegate.FieldPermissions: "pick one", rolegate.FieldDescription: "too long", rolegate.FieldJustification: "required"},
			Checks: checks, Catalog: 2,
		}),
		"new request, empty catalog": NewRequestPage(c, RequestForm{}),
		"request": RequestPage(c, RequestView{Request: req, CanDecide: true, CanCancel: true, CanRetry: true, CanAbandon: true,
			Due: true, Sensitive: []string{"api.users.write"}, Overlaps: []rolegate.Overlap{{Role: role, Extra: 2}},
			DecideError: rolegate.FieldErrors{rolegate.FieldComment: "required"},
			Timeline:    []TimelineItem{{At: now, Actor: "Riley", What: "Submitted", Comment: "please", Detail: "d"}}}),
		"request, changed upstream": RequestPage(c, RequestView{Request: req, Upstream: &changed}),
		"request access, refused": RequestAccessPage(c, AccessForm{
			Typed:      AccessTyped{Role: "reader (organization)", GrantTo: "Support Team (group)", Until: "2025-07-01", Justification: "x"},
			RoleLabels: []string{"reader (organization)"}, GranteeLabels: []string{"Support Team (group)", "Riley Requester <riley@example.test>"},
			Errors:   rolegate.FieldErrors{rolegate.FieldRole: "x", rolegate.FieldGrantee: "x", rolegate.FieldUntil: "x", rolegate.FieldJustification: "x"},
			NotAUser: "riley@example.test", MaxDuration: rolegate.DefaultAccessMaxDuration, Today: now,
			Checks: AccessChecks{Role: rolegate.UpstreamRole{ID: "role_4", Name: "reader", Predefined: true}, Grantee: rolegate.Grantee{Kind: rolegate.GranteeGroup, ID: "group_1", Name: "Support Team"},
				Holding: "The group Support Team already holds the role reader.", PendingID: 3, Until: now.Add(time.Hour), UntilKnown: true,
				Call: "POST /v1/organization/groups/group_1/roles", Payload: `{"role_id":"role_4"}`, Binding: "abc", Approvals: 2, Sensitive: true},
		}),
		"request access, empty": RequestAccessPage(c, AccessForm{}),
		"access request, approvable by an admin": RequestPage(c, RequestView{Request: access, CanRevoke: true, CanRetryRemoval: true, SelfBenefit: "You cannot approve this.",
			DecideError: rolegate.FieldErrors{rolegate.FieldComment: "required"}}),
		"access request, revoked": RequestPage(c, RequestView{Request: &revoked}),
		"roles": RolesPage(c, RolesView{Roles: []rolegate.PictureRole{changed, deleted, outside}, Search: "read", SyncedAt: now,
			Pager: Pager{Page: 2, PerPage: 3, Total: 9, BaseURL: "/roles?"}}),
		"roles, none": RolesPage(c, RolesView{}),
		"request list": RequestListPage(c, RequestList{Title: "My requests", Intro: "Yours.", Requests: []*rolegate.Request{req},
			Statuses: []rolegate.Status{rolegate.StatusPending}, Action: "/requests", Pager: Pager{Page: 2, PerPage: 1, Total: 3, BaseURL: "/requests?"}}),
		"request list, empty": RequestListPage(c, RequestList{Title: "Reviews", Empty: "Nothing waits."}),
		"audit": AuditPage(c, AuditView{Actions: []string{"request.created"}, NewestURL: "/audit", ExportCSV: "/audit/export.csv",
			ExportJSON: "/audit/export.json", Rows: AuditRows{Events: []rolegate.Event{{Seq: 1, At: now, ActorName: "Riley", ActorEmail: "r@example.test",
				Action: "request.created", RequestID: 7, RoleName: "x", Outcome: "ok", Details: []byte(`{"a":"b"}`), ClientIP: "127.0.0.1", HTTPReqID: "r1"}},
				MoreURL: "/audit?before=1", MoreRowsURL: "/audit/rows?before=1"}}),
		"audit, refused":    AuditPage(c, AuditView{Errors: rolegate.FieldErrors{rolegate.FieldActor: "x", rolegate.FieldAction: "x", rolegate.FieldRequest: "x", rolegate.FieldFrom: "x", rolegate.FieldTo: "x", rolegate.FieldText: "x"}}),
		"error":             ErrorPage(c, 404, "Not found", "There is nothing at this address.", "/", "Go to the start page"),
		"error, signed out": ErrorPage(signedOut, 403, "Cross-site request refused", "Refused.", "/", "Go to the start page"),
		"sign out":          SignOutPage(c),
		"signed out":        SignedOutPage(signedOut, "https://idp.example.test/logout"),
	}
}

var (
	headingTag = regexp.MustCompile(`<h([1-6])[\s>]`)
	formField  = regexp.MustCompile(`<(input|select|textarea)\b[^>]*>`)
	attrValue  = func(tag, name string) string {
		m := regexp.MustCompile(`\s` + name + `="([^"]*)"`).FindStringSubmatch(tag)
		if m == nil {
			return ""
		}
		return m[1]
	}
)

// Every page starts its headings at one h1 and never skips a level, so a
// screen reader's list of headings is the page's outline (axe-core's
// heading-order and page-has-heading-one).
func TestHeadingsDoNotSkipLevels(t *testing.T) {
	for name, page := range everyPage() {
		html := render(t, page)
		var levels []string
		last := 0
		for _, m := range headingTag.FindAllStringSubmatch(html, -1) {
			level := int(m[1][0] - '0')
			levels = append(levels, "h"+m[1])
			if level > last+1 {
				t.Errorf("%s: headings %s: h%d follows h%d; want no skipped level", name, strings.Join(levels, " "), level, last)
			}
			last = level
		}
		if n := strings.Count(html, "<h1"); n != 1 {
			t.Errorf("%s: %d h1 elements; want one", name, n)
		}
	}
}

// Every page names its language and has a title; every field a person
// fills in has a label (axe-core's html-has-lang, document-title, label).
func TestPagesHaveALanguageATitleAndLabelledFields(t *testing.T) {
	for name, page := range everyPage() {
		html := render(t, page)
		if !strings.Contains(html, `<html lang="en">`) {
			t.Errorf("%s: no <html lang=\"en\">", name)
		}
		if !regexp.MustCompile(`<title>[^<]*\S[^<]*</title>`).MatchString(html) {
			t.Errorf("%s: no title", name)
		}
		for _, tag := range formField.FindAllString(html, -1) {
			switch attrValue(tag, "type") {
			case "hidden", "submit", "button":
				continue
			}
			if attrValue(tag, "aria-labelledby") != "" || attrValue(tag, "aria-label") != "" {
				continue
			}
			id := attrValue(tag, "id")
			if id == "" || !strings.Contains(html, `<label for="`+id+`"`) {
				t.Errorf("%s: the field %s has no label", name, tag)
			}
		}
	}
}

func render(t *testing.T, c templ.Component) string {
	t.Helper()
	var buf bytes.Buffer
	if err := c.Render(context.Background(), &buf); err != nil {
		t.Fatalf("render: %v", err)
	}
	return buf.String()
}
