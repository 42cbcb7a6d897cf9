package presence

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"

	"omnicc/directory"
)

// What a session change did in Asterisk, as the API reports it.
const (
	// AsteriskSynced: every box applied it.
	AsteriskSynced = "synced"
	// AsteriskPending: Asterisk could not be reached; the database has the
	// change and the reconcile after the next AMI connect applies it.
	AsteriskPending = "pending"
	// AsteriskNone: nothing to do in Asterisk (no voice queue, or a
	// digital-only pause).
	AsteriskNone = "none"
)

// Sources of a session.
const (
	SourceAPI      = "api"
	SourceAGI      = "agi"
	SourceAsterisk = "asterisk"
)

// LoginInPauseReason is the pause reason of an agent whose account says
// login-in-pause.
const LoginInPauseReason = "login_in_pause"

// Result is the outcome of a login, logout, pause or unpause: the agent's
// state afterwards and what became of the change in Asterisk.
type Result struct {
	Asterisk string     `json:"asterisk"`
	State    AgentState `json:"state"`
}

// Channels are the channels an agent can pause on: voice and the digital
// ones.
func Channels() []string {
	return append([]string{ChannelVoice}, directory.DigitalChannels...)
}

func (s *Service) lockAgent(id int64) func() { return s.agentLocks.lock(id) }

// Login starts the agent's session (in the database first: it is the
// truth) and makes it a dynamic member of each of its voice queues, paused
// on every channel when its account says login-in-pause. Logging in again
// keeps the session and re-adds whatever membership is missing.
//
// When Asterisk refuses a QueueAdd the login is undone — memberships made
// are removed and a new session deleted — and the *RefusedError returned.
// When Asterisk is unreachable the session stays and Result.Asterisk is
// "pending".
func (s *Service) Login(ctx context.Context, agentID int64, source string) (Result, error) {
	defer s.lockAgent(agentID)()
	a, err := s.refreshAgent(ctx, agentID)
	if err != nil {
		return Result{}, err
	}
	now := s.clock.Now()
	s.mu.Lock()
	disabled, existing := a.disabled, a.sess.clone()
	s.mu.Unlock()
	if disabled {
		return Result{}, fmt.Errorf("agent %d: %w", agentID, ErrAgentDisabled)
	}
	sess := existing
	if sess == nil {
		sess = &Session{AgentID: agentID, LoggedInAt: now, Source: source, UpdatedAt: now}
		s.mu.Lock()
		if a.loginInPause {
			s.setPauseLocked(sess, Channels(), LoginInPauseReason, now)
		}
		s.mu.Unlock()
		if err := s.saveSession(ctx, a, sess, now, historyRow{State: "login", Reason: source, At: now}); err != nil {
			return Result{}, err
		}
	}

	s.mu.Lock()
	queues := a.voiceQueues()
	m := Member{Interface: a.iface, StateInterface: a.stateIface, MemberName: a.memberName(),
		Paused: sess.PausedOn(ChannelVoice), Reason: sess.PauseReason}
	s.mu.Unlock()
	if len(queues) == 0 {
		return s.result(a, AsteriskNone), nil
	}
	ctrl := s.controller()
	var added []string
	for _, q := range queues {
		m.Queue, m.Penalty = q.queue, q.penalty
		err := s.act(ctx, ctrl, func(ctx context.Context) error { return ctrl.QueueAdd(ctx, m) })
		if errors.Is(err, ErrPending) {
			s.log.Warn("presence: login stored; Asterisk not reachable, the reconcile on reconnect adds the members",
				"agent_id", agentID, "err", err)
			return s.result(a, AsteriskPending), nil
		}
		if err != nil {
			s.undoLogin(a, added, existing == nil)
			return Result{}, err
		}
		added = append(added, q.queue)
	}
	s.awaitAsterisk(ctx, a, "login", func() bool {
		for _, q := range queues {
			if !a.membersAre(q.queue, func(m *member) bool { return m.paused == sess.PausedOn(ChannelVoice) }) {
				return false
			}
		}
		return true
	})
	return s.result(a, AsteriskSynced), nil
}

