package presence

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/jmoiron/sqlx"

	"omnicc/journal"
)

// historyRow is one agent_events row.
type historyRow struct {
	AgentID int64
	Queue   *string
	State   string
	Reason  string
	At      time.Time
	Details *string
	// Key is the row's unique event_key when it went through the journal,
	// so that a replay of rows already stored keeps them once.
	Key string `json:",omitempty"`
	seq uint64 // journal sequence; 0 when not journaled
}

// historyBuffer holds what the writer has yet to store: history rows in
// order, and the agents whose session or counters changed on the event path
// (their current value is read at write time, so the database always ends
// with the latest). Its own lock is taken after Service.mu, never before.
type historyBuffer struct {
	mu       sync.Mutex
	rows     []historyRow
	sessions map[int64]bool
	counters map[int64]bool
	// retryCounters are counter rows whose write failed, kept with the
	// rows of days that already ended (which memory no longer has).
	retryCounters map[counterKey]counterRow
	closed        bool
	dropped       int
	// muted drops what is added while presence observes a box another
	// instance leads (observe.go): that instance writes it.
	muted bool

	// journal holds the rows not yet stored across a crash. replayUpTo,
	// until the first write, is where the rows of an earlier run end.
	journal     *journal.Journal
	replayUpTo  uint64
	keyPrefix   [8]byte
	keySeq      uint64
	unjournaled int // rows the journal refused
}

// useJournal makes the history go through j, and gets what an earlier run
// left in it written at once.
func (s *Service) useJournal(j *journal.Journal) {
	if j == nil {
		return
	}
	h := &s.hist
	h.journal = j
	_, _ = rand.Read(h.keyPrefix[:])
	if j.First() < j.Next() {
		h.replayUpTo = j.Next()
		s.requestFlush()
	}
}

type counterKey struct {
	agent int64
	day   string
}

func (h *historyBuffer) add(r historyRow, max int, log *slog.Logger) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.muted {
		return
	}
	if len(h.rows) >= max {
		// The database has been unreachable for long: bound the memory,
		// and say so loudly — this is the only place history is lost.
		n := len(h.rows) / 10
		h.rows = append(h.rows[:0], h.rows[n:]...)
		h.dropped += n
		log.Error("presence: database unreachable for too long; oldest agent history rows dropped",
			"dropped", n, "dropped_total", h.dropped, "kept", len(h.rows))
	}
	if h.journal != nil {
		// In the buffer's lock, so that journal and buffer keep one order.
		var b [16]byte
		copy(b[:], h.keyPrefix[:])
		h.keySeq++
		binary.BigEndian.PutUint64(b[8:], h.keySeq)
		r.Key = hex.EncodeToString(b[:])
		if p, err := json.Marshal(r); err != nil {
			log.Error("presence: cannot encode a history row for the journal", "err", err)
		} else if r.seq, err = h.journal.Append(p); err != nil {
			// A full disk fails every append: a trail, not a flood.
			if h.unjournaled++; h.unjournaled&(h.unjournaled-1) == 0 {
				log.Error("presence: cannot journal history rows; they are kept in memory only, and lost if omniccd dies",
					"err", err, "unjournaled", h.unjournaled)
			}
		}
	}
	h.rows = append(h.rows, r)
}

// replay returns the rows an earlier run left in the journal, and where
// they end; none once they are stored.
func (h *historyBuffer) replay(log *slog.Logger) ([]historyRow, uint64) {
	h.mu.Lock()
	upTo := h.replayUpTo
	h.mu.Unlock()
	if upTo == 0 {
		return nil, 0
	}
	var rows []historyRow
	err := h.journal.Read(h.journal.First(), func(seq uint64, p []byte) bool {
		if seq >= upTo {
			return false
		}
		var r historyRow
		if err := json.Unmarshal(p, &r); err != nil {
			log.Error("presence: unreadable history row in the journal skipped", "seq", seq, "err", err)
			return true
		}
		r.seq = seq
		rows = append(rows, r)
		return true
	})
	if err != nil {
		log.Error("presence: cannot read the history journal; its rows are skipped", "err", err)
	}
	return rows, upTo
}

// stored says the rows before sequence mark are in the database.
func (h *historyBuffer) stored(mark uint64, log *slog.Logger) {
	if h.journal == nil {
		return
	}
	h.mu.Lock()
	if h.replayUpTo != 0 && mark >= h.replayUpTo {
		h.replayUpTo = 0
	}
	h.mu.Unlock()
	if err := h.journal.Truncate(mark); err != nil {
		log.Error("presence: cannot truncate the history journal", "err", err)
	}
}

