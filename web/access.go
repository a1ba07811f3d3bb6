package web

import (
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/rolegate/rolegate/internal/rolegate"
	"github.com/rolegate/rolegate/views"
)

// Request access (issue 17): the form that asks for an existing role of
// the organization's picture for a group or a person, until a date; its
// live checks; and the admins' end of access on the request page. Filed,
// an access request lives the life cycle of every request (requests.go).

// accessTyped reads the Request access form as typed.
func accessTyped(c echo.Context) views.AccessTyped {
	return views.AccessTyped{
		Role:          c.FormValue("role"),
		GrantTo:       c.FormValue("grant_to"),
		Until:         c.FormValue("until"),
		Justification: c.FormValue("justification"),
	}
}

// newAccessForm shows the form: after a refused submit, what was typed
// with the messages (once); with ?role=ID, that role filled in (a
// provisioned role's "Request access to this role"). Grant to starts as
// the person signed in, when the organization has a user with their email.
func (s *Server) newAccessForm(c echo.Context) error {
	d, refused, err := s.takeDraft(c, draftAccess)
	if err != nil {
		return err
	}
	var typed views.AccessTyped
	var errs rolegate.FieldErrors
	pick, err := s.accessChoices(c)
	if err != nil {
		return err
	}
	switch {
	case refused && d.Access != nil:
		typed, errs = *d.Access, d.Errors
	case refused:
		errs = d.Errors
	default:
		if id := c.QueryParam("role"); id != "" {
			if r, msg := rolegate.PickRole(pick.roles, id); msg == "" {
				typed.Role = rolegate.RoleLabel(r)
			}
		}
		if me, ok := pick.me(); ok {
			typed.GrantTo = rolegate.GranteeLabel(me)
		}
	}
	return s.render(c, http.StatusOK, views.RequestAccessPage(s.chrome(c, "access"), s.accessForm(c, pick, typed, errs)))
}

// accessPick is what the form picks from: the picture's roles and the
// directory's groups and users, and the signed-in person's own user.
type accessPick struct {
	roles  []rolegate.UpstreamRole
	groups []rolegate.Group
	users  []rolegate.User
	self   rolegate.User
	found  bool // the organization has a user with the sign-in's email
}

func (p accessPick) me() (rolegate.Grantee, bool) {
	return rolegate.UserGrantee(p.self), p.found
}

func (s *Server) accessChoices(c echo.Context) (accessPick, error) {
	var p accessPick
	var err error
	if p.roles, err = s.Pictures.PictureRoles(ctx(c)); err != nil {
		return p, err
	}
	if p.groups, err = s.Directory.Groups(ctx(c)); err != nil {
		return p, err
	}
	if p.users, err = s.Directory.Users(ctx(c)); err != nil {
		return p, err
	}
	p.self, p.found, err = s.Directory.UserByEmail(ctx(c), sessionFrom(ctx(c)).Principal.Email)
	return p, err
}

// accessForm is the form showing typed, the messages beside refused
// fields, and the live checks as they stand for typed.
func (s *Server) accessForm(c echo.Context, pick accessPick, typed views.AccessTyped, errs rolegate.FieldErrors) views.AccessForm {
	f := views.AccessForm{Typed: typed, Errors: errs, Approvers: s.approvers(), MaxDuration: s.Config.AccessMaxDuration,
		Checks: s.accessChecks(c, pick, typed), Today: s.Now().UTC()}
	for _, r := range pick.roles {
		f.RoleLabels = append(f.RoleLabels, rolegate.RoleLabel(r))
	}
	for _, g := range pick.groups {
		f.GranteeLabels = append(f.GranteeLabels, rolegate.GranteeLabel(rolegate.GroupGrantee(g)))
	}
	for _, u := range pick.users {
		f.GranteeLabels = append(f.GranteeLabels, rolegate.GranteeLabel(rolegate.UserGrantee(u)))
	}
	if !pick.found {
		f.NotAUser = sessionFrom(ctx(c)).Principal.Email
	}
	// A message beside a field is already said: the live check does not
	// say it twice.
	if errs[rolegate.FieldRole] != "" {
		f.Checks.RoleMessage = ""
	}
	if errs[rolegate.FieldGrantee] != "" {
		f.Checks.GranteeMessage = ""
	}
	if errs[rolegate.FieldUntil] != "" {
		f.Checks.UntilMessage = ""
	}
	return f
}

// checkAccess answers the form's live checks while the person types.
func (s *Server) checkAccess(c echo.Context) error {
	pick, err := s.accessChoices(c)
	if err != nil {
		return err
	}
	return s.render(c, http.StatusOK, views.AccessCheckResults(s.accessChecks(c, pick, accessTyped(c)), true))
}

