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
	"strings"
	"time"

	"omnicc/store"
)

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

func (m *Manager) forget(numbers ...string) {
	if m.cache != nil {
		m.cache.forget(numbers...)
	}
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
		// Searchable by its number like any contact; a failure here leaves
		// the caller routable, so it is logged, not returned.
		for _, tok := range m.tokens(&Contact{FirstName: name, Phone: number, Mobile: number}) {
			if _, err := m.db.ExecContext(ctx, `INSERT INTO contact_tokens (token, contact_id) VALUES (?, ?)`, tok, id); err != nil {
				m.log.Warn("index unknown caller for search", "contact", id, "err", err)
				break
			}
		}
	}
	if m.cache != nil {
		m.cache.put(norm, c, true)
	}
	return c, created, nil
}
