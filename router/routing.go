package router

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/jmoiron/sqlx"

	"omnicc/directory"
	"omnicc/presence"
)

// Load rebuilds the router from the database: digital queues and their
// members, every agent's open interactions, the waiting lines and the
// standing offers. Offers whose deadline passed while omniccd was down are
// dropped and their interactions offered again.
func (r *Router) Load(ctx context.Context) error {
	refs, err := r.dir.QueueRefs(ctx)
	if err != nil {
		return err
	}
	links, err := r.dir.QueueLinks(ctx)
	if err != nil {
		return err
	}
	var open []*Interaction
	if err := r.db.SelectContext(ctx, &open, interactionSelect+` WHERE status <> ? ORDER BY id`, StatusClosed); err != nil {
		return fmt.Errorf("router: load open interactions: %w", err)
	}
	var offers []offerRow
	if err := r.db.SelectContext(ctx, &offers, `SELECT interaction_id, agent_id, kind, to_queue_id, expires_at FROM interaction_offers`); err != nil {
		return fmt.Errorf("router: load offers: %w", err)
	}
	// The queues' settings are read before the lock is taken: the rebuild
	// holds up every decision only while it swaps memory.
	digital := make([]*directory.Queue, 0, len(refs))
	for _, ref := range refs {
		if ref.Channel == directory.ChannelVoice {
			continue
		}
		dq, err := r.dir.Queue(ctx, ref.ID)
		if err != nil {
			return err
		}
		digital = append(digital, dq)
	}

	r.mu.Lock()
	defer r.mu.Unlock()
	// What only memory knows survives a rebuild (the leader's periodic
	// one, see Lead): who rejected what, when each agent was last offered
	// and where each roundrobin stands, so a resync is not unfair.
	oldQueues, oldAgents, oldPassed, oldRound, oldOffers := r.queues, r.agents, r.passed, r.nextRound, r.offers
	r.queues, r.agents, r.offers, r.passed = map[int64]*queueState{}, map[int64]*agentState{}, map[int64]*offerState{}, map[int64]map[int64]bool{}
	r.nextRound = map[int64]time.Time{}
	restore := func() {
		for id, q := range r.queues {
			if old := oldQueues[id]; old != nil {
				q.next = old.next
			}
		}
		for id, a := range r.agents {
			if old := oldAgents[id]; old != nil {
				a.lastOffer = old.lastOffer
			}
		}
		// An offer being written without the lock (dispatchUnlocked) stays
		// the one its writer finishes: the rows read above may be from
		// before its commit (the interaction read as queued) or after it.
		for id, o := range oldOffers {
			if !o.writing {
				continue
			}
			if _, read := r.offers[id]; !read {
				for _, q := range r.queues {
					q.line.remove(id)
				}
				for aid := range o.agents {
					r.agentLocked(aid).reserved[o.channel]++
				}
			}
			r.offers[id] = o
		}
		for id, p := range oldPassed {
			if _, open := r.offers[id]; open || r.queuedLocked(id) {
				r.passed[id] = p
				if at, ok := oldRound[id]; ok {
					r.nextRound[id] = at
				}
			}
		}
	}
	for _, dq := range digital {
		q := queueFromDirectory(dq)
		q.loadedAt = r.clock.Now()
		r.queues[dq.ID] = q
	}
	byName := map[string]*queueState{}
	for _, q := range r.queues {
		byName[q.name] = q
	}
	for _, l := range links {
		q := byName[l.Queue]
		if q == nil {
			continue
		}
		a := r.agentLocked(l.AgentID)
		a.queues = append(a.queues, q.id)
		q.members = append(q.members, l.AgentID)
	}
	for _, q := range r.queues {
		slices.Sort(q.members)
	}
	for _, a := range r.agents {
		slices.Sort(a.queues)
		if ag, err := r.dir.Agent(ctx, a.id); err == nil {
			a.autoAnswer = autoAnswers(ag)
		}
	}
	now := r.now()
	byInteraction := map[int64][]offerRow{}
	for _, o := range offers {
		byInteraction[o.InteractionID] = append(byInteraction[o.InteractionID], o)
	}
	for _, it := range open {
		it.decode()
		switch it.Status {
		case StatusAccepted:
			if it.AgentID == nil {
				continue
			}
			r.agentLocked(*it.AgentID).open[it.Channel]++
			o := &offerState{interactionID: it.ID, queueID: it.QueueID, channel: it.Channel, agents: map[int64]time.Time{},
				transfer: true, from: *it.AgentID}
			for _, row := range byInteraction[it.ID] {
				if row.Kind == "transfer" && row.ExpiresAt.After(now) {
					o.agents[row.AgentID] = row.ExpiresAt.UTC()
					o.toQueue = row.ToQueueID.Int64
					r.agentLocked(row.AgentID).reserved[it.Channel]++
				}
			}
			if len(o.agents) > 0 {
				r.offers[it.ID] = o
			} else if len(byInteraction[it.ID]) > 0 {
				// Every transfer target's time ran out while omniccd was down.
				if err := r.endTransferLocked(ctx, o); err != nil {
					return err
				}
			}
		case StatusQueued:
			if it.Bot {
				continue // the assistant holds it until the customer's next message
			}
			if q := r.queues[it.QueueID]; q != nil {
				q.line.add(it.ID, it.Priority, it.QueuedAt)
			}
		case StatusOffered:
			o := &offerState{interactionID: it.ID, queueID: it.QueueID, channel: it.Channel, priority: it.Priority,
				queuedAt: it.QueuedAt, agents: map[int64]time.Time{}}
			for _, row := range byInteraction[it.ID] {
				if row.Kind == "offer" && row.ExpiresAt.After(now) {
					o.agents[row.AgentID] = row.ExpiresAt.UTC()
					r.agentLocked(row.AgentID).reserved[it.Channel]++
				}
			}
			if len(o.agents) > 0 {
				r.offers[it.ID] = o
				continue
			}
			if err := r.requeueLocked(ctx, o); err != nil {
				return err
			}
		}
	}
	if _, err := r.db.ExecContext(ctx, `DELETE FROM interaction_offers WHERE expires_at <= ?`, now); err != nil {
		return fmt.Errorf("router: drop expired offers: %w", err)
	}
	restore()
	for _, a := range r.agents {
		for _, ch := range directory.DigitalChannels {
			r.pushLoadLocked(a, ch)
		}
	}
	for _, q := range r.sortedQueuesLocked() {
		if err := r.dispatchLocked(ctx, q); err != nil {
			return err
		}
	}
	return nil
}

