package presence

import (
	"context"
	"errors"
	"maps"
)

// What an admin changes in the directory reaches a logged-in agent's
// memberships in Asterisk here:
//
//   - an agent disabled (or deleted) is logged out: its session ends with a
//     history row ("logout", reason "disabled" or "deleted") and it is
//     removed from every queue. Otherwise Asterisk keeps ringing an endpoint
//     that is gone ("Unable to create PJSIP channel - endpoint 'alice' was
//     not found" on every retry, seen against Asterisk 22). A lock (failed
//     passwords) only refuses new logins;
//   - a voice queue unassigned (or made permanent: its realtime member takes
//     over) is left: QueueRemove from it;
//   - a voice queue assigned is joined: QueueAdd with the current pause;
//   - a penalty changed on a voice queue the agent stays in is sent:
//     QueuePenalty (app_queue keeps a dynamic member's penalty from its
//     QueueAdd otherwise, until the next login);
//   - a new interface (username, typology or external number changed) moves
//     every membership to it.
//
// The directory tells its listeners on the writer's goroutine, which must
// not wait; the listener New registers only asks Run for a reload. The
// change is seen where the agent's configuration is applied in memory
// (setConfigLocked: by that reload, or a REST call's refresh): it is noted
// per agent in Service.adminWork, so the pending work is bounded by the
// number of agents however many changes come in, and carried out by a
// goroutine of Run's, under the agent's lock like a REST call.

// adminChange is what an agent's configuration was before the changes not
// yet carried out.
type adminChange struct {
	a    *agent
	gone bool // deleted from the directory
	// iface is the member interface before the first change.
	iface string
	// queues are the dynamic voice queues assigned before the first change;
	// left also gathers those assigned at any point since, so that a queue
	// assigned and unassigned again is left too if a login joined it.
	queues, left map[string]bool
	// penalties are the penalties of queues before the first change.
	penalties map[string]int
}

// configState is the part of an agent's configuration that its Asterisk
// memberships follow.
type configState struct {
	known     bool // the agent was configured before (not a new object)
	iface     string
	queues    map[string]bool
	penalties map[string]int
	off       bool
}

func (a *agent) configState() configState {
	c := configState{known: a.iface != "", iface: a.iface, off: a.off, queues: map[string]bool{}, penalties: map[string]int{}}
	for _, q := range a.voiceQueues() {
		c.queues[q.queue] = true
		c.penalties[q.queue] = q.penalty
	}
	return c
}

// noteConfigLocked records that a's configuration went from before to what
// it is now; a logged-in agent whose memberships must follow gets work for
// Run's goroutine.
func (s *Service) noteConfigLocked(a *agent, before configState) {
	if a.sess == nil || !before.known {
		return
	}
	now := a.configState()
	if !now.off && now.iface == before.iface && sameSet(now.queues, before.queues) && maps.Equal(now.penalties, before.penalties) {
		return
	}
	w := s.adminWork[a.id]
	if w == nil || w.a != a {
		w = &adminChange{a: a, iface: before.iface, queues: before.queues, penalties: before.penalties, left: map[string]bool{}}
		s.adminWork[a.id] = w
	}
	for q := range before.queues {
		w.left[q] = true
	}
	s.kickAdminWork()
}

// noteGoneLocked records that a, logged in, was deleted from the directory.
func (s *Service) noteGoneLocked(a *agent) {
	if a.sess == nil {
		return
	}
	w := &adminChange{a: a, gone: true, iface: a.iface, queues: map[string]bool{}, penalties: map[string]int{}, left: map[string]bool{}}
	s.adminWork[a.id] = w
	s.kickAdminWork()
}

func (s *Service) kickAdminWork() {
	select {
	case s.adminKick <- struct{}{}:
	default:
	}
}

func sameSet(a, b map[string]bool) bool {
	if len(a) != len(b) {
		return false
	}
	for k := range a {
		if !b[k] {
			return false
		}
	}
	return true
}

// runAdminWork carries out the noted changes until ctx ends.
func (s *Service) runAdminWork(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.adminKick:
		}
		for ctx.Err() == nil {
			w := s.takeAdminWork()
			if w == nil {
				break
			}
			s.applyAdminChange(ctx, w)
		}
	}
}

// takeAdminWork removes and returns the noted change of the lowest agent
// id, nil when there is none.
func (s *Service) takeAdminWork() *adminChange {
	s.mu.Lock()
	defer s.mu.Unlock()
	var first *adminChange
	for _, w := range s.adminWork {
		if first == nil || w.a.id < first.a.id {
			first = w
		}
	}
	if first != nil {
		delete(s.adminWork, first.a.id)
	}
	return first
}

