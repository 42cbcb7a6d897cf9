package presence

import (
	"strings"
	"time"
)

// VoiceKind says what a VoiceFact reports. The voice adapter (ami) turns
// Asterisk's events into these facts, so that presence stays free of the
// protocol.
type VoiceKind uint8

const (
	// VoiceMemberAdded: the agent became a member of a queue.
	VoiceMemberAdded VoiceKind = iota + 1
	// VoiceMemberRemoved: the agent is no longer a member of the queue.
	VoiceMemberRemoved
	// VoiceMemberPaused: the membership was paused or unpaused, by omniccd
	// or inside Asterisk (CLI, dialplan).
	VoiceMemberPaused
	// VoiceMemberChanged: the membership's phone state, penalty or
	// ring-in-use changed.
	VoiceMemberChanged
	// VoiceRinging: a queue offers a call to the agent.
	VoiceRinging
	// VoiceRingMissed: the agent did not answer the offered call in time.
	VoiceRingMissed
	// VoiceAnswered: the agent answered a queue call.
	VoiceAnswered
	// VoiceCallEnded: the agent's queue call ended (talk and hold time).
	VoiceCallEnded
	// VoiceRingRejected: the agent hung up on a ringing call.
	VoiceRingRejected
	// VoiceCallerLeft: the caller left the queue (gave up or the queue
	// timed out), which ends every ring for that call; neither counts as
	// missed for the agents (VoiceRingMissed already counted the rings that
	// timed out).
	VoiceCallerLeft
	// VoiceDevice: the agent's phone changed state.
	VoiceDevice
	// VoiceHeld and VoiceResumed: a call leg went on hold and back.
	VoiceHeld
	VoiceResumed
	// VoiceLegGone: a call leg hung up. A safety net that ends rings and
	// calls of that leg when the fact that should have ended them was lost.
	VoiceLegGone
	// VoiceLegUp: a leg started talking (entered a bridge). For an agent's
	// leg with no queue call this is its direct call: a click-to-call, a
	// call the phone dialled or a direct inbound call.
	VoiceLegUp
)

// Memberships, as QueueState.Membership publishes them.
const (
	// MembershipDynamic is a login: omniccd (or the dialplan, or the CLI)
	// added the member.
	MembershipDynamic = "dynamic"
	// MembershipStatic and MembershipRealtime are permanent members, which
	// take calls without a login.
	MembershipStatic   = "static"
	MembershipRealtime = "realtime"
)

// DeviceState is the state of an agent's phone. Its values are the
// spelling AgentState.Device publishes (docs/websocket.md).
type DeviceState string

const (
	DeviceUnknown     DeviceState = "UNKNOWN"
	DeviceIdle        DeviceState = "NOT_INUSE"
	DeviceInUse       DeviceState = "INUSE"
	DeviceBusy        DeviceState = "BUSY"
	DeviceInvalid     DeviceState = "INVALID" // cannot be reached as configured
	DeviceUnavailable DeviceState = "UNAVAILABLE"
	DeviceRinging     DeviceState = "RINGING"
	DeviceRingInUse   DeviceState = "RINGINUSE" // ringing while on a call
	DeviceOnHold      DeviceState = "ONHOLD"
)

// busy reports the states that mean a call on the phone.
func (d DeviceState) busy() bool {
	switch d {
	case DeviceInUse, DeviceBusy, DeviceRinging, DeviceRingInUse, DeviceOnHold:
		return true
	}
	return false
}

