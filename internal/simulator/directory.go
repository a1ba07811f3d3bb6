package simulator

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The organization's directory: its groups, its users and who is in which
// group, as GET /v1/organization/groups, GET /v1/organization/users and GET
// /v1/organization/groups/{group_id}/users answer them. The groups and
// group members lists page with "next" (the id of the page's last item);
// the users list pages with first_id/last_id, as the excerpt says.

// Group is a group of the simulated organization.
type Group struct {
	ID        string
	Name      string
	CreatedAt time.Time
	SCIM      bool
}

// User is a user of the simulated organization.
type User struct {
	ID      string
	Name    string
	Email   string
	Role    string // the organization role: "owner" or "reader"
	AddedAt time.Time
}

// GroupSeed is a group that exists when the simulator starts, with its
// members given by the email of users among Options.Users.
type GroupSeed struct {
	Name    string
	Members []string
}

// UserSeed is a user that exists when the simulator starts.
type UserSeed struct {
	Name  string
	Email string
}

// ErrNoSuchGroup and ErrNoSuchUser are returned for ids the organization
// does not hold.
var (
	ErrNoSuchGroup = errors.New("simulator: no such group")
	ErrNoSuchUser  = errors.New("simulator: no such user")
)

type groupJSON struct {
	ID            string `json:"id"`
	Name          string `json:"name"`
	CreatedAt     int64  `json:"created_at"`
	IsSCIMManaged bool   `json:"is_scim_managed"`
	GroupType     string `json:"group_type"`
}

// groupSummaryJSON is the Group schema: the group as an assignment names it.
type groupSummaryJSON struct {
	Object      string `json:"object"`
	ID          string `json:"id"`
	Name        string `json:"name"`
	CreatedAt   int64  `json:"created_at"`
	SCIMManaged bool   `json:"scim_managed"`
}

type groupListJSON struct {
	Object  string      `json:"object"`
	Data    []groupJSON `json:"data"`
	HasMore bool        `json:"has_more"`
	Next    *string     `json:"next"`
}

type userJSON struct {
	Object  string  `json:"object"`
	ID      string  `json:"id"`
	Name    *string `json:"name"`
	Email   *string `json:"email"`
	Role    *string `json:"role"`
	AddedAt int64   `json:"added_at"`
}

type userListJSON struct {
	Object  string     `json:"object"`
	Data    []userJSON `json:"data"`
	FirstID *string    `json:"first_id"`
	LastID  *string    `json:"last_id"`
	HasMore bool       `json:"has_more"`
}

// groupUserJSON is the GroupUser schema.
type groupUserJSON struct {
	ID    string  `json:"id"`
	Name  string  `json:"name"`
	Email *string `json:"email"`
}

type groupUserListJSON struct {
	Object  string          `json:"object"`
	Data    []groupUserJSON `json:"data"`
	HasMore bool            `json:"has_more"`
	Next    *string         `json:"next"`
}

type groupUserAssignmentJSON struct {
	Object  string `json:"object"`
	UserID  string `json:"user_id"`
	GroupID string `json:"group_id"`
}

func groupToJSON(g Group) groupJSON {
	return groupJSON{ID: g.ID, Name: g.Name, CreatedAt: g.CreatedAt.Unix(), IsSCIMManaged: g.SCIM, GroupType: "group"}
}

func groupSummary(g Group) groupSummaryJSON {
	return groupSummaryJSON{Object: "group", ID: g.ID, Name: g.Name, CreatedAt: g.CreatedAt.Unix(), SCIMManaged: g.SCIM}
}

func userToJSON(u User) userJSON {
	out := userJSON{Object: "organization.user", ID: u.ID, Name: ptr(u.Name), Role: ptr(u.Role), AddedAt: u.AddedAt.Unix()}
	if u.Email != "" {
		out.Email = ptr(u.Email)
	}
	return out
}

func newID(prefix string) string {
	b := make([]byte, 12)
	_, _ = rand.Read(b) // never fails, per crypto/rand
	return prefix + hex.EncodeToString(b)
}

