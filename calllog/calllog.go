// Package calllog keeps the routing decisions FastAGI makes — which route a
// call matched and where it went, or why none could be chosen — written
// behind the calls in batches and listed for admins.
package calllog

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"omnicc/store"
)

// Directions of a decision.
const (
	Inbound  = "inbound"
	Outbound = "outbound"
)

// Entry is one routing decision.
type Entry struct {
	ID        int64     `json:"id"`
	At        time.Time `json:"at"`
	Direction string    `json:"direction"`
	// UniqueID and LinkedID are Asterisk's, to join with CDRs and
	// queue_log; LinkedID is empty when the dialplan did not pass it.
	UniqueID   string `json:"uniqueid"`
	LinkedID   string `json:"linkedid"`
	Channel    string `json:"channel"`
	Caller     string `json:"caller"`
	CallerName string `json:"caller_name"`
	// DID is the number called (inbound) or dialled (outbound).
	DID string `json:"did"`
	// Route is the route that matched; Chain every route the call went
	// through when routes chain.
	Route string   `json:"route"`
	Chain []string `json:"route_chain"`
	// DestType and Dest are the destination (OMNICC_DEST_TYPE and
	// OMNICC_DEST); for outbound calls "external" and the dial string.
	DestType string `json:"dest_type"`
	Dest     string `json:"dest"`
	// Open is false when the call took a closed (out of hours) branch.
	Open           bool   `json:"open"`
	ContactID      *int64 `json:"contact_id"`
	ContactCreated bool   `json:"contact_created"`
	// Error is why no destination could be chosen (OMNICC_ERROR).
	Error string `json:"error"`
}

// columns and their widths in the migration; values are cut to fit, so a
// hostile caller ID cannot make a whole batch fail on MySQL's strict mode.
var columns = []struct {
	name  string
	width int
}{
	{"at", 0}, {"direction", 8}, {"uniqueid", 150}, {"linkedid", 150}, {"channel", 128}, {"caller", 80},
	{"caller_name", 128}, {"did", 80}, {"route", 128}, {"route_chain", 512}, {"dest_type", 16}, {"dest", 255},
	{"is_open", 0}, {"contact_id", 0}, {"contact_created", 0}, {"error", 255},
}

func (e *Entry) values() []any {
	w := func(i int, s string) string { return fit(s, columns[i].width) }
	return []any{e.At.UTC().Truncate(time.Microsecond), w(1, e.Direction), w(2, e.UniqueID), w(3, e.LinkedID),
		w(4, e.Channel), w(5, e.Caller), w(6, e.CallerName), w(7, e.DID), w(8, e.Route),
		w(9, strings.Join(e.Chain, ",")), w(10, e.DestType), w(11, e.Dest), e.Open, e.ContactID, e.ContactCreated, w(15, e.Error)}
}

// fit makes s valid UTF-8 of at most n characters.
func fit(s string, n int) string {
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "?")
	}
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n])
}

// Options configure a Log.
type Options struct {
	Logger *slog.Logger
	// Now stamps entries recorded without a time (default time.Now).
	Now func() time.Time
	// BatchSize is the most rows one INSERT writes (default 50). Larger
	// batches cost little less per row (prepared, SQLite: ~15µs a row
	// either way) but hold a core longer: on a small box shared with the
	// calls, short writes keep the calls' tail latency down.
	BatchSize int
	// FlushEvery is the longest an entry waits before it is written
	// (default 250ms).
	FlushEvery time.Duration
	// QueueSize is how many entries may wait in memory (default 65,536):
	// past it — the database down for long — new entries are dropped and
	// counted rather than slow down calls.
	QueueSize int
	// ShutdownTimeout bounds the final write when Run stops (default 10s).
	ShutdownTimeout time.Duration
}

