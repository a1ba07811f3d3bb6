package web

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/rolegate/rolegate/internal/config"
	"github.com/rolegate/rolegate/internal/rolegate"
	"github.com/rolegate/rolegate/internal/sso"
	"github.com/rolegate/rolegate/views"
)

const perPage = 25

func requestPath(id int64) string { return fmt.Sprintf("/requests/%d", id) }

// requestID parses the :id path parameter.
func requestID(c echo.Context) (int64, error) {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil || id <= 0 {
		return 0, rolegate.Errorf(rolegate.ENOTFOUND, "There is no such request.")
	}
	return id, nil
}

// requestInput reads the New request form. An absurd number of
// permissions is refused before anything else looks at them, but what the
// person typed is still returned so that the form can show it again.
func requestInput(c echo.Context) (rolegate.RequestInput, error) {
	form, err := c.FormParams()
	if err != nil {
		return rolegate.RequestInput{}, rolegate.Errorf(rolegate.EINVALID, "The form could not be read.")
	}
	in := rolegate.RequestInput{
		Scope:         form.Get("scope"),
		RoleName:      form.Get("role_name"),
		Permissions:   form["permissions"],
		Description:   form.Get("description"),
		Justification: form.Get("justification"),
	}
	if len(in.Permissions) > rolegate.MaxPermissions*2 {
		in.Permissions = in.Permissions[:rolegate.MaxPermissions*2]
		return in, rolegate.Invalid(rolegate.FieldErrors{rolegate.FieldPermissions: fmt.Sprintf("Pick at most %d permissions.", rolegate.MaxPermissions)})
	}
	return in, nil
}

// requestForm is the New request form showing in, the messages beside the
// rejected fields, and the live checks as they stand for in.
func (s *Server) requestForm(c echo.Context, in rolegate.RequestInput, errs rolegate.FieldErrors) (views.RequestForm, error) {
	projects, err := s.scopeChoices(c, strings.TrimSpace(in.Scope))
	if err != nil {
		return views.RequestForm{}, err
	}
	cat := s.Catalog.CatalogFor(in.Scope)
	checks := s.formChecks(c, in)
	if errs[rolegate.FieldRoleName] != "" { // already said beside the field
		checks.NameMessage, checks.NameOK = "", false
	}
	return views.RequestForm{Input: in, Projects: projects, Areas: cat.Areas(), Errors: errs, Catalog: cat.Len(), Checks: checks, Approvers: s.approvers()}, nil
}

// scopeChoices are the Scope field's projects: the active ones of the
// organization's picture, by name, and the one chosen when it is not among
// them (archived or unknown: a refused or copied form keeps it chosen, so
// that the message beside the field speaks of what is shown).
func (s *Server) scopeChoices(c echo.Context, chosen string) ([]rolegate.Project, error) {
	all, err := s.Pictures.Projects(ctx(c))
	if err != nil {
		return nil, err
	}
	var out []rolegate.Project
	var chosenProject *rolegate.Project
	for _, p := range all {
		if p.ID == chosen {
			chosenProject = &p
		}
		if !p.Archived {
			out = append(out, p)
		}
	}
	switch {
	case chosen == rolegate.ScopeOrganization || !rolegate.ValidScopeID(chosen):
	case chosenProject == nil:
		out = append(out, rolegate.Project{ID: chosen, Name: chosen + " (unknown)"})
	case chosenProject.Archived:
		out = append(out, rolegate.Project{ID: chosen, Name: chosenProject.Name + " (archived)"})
	}
	return out, nil
}

// approvers is who may approve requests, as the pages tell it.
func (s *Server) approvers() views.Approvers {
	return views.Approvers{Groups: s.Config.ApproverGroups, Required: s.Config.RequiredApprovals}
}

// newRequestForm shows the empty form; after a refused submit, what the
// person typed with the messages (once); or, with ?from=ID, the form
// filled in from the person's own earlier request (a corrected request
// after a rejection, an abandoned provisioning, an expiry or a
// cancellation).
func (s *Server) newRequestForm(c echo.Context) error {
	var in rolegate.RequestInput
	var errs rolegate.FieldErrors
	d, refused, err := s.takeDraft(c, draftRequest)
	switch {
	case err != nil:
		return err
	case refused && d.Request != nil:
		in, errs = *d.Request, d.Errors
	case refused:
		errs = d.Errors // what was typed was too large to keep
	case c.QueryParam("from") != "":
		if in, err = s.copyOfRequest(c, c.QueryParam("from")); err != nil {
			return err
		}
	case c.QueryParam("scope") != "" && rolegate.ValidScopeID(c.QueryParam("scope")):
		// The Scope field asks for the form of its scope (its permissions).
		in.Scope = c.QueryParam("scope")
	}
	f, err := s.requestForm(c, in, errs)
	if err != nil {
		return err
	}
	return s.render(c, http.StatusOK, views.NewRequestPage(s.chrome(c, "new"), f))
}

