package contacts

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"

	"omnicc/directory"
	"omnicc/store"
)

// Custom field types.
const (
	FieldText   = "text"
	FieldNumber = "number"
	FieldDate   = "date"
	FieldSelect = "select"
)

// CustomField defines one field every contact of a list may (or must) have.
type CustomField struct {
	Name     string   `json:"name"`
	Type     string   `json:"type"`
	Options  []string `json:"options,omitempty"`
	Required bool     `json:"required"`
}

// List is a named list of contacts.
type List struct {
	ID           int64         `json:"id" db:"id"`
	Name         string        `json:"name" db:"name"`
	Description  string        `json:"description" db:"description"`
	CustomFields []CustomField `json:"custom_fields" db:"-"`
	AgentIDs     []int64       `json:"agent_ids" db:"-"`
	TeamIDs      []int64       `json:"team_ids" db:"-"`
	Contacts     int           `json:"contacts" db:"-"`
	CreatedAt    time.Time     `json:"created_at" db:"created_at"`
	UpdatedAt    time.Time     `json:"updated_at" db:"updated_at"`

	customRaw sql.NullString
}

// ListInput is a new list, or (with nil fields left alone) a change to one.
type ListInput struct {
	Name         string        `json:"name"`
	Description  string        `json:"description"`
	CustomFields []CustomField `json:"custom_fields"`
}

// ListPatch changes a list; nil fields are left alone.
type ListPatch struct {
	Name         *string        `json:"name"`
	Description  *string        `json:"description"`
	CustomFields *[]CustomField `json:"custom_fields"`
}

// Actor is who asks: admins see every list, supervisors and agents only the
// lists granted to them or to one of their teams.
type Actor struct {
	UserID int64
	Role   directory.Role
}

// Admin reports whether the actor manages every list.
func (a Actor) Admin() bool { return a.Role == directory.RoleAdmin }

func validateCustomFields(defs []CustomField) error {
	seen := map[string]bool{}
	for i := range defs {
		f := &defs[i]
		f.Name = strings.TrimSpace(f.Name)
		at := fmt.Sprintf("custom_fields[%d]", i)
		switch {
		case f.Name == "" || len(f.Name) > 64 || strings.ContainsAny(f.Name, " .=&?#"):
			return fieldErr(at+".name", "%q must be 1-64 characters without spaces, dots, =, &, ? or #", f.Name)
		case seen[f.Name]:
			return fieldErr(at+".name", "%q is defined twice", f.Name)
		}
		seen[f.Name] = true
		switch f.Type {
		case FieldText, FieldNumber, FieldDate:
			if len(f.Options) > 0 {
				return fieldErr(at+".options", "only select fields have options")
			}
		case FieldSelect:
			if len(f.Options) == 0 {
				return fieldErr(at+".options", "a select field needs at least one option")
			}
		default:
			return fieldErr(at+".type", "%q must be one of text, number, date, select", f.Type)
		}
	}
	if len(defs) > 100 {
		return fieldErr("custom_fields", "at most 100 custom fields per list")
	}
	return nil
}

func checkListName(name, desc string) error {
	switch {
	case name == "":
		return fieldErr("name", "is required")
	case len(name) > 128:
		return fieldErr("name", "must be at most 128 characters")
	case len(desc) > 2000:
		return fieldErr("description", "must be at most 2000 characters")
	}
	return nil
}

func marshalJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// CreateList stores a new contact list.
func (m *Manager) CreateList(ctx context.Context, in ListInput) (*List, error) {
	name := strings.TrimSpace(in.Name)
	if err := checkListName(name, in.Description); err != nil {
		return nil, err
	}
	if in.CustomFields == nil {
		in.CustomFields = []CustomField{}
	}
	if err := validateCustomFields(in.CustomFields); err != nil {
		return nil, err
	}
	now := m.stamp()
	l := &List{Name: name, Description: in.Description, CustomFields: in.CustomFields, AgentIDs: []int64{}, TeamIDs: []int64{}, CreatedAt: now, UpdatedAt: now}
	res, err := m.db.ExecContext(ctx, `INSERT INTO contact_lists (name, description, custom_fields, created_at, updated_at) VALUES (?, ?, ?, ?, ?)`,
		l.Name, l.Description, marshalJSON(l.CustomFields), l.CreatedAt, l.UpdatedAt)
	if store.IsUniqueViolation(err) {
		return nil, &ConflictError{Field: "name", Value: name}
	}
	if err != nil {
		return nil, err
	}
	if l.ID, err = res.LastInsertId(); err != nil {
		return nil, err
	}
	return l, nil
}

const listCols = `id, name, description, custom_fields, created_at, updated_at`

