package router

import (
	"context"
	"fmt"

	"github.com/jmoiron/sqlx"
)

// OffersTo lists the offers standing for agentID now (an interaction
// offered to it, or a transfer to it), oldest first: what a desktop shows
// again after a reload, when the "offer" events went by while it was away.
func (r *Router) OffersTo(ctx context.Context, agentID int64) ([]OfferEvent, error) {
	var rows []offerRow
	if err := r.db.SelectContext(ctx, &rows, `SELECT interaction_id, agent_id, kind, to_queue_id, expires_at
 FROM interaction_offers WHERE agent_id = ? AND expires_at > ? ORDER BY expires_at, interaction_id`, agentID, r.clock.Now().UTC()); err != nil {
		return nil, fmt.Errorf("router: list the offers to agent %d: %w", agentID, err)
	}
	out := make([]OfferEvent, 0, len(rows))
	if len(rows) == 0 {
		return out, nil
	}
	ids := make([]int64, len(rows))
	for i, row := range rows {
		ids[i] = row.InteractionID
	}
	q, args, err := sqlx.In(interactionSelect+` WHERE id IN (?)`, ids)
	if err != nil {
		return nil, err
	}
	var its []*Interaction
	if err := r.db.SelectContext(ctx, &its, r.db.Rebind(q), args...); err != nil {
		return nil, fmt.Errorf("router: read the interactions offered to agent %d: %w", agentID, err)
	}
	byID := make(map[int64]*Interaction, len(its))
	for _, it := range its {
		it.decode()
		byID[it.ID] = it
	}
	for _, row := range rows {
		// An offer stands while its interaction is offered; a transfer
		// while the interaction is still its first agent's.
		it := byID[row.InteractionID]
		if it == nil || (row.Kind == "offer" && it.Status != StatusOffered) || (row.Kind == "transfer" && it.Status != StatusAccepted) {
			continue
		}
		out = append(out, OfferEvent{Interaction: it, ExpiresAt: row.ExpiresAt.UTC(), Transfer: row.Kind == "transfer"})
	}
	return out, nil
}
