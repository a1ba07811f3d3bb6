package rolegate_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rolegate/rolegate/internal/rolegate"
)

// detailsGolden pairs each action's typed details with the JSON the maps
// that wrote details before these types produced for the same values
// (taken from that code, byte for byte). The trail is hash-chained and
// exported, so these bytes must never change.
var detailsGolden = []struct {
	d    rolegate.Details
	want string
}{
	{rolegate.SignInSucceeded{ReplacedSession: true}, `{"replaced_session":true}`},
	{rolegate.SignInSucceeded{}, `{}`},
	{rolegate.SignInFailed{Reason: "state_mismatch", Repeats: rolegate.Repeats{Count: 1}}, `{"count":1,"reason":"state_mismatch"}`},
	{rolegate.SignOut{}, `{}`},
	{rolegate.AccessDenied{Method: "GET", Path: "/audit?x=<a>&b", Route: "/audit", Reason: "missing portal role auditor",
		Repeats: rolegate.Repeats{Count: 499, Overflow: true, RepeatedFrom: "2026-03-04T04:06:07.89Z", RepeatedUntil: "2026-03-04T04:07:07.89Z"}},
		`{"count":499,"method":"GET","overflow":true,"path":"/audit?x=\u003ca\u003e\u0026b","reason":"missing portal role auditor","repeated_from":"2026-03-04T04:06:07.89Z","repeated_until":"2026-03-04T04:07:07.89Z","route":"/audit"}`},
	{rolegate.RequestCreated{Permissions: []string{"api.groups.read", "api.model.read"}, PayloadSHA256: "ab12", RequiredApprovals: 2, Justification: "Ticket <OPS-1> & more"},
		`{"description":"","justification":"Ticket \u003cOPS-1\u003e \u0026 more","payload_sha256":"ab12","permissions":["api.groups.read","api.model.read"],"required_approvals":2}`},
	{rolegate.RequestApproved{Comment: "ok", PayloadSHA256: "ab12", Approvals: 1, RequiredApprovals: 2},
		`{"approvals":1,"comment":"ok","complete":false,"payload_sha256":"ab12","required_approvals":2}`},
	{rolegate.RequestApproved{PayloadSHA256: "ab12", Approvals: 2, RequiredApprovals: 2, Complete: true,
		ReauthRecord: rolegate.Reauth{Mode: "login", AuthTime: time.Date(2026, 3, 4, 5, 6, 7, 890_000_000, time.FixedZone("x", 3600)),
			StepUpAt: time.Date(2026, 3, 4, 4, 6, 8, 0, time.UTC), RoundTrip: true}.Record()},
		`{"approvals":2,"auth_time":"2026-03-04T04:06:07Z","comment":"","complete":true,"payload_sha256":"ab12","reauth_mode":"login","reauth_round_trip":true,"required_approvals":2,"step_up_at":"2026-03-04T04:06:08Z"}`},
	{rolegate.RequestRejected{Comment: "Too broad."}, `{"comment":"Too broad."}`},
	{rolegate.RequestCancelled{}, `{}`},
	{rolegate.RequestExpired{Reason: "No decision within 14 days of submission.", ExpiresAt: "2026-03-04T04:06:07Z"},
		`{"expires_at":"2026-03-04T04:06:07Z","reason":"No decision within 14 days of submission."}`},
	{rolegate.RequestReminder{PendingFor: "50h30m0s", Reminder: 2}, `{"pending_for":"50h30m0s","reminder":2}`},
	{rolegate.ProvisioningQueued{}, `{}`},
	{rolegate.ProvisioningAttempt{Attempt: 2, Reconcile: true, Reason: "the previous worker's lease expired"},
		`{"attempt":2,"reason":"the previous worker's lease expired","reconcile":true}`},
	{rolegate.ProvisioningAttempt{Attempt: 1}, `{"attempt":1,"reconcile":false}`},
	{rolegate.ProvisioningRetrying{Attempt: 1, Error: "upstream 503", RetryIn: "1.5s"}, `{"attempt":1,"error":"upstream 503","retry_in":"1.5s"}`},
	{rolegate.ProvisioningSucceeded{RoleID: "role_1", ResourceType: "api.organization", Permissions: []string{"api.groups.read"}, Attempt: 1},
		`{"attempt":1,"permissions":["api.groups.read"],"resource_type":"api.organization","role_id":"role_1"}`},
	{rolegate.ProvisioningAdopted{RoleID: "role_1", ResourceType: "api.organization", Permissions: []string{"api.groups.read"}, Attempt: 2},
		`{"attempt":2,"permissions":["api.groups.read"],"resource_type":"api.organization","role_id":"role_1"}`},
	{rolegate.ProvisioningFailed{Attempt: 3, Error: "Invalid permission"}, `{"attempt":3,"error":"Invalid permission"}`},
	{rolegate.ProvisioningFailed{Attempt: 3, Error: "Gave up", FoundRole: &rolegate.FoundRole{RoleID: "role_2", Permissions: []string{"a"}}},
		`{"attempt":3,"error":"Gave up","permissions":["a"],"role_id":"role_2"}`},
	{rolegate.ProvisioningMismatch{Attempt: 1, Error: "mismatch", FoundRole: &rolegate.FoundRole{RoleID: "role_2"}},
		`{"attempt":1,"error":"mismatch","permissions":null,"role_id":"role_2"}`},
	{rolegate.ProvisioningRetried{}, `{}`},
	{rolegate.RequestCreated{PayloadSHA256: "ab12", RequiredApprovals: 1, Justification: "INC-12", Call: "POST /v1/organization/groups/group_1/roles",
		BindingVersion: 2, BindingSHA256: "cd34", AccessRecord: rolegate.AccessRecord{Kind: "access", RoleID: "role_1", GranteeKind: "group", GranteeID: "group_1", GranteeName: "Support", Until: "2026-12-10T00:00:00Z"}},
		`{"access_role_id":"role_1","binding_sha256":"cd34","binding_version":2,"call":"POST /v1/organization/groups/group_1/roles","description":"","grantee_id":"group_1","grantee_kind":"group","grantee_name":"Support","justification":"INC-12","kind":"access","payload_sha256":"ab12","permissions":null,"required_approvals":1,"until":"2026-12-10T00:00:00Z"}`},
	{rolegate.AccessRevokeRequested{Reason: "Closed.", AccessRecord: rolegate.AccessRecord{Kind: "access", RoleID: "role_1", GranteeKind: "user", GranteeID: "user_1"}},
		`{"access_role_id":"role_1","grantee_id":"user_1","grantee_kind":"user","kind":"access","reason":"Closed."}`},
	{rolegate.AccessEndingSoon{Until: "2026-12-10T00:00:00Z"}, `{"until":"2026-12-10T00:00:00Z"}`},
	{rolegate.AccessRemovalAttempt{Attempt: 2, Reconcile: true}, `{"attempt":2,"reconcile":true}`},
	{rolegate.AccessRemovalRetrying{Attempt: 1, Error: "upstream 503", RetryIn: "2s"}, `{"attempt":1,"error":"upstream 503","retry_in":"2s"}`},
	{rolegate.AccessRemoved{Cause: "expired", Reason: "Access ended as planned.", Call: "DELETE /v1/organization/groups/group_1/roles/role_1", Attempt: 1},
		`{"attempt":1,"call":"DELETE /v1/organization/groups/group_1/roles/role_1","cause":"expired","reason":"Access ended as planned."}`},
	{rolegate.AccessDrift{Reason: "Removed outside rolegate."}, `{"reason":"Removed outside rolegate."}`},
	{rolegate.AccessRemovalFailed{Attempt: 8, Error: "Gave up"}, `{"attempt":8,"error":"Gave up"}`},
	{rolegate.AccessRemovalRetried{}, `{}`},
	{rolegate.ProvisioningAbandoned{Comment: "The upstream refuses it."}, `{"comment":"The upstream refuses it."}`},
	{rolegate.NotificationSent{NotificationID: 7, Channel: "email", Recipient: "a@example.com", Event: "request.created", Attempts: 1},
		`{"attempts":1,"channel":"email","event":"request.created","notification_id":7,"recipient":"a@example.com"}`},
	{rolegate.NotificationFailed{NotificationID: 8, Channel: "webhook", Recipient: "webhook https://hooks.example (abcd1234)", Event: "request.approved", Attempts: 5, Error: "the receiver answered 500"},
		`{"attempts":5,"channel":"webhook","error":"the receiver answered 500","event":"request.approved","notification_id":8,"recipient":"webhook https://hooks.example (abcd1234)"}`},
	{rolegate.CatalogRefreshed{Roles: 12, Appeared: 1, Deleted: 2}, `{"appeared":1,"changed":0,"deleted":2,"roles":12}`},
	{rolegate.AuditExported{Format: "csv", Filter: map[string]string{}}, `{"filter":{},"format":"csv"}`},
	{rolegate.AuditExported{Format: "jsonl", Filter: map[string]string{"actor": "riley", "action": "request."}},
		`{"filter":{"action":"request.","actor":"riley"},"format":"jsonl"}`},
	{rolegate.AuditExported{Format: "proof", Event: 5, TreeSize: 9}, `{"event":5,"format":"proof","tree_size":9}`},
	{rolegate.AuditCheckpoint{Origin: "rolegate.example/audit", Size: 3, Root: "r00t", Head: "h3ad", Note: "rolegate.example/audit\n3\nr00t\n\n— sig\n", Trigger: "command", OSUser: "ops"},
		`{"head":"h3ad","note":"rolegate.example/audit\n3\nr00t\n\n— sig\n","origin":"rolegate.example/audit","os_user":"ops","root":"r00t","size":3,"trigger":"command"}`},
	{rolegate.UpstreamRoleAppeared{RoleID: "role_3", Scope: "organization", Permissions: []string{"api.model.read"}},
		`{"permissions":["api.model.read"],"predefined":false,"role_id":"role_3","scope":"organization"}`},
	{rolegate.UpstreamRoleChanged{RoleID: "role_4", Scope: "proj_1", ComparedWith: "approved request", Differences: []rolegate.Difference{
		{Field: "name", Old: "a", New: "b"}, {Field: "permissions", Old: "x", New: "x, y", Added: []string{"y"}}}},
		`{"compared_with":"approved request","differences":[{"field":"name","old":"a","new":"b"},{"field":"permissions","old":"x","new":"x, y","added":["y"]}],"role_id":"role_4","scope":"proj_1"}`},
	{rolegate.UpstreamRoleDeleted{RoleID: "role_5", Scope: "organization", Permissions: []string{"api.model.read"}},
		`{"permissions":["api.model.read"],"role_id":"role_5","scope":"organization"}`},
}

