package calls

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"

	"omnicc/domain"
	"omnicc/store"
)

// Recording states.
const (
	RecordingStarting  = "starting" // slot reserved, MixMonitor not answered yet
	RecordingRecording = "recording"
	RecordingPaused    = "paused"
	RecordingStopped   = "stopped"
)

// Recording sources: who decided to record.
const (
	RecordingManual = "manual" // an agent or a supervisor over the API
	RecordingAgent  = "agent"  // the agent's record_calls setting
	RecordingQueue  = "queue"  // the queue's automatic recording
	RecordingRoute  = "route"  // the outbound route's automatic recording
)

// MaxRecordingsPerCall is the agent bar's rule: "Each call can contain a
// maximum of two voice recordings." The database enforces it (slots 1 and 2).
const MaxRecordingsPerCall = 2

// Recording is one MixMonitor recording of a call, as listed at
// GET /api/v1/recordings.
type Recording struct {
	ID int64 `json:"id" db:"id"`
	// CallID is the call's linkedid; the two-recordings limit applies per call.
	CallID        string     `json:"call_id" db:"call_id"`
	Slot          int        `json:"slot" db:"slot"`
	Box           string     `json:"box" db:"box"`
	Channel       string     `json:"channel" db:"channel"`
	UniqueID      string     `json:"uniqueid" db:"uniqueid"`
	LinkedID      string     `json:"linkedid" db:"linkedid"`
	AgentID       *int64     `json:"agent_id" db:"agent_id"`
	File          string     `json:"file" db:"file"`
	Format        string     `json:"format" db:"format"`
	MixMonitorID  string     `json:"mixmonitor_id" db:"mixmonitor_id"`
	State         string     `json:"state" db:"state"`
	Source        string     `json:"source" db:"source"`
	StartedAt     time.Time  `json:"started_at" db:"started_at"`
	StoppedAt     *time.Time `json:"stopped_at" db:"stopped_at"`
	StartedBy     *int64     `json:"started_by" db:"started_by"`
	StartedByName string     `json:"started_by_name" db:"started_by_name"`
	StoppedBy     *int64     `json:"stopped_by" db:"stopped_by"`
	StoppedByName string     `json:"stopped_by_name" db:"stopped_by_name"`
}

// RecordingFilter selects recordings; zero fields do not filter.
type RecordingFilter struct {
	AgentID  int64
	CallID   string
	UniqueID string
	LinkedID string
	State    string
	From, To time.Time // started_at in [From, To)
	Page     int
	PerPage  int
}

// recordingStore keeps the recordings table: the database decides the slot
// rules (its unique key on call and slot), so two instances or two requests
// racing for the last slot cannot both win.
type recordingStore struct {
	db *store.DB
}

const recordingColumns = `id, call_id, slot, box, channel, uniqueid, linkedid, agent_id, file, format, mixmonitor_id,
	state, source, started_at, stopped_at, started_by, started_by_name, stopped_by, stopped_by_name`

// staleStartingAfter is how old a "starting" reservation must be to be taken
// for a leftover: far past Options.ActionTimeout.
const staleStartingAfter = time.Minute

