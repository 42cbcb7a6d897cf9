package contacts

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/mail"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"

	"omnicc/store"
)

// Contact is a person in a list.
type Contact struct {
	ID        int64  `json:"id"`
	ListID    int64  `json:"list_id"`
	FirstName string `json:"first_name"`
	LastName  string `json:"last_name"`
	Company   string `json:"company"`
	// Phone and Mobile are as entered; when only one is given it is copied
	// to the other (SPEC, contacts manager).
	Phone        string            `json:"phone"`
	Mobile       string            `json:"mobile"`
	Emails       []string          `json:"emails"`
	Tags         []string          `json:"tags"`
	CustomFields map[string]any    `json:"custom_fields"`
	ExternalIDs  map[string]string `json:"external_ids"`
	OwnerID      *int64            `json:"owner_id"`
	Source       string            `json:"source"`
	CreatedBy    *int64            `json:"created_by"`
	UpdatedBy    *int64            `json:"updated_by"`
	CreatedAt    time.Time         `json:"created_at"`
	UpdatedAt    time.Time         `json:"updated_at"`

	// Email is the first of Emails, kept for the callers of the first API.
	Email string `json:"-"`
}

// Name is how the contact is shown: first and last name.
func (c *Contact) Name() string { return joinName(c.FirstName, c.LastName) }

func joinName(first, last string) string { return strings.TrimSpace(first + " " + last) }

// ContactInput is a new contact. Email is a shorthand for one entry of
// Emails.
type ContactInput struct {
	ListID       int64             `json:"list_id"`
	FirstName    string            `json:"first_name"`
	LastName     string            `json:"last_name"`
	Company      string            `json:"company"`
	Phone        string            `json:"phone"`
	Mobile       string            `json:"mobile"`
	Email        string            `json:"email"`
	Emails       []string          `json:"emails"`
	Tags         []string          `json:"tags"`
	CustomFields map[string]any    `json:"custom_fields"`
	ExternalIDs  map[string]string `json:"external_ids"`
	OwnerID      *int64            `json:"owner_id"`
	// By is the user who creates the contact (0: the system).
	By int64 `json:"-"`
}

// ContactPatch changes a contact; nil fields are left alone.
type ContactPatch struct {
	FirstName    *string            `json:"first_name"`
	LastName     *string            `json:"last_name"`
	Company      *string            `json:"company"`
	Phone        *string            `json:"phone"`
	Mobile       *string            `json:"mobile"`
	Emails       *[]string          `json:"emails"`
	Tags         *[]string          `json:"tags"`
	CustomFields map[string]any     `json:"custom_fields"` // merged key by key; a null value removes the key
	ExternalIDs  *map[string]string `json:"external_ids"`
	OwnerID      *int64             `json:"owner_id"`
}

var channelName = regexp.MustCompile(`^[a-z][a-z0-9_]{0,31}$`)

// Create stores a contact. A number that does not normalise (letters, too
// long) is refused, since the contact could never be found by it.
func (m *Manager) Create(ctx context.Context, in ContactInput) (*Contact, error) {
	c := &Contact{ListID: in.ListID, FirstName: in.FirstName, LastName: in.LastName, Company: in.Company,
		Phone: in.Phone, Mobile: in.Mobile, Emails: in.Emails, Tags: in.Tags, CustomFields: in.CustomFields,
		ExternalIDs: in.ExternalIDs, OwnerID: in.OwnerID, Source: SourceManual}
	if in.Email != "" {
		c.Emails = append([]string{in.Email}, c.Emails...)
	}
	if in.By > 0 {
		c.CreatedBy, c.UpdatedBy = &in.By, &in.By
	}
	if c.ListID < 1 {
		return nil, fieldErr("list_id", "is required")
	}
	list, err := m.getList(ctx, c.ListID)
	if errors.Is(err, ErrNotFound) {
		return nil, fieldErr("list_id", "no contact list has id %d", c.ListID)
	}
	if err != nil {
		return nil, err
	}
	if err := m.clean(c, list); err != nil {
		return nil, err
	}
	now := m.stamp()
	c.CreatedAt, c.UpdatedAt = now, now
	err = m.db.InTx(ctx, func(tx *sqlx.Tx) error { return m.insert(ctx, tx, c, nil) })
	if err != nil {
		return nil, err
	}
	// A caller remembered as unknown (or as someone else) is looked up
	// afresh on the next call.
	m.forget(m.plan.Normalize(c.Phone), m.plan.Normalize(c.Mobile))
	return c, nil
}

