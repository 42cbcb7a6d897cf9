// Package contacts is the contact manager: lists of contacts and the caller
// lookup the routing path makes on every call. It starts small — lists,
// contacts with names and numbers, lookup by normalised number, creation of
// unknown callers — and grows into the full manager of SPEC.md.
package contacts

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/mail"
	"strings"
	"time"

	"omnicc/store"
)

// ErrNotFound: no list or contact has that id.
var ErrNotFound = errors.New("not found")

// FieldError is input that breaks a rule; Field is the JSON field at fault.
type FieldError struct {
	Field   string
	Message string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Message }

func fieldErr(field, format string, a ...any) error {
	return &FieldError{Field: field, Message: fmt.Sprintf(format, a...)}
}

// ConflictError is a unique value already taken.
type ConflictError struct {
	Field string
	Value string
}

func (e *ConflictError) Error() string {
	return fmt.Sprintf("%s: %q is already taken", e.Field, e.Value)
}

// Sources of a contact.
const (
	SourceManual        = "manual"
	SourceUnknownCaller = "unknown_caller"
)

// Options configure a Manager.
type Options struct {
	Logger *slog.Logger
	Now    func() time.Time
	// Numbers is how numbers are normalised for lookup.
	Numbers NumberPlan
	// CacheTTL is how long a caller lookup is remembered (default 30s); a
	// negative value turns the cache off, so every lookup queries the
	// database (one indexed equality per number column).
	CacheTTL time.Duration
	// CacheSize bounds the remembered lookups (default 50,000, two
	// generations of it at most).
	CacheSize int
	// CallerTimeout bounds the database work of LookupCaller and
	// CreateUnknownCaller (default 500ms): they run while a caller waits
	// in silence, and routing goes on without the contact past it.
	CallerTimeout time.Duration
	// CallerDB, when set, is the pool LookupCaller and CreateUnknownCaller
	// use (store.PoolAGI): one lookup per inbound call must not queue
	// behind REST for a connection. Default: the Manager's db.
	CallerDB *store.DB
}

// Manager reads and writes contacts.
type Manager struct {
	db       *store.DB
	callerDB *store.DB
	log      *slog.Logger
	now      func() time.Time
	plan     NumberPlan
	cache    *callerCache // nil when off

	callerTimeout time.Duration
}

