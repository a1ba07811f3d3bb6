package rolegate

import (
	"cmp"
	"encoding/json"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// Access requests (issue 17): a request to assign an existing role of the
// organization's picture to a group or a user, for as long as needed.
// This file holds their rules, which the store, the worker and the web
// will ask; storing, provisioning and removing them is still to come.

// Kind says what a request asks for.
type Kind string

const (
	// KindRole asks for a new custom role (every request filed before
	// access requests existed).
	KindRole Kind = "role"
	// KindAccess asks for an existing role to be assigned to a group or user.
	KindAccess Kind = "access"
)

// Label is the word shown to people for the kind.
func (k Kind) Label() string {
	if k == KindAccess {
		return "Access"
	}
	return "New role"
}

// GranteeKind is who receives access: a group or a user of the organization.
type GranteeKind string

const (
	GranteeGroup GranteeKind = "group"
	GranteeUser  GranteeKind = "user"
)

// Grantee is the group or user an access request grants a role to, as
// the picture named it when the request was filed.
type Grantee struct {
	Kind  GranteeKind
	ID    string
	Name  string
	Email string // a user's; empty for a group
}

// String names the grantee for people: "group Support Team", "user Riley
// Requester (riley@example.test)".
func (g Grantee) String() string {
	name := g.Name
	if name == "" {
		name = g.ID
	}
	if g.Kind == GranteeUser && g.Email != "" && !strings.EqualFold(g.Email, name) {
		return "user " + name + " (" + g.Email + ")"
	}
	return string(g.Kind) + " " + name
}

// AssignCall is the upstream call that gives the role of scope (the
// organization, or a project's id) to g: POST
// /v1/organization/{groups|users}/{id}/roles, or the same under
// /v1/projects/{project_id}/. A project's role can only be assigned
// within its project: the scope is the role's.
func AssignCall(scope string, g Grantee) Call {
	base := "/v1/organization/"
	if scope != ScopeOrganization {
		base = "/v1/projects/" + scope + "/"
	}
	return Call{Method: "POST", Path: base + string(g.Kind) + "s/" + g.ID + "/roles"}
}

// RemoveCall is the upstream call that ends the assignment of roleID to g
// in scope: DELETE on AssignCall's path + "/" + roleID.
func RemoveCall(scope string, g Grantee, roleID string) Call {
	c := AssignCall(scope, g)
	return Call{Method: "DELETE", Path: c.Path + "/" + roleID}
}

// AssignPayload is the exact body of the assign call, {"role_id":"…"}, and
// its SHA-256.
func AssignPayload(roleID string) ([]byte, string) {
	b, err := json.Marshal(struct {
		RoleID string `json:"role_id"`
	}{roleID})
	if err != nil {
		panic("rolegate: marshal of a plain struct failed: " + err.Error())
	}
	return b, PayloadHash(b)
}

// AssignBinding is what an approval of an access request binds to: the
// whole assign call, method, path and body (binding version 2), so that
// an approval cannot be used to give another role, to another group or
// user, or in another scope.
func AssignBinding(scope string, g Grantee, roleID string) string {
	body, _ := AssignPayload(roleID)
	return CallBinding(AssignCall(scope, g), body)
}

// validUpstreamID reports whether id may be an upstream id (a role's, a
// group's, a user's) before it is looked up.
func validUpstreamID(id string) bool { return projectIDPattern.MatchString(id) }

// The inputs of an access request.
const (
	FieldRole    Field = "role"
	FieldGrantee Field = "grant to"
	FieldUntil   Field = "until"
)

// The longest a Request access form's Role or Grant to (a label, a name,
// an email or an id) and Until may be.
const (
	MaxPickLen  = 300
	MaxUntilLen = 40
)

// DefaultAccessMaxDuration bounds Until (ROLEGATE_ACCESS_MAX_DURATION).
const DefaultAccessMaxDuration = 90 * 24 * time.Hour

// AccessInput is what a person submits on the Request access form, with
// what the picture says of the role and the grantee (the store fills
// those in from the picture, never from the form).
type AccessInput struct {
	RoleID    string
	RoleScope string // the scope the form says the role is in
	// Until is what was typed: a date ("2026-12-31", access ends at the
	// end of that day, UTC) or a date and time ("2026-12-31T17:30", UTC);
	// empty means the longest allowed.
	Until         string
	Grantee       Grantee
	Justification string
}

// AccessFacts is what the picture says about an access request's role and
// grantee when it is checked.
type AccessFacts struct {
	Role      UpstreamRole
	RoleFound bool
	// Project is the role's project (for a project role) and whether the
	// picture lists it.
	Project      Project
	ProjectFound bool
	Grantee      Grantee // as the picture names it
	GranteeFound bool
}

// ParseUntil reads what was typed in Until: a date (access ends at the
// end of that day, UTC), or a date and time in UTC (as a browser's
// datetime-local field sends it). Empty is the zero time.
func ParseUntil(s string) (time.Time, bool) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, true
	}
	if d, err := time.Parse(time.DateOnly, s); err == nil {
		return d.AddDate(0, 0, 1), true
	}
	for _, layout := range []string{"2006-01-02T15:04", "2006-01-02T15:04:05", time.RFC3339} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), true
		}
	}
	return time.Time{}, false
}