// queuedLocked reports whether an interaction waits in some line.
func (r *Router) queuedLocked(id int64) bool {
	for _, q := range r.queues {
		if _, ok := q.line.byID[id]; ok {
			return true
		}
	}
	return false
}

func (r *Router) sortedQueuesLocked() []*queueState {
	out := make([]*queueState, 0, len(r.queues))
	for _, q := range r.queues {
		out = append(out, q)
	}
	slices.SortFunc(out, func(a, b *queueState) int { return int(a.id - b.id) })
	return out
}

// requeueLocked puts an offered interaction nobody holds back in line.
func (r *Router) requeueLocked(ctx context.Context, o *offerState) error {
	if _, err := r.db.ExecContext(ctx, `UPDATE interactions SET status = ?, updated_at = ? WHERE id = ? AND status = ?`,
		StatusQueued, r.now(), o.interactionID, StatusOffered); err != nil {
		return fmt.Errorf("router: requeue interaction %d: %w", o.interactionID, err)
	}
	delete(r.offers, o.interactionID)
	if q := r.queues[o.queueID]; q != nil {
		q.line.add(o.interactionID, o.priority, o.queuedAt)
	}
	return nil
}

// routeAgentLocked offers an agent that may have become free the waiting
// interactions of its queues, the queue with the oldest head first.
func (r *Router) routeAgentLocked(ctx context.Context, a *agentState) error {
	for _, q := range r.waitingQueuesLocked(a) {
		if err := r.dispatchLocked(ctx, q); err != nil {
			return err
		}
	}
	return nil
}

