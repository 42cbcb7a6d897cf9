package presence

import (
	"fmt"
	"sort"
	"time"
)

// LiveCall is a call leg of an agent that a box has up or ringing now.
type LiveCall struct {
	// Agent is the device the agent's leg belongs to (as Names gives it).
	Agent string
	Leg   string // the agent's leg
	LegID string
	// CallID is the call: the caller's leg when a queue put the agent on
	// it, the agent's leg for a direct call.
	CallID     string
	Queue      string // "" for a direct call
	CallerNum  string
	CallerName string
	Ringing    bool          // offered, not answered yet
	Duration   time.Duration // how long the leg has existed
}

// DeviceReading is the state of one device at a resync.
type DeviceReading struct {
	Device string // as Names gives it
	State  DeviceState
}

// Snapshot is what a resync read from one box: right after connecting,
// and every so often to catch what Asterisk changed without an event. A
// list that could not be read is left nil with its Known flag false, and
// the state it would have corrected is kept.
type Snapshot struct {
	Box          string
	At           time.Time
	Members      []Member // every membership of every queue
	MembersKnown bool
	// Calls are the agents' legs up in a bridge or ringing, in the box's
	// order: the first leg of an agent is the one taken.
	Calls        []LiveCall
	CallsKnown   bool
	Devices      []DeviceReading
	DevicesKnown bool
	// Mark is Service.Mark taken before the lists were read; 0 when none
	// was. Agents changed since by events or REST calls are left alone: the
	// lists may predate those changes.
	Mark uint64
}

// newer reports whether a changed after the snapshot's lists were read.
func (snap *Snapshot) newer(a *agent) bool {
	return snap.Mark != 0 && a.seq > snap.Mark
}

// Resync replaces what presence knows of one box by what the box says now:
// memberships, device states and the calls agents are on. It runs after
// every AMI (re)connect, so state is right after an Asterisk restart even
// though the events in between were lost, and periodically with the
// members alone. Events that race with it are applied too; the next event
// about a member corrects any stale detail. Only agents whose state
// changed are published.
func (s *Service) Resync(snap *Snapshot) { s.resync(snap, false) }

func (s *Service) resync(snap *Snapshot, observing bool) {
	at := snap.At
	if at.IsZero() {
		at = s.clock.Now()
	}
	s.mu.Lock()
	s.observeLocked(observing)
	touched := map[*agent]bool{}
	if snap.MembersKnown {
		before := map[*agent][]member{}
		for _, a := range s.agents {
			if snap.newer(a) {
				continue
			}
			kept := a.members[:0]
			for _, m := range a.members {
				if m.box != snap.Box {
					kept = append(kept, m)
				} else {
					before[a] = append(before[a], *m)
					touched[a] = true
				}
			}
			a.members = kept
		}
		for _, m := range snap.Members {
			a := s.agentByDeviceLocked(m.Interface)
			if a == nil || snap.newer(a) {
				continue
			}
			a.members = append(a.members, &member{
				box: snap.Box, queue: m.Queue, iface: m.Interface, membership: m.Membership,
				paused: m.Paused, reason: m.Reason, status: m.Status, device: m.Device, penalty: m.Penalty,
				callsTaken: m.CallsTaken, wrapuptime: m.Wrapuptime, inCall: m.InCall,
			})
			if m.StateInterface != "" {
				s.indexDeviceLocked(a, m.StateInterface)
			}
			if !snap.DevicesKnown {
				s.setDeviceLocked(a, m.Device, at)
			}
			touched[a] = true
		}
		for a := range touched {
			if !sameMembers(before[a], a.members, snap.Box) {
				a.changed = true
				s.wakeLocked(a)
			}
		}
	}
	if snap.DevicesKnown {
		for _, d := range snap.Devices {
			if a := s.agentByDeviceLocked(d.Device); a != nil {
				s.setDeviceLocked(a, d.State, at)
				touched[a] = true
			}
		}
	}
	if snap.CallsKnown {
		s.resyncCallsLocked(snap, at, touched)
	}
	// setDeviceLocked and resyncCallsLocked set a.changed when they changed
	// something; commitLocked publishes only then (or when the state moved).
	for a := range touched {
		s.rollLocked(a, at)
		s.commitLocked(a, at)
	}
	s.observeLocked(false)
	s.mu.Unlock()
	s.afterChange()
}

