package sqlrows

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/rolegate/rolegate/internal/rolegate"
)

// The replacement of one scope of the organization's picture
// (rolegate.PictureStore) that both engines write alike: how one complete
// read upstream is compared with the picture, which differences are
// recorded and what is written, inside the transaction each engine opens
// and locks its own way (SQLite's single writer; PostgreSQL's advisory
// lock), so that a difference and its audit event (and the admins'
// notifications) commit together, once.

// PictureTx is a store's transaction replacing the picture, as
// ReplaceScope uses it.
type PictureTx struct {
	Tx     Tx
	Reader Reader
	// RecordedState is how recorded_state holds the state of a role whose
	// change was last recorded (only equality is ever asked of it).
	RecordedState func(r rolegate.UpstreamRole) string
	// Event records a difference found by a sync about r; notice (nil:
	// nobody) is who hears of it, about the request requestID (0: none)
	// that created the role.
	Event func(r rolegate.UpstreamRole, requestID int64, d rolegate.Details, notice *rolegate.Notice) error
}

// oldRole is a picture row as the sync compares it.
type oldRole struct {
	role          rolegate.UpstreamRole
	requestID     int64
	drift         string
	recordedState string
	deleted       bool
}

// provenance is a request that created (or is creating) a role.
type provenance struct {
	id          int64
	shape       rolegate.RoleShape
	provisioned bool // the approved shape is final: drift is measured against it
}

// ReplaceScope makes roles the picture of scope (named scopeName, "" for
// the organization) and counts the differences into res: a role that
// appeared from outside, a role changed (for one that rolegate created:
// what differs from what was approved), a role deleted. The first read of
// a scope is its baseline: the roles already there are not news. It
// reports whether this was the scope's first read and how many roles it
// holds now.
func ReplaceScope(tx PictureTx, scope, scopeName string, roles []rolegate.UpstreamRole, res *rolegate.SyncResult) (bool, int, error) {
	baseline := false
	var synced int64
	err := tx.Reader.Row(`SELECT synced_at FROM org_picture WHERE scope = ?`, scope).Scan(&synced)
	if tx.Reader.NoRows(err) {
		baseline = true
	} else if err != nil {
		return false, 0, fmt.Errorf("read picture state: %w", err)
	}
	old, err := pictureRows(tx.Reader, scope)
	if err != nil {
		return false, 0, err
	}
	byID, inFlight, err := roleProvenance(tx.Reader)
	if err != nil {
		return false, 0, err
	}
	seen := make(map[string]bool, len(roles))
	for _, r := range roles {
		r = r.Normalize()
		r.Scope = scope
		if scope != rolegate.ScopeOrganization {
			r.ScopeName = scopeName
		}
		if r.ID == "" || seen[r.ID] {
			continue // a role listed twice is one role
		}
		seen[r.ID] = true
		prev, had := old[r.ID]
		prov, ok := byID[r.ID]
		if !ok {
			prov, ok = inFlight[inFlightKey(scope, r.Name)]
		}
		if !ok && had && prev.requestID != 0 {
			ok, prov = true, provenance{id: prev.requestID}
		}
		if err := syncRole(tx, r, prev, had, prov, ok, baseline, res); err != nil {
			return false, 0, err
		}
	}
	for id, prev := range old {
		if seen[id] || prev.deleted {
			continue
		}
		if err := roleGone(tx, prev, res); err != nil {
			return false, 0, err
		}
	}
	if _, err := tx.Tx.Exec(`INSERT INTO org_picture (scope, synced_at, roles) VALUES (?, ?, ?)
		ON CONFLICT (scope) DO UPDATE SET synced_at = excluded.synced_at, roles = excluded.roles`,
		scope, ms(tx.Tx.Now()), len(seen)); err != nil {
		return false, 0, fmt.Errorf("save picture state: %w", err)
	}
	return baseline, len(seen), nil
}

