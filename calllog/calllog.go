// Package calllog keeps the routing decisions FastAGI makes — which route a
// call matched and where it went, or why none could be chosen — written
// behind the calls in batches and listed for admins.
package calllog

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/jmoiron/sqlx"
	"github.com/prometheus/client_golang/prometheus"

	"omnicc/journal"
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
	{"is_open", 0}, {"contact_id", 0}, {"contact_created", 0}, {"error", 255}, {"entry_key", 0},
}

func (e *Entry) values(key string) []any {
	w := func(i int, s string) string { return fit(s, columns[i].width) }
	return []any{e.At.UTC().Truncate(time.Microsecond), w(1, e.Direction), w(2, e.UniqueID), w(3, e.LinkedID),
		w(4, e.Channel), w(5, e.Caller), w(6, e.CallerName), w(7, e.DID), w(8, e.Route),
		w(9, strings.Join(e.Chain, ",")), w(10, e.DestType), w(11, e.Dest), e.Open, e.ContactID, e.ContactCreated, w(15, e.Error), key}
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
	// Now stamps entries recorded without a time and measures the write lag
	// (default time.Now).
	Now func() time.Time
	// BatchSize is the most rows one INSERT carries (default 250): 17
	// parameters a row keep it far under SQLite's 32,766 variables, and rows
	// cut to the columns' widths keep it under 2 MB, within MariaDB's
	// smallest max_allowed_packet (4 MB).
	BatchSize int
	// MaxBatch is the most rows one transaction writes (default 4,096;
	// 1,024 on SQLite, whose one write lock a transaction holds). The
	// writer writes whatever waits as soon as its previous write ends, so a
	// batch is one row when calls are few and grows to MaxBatch while a
	// backlog exists: one commit (one fsync on MariaDB) for all of them.
	MaxBatch int
	// RetryEvery is the pause after a failed write (default 250ms).
	RetryEvery time.Duration
	// QueueSize is how many entries may wait in memory (default 65,536).
	// Past it, an entry that is in the Journal waits there (the writer
	// reads it back); without a journal it is dropped and counted rather
	// than slow down the call.
	QueueSize int
	// ShutdownTimeout bounds the final write when Run stops (default 10s).
	ShutdownTimeout time.Duration
	// Journal, when set, gets every entry before Record returns, so that
	// entries not yet in the database survive a crash: Run writes what the
	// journal holds at start (entries already stored are kept once, by
	// their unique entry_key) and truncates it as the database takes them.
	// Run group-commits it; the caller opens and closes it.
	Journal *journal.Journal
	// Registerer, when set, gets the writer's metrics (omnicc_calllog_*).
	Registerer prometheus.Registerer
}

// Log records routing decisions. Record never blocks the call on the
// database: entries go through a queue (and the journal, when there is
// one) that Run writes in batches. When Run stops it writes everything
// queued; entries recorded after that (the AGI server's drain may still be
// finishing calls) are written one by one, so none is lost whichever of the
// two stops first.
type Log struct {
	db     *store.DB
	log    *slog.Logger
	opts   Options
	upsert string // the dialect's "unless entry_key exists" clause

	queue   chan item
	flushes chan chan error
	dropped atomic.Uint64
	spilled atomic.Uint64
	written atomic.Uint64
	// unjournaled counts entries the journal refused (a full disk).
	unjournaled atomic.Uint64

	// keyPrefix is random per process; keySeq counts within it.
	keyPrefix [8]byte
	keySeq    atomic.Uint64

	// appendMu makes journal order and queue order one, which the writer
	// relies on to tell what the queue lacks.
	appendMu sync.Mutex
	mu       sync.RWMutex // state changes; Record holds it shared
	stopped  bool
	started  bool

	// Read by Record and the metrics, written by the writer.
	dbDown   atomic.Bool   // the last failed write was followed by a failed ping
	held     atomic.Int64  // entries the writer took from the queue and has not stored
	next     atomic.Uint64 // journal: the lowest sequence not known stored
	oldestAt atomic.Int64  // unix ns an entry still unwritten was recorded; 0 when idle

	// full is the INSERT of a whole statement, prepared once: parsing a
	// statement of BatchSize rows is a good part of running it.
	stmtMu     sync.Mutex
	full       *sql.Stmt
	stmtClosed bool
}

// item is an entry on its way to the database.
type item struct {
	e   Entry
	key string
	seq uint64 // journal sequence; 0 when not journaled
	rec int64  // unix ns when it was recorded, for the write lag
}