// undoLogin reverts a login Asterisk refused.
func (s *Service) undoLogin(a *agent, added []string, newSession bool) {
	ctx, cancel := context.WithTimeout(context.Background(), s.opts.ActionTimeout)
	defer cancel()
	if ctrl := s.controller(); ctrl != nil {
		for _, q := range added {
			if err := ctrl.QueueRemove(ctx, q, a.iface); err != nil {
				s.log.Warn("presence: undoing a refused login: QueueRemove failed; the next reconcile removes the member",
					"agent_id", a.id, "queue", q, "err", err)
			}
		}
	}
	if newSession {
		now := s.clock.Now()
		if err := s.saveSession(ctx, a, nil, now, historyRow{State: "logout", Reason: "login refused by Asterisk", At: now}); err != nil {
			s.log.Error("presence: undoing a refused login: deleting the session failed", "agent_id", a.id, "err", err)
		}
	}
}

// Logout ends the session (in the database first) and removes the agent's
// dynamic memberships from Asterisk. Logging out an agent that is not logged
// in still clears any leftover member in Asterisk. A QueueRemove that
// Asterisk refuses (not there, no such queue) leaves the goal met and is only
// logged.
func (s *Service) Logout(ctx context.Context, agentID int64, source string) (Result, error) {
	defer s.lockAgent(agentID)()
	a, err := s.refreshAgent(ctx, agentID)
	if err != nil {
		return Result{}, err
	}
	return s.logout(ctx, a, source)
}

// logout is Logout of an agent already locked and refreshed (or deleted:
// then its last known queues are left). reason goes in the history row.
func (s *Service) logout(ctx context.Context, a *agent, reason string) (Result, error) {
	agentID := a.id
	now := s.clock.Now()
	s.mu.Lock()
	had := a.sess != nil
	queues := map[string]bool{}
	for _, q := range a.voiceQueues() {
		queues[q.queue] = true
	}
	for _, m := range a.members {
		if m.membership == "dynamic" {
			queues[m.queue] = true
		}
	}
	s.mu.Unlock()
	if had {
		if err := s.saveSession(ctx, a, nil, now, historyRow{State: "logout", Reason: reason, At: now}); err != nil {
			return Result{}, err
		}
	}
	if len(queues) == 0 {
		return s.result(a, AsteriskNone), nil
	}
	ctrl := s.controller()
	status := AsteriskSynced
	for _, q := range sortedKeys(queues) {
		err := s.act(ctx, ctrl, func(ctx context.Context) error { return ctrl.QueueRemove(ctx, q, a.iface) })
		var refused *RefusedError
		switch {
		case errors.Is(err, ErrPending):
			return s.result(a, AsteriskPending), nil
		case errors.As(err, &refused):
			s.log.Info("presence: logout: Asterisk had no such member; nothing to remove",
				"agent_id", agentID, "queue", q, "asterisk_message", refused.Message)
		case err != nil:
			return Result{}, err
		}
	}
	s.awaitAsterisk(ctx, a, "logout", func() bool {
		for _, m := range a.members {
			if m.membership == "dynamic" && queues[m.queue] {
				return false
			}
		}
		return true
	})
	return s.result(a, status), nil
}