// accessChecks works out what the form says as the person types: the role
// and the grantee picked (or why none), whether the grantee already holds
// the role upstream or an open request already asks for it, when access
// would end, the exact call approvals bind, and how many approvals it
// needs.
func (s *Server) accessChecks(c echo.Context, pick accessPick, typed views.AccessTyped) views.AccessChecks {
	var k views.AccessChecks
	if strings.TrimSpace(typed.Role) != "" {
		k.Role, k.RoleMessage = rolegate.PickRole(pick.roles, typed.Role)
	}
	if strings.TrimSpace(typed.GrantTo) != "" {
		k.Grantee, k.GranteeMessage = rolegate.PickGrantee(pick.groups, pick.users, typed.GrantTo)
	}
	if until, msg := rolegate.ResolveUntil(typed.Until, s.Now(), s.Config.AccessMaxDuration); msg != "" {
		k.UntilMessage = msg
	} else {
		k.Until, k.UntilKnown = until, true
	}
	if k.Role.ID == "" {
		return k
	}
	cat := s.Catalog.CatalogFor(k.Role.Scope)
	k.Sensitive = cat.AnySensitive(k.Role.Permissions)
	k.Approvals = rolegate.AccessRequiredApprovals(s.Config.RequiredApprovals, k.Role, cat)
	if k.Grantee.ID == "" {
		return k
	}
	body, _ := rolegate.AssignPayload(k.Role.ID)
	call := rolegate.AssignCall(k.Role.Scope, k.Grantee)
	k.Call, k.Payload, k.Binding = call.String(), string(body), rolegate.CallBinding(call, body)
	if id, open, err := s.Access.OpenGrant(ctx(c), k.Role.Scope, k.Role.ID, k.Grantee); err != nil {
		s.Logger.Error("live check: open grant", "err", err, "request_id", requestIDFrom(ctx(c)))
	} else if open {
		k.PendingID = id
	}
	switch {
	case s.Assignments == nil:
	case !s.upstreamChecks.Allow():
		k.HoldingUnknown = true
	default:
		held, err := s.Assignments.HeldRoles(ctx(c), k.Role.Scope, k.Grantee)
		if err != nil {
			// A convenience: provisioning looks again, and adopts an
			// assignment it finds.
			s.Logger.Warn("live check: assignments", "err", err, "request_id", requestIDFrom(ctx(c)))
			k.HoldingUnknown = true
		} else {
			names := map[string]string{}
			for _, g := range pick.groups {
				names[g.ID] = g.Name
			}
			k.Holding = rolegate.HoldingMessage(k.Grantee, k.Role, held, func(id string) string { return names[id] })
		}
	}
	return k
}

// createAccess files an access request, or sends the person back to the
// form with what they typed and a message beside each refused field.
func (s *Server) createAccess(c echo.Context) error {
	typed := accessTyped(c)
	refuse := func(errs rolegate.FieldErrors) error {
		return s.refusePost(c, "/access/new", draft{Form: draftAccess, Access: &typed, Errors: errs})
	}
	if err := s.Picture.Fresh(ctx(c)); err != nil {
		s.Logger.Warn("request access: the organization's picture is stale", "err", err, "request_id", requestIDFrom(ctx(c)))
		return refuse(rolegate.FieldErrors{rolegate.FieldRole: "We could not read the organization just now, so we cannot check the role and the grantee. Try again in a moment."})
	}
	pick, err := s.accessChoices(c)
	if err != nil {
		return err
	}
	role, roleMsg := rolegate.PickRole(pick.roles, typed.Role)
	grantee, granteeMsg := rolegate.PickGrantee(pick.groups, pick.users, typed.GrantTo)
	in := rolegate.AccessInput{RoleID: role.ID, RoleScope: role.Scope, Until: typed.Until, Grantee: grantee, Justification: typed.Justification}
	if roleMsg != "" || granteeMsg != "" {
		// Until and the justification are still checked, so that one
		// round trip says everything.
		_, errs := rolegate.ValidateAccess(in, rolegate.AccessFacts{}, s.Now(), s.Config.AccessMaxDuration)
		out := rolegate.FieldErrors{}
		for _, f := range []rolegate.Field{rolegate.FieldUntil, rolegate.FieldJustification} {
			if errs[f] != "" {
				out[f] = errs[f]
			}
		}
		if roleMsg != "" {
			out[rolegate.FieldRole] = roleMsg
		}
		if granteeMsg != "" {
			out[rolegate.FieldGrantee] = granteeMsg
		}
		return refuse(out)
	}
	req, err := s.Access.CreateAccess(ctx(c), s.actor(c), in, s.Catalog.CatalogFor(role.Scope), rolegate.AccessConfig{MaxDuration: s.Config.AccessMaxDuration})
	if err == nil {
		return s.afterCreate(c, req.ID)
	}
	if fields := rolegate.ErrorFields(err); fields != nil {
		return refuse(fields)
	}
	return err
}

// revokeAccess ends the access a request gave, early (admins); the reason
// is required. The removal is durable: it happens once, whatever happens
// to this process.
func (s *Server) revokeAccess(c echo.Context) error {
	id, err := requestID(c)
	if err != nil {
		return err
	}
	reason := c.FormValue("comment")
	_, err = s.Grants.Revoke(ctx(c), s.actor(c), id, reason)
	return s.answerChange(c, id, err, draftRevoke, reason, "revoked")
}

// retryRemoval puts a failed removal back in the queue (admins).
func (s *Server) retryRemoval(c echo.Context) error {
	id, err := requestID(c)
	if err != nil {
		return err
	}
	_, err = s.Grants.RetryRemoval(ctx(c), s.actor(c), id)
	return s.answerChange(c, id, err, draftRetry, "", "removal_retried")
}

// selfBenefit is why the person signed in may not approve access request
// r ("" when they may, or r asks for a new role): nobody approves access
// they would receive, as the organization's directory shows it. The
// approval checks it again in its own transaction.
func (s *Server) selfBenefit(c echo.Context, r *rolegate.Request) (string, error) {
	if !r.IsAccess() {
		return "", nil
	}
	me := sessionFrom(ctx(c)).Principal
	var b rolegate.Beneficiary
	var err error
	if b.User, b.Found, err = s.Directory.UserByEmail(ctx(c), me.Email); err != nil || !b.Found {
		return "", err
	}
	if b.Groups, err = s.Directory.GroupsOf(ctx(c), b.User.ID); err != nil {
		return "", err
	}
	if err := rolegate.CheckSelfBenefit(r.Grantee, b); err != nil {
		return rolegate.ErrorMessage(err), nil
	}
	return "", nil
}
