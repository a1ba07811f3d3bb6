// Package adminapi is rolegate's client of the OpenAI Admin API roles
// endpoints (organization and project roles), of the projects, groups,
// users and group members lists, and of the role assignments of groups and
// users at both levels, built on the official SDK.
//
// It adds what rolegate needs around the SDK: the admin key is fetched per
// call (so a rotated key file takes effect at once), create sends the
// approved JSON body byte for byte, the SDK never retries (the provisioning
// worker owns every retry), every call has a timeout, and every failure is
// an *Error classified Retryable or Permanent, with the key redacted.
package adminapi

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/packages/pagination"

	"github.com/rolegate/rolegate/internal/rolegate"
)

const (
	// DefaultBaseURL is OpenAI's API, used when New gets an empty base URL.
	DefaultBaseURL = "https://api.openai.com/v1"
	// DefaultTimeout bounds each HTTP request (each page, for a list).
	DefaultTimeout = 30 * time.Second
	// DefaultPageSize is how many roles one list request asks for.
	DefaultPageSize = 100
	// maxPages stops a list whose cursor never ends.
	maxPages = 1000
)

// Role is an organization role as rolegate uses it.
type Role struct {
	ID           string
	Name         string
	Description  string
	Permissions  []string
	ResourceType string
	Predefined   bool
}

// Project is a project of the organization as rolegate uses it.
type Project struct {
	ID       string
	Name     string
	Archived bool
}

// maxProjectPage is the upstream's largest page of projects.
const maxProjectPage = 100

// Client calls the roles and projects endpoints. It is safe for concurrent use.
type Client struct {
	badURL         error // set when New got an unusable base URL; every call fails with it
	roles          openai.AdminOrganizationRoleService
	projects       openai.AdminOrganizationProjectService
	projectRoles   openai.AdminOrganizationProjectRoleService
	groups         openai.AdminOrganizationGroupService
	groupUsers     openai.AdminOrganizationGroupUserService
	users          openai.AdminOrganizationUserService
	groupRoles     openai.AdminOrganizationGroupRoleService
	userRoles      openai.AdminOrganizationUserRoleService
	projGroupRoles openai.AdminOrganizationProjectGroupRoleService
	projUserRoles  openai.AdminOrganizationProjectUserRoleService
	key            KeySource
	timeout        time.Duration
	pageSize       int64
}

// Option adjusts a Client.
type Option func(*Client)

// WithTimeout sets the limit for each HTTP request (default DefaultTimeout).
func WithTimeout(d time.Duration) Option {
	return func(c *Client) {
		if d > 0 {
			c.timeout = d
		}
	}
}

// WithPageSize sets how many roles each list request asks for (default
// DefaultPageSize; upstream allows 1 to 1000).
func WithPageSize(n int) Option {
	return func(c *Client) {
		if n > 0 && n <= 1000 {
			c.pageSize = int64(n)
		}
	}
}

// New returns a client of the Admin API at baseURL (DefaultBaseURL when
// empty), authenticating with key. A nil httpClient gets a client of its
// own. The process environment (OPENAI_*) plays no part.
func New(baseURL string, key KeySource, httpClient *http.Client, opts ...Option) *Client {
	if baseURL == "" {
		baseURL = DefaultBaseURL
	}
	if httpClient == nil {
		httpClient = &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}
	}
	// The roles service is built on its own rather than through
	// openai.NewClient, which reads OPENAI_ORG_ID, OPENAI_PROJECT_ID,
	// OPENAI_CUSTOM_HEADERS (and more) from the environment and sends them
	// on every call: an admin call must carry only what rolegate decided.
	// Every option the service needs is given here; the key is set per call.
	base := []option.RequestOption{
		option.WithBaseURL(baseURL),
		option.WithHTTPClient(httpClient),
		option.WithMaxRetries(0),
	}
	c := &Client{
		badURL:         checkBaseURL(baseURL),
		roles:          openai.NewAdminOrganizationRoleService(base...),
		projects:       openai.NewAdminOrganizationProjectService(base...),
		projectRoles:   openai.NewAdminOrganizationProjectRoleService(base...),
		groups:         openai.NewAdminOrganizationGroupService(base...),
		groupUsers:     openai.NewAdminOrganizationGroupUserService(base...),
		users:          openai.NewAdminOrganizationUserService(base...),
		groupRoles:     openai.NewAdminOrganizationGroupRoleService(base...),
		userRoles:      openai.NewAdminOrganizationUserRoleService(base...),
		projGroupRoles: openai.NewAdminOrganizationProjectGroupRoleService(base...),
		projUserRoles:  openai.NewAdminOrganizationProjectUserRoleService(base...),
		key:            key,
		timeout:        DefaultTimeout,
		pageSize:       DefaultPageSize,
	}
	for _, o := range opts {
		o(c)
	}
	return c
}