// Pause pauses the agent on channels (all when empty) for reason, a pause
// type's name or id ("" pauses without a type). Voice is paused in Asterisk (QueuePause without Queue:
// every queue); digital channels are only recorded, for the router. A pause
// with another reason replaces the current one on every paused channel.
func (s *Service) Pause(ctx context.Context, agentID int64, reason string, channels []string) (Result, error) {
	defer s.lockAgent(agentID)()
	chans, err := checkChannels(channels)
	if err != nil {
		return Result{}, err
	}
	a, err := s.refreshAgent(ctx, agentID)
	if err != nil {
		return Result{}, err
	}
	now := s.clock.Now()
	s.mu.Lock()
	name, typeID, rerr := s.pauseTypeLocked(reason)
	prev := a.sess.clone()
	s.mu.Unlock()
	if rerr != nil {
		if n, id, ok := s.pauseTypeFromDB(ctx, reason); ok {
			name, typeID, rerr = n, id, nil
		}
	}
	if rerr != nil {
		return Result{}, rerr
	}
	if prev == nil {
		return Result{}, fmt.Errorf("agent %d: %w", agentID, ErrNotLoggedIn)
	}
	next := prev.clone()
	next.PausedChannels = appendUnique(prev.PausedChannels, chans...)
	if !prev.Paused() || prev.PauseReason != name {
		t := now
		next.PausedAt = &t
	}
	next.PauseReason, next.PauseTypeID = name, typeID
	next.UpdatedAt = now
	if err := s.saveSession(ctx, a, next, now, historyRow{State: "pause", Reason: name, At: now,
		Details: (&details{Channels: chans}).encode()}); err != nil {
		return Result{}, err
	}
	voiceChanged := next.PausedOn(ChannelVoice) && (!prev.PausedOn(ChannelVoice) || prev.PauseReason != name)
	return s.applyVoicePause(ctx, a, prev, voiceChanged, true, name)
}

// Unpause ends the pause on channels (all when empty).
func (s *Service) Unpause(ctx context.Context, agentID int64, channels []string) (Result, error) {
	defer s.lockAgent(agentID)()
	chans, err := checkChannels(channels)
	if err != nil {
		return Result{}, err
	}
	a, err := s.refreshAgent(ctx, agentID)
	if err != nil {
		return Result{}, err
	}
	now := s.clock.Now()
	s.mu.Lock()
	prev := a.sess.clone()
	s.mu.Unlock()
	if prev == nil {
		return Result{}, fmt.Errorf("agent %d: %w", agentID, ErrNotLoggedIn)
	}
	next := prev.clone()
	next.PausedChannels = removeAll(prev.PausedChannels, chans)
	if len(next.PausedChannels) == 0 {
		clearPause(next)
	}
	next.UpdatedAt = now
	if err := s.saveSession(ctx, a, next, now, historyRow{State: "unpause", Reason: prev.PauseReason, At: now,
		Details: (&details{Channels: chans}).encode()}); err != nil {
		return Result{}, err
	}
	voiceChanged := prev.PausedOn(ChannelVoice) && !next.PausedOn(ChannelVoice)
	return s.applyVoicePause(ctx, a, prev, voiceChanged, false, "")
}

// applyVoicePause sends QueuePause when the voice pause changed, and puts
// the previous session back if Asterisk refuses.
func (s *Service) applyVoicePause(ctx context.Context, a *agent, prev *Session, changed, paused bool, reason string) (Result, error) {
	s.mu.Lock()
	hasVoice := len(a.members) > 0
	for _, q := range a.assigned {
		if q.channel == ChannelVoice {
			hasVoice = true
		}
	}
	iface := a.iface
	s.mu.Unlock()
	if !changed || !hasVoice {
		return s.result(a, AsteriskNone), nil
	}
	ctrl := s.controller()
	err := s.act(ctx, ctrl, func(ctx context.Context) error { return ctrl.QueuePause(ctx, iface, "", paused, reason) })
	if errors.Is(err, ErrPending) {
		return s.result(a, AsteriskPending), nil
	}
	if err != nil {
		now := s.clock.Now()
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.opts.ActionTimeout)
		defer cancel()
		if serr := s.saveSession(rctx, a, prev, now, historyRow{State: "pause_undone", Reason: "refused by Asterisk", At: now}); serr != nil {
			s.log.Error("presence: putting the session back after Asterisk refused a pause change failed", "agent_id", a.id, "err", serr)
		}
		return Result{}, err
	}
	s.awaitAsterisk(ctx, a, "pause", func() bool {
		for _, m := range a.members {
			if m.paused != paused || (paused && m.reason != reason) {
				return false
			}
		}
		return true
	})
	return s.result(a, AsteriskSynced), nil
}