// waitingQueuesLocked are a's queues with someone waiting, the one whose
// head should go first first (priority, then time in line).
func (r *Router) waitingQueuesLocked(a *agentState) []*queueState {
	qs := make([]*queueState, 0, len(a.queues))
	for _, id := range a.queues {
		if q := r.queues[id]; q != nil && q.line.Len() > 0 {
			qs = append(qs, q)
		}
	}
	slices.SortFunc(qs, func(x, y *queueState) int {
		hx, hy := x.line.head(), y.line.head()
		if hx.priority != hy.priority {
			return hy.priority - hx.priority
		}
		return hx.queuedAt.Compare(hy.queuedAt)
	})
	return qs
}

// eligibleLocked lists the members of q who can take one more interaction
// on its channel right now. Capacity is presence's O(1) check per agent, and
// the router's reservations are already in the load presence holds.
func (r *Router) eligibleLocked(q *queueState, interactionID int64) (fresh, all []int64) {
	passed := r.passed[interactionID]
	for _, id := range q.members {
		if r.pres == nil {
			break
		}
		if _, ok := r.pres.CanTake(id, q.channel); !ok {
			continue
		}
		all = append(all, id)
		if !passed[id] {
			fresh = append(fresh, id)
		}
	}
	return fresh, all
}

// choose picks, among the eligible agents, whom to offer to: every one for
// beepall, else one by the queue's strategy.
func (r *Router) chooseLocked(q *queueState, eligible []int64) []int64 {
	if q.strategy == "beepall" || len(eligible) == 0 {
		return eligible
	}
	switch q.strategy {
	case "leastrecent":
		best := eligible[0]
		for _, id := range eligible[1:] {
			if r.agents[id].lastOffer.Before(r.agents[best].lastOffer) {
				best = id
			}
		}
		return []int64{best}
	case "fewestinteractions":
		best := eligible[0]
		for _, id := range eligible[1:] {
			if r.agents[id].open[q.channel] < r.agents[best].open[q.channel] {
				best = id
			}
		}
		return []int64{best}
	default: // roundrobin: the first eligible member at or after the rotation point
		if len(q.members) == 0 {
			return eligible[:1]
		}
		start := q.members[q.next%len(q.members)]
		i, _ := slices.BinarySearch(eligible, start)
		pick := eligible[i%len(eligible)]
		j, _ := slices.BinarySearch(q.members, pick)
		q.next = j + 1
		return []int64{pick}
	}
}

// Decide is the offer decision for q's head, without acting on it: the
// interaction and the agents it would go to. Benchmarks measure it.
func (r *Router) Decide(queueID int64) (interactionID int64, agents []int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	q := r.queues[queueID]
	if q == nil || q.line.Len() == 0 {
		return 0, nil
	}
	h := q.line.head()
	fresh, all := r.eligibleLocked(q, h.id)
	if len(fresh) == 0 {
		fresh = all
	}
	return h.id, r.chooseLocked(q, fresh)
}

// dispatchLocked offers q's waiting interactions, head first, while someone
// can take them, writing each offer with the router's lock held.
func (r *Router) dispatchLocked(ctx context.Context, q *queueState) error {
	var firstErr error
	for _, o := range r.planLocked(q) {
		// Every planned offer is finished, even after a failure: each holds
		// reservations only its finish frees.
		it, err := r.writeOffer(ctx, o)
		firstErr = cmp.Or(firstErr, r.finishOfferLocked(ctx, q, o, it, err))
	}
	return firstErr
}

