package sqlite_test

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rolegate/rolegate/internal/audit"
	"github.com/rolegate/rolegate/internal/rolegate"
	"github.com/rolegate/rolegate/internal/sqlite"
	"github.com/rolegate/rolegate/internal/testkit"
)

// lifecycle is a real database file with the request service over it, a
// clock the test moves by hand, and a second plain connection through which
// the test reads rows the service does not expose.
type lifecycle struct {
	t        *testing.T
	ctx      context.Context
	db       *sqlite.DB
	requests *sqlite.Requests
	catalog  *rolegate.Catalog
	raw      *sql.DB
	stores

	// lastJob is the job the last provisioning() claimed.
	lastJob *rolegate.Job
	*lcState
}

// lcState is what the service's callbacks change while a test runs.
type lcState struct {
	clock     *testkit.Clock
	mu        sync.Mutex
	handedOff []int64
}

// in returns the fixture for use by the (sub)test t.
func (lc *lifecycle) in(t *testing.T) *lifecycle {
	c := *lc
	c.t = t
	return &c
}

const lcTTL = 14 * 24 * time.Hour

func lcActor(subject, name string, roles ...rolegate.PortalRole) rolegate.Actor {
	return rolegate.Actor{
		Principal: rolegate.Principal{
			Person: rolegate.Person{Issuer: "https://idp.test", Subject: subject, Name: name, Email: subject + "@example.test"},
			Roles:  roles,
		},
		ClientIP: "192.0.2.10", UserAgent: "requests_test", HTTPRequestID: "req-" + subject,
	}
}

var (
	lcRequester = lcActor("riley", "Riley Requester", rolegate.RoleRequester)
	// lcSelfApprover is the requester again, now also holding every role.
	lcSelfApprover = lcActor("riley", "Riley Requester", rolegate.RoleRequester, rolegate.RoleApprover, rolegate.RoleAuditor, rolegate.RoleAdmin)
	lcApprover1    = lcActor("avery", "Avery Approver", rolegate.RoleRequester, rolegate.RoleApprover)
	lcApprover2    = lcActor("blake", "Blake Approver", rolegate.RoleRequester, rolegate.RoleApprover)
	lcAdmin        = lcActor("drew", "Drew Admin", rolegate.RoleAdmin)
	lcStranger     = lcActor("sam", "Sam Someone", rolegate.RoleRequester)
	lcAuditor      = lcActor("casey", "Casey Auditor", rolegate.RoleAuditor)
)

// lcSchema is an empty database with every migration applied, made once:
// migrating costs a commit per step, copying the result costs nothing.
var lcSchema = sync.OnceValues(func() ([]byte, error) {
	dir, err := os.MkdirTemp("", "rolegate-requests-test-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "schema.db")
	db, err := sqlite.Open(context.Background(), path)
	if err != nil {
		return nil, err
	}
	if err := db.Close(); err != nil {
		return nil, err
	}
	return os.ReadFile(path)
})

func newLifecycle(t *testing.T, requiredApprovals int) *lifecycle {
	t.Helper()
	ctx := context.Background()
	schema, err := lcSchema()
	if err != nil {
		t.Fatalf("migrated schema: %v", err)
	}
	path := filepath.Join(t.TempDir(), "rolegate.db")
	if err := os.WriteFile(path, schema, 0o600); err != nil {
		t.Fatal(err)
	}
	db, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	raw := testkit.OpenReadOnly(t, path)
	lc := &lifecycle{
		t: t, ctx: ctx, db: db, raw: raw, stores: storesOf(db),
		lcState: &lcState{clock: testkit.NewClock(time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC))},
		catalog: rolegate.NewCatalog([]rolegate.Permission{
			{Name: "api.groups.read", Area: "Groups"},
			{Name: "api.groups.write", Area: "Groups"},
			{Name: "api.users.read", Area: "Users"},
			{Name: "api.users.write", Area: "Users", Sensitive: true},
		}),
	}
	db.SetClock(lc.clock.Now)
	lc.requests = sqlite.NewRequests(db, rolegate.RequestsConfig{
		RequiredApprovals: requiredApprovals, ExpireAfter: lcTTL,
		HandedOff: func(id int64) {
			lc.mu.Lock()
			defer lc.mu.Unlock()
			lc.handedOff = append(lc.handedOff, id)
		},
	})
	return lc
}

func (lc *lifecycle) handOffs(id int64) int {
	lc.mu.Lock()
	defer lc.mu.Unlock()
	n := 0
	for _, got := range lc.handedOff {
		if got == id {
			n++
		}
	}
	return n
}

func (lc *lifecycle) create(name string, perms ...string) *rolegate.Request {
	lc.t.Helper()
	if len(perms) == 0 {
		perms = []string{"api.groups.read"}
	}
	req, err := lc.requests.Create(lc.ctx, lcRequester, rolegate.RequestInput{
		RoleName: name, Permissions: perms, Justification: "Needed for the quarterly access review.",
	}, lc.catalog)
	if err != nil {
		lc.t.Fatalf("Create(%q): %v", name, err)
	}
	return req
}

func (lc *lifecycle) get(id int64) *rolegate.Request {
	lc.t.Helper()
	req, err := lc.requests.Get(lc.ctx, id)
	if err != nil {
		lc.t.Fatalf("Get(%d): %v", id, err)
	}
	return req
}

// actions lists the actions recorded about a request, oldest first.
func (lc *lifecycle) actions(id int64) []string {
	lc.t.Helper()
	events, err := lc.trail.RequestEvents(lc.ctx, id)
	if err != nil {
		lc.t.Fatal(err)
	}
	var out []string
	for _, e := range events {
		out = append(out, e.Action)
	}
	return out
}

// snapshot is everything a transition could change, as text: the request
// row, its approvals, its provisioning job, and the head of the audit trail.
func (lc *lifecycle) snapshot(id int64) string {
	lc.t.Helper()
	var b strings.Builder
	dump := func(query string, args ...any) { b.WriteString(testkit.DumpRows(lc.t, lc.raw, query, args...)) }
	dump(`SELECT * FROM requests WHERE id = ?`, id)
	dump(`SELECT * FROM approvals WHERE request_id = ? ORDER BY approver_key`, id)
	dump(`SELECT * FROM provisioning_jobs WHERE request_id = ?`, id)
	dump(`SELECT COUNT(*), MAX(seq) FROM audit_events`)
	return b.String()
}

func (lc *lifecycle) count(query string, args ...any) int {
	lc.t.Helper()
	var n int
	if err := lc.raw.QueryRow(query, args...).Scan(&n); err != nil {
		lc.t.Fatalf("%s: %v", query, err)
	}
	return n
}