// clean trims and checks a contact against the rules and its list's custom
// fields, normalising what is stored normalised.
func (m *Manager) clean(c *Contact, list *List) error {
	for _, s := range []*string{&c.FirstName, &c.LastName, &c.Company, &c.Phone, &c.Mobile} {
		*s = strings.TrimSpace(*s)
	}
	if c.Phone == "" {
		c.Phone = c.Mobile
	}
	if c.Mobile == "" {
		c.Mobile = c.Phone
	}
	for _, f := range []struct{ name, v string }{{"first_name", c.FirstName}, {"last_name", c.LastName}, {"company", c.Company}} {
		if len(f.v) > 128 {
			return fieldErr(f.name, "must be at most 128 characters")
		}
	}
	for _, f := range []struct{ name, v string }{{"phone", c.Phone}, {"mobile", c.Mobile}} {
		if f.v != "" && (m.plan.Normalize(f.v) == "" || len(f.v) > 64) {
			return fieldErr(f.name, "%q is not a phone number: use digits, optionally after + or 00, with spaces, dashes or parentheses", f.v)
		}
	}
	emails := []string{}
	for i, e := range c.Emails {
		e = strings.TrimSpace(e)
		if e == "" {
			continue
		}
		if a, err := mail.ParseAddress(e); err != nil || a.Address != e || len(e) > 255 {
			return fieldErr(fmt.Sprintf("emails[%d]", i), "%q is not an e-mail address", e)
		}
		if !slices.ContainsFunc(emails, func(x string) bool { return strings.EqualFold(x, e) }) {
			emails = append(emails, e)
		}
	}
	if len(emails) > 20 {
		return fieldErr("emails", "at most 20 addresses")
	}
	c.Emails = emails
	c.Email = ""
	if len(emails) > 0 {
		c.Email = emails[0]
	}
	tags := []string{}
	for i, t := range c.Tags {
		t = strings.TrimSpace(t)
		if t == "" || len(t) > 64 {
			return fieldErr(fmt.Sprintf("tags[%d]", i), "%q must be 1-64 characters", t)
		}
		if !slices.ContainsFunc(tags, func(x string) bool { return strings.EqualFold(x, t) }) {
			tags = append(tags, t)
		}
	}
	c.Tags = tags
	if c.ExternalIDs == nil {
		c.ExternalIDs = map[string]string{}
	}
	for ch, id := range c.ExternalIDs {
		switch {
		case !channelName.MatchString(ch):
			return fieldErr("external_ids."+ch, "the channel must be lower-case letters, digits or _ (e.g. whatsapp, webchat)")
		case strings.TrimSpace(id) == "" || len(id) > 191:
			return fieldErr("external_ids."+ch, "the id must be 1-191 characters")
		}
	}
	if c.FirstName == "" && c.LastName == "" && c.Company == "" && c.Phone == "" && len(c.Emails) == 0 && len(c.ExternalIDs) == 0 {
		return fieldErr("first_name", "a contact needs a name, a company, a number, an e-mail address or an external id")
	}
	return m.cleanCustom(c, list)
}