func scanLists(rows *sqlx.Rows) ([]*List, error) {
	defer rows.Close()
	out := []*List{}
	for rows.Next() {
		l := &List{}
		if err := rows.Scan(&l.ID, &l.Name, &l.Description, &l.customRaw, &l.CreatedAt, &l.UpdatedAt); err != nil {
			return nil, err
		}
		l.CreatedAt, l.UpdatedAt = l.CreatedAt.UTC(), l.UpdatedAt.UTC()
		l.CustomFields = []CustomField{}
		if l.customRaw.Valid && l.customRaw.String != "" {
			if err := json.Unmarshal([]byte(l.customRaw.String), &l.CustomFields); err != nil {
				return nil, fmt.Errorf("contact list %d: custom_fields: %w", l.ID, err)
			}
		}
		l.AgentIDs, l.TeamIDs = []int64{}, []int64{}
		out = append(out, l)
	}
	return out, rows.Err()
}

// Lists returns every contact list by name.
func (m *Manager) Lists(ctx context.Context) ([]*List, error) {
	return m.ListsFor(ctx, Actor{Role: directory.RoleAdmin})
}

// ListsFor returns the lists the actor may see, by name, with their grants
// and sizes.
func (m *Manager) ListsFor(ctx context.Context, a Actor) ([]*List, error) {
	q, args := `SELECT `+listCols+` FROM contact_lists`, []any{}
	if !a.Admin() {
		q += ` WHERE id IN (` + grantedListsSQL + `)`
		args = append(args, a.UserID, a.UserID)
	}
	rows, err := m.db.QueryxContext(ctx, q+` ORDER BY name, id`, args...)
	if err != nil {
		return nil, err
	}
	lists, err := scanLists(rows)
	if err != nil {
		return nil, err
	}
	return lists, m.fillLists(ctx, lists)
}

// fillLists adds grants and sizes: three grouped queries, whatever the
// number of lists.
func (m *Manager) fillLists(ctx context.Context, lists []*List) error {
	if len(lists) == 0 {
		return nil
	}
	byID := map[int64]*List{}
	for _, l := range lists {
		byID[l.ID] = l
	}
	var pairs []struct {
		ListID int64 `db:"list_id"`
		ID     int64 `db:"id"`
	}
	if err := m.db.SelectContext(ctx, &pairs, `SELECT list_id, agent_id AS id FROM contact_list_agents ORDER BY agent_id`); err != nil {
		return err
	}
	for _, p := range pairs {
		if l := byID[p.ListID]; l != nil {
			l.AgentIDs = append(l.AgentIDs, p.ID)
		}
	}
	pairs = pairs[:0]
	if err := m.db.SelectContext(ctx, &pairs, `SELECT list_id, team_id AS id FROM contact_list_teams ORDER BY team_id`); err != nil {
		return err
	}
	for _, p := range pairs {
		if l := byID[p.ListID]; l != nil {
			l.TeamIDs = append(l.TeamIDs, p.ID)
		}
	}
	pairs = pairs[:0]
	if err := m.db.SelectContext(ctx, &pairs, `SELECT list_id, COUNT(*) AS id FROM contacts GROUP BY list_id`); err != nil {
		return err
	}
	for _, p := range pairs {
		if l := byID[p.ListID]; l != nil {
			l.Contacts = int(p.ID)
		}
	}
	return nil
}

// grantedListsSQL selects the ids of the lists granted to a user (first
// argument) directly or through its teams (second argument).
const grantedListsSQL = `SELECT list_id FROM contact_list_agents WHERE agent_id = ?
 UNION SELECT lt.list_id FROM contact_list_teams lt JOIN agent_teams at ON at.team_id = lt.team_id WHERE at.user_id = ?`

// GetList returns one list the actor may see.
func (m *Manager) GetList(ctx context.Context, a Actor, id int64) (*List, error) {
	if err := m.CanUseList(ctx, a, id); err != nil {
		return nil, err
	}
	return m.getList(ctx, id)
}

func (m *Manager) getList(ctx context.Context, id int64) (*List, error) {
	rows, err := m.db.QueryxContext(ctx, `SELECT `+listCols+` FROM contact_lists WHERE id = ?`, id)
	if err != nil {
		return nil, err
	}
	lists, err := scanLists(rows)
	if err != nil {
		return nil, err
	}
	if len(lists) == 0 {
		return nil, fmt.Errorf("contact list %d: %w", id, ErrNotFound)
	}
	return lists[0], m.fillLists(ctx, lists)
}

// CanUseList answers ErrNotFound for a list that does not exist and
// ErrForbidden for one the actor has no grant for.
func (m *Manager) CanUseList(ctx context.Context, a Actor, id int64) error {
	var n int
	err := m.db.GetContext(ctx, &n, `SELECT COUNT(*) FROM contact_lists WHERE id = ?`, id)
	if err != nil {
		return err
	}
	if n == 0 {
		return fmt.Errorf("contact list %d: %w", id, ErrNotFound)
	}
	if a.Admin() {
		return nil
	}
	err = m.db.GetContext(ctx, &n, `SELECT COUNT(*) FROM (`+grantedListsSQL+`) g WHERE g.list_id = ?`, a.UserID, a.UserID, id)
	if err != nil {
		return err
	}
	if n == 0 {
		return fmt.Errorf("contact list %d: %w", id, ErrForbidden)
	}
	return nil
}

