package picture_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rolegate/rolegate/internal/adminapi"
	"github.com/rolegate/rolegate/internal/app"
	"github.com/rolegate/rolegate/internal/picture"
	"github.com/rolegate/rolegate/internal/rolegate"
	"github.com/rolegate/rolegate/internal/simulator"
	"github.com/rolegate/rolegate/internal/testkit"
)

const key = "sk-admin-picture-test"

// rig is a picture over a real SQLite file, reading the simulator over
// real HTTP through the real client, with a clock the test moves. Every
// list request is counted; intercept can answer one instead of the
// simulator (a failed or endless page).
type rig struct {
	t     *testing.T
	sim   *simulator.Simulator
	db    *app.Store
	pic   *picture.Picture
	list  picture.ListRoles
	calls atomic.Int64 // list requests that reached the upstream

	clock     *testkit.Clock
	mu        sync.Mutex
	intercept func(n int64, w http.ResponseWriter, r *http.Request) bool
	published []rolegate.UpstreamRole
	failures  int
}

func newRig(t *testing.T, pageSize int) *rig {
	t.Helper()
	r := &rig{t: t, sim: simulator.New(simulator.Options{AdminKey: key}), clock: testkit.NewClock(time.Date(2026, 5, 4, 9, 0, 0, 0, time.UTC))}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.Method == http.MethodGet && req.URL.Path == "/v1/organization/roles" {
			n := r.calls.Add(1)
			r.mu.Lock()
			icpt := r.intercept
			r.mu.Unlock()
			if icpt != nil && icpt(n, w, req) {
				return
			}
		}
		r.sim.ServeHTTP(w, req)
	}))
	t.Cleanup(srv.Close)
	client := adminapi.New(srv.URL+"/v1", adminapi.StaticKey(key), srv.Client(), adminapi.WithPageSize(pageSize))
	r.list = client.OrganizationRoles
	db, err := app.OpenStore(context.Background(), filepath.Join(t.TempDir(), "rolegate.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	db.SetClock(r.clock.Now)
	r.db = db
	r.pic = r.open()
	return r
}

// open starts a Picture over the rig's database, as a (re)started process would.
func (r *rig) open() *picture.Picture {
	r.t.Helper()
	pic, err := picture.New(context.Background(), picture.Options{
		Store: r.db.Picture, List: r.list, Now: r.clock.Now,
		OnSynced: func(roles []rolegate.UpstreamRole, _ time.Time) {
			r.mu.Lock()
			r.published = roles
			r.mu.Unlock()
		},
		SyncFailed: func() { r.mu.Lock(); r.failures++; r.mu.Unlock() },
	})
	if err != nil {
		r.t.Fatal(err)
	}
	return pic
}

func (r *rig) setIntercept(f func(n int64, w http.ResponseWriter, req *http.Request) bool) {
	r.mu.Lock()
	r.intercept = f
	r.mu.Unlock()
}

func (r *rig) sync() {
	r.t.Helper()
	if _, err := r.pic.Sync(context.Background(), nil); err != nil {
		r.t.Fatalf("Sync: %v", err)
	}
}

// names lists the picture's roles by name, as the store holds them.
func (r *rig) names() []string {
	r.t.Helper()
	roles, err := r.db.Picture.PictureRoles(context.Background())
	if err != nil {
		r.t.Fatal(err)
	}
	var out []string
	for _, x := range roles {
		out = append(out, x.Name)
	}
	slices.Sort(out)
	return out
}

func (r *rig) taken(name string) bool {
	r.t.Helper()
	msg, err := r.db.Requests(rolegate.RequestsConfig{}).RoleNameTaken(context.Background(), rolegate.ScopeOrganization, name, rolegate.Principal{})
	if err != nil {
		r.t.Fatal(err)
	}
	return msg != ""
}

func TestAFreshPictureIsTrustedWithoutAskingTheUpstream(t *testing.T) {
	r := newRig(t, 100)
	r.sync()
	before := r.calls.Load()
	r.clock.Advance(picture.DefaultMaxAge)
	for range 20 {
		if err := r.pic.Fresh(context.Background()); err != nil {
			t.Fatalf("Fresh within the window: %v", err)
		}
	}
	if got := r.calls.Load() - before; got != 0 {
		t.Errorf("%d list calls for checks within %s of the sync; want 0", got, picture.DefaultMaxAge)
	}
}

// A role created upstream by anyone a minute ago is seen by the next check:
// the picture is older than 30 s, so the check reads the organization first.
func TestAStalePictureIsReadAgainBeforeACheck(t *testing.T) {
	r := newRig(t, 100)
	r.sync()
	if _, err := r.sim.AddRole("Existing Role 795075", "", []string{"api.groups.read"}); err != nil {
		t.Fatal(err)
	}
	r.clock.Advance(picture.DefaultMaxAge + time.Millisecond)
	if err := r.pic.Fresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !r.taken("existing role 795075") {
		t.Errorf("a role created upstream is not taken after a check on a stale picture; picture: %q", r.names())
	}
	if !slices.ContainsFunc(r.published, func(x rolegate.UpstreamRole) bool { return x.Name == "Existing Role 795075" }) {
		t.Errorf("the catalog was not given the new role")
	}
}

// Checks arriving together while the picture is stale share one read: a
// burst of typing is one upstream call, not one per keystroke.
func TestConcurrentChecksShareOneRead(t *testing.T) {
	r := newRig(t, 100)
	r.sync()
	r.clock.Advance(time.Minute)
	release := make(chan struct{})
	r.sim.FailNext(1, simulator.Fault{Op: simulator.OpList, Kind: simulator.FaultHang, Release: release})
	before := r.calls.Load()

	const checks = 25
	errs := make(chan error, checks)
	for range checks {
		go func() { errs <- r.pic.Fresh(context.Background()) }()
	}
	testkit.WaitFor(t, "the shared read to reach the upstream", func() bool { return r.calls.Load() > before })
	close(release)
	for range checks {
		if err := <-errs; err != nil {
			t.Errorf("Fresh: %v", err)
		}
	}
	if got := r.calls.Load() - before; got != 1 {
		t.Errorf("%d list calls for %d concurrent checks; want 1", got, checks)
	}
}

// A check that gives up (the person typed on) does not cancel the read
// the others wait for.
func TestACheckGivingUpDoesNotCancelTheSharedRead(t *testing.T) {
	r := newRig(t, 100)
	r.sync()
	r.clock.Advance(time.Minute)
	release := make(chan struct{})
	r.sim.FailNext(1, simulator.Fault{Op: simulator.OpList, Kind: simulator.FaultHang, Release: release})
	before := r.calls.Load()
	ctx, cancel := context.WithCancel(context.Background())
	first := make(chan error, 1)
	go func() { first <- r.pic.Fresh(ctx) }()
	testkit.WaitFor(t, "the read to start", func() bool { return r.calls.Load() > before })
	cancel()
	if err := <-first; !errors.Is(err, picture.ErrUnavailable) {
		t.Errorf("Fresh of a cancelled check = %v; want ErrUnavailable", err)
	}
	second := make(chan error, 1)
	go func() { second <- r.pic.Fresh(context.Background()) }()
	close(release)
	if err := <-second; err != nil {
		t.Errorf("Fresh of the check still waiting = %v; want nil", err)
	}
	if got := r.calls.Load() - before; got != 1 {
		t.Errorf("%d list calls; want the 1 shared read", got)
	}
}

// A failed read leaves the stored picture as it was, and the checks that
// follow are told at once that the organization could not be checked,
// without asking the upstream again until the backoff has passed.
func TestAFailedReadKeepsThePictureAndSaysSo(t *testing.T) {
	r := newRig(t, 100)
	r.sync()
	want := r.names()
	if _, err := r.sim.AddRole("Made Elsewhere", "", []string{"api.groups.read"}); err != nil {
		t.Fatal(err)
	}
	r.clock.Advance(time.Minute)
	r.sim.FailNext(1, simulator.Fault{Op: simulator.OpList, Kind: simulator.FaultServerError})
	if err := r.pic.Fresh(context.Background()); !errors.Is(err, picture.ErrUnavailable) {
		t.Fatalf("Fresh with the upstream failing = %v; want ErrUnavailable", err)
	}
	if got := r.names(); !slices.Equal(got, want) {
		t.Errorf("picture after a failed read = %q; want it unchanged, %q", got, want)
	}
	before := r.calls.Load()
	for range 10 {
		if err := r.pic.Fresh(context.Background()); !errors.Is(err, picture.ErrUnavailable) {
			t.Fatalf("Fresh right after a failure = %v; want ErrUnavailable", err)
		}
	}
	if got := r.calls.Load() - before; got != 0 {
		t.Errorf("%d list calls right after a failure; want 0 (backing off)", got)
	}
	if r.failures != 1 {
		t.Errorf("SyncFailed told %d times; want 1", r.failures)
	}
	r.clock.Advance(time.Minute) // past the longest backoff
	if err := r.pic.Fresh(context.Background()); err != nil {
		t.Fatalf("Fresh once the upstream is back: %v", err)
	}
	if !r.taken("Made Elsewhere") {
		t.Errorf("the role made elsewhere is not in the picture once the upstream answers")
	}
}

// A read that fails on its third page changes nothing: the picture is
// replaced only by a complete list.
func TestAReadFailingPartWayChangesNothing(t *testing.T) {
	r := newRig(t, 100)
	for i := range 250 {
		if _, err := r.sim.AddRole(fmt.Sprintf("Role %03d", i), "", []string{"api.groups.read"}); err != nil {
			t.Fatal(err)
		}
	}
	r.sync()
	if n := len(r.names()); n != 252 {
		t.Fatalf("first sync read %d roles; want 252 over three pages", n)
	}
	want := r.names()
	for _, x := range r.sim.Roles()[:100] {
		if !x.Predefined {
			if err := r.sim.DeleteRole(x.ID); err != nil {
				t.Fatal(err)
			}
		}
	}
	start := r.calls.Load()
	r.setIntercept(func(n int64, w http.ResponseWriter, _ *http.Request) bool {
		if n == start+2 {
			http.Error(w, `{"error":{"message":"upstream broke","type":"server_error"}}`, http.StatusInternalServerError)
			return true
		}
		return false
	})
	r.clock.Advance(time.Minute)
	if _, err := r.pic.Sync(context.Background(), nil); err == nil {
		t.Fatal("Sync with its second page failing = nil; want an error")
	}
	if got := r.names(); !slices.Equal(got, want) {
		t.Errorf("picture after a partial read has %d roles; want the %d of before", len(got), len(want))
	}
	if n, err := r.db.Picture.PictureStats(context.Background()); err != nil || n.Roles != 252 {
		t.Errorf("PictureStats = %+v, %v; want 252 roles", n, err)
	}
}

// An upstream answering every page with the same cursor would be read
// forever: the read stops, fails, and changes nothing.
func TestACursorThatNeverMovesStops(t *testing.T) {
	r := newRig(t, 100)
	r.sync()
	want := r.names()
	r.setIntercept(func(_ int64, w http.ResponseWriter, _ *http.Request) bool {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"object":"list","data":[{"object":"role","id":"role_loop","name":"Loop","description":"","permissions":[],"resource_type":"api.organization","predefined_role":false}],"has_more":true,"next":"role_loop"}`)
		return true
	})
	before := r.calls.Load()
	r.clock.Advance(time.Minute)
	if _, err := r.pic.Sync(context.Background(), nil); err == nil {
		t.Fatal("Sync with a cursor that never moves = nil; want an error")
	}
	if got := r.calls.Load() - before; got > 3 {
		t.Errorf("%d list calls before giving up; want the read to stop at once", got)
	}
	if got := r.names(); !slices.Equal(got, want) {
		t.Errorf("picture = %q; want it unchanged, %q", got, want)
	}
}

// A 429 is honoured: no read before its Retry-After, whoever asks.
func TestARateLimitIsHonoured(t *testing.T) {
	r := newRig(t, 100)
	r.sync()
	r.clock.Advance(time.Minute)
	r.sim.FailNext(1, simulator.Fault{Op: simulator.OpList, Kind: simulator.FaultRateLimit, RetryAfter: 3 * time.Minute})
	if err := r.pic.Fresh(context.Background()); !errors.Is(err, picture.ErrUnavailable) {
		t.Fatalf("Fresh answered 429 = %v; want ErrUnavailable", err)
	}
	before := r.calls.Load()
	r.clock.Advance(2 * time.Minute)
	if err := r.pic.Fresh(context.Background()); !errors.Is(err, picture.ErrUnavailable) {
		t.Errorf("Fresh before Retry-After = %v; want ErrUnavailable without a call", err)
	}
	if got := r.calls.Load() - before; got != 0 {
		t.Errorf("%d list calls before Retry-After passed; want 0", got)
	}
	r.clock.Advance(time.Minute + time.Second)
	if err := r.pic.Fresh(context.Background()); err != nil {
		t.Errorf("Fresh after Retry-After = %v; want nil", err)
	}
}

// The picture is stored: a restarted process serves it at once, without
// an upstream call while it is fresh, and the catalog gets it from the store.
func TestARestartKeepsThePicture(t *testing.T) {
	r := newRig(t, 100)
	if _, err := r.sim.AddRole("Kept Role", "", []string{"api.groups.read"}); err != nil {
		t.Fatal(err)
	}
	r.sync()
	synced := r.pic.SyncedAt()
	r.mu.Lock()
	r.published = nil
	r.mu.Unlock()
	before := r.calls.Load()

	again := r.open()
	if !again.SyncedAt().Equal(synced) {
		t.Errorf("restarted SyncedAt = %s; want %s", again.SyncedAt(), synced)
	}
	if err := again.Fresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := r.calls.Load() - before; got != 0 {
		t.Errorf("%d list calls after a restart with a fresh picture; want 0", got)
	}
	if !slices.ContainsFunc(r.published, func(x rolegate.UpstreamRole) bool { return x.Name == "Kept Role" }) || !r.taken("kept role") {
		t.Errorf("a restarted picture does not hold the stored roles: %q", r.names())
	}
}

// Nothing the picture does ever creates a role.
func TestThePictureNeverCreates(t *testing.T) {
	r := newRig(t, 1)
	r.sync()
	r.clock.Advance(time.Minute)
	_ = r.pic.Fresh(context.Background())
	if n := r.sim.CreateCalls(); n != 0 {
		t.Errorf("%d create calls; want 0", n)
	}
}

// Run syncs every Every by itself.
func TestRunSyncsEveryPeriod(t *testing.T) {
	r := newRig(t, 100)
	pic, err := picture.New(context.Background(), picture.Options{Store: r.db.Picture, List: r.list, Every: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); pic.Run(ctx) }()
	testkit.WaitFor(t, "three background syncs", func() bool { return r.calls.Load() >= 3 })
	cancel()
	<-done
}

// Close returns only once the read under way has finished, its outcome
// logged (serve closes the store and returns right after), and no read
// starts after it.
func TestCloseWaitsForTheReadUnderWay(t *testing.T) {
	r := newRig(t, 100)
	reached := make(chan struct{})
	r.setIntercept(func(n int64, w http.ResponseWriter, req *http.Request) bool {
		if n == 1 {
			close(reached)
		}
		<-req.Context().Done() // an upstream that never answers
		return true
	})
	var logs testkit.SyncBuffer
	pic, err := picture.New(context.Background(), picture.Options{
		Store: r.db.Picture, List: r.list, Logger: slog.New(slog.NewTextHandler(&logs, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	synced := make(chan error, 1)
	go func() { _, err := pic.Sync(context.Background(), nil); synced <- err }()
	<-reached
	pic.Close()
	if !strings.Contains(logs.String(), "could not read the organization's roles") {
		t.Errorf("after Close the read's outcome is not logged yet; the log holds:\n%s", logs.String())
	}
	if err := <-synced; !errors.Is(err, picture.ErrUnavailable) {
		t.Errorf("the sync cut short by Close = %v; want ErrUnavailable", err)
	}
	if _, err := pic.Sync(context.Background(), nil); !errors.Is(err, picture.ErrUnavailable) {
		t.Errorf("Sync after Close = %v; want ErrUnavailable at once", err)
	}
	if n := r.calls.Load(); n != 1 {
		t.Errorf("%d list requests; want the 1 that Close cut short", n)
	}
}

// With several processes on one database the periodic sync runs on one
// of them at a time (Options.Exclusive): a process that finds another
// syncing does not read the organization itself but takes the picture
// the other stored, its catalog included.
func TestAProcessNotSyncingTakesTheStoredPicture(t *testing.T) {
	r := newRig(t, 100)
	if _, err := r.sim.AddRole("Stored Elsewhere", "", []string{"api.groups.read"}); err != nil {
		t.Fatal(err)
	}
	var followerCalls atomic.Int64
	var mu sync.Mutex
	var published []string
	follower, err := picture.New(context.Background(), picture.Options{
		Store: r.db.Picture, Every: 20 * time.Millisecond,
		List: func(ctx context.Context) ([]rolegate.UpstreamRole, error) {
			followerCalls.Add(1)
			return r.list(ctx)
		},
		Exclusive: func(context.Context, string, func(context.Context) error) (bool, error) { return false, nil },
		OnSynced: func(roles []rolegate.UpstreamRole, _ time.Time) {
			mu.Lock()
			defer mu.Unlock()
			published = nil
			for _, x := range roles {
				published = append(published, x.Name)
			}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(follower.Close)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); follower.Run(ctx) }()
	defer func() { cancel(); <-done }()

	r.sync() // the process that holds the job
	testkit.WaitFor(t, "the follower to take the stored picture", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return slices.Contains(published, "Stored Elsewhere") && !follower.SyncedAt().IsZero()
	})
	if n := followerCalls.Load(); n != 0 {
		t.Errorf("the follower read the organization %d times; want none (another process holds the sync)", n)
	}
}
