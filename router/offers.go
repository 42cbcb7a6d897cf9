package router

import (
	"context"
	"fmt"
)

// OffersTo lists the offers standing for agentID now (an interaction
// offered to it, or a transfer to it), oldest first: what a desktop shows
// again after a reload, when the "offer" events went by while it was away.
func (r *Router) OffersTo(ctx context.Context, agentID int64) ([]OfferEvent, error) {
	var rows []offerRow
	now := r.clock.Now().UTC()
	if err := r.db.SelectContext(ctx, &rows, `SELECT o.interaction_id, o.kind, o.agent_id, o.to_queue_id, o.expires_at
 FROM interaction_offers o JOIN interactions i ON i.id = o.interaction_id
 WHERE o.agent_id = ? AND o.expires_at > ? AND i.status <> ? ORDER BY o.expires_at, o.interaction_id`, agentID, now, StatusClosed); err != nil {
		return nil, fmt.Errorf("router: list the offers to agent %d: %w", agentID, err)
	}
	out := make([]OfferEvent, 0, len(rows))
	for _, row := range rows {
		it, err := readInteraction(ctx, r.db, row.InteractionID)
		if err != nil {
			return nil, err
		}
		// An offer stands while its interaction is offered; a transfer
		// while the interaction is still its first agent's.
		if (row.Kind == "offer" && it.Status != StatusOffered) || (row.Kind == "transfer" && it.Status != StatusAccepted) {
			continue
		}
		out = append(out, OfferEvent{Interaction: it, ExpiresAt: row.ExpiresAt.UTC(), Transfer: row.Kind == "transfer"})
	}
	return out, nil
}
