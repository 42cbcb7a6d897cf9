// Package events is the core's event bus: presence, the router and calls
// publish what changed; the websocket hub, metrics and (later) a NATS fan-out
// subscribe, each to the agents, queues and teams it watches.
package events

import (
	"slices"
)

// Event is one change worth telling someone about. On the agents' websocket
// it is written as {"type": Type, ...Payload's fields}; Payload must
// therefore marshal to a JSON object. AgentID, Queues and Teams are its
// scope: who it concerns, for routing only — they are never written out.
type Event struct {
	// Type names the event: "agent_state", "recording", and the router's
	// "offer", "interaction", ...
	Type string
	// AgentID is the agent the event concerns (0: none). That agent
	// receives it, and so does whoever watches the agent.
	AgentID int64
	// Queues are the queue names the event concerns, for the supervisors
	// watching them. An agent event may leave them empty: subscribers that
	// watch a queue resolve its agents themselves (see the api hub).
	Queues []string
	// Teams are the team ids the event concerns.
	Teams   []int64
	Payload any
	// Origin is the instance the event was born on when it came from
	// another one over the fan-out (its Payload is then the JSON object as
	// sent); empty for an event born here. The fan-out sends on only
	// events with no Origin, so none goes round in circles.
	Origin string
}

// Lost is the type of the event the fan-out puts on the bus when events
// of other instances may have been lost (a gap in one's sequence, a
// reconnect to NATS): whoever keeps state built from them reads it again
// (presence's sessions, the router's interactions, the directory's
// caches) and the websocket hub sends every socket fresh agent states.
// Its Origin is set, so it never leaves the instance, and the "internal."
// prefix keeps it off the sockets themselves.
const Lost = "internal.events_lost"

// Scope says which events a subscriber wants: everything (All), or those
// concerning any of its agents, queues or teams. The zero Scope matches
// nothing.
type Scope struct {
	All    bool
	Agents []int64
	Queues []string
	Teams  []int64
}

// Everything is the scope of admins and of subscribers that filter
// themselves (the hub, metrics, the NATS fan-out).
var Everything = Scope{All: true}

// Matches reports whether e falls within s. The lists are short (a
// supervisor watches a handful of queues), so a linear scan beats a map.
func (s Scope) Matches(e Event) bool {
	if s.All {
		return true
	}
	if e.AgentID != 0 && slices.Contains(s.Agents, e.AgentID) {
		return true
	}
	for _, q := range e.Queues {
		if slices.Contains(s.Queues, q) {
			return true
		}
	}
	for _, t := range e.Teams {
		if slices.Contains(s.Teams, t) {
			return true
		}
	}
	return false
}

// Publisher is what producers need: the bus, or a fake in their tests.
// Publish must not block.
type Publisher interface {
	Publish(Event)
}

// PublisherFunc adapts a function to Publisher.
type PublisherFunc func(Event)

// Publish calls f.
func (f PublisherFunc) Publish(e Event) { f(e) }
