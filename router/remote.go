package router

import (
	"cmp"
	"context"
	"encoding/json"
	"slices"

	"omnicc/presence"
)

// takeRemoteQueued keeps, for the leader's Run, an interaction another
// instance queued (its "interaction" event as the fan-out delivers it),
// so that it is offered at once rather than after a rebuild of every open
// interaction. It reports false for any other change, which the rebuild
// takes (an accept or a close changes agents' loads).
func (r *Router) takeRemoteQueued(e presence.Event) bool {
	if r.resync.Load() == nil {
		return false // not leading: nothing to route
	}
	raw, ok := e.Payload.(json.RawMessage)
	if !ok {
		return false
	}
	var ev InteractionEvent
	if json.Unmarshal(raw, &ev) != nil || ev.Interaction == nil || ev.Interaction.Status != StatusQueued || ev.Interaction.Bot {
		return false
	}
	r.pendMu.Lock()
	if r.remote == nil {
		r.remote = map[int64]*Interaction{}
	}
	r.remote[ev.Interaction.ID] = ev.Interaction
	r.pendMu.Unlock()
	r.signal()
	return true
}

// queueRemote puts the interactions other instances queued in their
// queues' lines and offers them. One already known (put in line by a
// rebuild, or offered) is left as it is; one that moved on meanwhile is
// refused by the offer's conditional UPDATE.
func (r *Router) queueRemote(ctx context.Context) error {
	r.pendMu.Lock()
	its := r.remote
	r.remote = nil
	r.pendMu.Unlock()
	if len(its) == 0 {
		return nil
	}
	ids := make([]int64, 0, len(its))
	for id := range its {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	var firstErr error
	touched := map[int64]*queueState{}
	r.mu.Lock()
	for _, id := range ids {
		it := its[id]
		if r.offers[id] != nil || r.queuedLocked(id) {
			continue
		}
		q, err := r.queueLocked(ctx, it.QueueID)
		if err != nil {
			firstErr = cmp.Or(firstErr, err)
			continue
		}
		q.line.add(it.ID, it.Priority, it.QueuedAt)
		touched[q.id] = q
	}
	r.mu.Unlock()
	for _, q := range touched {
		if _, err := r.dispatchUnlocked(ctx, q); err != nil {
			firstErr = cmp.Or(firstErr, err)
		}
	}
	return firstErr
}