func (m *Manager) cleanCustom(c *Contact, list *List) error {
	if c.CustomFields == nil {
		c.CustomFields = map[string]any{}
	}
	defs := map[string]CustomField{}
	for _, d := range list.CustomFields {
		defs[d.Name] = d
	}
	for name := range c.CustomFields {
		if _, ok := defs[name]; !ok {
			return fieldErr("custom_fields."+name, "list %q has no such custom field", list.Name)
		}
	}
	for _, d := range list.CustomFields {
		field := "custom_fields." + d.Name
		v, ok := c.CustomFields[d.Name]
		if !ok || v == nil || v == "" {
			delete(c.CustomFields, d.Name)
			if d.Required {
				return fieldErr(field, "is required")
			}
			continue
		}
		s, isString := v.(string)
		switch d.Type {
		case FieldText:
			if !isString || len(s) > 255 {
				return fieldErr(field, "must be text of at most 255 characters")
			}
		case FieldNumber:
			var f float64
			switch x := v.(type) {
			case float64:
				f = x
			case string:
				var err error
				if f, err = strconv.ParseFloat(strings.TrimSpace(x), 64); err != nil {
					return fieldErr(field, "%q is not a number", x)
				}
			default:
				return fieldErr(field, "must be a number")
			}
			c.CustomFields[d.Name] = f
		case FieldDate:
			if _, err := time.Parse(time.DateOnly, s); !isString || err != nil {
				return fieldErr(field, "must be a date as YYYY-MM-DD")
			}
		case FieldSelect:
			if !isString || !slices.Contains(d.Options, s) {
				return fieldErr(field, "must be one of %s", strings.Join(d.Options, ", "))
			}
		}
	}
	return nil
}

// valueString is how a custom field value is kept for search: numbers
// without trailing zeros, so that cf.size=3 finds 3.0.
func valueString(v any) string {
	if f, ok := v.(float64); ok {
		return strconv.FormatFloat(f, 'f', -1, 64)
	}
	return fmt.Sprint(v)
}

// insert writes a new contact and its side tables in tx. autoKey, when set,
// is the trigger's identity (unique per list).
func (m *Manager) insert(ctx context.Context, tx *sqlx.Tx, c *Contact, autoKey *string) error {
	phoneNorm, mobileNorm := m.plan.Normalize(c.Phone), m.plan.Normalize(c.Mobile)
	res, err := tx.ExecContext(ctx, `INSERT INTO contacts (list_id, first_name, last_name, company, phone, mobile, email,
		phone_norm, mobile_norm, emails, tags, custom_fields, external_ids, owner_id, created_by, updated_by, auto_key,
		source, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		c.ListID, c.FirstName, c.LastName, c.Company, c.Phone, c.Mobile, c.Email, phoneNorm, mobileNorm,
		marshalJSON(c.Emails), marshalJSON(c.Tags), marshalJSON(c.CustomFields), marshalJSON(c.ExternalIDs),
		c.OwnerID, c.CreatedBy, c.UpdatedBy, autoKey, c.Source, c.CreatedAt, c.UpdatedAt)
	if err != nil {
		return err
	}
	if c.ID, err = res.LastInsertId(); err != nil {
		return err
	}
	return m.writeSideRows(ctx, tx, c)
}

// writeSide rewrites the searched and unique copies of a contact's data.
func (m *Manager) writeSide(ctx context.Context, tx *sqlx.Tx, c *Contact) error {
	for _, t := range []string{"contact_tokens", "contact_tags", "contact_values", "contact_emails", "contact_external_ids"} {
		if _, err := tx.ExecContext(ctx, `DELETE FROM `+t+` WHERE contact_id = ?`, c.ID); err != nil {
			return err
		}
	}
	return m.writeSideRows(ctx, tx, c)
}

// writeSideRows adds the side rows of a contact that has none.
func (m *Manager) writeSideRows(ctx context.Context, tx *sqlx.Tx, c *Contact) error {
	// One statement for all tokens: a contact has about ten, and each
	// statement is a round trip to MariaDB.
	if toks := m.tokens(c); len(toks) > 0 {
		q := `INSERT INTO contact_tokens (token, contact_id) VALUES ` + strings.Repeat(`(?, ?), `, len(toks)-1) + `(?, ?)`
		args := make([]any, 0, 2*len(toks))
		for _, tok := range toks {
			args = append(args, tok, c.ID)
		}
		if _, err := tx.ExecContext(ctx, q, args...); err != nil {
			return err
		}
	}
	for _, t := range c.Tags {
		if _, err := tx.ExecContext(ctx, m.db.InsertIgnore()+` contact_tags (contact_id, tag) VALUES (?, ?)`, c.ID, strings.ToLower(t)); err != nil {
			return err
		}
	}
	for name, v := range c.CustomFields {
		s := valueString(v)
		if len(s) > 255 {
			s = s[:255]
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO contact_values (contact_id, name, value) VALUES (?, ?, ?)`, c.ID, name, s); err != nil {
			return err
		}
	}
	for _, e := range c.Emails {
		if _, err := tx.ExecContext(ctx, m.db.InsertIgnore()+` contact_emails (contact_id, list_id, email) VALUES (?, ?, ?)`, c.ID, c.ListID, strings.ToLower(e)); err != nil {
			return err
		}
	}
	for ch, id := range c.ExternalIDs {
		_, err := tx.ExecContext(ctx, `INSERT INTO contact_external_ids (contact_id, list_id, channel, external_id) VALUES (?, ?, ?, ?)`, c.ID, c.ListID, ch, id)
		if store.IsUniqueViolation(err) {
			return &ConflictError{Field: "external_ids." + ch, Value: id}
		}
		if err != nil {
			return err
		}
	}
	return nil
}

