package provisioning_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rolegate/rolegate/internal/adminapi"
	"github.com/rolegate/rolegate/internal/app"
	"github.com/rolegate/rolegate/internal/provisioning"
	"github.com/rolegate/rolegate/internal/rolegate"
	"github.com/rolegate/rolegate/internal/simulator"
	"github.com/rolegate/rolegate/internal/testkit"
)

// rig is the provisioning path as serve wires it, over real parts: a SQLite
// file, the request service that approves, the Admin API simulator served
// over HTTP behind the real client, and the worker.
type rig struct {
	t        *testing.T
	ctx      context.Context
	dbPath   string
	store    *app.Store
	requests rolegate.RequestService
	sim      *simulator.Simulator
	simURL   string
	keys     adminapi.KeySource
	logs     *testkit.SyncBuffer
	cfg      provisioning.Config
	worker   *provisioning.Worker
	queue    *countingQueue
	// stop ends the running worker and waits for it.
	stop func()
}

type rigOptions struct {
	// Keys overrides the static key (e.g. a key file).
	Keys        adminapi.KeySource
	MaxAttempts int
	CallTimeout time.Duration
	// NoWake leaves the request service without a hand-off hook.
	NoWake bool
	// Projects are the simulated organization's projects; the picture
	// knows them from the start.
	Projects []simulator.ProjectSeed
	// Users and Groups are the organization's directory (access requests).
	Users  []simulator.UserSeed
	Groups []simulator.GroupSeed
}

func rigActor(subject, name string, roles ...rolegate.PortalRole) rolegate.Actor {
	return rolegate.Actor{Principal: rolegate.Principal{Person: rolegate.Person{Issuer: "test", Subject: subject, Name: name}, Roles: roles}}
}

const rigKey = "sk-admin-rig-7f3c9a1e5b2d4c6f8a0b"

var (
	rigRequester = rigActor("riley", "Riley Requester", rolegate.RoleRequester)
	rigApprover  = rigActor("avery", "Avery Approver", rolegate.RoleRequester, rolegate.RoleApprover)
	rigAdmin     = rigActor("drew", "Drew Admin", rolegate.RoleRequester, rolegate.RoleAdmin)
	rigCatalog   = rolegate.NewCatalog([]rolegate.Permission{
		{Name: "api.groups.read", Area: "Groups"}, {Name: "api.groups.write", Area: "Groups"},
		{Name: "api.users.read", Area: "Users"}, {Name: "api.users.write", Area: "Users"},
	})
)