func (s *Simulator) groupIndexLocked(id string) int {
	return slices.IndexFunc(s.groups, func(g Group) bool { return g.ID == id })
}

func (s *Simulator) userIndexLocked(id string) int {
	return slices.IndexFunc(s.users, func(u User) bool { return u.ID == id })
}

func (s *Simulator) addGroupLocked(name string) Group {
	g := Group{ID: newID("group_"), Name: name, CreatedAt: time.Now().UTC().Truncate(time.Second)}
	s.groups = append(s.groups, g)
	return g
}

func (s *Simulator) addUserLocked(name, email string) User {
	u := User{ID: newID("user_"), Name: name, Email: email, Role: "reader", AddedAt: time.Now().UTC().Truncate(time.Second)}
	s.users = append(s.users, u)
	return u
}

// addMemberLocked adds user to group once; members keep the order they
// were added in.
func (s *Simulator) addMemberLocked(groupID, userID string) {
	if !slices.Contains(s.members[groupID], userID) {
		s.members[groupID] = append(s.members[groupID], userID)
	}
}

func groupNotFound(w http.ResponseWriter, id string) {
	writeError(w, http.StatusNotFound, "invalid_request_error",
		fmt.Sprintf("No group found with id '%s'.", id), ptr("group_id"), nil)
}

func userNotFound(w http.ResponseWriter, id string) {
	writeError(w, http.StatusNotFound, "invalid_request_error",
		fmt.Sprintf("No user found with id '%s'.", id), ptr("user_id"), nil)
}

// listQuery is what the lists that page with "next" take: limit (0..1000,
// 0 meaning the default), after, and order.
type listQuery struct {
	limit int
	after string
	desc  bool
}

func readListQuery(w http.ResponseWriter, r *http.Request, defaultLimit int, defaultDesc bool) (listQuery, bool) {
	q := r.URL.Query()
	out := listQuery{limit: defaultLimit, after: q.Get("after"), desc: defaultDesc}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > maxLimit {
			invalidRequest(w, "limit", fmt.Sprintf("Invalid 'limit': expected an integer between 0 and %d, got '%s'.", maxLimit, v))
			return out, false
		}
		if n > 0 {
			out.limit = n
		}
	}
	switch v := q.Get("order"); v {
	case "":
	case "asc":
		out.desc = false
	case "desc":
		out.desc = true
	default:
		invalidRequest(w, "order", fmt.Sprintf("Invalid 'order': expected 'asc' or 'desc', got '%s'.", v))
		return out, false
	}
	return out, true
}

// pageOf cuts one page out of ids (in ascending order): after the cursor
// (an id of the list), limit long. The cursor must be in ids.
func pageOf(ids []string, q listQuery) (page []string, hasMore bool, ok bool) {
	ids = slices.Clone(ids)
	if q.desc {
		slices.Reverse(ids)
	}
	start := 0
	if q.after != "" {
		i := slices.Index(ids, q.after)
		if i < 0 {
			return nil, false, false
		}
		start = i + 1
	}
	end := min(start+q.limit, len(ids))
	return ids[start:end], end < len(ids), true
}

func badCursor(w http.ResponseWriter, after string) {
	invalidRequest(w, "after", fmt.Sprintf("Invalid 'after': no object with id '%s' in this list.", after))
}