// syncRole brings one listed role into the picture. Rows are written only
// when something changed, so a sync of an unchanged organization writes
// one row whatever its size.
func syncRole(tx PictureTx, r rolegate.UpstreamRole, prev oldRole, had bool, prov provenance, created, baseline bool, res *rolegate.SyncResult) error {
	var requestID int64
	if created {
		requestID = prov.id
	}
	drift, detail, recorded := "", "", prev.recordedState
	if created && prov.provisioned {
		if diffs := rolegate.Compare(prov.shape, r.Shape()); len(diffs) > 0 {
			raw, _ := json.Marshal(diffs)
			drift, detail = string(rolegate.DriftChanged), string(raw)
			if state := tx.RecordedState(r); recorded != state {
				recorded = state
				res.Changed++
				if err := tx.Event(r, requestID, rolegate.UpstreamRoleChanged{
					RoleID: r.ID, Scope: scopeLabel(r.Scope), Differences: diffs, ComparedWith: "approved request",
				}, rolegate.DriftNotice(r.ID, diffs, false)); err != nil {
					return err
				}
			}
		} else {
			recorded = "" // back to what was approved: a later change is news again
		}
	}
	if had && !created && prev.requestID == 0 && prev.role.State() != r.State() {
		res.Changed++
		if err := tx.Event(r, 0, rolegate.UpstreamRoleChanged{
			RoleID: r.ID, Scope: scopeLabel(r.Scope), Differences: rolegate.Compare(prev.role.Shape(), r.Shape()),
			ComparedWith: "previous sync",
		}, nil); err != nil {
			return err
		}
	}
	if !had && !created && !baseline {
		res.Appeared++
		if err := tx.Event(r, 0, rolegate.UpstreamRoleAppeared{
			RoleID: r.ID, Scope: scopeLabel(r.Scope), Permissions: r.Permissions, Predefined: r.Predefined,
		}, nil); err != nil {
			return err
		}
	}
	unchanged := had && !prev.deleted && prev.role.State() == r.State() && prev.role.Predefined == r.Predefined &&
		prev.role.ResourceType == r.ResourceType && prev.role.ScopeName == r.ScopeName &&
		prev.requestID == requestID && prev.drift == drift && prev.recordedState == recorded
	if unchanged {
		return nil
	}
	perms, _ := json.Marshal(r.Permissions)
	var reqArg any // NULL for none
	if requestID != 0 {
		reqArg = requestID
	}
	var predefined int64
	if r.Predefined {
		predefined = 1
	}
	if _, err := tx.Tx.Exec(`INSERT INTO org_roles (role_id, scope, scope_name, name, name_key, description,
			permissions, resource_type, predefined, request_id, first_seen_at, drift, drift_detail, recorded_state, deleted_at, search_text)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?)
		ON CONFLICT (role_id) DO UPDATE SET scope = excluded.scope, scope_name = excluded.scope_name, name = excluded.name,
			name_key = excluded.name_key, description = excluded.description, permissions = excluded.permissions,
			resource_type = excluded.resource_type, predefined = excluded.predefined, request_id = excluded.request_id,
			drift = excluded.drift, drift_detail = excluded.drift_detail, recorded_state = excluded.recorded_state, deleted_at = 0,
			search_text = excluded.search_text`,
		r.ID, r.Scope, r.ScopeName, r.Name, rolegate.RoleNameKey(r.Name), r.Description, string(perms), r.ResourceType,
		predefined, reqArg, ms(tx.Tx.Now()), drift, detail, recorded, searchText(r)); err != nil {
		return fmt.Errorf("save role %s: %w", r.ID, err)
	}
	return nil
}

// roleGone handles a role of the picture that the upstream no longer lists.
// One that rolegate created stays, marked Deleted outside rolegate; any
// other leaves the picture. Either way the deletion is recorded once.
func roleGone(tx PictureTx, prev oldRole, res *rolegate.SyncResult) error {
	res.Deleted++
	if err := tx.Event(prev.role, prev.requestID, rolegate.UpstreamRoleDeleted{
		RoleID: prev.role.ID, Scope: scopeLabel(prev.role.Scope), Permissions: prev.role.Permissions,
	}, rolegate.DriftNotice(prev.role.ID, nil, true)); err != nil {
		return err
	}
	if prev.requestID != 0 {
		if _, err := tx.Tx.Exec(`UPDATE org_roles SET deleted_at = ?, drift = 'deleted', drift_detail = '' WHERE role_id = ?`,
			ms(tx.Tx.Now()), prev.role.ID); err != nil {
			return fmt.Errorf("mark role %s deleted: %w", prev.role.ID, err)
		}
		return nil
	}
	if _, err := tx.Tx.Exec(`DELETE FROM org_roles WHERE role_id = ?`, prev.role.ID); err != nil {
		return fmt.Errorf("remove role %s: %w", prev.role.ID, err)
	}
	return nil
}

