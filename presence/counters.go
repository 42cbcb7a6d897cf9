package presence

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"time"
)

// counterAcc accumulates one day's counters. Login and pause time of an
// interval still open are not in it: counters() adds them up to now, from
// the later of the interval's start and midnight.
type counterAcc struct {
	day      string
	dayStart time.Time
	dayEnd   time.Time // the next midnight: checked on every event, so no formatting
	answered int
	missed   int
	talk     time.Duration
	login    time.Duration
	pause    map[string]time.Duration
	hold     time.Duration
	// holdSince starts the hold interval still open (zero when the
	// agent's call is not on hold).
	holdSince time.Time
	digital   map[string]DigitalCounters // channel → the day's digital work
	dirty     bool                       // not yet written to agent_daily_counters
	// prev holds the day just ended, until the writer stores it.
	prev *counterAcc
}

func dayOf(t time.Time, loc *time.Location) string { return t.In(loc).Format(time.DateOnly) }

func startOfDay(t time.Time, loc *time.Location) time.Time {
	y, m, d := t.In(loc).Date()
	return time.Date(y, m, d, 0, 0, 0, 0, loc)
}

func newCounterAcc(now time.Time, loc *time.Location) counterAcc {
	start := startOfDay(now, loc)
	y, m, d := start.Date()
	return counterAcc{day: dayOf(now, loc), dayStart: start, dayEnd: time.Date(y, m, d+1, 0, 0, 0, 0, loc)}
}

// openFrom is where an open interval that began at since counts from today.
func (c *counterAcc) openFrom(since time.Time) time.Time {
	if since.Before(c.dayStart) {
		return c.dayStart
	}
	return since
}

// rolloverWith starts a new day when now is past the current one. The intervals
// still open (login, pause) are closed at midnight into the old day, which
// is kept in prev for the writer. sess gives those open intervals.
func (c *counterAcc) rolloverWith(now time.Time, loc *time.Location, sess *Session) bool {
	if now.Before(c.dayEnd) && !now.Before(c.dayStart) {
		return false
	}
	next := newCounterAcc(now, loc)
	end := next.dayStart
	if sess != nil && end.After(c.dayStart) {
		c.login += end.Sub(c.openFrom(sess.LoggedInAt))
		if sess.Paused() && sess.PausedAt != nil {
			c.addPause(sess.PauseReason, end.Sub(c.openFrom(*sess.PausedAt)))
		}
	}
	if !c.holdSince.IsZero() {
		c.hold += end.Sub(c.openFrom(c.holdSince))
		next.holdSince = c.holdSince
		c.holdSince = time.Time{}
	}
	old := *c
	old.prev = nil
	old.dirty = true
	*c = next
	c.prev = &old
	c.dirty = true
	return true
}

func pauseKey(reason string) string {
	if reason == "" {
		return "unspecified"
	}
	return reason
}

func (c *counterAcc) addPause(reason string, d time.Duration) {
	if d <= 0 {
		return
	}
	if c.pause == nil {
		c.pause = make(map[string]time.Duration)
	}
	c.pause[pauseKey(reason)] += d
}

// closeLogin adds a login interval that ends now.
func (c *counterAcc) closeLogin(since, now time.Time) {
	if d := now.Sub(c.openFrom(since)); d > 0 {
		c.login += d
		c.dirty = true
	}
}

// startHold opens a hold interval (the agent's call went on hold).
func (c *counterAcc) startHold(at time.Time) {
	if c.holdSince.IsZero() {
		c.holdSince = at
	}
}

// endHold closes the open hold interval, if any, at at.
func (c *counterAcc) endHold(at time.Time) {
	if c.holdSince.IsZero() {
		return
	}
	if d := at.Sub(c.openFrom(c.holdSince)); d > 0 {
		c.hold += d
		c.dirty = true
	}
	c.holdSince = time.Time{}
}

// closePause adds a pause interval that ends now.
func (c *counterAcc) closePause(reason string, since, now time.Time) {
	c.addPause(reason, now.Sub(c.openFrom(since)))
	c.dirty = true
}