// journalRecord is an entry as the journal keeps it.
type journalRecord struct {
	Key      string `json:"k"`
	Recorded int64  `json:"r"`
	Entry    Entry  `json:"e"`
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
		opts.BatchSize = 250
	}
	if opts.MaxBatch <= 0 {
		opts.MaxBatch = 4096
		if db.Dialect == store.SQLite {
			// A transaction holds SQLite's only write lock; at ~25µs a row
			// 1,024 rows keep REST and history writes waiting ~25ms, and
			// SQLite (WAL, synchronous=NORMAL) gains little from bigger
			// commits: it has no round trips and no fsync per commit.
			opts.MaxBatch = 1024
		}
	}
	opts.MaxBatch = max(opts.MaxBatch, opts.BatchSize)
	if opts.RetryEvery <= 0 {
		opts.RetryEvery = 250 * time.Millisecond
	}
	if opts.QueueSize <= 0 {
		opts.QueueSize = 1 << 16
	}
	if opts.ShutdownTimeout <= 0 {
		opts.ShutdownTimeout = 10 * time.Second
	}
	l := &Log{db: db, log: opts.Logger, opts: opts, queue: make(chan item, opts.QueueSize), flushes: make(chan chan error)}
	_, _ = rand.Read(l.keyPrefix[:])
	l.upsert = " ON CONFLICT (entry_key) DO NOTHING"
	if db.Dialect == store.MySQL {
		l.upsert = " ON DUPLICATE KEY UPDATE entry_key = entry_key"
	}
	if opts.Journal != nil {
		l.next.Store(opts.Journal.First())
	}
	if opts.Registerer != nil {
		l.register(opts.Registerer)
	}
	return l
}