// verifyChain checks the whole audit trail's hash chain: every event
// recorded by these transitions is chained and unaltered.
func (lc *lifecycle) verifyChain() {
	lc.t.Helper()
	rows, err := lc.raw.Query(`SELECT seq, at, actor_key, actor_email, actor_name, actor_roles, action,
		COALESCE(request_id, 0), role_name, outcome, details, client_ip, user_agent, http_request_id, prev_hash, hash
		FROM audit_events ORDER BY seq`)
	if err != nil {
		lc.t.Fatal(err)
	}
	defer rows.Close()
	prev, want := audit.GenesisHash, int64(1)
	for rows.Next() {
		var e rolegate.Event
		var at int64
		var details string
		if err := rows.Scan(&e.Seq, &at, &e.ActorKey, &e.ActorEmail, &e.ActorName, &e.ActorRoles, &e.Action,
			&e.RequestID, &e.RoleName, &e.Outcome, &details, &e.ClientIP, &e.UserAgent, &e.HTTPReqID, &e.PrevHash, &e.Hash); err != nil {
			lc.t.Fatal(err)
		}
		e.At, e.Details = time.UnixMilli(at).UTC(), []byte(details)
		hash, err := audit.Hash(e)
		switch {
		case err != nil:
			lc.t.Fatalf("audit event %d cannot be hashed: %v", e.Seq, err)
		case e.Seq != want:
			lc.t.Fatalf("audit event seq %d; want %d (a gap)", e.Seq, want)
		case e.PrevHash != prev:
			lc.t.Fatalf("audit event %d prev_hash %s; want %s", e.Seq, e.PrevHash, prev)
		case hash != e.Hash:
			lc.t.Fatalf("audit event %d hash %s; recomputed %s", e.Seq, e.Hash, hash)
		}
		prev, want = e.Hash, want+1
	}
	if err := rows.Err(); err != nil {
		lc.t.Fatal(err)
	}
}

// Every way a request can stand, reached through the service itself.
var lcStarts = []struct {
	name  string
	reach func(lc *lifecycle) *rolegate.Request
}{
	{"pending", func(lc *lifecycle) *rolegate.Request { return lc.create("Group Reader") }},
	{"approved", func(lc *lifecycle) *rolegate.Request { return lc.approved("Group Reader") }},
	{"provisioning", func(lc *lifecycle) *rolegate.Request { return lc.provisioning("Group Reader") }},
	{"provisioned", func(lc *lifecycle) *rolegate.Request {
		req, job := lc.provisioning("Group Reader"), lc.lastJob
		if err := lc.jobs.CompleteJob(lc.ctx, job, rolegate.ProvisionedRole{ID: "role_1", Name: req.RoleName, Permissions: req.Permissions}, false); err != nil {
			lc.t.Fatal(err)
		}
		return lc.get(req.ID)
	}},
	{"failed", func(lc *lifecycle) *rolegate.Request { return lc.failed("Group Reader") }},
	{"failed and abandoned", func(lc *lifecycle) *rolegate.Request {
		req := lc.failed("Group Reader")
		if _, err := lc.requests.AbandonProvisioning(lc.ctx, lcAdmin, req.ID, "The upstream refuses this name."); err != nil {
			lc.t.Fatal(err)
		}
		return lc.get(req.ID)
	}},
	{"rejected", func(lc *lifecycle) *rolegate.Request {
		req := lc.create("Group Reader")
		if _, err := lc.requests.Reject(lc.ctx, lcApprover2, req.ID, "Use the reader role."); err != nil {
			lc.t.Fatal(err)
		}
		return lc.get(req.ID)
	}},
	{"cancelled", func(lc *lifecycle) *rolegate.Request {
		req := lc.create("Group Reader")
		if _, err := lc.requests.Cancel(lc.ctx, lcRequester, req.ID); err != nil {
			lc.t.Fatal(err)
		}
		return lc.get(req.ID)
	}},
	{"expired", func(lc *lifecycle) *rolegate.Request {
		req := lc.create("Group Reader")
		lc.clock.Advance(lcTTL)
		if n, err := lc.requests.ExpireDue(lc.ctx); err != nil || n != 1 {
			lc.t.Fatalf("ExpireDue = %d, %v; want 1", n, err)
		}
		return lc.get(req.ID)
	}},
}

func (lc *lifecycle) approved(name string) *rolegate.Request {
	lc.t.Helper()
	req := lc.create(name)
	if _, err := lc.requests.Approve(lc.ctx, lcApprover2, req.ID, req.Binding(), ""); err != nil {
		lc.t.Fatalf("Approve: %v", err)
	}
	return lc.get(req.ID)
}

func (lc *lifecycle) provisioning(name string) *rolegate.Request {
	lc.t.Helper()
	req := lc.approved(name)
	job, err := lc.jobs.ClaimJob(lc.ctx, "worker-1", time.Minute)
	if err != nil || job == nil || job.RequestID != req.ID {
		lc.t.Fatalf("ClaimJob = %+v, %v; want the job of %d", job, err, req.ID)
	}
	lc.lastJob = job
	return lc.get(req.ID)
}

func (lc *lifecycle) failed(name string) *rolegate.Request {
	lc.t.Helper()
	req := lc.provisioning(name)
	if err := lc.jobs.FailJob(lc.ctx, lc.lastJob, rolegate.ActionProvisioningFailed, "400: invalid permission", nil); err != nil {
		lc.t.Fatal(err)
	}
	return lc.get(req.ID)
}

// The actions a person or the portal can take on a request.
var lcActions = []struct {
	name string
	do   func(lc *lifecycle, req *rolegate.Request) error
}{
	{"approve", func(lc *lifecycle, req *rolegate.Request) error {
		_, err := lc.requests.Approve(lc.ctx, lcApprover1, req.ID, req.Binding(), "Fine.")
		return err
	}},
	{"reject", func(lc *lifecycle, req *rolegate.Request) error {
		_, err := lc.requests.Reject(lc.ctx, lcApprover1, req.ID, "Use the reader role instead.")
		return err
	}},
	{"cancel", func(lc *lifecycle, req *rolegate.Request) error {
		_, err := lc.requests.Cancel(lc.ctx, lcRequester, req.ID)
		return err
	}},
	{"retry", func(lc *lifecycle, req *rolegate.Request) error {
		_, err := lc.requests.RetryProvisioning(lc.ctx, lcAdmin, req.ID)
		return err
	}},
	{"abandon", func(lc *lifecycle, req *rolegate.Request) error {
		_, err := lc.requests.AbandonProvisioning(lc.ctx, lcAdmin, req.ID, "Not worth it any more.")
		return err
	}},
	{"claim", func(lc *lifecycle, req *rolegate.Request) error {
		job, err := lc.jobs.ClaimJob(lc.ctx, "worker-2", time.Minute)
		if err == nil && job == nil {
			return errNothing
		}
		return err
	}},
	{"expire", func(lc *lifecycle, req *rolegate.Request) error {
		lc.clock.Advance(lcTTL + time.Hour)
		n, err := lc.requests.ExpireDue(lc.ctx)
		if err == nil && n == 0 {
			return errNothing
		}
		return err
	}},
}