// copyOfRequest is what the person asked for in their request from, to
// file it again corrected. Only its requester may copy it: to anyone else
// it does not exist. Permissions the catalog no longer offers are left
// out (the form could not show them).
func (s *Server) copyOfRequest(c echo.Context, from string) (rolegate.RequestInput, error) {
	id, err := strconv.ParseInt(from, 10, 64)
	notFound := rolegate.Errorf(rolegate.ENOTFOUND, "There is no request #%s of yours to file again.", from)
	if err != nil || id <= 0 {
		return rolegate.RequestInput{}, notFound
	}
	req, err := s.Requests.Get(ctx(c), id)
	if rolegate.ErrorCode(err) == rolegate.ENOTFOUND {
		return rolegate.RequestInput{}, notFound
	} else if err != nil {
		return rolegate.RequestInput{}, err
	}
	if !req.OwnedBy(sessionFrom(ctx(c)).Principal.Person) {
		s.recordRefusal(c, "copy of a request not filed by the person")
		return rolegate.RequestInput{}, notFound
	}
	cat := s.Catalog.CatalogFor(req.Scope)
	in := rolegate.RequestInput{Scope: req.Scope, RoleName: req.RoleName, Description: req.Description, Justification: req.Justification}
	for _, p := range req.Permissions {
		if _, ok := cat.Lookup(p); ok {
			in.Permissions = append(in.Permissions, p)
		}
	}
	return in, nil
}

// createRequest files a request, or sends the person back to the form,
// which shows what they typed and a message beside each rejected field
// (draft.go). The form is a plain post (it works without JavaScript).
func (s *Server) createRequest(c echo.Context) error {
	in, err := requestInput(c)
	if err == nil {
		err = s.freshPicture(c)
	}
	if err == nil {
		var req *rolegate.Request
		req, err = s.Requests.Create(ctx(c), s.actor(c), in, s.Catalog.CatalogFor(strings.TrimSpace(in.Scope)))
		if err == nil {
			return s.afterCreate(c, req.ID)
		}
	}
	fields := rolegate.ErrorFields(err)
	if fields == nil {
		return err
	}
	// The form can show only the catalog's permissions: the draft keeps
	// those (anything else was refused, and its message says so).
	cat := s.Catalog.CatalogFor(strings.TrimSpace(in.Scope))
	kept := in
	kept.Permissions = nil
	for _, p := range in.Permissions {
		if _, ok := cat.Lookup(p); ok {
			kept.Permissions = append(kept.Permissions, p)
		}
	}
	return s.refusePost(c, "/requests/new", draft{Form: draftRequest, Request: &kept, Errors: fields})
}

// afterCreate sends the requester to their new request, with a flash that
// says how approvers were told: the notifications queued in the same
// transaction, counted, so that it never claims what was not done.
func (s *Server) afterCreate(c echo.Context, id int64) error {
	queued, err := s.Outbox.NotificationsOf(ctx(c), id)
	if err != nil {
		// The request is filed; only the flash's numbers are unknown.
		s.Logger.Error("count notifications of a new request", "err", err, "request_id", requestIDFrom(ctx(c)))
	}
	s.setFlash(c, requestPath(id), createdNote(queued))
	return redirectAfterPost(c, requestPath(id))
}

// checkRequest answers the form's live checks while the person types: the
// preview in place, the name and overlap messages out of band. It reads
// only the in-memory catalog and one indexed row, so it answers in a few
// milliseconds.
func (s *Server) checkRequest(c echo.Context) error {
	in, err := requestInput(c)
	if err != nil && rolegate.ErrorFields(err) == nil {
		in = rolegate.RequestInput{}
	}
	return s.render(c, http.StatusOK, views.FormCheckResults(s.formChecks(c, in), true))
}

