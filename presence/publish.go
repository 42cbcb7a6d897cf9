// Package presence is the live state of every agent — voice from AMI, digital
// from the router — with its history and daily counters: one truth that the
// REST API, the websocket and the router all read.
package presence

// Event is one change pushed to agents' and supervisors' desktops. On the
// websocket it is written as one JSON object: {"type": Type, ...Payload's
// fields}; Payload must therefore marshal to a JSON object.
type Event struct {
	// Type names the event: "agent_state", and later the router's
	// "interaction_offer", "interaction_taken", ...
	Type string
	// AgentID is the agent the event concerns: that agent receives it, and so
	// does every supervisor and admin. 0 means supervisors and admins only.
	AgentID int64
	Payload any
}

// Publisher delivers events to whoever watches (the websocket hub). Publish
// must not block: a slow watcher is the publisher's problem, not the caller's.
type Publisher interface {
	Publish(Event)
}

// PublisherFunc adapts a function to Publisher.
type PublisherFunc func(Event)

// Publish calls f.
func (f PublisherFunc) Publish(e Event) { f(e) }