// errNothing stands for "the action found nothing to do" (expire, claim).
var errNothing = fmt.Errorf("nothing to do")

// TestEveryTransition walks every status × every action. An allowed action
// lands in the expected status and records exactly the expected events; a
// forbidden one is refused and changes nothing at all: no row, no approval,
// no job, no audit event.
func TestEveryTransition(t *testing.T) {
	type outcome struct {
		status rolegate.Status
		events []string // appended to the request's timeline
	}
	allowed := map[string]outcome{
		"pending/approve": {rolegate.StatusApproved, []string{rolegate.ActionRequestApproved, rolegate.ActionProvisioningQueued}},
		"pending/reject":  {rolegate.StatusRejected, []string{rolegate.ActionRequestRejected}},
		"pending/cancel":  {rolegate.StatusCancelled, []string{rolegate.ActionRequestCancelled}},
		"pending/expire":  {rolegate.StatusExpired, []string{rolegate.ActionRequestExpired}},
		"approved/claim":  {rolegate.StatusProvisioning, []string{rolegate.ActionProvisioningAttempt}},
		"failed/retry":    {rolegate.StatusApproved, []string{rolegate.ActionProvisioningRetried}},
		"failed/abandon":  {rolegate.StatusFailed, []string{rolegate.ActionProvisioningAbandoned}},
	}
	for _, start := range lcStarts {
		t.Run(start.name, func(t *testing.T) {
			t.Parallel()
			// Refused actions change nothing, so they can all be tried on
			// one request, in turn (expire last: it moves the clock).
			shared := newLifecycle(t, 1)
			sharedReq := start.reach(shared)
			for _, action := range lcActions {
				key := start.name + "/" + action.name
				t.Run(action.name, func(t *testing.T) {
					want, ok := allowed[key]
					if !ok {
						lc := shared.in(t)
						before := lc.snapshot(sharedReq.ID)
						err := action.do(lc, sharedReq)
						if err == nil {
							t.Fatalf("%s on a %s request succeeded; want it refused", action.name, start.name)
						}
						if code := rolegate.ErrorCode(err); err != errNothing && code != rolegate.ECONFLICT {
							t.Errorf("%s on a %s request: %v (code %q); want a conflict", action.name, start.name, err, code)
						}
						if got := lc.snapshot(sharedReq.ID); got != before {
							t.Errorf("%s on a %s request changed the database:\nbefore %s\nafter  %s", action.name, start.name, before, got)
						}
						return
					}
					lc := newLifecycle(t, 1)
					req := start.reach(lc)
					beforeActions := lc.actions(req.ID)
					if err := action.do(lc, req); err != nil {
						t.Fatalf("%s on a %s request: %v; want it allowed", action.name, start.name, err)
					}
					if got := lc.get(req.ID).Status; got != want.status {
						t.Errorf("%s on a %s request: status %s; want %s", action.name, start.name, got, want.status)
					}
					if got := lc.actions(req.ID)[len(beforeActions):]; !slices.Equal(got, want.events) {
						t.Errorf("%s on a %s request recorded %q; want %q", action.name, start.name, got, want.events)
					}
					lc.verifyChain()
				})
			}
			shared.in(t).verifyChain()
		})
	}
}

// errOf is the error of a call, its result set aside: table entries whose
// only question is whether the call was refused.
func errOf[T any](_ T, err error) error { return err }

// newRefusals is a lifecycle with a pending request and a failed one, for
// tests of actions that must be refused and change nothing.
func newRefusals(t *testing.T) (lc *lifecycle, pending, failed *rolegate.Request) {
	t.Helper()
	lc = newLifecycle(t, 1)
	return lc, lc.create("Group Reader"), lc.failed("Group Writer")
}

func TestForbiddenPeopleChangeNothing(t *testing.T) {
	lc, pending, failed := newRefusals(t)
	tests := []struct {
		desc string
		do   func() error
		id   int64
	}{
		{"the requester approving their own request with every role", func() error {
			return errOf(lc.requests.Approve(lc.ctx, lcSelfApprover, pending.ID, pending.Binding(), ""))
		}, pending.ID},
		{"the requester rejecting their own request with every role", func() error { return errOf(lc.requests.Reject(lc.ctx, lcSelfApprover, pending.ID, "Changed my mind.")) }, pending.ID},
		{"a requester approving", func() error {
			return errOf(lc.requests.Approve(lc.ctx, lcStranger, pending.ID, pending.Binding(), ""))
		}, pending.ID},
		{"an auditor rejecting", func() error { return errOf(lc.requests.Reject(lc.ctx, lcAuditor, pending.ID, "No.")) }, pending.ID},
		{"someone else cancelling", func() error { return errOf(lc.requests.Cancel(lc.ctx, lcApprover1, pending.ID)) }, pending.ID},
		{"an approver retrying", func() error { return errOf(lc.requests.RetryProvisioning(lc.ctx, lcApprover1, failed.ID)) }, failed.ID},
		{"the requester abandoning", func() error {
			return errOf(lc.requests.AbandonProvisioning(lc.ctx, lcRequester, failed.ID, "Give up."))
		}, failed.ID},
	}
	for _, tt := range tests {
		before := lc.snapshot(tt.id)
		if err := tt.do(); rolegate.ErrorCode(err) != rolegate.EFORBIDDEN {
			t.Errorf("%s = %v; want forbidden", tt.desc, err)
		}
		if after := lc.snapshot(tt.id); after != before {
			t.Errorf("%s changed the database:\nbefore %s\nafter  %s", tt.desc, before, after)
		}
	}
}