// VoiceFact is one thing the voice adapter saw happen to an agent, a
// membership or a call. Only the fields of its Kind are set.
type VoiceFact struct {
	Kind VoiceKind
	Box  string    // the Asterisk box it happened on
	At   time.Time // when it was received; zero means now

	// Agent is the agent's member interface or device, as Names gives them.
	Agent string

	// Membership facts (and the queue of call facts).
	Queue      string
	Membership string // MembershipDynamic, MembershipStatic or MembershipRealtime
	Paused     bool
	Reason     string // why it is paused
	// Device is the agent's phone state (VoiceDevice, and membership facts
	// as the membership reports it).
	Device DeviceState
	// Status is the adapter's code for the membership's state, published as
	// is (QueueState.Status); presence does not read it.
	Status     int
	Penalty    int
	CallsTaken int
	Wrapuptime int // the member's own wrap-up seconds, 0 for the queue's
	InCall     bool
	// StateDevice is the device the membership follows, as Asterisk
	// reports it: facts about that device are the agent's too.
	StateDevice string

	// Call facts.
	CallID     string // the call: the caller's leg for a queue call
	Leg        string // the agent's leg (the leg held, resumed or gone)
	LegID      string // the id of Leg
	CallerNum  string
	CallerName string
	EndedBy    string // VoiceCallEnded: caller, agent or transfer
	TalkTime   int    // seconds
	HoldTime   int    // seconds the caller waited
	RingTime   int    // milliseconds the agent rang (VoiceRingMissed)
	// Outbound (VoiceLegUp): the leg started the call.
	Outbound bool
}

// ApplyVoice applies one fact to the agents it concerns. Facts about no
// agent's interface or device are ignored. It never waits for the
// database: history rows are queued for Run's writer.
func (s *Service) ApplyVoice(ev *VoiceFact) { s.applyVoice(ev, false) }

func (s *Service) applyVoice(ev *VoiceFact, observing bool) {
	at := ev.At
	if at.IsZero() {
		at = s.clock.Now()
	}
	s.mu.Lock()
	s.observeLocked(observing)
	touched := s.applyLocked(ev, at)
	s.observeLocked(false)
	s.mu.Unlock()
	if touched {
		s.afterChange()
	}
}

func (s *Service) applyLocked(ev *VoiceFact, at time.Time) bool {
	switch ev.Kind {
	case VoiceMemberAdded, VoiceMemberRemoved, VoiceMemberPaused, VoiceMemberChanged:
		a := s.agentByDeviceLocked(ev.Agent)
		if a == nil {
			return false
		}
		s.rollLocked(a, at)
		s.applyMemberLocked(a, ev, at)
		s.touchLocked(a)
		s.commitLocked(a, at)
		return true
	case VoiceRinging, VoiceRingMissed, VoiceAnswered, VoiceCallEnded, VoiceRingRejected:
		a := s.agentByDeviceLocked(ev.Agent)
		if a == nil {
			return false
		}
		s.rollLocked(a, at)
		s.applyCallLocked(a, ev, at)
		return true
	case VoiceCallerLeft:
		return s.endRingsLocked(ev.CallID, "", at, "ring_cancelled", "caller left the queue (abandon or queue timeout)", nil)
	case VoiceLegGone:
		return s.hangupLocked(ev, at)
	case VoiceDevice:
		a := s.agentByDeviceLocked(ev.Agent)
		if a == nil {
			return false
		}
		s.rollLocked(a, at)
		s.setDeviceLocked(a, ev.Device, at)
		s.commitLocked(a, at)
		return true
	case VoiceHeld, VoiceResumed:
		return s.holdLocked(ev, at)
	case VoiceLegUp:
		return s.legUpLocked(ev, at)
	}
	return false
}

// legUpLocked makes an agent's leg that started talking its call, unless a
// queue call (which AgentConnect reports, with its queue) has it.
func (s *Service) legUpLocked(ev *VoiceFact, at time.Time) bool {
	a := s.agentByDeviceLocked(ev.Agent)
	if a == nil {
		return false
	}
	if r := a.ring; r != nil && r.Queue != "" && (r.agentUniqueID == ev.LegID || r.Channel == ev.Leg) {
		return false // AgentConnect follows
	}
	if a.call != nil {
		return false // one call at a time: the first stays (a consultation is not the call)
	}
	s.rollLocked(a, at)
	dir := "inbound"
	if ev.Outbound {
		dir = "outbound"
	}
	a.ring = nil
	a.call = &Call{UniqueID: ev.LegID, Channel: ev.Leg, LegID: ev.LegID, Caller: ev.CallerNum, CallerName: ev.CallerName,
		Peer: ev.CallerNum, Direction: dir, Since: at, Box: ev.Box, agentUniqueID: ev.LegID}
	a.setHeld(false, at)
	s.active[a] = struct{}{}
	a.changed = true
	s.commitLocked(a, at)
	return true
}