// UpdateList changes a list. Custom fields removed from the definitions stay
// in the contacts' data until each contact is saved again; they are no
// longer validated or searchable.
func (m *Manager) UpdateList(ctx context.Context, id int64, p ListPatch) (*List, error) {
	l, err := m.getList(ctx, id)
	if err != nil {
		return nil, err
	}
	if p.Name != nil {
		l.Name = strings.TrimSpace(*p.Name)
	}
	if p.Description != nil {
		l.Description = *p.Description
	}
	if p.CustomFields != nil {
		l.CustomFields = *p.CustomFields
		if l.CustomFields == nil {
			l.CustomFields = []CustomField{}
		}
	}
	if err := checkListName(l.Name, l.Description); err != nil {
		return nil, err
	}
	if err := validateCustomFields(l.CustomFields); err != nil {
		return nil, err
	}
	l.UpdatedAt = m.stamp()
	_, err = m.db.ExecContext(ctx, `UPDATE contact_lists SET name = ?, description = ?, custom_fields = ?, updated_at = ? WHERE id = ?`,
		l.Name, l.Description, marshalJSON(l.CustomFields), l.UpdatedAt, id)
	if store.IsUniqueViolation(err) {
		return nil, &ConflictError{Field: "name", Value: l.Name}
	}
	return l, err
}

// DeleteList removes a list. One that still holds contacts is refused
// unless force is set, since its contacts go with it.
func (m *Manager) DeleteList(ctx context.Context, id int64, force bool) error {
	return m.db.InTx(ctx, func(tx *sqlx.Tx) error {
		var n int
		if err := tx.GetContext(ctx, &n, `SELECT COUNT(*) FROM contacts WHERE list_id = ?`, id); err != nil {
			return err
		}
		if n > 0 && !force {
			return fieldErr("force", "contact list %d holds %d contacts: delete with force=true to remove them too", id, n)
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM contact_lists WHERE id = ?`, id)
		if err != nil {
			return err
		}
		if k, _ := res.RowsAffected(); k == 0 {
			return fmt.Errorf("contact list %d: %w", id, ErrNotFound)
		}
		// The caller cache may remember contacts that are gone.
		if m.cache != nil {
			m.cache.clear()
		}
		return nil
	})
}

// SetListAgents replaces the users (agents or supervisors) granted the list.
func (m *Manager) SetListAgents(ctx context.Context, id int64, userIDs []int64) (*List, error) {
	return m.setGrants(ctx, id, "contact_list_agents", "agent_id", "users", "agent_ids", userIDs)
}

// SetListTeams replaces the teams granted the list.
func (m *Manager) SetListTeams(ctx context.Context, id int64, teamIDs []int64) (*List, error) {
	return m.setGrants(ctx, id, "contact_list_teams", "team_id", "teams", "team_ids", teamIDs)
}

// setGrants's table and column names are constants of this file, never input.
func (m *Manager) setGrants(ctx context.Context, id int64, table, col, refTable, field string, ids []int64) (*List, error) {
	err := m.db.InTx(ctx, func(tx *sqlx.Tx) error {
		var n int
		if err := tx.GetContext(ctx, &n, `SELECT COUNT(*) FROM contact_lists WHERE id = ?`, id); err != nil {
			return err
		}
		if n == 0 {
			return fmt.Errorf("contact list %d: %w", id, ErrNotFound)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM `+table+` WHERE list_id = ?`, id); err != nil {
			return err
		}
		for i, ref := range ids {
			err := tx.GetContext(ctx, &n, `SELECT COUNT(*) FROM `+refTable+` WHERE id = ?`, ref)
			if err != nil {
				return err
			}
			if n == 0 {
				return fieldErr(fmt.Sprintf("%s[%d]", field, i), "no %s has id %d", strings.TrimSuffix(refTable, "s"), ref)
			}
			if _, err := tx.ExecContext(ctx, m.db.InsertIgnore()+` `+table+` (list_id, `+col+`) VALUES (?, ?)`, id, ref); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return m.getList(ctx, id)
}

// MaskFor reports whether the user sees contacts' personal data masked (the
// agent field mask_sensitive_data).
func (m *Manager) MaskFor(ctx context.Context, userID int64) (bool, error) {
	var mask bool
	err := m.db.GetContext(ctx, &mask, `SELECT mask_sensitive_data FROM users WHERE id = ?`, userID)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	return mask, err
}