// checkBaseURL refuses what would otherwise fail every call as if the
// network were down, and so be retried forever.
func checkBaseURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return errors.New("the Admin API base URL must be an absolute http(s) URL")
	}
	return nil
}

// call is one operation in flight: its key, and what the last HTTP
// exchange looked like, which the SDK's own errors do not always carry.
type call struct {
	op  string
	key string

	mu     sync.Mutex
	status int
	header http.Header
}

// observe is SDK middleware; it runs for every request of the call,
// including the next pages of a list.
func (c *call) observe(req *http.Request, next option.MiddlewareNext) (*http.Response, error) {
	c.mu.Lock()
	c.status, c.header = 0, nil
	c.mu.Unlock()
	res, err := next(req)
	if res != nil {
		c.mu.Lock()
		c.status, c.header = res.StatusCode, res.Header.Clone()
		c.mu.Unlock()
	}
	return res, err
}

// begin fetches the key and returns the per-call SDK options.
func (cl *Client) begin(op string) (*call, []option.RequestOption, error) {
	if cl.badURL != nil {
		return nil, nil, &Error{Op: op, Kind: Permanent, Message: cl.badURL.Error()}
	}
	key, err := cl.key.Key()
	if err != nil {
		// Nothing was sent; the key file may be mid-rotation.
		return nil, nil, &Error{Op: op, Kind: Retryable, Message: Redact("admin key unavailable: "+err.Error(), "")}
	}
	c := &call{op: op, key: key}
	return c, []option.RequestOption{
		option.WithAdminAPIKey(key),
		option.WithRequestTimeout(cl.timeout),
		option.WithMaxRetries(0), // rolegate's worker owns every retry
		option.WithMiddleware(c.observe),
	}, nil
}

// fail turns whatever the SDK returned into an *Error.
func (c *call) fail(err error, timeout time.Duration) error {
	c.mu.Lock()
	status, header := c.status, c.header
	c.mu.Unlock()

	e := &Error{Op: c.op}
	var apiErr *openai.Error
	switch {
	case status >= 400:
		e.Status = status
		e.Kind = kindOfStatus(status)
		e.RetryAfter = retryAfter(header, time.Now())
		if errors.As(err, &apiErr) {
			e.Code, e.Message = apiErr.Code, apiErr.Message
		}
		if e.Message == "" {
			// Not an ErrorResponse, e.g. a proxy's HTML page.
			e.Message = strings.TrimSpace(http.StatusText(status) + " (no error message in the answer)")
		}
	case errors.Is(err, context.DeadlineExceeded):
		e.Kind, e.cause = Retryable, context.DeadlineExceeded
		// The limit may be ours or the caller's deadline.
		e.Message = "no answer in time (request timeout " + timeout.String() + ")"
	case errors.Is(err, context.Canceled):
		e.Kind, e.cause = Retryable, context.Canceled
		e.Message = "cancelled before an answer"
	case status == 0:
		// Refused, reset or closed: a create may or may not have been applied.
		e.Kind = Retryable
		e.Message = "no answer: " + err.Error()
	default:
		// An answer we cannot read; what happened upstream is unknown.
		e.Status = status
		e.Kind = Retryable
		e.Message = "unreadable answer: " + err.Error()
	}
	e.Message = Redact(e.Message, c.key)
	e.Code = Redact(e.Code, c.key)
	return e
}