// counters renders the day's figures with the open intervals up to now.
func (c *counterAcc) counters(sess *Session, now time.Time) Counters {
	out := Counters{
		Day: c.day, Answered: c.answered, Missed: c.missed,
		TalkSeconds: int64(c.talk / time.Second), LoginSeconds: int64(c.login / time.Second),
		HoldSeconds:  int64(c.hold / time.Second),
		PauseSeconds: map[string]int64{},
		Digital:      cloneDigital(c.digital),
	}
	if out.Digital == nil {
		out.Digital = map[string]DigitalCounters{}
	}
	if !c.holdSince.IsZero() {
		if d := now.Sub(c.openFrom(c.holdSince)); d > 0 {
			out.HoldSeconds = int64((c.hold + d) / time.Second)
		}
	}
	for k, v := range c.pause {
		out.PauseSeconds[k] = int64(v / time.Second)
	}
	if sess != nil {
		if d := now.Sub(c.openFrom(sess.LoggedInAt)); d > 0 {
			out.LoginSeconds = int64((c.login + d) / time.Second)
		}
		if sess.Paused() && sess.PausedAt != nil {
			if d := now.Sub(c.openFrom(*sess.PausedAt)); d > 0 {
				k := pauseKey(sess.PauseReason)
				out.PauseSeconds[k] = int64((c.pause[k] + d) / time.Second)
			}
		}
	}
	return out
}

type counterRow struct {
	AgentID      int64   `db:"agent_id"`
	Day          string  `db:"day"`
	Answered     int     `db:"answered"`
	Missed       int     `db:"missed"`
	TalkSeconds  int64   `db:"talk_seconds"`
	LoginSeconds int64   `db:"login_seconds"`
	HoldSeconds  int64   `db:"hold_seconds"`
	PauseSeconds *string `db:"pause_seconds"`
	Digital      *string `db:"digital_counts"`
}

// loadCounters reads the stored counters of day, so a restart goes on
// counting from them.
func (s *Service) loadCounters(ctx context.Context, day string) (map[int64]counterAcc, error) {
	var rows []counterRow
	if err := s.db.SelectContext(ctx, &rows, `SELECT agent_id, day, answered, missed, talk_seconds, login_seconds,
 hold_seconds, pause_seconds, digital_counts FROM agent_daily_counters WHERE day = ?`, day); err != nil {
		return nil, fmt.Errorf("presence: load today's agent counters: %w", err)
	}
	now := s.clock.Now()
	out := make(map[int64]counterAcc, len(rows))
	for _, r := range rows {
		c := newCounterAcc(now, s.loc)
		c.answered, c.missed = r.Answered, r.Missed
		c.talk = time.Duration(r.TalkSeconds) * time.Second
		c.login = time.Duration(r.LoginSeconds) * time.Second
		c.hold = time.Duration(r.HoldSeconds) * time.Second
		c.digital = parseDigital(r.Digital)
		if r.PauseSeconds != nil && *r.PauseSeconds != "" {
			var m map[string]int64
			if err := json.Unmarshal([]byte(*r.PauseSeconds), &m); err == nil {
				c.pause = make(map[string]time.Duration, len(m))
				for k, v := range m {
					c.pause[k] = time.Duration(v) * time.Second
				}
			}
		}
		out[r.AgentID] = c
	}
	return out, nil
}

// storedCounters is one agent_daily_counters row to write: closed
// intervals only, since open ones are recounted from the session after a
// restart.
func (c *counterAcc) stored(agentID int64) counterRow {
	r := counterRow{
		AgentID: agentID, Day: c.day, Answered: c.answered, Missed: c.missed,
		TalkSeconds: int64(c.talk / time.Second), LoginSeconds: int64(c.login / time.Second),
		HoldSeconds: int64(c.hold / time.Second),
		Digital:     digitalJSON(c.digital),
	}
	if len(c.pause) > 0 {
		m := make(map[string]int64, len(c.pause))
		for k, v := range c.pause {
			m[k] = int64(v / time.Second)
		}
		b, _ := json.Marshal(m)
		v := string(b)
		r.PauseSeconds = &v
	}
	return r
}

func (c *counterAcc) clone() counterAcc {
	out := *c
	out.pause = maps.Clone(c.pause)
	out.digital = cloneDigital(c.digital)
	out.prev = nil
	return out
}