func (s *Service) rollLocked(a *agent, at time.Time) {
	if a.cnt.rolloverWith(at, s.loc, a.sess) {
		a.changed = true
		s.hist.markCounters(a.id)
	}
}

func (s *Service) setDeviceLocked(a *agent, state DeviceState, at time.Time) {
	if DeviceState(a.device) != state {
		a.device, a.deviceSince = string(state), at
		a.deviceByCall = a.ring != nil || a.call != nil
		a.changed = true
	}
}

func (s *Service) applyMemberLocked(a *agent, ev *VoiceFact, at time.Time) {
	m := a.member(ev.Box, ev.Queue)
	switch ev.Kind {
	case VoiceMemberRemoved:
		if m == nil {
			return
		}
		a.removeMember(ev.Box, ev.Queue)
		a.changed = true
		s.recordLocked(a, ev.Queue, "member_removed", ev.Membership, at, &details{Box: ev.Box, Interface: ev.Agent})
		s.maybeEndAsteriskLogoutLocked(a, at)
		return
	case VoiceMemberAdded:
		if m == nil {
			m = &member{box: ev.Box, queue: ev.Queue}
			a.members = append(a.members, m)
		}
		s.recordLocked(a, ev.Queue, "member_added", ev.Membership, at, &details{Box: ev.Box, Interface: ev.Agent, Paused: &ev.Paused})
	default:
		if m == nil {
			// A member we missed being added (events lost before a
			// resync): take it as Asterisk describes it.
			m = &member{box: ev.Box, queue: ev.Queue}
			a.members = append(a.members, m)
		}
	}
	wasPaused, oldReason := m.paused, m.reason
	m.iface, m.membership, m.paused, m.reason = ev.Agent, ev.Membership, ev.Paused, ev.Reason
	m.status, m.device, m.penalty, m.callsTaken, m.wrapuptime, m.inCall = ev.Status, ev.Device, ev.Penalty, ev.CallsTaken, ev.Wrapuptime, ev.InCall
	a.changed = true
	if ev.StateDevice != "" {
		s.indexDeviceLocked(a, ev.StateDevice)
	}
	if ev.Kind == VoiceMemberChanged || ev.Kind == VoiceMemberAdded {
		s.setDeviceLocked(a, ev.Device, at)
	}
	if ev.Kind == VoiceMemberAdded && ev.Membership == MembershipDynamic && a.sess == nil {
		s.adoptLoginLocked(a, ev, at)
	}
	if ev.Kind == VoiceMemberPaused && (wasPaused != ev.Paused || oldReason != ev.Reason) {
		state := StateReady
		if ev.Paused {
			state = StatePaused
		}
		s.recordLocked(a, ev.Queue, state, ev.Reason, at, &details{Box: ev.Box, Source: SourceAsterisk})
		s.reflectPauseLocked(a, ev, at)
	}
}

// adoptLoginLocked takes a dynamic member added inside Asterisk (CLI,
// dialplan) while omniccd watched as a login, so the
// database stays the truth. Members found only by a resync after a
// disconnect are not adopted: the reconcile removes them instead.
func (s *Service) adoptLoginLocked(a *agent, ev *VoiceFact, at time.Time) {
	sess := &Session{AgentID: a.id, LoggedInAt: at, Source: "asterisk", UpdatedAt: at}
	if ev.Paused {
		s.setPauseLocked(sess, []string{ChannelVoice}, ev.Reason, at)
	}
	a.sess = sess
	s.hist.markSession(a.id)
	s.recordLocked(a, "", "login", "added in Asterisk", at, &details{Box: ev.Box, Queue: ev.Queue, Source: SourceAsterisk})
	s.log.Info("presence: agent logged in inside Asterisk; session adopted", "agent_id", a.id, "queue", ev.Queue, "box", ev.Box)
}

