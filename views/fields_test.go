package views

import (
	"regexp"
	"strconv"
	"testing"

	"github.com/rolegate/rolegate/internal/rolegate"
)

// fieldTag returns the form element with the given id, or "".
func fieldTag(html, id string) string {
	return regexp.MustCompile(`<(?:input|textarea|select)\b[^>]*\sid="` + regexp.QuoteMeta(id) + `"[^>]*>`).FindString(html)
}

// fieldError returns the text of the element with the given id.
func fieldError(html, id string) string {
	m := regexp.MustCompile(`id="` + regexp.QuoteMeta(id) + `"[^>]*>([^<]*)<`).FindStringSubmatch(html)
	if m == nil {
		return ""
	}
	return m[1]
}

// Each form field lets a person type as much as the domain accepts and no
// more (the limits come from internal/rolegate, not from the template),
// and shows the domain's message for its input beside it: the views, not
// the domain or the store, pair an input (rolegate.Field) with its element.
func TestFormFieldsFollowTheDomain(t *testing.T) {
	fields := []struct {
		page    string
		id      string // the element
		errorID string // the element that shows its message
		field   rolegate.Field
		max     int // 0: no maxlength
	}{
		{"new request, refused", "role_name", "role_name-error", rolegate.FieldRoleName, rolegate.MaxRoleNameLen},
		{"new request, refused", "", "permissions-error", rolegate.FieldPermissions, 0},
		{"new request, refused", "description", "description-error", rolegate.FieldDescription, rolegate.MaxDescriptionLen},
		{"new request, refused", "justification", "justification-error", rolegate.FieldJustification, rolegate.MaxJustificationLen},
		{"request", "comment", "comment-error", rolegate.FieldComment, rolegate.MaxCommentLen},
		{"request", "abandon-comment", "abandon-error", rolegate.FieldComment, rolegate.MaxCommentLen},
		{"request access, refused", "role", "role-error", rolegate.FieldRole, rolegate.MaxPickLen},
		{"request access, refused", "grant_to", "grant_to-error", rolegate.FieldGrantee, rolegate.MaxPickLen},
		{"request access, refused", "until", "until-error", rolegate.FieldUntil, rolegate.MaxUntilLen},
		{"request access, refused", "justification", "justification-error", rolegate.FieldJustification, rolegate.MaxJustificationLen},
		{"access request", "revoke-comment", "revoke-error", rolegate.FieldComment, rolegate.MaxCommentLen},
		{"audit, refused", "audit-actor", "audit-actor-error", rolegate.FieldActor, rolegate.MaxAuditActorLen},
		{"audit, refused", "audit-action", "audit-action-error", rolegate.FieldAction, rolegate.MaxAuditActionLen},
		{"audit, refused", "audit-request", "audit-request-error", rolegate.FieldRequest, rolegate.MaxAuditRequestLen},
		{"audit, refused", "audit-from", "audit-from-error", rolegate.FieldFrom, rolegate.MaxAuditTimeLen},
		{"audit, refused", "audit-to", "audit-to-error", rolegate.FieldTo, rolegate.MaxAuditTimeLen},
		{"audit, refused", "audit-text", "audit-text-error", rolegate.FieldText, rolegate.MaxAuditTextLen},
	}
	// Each input's message names the input, so that a message shown
	// beside the wrong element is caught. The request page of everyPage
	// says "required" beside the comment.
	messages := rolegate.FieldErrors{}
	for _, f := range fields {
		messages[f.field] = "message for " + string(f.field)
	}
	html := map[string]string{
		"new request, refused":    render(t, NewRequestPage(Chrome{}, RequestForm{Errors: messages})),
		"request":                 render(t, everyPage()["request"]),
		"audit, refused":          render(t, AuditPage(Chrome{}, AuditView{Errors: messages})),
		"request access, refused": render(t, RequestAccessPage(Chrome{}, AccessForm{Errors: messages})),
		"access request":          render(t, everyPage()["access request, approvable by an admin"]),
	}
	for _, f := range fields {
		page := html[f.page]
		if f.id != "" {
			tag := fieldTag(page, f.id)
			if tag == "" {
				t.Errorf("%s: no form element with id %q", f.page, f.id)
				continue
			}
			if got, want := attrValue(tag, "maxlength"), strconv.Itoa(f.max); got != want {
				t.Errorf("%s: #%s maxlength = %q; want %q (from internal/rolegate)", f.page, f.id, got, want)
			}
		}
		want := messages[f.field]
		if f.page == "request" || f.page == "access request" {
			want = "required"
		}
		if got := fieldError(page, f.errorID); got != want {
			t.Errorf("%s: #%s = %q; want %q (the message for %s)", f.page, f.errorID, got, want, f.field)
		}
	}
}
