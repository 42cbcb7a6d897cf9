package presence

import (
	"encoding/json"
	"maps"
	"time"
)

// Digital counters: what an agent did on each digital channel today, next
// to the voice counters in the state's counters. The router reports each
// step (CountDigital); presence never imports the router.

// What the router counts.
const (
	DigitalOffered  = "offered"
	DigitalAccepted = "accepted"
	DigitalRejected = "rejected"
	DigitalTimedOut = "timed_out"
	DigitalClosed   = "closed"
)

// DigitalCounters are one channel's figures of the day.
type DigitalCounters struct {
	Offered  int `json:"offered"`
	Accepted int `json:"accepted"`
	Rejected int `json:"rejected"`
	TimedOut int `json:"timed_out"`
	Closed   int `json:"closed"`
	// HandleSeconds adds up, over the interactions closed today, the time
	// from their accept to their close.
	HandleSeconds int64 `json:"handle_seconds"`
}

// CountDigital records one step of an agent's digital work on channel;
// handle is the accept-to-close time of a DigitalClosed. The agent's state
// is published again with its counters. Unknown agents are ignored.
func (s *Service) CountDigital(agentID int64, channel, what string, handle time.Duration) {
	now := s.clock.Now()
	s.mu.Lock()
	a := s.agents[agentID]
	if a == nil {
		s.mu.Unlock()
		return
	}
	s.rollLocked(a, now)
	if a.cnt.digital == nil {
		a.cnt.digital = map[string]DigitalCounters{}
	}
	c := a.cnt.digital[channel]
	switch what {
	case DigitalOffered:
		c.Offered++
	case DigitalAccepted:
		c.Accepted++
	case DigitalRejected:
		c.Rejected++
	case DigitalTimedOut:
		c.TimedOut++
	case DigitalClosed:
		c.Closed++
		c.HandleSeconds += int64(max(handle, 0) / time.Second)
	default:
		s.mu.Unlock()
		return
	}
	a.cnt.digital[channel] = c
	a.cnt.dirty = true
	s.hist.markCounters(a.id)
	a.changed = true
	s.commitLocked(a, now)
	s.mu.Unlock()
	s.afterChange()
}

func digitalJSON(m map[string]DigitalCounters) *string {
	if len(m) == 0 {
		return nil
	}
	b, _ := json.Marshal(m)
	v := string(b)
	return &v
}

func parseDigital(v *string) map[string]DigitalCounters {
	if v == nil || *v == "" {
		return nil
	}
	var m map[string]DigitalCounters
	if json.Unmarshal([]byte(*v), &m) != nil {
		return nil
	}
	return m
}

func cloneDigital(m map[string]DigitalCounters) map[string]DigitalCounters {
	if m == nil {
		return nil
	}
	return maps.Clone(m)
}