// ResolveUntil is when access granted at now ends, from what was typed
// and the longest allowed (max; 0: no limit): empty means now+max (with
// no limit, no end: the zero time). The message, when not "", is shown
// beside Until.
func ResolveUntil(typed string, now time.Time, max time.Duration) (time.Time, string) {
	t, ok := ParseUntil(typed)
	switch {
	case !ok:
		return time.Time{}, "Enter the date access ends as YYYY-MM-DD (or a date and time, YYYY-MM-DDTHH:MM, UTC)."
	case t.IsZero() && max > 0:
		return now.Add(max), ""
	case t.IsZero():
		return time.Time{}, ""
	case !t.After(now):
		return time.Time{}, "The end of access must be in the future."
	case max > 0 && t.After(now.Add(max)):
		return time.Time{}, fmt.Sprintf("Access can last at most %s: pick a date on or before %s.",
			HumanDuration(max), now.Add(max).UTC().Format(time.DateOnly))
	}
	return t, ""
}

// ValidateAccess checks an access request against the picture's facts
// and the longest access allowed; it returns when the access ends and
// the messages beside each field (nil when none). A role, group, user or
// project that does not exist (or no longer does) is refused with a
// message naming it; a grant whose role belongs to another project than
// the one the form says is refused as crossing projects.
func ValidateAccess(in AccessInput, facts AccessFacts, now time.Time, max time.Duration) (time.Time, FieldErrors) {
	errs := FieldErrors{}
	in.RoleID, in.RoleScope = strings.TrimSpace(in.RoleID), strings.TrimSpace(in.RoleScope)
	switch {
	case in.RoleID == "":
		errs[FieldRole] = "Pick the role to grant."
	case !validUpstreamID(in.RoleID) || !facts.RoleFound:
		errs[FieldRole] = fmt.Sprintf("The role %s is not one of the organization's roles as rolegate last read them.", printable(truncate(in.RoleID, 80)))
	case facts.Role.Scope != in.RoleScope:
		errs[FieldRole] = fmt.Sprintf("The role %s belongs to %s, not to %s: a project's role can only be granted within its project.",
			facts.Role.Name, scopeWords(facts.Role.Scope, facts.Role.ScopeName), scopeWords(in.RoleScope, ""))
	case facts.Role.Scope != ScopeOrganization && !facts.ProjectFound:
		errs[FieldRole] = fmt.Sprintf("The project of the role %s (%s) is not one of the organization's projects any more.", facts.Role.Name, facts.Role.Scope)
	case facts.Role.Scope != ScopeOrganization && facts.Project.Archived:
		errs[FieldRole] = fmt.Sprintf("The project %s of the role %s is archived: nothing can be granted in it.", facts.Project.Name, facts.Role.Name)
	}
	switch g := in.Grantee; {
	case g.Kind != GranteeGroup && g.Kind != GranteeUser:
		errs[FieldGrantee] = "Pick a group or a person to grant the role to."
	case g.ID == "":
		errs[FieldGrantee] = "Pick a group or a person to grant the role to."
	case !validUpstreamID(g.ID) || !facts.GranteeFound:
		errs[FieldGrantee] = fmt.Sprintf("The %s %s is not one of the organization's %ss as rolegate last read them.", g.Kind, printable(truncate(g.ID, 80)), g.Kind)
	}
	until, msg := ResolveUntil(in.Until, now, max)
	if msg != "" {
		errs[FieldUntil] = msg
	}
	j := strings.TrimSpace(in.Justification)
	switch n := utf8.RuneCountInString(j); {
	case j == "":
		errs[FieldJustification] = "Say why this access is needed."
	case !utf8.ValidString(j) || n > MaxJustificationLen:
		errs[FieldJustification] = fmt.Sprintf("The justification must be at most %d characters.", MaxJustificationLen)
	case n < MinJustificationLen:
		errs[FieldJustification] = fmt.Sprintf("Say a little more (at least %d characters) so approvers can decide.", MinJustificationLen)
	default:
		if msg := hiddenCharacter("justification", j); msg != "" {
			errs[FieldJustification] = msg
		}
	}
	if len(errs) == 0 {
		return until, nil
	}
	return until, errs
}

