package contacts

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/jmoiron/sqlx"

	"omnicc/store"
)

// MergeFields are the fields a merge may take from the removed contact.
var MergeFields = []string{"first_name", "last_name", "company", "phone", "mobile", "owner_id"}

// MergeInput says what to merge into the surviving contact. Fields lists
// the fields whose value is taken from FromID; when empty, each field takes
// the value of the more recently updated contact that has one. E-mails,
// tags, external ids and custom fields are always united (the newer
// contact's value winning where both have one).
type MergeInput struct {
	FromID int64    `json:"from_id"`
	Fields []string `json:"fields"`
	By     int64    `json:"-"`
}

// forUpdate locks the rows a transaction reads before writing them back, so
// that a merge and a concurrent edit do not overwrite each other. SQLite
// needs none: its write transactions start immediate, one at a time.
func (m *Manager) forUpdate() string {
	if m.db.Dialect == store.MySQL {
		return " FOR UPDATE"
	}
	return ""
}

// hasTable reports whether another part of omnicc has created a table (the
// router's interactions): contacts reads and moves their rows only then.
func (m *Manager) hasTable(ctx context.Context, q sqlx.QueryerContext, table string) bool {
	rows, err := q.QueryxContext(ctx, `SELECT 1 FROM `+table+` WHERE 1 = 0`)
	if err != nil {
		return false
	}
	rows.Close()
	return true
}