// malformed reports a success answer without a role in it. For a create,
// the role may or may not exist now, so the caller must look before retrying.
func (c *call) malformed() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return &Error{Op: c.op, Status: c.status, Kind: Retryable, Message: "the answer holds no role"}
}

// ListRoles returns every role of the organization, following all pages.
func (cl *Client) ListRoles(ctx context.Context) ([]Role, error) {
	c, opts, err := cl.begin("list roles")
	if err != nil {
		return nil, err
	}
	page, err := cl.roles.List(ctx, openai.AdminOrganizationRoleListParams{Limit: openai.Int(cl.pageSize)}, opts...)
	return cl.collectRoles(c, page, err)
}

// ListProjectRoles returns every role of project projectID, following all
// pages (GET /v1/projects/{project_id}/roles).
func (cl *Client) ListProjectRoles(ctx context.Context, projectID string) ([]Role, error) {
	if projectID == "" {
		return nil, &Error{Op: "list project roles", Kind: Permanent, Message: "empty project id"}
	}
	c, opts, err := cl.begin("list project roles")
	if err != nil {
		return nil, err
	}
	page, err := cl.projectRoles.List(ctx, projectID, openai.AdminOrganizationProjectRoleListParams{Limit: openai.Int(cl.pageSize)}, opts...)
	return cl.collectRoles(c, page, err)
}

// collectRoles reads page and every page after it.
func (cl *Client) collectRoles(c *call, page *pagination.NextCursorPage[openai.Role], err error) ([]Role, error) {
	var roles []Role
	for n := 0; err == nil && page != nil; n++ {
		if n == maxPages {
			return nil, &Error{Op: c.op, Kind: Retryable, Message: fmt.Sprintf("the list did not end after %d pages", maxPages)}
		}
		for _, r := range page.Data {
			roles = append(roles, fromSDK(r))
		}
		page, err = nextPage(page)
	}
	if err != nil {
		return nil, c.fail(err, cl.timeout)
	}
	return roles, nil
}

// ListProjects returns every project of the organization, archived ones
// included (so that rolegate can say a project is archived rather than
// unknown), following all pages: this list pages with last_id and
// has_more, not with the roles' next.
func (cl *Client) ListProjects(ctx context.Context) ([]Project, error) {
	c, opts, err := cl.begin("list projects")
	if err != nil {
		return nil, err
	}
	page, err := cl.projects.List(ctx, openai.AdminOrganizationProjectListParams{
		Limit: openai.Int(min(cl.pageSize, maxProjectPage)), IncludeArchived: openai.Bool(true),
	}, opts...)
	var projects []Project
	for n := 0; err == nil && page != nil; n++ {
		if n == maxPages {
			return nil, &Error{Op: c.op, Kind: Retryable, Message: fmt.Sprintf("the list did not end after %d pages", maxPages)}
		}
		for _, p := range page.Data {
			projects = append(projects, Project{ID: p.ID, Name: p.Name, Archived: p.Status == "archived" || p.ArchivedAt != 0})
		}
		page, err = nextProjectPage(page)
	}
	if err != nil {
		return nil, c.fail(err, cl.timeout)
	}
	return projects, nil
}

// nextProjectPage asks for the page after p, or returns nil after the last
// one; a last_id that does not move ends the list as a failure.
func nextProjectPage(p *pagination.ConversationCursorPage[openai.Project]) (*pagination.ConversationCursorPage[openai.Project], error) {
	if !p.HasMore || len(p.Data) == 0 {
		return nil, nil
	}
	next, err := p.GetNextPage()
	if err != nil || next == nil {
		return next, err
	}
	if next.HasMore && next.LastID == p.LastID {
		return nil, errors.New("the list cursor did not move")
	}
	return next, nil
}

