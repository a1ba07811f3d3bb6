package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/rolegate/rolegate/internal/rolegate"
)

// The organization's directory in the picture (migration 00014): groups,
// users and group membership as last read completely. It is replaced in
// the transaction that replaces the rest of the picture, so a name check
// and a membership check never see half of one read.

// replaceDirectory makes dir the picture's directory: rows are written
// only when something changed, and what is no longer listed leaves.
func (tx *Tx) replaceDirectory(ctx context.Context, dir rolegate.Directory) error {
	now := ms(tx.now)
	groups := make([]any, 0, len(dir.Groups))
	for _, g := range dir.Groups {
		if g.ID == "" {
			continue
		}
		groups = append(groups, g.ID)
		if _, err := tx.ExecContext(ctx, `INSERT INTO org_groups (group_id, name, name_key, first_seen_at, updated_at)
			VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (group_id) DO UPDATE SET name = excluded.name, name_key = excluded.name_key, updated_at = excluded.updated_at
			WHERE name <> excluded.name`,
			g.ID, g.Name, strings.ToLower(g.Name), now, now); err != nil {
			return fmt.Errorf("sqlite: save group %s: %w", g.ID, err)
		}
	}
	if err := tx.deleteUnlisted(ctx, "org_groups", "group_id", groups); err != nil {
		return err
	}
	users := make([]any, 0, len(dir.Users))
	for _, u := range dir.Users {
		if u.ID == "" {
			continue
		}
		users = append(users, u.ID)
		if _, err := tx.ExecContext(ctx, `INSERT INTO org_users (user_id, name, name_key, email, email_key, first_seen_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (user_id) DO UPDATE SET name = excluded.name, name_key = excluded.name_key,
				email = excluded.email, email_key = excluded.email_key, updated_at = excluded.updated_at
			WHERE name <> excluded.name OR email <> excluded.email`,
			u.ID, u.Name, strings.ToLower(u.Name), u.Email, strings.ToLower(u.Email), now, now); err != nil {
			return fmt.Errorf("sqlite: save user %s: %w", u.ID, err)
		}
	}
	if err := tx.deleteUnlisted(ctx, "org_users", "user_id", users); err != nil {
		return err
	}
	// Membership is small beside the rest: replaced whole for each group.
	for _, g := range dir.Groups {
		if g.ID == "" {
			continue
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM org_group_members WHERE group_id = ?`, g.ID); err != nil {
			return fmt.Errorf("sqlite: clear the members of group %s: %w", g.ID, err)
		}
		for _, uid := range dir.Members[g.ID] {
			if _, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO org_group_members (group_id, user_id) VALUES (?, ?)`, g.ID, uid); err != nil {
				return fmt.Errorf("sqlite: save a member of group %s: %w", g.ID, err)
			}
		}
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO org_directory (id, synced_at, groups, users) VALUES (1, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET synced_at = excluded.synced_at, groups = excluded.groups, users = excluded.users`,
		now, len(groups), len(users)); err != nil {
		return fmt.Errorf("sqlite: save directory state: %w", err)
	}
	return nil
}

// deleteUnlisted removes the rows of table whose key is not in listed.
func (tx *Tx) deleteUnlisted(ctx context.Context, table, key string, listed []any) error {
	q := `DELETE FROM ` + table
	if len(listed) > 0 {
		q += ` WHERE ` + key + ` NOT IN (?` + strings.Repeat(`, ?`, len(listed)-1) + `)`
	}
	if _, err := tx.ExecContext(ctx, q, listed...); err != nil {
		return fmt.Errorf("sqlite: remove unlisted rows of %s: %w", table, err)
	}
	return nil
}

// DirectorySyncedAt is when the directory was last read completely (zero:
// never).
func (p *Picture) DirectorySyncedAt(ctx context.Context) (time.Time, error) {
	var at int64
	err := p.db.readPool.QueryRowContext(ctx, `SELECT synced_at FROM org_directory WHERE id = 1`).Scan(&at)
	if errors.Is(err, sql.ErrNoRows) {
		return time.Time{}, nil
	} else if err != nil {
		return time.Time{}, fmt.Errorf("sqlite: read directory state: %w", err)
	}
	return fromMS(at), nil
}

// Groups are the organization's groups, by name.
func (p *Picture) Groups(ctx context.Context) ([]rolegate.Group, error) {
	return p.groups(ctx, `SELECT group_id, name FROM org_groups ORDER BY name_key, group_id`)
}

// GroupsOf are the groups user userID is in, by name.
func (p *Picture) GroupsOf(ctx context.Context, userID string) ([]rolegate.Group, error) {
	return p.groups(ctx, `SELECT g.group_id, g.name FROM org_group_members m JOIN org_groups g USING (group_id)
		WHERE m.user_id = ? ORDER BY g.name_key, g.group_id`, userID)
}

func (p *Picture) groups(ctx context.Context, q string, args ...any) ([]rolegate.Group, error) {
	rows, err := p.db.readPool.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: read groups: %w", err)
	}
	defer rows.Close()
	var out []rolegate.Group
	for rows.Next() {
		var g rolegate.Group
		if err := rows.Scan(&g.ID, &g.Name); err != nil {
			return nil, fmt.Errorf("sqlite: read groups: %w", err)
		}
		out = append(out, g)
	}
	return out, rows.Err()
}

// Group is group id as last read.
func (p *Picture) Group(ctx context.Context, id string) (rolegate.Group, bool, error) {
	g := rolegate.Group{ID: id}
	err := p.db.readPool.QueryRowContext(ctx, `SELECT name FROM org_groups WHERE group_id = ?`, id).Scan(&g.Name)
	if errors.Is(err, sql.ErrNoRows) {
		return g, false, nil
	} else if err != nil {
		return g, false, fmt.Errorf("sqlite: read group %s: %w", id, err)
	}
	return g, true, nil
}

// Users are the organization's users, by name.
func (p *Picture) Users(ctx context.Context) ([]rolegate.User, error) {
	return p.users(ctx, `SELECT user_id, name, email FROM org_users ORDER BY name_key, user_id`)
}

// GroupMembers are the users of group id, by name; a member the users
// list did not hold is named by their id.
func (p *Picture) GroupMembers(ctx context.Context, groupID string) ([]rolegate.User, error) {
	return p.users(ctx, `SELECT m.user_id, coalesce(u.name, m.user_id), coalesce(u.email, '')
		FROM org_group_members m LEFT JOIN org_users u USING (user_id)
		WHERE m.group_id = ? ORDER BY coalesce(u.name_key, m.user_id), m.user_id`, groupID)
}

func (p *Picture) users(ctx context.Context, q string, args ...any) ([]rolegate.User, error) {
	rows, err := p.db.readPool.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: read users: %w", err)
	}
	defer rows.Close()
	var out []rolegate.User
	for rows.Next() {
		var u rolegate.User
		if err := rows.Scan(&u.ID, &u.Name, &u.Email); err != nil {
			return nil, fmt.Errorf("sqlite: read users: %w", err)
		}
		out = append(out, u)
	}
	return out, rows.Err()
}

// User is user id as last read.
func (p *Picture) User(ctx context.Context, id string) (rolegate.User, bool, error) {
	return p.oneUser(ctx, `SELECT user_id, name, email FROM org_users WHERE user_id = ?`, id)
}

// UserByEmail is the user whose email is email, case-insensitively: how a
// person signed in to rolegate is found in the organization. Two users
// with one email (which the upstream should not allow) find neither.
func (p *Picture) UserByEmail(ctx context.Context, email string) (rolegate.User, bool, error) {
	if strings.TrimSpace(email) == "" {
		return rolegate.User{}, false, nil
	}
	users, err := p.users(ctx, `SELECT user_id, name, email FROM org_users WHERE email_key = ? LIMIT 2`, strings.ToLower(strings.TrimSpace(email)))
	if err != nil || len(users) != 1 {
		return rolegate.User{}, false, err
	}
	return users[0], true, nil
}

func (p *Picture) oneUser(ctx context.Context, q string, args ...any) (rolegate.User, bool, error) {
	var u rolegate.User
	err := p.db.readPool.QueryRowContext(ctx, q, args...).Scan(&u.ID, &u.Name, &u.Email)
	if errors.Is(err, sql.ErrNoRows) {
		return u, false, nil
	} else if err != nil {
		return u, false, fmt.Errorf("sqlite: read user: %w", err)
	}
	return u, true, nil
}
