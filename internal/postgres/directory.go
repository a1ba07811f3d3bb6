package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/rolegate/rolegate/internal/rolegate"
)

// The organization's directory in the picture, as on SQLite (its
// directory.go, migration 00014): groups, users and group membership as
// last read completely, replaced in the transaction (and under the lock)
// that replaces the rest of the picture, so that a name check and a
// membership check never see half of one read.

// replaceDirectory makes dir the picture's directory: rows are written
// only when something changed, and what is no longer listed leaves.
func (tx *Tx) replaceDirectory(ctx context.Context, dir rolegate.Directory) error {
	now := ms(tx.now)
	groups := make([]string, 0, len(dir.Groups))
	for _, g := range dir.Groups {
		if g.ID == "" {
			continue
		}
		groups = append(groups, g.ID)
		if _, err := tx.Exec(ctx, `INSERT INTO org_groups (group_id, name, name_key, first_seen_at, updated_at)
			VALUES ($1, $2, $3, $4, $4)
			ON CONFLICT (group_id) DO UPDATE SET name = excluded.name, name_key = excluded.name_key, updated_at = excluded.updated_at
			WHERE org_groups.name <> excluded.name`,
			g.ID, g.Name, strings.ToLower(g.Name), now); err != nil {
			return fmt.Errorf("postgres: save group %s: %w", g.ID, err)
		}
	}
	if _, err := tx.Exec(ctx, `DELETE FROM org_groups WHERE NOT (group_id = ANY($1))`, groups); err != nil {
		return fmt.Errorf("postgres: remove unlisted groups: %w", err)
	}
	users := make([]string, 0, len(dir.Users))
	for _, u := range dir.Users {
		if u.ID == "" {
			continue
		}
		users = append(users, u.ID)
		if _, err := tx.Exec(ctx, `INSERT INTO org_users (user_id, name, name_key, email, email_key, first_seen_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6, $6)
			ON CONFLICT (user_id) DO UPDATE SET name = excluded.name, name_key = excluded.name_key,
				email = excluded.email, email_key = excluded.email_key, updated_at = excluded.updated_at
			WHERE org_users.name <> excluded.name OR org_users.email <> excluded.email`,
			u.ID, u.Name, strings.ToLower(u.Name), u.Email, strings.ToLower(u.Email), now); err != nil {
			return fmt.Errorf("postgres: save user %s: %w", u.ID, err)
		}
	}
	if _, err := tx.Exec(ctx, `DELETE FROM org_users WHERE NOT (user_id = ANY($1))`, users); err != nil {
		return fmt.Errorf("postgres: remove unlisted users: %w", err)
	}
	// Membership is small beside the rest: replaced whole for each group.
	for _, g := range dir.Groups {
		if g.ID == "" {
			continue
		}
		if _, err := tx.Exec(ctx, `DELETE FROM org_group_members WHERE group_id = $1`, g.ID); err != nil {
			return fmt.Errorf("postgres: clear the members of group %s: %w", g.ID, err)
		}
		if members := dir.Members[g.ID]; len(members) > 0 {
			if _, err := tx.Exec(ctx, `INSERT INTO org_group_members (group_id, user_id)
				SELECT $1, unnest($2::text[]) ON CONFLICT DO NOTHING`, g.ID, members); err != nil {
				return fmt.Errorf("postgres: save the members of group %s: %w", g.ID, err)
			}
		}
	}
	if _, err := tx.Exec(ctx, `INSERT INTO org_directory (id, synced_at, groups, users) VALUES (1, $1, $2, $3)
		ON CONFLICT (id) DO UPDATE SET synced_at = excluded.synced_at, groups = excluded.groups, users = excluded.users`,
		now, len(groups), len(users)); err != nil {
		return fmt.Errorf("postgres: save directory state: %w", err)
	}
	return nil
}

// DirectorySyncedAt is when the directory was last read completely (zero:
// never).
func (p *Picture) DirectorySyncedAt(ctx context.Context) (time.Time, error) {
	var at int64
	err := p.db.pool.QueryRow(ctx, `SELECT synced_at FROM org_directory WHERE id = 1`).Scan(&at)
	if errors.Is(err, pgx.ErrNoRows) {
		return time.Time{}, nil
	} else if err != nil {
		return time.Time{}, fmt.Errorf("postgres: read directory state: %w", err)
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
		WHERE m.user_id = $1 ORDER BY g.name_key, g.group_id`, userID)
}

func (p *Picture) groups(ctx context.Context, q string, args ...any) ([]rolegate.Group, error) {
	rows, err := p.db.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("postgres: read groups: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (rolegate.Group, error) {
		var g rolegate.Group
		err := row.Scan(&g.ID, &g.Name)
		return g, err
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: read groups: %w", err)
	}
	return out, nil
}

// Group is group id as last read.
func (p *Picture) Group(ctx context.Context, id string) (rolegate.Group, bool, error) {
	g := rolegate.Group{ID: id}
	err := p.db.pool.QueryRow(ctx, `SELECT name FROM org_groups WHERE group_id = $1`, id).Scan(&g.Name)
	if errors.Is(err, pgx.ErrNoRows) {
		return g, false, nil
	} else if err != nil {
		return g, false, fmt.Errorf("postgres: read group %s: %w", id, err)
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
		WHERE m.group_id = $1 ORDER BY coalesce(u.name_key, m.user_id), m.user_id`, groupID)
}

func (p *Picture) users(ctx context.Context, q string, args ...any) ([]rolegate.User, error) {
	rows, err := p.db.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("postgres: read users: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (rolegate.User, error) {
		var u rolegate.User
		err := row.Scan(&u.ID, &u.Name, &u.Email)
		return u, err
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: read users: %w", err)
	}
	return out, nil
}

// User is user id as last read.
func (p *Picture) User(ctx context.Context, id string) (rolegate.User, bool, error) {
	users, err := p.users(ctx, `SELECT user_id, name, email FROM org_users WHERE user_id = $1`, id)
	if err != nil || len(users) != 1 {
		return rolegate.User{}, false, err
	}
	return users[0], true, nil
}

// UserByEmail is the user whose email is email, case-insensitively: how a
// person signed in to rolegate is found in the organization. Two users
// with one email (which the upstream should not allow) find neither.
func (p *Picture) UserByEmail(ctx context.Context, email string) (rolegate.User, bool, error) {
	if strings.TrimSpace(email) == "" {
		return rolegate.User{}, false, nil
	}
	users, err := p.users(ctx, `SELECT user_id, name, email FROM org_users WHERE email_key = $1 LIMIT 2`, strings.ToLower(strings.TrimSpace(email)))
	if err != nil || len(users) != 1 {
		return rolegate.User{}, false, err
	}
	return users[0], true, nil
}