// OrganizationRoles is ListRoles as the organization's picture takes it:
// every organization role, or an error (never part of the list).
func (cl *Client) OrganizationRoles(ctx context.Context) ([]rolegate.UpstreamRole, error) {
	roles, err := cl.ListRoles(ctx)
	if err != nil {
		return nil, unavailable(err)
	}
	return upstreamRoles(rolegate.ScopeOrganization, roles), nil
}

// ProjectRoles is ListProjectRoles as the organization's picture takes it.
func (cl *Client) ProjectRoles(ctx context.Context, projectID string) ([]rolegate.UpstreamRole, error) {
	roles, err := cl.ListProjectRoles(ctx, projectID)
	if err != nil {
		return nil, unavailable(err)
	}
	return upstreamRoles(projectID, roles), nil
}

// OrganizationProjects is ListProjects as the organization's picture takes it.
func (cl *Client) OrganizationProjects(ctx context.Context) ([]rolegate.Project, error) {
	projects, err := cl.ListProjects(ctx)
	if err != nil {
		return nil, unavailable(err)
	}
	out := make([]rolegate.Project, 0, len(projects))
	for _, p := range projects {
		out = append(out, rolegate.Project{ID: p.ID, Name: rolegate.UpstreamText(p.Name), Archived: p.Archived})
	}
	return out, nil
}

// unavailable wraps a failed read so that people see the upstream's own
// (redacted) words, not "something went wrong".
func unavailable(err error) error {
	var ae *Error
	if errors.As(err, &ae) && ae.Status != 0 {
		return fmt.Errorf("%w: %w", rolegate.Errorf(rolegate.EUNAVAILABLE, "OpenAI answered: %s", ae.Message), err)
	}
	return err
}

func upstreamRoles(scope string, roles []Role) []rolegate.UpstreamRole {
	out := make([]rolegate.UpstreamRole, 0, len(roles))
	for _, r := range roles {
		out = append(out, rolegate.UpstreamRole{
			ID: r.ID, Scope: scope, Name: r.Name, Description: r.Description,
			Permissions: r.Permissions, ResourceType: r.ResourceType, Predefined: r.Predefined,
		}.Normalize())
	}
	return out
}

// nextPage asks for the page after p, or returns nil after the last one.
// A cursor that does not move would loop forever, so it ends the list.
func nextPage(p *pagination.NextCursorPage[openai.Role]) (*pagination.NextCursorPage[openai.Role], error) {
	next, err := p.GetNextPage()
	if err != nil || next == nil {
		return next, err
	}
	if next.HasMore && next.Next == p.Next {
		return nil, errors.New("the list cursor did not move")
	}
	return next, nil
}

// FindRoleIn returns the role of scope (rolegate.ScopeOrganization, or a
// project's id) named exactly name, if there is one: it lists that scope's
// roles only.
func (cl *Client) FindRoleIn(ctx context.Context, scope, name string) (Role, bool, error) {
	if scope == rolegate.ScopeOrganization {
		return cl.FindRoleByName(ctx, name)
	}
	roles, err := cl.ListProjectRoles(ctx, scope)
	if err != nil {
		return Role{}, false, err
	}
	for _, r := range roles {
		if r.Name == name {
			return r, true, nil
		}
	}
	return Role{}, false, nil
}

// CreateRoleIn sends body to the create call of scope: the organization's
// path for the organization, the project's path for a project, never the
// other.
func (cl *Client) CreateRoleIn(ctx context.Context, scope string, body []byte) (Role, error) {
	if scope == rolegate.ScopeOrganization {
		return cl.CreateRole(ctx, body)
	}
	return cl.CreateProjectRole(ctx, scope, body)
}

// GetRoleIn returns role id of scope.
func (cl *Client) GetRoleIn(ctx context.Context, scope, id string) (Role, error) {
	if scope == rolegate.ScopeOrganization {
		return cl.GetRole(ctx, id)
	}
	return cl.GetProjectRole(ctx, scope, id)
}