// dispatchUnlocked is dispatchLocked for a caller that does not hold the
// lock (a customer's message): the decisions and the reservations are
// made under the lock, but the offers are written without it, so new
// conversations of many customers commit side by side instead of one
// after the other behind the lock. It answers the interactions it offered,
// as read in the offer's transaction.
func (r *Router) dispatchUnlocked(ctx context.Context, q *queueState) (map[int64]*Interaction, error) {
	r.mu.Lock()
	plan := r.planLocked(q)
	r.mu.Unlock()
	offered := map[int64]*Interaction{}
	// The offers of one plan are written side by side: a backlog (what
	// other instances queued, a burst after an agent freed up) then costs
	// about one commit, not one commit per interaction in a row.
	type written struct {
		it  *Interaction
		err error
	}
	out := make([]written, len(plan))
	if len(plan) == 1 {
		out[0].it, out[0].err = r.writeOffer(ctx, plan[0])
	} else {
		var wg sync.WaitGroup
		slots := make(chan struct{}, offerWriters)
		for i, o := range plan {
			slots <- struct{}{}
			wg.Go(func() {
				defer func() { <-slots }()
				out[i].it, out[i].err = r.writeOffer(ctx, o)
			})
		}
		wg.Wait()
	}
	var firstErr error
	for i, o := range plan {
		r.mu.Lock()
		err := r.finishOfferLocked(ctx, q, o, out[i].it, out[i].err)
		r.mu.Unlock()
		if err != nil {
			firstErr = cmp.Or(firstErr, err)
		} else if it := out[i].it; it != nil {
			offered[it.ID] = it
		}
	}
	return offered, firstErr
}

// offerWriters bounds the offers of one plan written at once.
const offerWriters = 16

// planLocked takes q's waiting interactions, head first, while someone can
// take them, and reserves each one's agents (its offer, not yet written,
// stands in r.offers with writing set).
func (r *Router) planLocked(q *queueState) []*offerState {
	if r.follower.Load() {
		return nil // the leader offers it (Lead)
	}
	var plan []*offerState
	for q.line.Len() > 0 {
		h := q.line.head()
		fresh, all := r.eligibleLocked(q, h.id)
		if len(all) == 0 {
			break
		}
		if len(fresh) == 0 {
			// Everyone who could take it has passed on it: start a new round
			// rather than leave it waiting for an agent who may never come,
			// but not at once (ExpireDue runs when it is due): an agent who
			// just rejected it is not offered it again the same second. The
			// line waits behind its head meanwhile, first come first served.
			if r.now().Before(r.nextRound[h.id]) {
				break
			}
			delete(r.passed, h.id)
			delete(r.nextRound, h.id)
			fresh = all
		}
		to := r.chooseLocked(q, fresh)
		q.line.remove(h.id)
		plan = append(plan, r.reserveOfferLocked(q, h, to))
	}
	return plan
}

// reserveOfferLocked makes the offer of h to the agents in memory: their
// slots are reserved (so no other queue fills them meanwhile) before the
// offer is written.
func (r *Router) reserveOfferLocked(q *queueState, h *waitItem, to []int64) *offerState {
	now := r.now()
	deadline := now.Add(q.offerTimeout)
	o := &offerState{interactionID: h.id, queueID: q.id, channel: q.channel, priority: h.priority, queuedAt: h.queuedAt,
		agents: map[int64]time.Time{}, writing: true, createdAt: now}
	for _, id := range to {
		a := r.agentLocked(id)
		o.agents[id] = deadline
		a.reserved[q.channel]++
		a.lastOffer = now
		r.pushLoadLocked(a, q.channel)
	}
	r.offers[h.id] = o
	return o
}