// formChecks computes the live checks: whether the name is well formed and
// free, which existing roles already grant the chosen permissions, and the
// exact body that will be sent with its SHA-256.
func (s *Server) formChecks(c echo.Context, in rolegate.RequestInput) views.FormChecks {
	in = in.Normalize()
	if !rolegate.ValidScopeID(in.Scope) {
		in.Scope = rolegate.ScopeOrganization // said beside the field on submission
	}
	var k views.FormChecks
	k.InProject = in.Scope != rolegate.ScopeOrganization
	if in.RoleName != "" && len(in.Permissions) > 0 {
		payload, hash := in.Payload()
		k.Payload, k.PayloadHash = views.PrettyJSON(payload), hash
		k.Call, k.Binding = rolegate.CallFor(in.Scope).String(), rolegate.CallBinding(rolegate.CallFor(in.Scope), payload)
	}
	k.Overlaps = s.Catalog.OverlapsIn(in.Scope, in.Permissions)
	if len(in.Permissions) > 0 {
		k.Sensitive = s.Catalog.CatalogFor(in.Scope).AnySensitive(in.Permissions)
		k.Approvals = rolegate.RequiredApprovals(s.Config.RequiredApprovals, k.Sensitive)
	}
	if in.RoleName == "" {
		return k
	}
	if msg := rolegate.ValidateRoleName(in.RoleName); msg != "" {
		k.NameMessage = msg
		return k
	}
	if err := s.freshPicture(c); err != nil {
		k.NameMessage = rolegate.ErrorFields(err)[rolegate.FieldRoleName]
		return k
	}
	msg, err := s.Requests.RoleNameTaken(ctx(c), in.Scope, in.RoleName, sessionFrom(ctx(c)).Principal)
	if err != nil {
		// The check is a convenience: submitting checks again, for real.
		s.Logger.Error("live name check", "err", err, "request_id", requestIDFrom(ctx(c)))
		return k
	}
	k.NameMessage, k.NameOK = msg, msg == ""
	return k
}

// freshPicture makes sure the organization's picture is recent enough to
// say whether a name is free (internal/picture); when the upstream cannot
// be read, the name is neither "available" nor accepted.
func (s *Server) freshPicture(c echo.Context) error {
	if err := s.Picture.Fresh(ctx(c)); err != nil {
		s.Logger.Warn("live check: the organization's picture is stale", "err", err, "request_id", requestIDFrom(ctx(c)))
		return rolegate.Invalid(rolegate.FieldErrors{rolegate.FieldRoleName: "We could not check the organization just now, so we cannot tell whether this name is free. Try again in a moment."})
	}
	return nil
}

// myRequests lists the person's own requests.
func (s *Server) myRequests(c echo.Context) error {
	me := sessionFrom(ctx(c)).Principal
	filter := rolegate.RequestFilter{RequesterKey: me.Key()}
	status := rolegate.Status(c.QueryParam("status"))
	if status != "" && status.Valid() {
		filter.Statuses = []rolegate.Status{status}
	} else {
		status = ""
	}
	page := pageParam(c)
	filter.Limit, filter.Offset = perPage, (page-1)*perPage
	list, total, err := s.Requests.List(ctx(c), filter)
	if err != nil {
		return err
	}
	base := "/requests"
	if status != "" {
		base += "?status=" + string(status)
	}
	return s.render(c, http.StatusOK, views.RequestListPage(s.chrome(c, "mine"), views.RequestList{
		Title: "My requests", Requests: list, Statuses: rolegate.AllStatuses, Status: string(status),
		Action: "/requests", Pager: views.Pager{Page: page, PerPage: perPage, Total: total, BaseURL: base},
		Empty: "You have no requests here yet. Use New request to ask for a role.",
	}))
}

func pageParam(c echo.Context) int {
	page, err := strconv.Atoi(c.QueryParam("page"))
	if err != nil || page < 1 || page > 100000 {
		return 1
	}
	return page
}