// awaitAsterisk waits until done (called under s.mu) reports that the
// QueueMember events of the actions Asterisk just accepted have been
// applied, or Options.EventWait passed, or ctx ended.
//
// Why the answers wait: Asterisk answers QueueAdd, QueueRemove and
// QueuePause before it sends their events, and the answer's state mixes the
// session (the database, just written) with each queue's membership as
// Asterisk last reported it; built at once it said "state":"ready" beside
// "queues":[{"paused":true}]. Waiting (a few milliseconds as a rule) makes
// the two agree and the queues show what Asterisk did. Should the events
// not come in time, the answer is built anyway: the session is the truth,
// the queues show Asterisk's last report, and the events, when they come,
// reach the websocket.
func (s *Service) awaitAsterisk(ctx context.Context, a *agent, action string, done func() bool) {
	if s.opts.EventWait < 0 {
		return
	}
	// A request's latency bound: wall-clock time, not the service's clock.
	timer := time.NewTimer(s.opts.EventWait)
	defer timer.Stop()
	for {
		s.mu.Lock()
		if done() {
			s.mu.Unlock()
			return
		}
		if a.wake == nil {
			a.wake = make(chan struct{})
		}
		wake := a.wake
		s.mu.Unlock()
		select {
		case <-wake:
		case <-ctx.Done():
			return
		case <-timer.C:
			s.log.Info("presence: Asterisk accepted the change but its events did not come in time; answering with its last report",
				"agent_id", a.id, "action", action, "waited", s.opts.EventWait)
			return
		}
	}
}

// act runs one Asterisk action with the configured timeout; no controller
// (omniccd without Asterisk) is "pending".
func (s *Service) act(ctx context.Context, ctrl QueueController, fn func(context.Context) error) error {
	if ctrl == nil {
		return fmt.Errorf("no Asterisk box configured (OMNICC_AMI): %w", ErrPending)
	}
	actx, cancel := context.WithTimeout(ctx, s.opts.ActionTimeout)
	defer cancel()
	err := fn(actx)
	var refused *RefusedError
	if err != nil && !errors.As(err, &refused) && !errors.Is(err, ErrPending) {
		// A timeout or a dropped connection: the outcome is unknown, so it
		// is left to the reconcile like an unreachable box.
		return fmt.Errorf("%w: %v", ErrPending, err)
	}
	return err
}

// saveSession writes sess (nil: deletes the session) and one history row
// in one transaction, then makes it the in-memory session. It holds no
// lock across the transaction: the write-behind flush runs beside it, and
// the session generation (sessGen) makes a flush that read the session
// before this change write it again (flushAll).
func (s *Service) saveSession(ctx context.Context, a *agent, sess *Session, now time.Time, row historyRow) error {
	row.AgentID = a.id
	row.At = row.At.UTC().Truncate(time.Microsecond)
	s.mu.Lock()
	a.sessGen++
	a.sessWriting++
	s.mu.Unlock()
	err := s.db.InTxRetry(ctx, func(tx *sqlx.Tx) error {
		if err := writeSession(ctx, tx, a.id, sess, now); err != nil {
			return err
		}
		return insertHistory(ctx, tx, []historyRow{row})
	})
	s.mu.Lock()
	a.sessWriting--
	if err != nil {
		s.mu.Unlock()
		return fmt.Errorf("presence: store the session of agent %d: %w", a.id, err)
	}
	s.rollLocked(a, now)
	switch {
	case sess == nil:
		s.endSessionLocked(a, now)
	case a.sess == nil:
		a.sess = sess.clone()
	default:
		if a.sess.Paused() && (!sess.Paused() || a.sess.PauseReason != sess.PauseReason) {
			s.closePauseLocked(a, now)
		}
		a.sess = sess.clone()
	}
	a.changed = true
	s.touchLocked(a)
	s.commitLocked(a, now)
	s.mu.Unlock()
	s.afterChange()
	return nil
}

