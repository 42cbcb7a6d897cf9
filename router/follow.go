package router

import (
	"context"
	"errors"

	"omnicc/events"
)

// EventSource is where the router hears agents change: the core's event
// bus.
type EventSource interface {
	Subscribe(scope events.Scope, buffer int) *events.Subscription
}

// Follow feeds the router every agent_state event from src until ctx ends
// (a login, an unpause or freed capacity is when the next waiting
// interaction is offered). A subscription that lagged behind the bus may
// have missed such a change, so every agent the router knows is routed
// again before it subscribes anew.
func (r *Router) Follow(ctx context.Context, src EventSource) error {
	for {
		sub := src.Subscribe(events.Scope{All: true}, 4096)
		done := false
		for !done {
			select {
			case <-ctx.Done():
				sub.Close()
				return nil
			case e, ok := <-sub.C():
				if !ok {
					done = true
					break
				}
				r.Observe(e)
			}
		}
		if errors.Is(sub.Err(), events.ErrClosed) || ctx.Err() != nil {
			return nil
		}
		r.log.Warn("router: fell behind the event bus; routing every agent again", "err", sub.Err())
		r.mu.Lock()
		ids := make([]int64, 0, len(r.agents))
		for id := range r.agents {
			ids = append(ids, id)
		}
		r.mu.Unlock()
		for _, id := range ids {
			r.AgentChanged(id)
		}
	}
}
