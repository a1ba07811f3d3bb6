package rolegate

import (
	"context"
	"time"
)

// RequestService is the life cycle of role requests. Every transition is
// one transaction that writes the change with everything it causes: its
// audit events, the notifications they call for (outbox.go) and, once
// approved, the provisioning job.
type RequestService interface {
	// Create validates in against the catalog and the names already taken,
	// and stores a new pending request with its exact payload.
	Create(ctx context.Context, actor Actor, in RequestInput, catalog *Catalog) (*Request, error)
	// RoleNameTaken says to viewer why name cannot be used ("" when free).
	RoleNameTaken(ctx context.Context, scope, name string, viewer Principal) (string, error)
	// Get returns request id with its approvals, as one snapshot.
	Get(ctx context.Context, id int64) (*Request, error)
	// GetRecord returns request id with everything its page shows, as
	// one snapshot (RequestRecord).
	GetRecord(ctx context.Context, id int64) (*RequestRecord, error)
	// List returns a page of the requests matching f and how many match
	// in all, as one snapshot.
	List(ctx context.Context, f RequestFilter) ([]*Request, int, error)
	// Count is how many requests match f (one count, cheap enough for
	// every page: the navigation's count of reviews waiting).
	Count(ctx context.Context, f RequestFilter) (int, error)

	// ApproveWith records actor's approval of the payload whose SHA-256 is
	// seenHash, with how the approver was re-authenticated. The approval
	// that completes the count approves the request.
	ApproveWith(ctx context.Context, actor Actor, id int64, seenHash, comment string, reauth Reauth) (*Request, error)
	Reject(ctx context.Context, actor Actor, id int64, comment string) (*Request, error)
	Cancel(ctx context.Context, actor Actor, id int64) (*Request, error)
	// RetryProvisioning puts a failed request back in the queue (admins);
	// AbandonProvisioning gives up on it, saying why.
	RetryProvisioning(ctx context.Context, actor Actor, id int64) (*Request, error)
	AbandonProvisioning(ctx context.Context, actor Actor, id int64, reason string) (*Request, error)

	// ExpireDue expires every pending request past its deadline;
	// RemindPending reminds the approvers of requests pending longer than
	// after. Both return how many requests they changed.
	ExpireDue(ctx context.Context) (int, error)
	RemindPending(ctx context.Context, after time.Duration) (int, error)
}

// RequestRecord is a request with what has happened to it, read together
// so that they agree: its timeline holds the events of exactly the
// approvals and status it has, and the notifications are those of those
// events.
type RequestRecord struct {
	Request *Request
	// Events is its timeline, oldest first.
	Events []Event
	// Notifications are those queued about it, oldest first.
	Notifications []Notification
	// Role is the role it created as the picture shows it (with its
	// drift); nil when the picture holds none.
	Role *PictureRole
}

// PictureStore keeps the organization's picture: every role upstream, as
// last read completely, with the drift of the roles rolegate created.
type PictureStore interface {
	// ReplacePicture stores a complete list of the roles of scope and
	// records the differences from the previous picture.
	ReplacePicture(ctx context.Context, scope string, roles []UpstreamRole, requestedBy *Actor) (SyncResult, error)
	// ReplaceOrganization stores one complete read of the organization (its
	// projects, its roles and every active project's roles) in one go.
	ReplaceOrganization(ctx context.Context, read OrganizationRead, requestedBy *Actor) (SyncResult, error)
	// Projects are the organization's projects as last read, archived ones
	// included, by name.
	Projects(ctx context.Context) ([]Project, error)
	PictureSyncedAt(ctx context.Context, scope string) (time.Time, error)
	PictureRoles(ctx context.Context) ([]UpstreamRole, error)
	// ListPictureRoles returns a page of the roles matching f and how
	// many match in all.
	ListPictureRoles(ctx context.Context, f RoleFilter) ([]PictureRole, int, error)
	// RequestRole is the role request id created, as the picture shows it.
	RequestRole(ctx context.Context, id int64) (PictureRole, bool, error)
	PictureStats(ctx context.Context) (PictureStats, error)
}

// AccessService files access requests (issue 17); once filed they live the
// life cycle of RequestService like any request.
type AccessService interface {
	// CreateAccess validates in against the picture (the role, its
	// project, the grantee) and stores a new pending access request whose
	// approvals bind the exact assign call.
	CreateAccess(ctx context.Context, actor Actor, in AccessInput, catalog *Catalog, acfg AccessConfig) (*Request, error)
	// OpenGrant is the open request that already asks for the role roleID
	// of scope for g (found false when none).
	OpenGrant(ctx context.Context, scope, roleID string, g Grantee) (int64, bool, error)
}

// GrantService ends access that a provisioned access request gave
// (admins): early, saying why, or again after its removal failed.
type GrantService interface {
	Revoke(ctx context.Context, actor Actor, id int64, reason string) (*Request, error)
	RetryRemoval(ctx context.Context, actor Actor, id int64) (*Request, error)
}

// DirectoryStore is the organization's groups and users and who is in
// which group, as the picture last read them (PictureStore's
// ReplaceOrganization stores them). Access requests find a grantee here
// and learn whom a grant would reach.
type DirectoryStore interface {
	// DirectorySyncedAt is when the directory was last read completely
	// (zero: never).
	DirectorySyncedAt(ctx context.Context) (time.Time, error)
	Groups(ctx context.Context) ([]Group, error)
	Group(ctx context.Context, id string) (Group, bool, error)
	// GroupsOf are the groups a user is in, by the upstream's membership.
	GroupsOf(ctx context.Context, userID string) ([]Group, error)
	GroupMembers(ctx context.Context, groupID string) ([]User, error)
	Users(ctx context.Context) ([]User, error)
	User(ctx context.Context, id string) (User, bool, error)
	// UserByEmail is the organization's user with this email (a sign-in's
	// email), case-insensitively.
	UserByEmail(ctx context.Context, email string) (User, bool, error)
}

// Counts are the store's numbers the metrics read at scrape time.
type Counts interface {
	CountByStatus(ctx context.Context) (map[Status]int, error)
	QueueStats(ctx context.Context) (QueueStats, error)
	PictureStats(ctx context.Context) (PictureStats, error)
}

// Services are the domain services the web layer and the workers are
// given (internal/app builds them over the store). The audit trail is
// beside them (audit.Trail), with its checkpoint and proof types.
type Services struct {
	Requests     RequestService
	Sessions     SessionService
	Outbox       Outbox
	Provisioning ProvisioningQueue
	Pictures     PictureStore
	// Access files access requests, Directory finds their grantees, and
	// Grants ends the access they gave (issue 17).
	Access    AccessService
	Directory DirectoryStore
	Grants    GrantService
}

// Exclusive runs fn, a periodic job's run, unless another process on the
// same database is running job now (then ran is false and fn does not
// run): several processes on one PostgreSQL database each try, and one at
// a time runs it; when that one dies, the next to try takes it over. The
// stores' RunExclusive is one.
type Exclusive func(ctx context.Context, job string, fn func(context.Context) error) (ran bool, err error)

// RunHere is the Exclusive of a process alone on its database: fn runs.
func RunHere(ctx context.Context, job string, fn func(context.Context) error) (bool, error) {
	return true, fn(ctx)
}