func TestBadInputChangesNothing(t *testing.T) {
	lc, pending, failed := newRefusals(t)
	tests := []struct {
		desc  string
		do    func() error
		id    int64
		code  string
		field rolegate.Field
	}{
		{"a rejection without a comment", func() error { return errOf(lc.requests.Reject(lc.ctx, lcApprover1, pending.ID, "  \n ")) }, pending.ID, rolegate.EINVALID, "comment"},
		{"an approval with an overlong comment", func() error {
			return errOf(lc.requests.Approve(lc.ctx, lcApprover1, pending.ID, pending.Binding(), strings.Repeat("x", 1001)))
		}, pending.ID, rolegate.EINVALID, "comment"},
		{"an approval of another payload", func() error {
			return errOf(lc.requests.Approve(lc.ctx, lcApprover1, pending.ID, rolegate.PayloadHash([]byte(`{"role_name":"x"}`)), ""))
		}, pending.ID, rolegate.ECONFLICT, ""},
		{"an approval without a payload hash", func() error { return errOf(lc.requests.Approve(lc.ctx, lcApprover1, pending.ID, "", "")) }, pending.ID, rolegate.ECONFLICT, ""},
		{"abandoning without a reason", func() error { return errOf(lc.requests.AbandonProvisioning(lc.ctx, lcAdmin, failed.ID, "")) }, failed.ID, rolegate.EINVALID, "comment"},
	}
	for _, tt := range tests {
		before := lc.snapshot(tt.id)
		err := tt.do()
		if got := rolegate.ErrorCode(err); got != tt.code {
			t.Errorf("%s = %v; want code %q", tt.desc, err, tt.code)
		}
		if tt.field != "" && rolegate.ErrorFields(err)[tt.field] == "" {
			t.Errorf("%s: no message for field %q in %v", tt.desc, tt.field, err)
		}
		if after := lc.snapshot(tt.id); after != before {
			t.Errorf("%s changed the database:\nbefore %s\nafter  %s", tt.desc, before, after)
		}
	}
	if _, err := lc.requests.Approve(lc.ctx, lcApprover1, 9999, pending.Binding(), ""); rolegate.ErrorCode(err) != rolegate.ENOTFOUND {
		t.Errorf("Approve(no such request) = %v; want not found", err)
	}
}

func TestCreateStoresTheExactPayload(t *testing.T) {
	lc := newLifecycle(t, 1)
	req, err := lc.requests.Create(lc.ctx, lcRequester, rolegate.RequestInput{
		RoleName: "  Group Reader ", Permissions: []string{"api.groups.write", "api.groups.read", "api.groups.write"},
		Description: " Reads and writes groups. ", Justification: "Needed for the quarterly access review.",
	}, lc.catalog)
	if err != nil {
		t.Fatal(err)
	}
	got := lc.get(req.ID)
	const want = `{"role_name":"Group Reader","permissions":["api.groups.read","api.groups.write"],"description":"Reads and writes groups."}`
	if string(got.Payload) != want {
		t.Errorf("stored payload = %s; want %s", got.Payload, want)
	}
	if got.PayloadHash != rolegate.PayloadHash([]byte(want)) {
		t.Errorf("stored hash = %s; want the SHA-256 of the payload", got.PayloadHash)
	}
	if got.Status != rolegate.StatusPending || got.RequiredApprovals != 1 || got.Requester.Key() != lcRequester.Key() {
		t.Errorf("stored request = %+v; want pending, 1 approval, filed by %s", got, lcRequester.Key())
	}
	if want := lc.clock.Now().Add(lcTTL); !got.ExpiresAt.Equal(want) {
		t.Errorf("ExpiresAt = %s; want %s", got.ExpiresAt, want)
	}
	if a := lc.actions(req.ID); !slices.Equal(a, []string{rolegate.ActionRequestCreated}) {
		t.Errorf("timeline = %q; want one %s", a, rolegate.ActionRequestCreated)
	}
	lc.verifyChain()
}

func TestCreateRefusals(t *testing.T) {
	lc := newLifecycle(t, 1)
	lc.create("Group Reader")
	if _, err := lc.picture.ReplacePicture(lc.ctx, rolegate.ScopeOrganization, []rolegate.UpstreamRole{
		{ID: "role_owner", Name: "owner", Permissions: []string{"api.groups.read"}, Predefined: true},
	}, nil); err != nil {
		t.Fatal(err)
	}
	valid := rolegate.RequestInput{RoleName: "Group Auditor", Permissions: []string{"api.groups.read"}, Justification: "Needed for the quarterly access review."}
	tests := []struct {
		desc  string
		who   rolegate.Actor
		in    func(in rolegate.RequestInput) rolegate.RequestInput
		code  string
		field rolegate.Field
		want  string
	}{
		{"a name an open request has", lcRequester, func(in rolegate.RequestInput) rolegate.RequestInput { in.RoleName = "group reader"; return in },
			rolegate.EINVALID, rolegate.FieldRoleName, "already asks"},
		{"a name a role upstream has", lcRequester, func(in rolegate.RequestInput) rolegate.RequestInput { in.RoleName = "Owner"; return in },
			rolegate.EINVALID, rolegate.FieldRoleName, "already exists in the organization"},
		{"an unknown permission", lcRequester, func(in rolegate.RequestInput) rolegate.RequestInput {
			in.Permissions = []string{"api.nukes.launch"}
			return in
		}, rolegate.EINVALID, "permissions", "Unknown permission"},
		{"someone who is not a requester", lcAuditor, func(in rolegate.RequestInput) rolegate.RequestInput { return in },
			rolegate.EFORBIDDEN, "", ""},
	}
	for _, tt := range tests {
		before := lc.count(`SELECT COUNT(*) FROM requests`) + lc.count(`SELECT COUNT(*) FROM audit_events`)
		_, err := lc.requests.Create(lc.ctx, tt.who, tt.in(valid), lc.catalog)
		if got := rolegate.ErrorCode(err); got != tt.code {
			t.Errorf("Create(%s) = %v; want code %q", tt.desc, err, tt.code)
		}
		if got := rolegate.ErrorFields(err)[tt.field]; tt.field != "" && !strings.Contains(got, tt.want) {
			t.Errorf("Create(%s) %s message = %q; want it to contain %q", tt.desc, tt.field, got, tt.want)
		}
		if after := lc.count(`SELECT COUNT(*) FROM requests`) + lc.count(`SELECT COUNT(*) FROM audit_events`); after != before {
			t.Errorf("Create(%s) stored something", tt.desc)
		}
	}
}

