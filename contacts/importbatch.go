package contacts

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/jmoiron/sqlx"

	"omnicc/store"
)

// Import writes its rows a batch at a time: one query per kind of key
// finds the contacts of the list the batch's rows match, and new contacts
// go in with their side rows in multi-row INSERTs. Row by row, an import
// cost five round trips a row (two lookups, the contact, its tokens, its
// e-mail), which on MariaDB held it to a few hundred rows a second.
//
// The result is what writing the rows one after the other gives: a row
// matches the contacts the rows before it created or changed, in the same
// order of keys (number, external id, e-mail address), and an external id
// another contact of the list holds fails the import at that row.

// importBatchSize is how many rows Import matches and writes at a time.
var importBatchSize = 500

// maxInsertParams bounds the values of one multi-row INSERT, well under
// SQLite's 32,766 host parameters.
const maxInsertParams = 16000

// pendingID numbers the contacts a batch creates until the database gives
// them ids: above every real id, in the order they are created, as their
// ids will be.
const pendingID = int64(1) << 62

type importRow struct {
	c    *Contact
	line int
}

// importKey is what a row is matched by: kind 'n' a normalised number,
// 'x' an external id (a the channel), 'e' an e-mail address as the
// database compares it.
type importKey struct {
	kind byte
	a, b string
}

// importIndex says, for the keys of one batch, which contacts of the list
// hold them: what the database held when the batch began, changed row by
// row as the batch's rows create and update contacts.
type importIndex struct {
	owners map[importKey]map[int64]bool
	keys   map[int64][]importKey
}

func (ix *importIndex) add(k importKey, id int64) {
	o := ix.owners[k]
	if o == nil {
		o = map[int64]bool{}
		ix.owners[k] = o
	}
	if !o[id] {
		o[id] = true
		ix.keys[id] = append(ix.keys[id], k)
	}
}

// drop forgets every key of contact id: a write replaces all of them.
func (ix *importIndex) drop(id int64) {
	for _, k := range ix.keys[id] {
		delete(ix.owners[k], id)
	}
	delete(ix.keys, id)
}

// first is the oldest contact holding k, 0 for none.
func (ix *importIndex) first(k importKey) int64 {
	best := int64(0)
	for id := range ix.owners[k] {
		if best == 0 || id < best {
			best = id
		}
	}
	return best
}

// rowKeys are c's keys in the order a row is matched by them.
func (m *Manager) rowKeys(c *Contact, emailKey map[string]string) []importKey {
	var ks []importKey
	for _, n := range []string{m.plan.Normalize(c.Phone), m.plan.Normalize(c.Mobile)} {
		if n != "" {
			ks = append(ks, importKey{kind: 'n', a: n})
		}
	}
	channels := make([]string, 0, len(c.ExternalIDs))
	for ch := range c.ExternalIDs {
		channels = append(channels, ch)
	}
	slices.Sort(channels)
	for _, ch := range channels {
		ks = append(ks, importKey{kind: 'x', a: ch, b: c.ExternalIDs[ch]})
	}
	for _, e := range c.Emails {
		ks = append(ks, importKey{kind: 'e', a: emailKey[strings.ToLower(e)]})
	}
	return ks
}

// inList is "?, ?, …" for n values.
func inList(n int) string { return strings.Repeat("?, ", n-1) + "?" }