// Merge folds contact in.FromID into contact id and removes it. Every
// call-log row and interaction of the removed contact moves to the
// survivor, and contact_merges keeps the removed contact as it was. All of
// it is one transaction: a failure leaves both contacts untouched.
func (m *Manager) Merge(ctx context.Context, id int64, in MergeInput) (*Contact, error) {
	if in.FromID < 1 {
		return nil, fieldErr("from_id", "is required")
	}
	if in.FromID == id {
		return nil, fieldErr("from_id", "a contact cannot be merged with itself")
	}
	for i, f := range in.Fields {
		if !slices.Contains(MergeFields, f) {
			return nil, fieldErr(fmt.Sprintf("fields[%d]", i), "%q: choose from %s", f, strings.Join(MergeFields, ", "))
		}
	}
	interactions := m.hasTable(ctx, m.db, "interactions")
	var out *Contact
	var nums []string
	err := m.db.InTx(ctx, func(tx *sqlx.Tx) error {
		// Lock in id order, so that two merges of the same pair cannot
		// deadlock.
		var keep, from *Contact
		for _, cid := range []int64{min(id, in.FromID), max(id, in.FromID)} {
			c, err := scanContact(tx.QueryRowxContext(ctx, `SELECT `+contactCols+` FROM contacts WHERE id = ?`+m.forUpdate(), cid))
			if errors.Is(err, sql.ErrNoRows) {
				if cid == in.FromID {
					return fieldErr("from_id", "no contact has id %d", cid)
				}
				return fmt.Errorf("contact %d: %w", cid, ErrNotFound)
			}
			if err != nil {
				return err
			}
			if cid == id {
				keep = c
			} else {
				from = c
			}
		}
		nums = []string{m.plan.Normalize(from.Phone), m.plan.Normalize(from.Mobile), m.plan.Normalize(keep.Phone), m.plan.Normalize(keep.Mobile)}
		audit := marshalJSON(from)
		mergeInto(keep, from, in.Fields)
		list, err := m.getListTx(ctx, tx, keep.ListID)
		if err != nil {
			return err
		}
		// The removed contact's custom fields the survivor's list does not
		// define are dropped, not refused: they have nowhere to go.
		for k := range keep.CustomFields {
			if !slices.ContainsFunc(list.CustomFields, func(d CustomField) bool { return d.Name == k }) {
				delete(keep.CustomFields, k)
			}
		}
		if err := m.clean(keep, list); err != nil {
			return err
		}
		if in.By > 0 {
			keep.UpdatedBy = &in.By
		}
		keep.UpdatedAt = m.stamp()
		if _, err := tx.ExecContext(ctx, `UPDATE call_log SET contact_id = ? WHERE contact_id = ?`, keep.ID, from.ID); err != nil {
			return err
		}
		if interactions {
			if _, err := tx.ExecContext(ctx, `UPDATE interactions SET contact_id = ? WHERE contact_id = ?`, keep.ID, from.ID); err != nil {
				return err
			}
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO contact_merges (survivor_id, merged_id, merged, merged_by, created_at) VALUES (?, ?, ?, ?, ?)`,
			keep.ID, from.ID, audit, nullID(in.By), keep.UpdatedAt); err != nil {
			return err
		}
		// First the removed contact, so that its external ids are free for
		// the survivor.
		if _, err := tx.ExecContext(ctx, `DELETE FROM contacts WHERE id = ?`, from.ID); err != nil {
			return err
		}
		if err := m.write(ctx, tx, keep); err != nil {
			return err
		}
		out = keep
		return nil
	})
	if err != nil {
		return nil, err
	}
	m.forget(nums...)
	return out, nil
}

func nullID(id int64) any {
	if id <= 0 {
		return nil
	}
	return id
}

// mergeInto sets keep's fields to the merge of keep and from.
func mergeInto(keep, from *Contact, chosen []string) {
	fromNewer := from.UpdatedAt.After(keep.UpdatedAt)
	pick := func(name string, k *string, f string) {
		switch {
		case len(chosen) > 0:
			if slices.Contains(chosen, name) {
				*k = f
			}
		case f != "" && (fromNewer || *k == ""):
			*k = f
		}
	}
	pick("first_name", &keep.FirstName, from.FirstName)
	pick("last_name", &keep.LastName, from.LastName)
	pick("company", &keep.Company, from.Company)
	pick("phone", &keep.Phone, from.Phone)
	pick("mobile", &keep.Mobile, from.Mobile)
	switch {
	case len(chosen) > 0:
		if slices.Contains(chosen, "owner_id") {
			keep.OwnerID = from.OwnerID
		}
	case from.OwnerID != nil && (fromNewer || keep.OwnerID == nil):
		keep.OwnerID = from.OwnerID
	}
	keep.Emails = append(keep.Emails, from.Emails...) // clean drops repeats
	keep.Tags = append(keep.Tags, from.Tags...)
	older, newer := from, keep
	if fromNewer {
		older, newer = keep, from
	}
	custom := map[string]any{}
	ext := map[string]string{}
	for _, c := range []*Contact{older, newer} {
		for k, v := range c.CustomFields {
			custom[k] = v
		}
		for k, v := range c.ExternalIDs {
			ext[k] = v
		}
	}
	keep.CustomFields, keep.ExternalIDs = custom, ext
}

func (m *Manager) getListTx(ctx context.Context, q sqlx.QueryerContext, id int64) (*List, error) {
	rows, err := q.QueryxContext(ctx, `SELECT `+listCols+` FROM contact_lists WHERE id = ?`, id)
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
	return lists[0], nil
}

// Duplicate copies a contact into another list, keeping what that list can
// hold: custom fields it does not define are left behind; an external id
// the list already has for another contact is a conflict.
func (m *Manager) Duplicate(ctx context.Context, id, listID, by int64) (*Contact, error) {
	if listID < 1 {
		return nil, fieldErr("list_id", "is required")
	}
	c, err := m.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	list, err := m.getList(ctx, listID)
	if errors.Is(err, ErrNotFound) {
		return nil, fieldErr("list_id", "no contact list has id %d", listID)
	}
	if err != nil {
		return nil, err
	}
	c.ID, c.ListID, c.Source = 0, listID, SourceManual
	for k := range c.CustomFields {
		if !slices.ContainsFunc(list.CustomFields, func(d CustomField) bool { return d.Name == k }) {
			delete(c.CustomFields, k)
		}
	}
	if err := m.clean(c, list); err != nil {
		return nil, err
	}
	if by > 0 {
		c.CreatedBy, c.UpdatedBy = &by, &by
	}
	now := m.stamp()
	c.CreatedAt, c.UpdatedAt = now, now
	if err := m.db.InTx(ctx, func(tx *sqlx.Tx) error { return m.insert(ctx, tx, c, nil) }); err != nil {
		return nil, err
	}
	return c, nil
}