func (s *Simulator) listGroups(w http.ResponseWriter, r *http.Request) {
	q, ok := readListQuery(w, r, 100, false)
	if !ok {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ids := make([]string, len(s.groups))
	for i, g := range s.groups {
		ids[i] = g.ID
	}
	page, more, ok := pageOf(ids, q)
	if !ok {
		badCursor(w, q.after)
		return
	}
	out := groupListJSON{Object: "list", Data: []groupJSON{}, HasMore: more}
	for _, id := range page {
		out.Data = append(out.Data, groupToJSON(s.groups[s.groupIndexLocked(id)]))
	}
	if more {
		out.Next = ptr(page[len(page)-1])
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Simulator) createGroup(w http.ResponseWriter, r *http.Request) {
	fields, ok := decodeObject(w, r, "name")
	if !ok {
		return
	}
	raw, present := fields["name"]
	var name string
	if !present {
		invalidRequest(w, "name", "Missing required parameter: 'name'.")
		return
	}
	if isNull(raw) || json.Unmarshal(raw, &name) != nil {
		invalidRequest(w, "name", "Invalid type for 'name': expected a string.")
		return
	}
	if strings.TrimSpace(name) == "" || len(name) > 255 {
		invalidRequest(w, "name", "Invalid 'name': expected between 1 and 255 characters.")
		return
	}
	s.mu.Lock()
	g := s.addGroupLocked(name)
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, groupToJSON(g))
}

// listGroupUsers pages through a group's members in the order they were
// added; newest first unless order=asc, as the excerpt's default says.
func (s *Simulator) listGroupUsers(w http.ResponseWriter, r *http.Request) {
	gid := r.PathValue("group_id")
	q, ok := readListQuery(w, r, 100, true)
	if !ok {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.groupIndexLocked(gid) < 0 {
		groupNotFound(w, gid)
		return
	}
	page, more, ok := pageOf(s.members[gid], q)
	if !ok {
		badCursor(w, q.after)
		return
	}
	out := groupUserListJSON{Object: "list", Data: []groupUserJSON{}, HasMore: more}
	for _, id := range page {
		u := s.users[s.userIndexLocked(id)]
		gu := groupUserJSON{ID: u.ID, Name: u.Name}
		if u.Email != "" {
			gu.Email = ptr(u.Email)
		}
		out.Data = append(out.Data, gu)
	}
	if more {
		out.Next = ptr(page[len(page)-1])
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Simulator) addGroupUser(w http.ResponseWriter, r *http.Request) {
	gid := r.PathValue("group_id")
	fields, ok := decodeObject(w, r, "user_id")
	if !ok {
		return
	}
	raw, present := fields["user_id"]
	var uid string
	if !present {
		invalidRequest(w, "user_id", "Missing required parameter: 'user_id'.")
		return
	}
	if isNull(raw) || json.Unmarshal(raw, &uid) != nil {
		invalidRequest(w, "user_id", "Invalid type for 'user_id': expected a string.")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.groupIndexLocked(gid) < 0:
		groupNotFound(w, gid)
	case s.userIndexLocked(uid) < 0:
		userNotFound(w, uid)
	default:
		s.addMemberLocked(gid, uid)
		writeJSON(w, http.StatusOK, groupUserAssignmentJSON{Object: "group.user", UserID: uid, GroupID: gid})
	}
}

// listUsers pages through users in the order they joined, with
// first_id/last_id; limit is 1 to 100 (default 20); emails (or emails[],
// as the SDK writes it) keeps only users with one of those emails.
func (s *Simulator) listUsers(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	limit := 20
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 100 {
			invalidRequest(w, "limit", fmt.Sprintf("Invalid 'limit': expected an integer between 1 and 100, got '%s'.", v))
			return
		}
		limit = n
	}
	emails := append(q["emails"], q["emails[]"]...)
	s.mu.Lock()
	defer s.mu.Unlock()
	var ids []string
	for _, u := range s.users {
		if len(emails) == 0 || slices.ContainsFunc(emails, func(e string) bool { return strings.EqualFold(e, u.Email) }) {
			ids = append(ids, u.ID)
		}
	}
	after := q.Get("after")
	if after != "" && s.userIndexLocked(after) < 0 {
		badCursor(w, after)
		return
	}
	start := 0
	if after != "" {
		// Users stay in join order; the page starts after the cursor
		// whether or not the filter keeps the cursor itself.
		at := s.userIndexLocked(after)
		start = len(ids)
		for i, id := range ids {
			if s.userIndexLocked(id) > at {
				start = i
				break
			}
		}
	}
	end := min(start+limit, len(ids))
	out := userListJSON{Object: "list", Data: []userJSON{}, HasMore: end < len(ids)}
	for _, id := range ids[start:end] {
		out.Data = append(out.Data, userToJSON(s.users[s.userIndexLocked(id)]))
	}
	if len(out.Data) > 0 {
		out.FirstID, out.LastID = ptr(out.Data[0].ID), ptr(out.Data[len(out.Data)-1].ID)
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Simulator) retrieveUser(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("user_id")
	s.mu.Lock()
	i := s.userIndexLocked(id)
	var u User
	if i >= 0 {
		u = s.users[i]
	}
	s.mu.Unlock()
	if i < 0 {
		userNotFound(w, id)
		return
	}
	writeJSON(w, http.StatusOK, userToJSON(u))
}

// Out-of-band changes to the directory, as the organization's identity
// provider (SCIM) or a person in OpenAI's console would make them.

// Groups returns a copy of every group, in creation order.
func (s *Simulator) Groups() []Group {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.groups)
}

// Users returns a copy of every user, in the order they joined.
func (s *Simulator) Users() []User {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.users)
}

// GroupMembers returns the ids of group id's members, in the order they
// were added.
func (s *Simulator) GroupMembers(id string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.members[id])
}