func scopeLabel(scope string) string {
	if scope == rolegate.ScopeOrganization {
		return rolegate.ScopeLabelOrganization
	}
	return scope
}

// pictureRows loads the picture of scope, by role id.
func pictureRows(r Reader, scope string) (map[string]oldRole, error) {
	out := map[string]oldRole{}
	var o oldRole
	var perms string
	var predefined, deleted int64
	var bad error // a row that cannot be read, said as itself
	err := r.Each(`SELECT role_id, scope, scope_name, name, description, permissions, resource_type,
		predefined, COALESCE(request_id, 0), drift, recorded_state, deleted_at FROM org_roles WHERE scope = ?`, []any{scope},
		[]any{&o.role.ID, &o.role.Scope, &o.role.ScopeName, &o.role.Name, &o.role.Description, &perms,
			&o.role.ResourceType, &predefined, &o.requestID, &o.drift, &o.recordedState, &deleted},
		func() error {
			role := o
			role.role.Permissions = nil
			if err := json.Unmarshal([]byte(perms), &role.role.Permissions); err != nil {
				bad = fmt.Errorf("role %s permissions: %w", role.role.ID, err)
				return bad
			}
			role.role.Predefined, role.deleted = predefined != 0, deleted != 0
			out[role.role.ID] = role
			return nil
		})
	switch {
	case bad != nil:
		return nil, bad
	case err != nil:
		return nil, fmt.Errorf("read picture: %w", err)
	}
	return out, nil
}

// roleProvenance maps the roles rolegate created (by upstream id) and the
// ones it is creating right now (by name: the worker may have created one
// that the request does not name yet) to their request.
func roleProvenance(r Reader) (map[string]provenance, map[string]provenance, error) {
	byID, inFlight := map[string]provenance{}, map[string]provenance{}
	var p provenance
	var scope, roleID, key, perms, status string
	var bad error // a row that cannot be read, said as itself
	err := r.Each(`SELECT id, scope, upstream_role_id, role_name, role_name_key, permissions, description, status
		FROM requests WHERE kind = 'role' AND (upstream_role_id <> '' OR status IN ('approved', 'provisioning'))`, nil,
		[]any{&p.id, &scope, &roleID, &p.shape.Name, &key, &perms, &p.shape.Description, &status},
		func() error {
			q := p
			q.shape.Permissions = nil
			if err := json.Unmarshal([]byte(perms), &q.shape.Permissions); err != nil {
				bad = fmt.Errorf("request %d permissions: %w", q.id, err)
				return bad
			}
			q.provisioned = status == string(rolegate.StatusProvisioned)
			if roleID != "" {
				byID[roleID] = q
			} else {
				inFlight[inFlightKey(scope, key)] = q
			}
			return nil
		})
	switch {
	case bad != nil:
		return nil, nil, bad
	case err != nil:
		return nil, nil, fmt.Errorf("read role provenance: %w", err)
	}
	return byID, inFlight, nil
}

// inFlightKey is how a role being created is matched by name: within its
// scope, whatever the case.
func inFlightKey(scope, name string) string {
	return scope + "\x00" + rolegate.RoleNameKey(name)
}

// searchText is what a search of the picture matches: the name and the
// permissions, lower case, separated by a character no search can hold
// (it is trimmed), so that a search never matches across two of them.
func searchText(r rolegate.UpstreamRole) string {
	parts := append([]string{rolegate.RoleNameKey(r.Name)}, r.Permissions...)
	return strings.ToLower(strings.Join(parts, "\n"))
}