// showRequest shows one request to anyone who may see it; to others it does
// not exist (no hint that the id is valid).
// After a refused action on it, the page shows why (once), with what was
// typed.
func (s *Server) showRequest(c echo.Context) error {
	id, err := requestID(c)
	if err != nil {
		return err
	}
	me := sessionFrom(ctx(c)).Principal
	// One snapshot: the status, approvals, timeline and notifications
	// shown agree with each other.
	record, err := s.Requests.GetRecord(ctx(c), id)
	if err != nil {
		return err
	}
	req := record.Request
	if !rolegate.CanView(me, req) {
		s.recordRefusal(c, "not allowed to view request")
		return rolegate.Errorf(rolegate.ENOTFOUND, "There is no request #%d.", id)
	}
	due := req.Due(s.Now())
	cat := s.Catalog.CatalogFor(req.Scope)
	v := views.RequestView{
		Request:    req,
		Timeline:   views.Timeline(record.Events),
		CanDecide:  rolegate.CheckDecide(me, req) == nil && !due,
		CanCancel:  rolegate.CheckCancel(me, req) == nil && !due,
		CanRetry:   rolegate.CheckRetry(me, req) == nil,
		CanAbandon: rolegate.CheckAbandon(me, req) == nil,
		Due:        due,
		Mine:       req.OwnedBy(me.Person),
		Approvers:  s.approvers(),
		Catalog:    cat,
		Upstream:   record.Role,
	}
	v.CanRevoke = rolegate.CheckRevocable(me, req) == nil
	v.CanRetryRemoval = me.Has(rolegate.RoleAdmin) && req.Grant != nil && req.Grant.State == rolegate.GrantFailed
	v.CanRequestAccess = !req.IsAccess() && req.Status == rolegate.StatusProvisioned && req.UpstreamRoleID != "" &&
		record.Role != nil && me.Has(rolegate.RoleRequester)
	if v.CanDecide {
		if v.SelfBenefit, err = s.selfBenefit(c, req); err != nil {
			return err
		}
		v.CanDecide = v.SelfBenefit == ""
	}
	if req.Status == rolegate.StatusFailed && !req.Abandoned() {
		v.AdminsEmailed = adminsEmailedAboutFailure(record.Notifications)
	}
	for _, p := range req.Permissions {
		if perm, ok := cat.Lookup(p); ok && perm.Sensitive {
			v.Sensitive = append(v.Sensitive, p)
		}
	}
	if req.Status == rolegate.StatusPending && !req.IsAccess() {
		v.Overlaps = s.Catalog.OverlapsIn(req.Scope, req.Permissions)
	}
	// Taken once the page can be shown to this person: a draft left by
	// someone who may no longer see the request stays unseen.
	d, refused, err := s.takeDraft(c, draftDecide, draftAbandon, draftCancel, draftRetry, draftRevoke)
	if err != nil {
		return err
	}
	if refused {
		v.DecideError, v.Comment, v.Problem = d.Errors, d.Comment, d.Problem
	}
	return s.render(c, http.StatusOK, views.RequestPage(s.chrome(c, ""), v))
}

// adminsEmailedAboutFailure counts the emails queued to admins about the
// request's failure (each admin once), so that its page says truthfully whether they were told.
func adminsEmailedAboutFailure(queued []rolegate.Notification) int {
	admins := map[string]bool{} // a failure retried and failed again emails them again
	for _, q := range queued {
		if q.Channel == rolegate.ChannelEmail && q.Audience == rolegate.AudienceAdmin && q.Facts.Kind == rolegate.NoticeFailed {
			admins[strings.ToLower(q.Recipient)] = true
		}
	}
	return len(admins)
}

// cancelRequest withdraws a pending request (its requester only).
func (s *Server) cancelRequest(c echo.Context) error {
	id, err := requestID(c)
	if err != nil {
		return err
	}
	_, err = s.Requests.Cancel(ctx(c), s.actor(c), id)
	return s.answerChange(c, id, err, draftCancel, "", "cancelled")
}

// answerChange answers a post of form that changed request id (err nil)
// or did not: a redirect to the request with the flash done; or, refused
// for a field (the comment) or because the request changed meanwhile, a
// redirect to the request, which says why with what was typed (draft.go);
// any other refusal goes through hideForbidden.
func (s *Server) answerChange(c echo.Context, id int64, err error, form, comment, done string) error {
	if err == nil {
		s.setFlash(c, requestPath(id), flashNote{Key: done})
		return redirectAfterPost(c, requestPath(id))
	}
	if d, ok := refusedChange(err, form, comment); ok {
		return s.refusePost(c, requestPath(id), d)
	}
	return s.hideForbidden(c, err)
}

// refusedChange is the draft of a change refused for a field, or because
// the request is no longer in a state that allows it (a conflict: only
// someone who may act on the request, and so see it, gets one); ok is
// false for any other refusal.
func refusedChange(err error, form, comment string) (draft, bool) {
	if fields := rolegate.ErrorFields(err); fields != nil {
		return draft{Form: form, Comment: comment, Errors: fields}, true
	}
	if rolegate.ErrorCode(err) == rolegate.ECONFLICT {
		return draft{Form: form, Comment: comment, Problem: rolegate.ErrorMessage(err)}, true
	}
	return draft{}, false
}

// hideForbidden turns "forbidden" on a request the person cannot see into
// "not found", so ids cannot be probed.
func (s *Server) hideForbidden(c echo.Context, err error) error {
	if rolegate.ErrorCode(err) != rolegate.EFORBIDDEN {
		return err
	}
	id, _ := requestID(c)
	if req, gerr := s.Requests.Get(ctx(c), id); gerr == nil && !rolegate.CanView(sessionFrom(ctx(c)).Principal, req) {
		s.recordRefusal(c, "action on a request not visible to the person")
		return rolegate.Errorf(rolegate.ENOTFOUND, "There is no request #%d.", id)
	}
	if err := s.recordDenied(c, rolegate.ErrorMessage(err)); err != nil {
		return err
	}
	return err
}