// applyAdminChange brings a logged-in agent's session and memberships in
// line with what an admin changed. It compares with the agent as it is
// now, so changes that cancel out do nothing.
func (s *Service) applyAdminChange(ctx context.Context, w *adminChange) {
	a := w.a
	defer s.lockAgent(a.id)()
	s.mu.Lock()
	loggedIn, off := a.sess != nil, a.off
	now := a.configState()
	m := Member{Interface: a.iface, StateInterface: a.stateIface, MemberName: a.memberName(),
		Paused: a.sess.PausedOn(ChannelVoice)}
	if m.Paused {
		m.Reason = a.sess.PauseReason
	}
	penalty := map[string]int{}
	for _, q := range a.voiceQueues() {
		penalty[q.queue] = q.penalty
	}
	s.mu.Unlock()
	if !loggedIn {
		return // logged out meanwhile: that logout left the queues
	}
	if w.gone || off {
		reason := "disabled"
		if w.gone {
			reason = "deleted"
		}
		res, err := s.logout(ctx, a, reason)
		if err != nil {
			s.log.Error("presence: logging out an agent an admin "+reason+" failed; the reconcile removes its members",
				"agent_id", a.id, "err", err)
			return
		}
		s.log.Info("presence: agent "+reason+" by an admin while logged in; logged out and removed from its queues",
			"agent_id", a.id, "asterisk", res.Asterisk)
		return
	}
	type move struct {
		queue, iface string
	}
	var removes []move
	for _, q := range sortedKeys(w.left) {
		switch {
		case w.iface != now.iface:
			removes = append(removes, move{q, w.iface})
		case !now.queues[q]:
			removes = append(removes, move{q, now.iface})
		}
	}
	var adds, penalties []string
	for _, q := range sortedKeys(now.queues) {
		switch {
		case !w.queues[q] || w.iface != now.iface:
			adds = append(adds, q)
		case w.penalties[q] != penalty[q]:
			penalties = append(penalties, q)
		}
	}
	ctrl := s.controller()
	for _, r := range removes {
		err := s.act(ctx, ctrl, func(ctx context.Context) error { return ctrl.QueueRemove(ctx, r.queue, r.iface) })
		s.logAdminAction(a.id, "QueueRemove", r.queue, r.iface, err)
		if err == nil && r.iface != now.iface {
			// Its removal fact names an interface no longer the
			// agent's: forget the membership here.
			s.mu.Lock()
			kept := a.members[:0]
			for _, mm := range a.members {
				if mm.queue != r.queue || mm.iface != r.iface {
					kept = append(kept, mm)
				}
			}
			a.members = kept
			a.changed = true
			s.commitLocked(a, s.clock.Now())
			s.mu.Unlock()
			s.afterChange()
		}
	}
	for _, q := range adds {
		m.Queue, m.Penalty = q, penalty[q]
		err := s.act(ctx, ctrl, func(ctx context.Context) error { return ctrl.QueueAdd(ctx, m) })
		s.logAdminAction(a.id, "QueueAdd", q, m.Interface, err)
	}
	for _, q := range penalties {
		p := penalty[q]
		err := s.act(ctx, ctrl, func(ctx context.Context) error { return ctrl.QueuePenalty(ctx, q, m.Interface, p) })
		s.logAdminAction(a.id, "QueuePenalty", q, m.Interface, err)
	}
}

func (s *Service) logAdminAction(agentID int64, action, queue, iface string, err error) {
	var refused *RefusedError
	switch {
	case err == nil:
		s.log.Info("presence: agent's queues changed by an admin while logged in; Asterisk updated",
			"agent_id", agentID, "action", action, "queue", queue, "interface", iface)
	case errors.Is(err, ErrPending):
		s.log.Warn("presence: agent's queues changed by an admin; Asterisk not reachable, the reconcile applies it",
			"agent_id", agentID, "action", action, "queue", queue, "interface", iface, "err", err)
	case errors.As(err, &refused):
		s.log.Warn("presence: agent's queues changed by an admin; Asterisk refused the change",
			"agent_id", agentID, "action", action, "queue", queue, "interface", iface, "asterisk_message", refused.Message)
	default:
		s.log.Error("presence: agent's queues changed by an admin; updating Asterisk failed",
			"agent_id", agentID, "action", action, "queue", queue, "interface", iface, "err", err)
	}
}
