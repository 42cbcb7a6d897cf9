package contacts

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/jmoiron/sqlx"

	"omnicc/store"
)

// SourceTrigger marks contacts created for an unknown sender.
const SourceTrigger = "trigger"

// Identity is what an entry point knows of a sender: the channel's id for
// it (a WhatsApp wa_id, a web chat user id), a number, an e-mail address,
// a display name.
type Identity struct {
	Channel    string
	ExternalID string
	Phone      string
	Email      string
	Name       string
}

// FindOrCreate is the trigger of an entry point (a WhatsApp account, a chat
// website, an inbound route): the contact the sender is, matched by external
// id, then number, then e-mail address in any list (the trigger's list
// first), or else a new contact in listID. Concurrent first messages from
// one new sender create one contact: the new contact carries a key unique
// per list (auto_key), so the database refuses the second insert and that
// caller returns the first one's contact with created false.
func (m *Manager) FindOrCreate(ctx context.Context, listID int64, who Identity) (c *Contact, created bool, err error) {
	who.Channel, who.ExternalID = strings.TrimSpace(who.Channel), strings.TrimSpace(who.ExternalID)
	who.Email = strings.TrimSpace(who.Email)
	if who.Channel == "" && who.ExternalID != "" {
		return nil, false, fieldErr("channel", "is required with an external id")
	}
	phone := m.plan.Normalize(who.Phone)
	if c, err := m.match(ctx, listID, who, phone); err != nil || c != nil {
		return c, false, err
	}
	var key string
	switch {
	case who.ExternalID != "":
		key = "ext:" + who.Channel + ":" + who.ExternalID
	case phone != "":
		key = "tel:" + phone
	case who.Email != "":
		key = "mail:" + strings.ToLower(who.Email)
	default:
		return nil, false, fieldErr("external_id", "a sender needs an external id, a number or an e-mail address")
	}
	if len(key) > 255 {
		return nil, false, fieldErr("external_id", "is too long")
	}
	list, err := m.getList(ctx, listID)
	if errors.Is(err, ErrNotFound) {
		return nil, false, fieldErr("list_id", "no contact list has id %d", listID)
	}
	if err != nil {
		return nil, false, err
	}
	first, last, _ := strings.Cut(strings.TrimSpace(who.Name), " ")
	n := &Contact{ListID: listID, FirstName: first, LastName: last, Source: SourceTrigger}
	if phone != "" {
		n.Phone = who.Phone
	}
	if who.Email != "" {
		n.Emails = []string{who.Email}
	}
	if who.ExternalID != "" {
		n.ExternalIDs = map[string]string{who.Channel: who.ExternalID}
	}
	if err := m.clean(n, list); err != nil {
		// A required custom field cannot be known for a stranger: create
		// the contact without it rather than lose the customer.
		var fe *FieldError
		if !errors.As(err, &fe) || !strings.HasPrefix(fe.Field, "custom_fields.") {
			return nil, false, err
		}
	}
	if len(n.FirstName) > 128 {
		n.FirstName = n.FirstName[:128]
	}
	if len(n.LastName) > 128 {
		n.LastName = n.LastName[:128]
	}
	now := m.stamp()
	n.CreatedAt, n.UpdatedAt = now, now
	err = m.db.InTx(ctx, func(tx *sqlx.Tx) error { return m.insert(ctx, tx, n, &key) })
	var ce *ConflictError
	if store.IsUniqueViolation(err) || errors.As(err, &ce) {
		// Another sender's message won the race: theirs is the contact.
		c, err := m.match(ctx, listID, who, phone)
		if err == nil && c == nil {
			err = fmt.Errorf("contact for %s: created concurrently but not found", key)
		}
		return c, false, err
	}
	if err != nil {
		return nil, false, err
	}
	m.forget(phone)
	return n, true, nil
}

// match finds the oldest contact with the identity, preferring listID.
func (m *Manager) match(ctx context.Context, listID int64, who Identity, phone string) (*Contact, error) {
	type probe struct {
		ok   bool
		q    string
		args []any
	}
	for _, p := range []probe{
		{who.ExternalID != "", `SELECT contact_id AS id, list_id FROM contact_external_ids WHERE channel = ? AND external_id = ?`, []any{who.Channel, who.ExternalID}},
		{phone != "", `SELECT id, list_id FROM contacts WHERE phone_norm = ? UNION SELECT id, list_id FROM contacts WHERE mobile_norm = ?`, []any{phone, phone}},
		{who.Email != "", `SELECT contact_id AS id, list_id FROM contact_emails WHERE email = ?`, []any{strings.ToLower(who.Email)}},
	} {
		if !p.ok {
			continue
		}
		var id int64
		err := m.db.GetContext(ctx, &id, `SELECT id FROM (`+p.q+`) x ORDER BY CASE WHEN list_id = ? THEN 0 ELSE 1 END, id LIMIT 1`, append(p.args, listID)...)
		if errors.Is(err, sql.ErrNoRows) {
			continue
		}
		if err != nil {
			return nil, err
		}
		c, err := m.Get(ctx, id)
		if errors.Is(err, ErrNotFound) {
			continue // removed in between
		}
		return c, err
	}
	return nil, nil
}