// approveRequest records an approval of the exact payload shown. When the
// approver's last authentication is too old for ROLEGATE_APPROVE_REAUTH,
// they are first sent through the identity provider again, and the
// approval completes on return. How they were re-authenticated is recorded
// with the approval.
func (s *Server) approveRequest(c echo.Context) error {
	id, err := requestID(c)
	if err != nil {
		return err
	}
	comment, hash := c.FormValue("comment"), c.FormValue("payload_hash")
	sess := sessionFrom(ctx(c))
	if s.needsReauthentication(sess) {
		req, err := s.Requests.Get(ctx(c), id)
		if err != nil {
			return err
		}
		// Whatever would refuse the approval on return refuses it now,
		// before the detour, with the comment still on the page.
		if err := rolegate.CheckApprove(sess.Principal, req, hash, strings.TrimSpace(comment)); err != nil {
			return s.answerChange(c, id, err, draftDecide, comment, "")
		}
		if s.Config.ApproveReauth == config.ReauthMaxAge && s.noAuthTime.Load() {
			return s.reauthUnsupported(c, requestPath(id))
		}
		pending, _ := json.Marshal(pendingApproval{Kind: "approve", PersonKey: sess.Principal.Key(), RequestID: id, PayloadHash: hash, Comment: comment})
		return s.startSignIn(c, sso.BeginOptions{ReturnTo: requestPath(id), MaxAge: s.Config.ApproveMaxAuthAge,
			PromptLogin: s.Config.ApproveReauth == config.ReauthLogin}, string(pending))
	}
	_, err = s.Requests.ApproveWith(ctx(c), s.actor(c), id, hash, comment, s.sessionReauth(sess))
	return s.answerChange(c, id, err, draftDecide, comment, "approved")
}

// needsReauthentication reports whether approving must first send the
// person through the identity provider: in max_age mode when the
// provider-stated authentication is older than ROLEGATE_APPROVE_MAX_AUTH_AGE
// (or unknown); in login mode when neither it nor the last prompt=login
// round trip is that recent; never in off mode, nor with the dev sign-in.
func (s *Server) needsReauthentication(sess *rolegate.Session) bool {
	if s.SSO == nil {
		return false
	}
	last := sess.AuthTime
	switch s.Config.ApproveReauth {
	case config.ReauthOff:
		return false
	case config.ReauthLogin:
		if sess.StepUpAt.After(last) {
			last = sess.StepUpAt
		}
	}
	return s.Now().Sub(last) > s.Config.ApproveMaxAuthAge
}

// sessionReauth is how the session's person was last authenticated, for
// an approval made without a detour.
func (s *Server) sessionReauth(sess *rolegate.Session) rolegate.Reauth {
	if s.SSO == nil {
		return rolegate.Reauth{Mode: "dev", AuthTime: sess.AuthTime}
	}
	r := rolegate.Reauth{Mode: s.Config.ApproveReauth, AuthTime: sess.AuthTime}
	if s.Config.ApproveReauth == config.ReauthLogin {
		r.StepUpAt = sess.StepUpAt
	}
	return r
}

// rejectRequest ends a request; the comment is required.
func (s *Server) rejectRequest(c echo.Context) error {
	id, err := requestID(c)
	if err != nil {
		return err
	}
	comment := c.FormValue("comment")
	_, err = s.Requests.Reject(ctx(c), s.actor(c), id, comment)
	return s.answerChange(c, id, err, draftDecide, comment, "rejected")
}

// abandonProvisioning gives up on a failed request for good (admins); the
// reason is required.
func (s *Server) abandonProvisioning(c echo.Context) error {
	id, err := requestID(c)
	if err != nil {
		return err
	}
	comment := c.FormValue("comment")
	_, err = s.Requests.AbandonProvisioning(ctx(c), s.actor(c), id, comment)
	return s.answerChange(c, id, err, draftAbandon, comment, "abandoned")
}

// retryProvisioning puts a failed request back in the queue (admins).
func (s *Server) retryProvisioning(c echo.Context) error {
	id, err := requestID(c)
	if err != nil {
		return err
	}
	_, err = s.Requests.RetryProvisioning(ctx(c), s.actor(c), id)
	return s.answerChange(c, id, err, draftRetry, "", "retried")
}