// newRig builds the rig; the worker does not run until start.
func newRig(t *testing.T, opts rigOptions) *rig {
	t.Helper()
	ctx := context.Background()
	r := &rig{t: t, ctx: ctx, dbPath: filepath.Join(t.TempDir(), "rolegate.db"), logs: &testkit.SyncBuffer{}, stop: func() {}}
	db, err := app.OpenStore(ctx, r.dbPath)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	r.store = db
	r.sim = simulator.New(simulator.Options{AdminKey: rigKey, Projects: opts.Projects, Users: opts.Users, Groups: opts.Groups})
	srv := httptest.NewServer(r.sim)
	r.simURL = srv.URL + "/v1"
	r.keys = opts.Keys
	if r.keys == nil {
		r.keys = adminapi.StaticKey(rigKey)
	}
	r.queue = &countingQueue{Queue: db.Jobs}
	r.cfg = provisioning.Config{
		Queue:       r.queue,
		Upstream:    adminapi.New(r.simURL, r.keys, srv.Client()),
		Logger:      slog.New(slog.NewJSONHandler(r.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		MaxAttempts: opts.MaxAttempts,
		CallTimeout: opts.CallTimeout,
		BackoffBase: 10 * time.Millisecond,
		BackoffMax:  100 * time.Millisecond,
		// Far longer than any test: whatever happens quickly happens
		// because the worker was woken or knew when to look again.
		Poll: time.Minute,
	}
	r.worker = provisioning.New(r.cfg)
	hook := r.worker.Wake
	if opts.NoWake {
		hook = nil
	}
	r.requests = db.Requests(rolegate.RequestsConfig{RequiredApprovals: 1, HandedOff: hook})
	if len(opts.Projects) > 0 {
		// The picture's projects, as a sync would have read them.
		var read rolegate.OrganizationRead
		for _, p := range r.sim.Projects() {
			read.Projects = append(read.Projects, rolegate.Project{ID: p.ID, Name: p.Name, Archived: p.Archived()})
		}
		if _, err := db.Picture.ReplaceOrganization(ctx, read, nil); err != nil {
			t.Fatalf("picture: %v", err)
		}
	}
	// Cleanups run last-in first-out: the worker stops before the
	// simulator and the database close under it.
	t.Cleanup(func() { db.Close() })
	t.Cleanup(srv.Close)
	t.Cleanup(func() { r.stop() })
	return r
}

// countingQueue is the real queue, counting the worker's finished claims so
// that a test can wait for the worker to have looked, instead of sleeping.
type countingQueue struct {
	provisioning.Queue
	claims atomic.Int64
}

func (q *countingQueue) ClaimJob(ctx context.Context, owner string, lease time.Duration) (*rolegate.Job, error) {
	job, err := q.Queue.ClaimJob(ctx, owner, lease)
	q.claims.Add(1)
	return job, err
}

// start runs the worker until the test ends or stop is called.
func (r *rig) start() {
	ctx, cancel := context.WithCancel(r.ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		r.worker.Run(ctx)
	}()
	r.stop = func() {
		cancel()
		<-done
	}
}

// restart stops the worker and runs a new one over the same database, as
// a new process would.
func (r *rig) restart() {
	r.stop()
	r.worker = provisioning.New(r.cfg)
	r.start()
}

// file stores a pending request for a role with perms.
func (r *rig) file(name string, perms ...string) *rolegate.Request {
	r.t.Helper()
	if len(perms) == 0 {
		perms = []string{"api.groups.read"}
	}
	req, err := r.requests.Create(r.ctx, rigRequester, rolegate.RequestInput{
		RoleName: name, Permissions: perms, Description: "Reads groups for the access review.",
		Justification: "Needed for the quarterly access review.",
	}, rigCatalog)
	if err != nil {
		r.t.Fatalf("create %q: %v", name, err)
	}
	return req
}

func (r *rig) approve(req *rolegate.Request) {
	r.t.Helper()
	if _, err := r.requests.ApproveWith(r.ctx, rigApprover, req.ID, req.Binding(), "Looks right.", rolegate.Reauth{}); err != nil {
		r.t.Fatalf("approve %d: %v", req.ID, err)
	}
}

// approved files and approves a request.
func (r *rig) approved(name string, perms ...string) *rolegate.Request {
	r.t.Helper()
	req := r.file(name, perms...)
	r.approve(req)
	return req
}

func (r *rig) get(id int64) *rolegate.Request {
	r.t.Helper()
	req, err := r.requests.Get(r.ctx, id)
	if err != nil {
		r.t.Fatalf("get %d: %v", id, err)
	}
	return req
}

// settle waits for request id to end provisioned or failed.
func (r *rig) settle(id int64) *rolegate.Request {
	r.t.Helper()
	var req *rolegate.Request
	testkit.WaitFor(r.t, fmt.Sprintf("request %d to end provisioned or failed", id), func() bool {
		req = r.get(id)
		return req.Status == rolegate.StatusProvisioned || req.Status == rolegate.StatusFailed
	}, func() string { return fmt.Sprintf("request %d is %s; timeline %v", id, req.Status, r.actions(id)) })
	return req
}

// waitFor waits for cond (testkit.WaitFor), showing the worker's log.
func (r *rig) waitFor(what string, cond func() bool) {
	r.t.Helper()
	testkit.WaitFor(r.t, what, cond, r.logs.String)
}

func (r *rig) events(id int64) []rolegate.Event {
	r.t.Helper()
	events, err := r.store.Audit.RequestEvents(r.ctx, id)
	if err != nil {
		r.t.Fatal(err)
	}
	return events
}

// actions is the request's timeline, as action names.
func (r *rig) actions(id int64) []string {
	var out []string
	for _, e := range r.events(id) {
		out = append(out, e.Action)
	}
	return out
}

// provisioningActions is the part of the timeline after the hand-off.
func (r *rig) provisioningActions(id int64) []string {
	all := r.actions(id)
	if i := slices.Index(all, rolegate.ActionProvisioningQueued); i >= 0 {
		return all[i+1:]
	}
	return all
}

// customRoles are the roles upstream that are not predefined.
func (r *rig) customRoles() []simulator.Role {
	var out []simulator.Role
	for _, role := range r.sim.Roles() {
		if !role.Predefined {
			out = append(out, role)
		}
	}
	return out
}

// createBehindRolegate makes a role upstream the way someone with the
// admin key might, outside the portal.
func (r *rig) createBehindRolegate(body string) adminapi.Role {
	r.t.Helper()
	role, err := adminapi.New(r.simURL, adminapi.StaticKey(rigKey), nil).CreateRole(r.ctx, []byte(body))
	if err != nil {
		r.t.Fatalf("create behind rolegate's back: %v", err)
	}
	return role
}

// raw opens a plain second connection to the database file.
func (r *rig) raw() *sql.DB {
	r.t.Helper()
	raw := testkit.OpenDB(r.t, r.dbPath)
	return raw
}

// details decodes an event's details.
func details(t *testing.T, e rolegate.Event) map[string]any {
	t.Helper()
	var d map[string]any
	if err := json.Unmarshal(e.Details, &d); err != nil {
		t.Fatalf("details of %s: %v", e.Action, err)
	}
	return d
}