func TestNewEventWritesTheDetailsAsBefore(t *testing.T) {
	for _, g := range detailsGolden {
		e := rolegate.NewEvent(rolegate.System("test"), rolegate.OutcomeSuccess, g.d)
		if e.Action != g.d.Action() || string(e.Details) != g.want {
			t.Errorf("NewEvent(%#v) = %s %s; want %s %s", g.d, e.Action, e.Details, g.d.Action(), g.want)
		}
	}
}

// An event stored before (its bytes are the golden ones) reads back into
// its action's type, field for field: written again it gives the same
// bytes.
func TestStoredDetailsDecodeIntoTheirType(t *testing.T) {
	for _, g := range detailsGolden {
		stored := rolegate.Event{Seq: 1, Action: g.d.Action(), Details: []byte(g.want)}
		d, err := stored.DecodeDetails()
		if err != nil {
			t.Errorf("DecodeDetails(%s %s): %v", stored.Action, g.want, err)
			continue
		}
		if again := rolegate.NewEvent(rolegate.System("test"), rolegate.OutcomeSuccess, d); again.Action != stored.Action || string(again.Details) != g.want {
			t.Errorf("DecodeDetails(%s %s) = %#v, written again %s %s; want the same", stored.Action, g.want, d, again.Action, again.Details)
		}
	}
	old := rolegate.Event{Action: rolegate.ActionRequestApproved, Details: []byte(`{"approvals":2,"auth_time":"2026-03-04T04:06:07Z","comment":"Fine.","complete":true,"payload_sha256":"ab12","reauth_mode":"login","required_approvals":2}`)}
	d, err := old.DecodeDetails()
	want := rolegate.RequestApproved{Comment: "Fine.", PayloadSHA256: "ab12", Approvals: 2, RequiredApprovals: 2, Complete: true,
		ReauthRecord: rolegate.ReauthRecord{Mode: "login", AuthTime: "2026-03-04T04:06:07Z"}}
	if err != nil || d != want {
		t.Errorf("DecodeDetails(an old approval) = %#v, %v; want %#v", d, err, want)
	}
	mismatch := rolegate.Event{Action: rolegate.ActionProvisioningMismatch, Details: []byte(`{"attempt":1,"error":"differs","permissions":["a"],"role_id":"role_2"}`)}
	if d, err := mismatch.DecodeDetails(); err != nil || d.(rolegate.ProvisioningMismatch).FoundRole == nil || d.(rolegate.ProvisioningMismatch).RoleID != "role_2" {
		t.Errorf("DecodeDetails(a mismatch) = %#v, %v; want the role found upstream", d, err)
	}
}

