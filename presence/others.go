package presence

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/jmoiron/sqlx"

	"omnicc/events"
)

// Several instances share one database (docs/operations.md, "Several
// instances"): an agent may log in through one and pause through another,
// while the router's leader, which asks this memory who can take what, is a
// third. agent_sessions is the truth; SyncSessions brings this instance's
// memory in line with the rows other instances wrote, and FollowOthers calls
// it when another instance's agent_state event arrives over the fan-out and
// every SyncEvery in case an event was lost.
//
// What is taken from another instance is the session (logged in since,
// paused on which channels, why): it was already written to the history
// and the counters and published by the instance that made it, so taking
// it here writes and publishes nothing; memory counts its login and pause
// time as that instance did. Calls and queue memberships come from the
// boxes (observe.go).

// DefaultSyncEvery is how often FollowOthers reads every session when no
// event asked for one.
const DefaultSyncEvery = 2 * time.Second

// OnSynced registers fn to be called with each agent whose session
// SyncSessions took from the database (the router routes it again).
func (s *Service) OnSynced(fn func(agentID int64)) {
	s.syncMu.Lock()
	s.synced = append(s.synced, fn)
	s.syncMu.Unlock()
}

// SyncSessions reads the sessions of ids (every agent's when ids is nil)
// and takes each that differs from memory, unless this instance has a
// change of its own to that session not stored yet (a REST write in
// flight, a write-behind change waiting for the writer): memory is then
// ahead, and what it writes is the newer. It returns the agents taken.
func (s *Service) SyncSessions(ctx context.Context, ids []int64) ([]int64, error) {
	// What this instance writes meanwhile (a REST write, a write-behind
	// flush) makes the row read below older than memory: the generations
	// taken before the read tell. No lock is held across the read, so a
	// flush stuck in the database holds up nothing here.
	type gen struct{ sess, flush uint64 }
	s.mu.Lock()
	gens := make(map[int64]gen, max(len(ids), len(s.agents)))
	if ids == nil {
		for id, a := range s.agents {
			gens[id] = gen{a.sessGen, a.flushGen}
		}
	} else {
		for _, id := range ids {
			if a := s.agents[id]; a != nil {
				gens[id] = gen{a.sessGen, a.flushGen}
			}
		}
	}
	s.mu.Unlock()
	if len(gens) == 0 {
		return nil, nil
	}
	rows, err := s.readSessions(ctx, ids)
	if err != nil {
		return nil, err
	}
	now := s.clock.Now()
	var taken []int64
	s.mu.Lock()
	if ids == nil {
		// A session of an agent this instance has not loaded: another
		// instance created it (and the directory change did not reach
		// here, the fan-out being off or down). Load the agents again.
		for id := range rows {
			if s.agents[id] == nil {
				s.requestReload()
				break
			}
		}
	}
	for id, g := range gens {
		a := s.agents[id]
		if a == nil || a.sessGen != g.sess || a.flushGen != g.flush || a.sessWriting > 0 || a.sessFlushing > 0 || s.hist.sessionDirty(id) {
			continue
		}
		row := rows[id]
		if sameSession(a.sess, row) {
			continue
		}
		// As saveSession changes memory, observing: the day's counters
		// count the login and pause time here too (so every instance
		// answers the same figures), while the history row, the counters'
		// write and the event are the other instance's.
		s.observeLocked(true)
		s.rollLocked(a, now)
		switch {
		case row == nil:
			s.endSessionLocked(a, now)
		case a.sess == nil:
			a.sess = row
		default:
			if a.sess.Paused() && (!row.Paused() || a.sess.PauseReason != row.PauseReason) {
				s.closePauseLocked(a, now)
			}
			a.sess = row
		}
		a.changed = true
		s.touchLocked(a)
		s.commitLocked(a, now)
		s.observeLocked(false)
		taken = append(taken, id)
	}
	s.mu.Unlock()
	slices.Sort(taken)
	if len(taken) > 0 {
		s.log.Debug("presence: sessions taken from another instance", "agents", taken)
		s.syncMu.Lock()
		hooks := slices.Clone(s.synced)
		s.syncMu.Unlock()
		for _, id := range taken {
			for _, fn := range hooks {
				fn(id)
			}
		}
	}
	return taken, nil
}