// AddGroup creates a group.
func (s *Simulator) AddGroup(name string) (Group, error) {
	if strings.TrimSpace(name) == "" {
		return Group{}, errors.New("simulator: a group needs a name")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addGroupLocked(name), nil
}

// AddUser adds a user to the organization.
func (s *Simulator) AddUser(name, email string) (User, error) {
	if strings.TrimSpace(name) == "" {
		return User{}, errors.New("simulator: a user needs a name")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addUserLocked(name, email), nil
}

// AddGroupMember puts user userID in group groupID (once).
func (s *Simulator) AddGroupMember(groupID, userID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.groupIndexLocked(groupID) < 0 {
		return ErrNoSuchGroup
	}
	if s.userIndexLocked(userID) < 0 {
		return ErrNoSuchUser
	}
	s.addMemberLocked(groupID, userID)
	return nil
}

// RemoveGroupMember takes user userID out of group groupID.
func (s *Simulator) RemoveGroupMember(groupID, userID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.groupIndexLocked(groupID) < 0 {
		return ErrNoSuchGroup
	}
	s.members[groupID] = slices.DeleteFunc(s.members[groupID], func(id string) bool { return id == userID })
	return nil
}

// GroupNamed returns the group named exactly name.
func (s *Simulator) GroupNamed(name string) (Group, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, g := range s.groups {
		if g.Name == name {
			return g, true
		}
	}
	return Group{}, false
}

// UserByEmail returns the user with email (case-insensitively).
func (s *Simulator) UserByEmail(email string) (User, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, u := range s.users {
		if strings.EqualFold(u.Email, email) {
			return u, true
		}
	}
	return User{}, false
}

// DevUsers and DevGroups are dev mode's directory: a user for each dev
// persona (by the email they sign in with) and a few groups, so that
// Grant to has people and groups to offer and an approver can be in the
// group a grant goes to.
func DevUsers() []UserSeed {
	return []UserSeed{
		{Name: "Riley Requester", Email: "riley@example.test"},
		{Name: "Avery Approver", Email: "avery@example.test"},
		{Name: "Blake Approver", Email: "blake@example.test"},
		{Name: "Casey Auditor", Email: "casey@example.test"},
		{Name: "Drew Admin", Email: "drew@example.test"},
		{Name: "Sam Support", Email: "sam@example.test"},
	}
}

// DevGroups: see DevUsers.
func DevGroups() []GroupSeed {
	return []GroupSeed{
		{Name: "Support Team", Members: []string{"riley@example.test", "sam@example.test"}},
		{Name: "Research", Members: []string{"riley@example.test", "avery@example.test"}},
		{Name: "Platform Admins", Members: []string{"drew@example.test"}},
	}
}
