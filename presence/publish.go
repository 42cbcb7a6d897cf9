// Package presence is the live state of every agent — voice from AMI, digital
// from the router — with its history and daily counters: one truth that the
// REST API, the websocket and the router all read.
package presence

import "omnicc/events"

// Event is one change pushed to agents' and supervisors' desktops: presence
// publishes an agent_state Event (Type, AgentID, Payload) for every change.
// It is the bus's event, named here so that presence's call sites and its
// users' fakes keep compiling unchanged.
type Event = events.Event

// Publisher is where presence's events go: the event bus (events.Bus) in
// omniccd, a recorder in tests. Publish must not block.
type Publisher = events.Publisher

// PublisherFunc adapts a function to Publisher.
type PublisherFunc = events.PublisherFunc