// maybeEndAsteriskLogoutLocked ends the session of an agent whose last
// dynamic member was removed inside Asterisk. omniccd's own logouts delete
// the session first, so the removals Asterisk reports find none.
func (s *Service) maybeEndAsteriskLogoutLocked(a *agent, at time.Time) {
	if a.sess == nil {
		return
	}
	for _, m := range a.members {
		if m.membership == MembershipDynamic {
			return
		}
	}
	if len(a.voiceQueues()) == 0 {
		return
	}
	s.endSessionLocked(a, at)
	s.hist.markSession(a.id)
	s.recordLocked(a, "", "logout", "removed in Asterisk", at, &details{Source: SourceAsterisk})
	s.log.Info("presence: agent's last queue membership removed inside Asterisk; session ended", "agent_id", a.id)
}

// reflectPauseLocked carries a pause made inside Asterisk into the session:
// paused when every dynamic membership is paused, unpaused as soon as one
// is not (the agent then takes calls).
func (s *Service) reflectPauseLocked(a *agent, ev *VoiceFact, at time.Time) {
	if a.sess == nil {
		return
	}
	if ev.Paused {
		for _, m := range a.members {
			if m.membership == MembershipDynamic && !m.paused {
				return
			}
		}
		if a.sess.PausedOn(ChannelVoice) && a.sess.PauseReason == ev.Reason {
			return
		}
		s.closePauseLocked(a, at)
		s.setPauseLocked(a.sess, appendUnique(a.sess.PausedChannels, ChannelVoice), ev.Reason, at)
	} else {
		if !a.sess.PausedOn(ChannelVoice) {
			return
		}
		s.closePauseLocked(a, at)
		rest := removeAll(a.sess.PausedChannels, []string{ChannelVoice})
		if len(rest) > 0 {
			s.setPauseLocked(a.sess, rest, a.sess.PauseReason, at)
		} else {
			clearPause(a.sess)
		}
	}
	a.sess.UpdatedAt = at
	s.hist.markSession(a.id)
}

// setPauseLocked makes sess paused on channels for reason since at (the
// pause type is looked up by name).
func (s *Service) setPauseLocked(sess *Session, channels []string, reason string, at time.Time) {
	sess.PausedChannels = channels
	sess.PauseReason = reason
	sess.PauseTypeID = nil
	if id, ok := s.pauses[strings.ToLower(reason)]; ok {
		sess.PauseTypeID = &id
	}
	t := at
	sess.PausedAt = &t
}

func clearPause(sess *Session) {
	sess.PausedChannels, sess.PauseReason, sess.PauseTypeID, sess.PausedAt = nil, "", nil, nil
}

// closePauseLocked counts the pause that is ending (or changing reason).
func (s *Service) closePauseLocked(a *agent, at time.Time) {
	if a.sess.Paused() && a.sess.PausedAt != nil {
		a.cnt.closePause(a.sess.PauseReason, *a.sess.PausedAt, at)
		s.hist.markCounters(a.id)
	}
}

// endSessionLocked logs the agent out in memory, counting its login and
// pause time.
func (s *Service) endSessionLocked(a *agent, at time.Time) {
	if a.sess == nil {
		return
	}
	s.closePauseLocked(a, at)
	a.cnt.closeLogin(a.sess.LoggedInAt, at)
	s.hist.markCounters(a.id)
	a.sess = nil
	a.loggedOutAt = at
	a.changed = true
}