func (h *historyBuffer) markSession(id int64) {
	h.mu.Lock()
	if h.muted {
		h.mu.Unlock()
		return
	}
	if h.sessions == nil {
		h.sessions = make(map[int64]bool)
	}
	h.sessions[id] = true
	h.mu.Unlock()
}

func (h *historyBuffer) markCounters(id int64) {
	h.mu.Lock()
	if h.muted {
		h.mu.Unlock()
		return
	}
	if h.counters == nil {
		h.counters = make(map[int64]bool)
	}
	h.counters[id] = true
	h.mu.Unlock()
}

func (h *historyBuffer) sessionDirty(id int64) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.sessions[id]
}

func (h *historyBuffer) close() {
	h.mu.Lock()
	h.closed = true
	h.mu.Unlock()
}

func (h *historyBuffer) open() {
	h.mu.Lock()
	h.closed = false
	h.mu.Unlock()
}

func (h *historyBuffer) isClosed() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.closed
}

// take empties the buffer.
func (h *historyBuffer) take() ([]historyRow, map[int64]bool, map[int64]bool, map[counterKey]counterRow) {
	h.mu.Lock()
	defer h.mu.Unlock()
	rows, sess, cnt, retry := h.rows, h.sessions, h.counters, h.retryCounters
	h.rows, h.sessions, h.counters, h.retryCounters = nil, nil, nil, nil
	return rows, sess, cnt, retry
}

// putBack returns what a failed write took, ahead of anything newer.
func (h *historyBuffer) putBack(rows []historyRow, sess map[int64]bool, counters []counterRow) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.rows = append(rows, h.rows...)
	if h.sessions == nil {
		h.sessions = make(map[int64]bool)
	}
	for id := range sess {
		h.sessions[id] = true
	}
	if h.retryCounters == nil {
		h.retryCounters = make(map[counterKey]counterRow)
	}
	for _, r := range counters {
		k := counterKey{r.AgentID, r.Day}
		if _, newer := h.retryCounters[k]; !newer {
			h.retryCounters[k] = r
		}
	}
}

// afterChange publishes the queued events and gets the history written:
// by the writer while Run runs, synchronously once it has stopped.
func (s *Service) afterChange() {
	s.pubMu.Lock()
	s.mu.Lock()
	out := s.outbox
	s.outbox = nil
	s.mu.Unlock()
	for _, e := range out {
		s.pub.Publish(e)
	}
	s.pubMu.Unlock()
	if s.hist.isClosed() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := s.flushAll(ctx); err != nil {
			s.log.Error("presence: writing agent history after shutdown failed", "err", err)
		}
		return
	}
	s.requestFlush()
}