// A name is held while a request for it is open or its role exists, and
// freed when the request ends without a role.
func TestRoleNameTaken(t *testing.T) {
	lc := newLifecycle(t, 1)
	taken := func(name string) string {
		t.Helper()
		msg, err := lc.requests.RoleNameTaken(lc.ctx, rolegate.ScopeOrganization, name, lcRequester.Principal) // the requester of them all
		if err != nil {
			t.Fatal(err)
		}
		return msg
	}
	pending := lc.create("Pending Role")
	provisioned := lc.provisioning("Provisioned Role")
	if err := lc.jobs.CompleteJob(lc.ctx, lc.lastJob, rolegate.ProvisionedRole{ID: "role_9", Name: provisioned.RoleName}, false); err != nil {
		t.Fatal(err)
	}
	failed := lc.failed("Failed Role")
	abandoned := lc.failed("Abandoned Role")
	if _, err := lc.requests.AbandonProvisioning(lc.ctx, lcAdmin, abandoned.ID, "The name is wrong."); err != nil {
		t.Fatal(err)
	}
	rejected := lc.create("Rejected Role")
	if _, err := lc.requests.Reject(lc.ctx, lcApprover1, rejected.ID, "No."); err != nil {
		t.Fatal(err)
	}
	cancelled := lc.create("Cancelled Role")
	if _, err := lc.requests.Cancel(lc.ctx, lcRequester, cancelled.ID); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		want string // "" = free
	}{
		{"pending role", fmt.Sprintf("Request #%d already asks", pending.ID)},
		{"PROVISIONED ROLE", fmt.Sprintf("already created through request #%d", provisioned.ID)},
		{"Failed Role", fmt.Sprintf("Request #%d already asks", failed.ID)},
		{"Abandoned Role", ""},
		{"Rejected Role", ""},
		{"Cancelled Role", ""},
		{"Brand New Role", ""},
	}
	for _, tt := range tests {
		got := taken(tt.name)
		if (tt.want == "") != (got == "") || !strings.Contains(got, tt.want) {
			t.Errorf("RoleNameTaken(%q) = %q; want %q", tt.name, got, tt.want)
		}
	}
	// Someone who may not see the request (it answers 404 to them) learns
	// only that the name is taken, not by which request; someone who may
	// see it is told which.
	stranger := lcStranger.Principal
	for _, tt := range []struct {
		name   string
		viewer rolegate.Principal
		want   string
	}{
		{"pending role", stranger, "A pending request already asks for a role with this name."},
		{"Failed Role", stranger, "A pending request already asks for a role with this name."},
		{"provisioned role", stranger, "A role with this name already exists in the organization."},
		{"pending role", lcApprover1.Principal, fmt.Sprintf("Request #%d already asks for a role with this name.", pending.ID)},
		{"pending role", lcAdmin.Principal, fmt.Sprintf("Request #%d already asks for a role with this name.", pending.ID)},
	} {
		got, err := lc.requests.RoleNameTaken(lc.ctx, rolegate.ScopeOrganization, tt.name, tt.viewer)
		if err != nil || got != tt.want {
			t.Errorf("RoleNameTaken(%q) to %s = %q, %v; want %q", tt.name, tt.viewer.Name, got, err, tt.want)
		}
	}
	if _, err := lc.requests.Create(lc.ctx, lcStranger, rolegate.RequestInput{
		RoleName: "Pending Role", Permissions: []string{"api.groups.read"}, Justification: "Needed for the quarterly access review.",
	}, lc.catalog); rolegate.ErrorFields(err)[rolegate.FieldRoleName] != "A pending request already asks for a role with this name." {
		t.Errorf("Create(a name someone else's request holds) = %v; want the name refused without the request's number", err)
	}
	// A freed name can be asked for again.
	for _, name := range []string{"Abandoned Role", "Rejected Role", "Cancelled Role"} {
		lc.create(name)
	}
}

func TestSensitivePermissionNeedsOneMoreApproval(t *testing.T) {
	lc := newLifecycle(t, 1)
	req := lc.create("User Manager", "api.users.write")
	if req.RequiredApprovals != 2 {
		t.Fatalf("RequiredApprovals = %d; want 2 (1 + 1 for a sensitive permission)", req.RequiredApprovals)
	}
	if _, err := lc.requests.Approve(lc.ctx, lcApprover1, req.ID, req.Binding(), ""); err != nil {
		t.Fatal(err)
	}
	if got := lc.get(req.ID); got.Status != rolegate.StatusPending || got.ApprovalCount() != 1 {
		t.Fatalf("after one approval: %s with %d approvals; want pending with 1", got.Status, got.ApprovalCount())
	}
	if _, err := lc.requests.Approve(lc.ctx, lcApprover1, req.ID, req.Binding(), ""); rolegate.ErrorCode(err) != rolegate.ECONFLICT {
		t.Errorf("the same approver again = %v; want a conflict", err)
	}
	if lc.handOffs(req.ID) != 0 || lc.count(`SELECT COUNT(*) FROM provisioning_jobs`) != 0 {
		t.Errorf("handed off after one of two approvals")
	}
	if _, err := lc.requests.Approve(lc.ctx, lcApprover2, req.ID, req.Binding(), "Second pair of eyes."); err != nil {
		t.Fatal(err)
	}
	got := lc.get(req.ID)
	if got.Status != rolegate.StatusApproved || got.ApprovalCount() != 2 {
		t.Errorf("after two approvals: %s with %d approvals; want approved with 2", got.Status, got.ApprovalCount())
	}
	for _, a := range got.Approvals {
		if a.PayloadHash != req.Binding() {
			t.Errorf("approval by %s bound to %s; want %s", a.Approver.Key(), a.PayloadHash, req.PayloadHash)
		}
	}
	if lc.handOffs(req.ID) != 1 {
		t.Errorf("handed off %d times; want once", lc.handOffs(req.ID))
	}
	want := []string{rolegate.ActionRequestCreated, rolegate.ActionRequestApproved, rolegate.ActionRequestApproved, rolegate.ActionProvisioningQueued}
	if a := lc.actions(req.ID); !slices.Equal(a, want) {
		t.Errorf("timeline = %q; want %q", a, want)
	}
}

func TestRequiredApprovalsFromConfiguration(t *testing.T) {
	lc := newLifecycle(t, 2)
	if req := lc.create("Group Reader"); req.RequiredApprovals != 2 {
		t.Errorf("RequiredApprovals = %d with ROLEGATE_REQUIRED_APPROVALS=2; want 2", req.RequiredApprovals)
	}
	if req := lc.create("User Manager", "api.users.write", "api.groups.read"); req.RequiredApprovals != 3 {
		t.Errorf("RequiredApprovals = %d with 2 and a sensitive permission; want 3", req.RequiredApprovals)
	}
}