// emailKeys maps each address to what the database compares: MariaDB's
// contact_emails compares by utf8mb4_unicode_ci, so its weight string
// there; SQLite compares bytes.
func (m *Manager) emailKeys(ctx context.Context, tx *sqlx.Tx, emails []string) (map[string]string, error) {
	keys := make(map[string]string, len(emails))
	if m.db.Dialect != store.MySQL {
		for _, e := range emails {
			keys[e] = e
		}
		return keys, nil
	}
	for part := range slices.Chunk(emails, 400) {
		sel := make([]string, len(part))
		args := make([]any, 0, 2*len(part))
		for i, e := range part {
			sel[i] = `SELECT ?, HEX(WEIGHT_STRING(CONVERT(? USING utf8mb4) COLLATE utf8mb4_unicode_ci))`
			args = append(args, e, e)
		}
		rows, err := tx.QueryContext(ctx, strings.Join(sel, ` UNION ALL `), args...)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var e, w string
			if err := rows.Scan(&e, &w); err != nil {
				rows.Close()
				return nil, err
			}
			keys[e] = w
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	return keys, nil
}

// loadIndex reads which contacts of the list hold the batch's keys.
func (m *Manager) loadIndex(ctx context.Context, tx *sqlx.Tx, listID int64, batch []importRow) (*importIndex, map[string]string, error) {
	ix := &importIndex{owners: map[importKey]map[int64]bool{}, keys: map[int64][]importKey{}}
	numSet, mailSet := map[string]bool{}, map[string]bool{}
	extSet := map[string]map[string]bool{}
	for _, r := range batch {
		for _, n := range []string{m.plan.Normalize(r.c.Phone), m.plan.Normalize(r.c.Mobile)} {
			if n != "" {
				numSet[n] = true
			}
		}
		for ch, id := range r.c.ExternalIDs {
			if extSet[ch] == nil {
				extSet[ch] = map[string]bool{}
			}
			extSet[ch][id] = true
		}
		for _, e := range r.c.Emails {
			mailSet[strings.ToLower(e)] = true
		}
	}
	if len(numSet) > 0 {
		nums := sortedKeys(numSet)
		args := make([]any, 0, 2*len(nums))
		for range 2 {
			for _, n := range nums {
				args = append(args, n)
			}
		}
		// By number alone, the list checked here (as in a lookup: with
		// list_id in the WHERE, SQLite may scan the list instead).
		rows, err := tx.QueryContext(ctx, `SELECT id, list_id, phone_norm, mobile_norm FROM contacts WHERE phone_norm IN (`+inList(len(nums))+`)
			UNION SELECT id, list_id, phone_norm, mobile_norm FROM contacts WHERE mobile_norm IN (`+inList(len(nums))+`)`, args...)
		if err != nil {
			return nil, nil, err
		}
		for rows.Next() {
			var id, list int64
			var phone, mobile string
			if err := rows.Scan(&id, &list, &phone, &mobile); err != nil {
				rows.Close()
				return nil, nil, err
			}
			if list != listID {
				continue
			}
			for _, n := range []string{phone, mobile} {
				if numSet[n] {
					ix.add(importKey{kind: 'n', a: n}, id)
				}
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, nil, err
		}
	}
	for _, ch := range sortedKeys(extSet) {
		ids := sortedKeys(extSet[ch])
		args := []any{listID, ch}
		for _, id := range ids {
			args = append(args, id)
		}
		var hits []struct {
			ContactID  int64  `db:"contact_id"`
			ExternalID string `db:"external_id"`
		}
		if err := tx.SelectContext(ctx, &hits, `SELECT contact_id, external_id FROM contact_external_ids
			WHERE list_id = ? AND channel = ? AND external_id IN (`+inList(len(ids))+`)`, args...); err != nil {
			return nil, nil, err
		}
		for _, h := range hits {
			ix.add(importKey{kind: 'x', a: ch, b: h.ExternalID}, h.ContactID)
		}
	}
	mails := sortedKeys(mailSet)
	emailKey, err := m.emailKeys(ctx, tx, mails)
	if err != nil {
		return nil, nil, err
	}
	if len(mails) > 0 {
		args := []any{listID}
		for _, e := range mails {
			args = append(args, e)
		}
		col := `email`
		if m.db.Dialect == store.MySQL {
			col = `HEX(WEIGHT_STRING(email))`
		}
		rows, err := tx.QueryContext(ctx, `SELECT contact_id, `+col+` FROM contact_emails WHERE list_id = ? AND email IN (`+inList(len(mails))+`)`, args...)
		if err != nil {
			return nil, nil, err
		}
		for rows.Next() {
			var id int64
			var k string
			if err := rows.Scan(&id, &k); err != nil {
				rows.Close()
				return nil, nil, err
			}
			ix.add(importKey{kind: 'e', a: k}, id)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, nil, err
		}
	}
	return ix, emailKey, nil
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

func importConflict(line int, err error) error {
	return fmt.Errorf("line %d: %w (another contact of the list has it; no row was imported)", line, err)
}

// importBatch matches and writes rows (UpdatedAt and UpdatedBy set): the
// updates one by one, in row order, then the new contacts together.
func (m *Manager) importBatch(ctx context.Context, tx *sqlx.Tx, listID int64, batch []importRow) (created, updated int, err error) {
	ix, emailKey, err := m.loadIndex(ctx, tx, listID, batch)
	if err != nil {
		return 0, 0, err
	}
	var news []importRow // by pending id - pendingID
	var updates []importRow
	olds := map[int64]*Contact{}
	for _, r := range batch {
		c := r.c
		keys := m.rowKeys(c, emailKey)
		id := int64(0)
		for _, k := range keys {
			if id = ix.first(k); id != 0 {
				break
			}
		}
		switch {
		case id == 0:
			c.CreatedAt, c.CreatedBy = c.UpdatedAt, c.UpdatedBy
			id = pendingID + int64(len(news))
			news = append(news, r)
			created++
		case id >= pendingID:
			// A contact an earlier row of the batch creates: created with
			// this row's values instead.
			prev := news[id-pendingID].c
			c.CreatedAt, c.CreatedBy, c.OwnerID, c.Source = prev.CreatedAt, prev.CreatedBy, prev.OwnerID, prev.Source
			news[id-pendingID] = r
			updated++
		default:
			old := olds[id]
			if old == nil {
				if old, err = m.get(ctx, tx, id); err != nil {
					return 0, 0, err
				}
				olds[id] = old
			}
			c.ID, c.CreatedAt, c.CreatedBy, c.OwnerID, c.Source = old.ID, old.CreatedAt, old.CreatedBy, old.OwnerID, old.Source
			updates = append(updates, r)
			updated++
		}
		for _, k := range keys {
			if k.kind != 'x' {
				continue
			}
			for owner := range ix.owners[k] {
				if owner != id {
					return 0, 0, importConflict(r.line, &ConflictError{Field: "external_ids." + k.a, Value: k.b})
				}
			}
		}
		ix.drop(id)
		for _, k := range keys {
			ix.add(k, id)
		}
	}
	for _, r := range updates {
		err := m.write(ctx, tx, r.c)
		var ce *ConflictError
		if errors.As(err, &ce) {
			return 0, 0, importConflict(r.line, err)
		}
		if err != nil {
			return 0, 0, err
		}
	}
	if err := m.insertImported(ctx, tx, news); err != nil {
		return 0, 0, err
	}
	return created, updated, nil
}

// insertRows runs head (INSERT … INTO t (cols)) with rows of width values
// from args, as few statements as maxInsertParams allows.
func insertRows(ctx context.Context, tx *sqlx.Tx, head string, width int, args []any) error {
	row := "(" + inList(width) + ")"
	per := maxInsertParams / width
	for len(args) > 0 {
		n := min(per, len(args)/width)
		if _, err := tx.ExecContext(ctx, head+` VALUES `+strings.Repeat(row+", ", n-1)+row, args[:n*width]...); err != nil {
			return err
		}
		args = args[n*width:]
	}
	return nil
}

// insertImported creates the contacts of a batch and their side rows.
func (m *Manager) insertImported(ctx context.Context, tx *sqlx.Tx, rows []importRow) error {
	if len(rows) == 0 {
		return nil
	}
	const width = 19
	for part := range slices.Chunk(rows, maxInsertParams/width) {
		args := make([]any, 0, width*len(part))
		for _, r := range part {
			c := r.c
			args = append(args, c.ListID, c.FirstName, c.LastName, c.Company, c.Phone, c.Mobile, c.Email,
				m.plan.Normalize(c.Phone), m.plan.Normalize(c.Mobile), marshalJSON(c.Emails), marshalJSON(c.Tags),
				marshalJSON(c.CustomFields), marshalJSON(c.ExternalIDs), c.OwnerID, c.CreatedBy, c.UpdatedBy,
				c.Source, c.CreatedAt, c.UpdatedAt)
		}
		row := "(" + inList(width) + ")"
		// Both engines number the rows of one INSERT upwards in the order
		// of its VALUES: sorted, the ids returned are the rows' in order.
		var ids []int64
		if err := tx.SelectContext(ctx, &ids, `INSERT INTO contacts (list_id, first_name, last_name, company, phone, mobile, email,
			phone_norm, mobile_norm, emails, tags, custom_fields, external_ids, owner_id, created_by, updated_by,
			source, created_at, updated_at) VALUES `+strings.Repeat(row+", ", len(part)-1)+row+` RETURNING id`, args...); err != nil {
			return err
		}
		if len(ids) != len(part) {
			return fmt.Errorf("import: %d contacts inserted, %d ids returned", len(part), len(ids))
		}
		slices.Sort(ids)
		for i, r := range part {
			r.c.ID = ids[i]
		}
	}
	var toks, tags, values, emails, exts []any
	for _, r := range rows {
		c := r.c
		for _, t := range m.tokens(c) {
			toks = append(toks, t, c.ID)
		}
		for _, t := range c.Tags {
			tags = append(tags, c.ID, strings.ToLower(t))
		}
		for name, v := range c.CustomFields {
			s := valueString(v)
			if len(s) > 255 {
				s = s[:255]
			}
			values = append(values, c.ID, name, s)
		}
		for _, e := range c.Emails {
			emails = append(emails, c.ID, c.ListID, strings.ToLower(e))
		}
		for ch, id := range c.ExternalIDs {
			exts = append(exts, c.ID, c.ListID, ch, id)
		}
	}
	for _, ins := range []struct {
		head  string
		width int
		args  []any
	}{
		{`INSERT INTO contact_tokens (token, contact_id)`, 2, toks},
		{m.db.InsertIgnore() + ` contact_tags (contact_id, tag)`, 2, tags},
		{`INSERT INTO contact_values (contact_id, name, value)`, 3, values},
		{m.db.InsertIgnore() + ` contact_emails (contact_id, list_id, email)`, 3, emails},
	} {
		if err := insertRows(ctx, tx, ins.head, ins.width, ins.args); err != nil {
			return err
		}
	}
	const extHead = `INSERT INTO contact_external_ids (contact_id, list_id, channel, external_id)`
	err := insertRows(ctx, tx, extHead, 4, exts)
	if !store.IsUniqueViolation(err) {
		return err
	}
	// Another writer took one of the ids since the batch was matched: say
	// at which row. The failed statement wrote nothing.
	for _, r := range rows {
		for ch, id := range r.c.ExternalIDs {
			var owner int64
			qerr := tx.GetContext(ctx, &owner, `SELECT COALESCE(MIN(contact_id), 0) FROM contact_external_ids WHERE list_id = ? AND channel = ? AND external_id = ?`, r.c.ListID, ch, id)
			if qerr != nil {
				return qerr
			}
			if owner != 0 && owner != r.c.ID {
				return importConflict(r.line, &ConflictError{Field: "external_ids." + ch, Value: id})
			}
		}
	}
	return err
}
