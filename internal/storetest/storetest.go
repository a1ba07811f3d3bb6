// Package storetest is the conformance suite of rolegate's stores: tests
// written against the domain's service interfaces, run by each engine's
// own test files (internal/sqlite, internal/postgres) with an Engine that
// opens its store. What a test here checks holds on every engine; what
// only one engine can show (its files on disk, its SQL) stays beside it.
//
// Tests that need a second process (Engine.Again) open a second store on
// the same database, with its own connections, as a second rolegate
// process would.
package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/rolegate/rolegate/internal/audit"
	"github.com/rolegate/rolegate/internal/rolegate"
)

// Sessions is the session service with the people query the notifier uses.
type Sessions interface {
	rolegate.SessionService
	PeopleWithRole(ctx context.Context, role rolegate.PortalRole) ([]rolegate.Person, error)
}

// Trail is what the suite needs of the audit trail: all of audit.Trail
// (appending, searching, exporting, proofs and checkpoints), and reading
// it back whole with its tree, signing checkpoints and the proofs between
// trees (audit.Store).
type Trail = audit.Store

// Requests is the request service with the filing of access requests.
type Requests interface {
	rolegate.RequestService
	rolegate.AccessService
}

// Store is one open store, as the suite drives it.
type Store struct {
	Sessions Sessions
	Trail    Trail
	// Requests returns the request service with cfg over the store.
	Requests func(cfg rolegate.RequestsConfig) Requests
	Jobs     rolegate.ProvisioningQueue
	Removals rolegate.RemovalQueue
	Outbox   rolegate.Outbox
	Picture  Picture
	Counts   rolegate.Counts
	// SetNotifications turns queueing notifications on (before use).
	SetNotifications func(rolegate.NotificationTargets)
	// Rows counts the rows of table that match where (SQL both engines
	// read alike; "" for all), read by the engine's own means.
	Rows func(t testing.TB, table, where string) int
	// RunExclusive runs a periodic job unless another process runs it.
	RunExclusive func(ctx context.Context, job string, fn func(context.Context) error) (bool, error)
	// Exec runs one statement both engines read alike (placeholders
	// aside: it takes none), to put the store in a state its services
	// would reach only through other services or an older version.
	Exec func(t testing.TB, sql string)
	// AppendEvents, when the engine has it, appends events to an empty
	// trail in bulk, as AppendEvent would one by one (for the tests that
	// need tens of thousands of events); nil: AppendEvent it is.
	AppendEvents func(t testing.TB, events []rolegate.Event)
	// Dump is everything the database holds, as text, for searching it
	// for what must never be stored.
	Dump func(t testing.TB) string
	// Source names the database (a path, a URL), for Engine.Again.
	Source string
}

// Engine opens stores of one kind.
type Engine struct {
	// Open opens a store on a new, empty database whose clock is now; it
	// is closed when the test ends.
	Open func(t *testing.T, now func() time.Time) *Store
	// Again opens a second store on s's database, as another process.
	Again func(t *testing.T, s *Store, now func() time.Time) *Store
}

// Run runs the whole suite against e.
func Run(t *testing.T, e Engine) {
	t.Run("Sessions", func(t *testing.T) { testSessions(t, e) })
	t.Run("Trail", func(t *testing.T) { testTrail(t, e) })
	t.Run("Search", func(t *testing.T) { testSearch(t, e) })
	t.Run("CountDeclined", func(t *testing.T) { testCountDeclined(t, e) })
	t.Run("Proofs", func(t *testing.T) { testProofs(t, e) })
	t.Run("Requests", func(t *testing.T) { testRequests(t, e) })
	t.Run("Scopes", func(t *testing.T) { testScopes(t, e) })
	t.Run("Picture", func(t *testing.T) { testPicture(t, e) })
	t.Run("UpstreamText", func(t *testing.T) { testUpstreamText(t, e) })
	t.Run("Access", func(t *testing.T) { testAccess(t, e) })
	t.Run("TwoProcesses", func(t *testing.T) {
		testTwoProcesses(t, e)
		testRequestsTwoProcesses(t, e)
		testPictureTwoProcesses(t, e)
		testExclusiveTwoProcesses(t, e)
		testAccessTwoProcesses(t, e)
	})
}

// start is the time every test's clock starts at.
var start = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