func (s *Service) applyCallLocked(a *agent, ev *VoiceFact, at time.Time) {
	call := func() *Call {
		return &Call{
			UniqueID: ev.CallID, Queue: ev.Queue, Caller: ev.CallerNum, CallerName: ev.CallerName,
			Channel: ev.Leg, Since: at, Box: ev.Box, agentUniqueID: ev.LegID,
		}
	}
	switch ev.Kind {
	case VoiceRinging:
		a.ring = call()
		s.active[a] = struct{}{}
		a.changed = true
		s.commitLocked(a, at)
	case VoiceRingMissed:
		a.cnt.missed++
		a.cnt.dirty = true
		s.hist.markCounters(a.id)
		s.recordLocked(a, ev.Queue, "ring_no_answer", "", at, &details{UniqueID: ev.CallID, Caller: ev.CallerNum, RingMS: ev.RingTime})
		if a.ring != nil && a.ring.UniqueID == ev.CallID {
			a.ring = nil
		}
		a.changed = true
		s.settleActiveLocked(a)
		s.commitLocked(a, at)
	case VoiceRingRejected:
		if a.ring != nil && a.ring.UniqueID == ev.CallID {
			a.ring = nil
			a.changed = true
		}
		s.settleActiveLocked(a)
		s.commitLocked(a, at)
	case VoiceAnswered:
		a.ring = nil
		a.call = call()
		a.setHeld(false, at)
		a.wrapUntil, a.wrapQueue, a.wrapObserved = time.Time{}, "", false
		a.cnt.answered++
		a.cnt.dirty = true
		s.hist.markCounters(a.id)
		s.active[a] = struct{}{}
		a.changed = true
		s.commitLocked(a, at)
		// With ringall every other agent rang for this caller: their ring
		// ended without an event of its own.
		s.endRingsLocked(ev.CallID, "", at, "ring_cancelled", "answered by another agent", a)
	case VoiceCallEnded:
		a.cnt.talk += time.Duration(ev.TalkTime) * time.Second
		a.cnt.dirty = true
		s.hist.markCounters(a.id)
		s.recordLocked(a, ev.Queue, "call_completed", ev.EndedBy, at, &details{
			UniqueID: ev.CallID, Caller: ev.CallerNum, TalkSeconds: ev.TalkTime, HoldSeconds: ev.HoldTime})
		if a.call != nil && (a.call.UniqueID == ev.CallID || ev.CallID == "") {
			a.call = nil
			a.setHeld(false, at)
		}
		if wrap := s.wrapupLocked(a, ev); wrap > 0 {
			a.wrapUntil = at.Add(time.Duration(wrap) * time.Second)
			a.wrapQueue, a.wrapSince = ev.Queue, at
			a.wrapObserved = s.observing
		}
		a.changed = true
		s.settleActiveLocked(a)
		s.commitLocked(a, at)
	}
}

// wrapupLocked is the wrap-up time after a call from ev.Queue: the member's
// own Wrapuptime when Asterisk has one, else the queue's.
func (s *Service) wrapupLocked(a *agent, ev *VoiceFact) int {
	if m := a.member(ev.Box, ev.Queue); m != nil && m.wrapuptime > 0 {
		return m.wrapuptime
	}
	return s.queues[ev.Queue].wrapuptime
}

// settleActiveLocked runs after a ring or call ended. A busy device state
// that arrived during the call belonged to it: a Local channel's device
// stays in use, and a phone's until its own event, a little after the
// Agent* event that ended the call, which would otherwise show the agent
// on a direct call for that moment.
func (s *Service) settleActiveLocked(a *agent) {
	if a.ring != nil || a.call != nil {
		return
	}
	delete(s.active, a)
	if a.deviceByCall && DeviceState(a.device).busy() {
		a.device = string(DeviceIdle)
		a.changed = true
	}
	a.deviceByCall = false
}

