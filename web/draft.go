package web

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"time"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/rolegate/rolegate/internal/rolegate"
	"github.com/rolegate/rolegate/views"
)

// A refused post answers as an accepted one does: 303 to the page the form
// is on (Post/Redirect/Get), so that the page showing the refusal sits at
// its own address and reloading it never sends the post again, with or
// without JavaScript. What the person typed and why it was refused wait for
// that page as a draft on their own session (the store keeps one per
// person, bounded in size): the page shows it once and forgets it. The
// draft is written only by a post that passed the CSRF check, and read only
// by the session that wrote it.

// The forms that leave drafts, by what their page shows again.
const (
	draftRequest = "request" // New request: every field
	draftDecide  = "decide"  // a request's Approve or Reject: the comment
	draftAbandon = "abandon" // a request's Abandon provisioning: the reason
	draftCancel  = "cancel"  // Cancel request: nothing typed
	draftRetry   = "retry"   // Retry provisioning: nothing typed
	draftAdmin   = "admin"   // the Admin page's changes (the catalog, dev mode's simulator): why, only
	draftAccess  = "access"  // Request access: every field
	draftRevoke  = "revoke"  // a request's Revoke access: the reason
)

// draftTTL bounds how long a draft waits for its page: the redirect
// follows at once. An older draft is never shown (it would tell of a post
// the person has forgotten).
const draftTTL = 2 * time.Minute

// draft is what a refused post leaves for its page.
type draft struct {
	Form    string                 `json:"form"`
	Request *rolegate.RequestInput `json:"request,omitempty"` // the New request form's fields
	Access  *views.AccessTyped     `json:"access,omitempty"`  // the Request access form's fields
	Comment string                 `json:"comment,omitempty"` // a decision's comment or an abandonment's reason
	Errors  rolegate.FieldErrors   `json:"errors,omitempty"`  // beside each refused field
	// Problem is a refusal of the post as a whole (the request changed
	// meanwhile), said at the top of the page.
	Problem string    `json:"problem,omitempty"`
	Until   time.Time `json:"until"`
}

// maxDraftMessage bounds each message a draft keeps; the domain's are a
// sentence or two.
const maxDraftMessage = 300

// encode returns the draft as the store keeps it, within
// rolegate.MaxDraftBytes. The text fields are clipped to twice their
// limits: a browser lets nobody type past the limit (maxlength), so only
// a hand-made post loses anything, and what is kept is still over the
// limit, so its message stays true. Should that still not fit (JSON
// writes a control character in six bytes), the fields are clipped to
// their limits, and at last only the messages are kept.
func (d draft) encode() (string, error) {
	for _, factor := range []int{2, 1, 0} {
		k := d.clipped(factor)
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false) // shown through templ, which escapes; this keeps "<" one byte
		if err := enc.Encode(k); err != nil {
			return "", fmt.Errorf("encode draft: %w", err)
		}
		if buf.Len() <= rolegate.MaxDraftBytes {
			return buf.String(), nil
		}
	}
	return "", fmt.Errorf("encode draft: over %d bytes with its fields dropped", rolegate.MaxDraftBytes)
}

// clipped is d with its fields clipped to factor times their limits (0:
// dropped) and its messages to maxDraftMessage.
func (d draft) clipped(factor int) draft {
	k := d
	if d.Request != nil && factor > 0 {
		in := *d.Request
		in.RoleName = clip(in.RoleName, factor*rolegate.MaxRoleNameLen)
		in.Description = clip(in.Description, factor*rolegate.MaxDescriptionLen)
		in.Justification = clip(in.Justification, factor*rolegate.MaxJustificationLen)
		if len(in.Permissions) > factor*rolegate.MaxPermissions {
			in.Permissions = in.Permissions[:factor*rolegate.MaxPermissions]
		}
		k.Request = &in
	} else if factor == 0 {
		k.Request = nil
	}
	if d.Access != nil && factor > 0 {
		a := *d.Access
		a.Role = clip(a.Role, factor*rolegate.MaxPickLen)
		a.GrantTo = clip(a.GrantTo, factor*rolegate.MaxPickLen)
		a.Until = clip(a.Until, factor*rolegate.MaxUntilLen)
		a.Justification = clip(a.Justification, factor*rolegate.MaxJustificationLen)
		k.Access = &a
	} else if factor == 0 {
		k.Access = nil
	}
	k.Comment = clip(d.Comment, factor*rolegate.MaxCommentLen)
	k.Problem = clip(d.Problem, maxDraftMessage)
	if d.Errors != nil {
		k.Errors = make(rolegate.FieldErrors, len(d.Errors))
		for f, msg := range d.Errors {
			k.Errors[f] = clip(msg, maxDraftMessage)
		}
	}
	return k
}

// clip cuts s to at most n characters.
func clip(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	i := 0
	for pos := range s {
		if i == n {
			return s[:pos]
		}
		i++
	}
	return s
}

// refusePost keeps d for the page at path on the person's session and
// sends them there.
func (s *Server) refusePost(c echo.Context, path string, d draft) error {
	d.Until = s.Now().Add(draftTTL)
	raw, err := d.encode()
	if err == nil {
		err = s.Sessions.KeepDraft(ctx(c), sessionTokenFrom(ctx(c)), path, raw)
	}
	if err != nil {
		return fmt.Errorf("keep the draft of a refused post: %w", err)
	}
	return redirectAfterPost(c, path)
}

// takeDraft returns the draft a refused post left for this page, of one of
// forms, and forgets it; ok is false when there is none. Only a page
// loaded by the browser takes it: htmx's own requests (the live update of
// a request page) leave it for the page.
func (s *Server) takeDraft(c echo.Context, forms ...string) (d draft, ok bool, err error) {
	sess := sessionFrom(ctx(c))
	path := c.Request().URL.Path
	if sess == nil || sess.DraftPath != path || c.Request().Method != http.MethodGet || c.Request().Header.Get("HX-Request") == "true" {
		return draft{}, false, nil
	}
	raw, err := s.Sessions.TakeDraft(ctx(c), sessionTokenFrom(ctx(c)), path)
	if err != nil || raw == "" {
		return draft{}, false, err
	}
	if err := json.Unmarshal([]byte(raw), &d); err != nil {
		s.Logger.Error("unreadable draft", "err", err, "request_id", requestIDFrom(ctx(c)))
		return draft{}, false, nil
	}
	if !s.Now().Before(d.Until) {
		return draft{}, false, nil
	}
	for _, f := range forms {
		if d.Form == f {
			return d, true, nil
		}
	}
	return draft{}, false, nil
}