// flushAll writes every pending history row, session and counter in one
// transaction. On failure everything goes back to the buffer for the next
// try.
//
// A REST session write (saveSession) never waits for a flush: the two run
// side by side. A flush that read an agent's session before a REST write
// changed it may commit that older session after the REST write did; the
// generation taken with the snapshot tells, and the agent's session is
// written again (the latest) by the next flush, so the database converges
// on memory without any lock held across a transaction.
func (s *Service) flushAll(ctx context.Context) error {
	// Flushes follow one another (Run's, and the synchronous one after
	// shutdown); REST never takes this lock.
	s.flushMu.Lock()
	defer s.flushMu.Unlock()
	rows, sessIDs, cntIDs, retry := s.hist.take()
	// What a crash left in the journal goes first, once.
	old, mark := s.hist.replay(s.log)
	if len(rows) == 0 && len(old) == 0 && len(sessIDs) == 0 && len(cntIDs) == 0 && len(retry) == 0 {
		return nil
	}
	for _, r := range rows {
		if r.seq >= mark {
			mark = r.seq + 1
		}
	}
	sessions := make(map[int64]*Session, len(sessIDs))
	gens := make(map[int64]uint64, len(sessIDs))
	var flushing []*agent
	var counters []counterRow
	now := s.clock.Now()
	s.mu.Lock()
	for id := range sessIDs {
		a := s.agents[id]
		switch {
		case a == nil:
			sessions[id] = nil
		case a.sessWriting > 0:
			// A REST write is storing this session now; it writes the
			// newest. Kept dirty for the flush its afterChange asks for.
			s.hist.markSession(id)
		default:
			sessions[id] = a.sess.clone()
			gens[id] = a.sessGen
			// Until it commits, the stored row is older than memory:
			// SyncSessions must not take it (others.go).
			a.sessFlushing++
			a.flushGen++
			flushing = append(flushing, a)
		}
	}
	for id := range cntIDs {
		a := s.agents[id]
		if a == nil {
			continue
		}
		if a.cnt.prev != nil {
			counters = append(counters, a.cnt.prev.stored(id))
			a.cnt.prev = nil
		}
		a.cnt.dirty = false
		counters = append(counters, a.cnt.stored(id))
	}
	s.mu.Unlock()
	for k, r := range retry {
		dup := false
		for _, c := range counters {
			if c.AgentID == k.agent && c.Day == k.day {
				dup = true
				break
			}
		}
		if !dup {
			counters = append(counters, r)
		}
	}
	err := s.db.InTxRetry(ctx, func(tx *sqlx.Tx) error {
		if err := insertHistory(ctx, tx, old); err != nil {
			return err
		}
		if err := insertHistory(ctx, tx, rows); err != nil {
			return err
		}
		for id, sess := range sessions {
			if err := writeSession(ctx, tx, id, sess, now); err != nil {
				return err
			}
		}
		for _, c := range counters {
			if err := writeCounters(ctx, tx, c, now); err != nil {
				return err
			}
		}
		return nil
	})
	s.mu.Lock()
	for _, a := range flushing {
		a.sessFlushing--
	}
	s.mu.Unlock()
	if err != nil {
		s.hist.putBack(rows, sessIDs, counters)
		return fmt.Errorf("presence: write %d history rows, %d sessions, %d counters: %w", len(old)+len(rows), len(sessions), len(counters), err)
	}
	if mark > 0 {
		s.hist.stored(mark, s.log)
	}
	// A REST write that changed a session after the snapshot may have
	// committed before this flush did: write those sessions again.
	stale := false
	s.mu.Lock()
	for id, g := range gens {
		if a := s.agents[id]; a != nil && a.sessGen != g {
			s.hist.markSession(id)
			stale = true
		}
	}
	s.mu.Unlock()
	if stale {
		s.requestFlush()
	}
	return nil
}

// historyChunk rows go in one INSERT (7 parameters each, well under both
// engines' limits); full chunks share one prepared statement per flush.
const historyChunk = 250

func insertHistory(ctx context.Context, tx *sqlx.Tx, rows []historyRow) error {
	var full *sql.Stmt
	defer func() {
		if full != nil {
			full.Close()
		}
	}()
	args := make([]any, 0, min(len(rows), historyChunk)*7)
	mysql := tx.DriverName() == "mysql"
	for len(rows) > 0 {
		n := min(len(rows), historyChunk)
		args = args[:0]
		for _, r := range rows[:n] {
			var key *string
			if r.Key != "" {
				key = &r.Key
			}
			args = append(args, r.AgentID, r.Queue, r.State, r.Reason, r.At, r.Details, key)
		}
		var err error
		if n == historyChunk {
			if full == nil {
				if full, err = tx.PrepareContext(ctx, historyInsert(n, mysql)); err != nil {
					return fmt.Errorf("prepare agent_events insert: %w", err)
				}
			}
			_, err = full.ExecContext(ctx, args...)
		} else {
			_, err = tx.ExecContext(ctx, historyInsert(n, mysql), args...)
		}
		if err != nil {
			return fmt.Errorf("insert agent_events: %w", err)
		}
		rows = rows[n:]
	}
	return nil
}

// historyInsert is the INSERT of n rows; a row whose event_key is stored
// already (a journal replayed after a crash) is kept once.
func historyInsert(n int, mysql bool) string {
	var b strings.Builder
	b.Grow(150 + n*23)
	b.WriteString(`INSERT INTO agent_events (agent_id, queue, state, reason, at, details, event_key) VALUES `)
	for i := range n {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString("(?, ?, ?, ?, ?, ?, ?)")
	}
	if mysql {
		b.WriteString(" ON DUPLICATE KEY UPDATE event_key = event_key")
	} else {
		b.WriteString(" ON CONFLICT (event_key) DO NOTHING")
	}
	return b.String()
}