const contactCols = `id, list_id, first_name, last_name, company, phone, mobile, email, COALESCE(emails, ''), COALESCE(tags, ''),
 COALESCE(custom_fields, ''), COALESCE(external_ids, ''), owner_id, created_by, updated_by, source, created_at, updated_at`

type rowScanner interface{ Scan(dest ...any) error }

func scanContact(r rowScanner) (*Contact, error) {
	c := &Contact{}
	var emails, tags, custom, ext string
	var owner, createdBy, updatedBy sql.NullInt64
	if err := r.Scan(&c.ID, &c.ListID, &c.FirstName, &c.LastName, &c.Company, &c.Phone, &c.Mobile, &c.Email,
		&emails, &tags, &custom, &ext, &owner, &createdBy, &updatedBy, &c.Source, &c.CreatedAt, &c.UpdatedAt); err != nil {
		return nil, err
	}
	c.CreatedAt, c.UpdatedAt = c.CreatedAt.UTC(), c.UpdatedAt.UTC()
	ptr := func(n sql.NullInt64) *int64 {
		if !n.Valid {
			return nil
		}
		return &n.Int64
	}
	c.OwnerID, c.CreatedBy, c.UpdatedBy = ptr(owner), ptr(createdBy), ptr(updatedBy)
	c.Emails, c.Tags, c.CustomFields, c.ExternalIDs = []string{}, []string{}, map[string]any{}, map[string]string{}
	for _, f := range []struct {
		raw string
		dst any
	}{{emails, &c.Emails}, {tags, &c.Tags}, {custom, &c.CustomFields}, {ext, &c.ExternalIDs}} {
		if f.raw != "" {
			if err := json.Unmarshal([]byte(f.raw), f.dst); err != nil {
				return nil, fmt.Errorf("contact %d: %w", c.ID, err)
			}
		}
	}
	// Contacts from before the e-mail list (and unknown callers) have only
	// the single column.
	if len(c.Emails) == 0 && c.Email != "" {
		c.Emails = []string{c.Email}
	}
	return c, nil
}

// Get returns one contact.
func (m *Manager) Get(ctx context.Context, id int64) (*Contact, error) {
	return m.get(ctx, m.db, id)
}