// endRingsLocked ends every ring for the caller's call uniqueid (except
// keep's), recording why.
func (s *Service) endRingsLocked(uniqueid, _ string, at time.Time, what, why string, keep *agent) bool {
	if uniqueid == "" {
		return false
	}
	touched := false
	for a := range s.active {
		if a == keep || a.ring == nil || a.ring.UniqueID != uniqueid {
			continue
		}
		q := a.ring.Queue
		a.ring = nil
		a.changed = true
		s.recordLocked(a, q, what, why, at, &details{UniqueID: uniqueid})
		s.settleActiveLocked(a)
		s.commitLocked(a, at)
		touched = true
	}
	return touched
}

// hangupLocked ends rings and calls whose caller or agent leg hung up.
func (s *Service) hangupLocked(ev *VoiceFact, at time.Time) bool {
	if len(s.active) == 0 || ev.LegID == "" {
		return false
	}
	touched := false
	for a := range s.active {
		changed := false
		if a.ring != nil && (a.ring.UniqueID == ev.LegID || a.ring.agentUniqueID == ev.LegID) {
			a.ring = nil
			changed = true
		}
		// The caller's hang-up ends the call; VoiceCallEnded normally came
		// first, so this only matters when it was lost.
		if a.call != nil && (a.call.UniqueID == ev.LegID || a.call.agentUniqueID == ev.LegID) {
			a.call = nil
			a.setHeld(false, at)
			s.hist.markCounters(a.id)
			changed = true
		}
		if changed {
			a.changed = true
			s.settleActiveLocked(a)
			s.commitLocked(a, at)
			touched = true
		}
	}
	return touched
}

// holdLocked puts the agent whose leg (or whose call) went on hold in
// on_hold, and back when resumed.
func (s *Service) holdLocked(ev *VoiceFact, at time.Time) bool {
	held := ev.Kind == VoiceHeld
	var target *agent
	for a := range s.active {
		if a.call != nil && (a.call.UniqueID == ev.LegID || a.call.agentUniqueID == ev.LegID || (ev.Leg != "" && a.call.Channel == ev.Leg)) {
			target = a
			break
		}
	}
	if target == nil {
		// A direct call on the agent's phone: the leg's device is its.
		target = s.agentByDeviceLocked(ev.Agent)
	}
	if target == nil || target.held == held {
		return false
	}
	target.setHeld(held, at)
	if !held {
		s.hist.markCounters(target.id)
	}
	target.changed = true
	s.commitLocked(target, at)
	return true
}

// derive is the agent's overall state. Calls come first (a paused agent may
// still be on a call), then wrap-up, pause, and the device.
func (s *Service) derive(a *agent, now time.Time) (state, reason string, since time.Time) {
	loggedIn := a.sess != nil
	if !loggedIn {
		for _, m := range a.members {
			if m.membership != MembershipDynamic {
				loggedIn = true // a permanent member takes calls without a login
				break
			}
		}
	}
	if !loggedIn {
		return StateLoggedOut, "", a.loggedOutAt
	}
	switch {
	case a.call != nil && a.held:
		return StateOnHold, a.call.Queue, a.heldSince
	case a.call != nil && DeviceState(a.device) == DeviceOnHold:
		// The phone's own hold, without a hold of the leg.
		return StateOnHold, a.call.Queue, a.deviceSince
	case a.call != nil:
		return StateOnCall, a.call.Queue, a.call.Since
	case a.ring != nil:
		return StateRinging, a.ring.Queue, a.ring.Since
	}
	switch DeviceState(a.device) {
	case DeviceOnHold:
		return StateOnHold, "", a.deviceSince
	case DeviceInUse, DeviceBusy:
		return StateOnCall, "", a.deviceSince
	case DeviceRinging, DeviceRingInUse:
		return StateRinging, "", a.deviceSince
	}
	if !a.wrapUntil.IsZero() && now.Before(a.wrapUntil) {
		return StateWrapUp, a.wrapQueue, a.wrapSince
	}
	if a.sess.PausedOn(ChannelVoice) {
		since := a.sess.LoggedInAt
		if a.sess.PausedAt != nil {
			since = *a.sess.PausedAt
		}
		return StatePaused, a.sess.PauseReason, since
	}
	if a.sess == nil {
		// Permanent members only: paused when Asterisk pauses all of them.
		paused, reason := len(a.members) > 0, ""
		for _, m := range a.members {
			if !m.paused {
				paused = false
				break
			}
			reason = m.reason
		}
		if paused {
			return StatePaused, reason, now
		}
	}
	switch DeviceState(a.device) {
	case DeviceUnavailable, DeviceInvalid:
		return StateUnavailable, a.device, a.deviceSince
	}
	return StateReady, "", now
}