// writeOffer stores a reserved offer: the interaction offered, one row
// per agent. It touches no router state, so it may run without the lock.
func (r *Router) writeOffer(ctx context.Context, o *offerState) (*Interaction, error) {
	var it *Interaction
	err := inTx(ctx, r.db, func(tx *sqlx.Tx) error {
		n, err := exec(ctx, tx, `UPDATE interactions SET status = ?, updated_at = ? WHERE id = ? AND status = ?`,
			StatusOffered, o.createdAt, o.interactionID, StatusQueued)
		if err != nil {
			return err
		}
		if n != 1 {
			return fmt.Errorf("interaction %d is no longer queued: %w", o.interactionID, ErrConflict)
		}
		for a, deadline := range o.agents {
			if _, err := tx.ExecContext(ctx, `INSERT INTO interaction_offers (interaction_id, agent_id, kind, expires_at, created_at)
 VALUES (?, ?, 'offer', ?, ?)`, o.interactionID, a, deadline, o.createdAt); err != nil {
				return err
			}
		}
		it, err = readInteraction(ctx, tx, o.interactionID)
		return err
	})
	return it, err
}

// finishOfferLocked publishes a written offer, or takes a failed one back:
// its reservations are freed, and the interaction returns to the line
// unless someone else moved it on (closed it, another instance).
func (r *Router) finishOfferLocked(ctx context.Context, q *queueState, o *offerState, it *Interaction, err error) error {
	current := r.offers[o.interactionID] == o
	if err != nil || !current {
		if current {
			delete(r.offers, o.interactionID)
			for id := range o.agents {
				a := r.agents[id]
				a.reserved[o.channel]--
				r.pushLoadLocked(a, o.channel)
			}
		}
		if errors.Is(err, ErrConflict) || err == nil {
			// Someone else moved it on (a close took the offer back while
			// it was written; another instance); it has left the line.
			return nil
		}
		if current {
			q.line.add(o.interactionID, o.priority, o.queuedAt)
		}
		return fmt.Errorf("router: offer interaction %d: %w", o.interactionID, err)
	}
	o.writing = false
	r.publishInteraction(it)
	ids := make([]int64, 0, len(o.agents))
	for id := range o.agents {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		r.publish("offer", id, OfferEvent{Interaction: it, ExpiresAt: o.agents[id]})
		r.count(id, q.channel, presence.DigitalOffered, 0)
	}
	// Auto-answer accepts for the agent after its delay, never under
	// beepall, where it would win every race for whoever has it on.
	if q.strategy != "beepall" && len(ids) == 1 {
		if d, ok := r.agents[ids[0]].autoAnswer[q.channel]; ok {
			o.autoAgent, o.autoAt = ids[0], o.createdAt.Add(d)
			if d == 0 {
				if _, err := r.acceptLocked(ctx, ids[0], o.interactionID); err != nil {
					r.log.Warn("router: auto-answer", "interaction", o.interactionID, "agent", ids[0], "err", err)
				}
			} else {
				r.signal()
			}
		}
	}
	if len(ids) > 0 {
		r.signal() // Run's timer must learn the new deadline
	}
	return nil
}

// Accept gives the offered interaction to the agent. Exactly one of many
// agents accepting one beepall offer wins: the conditional UPDATE on
// status = 'offered' affects one row for the first and none for the others,
// who get an *OfferGoneError with ReasonTaken. Accepting again what one
// already holds is not an error.
func (r *Router) Accept(ctx context.Context, agentID, interactionID int64) (*Interaction, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if o := r.offers[interactionID]; o != nil && o.transfer {
		if _, ok := o.agents[agentID]; ok {
			return r.acceptTransferLocked(ctx, o, agentID)
		}
	}
	return r.acceptLocked(ctx, agentID, interactionID)
}