func (m *Manager) get(ctx context.Context, q sqlx.QueryerContext, id int64) (*Contact, error) {
	c, err := scanContact(q.QueryRowxContext(ctx, `SELECT `+contactCols+` FROM contacts WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("contact %d: %w", id, ErrNotFound)
	}
	return c, err
}

// GetFor returns a contact the actor may see.
func (m *Manager) GetFor(ctx context.Context, a Actor, id int64) (*Contact, error) {
	c, err := m.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	if err := m.CanUseList(ctx, a, c.ListID); err != nil {
		return nil, err
	}
	return c, nil
}

// Update applies a patch by the user by. Editing a contact makes it one of
// the editor's contacts when it has no owner yet ("my contacts").
func (m *Manager) Update(ctx context.Context, id int64, p ContactPatch, by int64) (*Contact, error) {
	var out *Contact
	var oldNums []string
	err := m.db.InTx(ctx, func(tx *sqlx.Tx) error {
		c, err := scanContact(tx.QueryRowxContext(ctx, `SELECT `+contactCols+` FROM contacts WHERE id = ?`+m.forUpdate(), id))
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("contact %d: %w", id, ErrNotFound)
		}
		if err != nil {
			return err
		}
		oldNums = []string{m.plan.Normalize(c.Phone), m.plan.Normalize(c.Mobile)}
		// Read through tx: another pooled connection could be unavailable
		// while this one holds SQLite's write lock.
		list, err := m.getListTx(ctx, tx, c.ListID)
		if err != nil {
			return err
		}
		set := func(dst *string, v *string) {
			if v != nil {
				*dst = *v
			}
		}
		set(&c.FirstName, p.FirstName)
		set(&c.LastName, p.LastName)
		set(&c.Company, p.Company)
		// A number cleared while the other stays is not copied back: the
		// copy rule is for a contact given only one number.
		if p.Phone != nil || p.Mobile != nil {
			set(&c.Phone, p.Phone)
			set(&c.Mobile, p.Mobile)
		}
		if p.Emails != nil {
			c.Emails = *p.Emails
		}
		if p.Tags != nil {
			c.Tags = *p.Tags
		}
		if p.ExternalIDs != nil {
			c.ExternalIDs = *p.ExternalIDs
		}
		for k, v := range p.CustomFields {
			if v == nil {
				delete(c.CustomFields, k)
			} else {
				c.CustomFields[k] = v
			}
		}
		// Values of fields the list no longer defines are dropped on save.
		for k := range c.CustomFields {
			if !slices.ContainsFunc(list.CustomFields, func(d CustomField) bool { return d.Name == k }) {
				if _, patched := p.CustomFields[k]; !patched {
					delete(c.CustomFields, k)
				}
			}
		}
		if p.OwnerID != nil {
			if *p.OwnerID == 0 {
				c.OwnerID = nil
			} else {
				c.OwnerID = p.OwnerID
			}
		} else if c.OwnerID == nil && by > 0 {
			c.OwnerID = &by
		}
		if err := m.clean(c, list); err != nil {
			return err
		}
		if by > 0 {
			c.UpdatedBy = &by
		}
		c.UpdatedAt = m.stamp()
		if err := m.write(ctx, tx, c); err != nil {
			return err
		}
		out = c
		return nil
	})
	if err != nil {
		return nil, err
	}
	m.forget(append(oldNums, m.plan.Normalize(out.Phone), m.plan.Normalize(out.Mobile))...)
	return out, nil
}

// write stores an existing contact's row and side tables.
func (m *Manager) write(ctx context.Context, tx *sqlx.Tx, c *Contact) error {
	_, err := tx.ExecContext(ctx, `UPDATE contacts SET list_id = ?, first_name = ?, last_name = ?, company = ?, phone = ?, mobile = ?,
		email = ?, phone_norm = ?, mobile_norm = ?, emails = ?, tags = ?, custom_fields = ?, external_ids = ?, owner_id = ?,
		updated_by = ?, updated_at = ? WHERE id = ?`,
		c.ListID, c.FirstName, c.LastName, c.Company, c.Phone, c.Mobile, c.Email, m.plan.Normalize(c.Phone), m.plan.Normalize(c.Mobile),
		marshalJSON(c.Emails), marshalJSON(c.Tags), marshalJSON(c.CustomFields), marshalJSON(c.ExternalIDs), c.OwnerID,
		c.UpdatedBy, c.UpdatedAt, c.ID)
	if err != nil {
		return err
	}
	return m.writeSide(ctx, tx, c)
}

// Delete removes a contact; its side rows go with it (foreign keys).
func (m *Manager) Delete(ctx context.Context, id int64) error {
	c, err := m.Get(ctx, id)
	if err != nil {
		return err
	}
	if _, err := m.db.ExecContext(ctx, `DELETE FROM contacts WHERE id = ?`, id); err != nil {
		return err
	}
	m.forget(m.plan.Normalize(c.Phone), m.plan.Normalize(c.Mobile))
	return nil
}
