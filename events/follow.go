package events

import (
	"context"
	"errors"
)

// Source is what Follow subscribes to: the core's Bus.
type Source interface {
	Subscribe(scope Scope, buffer int) *Subscription
}

// Follow hands every event of scope from src to fn, in order, until ctx
// ends or the bus closes. A subscription that lagged (ErrLagged) may have
// missed events: Follow calls lagged with the error, for the follower to
// catch up from its source of truth, and subscribes anew.
func Follow(ctx context.Context, src Source, scope Scope, buffer int, fn func(Event), lagged func(error)) error {
	for {
		sub := src.Subscribe(scope, buffer)
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
				fn(e)
			}
		}
		if errors.Is(sub.Err(), ErrClosed) || ctx.Err() != nil {
			return nil
		}
		lagged(sub.Err())
	}
}