// readSessions reads the session rows of ids (all when nil), by agent.
func (s *Service) readSessions(ctx context.Context, ids []int64) (map[int64]*Session, error) {
	const cols = `SELECT agent_id, logged_in_at, source, paused_channels, pause_type_id, pause_reason, paused_at, updated_at FROM agent_sessions`
	out := make(map[int64]*Session, len(ids))
	read := func(q string, args ...any) error {
		var rows []sessionRow
		if err := s.db.SelectContext(ctx, &rows, q, args...); err != nil {
			return fmt.Errorf("presence: read agent sessions: %w", err)
		}
		for _, r := range rows {
			out[r.AgentID] = r.session()
		}
		return nil
	}
	if ids == nil {
		return out, read(cols)
	}
	// A few hundred ids per statement, well under both engines' limits.
	for chunk := range slices.Chunk(ids, 500) {
		q, args, err := sqlx.In(cols+` WHERE agent_id IN (?)`, chunk)
		if err != nil {
			return nil, err
		}
		if err := read(s.db.Rebind(q), args...); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// sameSession compares what a session row holds (to the microsecond the
// database keeps).
func sameSession(a, b *Session) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	t := func(v time.Time) time.Time { return v.UTC().Truncate(time.Microsecond) }
	tp := func(v *time.Time) time.Time {
		if v == nil {
			return time.Time{}
		}
		return t(*v)
	}
	idp := func(v *int64) int64 {
		if v == nil {
			return 0
		}
		return *v
	}
	return t(a.LoggedInAt).Equal(t(b.LoggedInAt)) && a.Source == b.Source &&
		slices.Equal(a.PausedChannels, b.PausedChannels) && idp(a.PauseTypeID) == idp(b.PauseTypeID) &&
		truncate(a.PauseReason, 128) == truncate(b.PauseReason, 128) && tp(a.PausedAt).Equal(tp(b.PausedAt))
}

// FollowOthers takes the sessions other instances change: at once for
// each agent_state event that came from another instance (Origin set),
// and every `every` ([DefaultSyncEvery]) for all agents, so a lost event
// or a fan-out that is down costs at most that long. Run it on every
// instance of a shared database; on the embedded SQLite store there is
// no other instance.
func (s *Service) FollowOthers(ctx context.Context, src events.Source, every time.Duration) error {
	if every <= 0 {
		every = DefaultSyncEvery
	}
	var mu sync.Mutex
	pending, all := map[int64]bool{}, false
	wake := make(chan struct{}, 1)
	signal := func() {
		select {
		case wake <- struct{}{}:
		default:
		}
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	wg.Go(func() {
		_ = events.Follow(ctx, src, events.Everything, 4096, func(e Event) {
			if e.Type == events.Lost {
				mu.Lock()
				all = true
				mu.Unlock()
				signal()
				return
			}
			if e.Origin == "" || e.Type != EventAgentState || e.AgentID == 0 {
				return
			}
			mu.Lock()
			pending[e.AgentID] = true
			mu.Unlock()
			signal()
		}, func(error) {
			mu.Lock()
			all = true
			mu.Unlock()
			signal()
		})
	})
	tick := s.clock.After(every)
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-wake:
		case <-tick:
			tick = s.clock.After(every)
			mu.Lock()
			all = true
			mu.Unlock()
		}
		mu.Lock()
		var ids []int64
		if !all {
			ids = make([]int64, 0, len(pending))
			for id := range pending {
				ids = append(ids, id)
			}
		}
		pending, all = map[int64]bool{}, false
		mu.Unlock()
		if _, err := s.SyncSessions(ctx, ids); err != nil && ctx.Err() == nil {
			s.log.Warn("presence: reading other instances' sessions failed; retrying at the next sync", "err", err)
		}
	}
}