// New builds a Manager over an open, migrated store.
func New(db *store.DB, opts Options) (*Manager, error) {
	if err := opts.Numbers.Validate(); err != nil {
		return nil, err
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.CacheTTL == 0 {
		opts.CacheTTL = 30 * time.Second
	}
	if opts.CacheSize <= 0 {
		opts.CacheSize = 50000
	}
	if opts.CallerTimeout <= 0 {
		opts.CallerTimeout = 500 * time.Millisecond
	}
	if opts.CallerDB == nil {
		opts.CallerDB = db
	}
	m := &Manager{db: db, callerDB: opts.CallerDB, log: opts.Logger, now: opts.Now, plan: opts.Numbers.withDefaults(), callerTimeout: opts.CallerTimeout}
	if opts.CacheTTL > 0 {
		m.cache = newCallerCache(opts.CacheSize, opts.CacheTTL, opts.Now)
	}
	return m, nil
}

// Normalize is the manager's number plan applied to raw.
func (m *Manager) Normalize(raw string) string { return m.plan.Normalize(raw) }

func (m *Manager) stamp() time.Time { return m.now().UTC().Truncate(time.Microsecond) }

// List is a named list of contacts.
type List struct {
	ID          int64     `json:"id" db:"id"`
	Name        string    `json:"name" db:"name"`
	Description string    `json:"description" db:"description"`
	CreatedAt   time.Time `json:"created_at" db:"created_at"`
	UpdatedAt   time.Time `json:"updated_at" db:"updated_at"`
}

// ListInput is a new list.
type ListInput struct {
	Name        string `json:"name"`
	Description string `json:"description"`
}

// CreateList stores a new contact list.
func (m *Manager) CreateList(ctx context.Context, in ListInput) (*List, error) {
	name := strings.TrimSpace(in.Name)
	switch {
	case name == "":
		return nil, fieldErr("name", "is required")
	case len(name) > 128:
		return nil, fieldErr("name", "must be at most 128 characters")
	case len(in.Description) > 2000:
		return nil, fieldErr("description", "must be at most 2000 characters")
	}
	now := m.stamp()
	l := &List{Name: name, Description: in.Description, CreatedAt: now, UpdatedAt: now}
	res, err := m.db.ExecContext(ctx, `INSERT INTO contact_lists (name, description, created_at, updated_at) VALUES (?, ?, ?, ?)`,
		l.Name, l.Description, l.CreatedAt, l.UpdatedAt)
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

// Lists returns every contact list by name.
func (m *Manager) Lists(ctx context.Context) ([]*List, error) {
	out := []*List{}
	if err := m.db.SelectContext(ctx, &out, `SELECT id, name, description, created_at, updated_at FROM contact_lists ORDER BY name, id`); err != nil {
		return nil, err
	}
	for _, l := range out {
		l.CreatedAt, l.UpdatedAt = l.CreatedAt.UTC(), l.UpdatedAt.UTC()
	}
	return out, nil
}

// Contact is a person in a list.
type Contact struct {
	ID        int64  `json:"id" db:"id"`
	ListID    int64  `json:"list_id" db:"list_id"`
	FirstName string `json:"first_name" db:"first_name"`
	LastName  string `json:"last_name" db:"last_name"`
	// Phone and Mobile are as entered; when only one is given it is copied
	// to the other (SPEC, contacts manager).
	Phone     string    `json:"phone" db:"phone"`
	Mobile    string    `json:"mobile" db:"mobile"`
	Email     string    `json:"email" db:"email"`
	Source    string    `json:"source" db:"source"`
	CreatedAt time.Time `json:"created_at" db:"created_at"`
	UpdatedAt time.Time `json:"updated_at" db:"updated_at"`
}

// Name is how the contact is shown: first and last name.
func (c *Contact) Name() string { return joinName(c.FirstName, c.LastName) }

func joinName(first, last string) string { return strings.TrimSpace(first + " " + last) }

// ContactInput is a new contact.
type ContactInput struct {
	ListID    int64  `json:"list_id"`
	FirstName string `json:"first_name"`
	LastName  string `json:"last_name"`
	Phone     string `json:"phone"`
	Mobile    string `json:"mobile"`
	Email     string `json:"email"`
}

// Create stores a contact. A number that does not normalise (letters, too
// long) is refused, since the contact could never be found by it.
func (m *Manager) Create(ctx context.Context, in ContactInput) (*Contact, error) {
	c := &Contact{ListID: in.ListID, FirstName: strings.TrimSpace(in.FirstName), LastName: strings.TrimSpace(in.LastName),
		Phone: strings.TrimSpace(in.Phone), Mobile: strings.TrimSpace(in.Mobile), Email: strings.TrimSpace(in.Email), Source: SourceManual}
	if c.Phone == "" {
		c.Phone = c.Mobile
	}
	if c.Mobile == "" {
		c.Mobile = c.Phone
	}
	switch {
	case c.ListID < 1:
		return nil, fieldErr("list_id", "is required")
	case len(c.FirstName) > 128:
		return nil, fieldErr("first_name", "must be at most 128 characters")
	case len(c.LastName) > 128:
		return nil, fieldErr("last_name", "must be at most 128 characters")
	case c.FirstName == "" && c.LastName == "" && c.Phone == "" && c.Email == "":
		return nil, fieldErr("first_name", "a contact needs a name, a number or an e-mail address")
	}
	phoneNorm, mobileNorm := m.plan.Normalize(c.Phone), m.plan.Normalize(c.Mobile)
	if c.Phone != "" && (phoneNorm == "" || len(c.Phone) > 64) {
		return nil, fieldErr("phone", "%q is not a phone number: use digits, optionally after + or 00, with spaces, dashes or parentheses", c.Phone)
	}
	if c.Mobile != "" && (mobileNorm == "" || len(c.Mobile) > 64) {
		return nil, fieldErr("mobile", "%q is not a phone number: use digits, optionally after + or 00, with spaces, dashes or parentheses", c.Mobile)
	}
	if c.Email != "" {
		if a, err := mail.ParseAddress(c.Email); err != nil || a.Address != c.Email || len(c.Email) > 255 {
			return nil, fieldErr("email", "%q is not an e-mail address", c.Email)
		}
	}
	if err := m.listExists(ctx, c.ListID); err != nil {
		return nil, err
	}
	now := m.stamp()
	c.CreatedAt, c.UpdatedAt = now, now
	res, err := m.db.ExecContext(ctx, `INSERT INTO contacts (list_id, first_name, last_name, phone, mobile, email,
		phone_norm, mobile_norm, source, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		c.ListID, c.FirstName, c.LastName, c.Phone, c.Mobile, c.Email, phoneNorm, mobileNorm, c.Source, c.CreatedAt, c.UpdatedAt)
	if err != nil {
		return nil, err
	}
	if c.ID, err = res.LastInsertId(); err != nil {
		return nil, err
	}
	// A caller remembered as unknown (or as someone else) is looked up
	// afresh on the next call.
	m.forget(phoneNorm, mobileNorm)
	return c, nil
}

func (m *Manager) listExists(ctx context.Context, id int64) error {
	var n int
	err := m.db.GetContext(ctx, &n, `SELECT 1 FROM contact_lists WHERE id = ?`, id)
	if errors.Is(err, sql.ErrNoRows) {
		return fieldErr("list_id", "no contact list has id %d", id)
	}
	return err
}

func (m *Manager) forget(numbers ...string) {
	if m.cache != nil {
		m.cache.forget(numbers...)
	}
}

// Get returns one contact.
func (m *Manager) Get(ctx context.Context, id int64) (*Contact, error) {
	var c Contact
	err := m.db.GetContext(ctx, &c, `SELECT id, list_id, first_name, last_name, phone, mobile, email, source, created_at, updated_at
		FROM contacts WHERE id = ?`, id)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("contact %d: %w", id, ErrNotFound)
	}
	if err != nil {
		return nil, err
	}
	c.CreatedAt, c.UpdatedAt = c.CreatedAt.UTC(), c.UpdatedAt.UTC()
	return &c, nil
}

// Caller is a contact as the routing path needs it.
type Caller struct {
	ID   int64
	Name string
}

// callerQuery finds the oldest contact with the number as phone or mobile:
// two indexed equalities, as a UNION ALL so that each uses its own index on
// both engines.
const callerQuery = `SELECT id, first_name, last_name FROM contacts WHERE phone_norm = ?
 UNION ALL SELECT id, first_name, last_name FROM contacts WHERE mobile_norm = ?
 ORDER BY id LIMIT 1`

// LookupCaller finds the contact whose phone or mobile is number (in any
// form the number plan normalises). found is false for an unknown caller
// and for a number that is not one ("anonymous").
func (m *Manager) LookupCaller(ctx context.Context, number string) (c Caller, found bool, err error) {
	norm := m.plan.Normalize(number)
	if norm == "" {
		return Caller{}, false, nil
	}
	if m.cache != nil {
		if c, found, ok := m.cache.get(norm); ok {
			return c, found, nil
		}
	}
	// The timeout only on the way to the database: a cache hit should cost
	// no timer.
	ctx, cancel := context.WithTimeout(ctx, m.callerTimeout)
	defer cancel()
	var row struct {
		ID        int64  `db:"id"`
		FirstName string `db:"first_name"`
		LastName  string `db:"last_name"`
	}
	err = m.callerDB.GetContext(ctx, &row, callerQuery, norm, norm)
	switch {
	case errors.Is(err, sql.ErrNoRows):
	case err != nil:
		return Caller{}, false, fmt.Errorf("look up caller %s: %w", number, err)
	default:
		c, found = Caller{ID: row.ID, Name: joinName(row.FirstName, row.LastName)}, true
	}
	if m.cache != nil {
		m.cache.put(norm, c, found)
	}
	return c, found, nil
}

// CreateUnknownCaller adds a caller to list listID with number as phone
// and mobile and name (the caller ID name, when it is one) as first name.
// Two calls from the same new number at once create one contact: the
// database's unique key on the list and number settles the race, and the
// loser returns the winner's contact. created is false then, and when the
// number is not one that can be stored ("anonymous").
func (m *Manager) CreateUnknownCaller(ctx context.Context, listID int64, number, name string) (c Caller, created bool, err error) {
	norm := m.plan.Normalize(number)
	if norm == "" || len(number) > 64 {
		return Caller{}, false, nil
	}
	name = strings.TrimSpace(name)
	if name == number || strings.EqualFold(name, "unknown") || len(name) > 128 {
		name = ""
	}
	ctx, cancel := context.WithTimeout(ctx, m.callerTimeout)
	defer cancel()
	now := m.stamp()
	res, err := m.callerDB.ExecContext(ctx, `INSERT INTO contacts (list_id, first_name, phone, mobile, phone_norm, mobile_norm,
		auto_number, source, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		listID, name, number, number, norm, norm, norm, SourceUnknownCaller, now, now)
	switch {
	case store.IsUniqueViolation(err):
		var row struct {
			ID        int64  `db:"id"`
			FirstName string `db:"first_name"`
			LastName  string `db:"last_name"`
		}
		if err := m.callerDB.GetContext(ctx, &row, `SELECT id, first_name, last_name FROM contacts WHERE list_id = ? AND auto_number = ?`,
			listID, norm); err != nil {
			return Caller{}, false, fmt.Errorf("read the contact created for %s: %w", number, err)
		}
		c = Caller{ID: row.ID, Name: joinName(row.FirstName, row.LastName)}
	case err != nil:
		return Caller{}, false, fmt.Errorf("create a contact for caller %s in list %d: %w", number, listID, err)
	default:
		id, err := res.LastInsertId()
		if err != nil {
			return Caller{}, false, err
		}
		c, created = Caller{ID: id, Name: name}, true
	}
	if m.cache != nil {
		m.cache.put(norm, c, true)
	}
	return c, created, nil
}