// FindRoleByName returns the organization role named exactly name, if there is one.
func (cl *Client) FindRoleByName(ctx context.Context, name string) (Role, bool, error) {
	roles, err := cl.ListRoles(ctx)
	if err != nil {
		return Role{}, false, err
	}
	for _, r := range roles {
		if r.Name == name {
			return r, true, nil
		}
	}
	return Role{}, false, nil
}

// CreateRole sends body, the approved JSON payload, exactly as given, and
// returns the created role. It is never retried here: on a Retryable error
// the role may exist upstream, which the caller must check (FindRoleByName)
// before sending again.
func (cl *Client) CreateRole(ctx context.Context, body []byte) (Role, error) {
	c, opts, err := cl.begin("create role")
	if err != nil {
		return Role{}, err
	}
	// The empty params are replaced by the raw body: no re-encoding.
	opts = append(opts, option.WithRequestBody("application/json", bytes.Clone(body)))
	res, err := cl.roles.New(ctx, openai.AdminOrganizationRoleNewParams{}, opts...)
	if err != nil {
		return Role{}, c.fail(err, cl.timeout)
	}
	if res == nil || res.ID == "" {
		// A 2xx without a role: it may or may not exist now.
		return Role{}, c.malformed()
	}
	return fromSDK(*res), nil
}

// CreateProjectRole sends body, the approved JSON payload, exactly as
// given, to POST /v1/projects/{projectID}/roles, and returns the created
// role. Like CreateRole, it is never retried here.
func (cl *Client) CreateProjectRole(ctx context.Context, projectID string, body []byte) (Role, error) {
	if projectID == "" {
		// Never fall back to the organization: that would create the role elsewhere.
		return Role{}, &Error{Op: "create project role", Kind: Permanent, Message: "empty project id"}
	}
	c, opts, err := cl.begin("create project role")
	if err != nil {
		return Role{}, err
	}
	opts = append(opts, option.WithRequestBody("application/json", bytes.Clone(body)))
	res, err := cl.projectRoles.New(ctx, projectID, openai.AdminOrganizationProjectRoleNewParams{}, opts...)
	if err != nil {
		return Role{}, c.fail(err, cl.timeout)
	}
	if res == nil || res.ID == "" {
		return Role{}, c.malformed()
	}
	return fromSDK(*res), nil
}

// GetProjectRole returns the role id of project projectID.
func (cl *Client) GetProjectRole(ctx context.Context, projectID, id string) (Role, error) {
	if projectID == "" || id == "" {
		return Role{}, &Error{Op: "get project role", Kind: Permanent, Message: "empty project or role id"}
	}
	c, opts, err := cl.begin("get project role")
	if err != nil {
		return Role{}, err
	}
	res, err := cl.projectRoles.Get(ctx, projectID, id, opts...)
	if err != nil {
		return Role{}, c.fail(err, cl.timeout)
	}
	if res == nil || res.ID == "" {
		return Role{}, c.malformed()
	}
	return fromSDK(*res), nil
}

// GetRole returns the role with id.
func (cl *Client) GetRole(ctx context.Context, id string) (Role, error) {
	if id == "" {
		return Role{}, &Error{Op: "get role", Kind: Permanent, Message: "empty role id"}
	}
	c, opts, err := cl.begin("get role")
	if err != nil {
		return Role{}, err
	}
	res, err := cl.roles.Get(ctx, id, opts...)
	if err != nil {
		return Role{}, c.fail(err, cl.timeout)
	}
	if res == nil || res.ID == "" {
		return Role{}, c.malformed()
	}
	return fromSDK(*res), nil
}

func fromSDK(r openai.Role) Role {
	return Role{
		ID:           r.ID,
		Name:         r.Name,
		Description:  r.Description,
		Permissions:  append([]string(nil), r.Permissions...),
		ResourceType: r.ResourceType,
		Predefined:   r.PredefinedRole,
	}
}