// reserve inserts r (state starting) into the first free slot of its call,
// trying only slot 1 when firstOnly is set, and returns ErrSlotsFull when
// none is free. file names the recording for a slot. The unique key decides,
// so two requests racing for the last slot cannot both win.
func (s *recordingStore) reserve(ctx context.Context, r *Recording, firstOnly bool, file func(slot int) string) error {
	last := MaxRecordingsPerCall
	if firstOnly {
		last = 1
	}
	// A slot still "starting" long after any MixMonitor answer could come
	// (a crash between reserving and the answer) is freed, or it would
	// count against the call's two recordings forever.
	if _, err := s.db.ExecContext(ctx, `DELETE FROM recordings WHERE call_id = ? AND state = ? AND started_at < ?`,
		r.CallID, RecordingStarting, r.StartedAt.Add(-staleStartingAfter)); err != nil {
		return fmt.Errorf("free stale recording slots of call %s: %w", r.CallID, err)
	}
	for slot := 1; slot <= last; slot++ {
		r.Slot, r.File, r.State = slot, file(slot), RecordingStarting
		res, err := s.db.ExecContext(ctx, `INSERT INTO recordings (call_id, slot, box, channel, uniqueid, linkedid, agent_id,
			file, format, mixmonitor_id, state, source, started_at, started_by, started_by_name)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			r.CallID, r.Slot, r.Box, r.Channel, r.UniqueID, r.LinkedID, r.AgentID,
			r.File, r.Format, r.MixMonitorID, r.State, r.Source, r.StartedAt, r.StartedBy, r.StartedByName)
		if err == nil {
			r.ID, err = res.LastInsertId()
			return err
		}
		if !store.IsUniqueViolation(err) {
			return fmt.Errorf("reserve a recording slot for call %s: %w", r.CallID, err)
		}
	}
	return ErrSlotsFull
}

// release frees the slot of a recording that never started.
func (s *recordingStore) release(ctx context.Context, id int64) error {
	_, err := s.db.ExecContext(ctx, `DELETE FROM recordings WHERE id = ? AND state = ?`, id, RecordingStarting)
	return err
}

func (s *recordingStore) started(ctx context.Context, id int64, box, mixMonitorID string) error {
	_, err := s.db.ExecContext(ctx, `UPDATE recordings SET state = ?, box = ?, mixmonitor_id = ? WHERE id = ?`,
		RecordingRecording, box, mixMonitorID, id)
	return err
}

func (s *recordingStore) get(ctx context.Context, id int64) (*Recording, error) {
	var r Recording
	err := s.db.GetContext(ctx, &r, `SELECT `+recordingColumns+` FROM recordings WHERE id = ?`, id)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("recording %d: %w", id, domain.ErrNotFound)
	}
	return &r, err
}

// stop marks a recording stopped; by is 0 (and byName says what) when no
// user stopped it. Stopping twice keeps the first stop.
func (s *recordingStore) stop(ctx context.Context, id int64, at time.Time, by int64, byName string) error {
	_, err := s.db.ExecContext(ctx, `UPDATE recordings SET state = ?, stopped_at = ?, stopped_by = ?, stopped_by_name = ?
		WHERE id = ? AND state <> ?`, RecordingStopped, at, nullID(by), byName, id, RecordingStopped)
	return err
}

// setPaused records a pause or resume of every running recording of one
// channel: Asterisk's MixMonitorMute acts on all of them at once.
func (s *recordingStore) setPaused(ctx context.Context, box, uniqueID string, paused bool) error {
	from, to := RecordingRecording, RecordingPaused
	if !paused {
		from, to = to, from
	}
	_, err := s.db.ExecContext(ctx, `UPDATE recordings SET state = ? WHERE box = ? AND uniqueid = ? AND state = ?`,
		to, box, uniqueID, from)
	return err
}

// stopChannel marks every running recording of a channel stopped: the
// channel hung up and MixMonitor ended with it.
func (s *recordingStore) stopChannel(ctx context.Context, uniqueID string, at time.Time, why string) ([]int64, error) {
	var ids []int64
	err := s.db.InTx(ctx, func(tx *sqlx.Tx) error {
		if err := tx.SelectContext(ctx, &ids, `SELECT id FROM recordings WHERE uniqueid = ? AND state IN (?, ?, ?)`,
			uniqueID, RecordingStarting, RecordingRecording, RecordingPaused); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `UPDATE recordings SET state = ?, stopped_at = ?, stopped_by_name = ?
			WHERE uniqueid = ? AND state IN (?, ?, ?)`, RecordingStopped, at, why,
			uniqueID, RecordingStarting, RecordingRecording, RecordingPaused)
		return err
	})
	return ids, err
}

func (s *recordingStore) list(ctx context.Context, f RecordingFilter) ([]Recording, int, error) {
	var (
		where []string
		args  []any
	)
	add := func(cond string, v any) {
		where = append(where, cond)
		args = append(args, v)
	}
	if f.AgentID != 0 {
		add("agent_id = ?", f.AgentID)
	}
	if f.CallID != "" {
		add("call_id = ?", f.CallID)
	}
	if f.UniqueID != "" {
		add("uniqueid = ?", f.UniqueID)
	}
	if f.LinkedID != "" {
		add("linkedid = ?", f.LinkedID)
	}
	if f.State != "" {
		add("state = ?", f.State)
	}
	if !f.From.IsZero() {
		add("started_at >= ?", f.From.UTC())
	}
	if !f.To.IsZero() {
		add("started_at < ?", f.To.UTC())
	}
	cond := ""
	if len(where) > 0 {
		cond = " WHERE " + strings.Join(where, " AND ")
	}
	var total int
	if err := s.db.GetContext(ctx, &total, `SELECT COUNT(*) FROM recordings`+cond, args...); err != nil {
		return nil, 0, err
	}
	out := []Recording{}
	err := s.db.SelectContext(ctx, &out, `SELECT `+recordingColumns+` FROM recordings`+cond+
		` ORDER BY started_at DESC, id DESC LIMIT ? OFFSET ?`, append(args, f.PerPage, (f.Page-1)*f.PerPage)...)
	return out, total, err
}

func nullID(id int64) *int64 {
	if id == 0 {
		return nil
	}
	return &id
}

// runningOn lists the recordings on box that are not stopped, with the
// uniqueid of their channel: what a reconnect checks against the channels
// the box still has.
func (s *recordingStore) runningOn(ctx context.Context, box string) ([]Recording, error) {
	var out []Recording
	err := s.db.SelectContext(ctx, &out, `SELECT `+recordingColumns+` FROM recordings WHERE box = ? AND state IN (?, ?, ?)`,
		box, RecordingStarting, RecordingRecording, RecordingPaused)
	return out, err
}