// Log records routing decisions. Record never blocks the call: entries go
// through a queue that Run writes in batches. When Run stops it writes
// everything queued; entries recorded after that (the AGI server's drain
// may still be finishing calls) are written one by one, so none is lost
// whichever of the two stops first.
type Log struct {
	db   *store.DB
	log  *slog.Logger
	opts Options

	queue   chan Entry
	flushes chan chan error
	dropped atomic.Uint64

	mu      sync.RWMutex // state changes; Record holds it shared
	stopped bool
	started bool

	// full is the INSERT of a whole batch, prepared once: parsing a
	// statement of BatchSize rows is a good part of running it.
	stmtMu     sync.Mutex
	full       *sql.Stmt
	stmtClosed bool
}

// New returns a Log over an open, migrated store.
func New(db *store.DB, opts Options) *Log {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.BatchSize <= 0 {
		opts.BatchSize = 50
	}
	if opts.FlushEvery <= 0 {
		opts.FlushEvery = 250 * time.Millisecond
	}
	if opts.QueueSize <= 0 {
		opts.QueueSize = 1 << 16
	}
	if opts.ShutdownTimeout <= 0 {
		opts.ShutdownTimeout = 10 * time.Second
	}
	return &Log{db: db, log: opts.Logger, opts: opts, queue: make(chan Entry, opts.QueueSize), flushes: make(chan chan error)}
}

// Dropped is how many entries were dropped because the queue was full.
func (l *Log) Dropped() uint64 { return l.dropped.Load() }

// Record queues e for writing.
func (l *Log) Record(e Entry) {
	if e.At.IsZero() {
		e.At = l.opts.Now()
	}
	l.mu.RLock()
	if !l.stopped {
		select {
		case l.queue <- e:
		default:
			// Logged at the 1st, 2nd, 4th, 8th… drop: a trail, not a flood.
			if n := l.dropped.Add(1); n&(n-1) == 0 {
				l.log.Error("call log: queue full (is the database down?); dropping entries", "dropped", n, "uniqueid", e.UniqueID)
			}
		}
		l.mu.RUnlock()
		return
	}
	l.mu.RUnlock()
	ctx, cancel := context.WithTimeout(context.Background(), l.opts.ShutdownTimeout)
	defer cancel()
	if err := l.insert(ctx, []Entry{e}); err != nil {
		l.log.Error("call log: cannot write an entry after shutdown", "err", err, "uniqueid", e.UniqueID)
	}
}

// Run writes queued entries until ctx ends, then writes what is left and
// returns. It returns an error only when it is run twice.
func (l *Log) Run(ctx context.Context) error {
	l.mu.Lock()
	if l.started {
		l.mu.Unlock()
		return errors.New("calllog: Run called twice")
	}
	l.started = true
	l.mu.Unlock()

	tick := time.NewTicker(l.opts.FlushEvery)
	defer tick.Stop()
	var (
		batch    = make([]Entry, 0, l.opts.BatchSize)
		failing  bool
		lastWarn time.Time
	)
	// flush writes batch; on failure the batch is kept for the next tick
	// and the queue is no longer read beyond a few batches, so that memory
	// stays bounded by QueueSize while the database is away.
	flush := func(ctx context.Context) error {
		if len(batch) == 0 {
			return nil
		}
		err := l.insert(ctx, batch)
		if err != nil {
			if !failing || time.Since(lastWarn) > 30*time.Second {
				l.log.Error("call log: cannot write entries; retrying", "entries", len(batch), "err", err)
				lastWarn = time.Now()
			}
			failing = true
			return err
		}
		if failing {
			l.log.Info("call log: writing again", "entries", len(batch))
		}
		failing = false
		batch = batch[:0]
		return nil
	}
	defer l.closeStmt()
	for {
		queue := l.queue
		if len(batch) >= l.opts.BatchSize*8 {
			queue = nil // stop taking entries until the backlog is written
		}
		select {
		case e := <-queue:
			batch = append(batch, e)
			if len(batch) >= l.opts.BatchSize && !failing {
				_ = flush(ctx)
			}
		case <-tick.C:
			_ = flush(ctx)
		case reply := <-l.flushes:
			batch = l.drain(batch)
			reply <- flush(ctx)
		case <-ctx.Done():
			l.mu.Lock()
			l.stopped = true // from here on Record writes by itself
			l.mu.Unlock()
			batch = l.drain(batch)
			sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), l.opts.ShutdownTimeout)
			defer cancel()
			for flush(sctx) != nil {
				select {
				case <-sctx.Done():
					l.log.Error("call log: entries lost at shutdown: the database did not take them in time", "entries", len(batch))
					return nil
				case <-time.After(100 * time.Millisecond):
				}
			}
			return nil
		}
	}
}