func TestExpiryIsRecordedWithItsReason(t *testing.T) {
	lc := newLifecycle(t, 1)
	due := lc.create("Due Role")
	lc.clock.Advance(time.Hour)
	notYet := lc.create("Later Role")
	lc.clock.Advance(lcTTL - time.Hour - time.Millisecond)
	if n, err := lc.requests.ExpireDue(lc.ctx); err != nil || n != 0 {
		t.Fatalf("ExpireDue a millisecond early = %d, %v; want 0", n, err)
	}
	lc.clock.Advance(time.Millisecond)
	if n, err := lc.requests.ExpireDue(lc.ctx); err != nil || n != 1 {
		t.Fatalf("ExpireDue at the deadline = %d, %v; want 1", n, err)
	}
	if got := lc.get(due.ID).Status; got != rolegate.StatusExpired {
		t.Errorf("due request is %s; want expired", got)
	}
	if got := lc.get(notYet.ID).Status; got != rolegate.StatusPending {
		t.Errorf("later request is %s; want pending", got)
	}
	events, err := lc.trail.RequestEvents(lc.ctx, due.ID)
	if err != nil {
		t.Fatal(err)
	}
	last := events[len(events)-1]
	if last.Action != rolegate.ActionRequestExpired || !strings.Contains(string(last.Details), "No decision within 14 days of submission.") {
		t.Errorf("last event = %s %s; want %s with the reason", last.Action, last.Details, rolegate.ActionRequestExpired)
	}
	if last.ActorKey != rolegate.System("expiry").Key() {
		t.Errorf("expired by %s; want the system", last.ActorKey)
	}
	if n, err := lc.requests.ExpireDue(lc.ctx); err != nil || n != 0 {
		t.Errorf("ExpireDue again = %d, %v; want 0", n, err)
	}
}

// A request past its deadline is expired by the first action on it, even
// before the sweep runs, and that action is refused.
func TestActingOnARequestPastItsDeadlineExpiresIt(t *testing.T) {
	lc := newLifecycle(t, 1)
	req := lc.create("Group Reader")
	lc.clock.Advance(lcTTL)
	_, err := lc.requests.Approve(lc.ctx, lcApprover1, req.ID, req.Binding(), "")
	if rolegate.ErrorCode(err) != rolegate.ECONFLICT || !strings.Contains(rolegate.ErrorMessage(err), "expired") {
		t.Fatalf("Approve past the deadline = %v; want a conflict saying it expired", err)
	}
	got := lc.get(req.ID)
	if got.Status != rolegate.StatusExpired || got.ApprovalCount() != 0 {
		t.Errorf("after the refused approval: %s with %d approvals; want expired with none", got.Status, got.ApprovalCount())
	}
	want := []string{rolegate.ActionRequestCreated, rolegate.ActionRequestExpired}
	if a := lc.actions(req.ID); !slices.Equal(a, want) {
		t.Errorf("timeline = %q; want %q", a, want)
	}
	// Someone who may not act learns nothing and changes nothing.
	other := lc.create("Other Role")
	lc.clock.Advance(lcTTL)
	before := lc.snapshot(other.ID)
	if _, err := lc.requests.Cancel(lc.ctx, lcStranger, other.ID); rolegate.ErrorCode(err) != rolegate.EFORBIDDEN {
		t.Errorf("Cancel by a stranger past the deadline = %v; want forbidden", err)
	}
	if after := lc.snapshot(other.ID); after != before {
		t.Errorf("a stranger's refused cancel changed the database")
	}
}

func TestAbandonKeepsTheRequestFailed(t *testing.T) {
	lc := newLifecycle(t, 1)
	req := lc.failed("Group Reader")
	got, err := lc.requests.AbandonProvisioning(lc.ctx, lcAdmin, req.ID, "  The upstream refuses it.  ")
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != rolegate.StatusFailed || !got.Abandoned() {
		t.Errorf("AbandonProvisioning = %s, abandoned %v; want failed and abandoned", got.Status, got.Abandoned())
	}
	stored := lc.get(req.ID)
	if !stored.AbandonedAt.Equal(lc.clock.Now()) || !stored.Abandoned() {
		t.Errorf("stored AbandonedAt = %s; want %s", stored.AbandonedAt, lc.clock.Now())
	}
	events, _ := lc.trail.RequestEvents(lc.ctx, req.ID)
	last := events[len(events)-1]
	if last.Action != rolegate.ActionProvisioningAbandoned || !strings.Contains(string(last.Details), `"The upstream refuses it."`) ||
		last.ActorKey != lcAdmin.Key() {
		t.Errorf("last event = %s by %s %s; want %s by the admin with the reason", last.Action, last.ActorKey, last.Details, rolegate.ActionProvisioningAbandoned)
	}
	if job, err := lc.jobs.ClaimJob(lc.ctx, "worker-9", time.Minute); err != nil || job != nil {
		t.Errorf("ClaimJob after abandon = %+v, %v; want nothing", job, err)
	}
}