func (r *Router) acceptLocked(ctx context.Context, agentID, interactionID int64) (*Interaction, error) {
	now := r.now()
	var it *Interaction
	var gone *OfferGoneError
	err := inTx(ctx, r.db, func(tx *sqlx.Tx) error {
		// The interaction's row is locked first (the conditional UPDATE), and
		// only then are the offers read (without locks) and deleted: every
		// accepting transaction takes its locks in that one order, so MariaDB
		// never finds two of them waiting on each other. Without a standing
		// offer for this agent the UPDATE is rolled back.
		n, err := exec(ctx, tx, `UPDATE interactions SET status = ?, agent_id = ?, accepted_at = ?, updated_at = ?, unread = 0
 WHERE id = ? AND status = ?`, StatusAccepted, agentID, now, now, interactionID, StatusOffered)
		if err != nil {
			return err
		}
		if n == 1 {
			var mine int
			if err := sqlx.GetContext(ctx, tx, &mine, `SELECT COUNT(*) FROM interaction_offers WHERE interaction_id = ? AND agent_id = ?
 AND kind = 'offer' AND expires_at > ?`, interactionID, agentID, now); err != nil {
				return err
			}
			if mine == 0 {
				gone = &OfferGoneError{InteractionID: interactionID, Reason: ReasonExpired}
				return gone
			}
		}
		it, err = readInteraction(ctx, tx, interactionID)
		if err != nil {
			return err
		}
		if n != 1 {
			if it.Status == StatusAccepted && it.AgentID != nil && *it.AgentID == agentID {
				return nil // a retried accept
			}
			gone = &OfferGoneError{InteractionID: interactionID, Reason: ReasonExpired}
			if it.Status == StatusAccepted || it.Status == StatusClosed {
				gone.Reason = ReasonTaken
			}
			return gone
		}
		_, err = tx.ExecContext(ctx, `DELETE FROM interaction_offers WHERE interaction_id = ? AND kind = 'offer'`, interactionID)
		return err
	})
	if gone != nil {
		return nil, gone
	}
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			return nil, err
		}
		return nil, fmt.Errorf("router: accept interaction %d: %w", interactionID, err)
	}
	if o := r.offers[interactionID]; o != nil && o.agents[agentID] != (time.Time{}) {
		delete(r.offers, interactionID)
		delete(r.passed, interactionID)
		delete(r.nextRound, interactionID)
		for id := range o.agents {
			a := r.agents[id]
			a.reserved[o.channel]--
			if id != agentID {
				r.pushLoadLocked(a, o.channel)
				r.publish("offer_withdrawn", id, OfferWithdrawnEvent{InteractionID: interactionID, Reason: ReasonTaken})
			}
		}
		a := r.agentLocked(agentID)
		a.open[o.channel]++
		r.pushLoadLocked(a, o.channel)
		r.count(agentID, o.channel, presence.DigitalAccepted, 0)
		r.publishInteraction(it)
		// The others' reserved slots are free again: offer them what waits.
		for id := range o.agents {
			if id != agentID {
				if err := r.routeAgentLocked(ctx, r.agents[id]); err != nil {
					return it, err
				}
			}
		}
	} else if r.follower.Load() {
		// The offer was the leader's: its desks and the leader itself
		// (over the fan-out) hear of the accept from here.
		r.publishInteraction(it)
	}
	return it, nil
}

// Reject passes an offer on to the next agent. Rejecting an offer that is
// already gone answers *OfferGoneError.
func (r *Router) Reject(ctx context.Context, agentID, interactionID int64) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	n, err := exec(ctx, r.db, `DELETE FROM interaction_offers WHERE interaction_id = ? AND agent_id = ?`, interactionID, agentID)
	if err != nil {
		return fmt.Errorf("router: reject interaction %d: %w", interactionID, err)
	}
	if n == 0 {
		it, err := readInteraction(ctx, r.db, interactionID)
		if err != nil {
			return err
		}
		reason := ReasonExpired
		if it.Status == StatusAccepted || it.Status == StatusClosed {
			reason = ReasonTaken
		}
		return &OfferGoneError{InteractionID: interactionID, Reason: reason}
	}
	return r.dropOfferLocked(ctx, interactionID, agentID, ReasonRejected)
}