// queueState is the agent's state in one membership (nil: not a member).
func (a *agent) queueState(m *member, now time.Time) string {
	switch {
	case m == nil:
		return StateLoggedOut
	case a.call != nil && a.call.Queue == m.queue:
		if a.held || DeviceState(a.device) == DeviceOnHold {
			return StateOnHold
		}
		return StateOnCall
	case a.ring != nil && a.ring.Queue == m.queue:
		return StateRinging
	}
	switch m.device {
	case DeviceOnHold:
		return StateOnHold
	case DeviceRinging, DeviceRingInUse:
		return StateRinging
	case DeviceInUse, DeviceBusy:
		return StateOnCall
	}
	if a.wrapQueue == m.queue && now.Before(a.wrapUntil) {
		return StateWrapUp
	}
	if m.paused {
		return StatePaused
	}
	if m.device == DeviceInvalid || m.device == DeviceUnavailable {
		return StateUnavailable
	}
	return StateReady
}

// commitLocked publishes and records a's change, if any. A state change
// is one history row; its queue is the call's for ringing, on_call,
// on_hold and wrap_up, none otherwise.
func (s *Service) commitLocked(a *agent, now time.Time) {
	state, reason, since := s.derive(a, now)
	if state != a.state || reason != a.reason {
		if since.IsZero() {
			since = now
		}
		queue, why := "", reason
		var d *details
		switch state {
		case StateRinging, StateOnCall, StateOnHold:
			queue, why = reason, ""
			c := a.call
			if state == StateRinging || c == nil {
				c = a.ring
			}
			if c != nil {
				d = &details{UniqueID: c.UniqueID, Caller: c.Caller}
			}
		case StateWrapUp:
			queue, why = reason, ""
			d = &details{Until: a.wrapUntil}
		}
		a.state, a.reason, a.since = state, reason, since
		s.recordLocked(a, queue, state, why, now, d)
		a.changed = true
	}
	if !a.changed {
		return
	}
	a.changed = false
	if s.observing {
		return // the instance that leads the box publishes it
	}
	// Scoped by the agent's queues, so a supervisor watching a queue gets
	// its agents' states from the bus without a directory lookup.
	s.outbox = append(s.outbox, Event{Type: EventAgentState, AgentID: a.id, Queues: a.queueNames(), Payload: s.snapshotLocked(a, now)})
}

// recordLocked queues one history row.
func (s *Service) recordLocked(a *agent, queue, state, reason string, at time.Time, d *details) {
	r := historyRow{AgentID: a.id, State: state, Reason: truncate(reason, 255), At: at.UTC().Truncate(time.Microsecond), Details: d.encode()}
	if queue != "" {
		q := queue
		r.Queue = &q
	}
	s.hist.add(r, s.opts.MaxPendingHistory, s.log)
}

func truncate(v string, n int) string {
	if len(v) <= n {
		return v
	}
	return v[:n]
}

// fillCall completes what a queue call's facts leave out: a queue call is
// inbound, and its peer is the caller.
func fillCall(c *Call) {
	if c.Direction == "" && c.Queue != "" {
		c.Direction = "inbound"
	}
	if c.Peer == "" {
		c.Peer = c.Caller
	}
	if c.LegID == "" {
		c.LegID = c.agentUniqueID
	}
}

