package directory

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/jmoiron/sqlx"

	"omnicc/store"
)

// Projector keeps rows derived from the directory — Asterisk's realtime
// tables — in step with it. Every method runs inside the directory's own
// transaction, so a failure in the projection rolls the whole change back.
type Projector interface {
	// AgentSaved is called after an agent row is written; before is nil on create.
	AgentSaved(ctx context.Context, tx *sqlx.Tx, before, after *Agent) error
	AgentDeleted(ctx context.Context, tx *sqlx.Tx, a *Agent) error
	// QueueSaved is called after a queue row is written; before is nil on create.
	QueueSaved(ctx context.Context, tx *sqlx.Tx, before, after *Queue) error
	QueueDeleted(ctx context.Context, tx *sqlx.Tx, q *Queue) error
	// MembershipChanged is called after an agent↔queue link is added,
	// changed or removed; the projector reads the current state itself.
	MembershipChanged(ctx context.Context, tx *sqlx.Tx, queueID, agentID int64) error
}

// NopProjector derives nothing.
type NopProjector struct{}

func (NopProjector) AgentSaved(context.Context, *sqlx.Tx, *Agent, *Agent) error { return nil }
func (NopProjector) AgentDeleted(context.Context, *sqlx.Tx, *Agent) error       { return nil }
func (NopProjector) QueueSaved(context.Context, *sqlx.Tx, *Queue, *Queue) error { return nil }
func (NopProjector) QueueDeleted(context.Context, *sqlx.Tx, *Queue) error       { return nil }
func (NopProjector) MembershipChanged(context.Context, *sqlx.Tx, int64, int64) error {
	return nil
}

// Change tells listeners, after commit, that an entity changed.
type Change struct {
	Entity string `json:"entity"` // "agent", "queue", "membership", "team", ...
	Op     string `json:"op"`     // "create", "update", "delete"
	ID     int64  `json:"id"`
	// QueueID is set for membership changes (ID is then the agent).
	QueueID int64 `json:"queue_id,omitempty"`
	// Remote is set on a change another instance made (NotifyRemote):
	// its listeners refresh what they cache, and nothing is sent on.
	Remote bool `json:"-"`
}

// Options are the directory's rules that come from configuration.
type Options struct {
	ExtensionLow, ExtensionHigh int
	// SecuritySuite turns the password policy on.
	SecuritySuite bool
	// BcryptCost is the password hashing cost; 0 means bcrypt's default.
	BcryptCost int
	Projector  Projector
	Logger     *slog.Logger
	Now        func() time.Time
}

// Directory reads and writes the configuration.
type Directory struct {
	db   *store.DB
	opts Options
	log  *slog.Logger

	mu        sync.RWMutex
	listeners []func(Change)
	extMu     sync.Mutex // serialises extension allocation
}

// New builds a Directory over an open, migrated store.
func New(db *store.DB, opts Options) *Directory {
	if opts.Projector == nil {
		opts.Projector = NopProjector{}
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.ExtensionHigh == 0 {
		opts.ExtensionLow, opts.ExtensionHigh = 1000, 1999
	}
	return &Directory{db: db, opts: opts, log: opts.Logger}
}

// DB is the store the directory writes to, for packages that extend it.
func (d *Directory) DB() *store.DB { return d.db }

// OnChange registers fn to be told of every committed change. fn runs on the
// writer's goroutine and must not block.
func (d *Directory) OnChange(fn func(Change)) {
	d.mu.Lock()
	d.listeners = append(d.listeners, fn)
	d.mu.Unlock()
}

// NotifyRemote tells the listeners of a change another instance sharing
// the database made (its ChangeEvent, over the event fan-out), so caches
// and indexes built from the directory follow it.
func (d *Directory) NotifyRemote(c Change) {
	c.Remote = true
	d.notify(c)
}

func (d *Directory) notify(changes ...Change) {
	d.mu.RLock()
	ls := d.listeners
	d.mu.RUnlock()
	for _, c := range changes {
		for _, fn := range ls {
			fn(c)
		}
	}
}

func (d *Directory) now() time.Time { return d.opts.Now().UTC().Truncate(time.Microsecond) }

// uniqueField maps a unique-constraint error to the JSON field it protects;
// both engines name the index or column in their message.
func uniqueField(err error, candidates ...string) string {
	msg := err.Error()
	for _, c := range candidates {
		if strings.Contains(msg, c) {
			return c
		}
	}
	if len(candidates) > 0 {
		return candidates[0]
	}
	return ""
}