// dropOfferLocked ends one agent's part of an offer (rejected or timed
// out); when nobody holds it any more it goes back in line and on.
func (r *Router) dropOfferLocked(ctx context.Context, interactionID, agentID int64, reason string) error {
	o := r.offers[interactionID]
	if o == nil {
		return nil
	}
	if _, ok := o.agents[agentID]; !ok {
		return nil
	}
	delete(o.agents, agentID)
	if o.autoAgent == agentID {
		o.autoAgent = 0
	}
	what := presence.DigitalRejected
	if reason == ReasonTimeout {
		what = presence.DigitalTimedOut
	}
	r.count(agentID, o.channel, what, 0)
	if o.transfer {
		a := r.agents[agentID]
		a.reserved[o.channel]--
		r.pushLoadLocked(a, o.channel)
		r.publish("offer_withdrawn", agentID, OfferWithdrawnEvent{InteractionID: interactionID, Reason: reason})
		if len(o.agents) == 0 {
			if err := r.endTransferLocked(ctx, o); err != nil {
				return err
			}
		}
		return r.routeAgentLocked(ctx, a)
	}
	if r.passed[interactionID] == nil {
		r.passed[interactionID] = map[int64]bool{}
	}
	r.passed[interactionID][agentID] = true
	timeout := defaultOfferTimeout
	if q := r.queues[o.queueID]; q != nil && q.offerTimeout > 0 {
		timeout = q.offerTimeout
	}
	r.nextRound[interactionID] = r.now().Add(timeout)
	a := r.agents[agentID]
	a.reserved[o.channel]--
	r.pushLoadLocked(a, o.channel)
	r.publish("offer_withdrawn", agentID, OfferWithdrawnEvent{InteractionID: interactionID, Reason: reason})
	if len(o.agents) == 0 {
		if err := r.requeueLocked(ctx, o); err != nil {
			return err
		}
		if it, err := readInteraction(ctx, r.db, interactionID); err == nil {
			r.publishInteraction(it)
		}
		if q := r.queues[o.queueID]; q != nil {
			if err := r.dispatchLocked(ctx, q); err != nil {
				return err
			}
		}
	}
	return r.routeAgentLocked(ctx, a)
}

// ExpireDue times out the offers whose deadline has passed and carries out
// the auto-answers that are due. Run calls it at each deadline; tests call
// it after moving the clock.
func (r *Router) ExpireDue(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.now()
	type due struct{ interaction, agent int64 }
	var expired, auto []due
	for _, o := range r.offers {
		if o.writing {
			continue // its writer publishes it, or takes it back
		}
		if o.autoAgent != 0 && !o.autoAt.After(now) {
			auto = append(auto, due{o.interactionID, o.autoAgent})
			continue
		}
		for id, d := range o.agents {
			if !d.After(now) {
				expired = append(expired, due{o.interactionID, id})
			}
		}
	}
	sortDue := func(s []due) {
		slices.SortFunc(s, func(a, b due) int {
			if a.interaction != b.interaction {
				return int(a.interaction - b.interaction)
			}
			return int(a.agent - b.agent)
		})
	}
	sortDue(auto)
	sortDue(expired)
	for _, d := range auto {
		if _, err := r.acceptLocked(ctx, d.agent, d.interaction); err != nil {
			var gone *OfferGoneError
			if !errors.As(err, &gone) {
				return err
			}
		}
	}
	for _, d := range expired {
		if _, err := r.db.ExecContext(ctx, `DELETE FROM interaction_offers WHERE interaction_id = ? AND agent_id = ?`,
			d.interaction, d.agent); err != nil {
			return fmt.Errorf("router: expire the offer of interaction %d: %w", d.interaction, err)
		}
		if err := r.dropOfferLocked(ctx, d.interaction, d.agent, ReasonTimeout); err != nil {
			return err
		}
	}
	// Interactions everyone passed on whose next round is due.
	roundDue := false
	for id, at := range r.nextRound {
		if !at.After(now) {
			roundDue = true
			if _, open := r.offers[id]; !open && !r.queuedLocked(id) {
				delete(r.nextRound, id) // accepted or closed meanwhile
			}
		}
	}
	if roundDue {
		for _, q := range r.sortedQueuesLocked() {
			if err := r.dispatchLocked(ctx, q); err != nil {
				return err
			}
		}
	}
	return nil
}