// snapshotLocked renders a's state for the API and the websocket.
func (s *Service) snapshotLocked(a *agent, now time.Time) AgentState {
	st := AgentState{
		AgentID: a.id, State: a.state, Reason: a.reason, Since: a.since.UTC(),
		Username: a.username, Device: a.device,
		Counters:       a.cnt.counters(a.sess, now),
		Queues:         []QueueState{},
		PausedChannels: []string{},
		Channels:       a.channelLoads(),
	}
	if a.sess != nil {
		st.LoggedIn = true
		t := a.sess.LoggedInAt.UTC()
		st.LoggedInAt = &t
		st.PausedChannels = append(st.PausedChannels, a.sess.PausedChannels...)
		if a.sess.PauseTypeID != nil {
			v := *a.sess.PauseTypeID
			st.PauseTypeID = &v
		}
		if a.sess.PausedAt != nil && a.sess.Paused() {
			t := a.sess.PausedAt.UTC()
			st.PausedSince = &t
		}
	} else if st.State != StateLoggedOut {
		st.LoggedIn = true // permanent members
	}
	st.Calls = []Call{}
	if c := a.call; c != nil {
		cc := *c
		cc.Since, cc.State = cc.Since.UTC(), "up"
		if a.held || DeviceState(a.device) == DeviceOnHold {
			cc.State = "on_hold"
		}
		fillCall(&cc)
		st.Call = &cc
		st.Calls = append(st.Calls, cc)
	} else if c := a.ring; c != nil {
		cc := *c
		cc.Since, cc.State = cc.Since.UTC(), "ringing"
		fillCall(&cc)
		st.Call = &cc
		st.Calls = append(st.Calls, cc)
	}
	if !a.wrapUntil.IsZero() && now.Before(a.wrapUntil) {
		t := a.wrapUntil.UTC()
		st.WrapUpUntil = &t
	}
	for _, q := range a.assigned {
		if q.channel != ChannelVoice {
			continue
		}
		found := false
		for _, m := range a.members {
			if m.queue == q.queue {
				st.Queues = append(st.Queues, a.memberState(m, now))
				found = true
			}
		}
		if !found {
			st.Queues = append(st.Queues, QueueState{Queue: q.queue, State: StateLoggedOut, Penalty: q.penalty})
		}
	}
	for _, m := range a.members {
		if !a.assignedVoice(m.queue) {
			st.Queues = append(st.Queues, a.memberState(m, now))
		}
	}
	return st
}

// queueNames are the queues the agent is assigned to, every channel.
func (a *agent) queueNames() []string {
	if len(a.assigned) == 0 {
		return nil
	}
	out := make([]string, 0, len(a.assigned))
	for _, q := range a.assigned {
		out = append(out, q.queue)
	}
	return out
}

func (a *agent) assignedVoice(queue string) bool {
	for _, q := range a.assigned {
		if q.channel == ChannelVoice && q.queue == queue {
			return true
		}
	}
	return false
}

func (a *agent) memberState(m *member, now time.Time) QueueState {
	return QueueState{
		Queue: m.queue, Paused: m.paused, Reason: m.reason, State: a.queueState(m, now), Member: true,
		Membership: m.membership, Penalty: m.penalty, CallsTaken: m.callsTaken, Status: m.status, Box: m.box,
	}
}

func appendUnique(list []string, v ...string) []string {
	out := append([]string(nil), list...)
	for _, x := range v {
		found := false
		for _, y := range out {
			if y == x {
				found = true
				break
			}
		}
		if !found {
			out = append(out, x)
		}
	}
	return out
}

func removeAll(list, drop []string) []string {
	var out []string
	for _, x := range list {
		keep := true
		for _, d := range drop {
			if x == d {
				keep = false
				break
			}
		}
		if keep {
			out = append(out, x)
		}
	}
	return out
}

// setHeld puts the agent's call on hold or takes it off, counting the
// time on hold in the day's counters.
func (a *agent) setHeld(held bool, at time.Time) {
	if held == a.held {
		return
	}
	a.held = held
	if held {
		a.heldSince = at
		a.cnt.startHold(at)
		return
	}
	a.cnt.endHold(at)
}