func TestDecodeDetailsOfWhatDoesNotFit(t *testing.T) {
	// The trail keeps whatever was written: what fits is read, and the
	// error says what did not.
	e := rolegate.Event{Seq: 9, Action: rolegate.ActionRequestRejected, Details: []byte(`{"comment":"Too broad.","extra":1}`)}
	if d, err := e.DecodeDetails(); err != nil || d != (rolegate.RequestRejected{Comment: "Too broad."}) {
		t.Errorf("DecodeDetails(%s) = %#v, %v; want the comment, the unknown key ignored", e.Details, d, err)
	}
	e = rolegate.Event{Seq: 9, Action: rolegate.ActionProvisioningAttempt, Details: []byte(`{"attempt":"two","reconcile":true}`)}
	if d, err := e.DecodeDetails(); err == nil || d != (rolegate.ProvisioningAttempt{Reconcile: true}) {
		t.Errorf("DecodeDetails(%s) = %#v, %v; want what fits and an error", e.Details, d, err)
	}
	e = rolegate.Event{Seq: 9, Action: "request.teleported", Details: []byte(`{}`)}
	if d, err := e.DecodeDetails(); err == nil || d != nil {
		t.Errorf("DecodeDetails(%s) = %#v, %v; want nil and an error for an unknown action", e.Action, d, err)
	}
}