// drain moves every queued entry into batch.
func (l *Log) drain(batch []Entry) []Entry {
	for {
		select {
		case e := <-l.queue:
			batch = append(batch, e)
		default:
			return batch
		}
	}
}

// Flush waits until every entry recorded before it is written. Run must
// be running.
func (l *Log) Flush(ctx context.Context) error {
	reply := make(chan error, 1)
	select {
	case l.flushes <- reply:
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-reply:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// insert writes entries in statements of BatchSize rows. A statement the
// database refuses for its content (not for being unreachable) is retried
// row by row, and rows still refused are logged and skipped: one bad row
// must not hold every later decision back.
func (l *Log) insert(ctx context.Context, entries []Entry) error {
	for len(entries) > 0 {
		n := min(len(entries), l.opts.BatchSize)
		err := l.insertRows(ctx, entries[:n])
		if err != nil && !store.IsUnavailable(err) && ctx.Err() == nil && n > 1 {
			for i := range entries[:n] {
				if err := l.insertRows(ctx, entries[i:i+1]); err != nil {
					if store.IsUnavailable(err) || ctx.Err() != nil {
						return err
					}
					l.log.Error("call log: entry refused by the database; skipped", "err", err, "uniqueid", entries[i].UniqueID)
				}
			}
			err = nil
		}
		if err != nil {
			return err
		}
		entries = entries[n:]
	}
	return nil
}

var insertHead, insertRow = func() (string, string) {
	names := make([]string, len(columns))
	for i, c := range columns {
		names[i] = c.name
	}
	return "INSERT INTO call_log (" + strings.Join(names, ", ") + ") VALUES ",
		"(" + strings.TrimSuffix(strings.Repeat("?, ", len(columns)), ", ") + ")"
}()

// insertSQL is the INSERT of n rows.
func insertSQL(n int) string {
	var q strings.Builder
	q.WriteString(insertHead)
	for i := range n {
		if i > 0 {
			q.WriteString(", ")
		}
		q.WriteString(insertRow)
	}
	return q.String()
}

func (l *Log) insertRows(ctx context.Context, entries []Entry) error {
	args := make([]any, 0, len(entries)*len(columns))
	for i := range entries {
		args = append(args, entries[i].values()...)
	}
	if len(entries) == l.opts.BatchSize {
		if stmt := l.fullBatchStmt(ctx); stmt != nil {
			_, err := stmt.ExecContext(ctx, args...)
			return err
		}
	}
	_, err := l.db.ExecContext(ctx, insertSQL(len(entries)), args...)
	return err
}

// fullBatchStmt prepares the full-batch INSERT on first use; nil when it
// cannot (the plain statement then does the work) or after Run.
func (l *Log) fullBatchStmt(ctx context.Context) *sql.Stmt {
	l.stmtMu.Lock()
	defer l.stmtMu.Unlock()
	if l.full == nil && !l.stmtClosed {
		if st, err := l.db.PrepareContext(ctx, insertSQL(l.opts.BatchSize)); err == nil {
			l.full = st
		}
	}
	return l.full
}

func (l *Log) closeStmt() {
	l.stmtMu.Lock()
	defer l.stmtMu.Unlock()
	if l.full != nil {
		l.full.Close()
		l.full = nil
	}
	l.stmtClosed = true
}

// Filter selects entries for a list; zero fields select everything.
type Filter struct {
	DID    string
	Caller string
	// From and To bound At: From ≤ At < To.
	From, To  time.Time
	Direction string
	Page      int
	PerPage   int
}

// MaxPerPage bounds list pages.
const MaxPerPage = 500

// FieldError is a filter that cannot be used; Field is the query parameter.
type FieldError struct {
	Field   string
	Message string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Message }

// List returns a page of entries, newest first, and the total.
func (l *Log) List(ctx context.Context, f Filter) ([]Entry, int, error) {
	page, per := f.Page, f.PerPage
	if page == 0 {
		page = 1
	}
	if per == 0 {
		per = 50
	}
	switch {
	case page < 1:
		return nil, 0, &FieldError{"page", fmt.Sprintf("%d must be 1 or more", page)}
	case per < 1 || per > MaxPerPage:
		return nil, 0, &FieldError{"per_page", fmt.Sprintf("%d must be between 1 and %d", per, MaxPerPage)}
	case !f.From.IsZero() && !f.To.IsZero() && !f.To.After(f.From):
		return nil, 0, &FieldError{"to", "must be after from"}
	case f.Direction != "" && f.Direction != Inbound && f.Direction != Outbound:
		return nil, 0, &FieldError{"direction", fmt.Sprintf("%q must be inbound or outbound", f.Direction)}
	}
	where := []string{"1 = 1"}
	var args []any
	for _, c := range []struct {
		col string
		v   string
	}{{"did", f.DID}, {"caller", f.Caller}, {"direction", f.Direction}} {
		switch {
		case c.v == "":
		case c.col != "direction" && strings.HasSuffix(c.v, "*"):
			// A trailing * matches every number that starts with the rest
			// (caller=+3906*): what is typed to find a city or a carrier.
			where = append(where, c.col+" LIKE ? ESCAPE '!'")
			args = append(args, strings.NewReplacer("!", "!!", "%", "!%", "_", "!_").Replace(strings.TrimSuffix(c.v, "*"))+"%")
		default:
			where = append(where, c.col+" = ?")
			args = append(args, c.v)
		}
	}
	if !f.From.IsZero() {
		where = append(where, "at >= ?")
		args = append(args, f.From.UTC().Truncate(time.Microsecond))
	}
	if !f.To.IsZero() {
		where = append(where, "at < ?")
		args = append(args, f.To.UTC().Truncate(time.Microsecond))
	}
	cond := " WHERE " + strings.Join(where, " AND ")
	var total int
	if err := l.db.GetContext(ctx, &total, "SELECT COUNT(*) FROM call_log"+cond, args...); err != nil {
		return nil, 0, err
	}
	var rows []struct {
		ID             int64     `db:"id"`
		At             time.Time `db:"at"`
		Direction      string    `db:"direction"`
		UniqueID       string    `db:"uniqueid"`
		LinkedID       string    `db:"linkedid"`
		Channel        string    `db:"channel"`
		Caller         string    `db:"caller"`
		CallerName     string    `db:"caller_name"`
		DID            string    `db:"did"`
		Route          string    `db:"route"`
		Chain          string    `db:"route_chain"`
		DestType       string    `db:"dest_type"`
		Dest           string    `db:"dest"`
		Open           bool      `db:"is_open"`
		ContactID      *int64    `db:"contact_id"`
		ContactCreated bool      `db:"contact_created"`
		Error          string    `db:"error"`
	}
	if err := l.db.SelectContext(ctx, &rows, `SELECT id, at, direction, uniqueid, linkedid, channel, caller, caller_name, did,
		route, route_chain, dest_type, dest, is_open, contact_id, contact_created, error FROM call_log`+cond+
		` ORDER BY at DESC, id DESC LIMIT ? OFFSET ?`, append(args, per, (page-1)*per)...); err != nil {
		return nil, 0, err
	}
	out := make([]Entry, len(rows))
	for i, r := range rows {
		out[i] = Entry{ID: r.ID, At: r.At.UTC(), Direction: r.Direction, UniqueID: r.UniqueID, LinkedID: r.LinkedID,
			Channel: r.Channel, Caller: r.Caller, CallerName: r.CallerName, DID: r.DID, Route: r.Route, Chain: []string{},
			DestType: r.DestType, Dest: r.Dest, Open: r.Open, ContactID: r.ContactID, ContactCreated: r.ContactCreated, Error: r.Error}
		if r.Chain != "" {
			out[i].Chain = strings.Split(r.Chain, ",")
		}
	}
	return out, total, nil
}
