package presence

import (
	"slices"
	"sort"

	"omnicc/directory"
)

// Per-channel load. Voice is Asterisk's to route; the digital channels are
// the router's, and presence keeps, for each agent, how many interactions it
// holds open on each of them against its capacity there. The router pushes
// the counts in (SetLoad); presence never imports the router. Everyone reads
// one truth: the router to choose whom to offer to, the desktops through the
// agent_state event.

// ChannelLoad is an agent's load on one digital channel.
type ChannelLoad struct {
	Channel string `json:"channel"`
	// Open is the number of interactions the agent holds on the channel.
	Open int `json:"open"`
	// Capacity is the most it may hold at once; 0 means unlimited.
	Capacity int `json:"capacity"`
	// Paused: the agent is paused on this channel (no new offers).
	Paused bool `json:"paused"`
}

// Full reports whether the agent is at or over its capacity.
func (l ChannelLoad) Full() bool { return l.Capacity > 0 && l.Open >= l.Capacity }

// Free is how many more interactions fit; -1 means unlimited.
func (l ChannelLoad) Free() int {
	if l.Capacity == 0 {
		return -1
	}
	return max(l.Capacity-l.Open, 0)
}

// Eligible is an agent that can take one more interaction on a channel.
type Eligible struct {
	AgentID  int64
	Username string
	Load     ChannelLoad
}

// loads is an agent's per-channel load and capacity; guarded by Service.mu.
type loads struct {
	open     map[string]int
	capacity map[string]int
}

func (l *loads) setCapacities(cs []directory.ChannelCapacity) {
	l.capacity = make(map[string]int, len(cs))
	for _, c := range cs {
		l.capacity[c.Channel] = c.Capacity
	}
}

// SetLoad records that the agent holds open interactions on channel (a
// digital channel). The router calls it whenever the count changes; setting
// the same count again changes nothing and publishes nothing. An unknown
// agent or a negative count is ignored.
func (s *Service) SetLoad(agentID int64, channel string, open int) {
	if open < 0 || channel == ChannelVoice {
		return
	}
	now := s.clock.Now()
	s.mu.Lock()
	a := s.agents[agentID]
	if a == nil || a.load.open[channel] == open {
		s.mu.Unlock()
		return
	}
	if a.load.open == nil {
		a.load.open = make(map[string]int)
	}
	if open == 0 {
		delete(a.load.open, channel)
	} else {
		a.load.open[channel] = open
	}
	a.changed = true
	s.commitLocked(a, now)
	s.mu.Unlock()
	s.afterChange()
}

// LoadOn is the agent's load on channel; ok is false for an unknown agent.
func (s *Service) LoadOn(agentID int64, channel string) (l ChannelLoad, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.agents[agentID]
	if a == nil {
		return ChannelLoad{}, false
	}
	return a.loadOn(channel), true
}

// FreeCapacity lists the agents eligible for one more interaction on
// channel: logged in, enabled, not paused on the channel and under its
// capacity there — the router's question before an offer. Agents with the
// most free room come first (unlimited before all), then the least loaded,
// then by id, so the answer is stable.
func (s *Service) FreeCapacity(channel string) []Eligible {
	s.mu.Lock()
	out := make([]Eligible, 0, len(s.agents))
	for _, a := range s.agents {
		if e, ok := a.eligibleOn(channel); ok {
			out = append(out, e)
		}
	}
	s.mu.Unlock()
	sort.Slice(out, func(i, j int) bool {
		fi, fj := out[i].Load.Free(), out[j].Load.Free()
		if (fi < 0) != (fj < 0) {
			return fi < 0
		}
		if fi != fj {
			return fi > fj
		}
		if out[i].Load.Open != out[j].Load.Open {
			return out[i].Load.Open < out[j].Load.Open
		}
		return out[i].AgentID < out[j].AgentID
	})
	return out
}

// CanTake answers FreeCapacity's question for one agent.
func (s *Service) CanTake(agentID int64, channel string) (Eligible, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.agents[agentID]
	if a == nil {
		return Eligible{}, false
	}
	return a.eligibleOn(channel)
}

func (a *agent) loadOn(channel string) ChannelLoad {
	return ChannelLoad{Channel: channel, Open: a.load.open[channel], Capacity: a.load.capacity[channel], Paused: a.sess.PausedOn(channel)}
}

func (a *agent) eligibleOn(channel string) (Eligible, bool) {
	if channel == ChannelVoice || a.sess == nil || a.off || !slices.Contains(directory.DigitalChannels, channel) {
		return Eligible{}, false
	}
	l := a.loadOn(channel)
	if l.Paused || l.Full() {
		return Eligible{}, false
	}
	return Eligible{AgentID: a.id, Username: a.username, Load: l}, true
}

// channelLoads is every digital channel's load, for the state snapshot.
func (a *agent) channelLoads() []ChannelLoad {
	out := make([]ChannelLoad, 0, len(directory.DigitalChannels))
	for _, ch := range directory.DigitalChannels {
		out = append(out, a.loadOn(ch))
	}
	return out
}