func TestListFilters(t *testing.T) {
	lc := newLifecycle(t, 2)
	var mine []int64
	for i := range 7 {
		mine = append(mine, lc.create(fmt.Sprintf("Mine %d", i)).ID)
		lc.clock.Advance(time.Second)
	}
	if _, err := lc.requests.Create(lc.ctx, lcApprover1, rolegate.RequestInput{
		RoleName: "Avery Role", Permissions: []string{"api.groups.read"}, Justification: "Needed for the quarterly access review.",
	}, lc.catalog); err != nil {
		t.Fatal(err)
	}
	if _, err := lc.requests.Cancel(lc.ctx, lcRequester, mine[1]); err != nil {
		t.Fatal(err)
	}
	if _, err := lc.requests.Approve(lc.ctx, lcApprover1, mine[2], lc.get(mine[2]).Binding(), ""); err != nil {
		t.Fatal(err)
	}
	ids := func(f rolegate.RequestFilter) (string, int) {
		t.Helper()
		list, total, err := lc.requests.List(lc.ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, r := range list {
			out = append(out, fmt.Sprint(r.ID))
		}
		return strings.Join(out, ","), total
	}
	join := func(ids ...int64) string {
		var out []string
		for _, id := range ids {
			out = append(out, fmt.Sprint(id))
		}
		return strings.Join(out, ",")
	}
	pending := []rolegate.Status{rolegate.StatusPending}
	tests := []struct {
		desc  string
		f     rolegate.RequestFilter
		want  string
		total int
	}{
		{"mine, newest first", rolegate.RequestFilter{RequesterKey: lcRequester.Key()},
			join(mine[6], mine[5], mine[4], mine[3], mine[2], mine[1], mine[0]), 7},
		{"mine, page 2 of 3", rolegate.RequestFilter{RequesterKey: lcRequester.Key(), Limit: 3, Offset: 3},
			join(mine[3], mine[2], mine[1]), 7},
		{"mine, past the end", rolegate.RequestFilter{RequesterKey: lcRequester.Key(), Limit: 3, Offset: 9}, "", 7},
		{"mine, cancelled", rolegate.RequestFilter{RequesterKey: lcRequester.Key(), Statuses: []rolegate.Status{rolegate.StatusCancelled}},
			join(mine[1]), 1},
		{"queue of avery: pending, not theirs, not approved by them, oldest first",
			rolegate.RequestFilter{Statuses: pending, NotRequester: lcApprover1.Key(), NotApprovedBy: lcApprover1.Key(), OldestFirst: true},
			join(mine[0], mine[3], mine[4], mine[5], mine[6]), 5},
		{"queue of blake", rolegate.RequestFilter{Statuses: pending, NotRequester: lcApprover2.Key(), NotApprovedBy: lcApprover2.Key(), OldestFirst: true, Limit: 2},
			join(mine[0], mine[2]), 7},
	}
	for _, tt := range tests {
		got, total := ids(tt.f)
		if got != tt.want || total != tt.total {
			t.Errorf("List(%s) = [%s] of %d; want [%s] of %d", tt.desc, got, total, tt.want, tt.total)
		}
		// Count (the navigation's number) agrees with List's total.
		if n, err := lc.requests.Count(lc.ctx, tt.f); err != nil || n != tt.total {
			t.Errorf("Count(%s) = %d, %v; want %d", tt.desc, n, err, tt.total)
		}
	}
	// The queue of blake includes avery's own request: 7 pending of others.
	if _, total := ids(rolegate.RequestFilter{Statuses: pending, NotRequester: lcApprover2.Key()}); total != 7 {
		t.Errorf("pending not filed by blake = %d; want 7", total)
	}
}

func TestListHidesAbandoned(t *testing.T) {
	lc := newLifecycle(t, 1)
	keep := lc.failed("Keep Role")
	drop := lc.failed("Drop Role")
	if _, err := lc.requests.AbandonProvisioning(lc.ctx, lcAdmin, drop.ID, "Not needed."); err != nil {
		t.Fatal(err)
	}
	list, total, err := lc.requests.List(lc.ctx, rolegate.RequestFilter{Statuses: []rolegate.Status{rolegate.StatusFailed}, NotAbandoned: true})
	if err != nil {
		t.Fatal(err)
	}
	if total != 1 || len(list) != 1 || list[0].ID != keep.ID {
		t.Errorf("failed and not abandoned = %d requests; want only #%d", total, keep.ID)
	}
}

// race fires every fn at once and returns their errors in order.
func race(fns ...func() error) []error {
	errs := make([]error, len(fns))
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i, fn := range fns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			errs[i] = fn()
		}()
	}
	close(start)
	wg.Wait()
	return errs
}

func succeeded(errs []error) int {
	n := 0
	for _, err := range errs {
		if err == nil {
			n++
		}
	}
	return n
}

// checkConsistent checks that a request's rows and its timeline tell the
// same story, whatever raced: the approvals counted are the approvals
// recorded, a hand-off exists exactly when the request was fully approved,
// and nothing happened after a final decision.
func (lc *lifecycle) checkConsistent(id int64) *rolegate.Request {
	lc.t.Helper()
	req := lc.get(id)
	actions := lc.actions(id)
	count := func(action string) int {
		n := 0
		for _, a := range actions {
			if a == action {
				n++
			}
		}
		return n
	}
	approvals := lc.count(`SELECT COUNT(*) FROM approvals WHERE request_id = ?`, id)
	jobs := lc.count(`SELECT COUNT(*) FROM provisioning_jobs WHERE request_id = ?`, id)
	if got := count(rolegate.ActionRequestApproved); got != approvals {
		lc.t.Errorf("request %d: %d approval events but %d approval rows", id, got, approvals)
	}
	if approvals > req.RequiredApprovals {
		lc.t.Errorf("request %d: %d approvals; at most %d may ever be recorded", id, approvals, req.RequiredApprovals)
	}
	distinct := lc.count(`SELECT COUNT(DISTINCT approver_key) FROM approvals WHERE request_id = ?`, id)
	if distinct != approvals {
		lc.t.Errorf("request %d: %d approvals from %d approvers", id, approvals, distinct)
	}
	if n := lc.count(`SELECT COUNT(*) FROM approvals WHERE request_id = ? AND approver_key = ?`, id, req.Requester.Key()); n != 0 {
		lc.t.Errorf("request %d: approved by its own requester", id)
	}
	fully := req.Status == rolegate.StatusApproved || req.Status == rolegate.StatusProvisioning
	wantJobs, wantQueued := 0, 0
	if fully {
		wantJobs, wantQueued = 1, 1
		if approvals != req.RequiredApprovals {
			lc.t.Errorf("request %d approved with %d of %d approvals", id, approvals, req.RequiredApprovals)
		}
	}
	if jobs != wantJobs || count(rolegate.ActionProvisioningQueued) != wantQueued || lc.handOffs(id) != wantQueued {
		lc.t.Errorf("request %d (%s): %d jobs, %d queued events, %d hand-offs; want %d each",
			id, req.Status, jobs, count(rolegate.ActionProvisioningQueued), lc.handOffs(id), wantJobs)
	}
	// Exactly one event ends the pending phase, and it matches the status;
	// after it, no decision about the request is recorded any more (only
	// provisioning may follow a hand-off).
	ends := map[string][]rolegate.Status{
		rolegate.ActionProvisioningQueued: {rolegate.StatusApproved, rolegate.StatusProvisioning},
		rolegate.ActionRequestRejected:    {rolegate.StatusRejected},
		rolegate.ActionRequestCancelled:   {rolegate.StatusCancelled},
		rolegate.ActionRequestExpired:     {rolegate.StatusExpired},
	}
	var endings []string
	for i, a := range actions {
		if _, ok := ends[a]; !ok {
			continue
		}
		endings = append(endings, a)
		for _, later := range actions[i+1:] {
			if strings.HasPrefix(later, "request.") {
				lc.t.Errorf("request %d: %s recorded after %s", id, later, a)
			}
		}
	}
	switch {
	case req.Status == rolegate.StatusPending && len(endings) != 0:
		lc.t.Errorf("request %d is pending but its timeline ends with %q", id, endings)
	case req.Status != rolegate.StatusPending && (len(endings) != 1 || !slices.Contains(ends[endings[0]], req.Status)):
		lc.t.Errorf("request %d is %s but its timeline's endings are %q", id, req.Status, endings)
	}
	return req
}

// claim is a worker asking for the next job; errNothing when there is none.
func claim(lc *lifecycle, owner string) func() error {
	return func() error {
		job, err := lc.jobs.ClaimJob(lc.ctx, owner, time.Minute)
		if job == nil && err == nil {
			return errNothing
		}
		return err
	}
}