func (s *Service) result(a *agent, asterisk string) Result {
	now := s.clock.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	return Result{Asterisk: asterisk, State: s.snapshotLocked(a, now)}
}

// pauseTypeLocked resolves a pause reason given as a pause type's id or
// name (case-insensitive) to its name and id.
func (s *Service) pauseTypeLocked(reason string) (string, *int64, error) {
	reason = strings.TrimSpace(reason)
	if reason == "" {
		// A pause without a type: what a phone's bare pause feature code
		// asks for. The REST API requires a reason itself.
		return "", nil, nil
	}
	if id, err := strconv.ParseInt(reason, 10, 64); err == nil {
		if name, ok := s.pauseIDs[id]; ok {
			return name, &id, nil
		}
	}
	if id, ok := s.pauses[strings.ToLower(reason)]; ok {
		return s.pauseIDs[id], &id, nil
	}
	names := make([]string, 0, len(s.pauseIDs))
	for _, n := range s.pauseIDs {
		names = append(names, n)
	}
	sort.Strings(names)
	if len(names) == 0 {
		return "", nil, &directory.FieldError{Field: "reason", Message: fmt.Sprintf("%q is not a pause type, and none is configured: an admin creates them with POST /api/v1/pause-types", reason)}
	}
	return "", nil, &directory.FieldError{Field: "reason", Message: fmt.Sprintf("%q is not a pause type; use one of %s (or its id)", reason, strings.Join(names, ", "))}
}

func checkChannels(channels []string) ([]string, error) {
	all := Channels()
	if len(channels) == 0 {
		return all, nil
	}
	var out []string
	for _, c := range channels {
		c = strings.ToLower(strings.TrimSpace(c))
		if !slices.Contains(all, c) {
			return nil, &directory.FieldError{Field: "channels", Message: fmt.Sprintf("%q is not a channel; use %s", c, strings.Join(all, ", "))}
		}
		out = appendUnique(out, c)
	}
	return out, nil
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// State is one agent's current state.
func (s *Service) State(ctx context.Context, agentID int64) (AgentState, error) {
	now := s.clock.Now()
	s.mu.Lock()
	a := s.agents[agentID]
	if a != nil {
		st := s.snapshotLocked(a, now)
		s.mu.Unlock()
		return st, nil
	}
	s.mu.Unlock()
	// Created since the last reload: read it now.
	a, err := s.refreshAgent(ctx, agentID)
	if err != nil {
		return AgentState{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.snapshotLocked(a, now), nil
}

// StateFilter narrows States.
type StateFilter struct {
	State string // one of the State* names; "" for all
	Queue string // agents assigned to or member of this queue
}

// States lists every agent's state, by agent id.
func (s *Service) States(f StateFilter) []AgentState {
	now := s.clock.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]AgentState, 0, len(s.agents))
	for _, a := range s.agents {
		if f.State != "" && a.state != f.State {
			continue
		}
		st := s.snapshotLocked(a, now)
		if f.Queue != "" && !slices.ContainsFunc(st.Queues, func(q QueueState) bool { return strings.EqualFold(q.Queue, f.Queue) }) {
			continue
		}
		out = append(out, st)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].AgentID < out[j].AgentID })
	return out
}

// Session is the agent's session, nil when it is logged out.
func (s *Service) Session(agentID int64) *Session {
	s.mu.Lock()
	defer s.mu.Unlock()
	if a := s.agents[agentID]; a != nil {
		return a.sess.clone()
	}
	return nil
}

// Available reports whether the agent may be offered work on channel:
// logged in and not paused on it. The router asks this.
func (s *Service) Available(agentID int64, channel string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.agents[agentID]
	return a != nil && a.sess != nil && !a.sess.PausedOn(channel)
}

// AgentIDByChannel finds the agent whose endpoint or Local interface a
// channel belongs to (PJSIP/alice-0000001a is alice's).
func (s *Service) AgentIDByChannel(channel string) (int64, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if a := s.agentByDeviceLocked(s.deviceOf(channel)); a != nil {
		return a.id, true
	}
	return 0, false
}