func (l *Log) register(reg prometheus.Registerer) {
	reg.MustRegister(
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "omnicc_calllog_written_total",
			Help: "Call-log entries stored in the database."}, func() float64 { return float64(l.written.Load()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "omnicc_calllog_dropped_total",
			Help: "Call-log entries lost because the queue was full and they were not journaled."},
			func() float64 { return float64(l.dropped.Load()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "omnicc_calllog_spilled_total",
			Help: "Call-log entries that found the queue full and were written from the journal instead."},
			func() float64 { return float64(l.spilled.Load()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "omnicc_calllog_queue_depth",
			Help: "Call-log entries recorded and not yet stored (in memory or the journal)."}, func() float64 { return float64(l.Depth()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "omnicc_calllog_write_lag_seconds",
			Help: "How long ago the oldest call-log entry not yet stored was recorded; 0 when the writer has caught up."},
			func() float64 { return l.Lag().Seconds() }),
	)
}

// Dropped is how many entries were lost because the queue was full and
// there was no journal to hold them.
func (l *Log) Dropped() uint64 { return l.dropped.Load() }

// Depth is how many recorded entries are not yet stored.
func (l *Log) Depth() int64 {
	if j := l.opts.Journal; j != nil {
		if n := int64(j.Next() - l.next.Load()); n > 0 {
			return n
		}
		return 0
	}
	return int64(len(l.queue)) + l.held.Load()
}

// Lag is the age of the oldest entry not yet stored; 0 when caught up.
func (l *Log) Lag() time.Duration {
	at := l.oldestAt.Load()
	if at == 0 {
		return 0
	}
	return max(0, l.opts.Now().Sub(time.Unix(0, at)))
}

func (l *Log) newKey() string {
	var b [16]byte
	copy(b[:8], l.keyPrefix[:])
	binary.BigEndian.PutUint64(b[8:], l.keySeq.Add(1))
	return hex.EncodeToString(b[:])
}

// Record queues e for writing; with a journal, e is in it when Record
// returns.
func (l *Log) Record(e Entry) {
	if e.At.IsZero() {
		e.At = l.opts.Now()
	}
	it := item{e: e, key: l.newKey(), rec: l.opts.Now().UnixNano()}
	// The lag counts from the oldest entry waiting; the writer moves it on.
	l.oldestAt.CompareAndSwap(0, it.rec)
	var payload []byte
	if l.opts.Journal != nil {
		var err error
		if payload, err = json.Marshal(journalRecord{Key: it.key, Recorded: it.rec, Entry: e}); err != nil {
			l.log.Error("call log: cannot encode an entry for the journal", "err", err, "uniqueid", e.UniqueID)
		}
	}
	l.mu.RLock()
	if l.stopped {
		l.mu.RUnlock()
		l.recordLate(it, payload)
		return
	}
	defer l.mu.RUnlock()
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	if payload != nil {
		seq, err := l.opts.Journal.Append(payload)
		if err != nil {
			// A full disk fails every append: a trail, not a flood.
			if n := l.unjournaled.Add(1); n&(n-1) == 0 {
				l.log.Error("call log: cannot journal entries; they are kept in memory only, and lost if omniccd dies",
					"err", err, "unjournaled", n, "uniqueid", e.UniqueID)
			}
		}
		it.seq = seq
	}
	select {
	case l.queue <- it:
		return
	default:
	}
	state := "behind"
	if l.dbDown.Load() {
		state = "down"
	}
	// Logged at the 1st, 2nd, 4th, 8th… time: a trail, not a flood.
	if it.seq != 0 {
		if n := l.spilled.Add(1); n&(n-1) == 0 {
			l.log.Warn("call log: queue full, the database is "+state+"; entries wait in the journal",
				"spilled", n, "database", state)
		}
		return
	}
	if n := l.dropped.Add(1); n&(n-1) == 0 {
		l.log.Error("call log: queue full, the database is "+state+"; dropping entries (configure a journal to keep them)",
			"dropped", n, "database", state, "uniqueid", e.UniqueID)
	}
}

// recordLate writes an entry recorded after Run stopped, journaling it
// first so that a database that fails now gets it at the next start.
func (l *Log) recordLate(it item, payload []byte) {
	if payload != nil {
		_, _ = l.opts.Journal.Append(payload) // closed by now is fine: the write below is the main path
	}
	ctx, cancel := context.WithTimeout(context.Background(), l.opts.ShutdownTimeout)
	defer cancel()
	if err := l.write(ctx, []item{it}); err != nil {
		l.log.Error("call log: cannot write an entry after shutdown", "err", err, "uniqueid", it.e.UniqueID)
	}
}

// writer is Run's state.
type writer struct {
	l *Log
	j *journal.Journal
	// held are entries taken from the queue, in order, not yet stored.
	held []item
	// next is, with a journal, the lowest sequence not known stored.
	next uint64
	// taken and done count entries into and out of held, for Flush.
	taken, done uint64
	flushes     []flushWait
	failing     bool
	lastWarn    time.Time
}

// flushWait is a Flush waiting for everything recorded before it.
type flushWait struct {
	reply chan error
	taken uint64 // held entries to be done
	seq   uint64 // journal sequences to be stored
}

// Run writes queued entries until ctx ends, then writes what is left and
// returns. With a journal it first writes what the journal holds from
// before (a crash), and group-commits the journal while it runs. It returns
// an error only when it is run twice.
func (l *Log) Run(ctx context.Context) error {
	l.mu.Lock()
	if l.started {
		l.mu.Unlock()
		return errors.New("calllog: Run called twice")
	}
	l.started = true
	l.mu.Unlock()
	defer l.closeStmt()

	w := &writer{l: l, j: l.opts.Journal}
	if w.j != nil {
		w.next = l.next.Load()
		if n := w.j.Next() - w.next; n > 0 {
			l.log.Info("call log: writing the entries the journal holds from before", "entries", n)
		}
		// The group commit outlives ctx by the final write below, which
		// may still append (late entries) — it stops after it.
		jctx, jcancel := context.WithCancel(context.WithoutCancel(ctx))
		var wg sync.WaitGroup
		wg.Go(func() { w.j.Run(jctx) })
		defer func() {
			jcancel()
			wg.Wait()
			if err := w.j.Sync(); err != nil {
				l.log.Error("call log: final journal sync failed", "err", err)
			}
		}()
	}
	for {
		// A flush is taken between batches too, or a steady stream of
		// calls would keep it waiting for an idle moment.
		select {
		case reply := <-l.flushes:
			w.addFlush(reply)
		default:
		}
		w.answerFlushes(nil)
		if !w.hasWork() {
			select {
			case it := <-l.queue:
				w.hold(it)
			case reply := <-l.flushes:
				w.addFlush(reply)
				continue
			case <-ctx.Done():
				return w.shutdown(ctx)
			}
		}
		w.pull(l.opts.MaxBatch)
		if err := w.writeBatch(ctx); err != nil {
			if ctx.Err() != nil {
				return w.shutdown(ctx)
			}
			w.answerFlushes(err)
			t := time.NewTimer(l.opts.RetryEvery)
			select {
			case <-t.C:
			case reply := <-l.flushes:
				t.Stop()
				reply <- err
			case <-ctx.Done():
				t.Stop()
				return w.shutdown(ctx)
			}
		}
	}
}

func (w *writer) hold(it item) {
	w.held = append(w.held, it)
	w.taken++
	w.l.held.Add(1)
}

// pull takes what the queue holds, up to n entries held in all.
func (w *writer) pull(n int) {
	for len(w.held) < n {
		select {
		case it := <-w.l.queue:
			w.hold(it)
		default:
			return
		}
	}
}

func (w *writer) hasWork() bool {
	return len(w.held) > 0 || (w.j != nil && w.next < w.j.Next())
}

func (w *writer) addFlush(reply chan error) {
	w.pull(math.MaxInt)
	f := flushWait{reply: reply, taken: w.taken}
	if w.j != nil {
		f.seq = w.j.Next()
	}
	w.flushes = append(w.flushes, f)
}

// answerFlushes answers the flushes whose entries are stored, or every
// flush with err.
func (w *writer) answerFlushes(err error) {
	kept := w.flushes[:0]
	for _, f := range w.flushes {
		if err == nil && (w.done < f.taken || (w.j != nil && w.next < f.seq)) {
			kept = append(kept, f)
			continue
		}
		f.reply <- err
	}
	w.flushes = kept
}

// release drops the first n held entries, stored or no longer needed.
func (w *writer) release(n int) {
	w.held = append(w.held[:0], w.held[n:]...)
	w.done += uint64(n)
	w.l.held.Add(-int64(n))
}

// batch picks the next rows to write: entries missing from the queue are
// read back from the journal (at start, what a crash left; later, what
// found the queue full), the queue's otherwise. mark is how far the
// journal is stored once rows are; fromHeld how many held entries they are.
func (w *writer) batch() (rows []item, mark uint64, fromHeld int) {
	n := w.l.opts.MaxBatch
	if w.j == nil {
		return w.held[:min(len(w.held), n)], 0, min(len(w.held), n)
	}
	// Entries a journal read already stored.
	i := 0
	for i < len(w.held) && w.held[i].seq != 0 && w.held[i].seq < w.next {
		i++
	}
	w.release(i)
	limit := w.j.Next()
	if len(w.held) > 0 && w.held[0].seq != 0 {
		limit = w.held[0].seq
	}
	if w.next < limit {
		return w.readJournal(limit, n)
	}
	rows = w.held[:min(len(w.held), n)]
	mark = w.next
	for _, it := range rows {
		if it.seq >= mark {
			mark = it.seq + 1
		}
	}
	return rows, mark, len(rows)
}

// readJournal reads up to n entries from w.next to limit (excluded).
func (w *writer) readJournal(limit uint64, n int) (rows []item, mark uint64, fromHeld int) {
	mark = limit
	err := w.j.Read(w.next, func(seq uint64, p []byte) bool {
		if seq >= limit {
			return false
		}
		if len(rows) == n {
			mark = seq
			return false
		}
		var r journalRecord
		if err := json.Unmarshal(p, &r); err != nil {
			w.l.log.Error("call log: unreadable journal record skipped", "seq", seq, "err", err)
			return true
		}
		rows = append(rows, item{e: r.Entry, key: r.Key, seq: seq, rec: r.Recorded})
		return true
	})
	if err != nil {
		// Records that cannot be read now will not be readable later:
		// they are skipped (up to limit) rather than stop every later one.
		w.l.log.Error("call log: cannot read the journal; entries in it are skipped", "from", w.next, "to", limit, "err", err)
	}
	return rows, mark, 0
}

// writeBatch writes the next batch and moves past it.
func (w *writer) writeBatch(ctx context.Context) error {
	l := w.l
	rows, mark, fromHeld := w.batch()
	if len(rows) > 0 {
		l.oldestAt.Store(rows[0].rec)
	}
	err := l.write(ctx, rows)
	if err != nil {
		w.failed(ctx, err, len(rows))
		return err
	}
	if w.failing {
		l.log.Info("call log: writing again", "entries", len(rows))
		w.failing = false
		l.dbDown.Store(false)
	}
	l.written.Add(uint64(len(rows)))
	w.release(fromHeld)
	if w.j != nil && mark > w.next {
		w.next = mark
		l.next.Store(mark)
		if err := w.j.Truncate(mark); err != nil {
			l.log.Error("call log: cannot truncate the journal", "err", err)
		}
	}
	if (w.hasWork() || len(l.queue) > 0) && len(rows) > 0 {
		// The next entry is newer than the last written; close enough.
		l.oldestAt.Store(rows[len(rows)-1].rec)
	} else if !w.hasWork() && len(l.queue) == 0 {
		l.oldestAt.Store(0)
	}
	return nil
}

// failed logs a failed write, saying whether the database is down or only
// refusing or slow: a ping tells them apart.
func (w *writer) failed(ctx context.Context, err error, n int) {
	l := w.l
	down := true
	if ctx.Err() == nil {
		pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		down = l.db.PingContext(pctx) != nil
		cancel()
	}
	l.dbDown.Store(down)
	if !w.failing || time.Since(w.lastWarn) > 30*time.Second {
		state := "up (it answers a ping)"
		if down {
			state = "down (it does not answer a ping)"
		}
		l.log.Error("call log: cannot write entries; retrying", "entries", n, "database", state, "err", err)
		w.lastWarn = time.Now()
	}
	w.failing = true
}

// shutdown stops taking entries through the queue, writes everything left
// and answers the flushes still waiting.
func (w *writer) shutdown(ctx context.Context) error {
	l := w.l
	l.mu.Lock()
	l.stopped = true // from here on Record writes by itself
	l.mu.Unlock()
	w.pull(math.MaxInt)
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), l.opts.ShutdownTimeout)
	defer cancel()
	for w.hasWork() {
		if err := w.writeBatch(sctx); err != nil {
			if sctx.Err() != nil {
				left := "they are lost"
				if w.j != nil {
					left = "they stay in the journal and are written at the next start"
				}
				l.log.Error("call log: the database did not take the last entries in time; "+left,
					"entries", l.Depth(), "err", err)
				break
			}
			select {
			case <-sctx.Done():
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
	w.answerFlushes(nil)
	for _, f := range w.flushes {
		f.reply <- errors.New("calllog: Run stopped before these entries were written")
	}
	w.flushes = nil
	return nil
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

// write stores rows in one transaction, in statements of BatchSize rows. A
// batch the database refuses for its content (not for being unreachable)
// is retried row by row, and rows still refused are logged and skipped: one
// bad row must not hold every later decision back. Rows already stored
// (a journal replayed after a crash) are kept once.
func (l *Log) write(ctx context.Context, rows []item) error {
	if len(rows) == 0 {
		return nil
	}
	err := l.db.InTx(ctx, func(tx *sqlx.Tx) error {
		for rest := rows; len(rest) > 0; {
			n := min(len(rest), l.opts.BatchSize)
			if err := l.insertRows(ctx, tx, rest[:n]); err != nil {
				return err
			}
			rest = rest[n:]
		}
		return nil
	})
	if err == nil || store.IsUnavailable(err) || ctx.Err() != nil || len(rows) == 1 {
		return err
	}
	for i := range rows {
		if err := l.insertRows(ctx, nil, rows[i:i+1]); err != nil {
			if store.IsUnavailable(err) || ctx.Err() != nil {
				return err
			}
			l.log.Error("call log: entry refused by the database; skipped", "err", err, "uniqueid", rows[i].e.UniqueID)
		}
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
func (l *Log) insertSQL(n int) string {
	var q strings.Builder
	q.Grow(len(insertHead) + n*(len(insertRow)+2) + len(l.upsert))
	q.WriteString(insertHead)
	for i := range n {
		if i > 0 {
			q.WriteString(", ")
		}
		q.WriteString(insertRow)
	}
	q.WriteString(l.upsert)
	return q.String()
}

// insertRows runs one INSERT, in tx or (nil) on its own.
func (l *Log) insertRows(ctx context.Context, tx *sqlx.Tx, rows []item) error {
	args := make([]any, 0, len(rows)*len(columns))
	for i := range rows {
		args = append(args, rows[i].e.values(rows[i].key)...)
	}
	if tx == nil {
		_, err := l.db.ExecContext(ctx, l.insertSQL(len(rows)), args...)
		return err
	}
	if len(rows) == l.opts.BatchSize {
		if stmt := l.fullBatchStmt(ctx); stmt != nil {
			_, err := tx.StmtContext(ctx, stmt).ExecContext(ctx, args...)
			return err
		}
	}
	_, err := tx.ExecContext(ctx, l.insertSQL(len(rows)), args...)
	return err
}

// fullBatchStmt prepares the full-batch INSERT on first use; nil when it
// cannot (the plain statement then does the work) or after Run.
func (l *Log) fullBatchStmt(ctx context.Context) *sql.Stmt {
	l.stmtMu.Lock()
	defer l.stmtMu.Unlock()
	if l.full == nil && !l.stmtClosed {
		if st, err := l.db.PrepareContext(ctx, l.insertSQL(l.opts.BatchSize)); err == nil {
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
	// ID is one entry (the link a contact's journey gives); ContactID the
	// calls of one contact.
	ID, ContactID int64
	DID           string
	Caller        string
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
	if f.ID > 0 {
		where = append(where, "id = ?")
		args = append(args, f.ID)
	}
	if f.ContactID > 0 {
		where = append(where, "contact_id = ?")
		args = append(args, f.ContactID)
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