// TestConcurrentTransitions fires competing transitions at one request at
// the same moment, many times over, and checks that the outcome is always
// one the life cycle allows: the right approval count, exactly one hand-off
// to provisioning, never a move out of a final status, and an audit trail
// that agrees with the rows.
func TestConcurrentTransitions(t *testing.T) {
	const rounds = 6
	approvers := make([]rolegate.Actor, 8)
	for i := range approvers {
		approvers[i] = lcActor(fmt.Sprintf("approver-%d", i), fmt.Sprintf("Approver %d", i), rolegate.RoleApprover)
	}
	approve := func(lc *lifecycle, who rolegate.Actor, req *rolegate.Request) func() error {
		return func() error { return errOf(lc.requests.Approve(lc.ctx, who, req.ID, req.Binding(), "")) }
	}
	// Every loser is told plainly that the request moved on.
	wantOnlyConflicts := func(t *testing.T, errs []error) {
		t.Helper()
		for _, err := range errs {
			if err != nil && rolegate.ErrorCode(err) != rolegate.ECONFLICT {
				t.Errorf("a losing transition failed with %v; want a conflict", err)
			}
		}
	}

	t.Run("eight approvers, two approvals needed", func(t *testing.T) {
		t.Parallel()
		lc := newLifecycle(t, 2)
		for round := range rounds {
			req := lc.create(fmt.Sprintf("Round %d", round))
			var fns []func() error
			for _, a := range approvers {
				fns = append(fns, approve(lc, a, req))
			}
			errs := race(fns...)
			wantOnlyConflicts(t, errs)
			if n := succeeded(errs); n != 2 {
				t.Errorf("round %d: %d approvals succeeded; want exactly 2", round, n)
			}
			if got := lc.checkConsistent(req.ID); got.Status != rolegate.StatusApproved {
				t.Errorf("round %d: status %s; want approved", round, got.Status)
			}
		}
		lc.verifyChain()
	})

	t.Run("double submit of the same approval", func(t *testing.T) {
		t.Parallel()
		lc := newLifecycle(t, 2)
		for round := range rounds {
			req := lc.create(fmt.Sprintf("Round %d", round))
			errs := race(approve(lc, lcApprover1, req), approve(lc, lcApprover1, req), approve(lc, lcApprover1, req))
			wantOnlyConflicts(t, errs)
			if n := succeeded(errs); n != 1 {
				t.Errorf("round %d: %d of 3 identical approvals succeeded; want 1", round, n)
			}
			if got := lc.checkConsistent(req.ID); got.Status != rolegate.StatusPending || got.ApprovalCount() != 1 {
				t.Errorf("round %d: %s with %d approvals; want pending with 1", round, got.Status, got.ApprovalCount())
			}
		}
	})

	t.Run("approve racing cancel", func(t *testing.T) {
		t.Parallel()
		lc := newLifecycle(t, 1)
		for round := range rounds {
			req := lc.create(fmt.Sprintf("Round %d", round))
			errs := race(approve(lc, lcApprover1, req), func() error { return errOf(lc.requests.Cancel(lc.ctx, lcRequester, req.ID)) })
			wantOnlyConflicts(t, errs)
			if n := succeeded(errs); n != 1 {
				t.Errorf("round %d: %d of approve and cancel succeeded; want exactly 1", round, n)
			}
			got := lc.checkConsistent(req.ID)
			if want := map[bool]rolegate.Status{true: rolegate.StatusApproved, false: rolegate.StatusCancelled}[errs[0] == nil]; got.Status != want {
				t.Errorf("round %d: status %s; want %s for the winner", round, got.Status, want)
			}
		}
	})

	t.Run("reject racing approvals", func(t *testing.T) {
		t.Parallel()
		lc := newLifecycle(t, 2)
		for round := range rounds {
			req := lc.create(fmt.Sprintf("Round %d", round))
			errs := race(
				approve(lc, approvers[0], req), approve(lc, approvers[1], req), approve(lc, approvers[2], req),
				func() error { return errOf(lc.requests.Reject(lc.ctx, approvers[3], req.ID, "Too broad.")) })
			wantOnlyConflicts(t, errs)
			got := lc.checkConsistent(req.ID)
			switch got.Status {
			case rolegate.StatusRejected:
				if errs[3] != nil {
					t.Errorf("round %d: rejected, but the rejection failed: %v", round, errs[3])
				}
			case rolegate.StatusApproved:
				if errs[3] == nil {
					t.Errorf("round %d: approved, but the rejection succeeded too", round)
				}
			default:
				t.Errorf("round %d: status %s; want rejected or approved", round, got.Status)
			}
		}
	})

	t.Run("everything at once", func(t *testing.T) {
		t.Parallel()
		lc := newLifecycle(t, 2)
		for round := range rounds {
			req := lc.create(fmt.Sprintf("Round %d", round))
			var fns []func() error
			for _, a := range approvers[:4] {
				fns = append(fns, approve(lc, a, req), approve(lc, a, req))
			}
			fns = append(fns,
				approve(lc, lcSelfApprover, req),
				func() error { return errOf(lc.requests.Reject(lc.ctx, approvers[5], req.ID, "No.")) },
				func() error { return errOf(lc.requests.Cancel(lc.ctx, lcRequester, req.ID)) },
				func() error { return errOf(lc.requests.RetryProvisioning(lc.ctx, lcAdmin, req.ID)) },
				claim(lc, "worker-a"),
				claim(lc, "worker-b"),
			)
			errs := race(fns...)
			if rolegate.ErrorCode(errs[8]) != rolegate.EFORBIDDEN {
				t.Errorf("round %d: self-approval = %v; want forbidden", round, errs[8])
			}
			got := lc.checkConsistent(req.ID)
			// A worker may have claimed the hand-off in the same storm; if
			// so, exactly one did.
			claims := succeeded(errs[len(errs)-2:])
			if want := map[bool]int{true: 1}[got.Status == rolegate.StatusProvisioning]; claims != want {
				t.Errorf("round %d: %s, and %d workers claimed its job; want %d", round, got.Status, claims, want)
			}
			// The next round starts with an empty queue.
			for {
				job, err := lc.jobs.ClaimJob(lc.ctx, "drain", time.Minute)
				if err != nil {
					t.Fatal(err)
				}
				if job == nil {
					break
				}
			}
			// Whatever won, the request now stands still.
			after := lc.snapshot(req.ID)
			if got.Status.Final() {
				race(approve(lc, approvers[6], req), approve(lc, approvers[7], req), func() error { return errOf(lc.requests.Cancel(lc.ctx, lcRequester, req.ID)) })
				if lc.snapshot(req.ID) != after {
					t.Errorf("round %d: a %s request changed", round, got.Status)
				}
			}
		}
		lc.verifyChain()
	})
}