// Every action constant of the package has its details type: declaring an
// action without one fails here.
func TestEveryActionHasItsDetails(t *testing.T) {
	actions := actionConstants(t)
	if len(actions) < 27 {
		t.Fatalf("found %d action constants; want all of them (%v)", len(actions), actions)
	}
	covered := map[string]bool{}
	for _, g := range detailsGolden {
		covered[g.d.Action()] = true
	}
	for name, action := range actions {
		d, err := rolegate.Event{Action: action, Details: []byte(`{}`)}.DecodeDetails()
		if err != nil || d == nil || d.Action() != action {
			t.Errorf("%s (%q): DecodeDetails = %#v, %v; want its own details type", name, action, d, err)
		}
		if !covered[action] {
			t.Errorf("%s (%q) has no golden JSON in detailsGolden", name, action)
		}
	}
}

// actionConstants reads the package's Action… constants from its source.
func actionConstants(t *testing.T) map[string]string {
	t.Helper()
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	var parsed []*ast.File
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		parsed = append(parsed, f)
	}
	out := map[string]string{}
	for _, f := range parsed {
		ast.Inspect(f, func(n ast.Node) bool {
			spec, ok := n.(*ast.ValueSpec)
			if !ok {
				return true
			}
			for i, name := range spec.Names {
				if !strings.HasPrefix(name.Name, "Action") || i >= len(spec.Values) {
					continue
				}
				if lit, ok := spec.Values[i].(*ast.BasicLit); ok && lit.Kind == token.STRING {
					out[name.Name], _ = strconv.Unquote(lit.Value)
				}
			}
			return true
		})
	}
	return out
}