func scopeWords(scope, name string) string {
	switch {
	case scope == ScopeOrganization:
		return "the organization"
	case name != "":
		return "the project " + name + " (" + scope + ")"
	}
	return "the project " + printable(truncate(scope, 80))
}

// GrantAlreadyOpen is the refusal of an access request whose grant (the
// role for the grantee) another open request already asks for.
func GrantAlreadyOpen(r *Request) error {
	return Invalid(FieldErrors{FieldGrantee: fmt.Sprintf("An open request already asks for the role %s for the %s.", r.RoleName, r.Grantee)})
}

// Beneficiary is what the organization's directory says of an approver:
// their user in the organization (matched by the email of their sign-in;
// found false when none) and the groups that user is in, as the upstream's
// group membership shows.
type Beneficiary struct {
	User   User
	Found  bool
	Groups []Group
}

// CheckSelfBenefit returns nil when approver may approve access for g, or
// the reason not: nobody approves access they would receive themselves,
// neither as the user it is granted to nor as a member of the group it is
// granted to.
func CheckSelfBenefit(g Grantee, approver Beneficiary) error {
	if !approver.Found {
		return nil
	}
	switch g.Kind {
	case GranteeUser:
		if approver.User.ID == g.ID {
			return Errorf(EFORBIDDEN, "You cannot approve access that would be granted to you.")
		}
	case GranteeGroup:
		for _, grp := range approver.Groups {
			if grp.ID == g.ID {
				return Errorf(EFORBIDDEN, "You cannot approve this: you are a member of the group %s, which would receive the access (as the organization's group membership shows).", cmp.Or(grp.Name, grp.ID))
			}
		}
	}
	return nil
}

// AccessRequiredApprovals is how many distinct approvals an access request
// needs: the configured base, and one more when the role holds a
// sensitive permission, as for new roles.
func AccessRequiredApprovals(base int, role UpstreamRole, catalog *Catalog) int {
	return RequiredApprovals(base, catalog != nil && catalog.AnySensitive(role.Permissions))
}

// AccessEnding says what the removal at Until is due to do at now: nothing
// yet (before), remind the requester (a day before, once), or remove.
type AccessEnding int

const (
	AccessRunning AccessEnding = iota
	AccessRemindDue
	AccessRemovalDue
)

// AccessReminderLead is how long before Until the requester is told that
// access ends.
const AccessReminderLead = 24 * time.Hour

// EndingAt is what is due at now for access ending at until (zero: never),
// reminded telling whether the reminder was sent already.
func EndingAt(until time.Time, reminded bool, now time.Time) AccessEnding {
	switch {
	case until.IsZero():
		return AccessRunning
	case !now.Before(until):
		return AccessRemovalDue
	case !reminded && !now.Before(until.Add(-AccessReminderLead)):
		return AccessRemindDue
	}
	return AccessRunning
}

// accessRecord is r's grant as its events record it.
func (r *Request) accessRecord() AccessRecord {
	if !r.IsAccess() {
		return AccessRecord{}
	}
	rec := AccessRecord{Kind: string(KindAccess), RoleID: r.AccessRoleID, GranteeKind: string(r.Grantee.Kind),
		GranteeID: r.Grantee.ID, GranteeName: r.Grantee.Name, GranteeEmail: r.Grantee.Email}
	if !r.AccessUntil.IsZero() {
		rec.Until = r.AccessUntil.UTC().Format(time.RFC3339)
	}
	return rec
}

// AccessConfig holds the knobs of access requests.
type AccessConfig struct {
	// MaxDuration bounds Until (ROLEGATE_ACCESS_MAX_DURATION); 0: no limit.
	MaxDuration time.Duration
}