// writeSession stores sess as agent id's session row, or deletes the row
// when sess is nil. The insert goes through users so that a session of an
// agent deleted meanwhile is skipped instead of failing the batch.
func writeSession(ctx context.Context, tx *sqlx.Tx, id int64, sess *Session, now time.Time) error {
	if sess == nil {
		_, err := tx.ExecContext(ctx, `DELETE FROM agent_sessions WHERE agent_id = ?`, id)
		return err
	}
	var pausedAt *time.Time
	if sess.PausedAt != nil {
		t := sess.PausedAt.UTC().Truncate(time.Microsecond)
		pausedAt = &t
	}
	updated := sess.UpdatedAt
	if updated.IsZero() {
		updated = now
	}
	args := []any{sess.LoggedInAt.UTC().Truncate(time.Microsecond), sess.Source, strings.Join(sess.PausedChannels, ","),
		sess.PauseTypeID, truncate(sess.PauseReason, 128), pausedAt, updated.UTC().Truncate(time.Microsecond)}
	res, err := tx.ExecContext(ctx, `UPDATE agent_sessions SET logged_in_at = ?, source = ?, paused_channels = ?,
 pause_type_id = ?, pause_reason = ?, paused_at = ?, updated_at = ? WHERE agent_id = ?`, append(args, id)...)
	if err != nil {
		return fmt.Errorf("update agent_sessions: %w", err)
	}
	if n, _ := res.RowsAffected(); n > 0 {
		return nil
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO agent_sessions (logged_in_at, source, paused_channels, pause_type_id,
 pause_reason, paused_at, updated_at, agent_id) SELECT ?, ?, ?, ?, ?, ?, ?, id FROM users WHERE id = ?`, append(args, id)...)
	if err != nil {
		return fmt.Errorf("insert agent_sessions: %w", err)
	}
	return nil
}

func writeCounters(ctx context.Context, tx *sqlx.Tx, c counterRow, now time.Time) error {
	at := now.UTC().Truncate(time.Microsecond)
	res, err := tx.ExecContext(ctx, `UPDATE agent_daily_counters SET answered = ?, missed = ?, talk_seconds = ?,
 login_seconds = ?, hold_seconds = ?, pause_seconds = ?, digital_counts = ?, updated_at = ? WHERE agent_id = ? AND day = ?`,
		c.Answered, c.Missed, c.TalkSeconds, c.LoginSeconds, c.HoldSeconds, c.PauseSeconds, c.Digital, at, c.AgentID, c.Day)
	if err != nil {
		return fmt.Errorf("update agent_daily_counters: %w", err)
	}
	if n, _ := res.RowsAffected(); n > 0 {
		return nil
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO agent_daily_counters (agent_id, day, answered, missed, talk_seconds,
 login_seconds, hold_seconds, pause_seconds, digital_counts, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		c.AgentID, c.Day, c.Answered, c.Missed, c.TalkSeconds, c.LoginSeconds, c.HoldSeconds, c.PauseSeconds, c.Digital, at)
	if err != nil {
		return fmt.Errorf("insert agent_daily_counters: %w", err)
	}
	return nil
}

// HistoryEvent is one agent_events row as the API lists it. State is an
// agent state, or one of the events login, logout, pause, unpause,
// pause_undone, member_added, member_removed, ring_no_answer,
// ring_cancelled and call_completed.
type HistoryEvent struct {
	ID      int64           `json:"id" db:"id"`
	AgentID int64           `json:"agent_id" db:"agent_id"`
	Queue   *string         `json:"queue" db:"queue"`
	State   string          `json:"state" db:"state"`
	Reason  string          `json:"reason" db:"reason"`
	At      time.Time       `json:"at" db:"at"`
	Details json.RawMessage `json:"details" db:"-"`
	RawJSON *string         `json:"-" db:"details"`
}

// MaxHistory caps one History answer.
const MaxHistory = 1000

// History lists an agent's state changes from from (inclusive) to to
// (exclusive; zero means now), oldest first, at most limit (≤ MaxHistory).
// Rows still queued for the writer are not in it yet.
func (s *Service) History(ctx context.Context, agentID int64, from, to time.Time, limit int) ([]HistoryEvent, error) {
	if limit <= 0 || limit > MaxHistory {
		limit = MaxHistory
	}
	if to.IsZero() {
		to = s.clock.Now().Add(time.Second)
	}
	out := []HistoryEvent{}
	err := s.db.SelectContext(ctx, &out, `SELECT id, agent_id, queue, state, reason, at, details FROM agent_events
 WHERE agent_id = ? AND at >= ? AND at < ? ORDER BY at, id LIMIT ?`,
		agentID, from.UTC().Truncate(time.Microsecond), to.UTC().Truncate(time.Microsecond), limit)
	if err != nil {
		return nil, fmt.Errorf("presence: read the history of agent %d: %w", agentID, err)
	}
	for i := range out {
		out[i].At = out[i].At.UTC()
		if out[i].RawJSON != nil && json.Valid([]byte(*out[i].RawJSON)) {
			out[i].Details = json.RawMessage(*out[i].RawJSON)
		}
	}
	return out, nil
}