// sameMembers reports whether the members of box in now are those of old,
// in any order.
func sameMembers(old []member, now []*member, box string) bool {
	n := 0
	for _, m := range now {
		if m.box != box {
			continue
		}
		n++
		found := false
		for i := range old {
			if old[i] == *m {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return n == len(old)
}

// resyncCallsLocked rebuilds the rings and calls of the box's agents from
// its live calls.
func (s *Service) resyncCallsLocked(snap *Snapshot, at time.Time, touched map[*agent]bool) {
	found := map[*agent]bool{}
	for i := range snap.Calls {
		c := &snap.Calls[i]
		a := s.agentByDeviceLocked(c.Agent)
		if a == nil || found[a] {
			continue
		}
		call := &Call{UniqueID: c.CallID, Queue: c.Queue, Channel: c.Leg, Caller: c.CallerNum, CallerName: c.CallerName,
			Since: at.Add(-c.Duration), Box: snap.Box, agentUniqueID: c.LegID}
		// Keep what the events told when it is the same call: its start
		// and queue are more precise than a leg's duration.
		if old := a.call; old != nil && (old.UniqueID == call.UniqueID || old.agentUniqueID == c.LegID) {
			call = old
		}
		if c.Ringing {
			if a.ring == nil || a.ring.agentUniqueID != c.LegID {
				a.ring = call
			}
		} else {
			a.call, a.ring = call, nil
		}
		found[a] = true
		s.active[a] = struct{}{}
		a.changed = true
		touched[a] = true
	}
	// Calls on this box that are gone ended while omniccd was away.
	for a := range s.active {
		if found[a] {
			continue
		}
		if a.call != nil && a.call.Box == snap.Box {
			a.call = nil
			a.setHeld(false, at)
			s.hist.markCounters(a.id)
			a.changed = true
			touched[a] = true
		}
		if a.ring != nil && a.ring.Box == snap.Box {
			a.ring = nil
			a.changed = true
			touched[a] = true
		}
		s.settleActiveLocked(a)
	}
}

// Correction is one change a reconcile makes in Asterisk.
type Correction struct {
	Action  string // "add", "remove" or "pause"
	AgentID int64  // 0 when the member is no agent's
	Member  Member // what to send: Queue, Interface, and for add/pause the rest
	Why     string
}

func (c Correction) String() string {
	return fmt.Sprintf("%s %s in %s: %s", c.Action, c.Member.Interface, c.Member.Queue, c.Why)
}

// ReconcilePlan compares the database's sessions with the members a box
// reported (snap.Members) and says what to change in
// Asterisk so that the database is true there: logged-in agents missing
// from a voice queue they are assigned to are added back with their pause;
// dynamic members of omniccd's voice queues that no session explains (or
// whose agent an admin disabled) are removed; pauses that differ are set.
// Static and realtime members, and queues omniccd does not manage, are
// never touched; nor are agents changed after snap.Mark, whose members the
// list may show from before the change.
func (s *Service) ReconcilePlan(snap *Snapshot) []Correction {
	s.mu.Lock()
	defer s.mu.Unlock()
	type key struct {
		queue string
		agent int64
		iface string // for members that are no agent's
	}
	present := map[key]Member{}
	static := map[key]bool{}
	for _, m := range snap.Members {
		if s.queues[m.Queue].channel != ChannelVoice {
			continue
		}
		k := key{queue: m.Queue, iface: m.Interface}
		if a := s.agentByDeviceLocked(m.Interface); a != nil {
			if snap.newer(a) {
				continue
			}
			k = key{queue: m.Queue, agent: a.id}
		}
		if m.Membership != MembershipDynamic {
			static[k] = true
			continue
		}
		present[k] = m
	}
	var out []Correction
	ids := make([]int64, 0, len(s.agents))
	for id := range s.agents {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	wanted := map[key]bool{}
	for _, id := range ids {
		a := s.agents[id]
		if a.sess == nil || a.off || snap.newer(a) {
			continue
		}
		paused := a.sess.PausedOn(ChannelVoice)
		reason := ""
		if paused {
			reason = a.sess.PauseReason
		}
		for _, q := range a.voiceQueues() {
			if s.queues[q.queue].channel != ChannelVoice {
				continue
			}
			k := key{queue: q.queue, agent: a.id}
			wanted[k] = true
			want := Member{Queue: q.queue, Interface: a.iface, MemberName: a.memberName(), StateInterface: a.stateIface,
				Penalty: q.penalty, Paused: paused, Reason: reason}
			got, ok := present[k]
			switch {
			case static[k]:
				// A permanent member for the same agent already rings it.
			case !ok:
				out = append(out, Correction{Action: "add", AgentID: a.id, Member: want,
					Why: "logged in in omniccd but not a member in Asterisk"})
			case got.Paused != paused || (paused && got.Reason != reason):
				want.Interface = got.Interface
				out = append(out, Correction{Action: "pause", AgentID: a.id, Member: want,
					Why: fmt.Sprintf("paused=%t (%q) in Asterisk, paused=%t (%q) in omniccd", got.Paused, got.Reason, paused, reason)})
			}
		}
	}
	var strays []key
	for k := range present {
		if !wanted[k] {
			strays = append(strays, k)
		}
	}
	sort.Slice(strays, func(i, j int) bool {
		if strays[i].queue != strays[j].queue {
			return strays[i].queue < strays[j].queue
		}
		return present[strays[i]].Interface < present[strays[j]].Interface
	})
	for _, k := range strays {
		m := present[k]
		why := "dynamic member that no omniccd session explains"
		if a := s.agents[k.agent]; a != nil {
			switch {
			case a.sess == nil:
				why = "agent is logged out in omniccd"
			case a.off:
				why = "agent is disabled"
			default:
				why = "queue is no longer assigned to the agent"
			}
		}
		out = append(out, Correction{Action: "remove", AgentID: k.agent, Member: Member{Queue: m.Queue, Interface: m.Interface}, Why: why})
	}
	return out
}