// SubmitAccess validates in against the picture's facts and returns the
// new pending access request actor files, with what filing it causes (the
// approvers and the webhooks hear of it, as for a new role). Its payload
// is the assign call's body and its approvals bind the whole assign call.
// The store fills facts from the picture and checks that the same grant
// is not already open.
func SubmitAccess(actor Actor, in AccessInput, facts AccessFacts, catalog *Catalog, cfg RequestsConfig, acfg AccessConfig, now time.Time) (*Request, Effects, error) {
	if !actor.Has(RoleRequester) {
		return nil, Effects{}, Errorf(EFORBIDDEN, "You are not allowed to file requests.")
	}
	cfg = cfg.WithDefaults()
	until, errs := ValidateAccess(in, facts, now, acfg.MaxDuration)
	if errs != nil {
		return nil, Effects{}, Invalid(errs)
	}
	role, g := facts.Role, facts.Grantee
	g.Kind = in.Grantee.Kind
	payload, hash := AssignPayload(role.ID)
	r := &Request{
		Kind: KindAccess, Scope: role.Scope, ScopeName: role.ScopeName,
		RoleName: role.Name, Permissions: role.Permissions, Description: role.Description,
		Justification: strings.TrimSpace(in.Justification), Payload: payload, PayloadHash: hash,
		AccessRoleID: role.ID, Grantee: g, AccessUntil: until,
		Status: StatusPending, Requester: actor.Person,
		RequiredApprovals: AccessRequiredApprovals(cfg.RequiredApprovals, role, catalog),
		CreatedAt:         now, UpdatedAt: now, ExpiresAt: now.Add(cfg.ExpireAfter),
	}
	r.BindingVersion = BindingCall
	r.BindingHash = CallBinding(r.Call(), payload)
	created := r.event(actor, OutcomeSuccess, RequestCreated{
		Permissions: r.Permissions, PayloadSHA256: hash, RequiredApprovals: r.RequiredApprovals,
		Description: r.Description, Justification: r.Justification,
		ScopeRecord: r.scopeRecord(), Call: r.Call().String(), BindingVersion: r.BindingVersion, BindingSHA256: r.BindingHash,
		AccessRecord: r.accessRecord(),
	})
	return r, Effects{From: StatusPending, To: StatusPending, Events: []Caused{{created, newNotice(NoticeSubmitted)}}}, nil
}

// CheckApproveAccess is CheckApprove for an access request, with what
// the directory says of the approver: nobody approves access they would
// receive themselves.
func CheckApproveAccess(p Principal, r *Request, seenHash, comment string, approver Beneficiary) error {
	if err := CheckApprove(p, r, seenHash, comment); err != nil {
		return err
	}
	return CheckSelfBenefit(r.Grantee, approver)
}

// JobBinding is what the approvals of a claimed job must be bound to,
// computed from exactly what would be sent: for an access job the assign
// call and its body; for a new role Binding of its scope.
func JobBinding(job *Job) (Call, string, error) {
	if job.Kind == KindAccess {
		c := AssignCall(job.Scope, job.Grantee)
		if job.BindingVersion != BindingCall {
			return c, "", fmt.Errorf("an access request binds the whole call (version %d), not version %d", BindingCall, job.BindingVersion)
		}
		return c, CallBinding(c, job.Payload), nil
	}
	sum, err := Binding(job.BindingVersion, job.Scope, job.Payload)
	return CallFor(job.Scope), sum, err
}

// ApproveRequest is Approve for a new role and ApproveAccess for access,
// with approver read (by the store, in the approval's transaction) only
// for access.
func ApproveRequest(r *Request, actor Actor, seenHash, comment string, reauth Reauth, approver func() (Beneficiary, error), now time.Time) (Effects, error) {
	if !r.IsAccess() {
		return Approve(r, actor, seenHash, comment, reauth, now)
	}
	// Nobody approves access they would receive: the directory says who
	// the approver is in the organization and in which groups.
	b, err := approver()
	if err != nil {
		return Effects{}, err
	}
	return ApproveAccess(r, actor, seenHash, comment, reauth, b, now)
}

// ApproveAccess is Approve for an access request, refusing an approver
// who would receive the access themselves (approver: what the directory
// says of them, read in the approval's transaction).
func ApproveAccess(r *Request, actor Actor, seenHash, comment string, reauth Reauth, approver Beneficiary, now time.Time) (Effects, error) {
	if err := CheckApproveAccess(actor.Principal, r, seenHash, strings.TrimSpace(comment), approver); err != nil {
		return Effects{}, err
	}
	return Approve(r, actor, seenHash, comment, reauth, now)
}
