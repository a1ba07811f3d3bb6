package adminapi

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/packages/pagination"

	"github.com/rolegate/rolegate/internal/rolegate"
)

// The organization's directory: groups and their members page with "next"
// (NextCursorPage), users with first_id/last_id (ConversationCursorPage).

// Group is a group of the organization.
type Group struct {
	ID   string
	Name string
}

// User is a user of the organization; Email may be empty.
type User struct {
	ID    string
	Name  string
	Email string
}

// maxUserPage is the upstream's largest page of users.
const maxUserPage = 100

// ListGroups returns every group of the organization, following all pages.
func (cl *Client) ListGroups(ctx context.Context) ([]Group, error) {
	c, opts, err := cl.begin("list groups")
	if err != nil {
		return nil, err
	}
	page, err := cl.groups.List(ctx, openai.AdminOrganizationGroupListParams{Limit: openai.Int(cl.pageSize)}, opts...)
	items, err := collectNext(c, cl.timeout, page, err)
	if err != nil {
		return nil, err
	}
	out := make([]Group, 0, len(items))
	for _, g := range items {
		out = append(out, Group{ID: g.ID, Name: g.Name})
	}
	return out, nil
}

// ListGroupMembers returns every user of group groupID (GET
// /v1/organization/groups/{group_id}/users), following all pages.
func (cl *Client) ListGroupMembers(ctx context.Context, groupID string) ([]User, error) {
	if groupID == "" {
		return nil, &Error{Op: "list group users", Kind: Permanent, Message: "empty group id"}
	}
	c, opts, err := cl.begin("list group users")
	if err != nil {
		return nil, err
	}
	page, err := cl.groupUsers.List(ctx, groupID, openai.AdminOrganizationGroupUserListParams{Limit: openai.Int(cl.pageSize)}, opts...)
	items, err := collectNext(c, cl.timeout, page, err)
	if err != nil {
		return nil, err
	}
	out := make([]User, 0, len(items))
	for _, u := range items {
		out = append(out, User{ID: u.ID, Name: u.Name, Email: u.Email})
	}
	return out, nil
}

// ListUsers returns every user of the organization, following all pages
// (with last_id and has_more).
func (cl *Client) ListUsers(ctx context.Context) ([]User, error) {
	c, opts, err := cl.begin("list users")
	if err != nil {
		return nil, err
	}
	page, err := cl.users.List(ctx, openai.AdminOrganizationUserListParams{Limit: openai.Int(min(cl.pageSize, maxUserPage))}, opts...)
	var users []User
	for n := 0; err == nil && page != nil; n++ {
		if n == maxPages {
			return nil, &Error{Op: c.op, Kind: Retryable, Message: fmt.Sprintf("the list did not end after %d pages", maxPages)}
		}
		for _, u := range page.Data {
			users = append(users, User{ID: u.ID, Name: u.Name, Email: u.Email})
		}
		page, err = nextConversationPage(page)
	}
	if err != nil {
		return nil, c.fail(err, cl.timeout)
	}
	return users, nil
}

// OrganizationDirectory reads the groups, the users and every group's
// members, as the organization's picture takes them: all of it, or an
// error.
func (cl *Client) OrganizationDirectory(ctx context.Context) (rolegate.Directory, error) {
	var dir rolegate.Directory
	groups, err := cl.ListGroups(ctx)
	if err != nil {
		return dir, unavailable(err)
	}
	users, err := cl.ListUsers(ctx)
	if err != nil {
		return dir, unavailable(err)
	}
	dir.Groups = make([]rolegate.Group, 0, len(groups))
	dir.Users = make([]rolegate.User, 0, len(users))
	dir.Members = make(map[string][]string, len(groups))
	// Names and emails as every store can hold them (a NUL as U+FFFD), as
	// a role's (rolegate.UpstreamText).
	for _, u := range users {
		dir.Users = append(dir.Users, rolegate.User{ID: u.ID, Name: rolegate.UpstreamText(u.Name), Email: rolegate.UpstreamText(u.Email)})
	}
	for _, g := range groups {
		dir.Groups = append(dir.Groups, rolegate.Group{ID: g.ID, Name: rolegate.UpstreamText(g.Name)})
		members, err := cl.ListGroupMembers(ctx, g.ID)
		if err != nil {
			return dir, fmt.Errorf("the members of group %s: %w", g.ID, unavailable(err))
		}
		ids := make([]string, 0, len(members))
		for _, m := range members {
			ids = append(ids, m.ID)
		}
		dir.Members[g.ID] = ids
	}
	return dir, nil
}

// collectNext reads page and every page after it of a list that pages
// with "next".
func collectNext[T any](c *call, timeout time.Duration, page *pagination.NextCursorPage[T], err error) ([]T, error) {
	var items []T
	for n := 0; err == nil && page != nil; n++ {
		if n == maxPages {
			return nil, &Error{Op: c.op, Kind: Retryable, Message: fmt.Sprintf("the list did not end after %d pages", maxPages)}
		}
		items = append(items, page.Data...)
		page, err = nextCursorPage(page)
	}
	if err != nil {
		return nil, c.fail(err, timeout)
	}
	return items, nil
}

// nextCursorPage asks for the page after p, or returns nil after the last
// one; a cursor that does not move ends the list as a failure.
func nextCursorPage[T any](p *pagination.NextCursorPage[T]) (*pagination.NextCursorPage[T], error) {
	next, err := p.GetNextPage()
	if err != nil || next == nil {
		return next, err
	}
	if next.HasMore && next.Next == p.Next {
		return nil, errors.New("the list cursor did not move")
	}
	return next, nil
}

// nextConversationPage is nextCursorPage for lists that page with last_id.
func nextConversationPage[T any](p *pagination.ConversationCursorPage[T]) (*pagination.ConversationCursorPage[T], error) {
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
