package router

import (
	"context"

	"omnicc/events"
)

// EventSource is where the router hears agents change: the core's event
// bus.
type EventSource = events.Source

// Follow feeds the router every agent_state event from src until ctx ends
// (a login, an unpause or freed capacity is when the next waiting
// interaction is offered). A subscription that lagged behind the bus may
// have missed such a change, so every agent the router knows is routed
// again before it subscribes anew.
func (r *Router) Follow(ctx context.Context, src EventSource) error {
	return events.Follow(ctx, src, events.Scope{All: true}, 4096, r.Observe, func(err error) {
		r.log.Warn("router: fell behind the event bus; routing every agent again", "err", err)
		r.mu.Lock()
		ids := make([]int64, 0, len(r.agents))
		for id := range r.agents {
			ids = append(ids, id)
		}
		r.mu.Unlock()
		for _, id := range ids {
			r.AgentChanged(id)
		}
	})
}
