package router

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/jmoiron/sqlx"
)

// Bot is an AI assistant answering a digital queue's new conversations
// before agents do: the assistant package calls its webhook.
type Bot interface {
	Ask(ctx context.Context, assistantID int64, turn BotTurn) (BotAnswer, error)
}

// BotTurn is one customer message handed to the assistant.
type BotTurn struct {
	InteractionID int64    `json:"interaction_id"`
	Channel       string   `json:"channel"`
	Customer      string   `json:"customer"`
	CustomerName  string   `json:"customer_name"`
	Message       *Message `json:"message"`
}

// BotAnswer is what the assistant answers: messages for the customer, and
// whether agents take over now.
type BotAnswer struct {
	Replies []string `json:"replies"`
	Handoff bool     `json:"handoff"`
	Reason  string   `json:"reason"`
}

// SetBot gives the router the AI assistants' webhook client; call it
// before Run. Without one, queues naming an assistant route to agents.
func (r *Router) SetBot(b Bot) { r.bot = b }

// botFirst starts a new conversation of a queue with an assistant on the
// bot: it stays queued, out of the agents' line, while the bot answers.
func (r *Router) botFirst(ctx context.Context, assistantID int64, it *Interaction, m *Message) (*Interaction, error) {
	if _, err := r.db.ExecContext(ctx, `UPDATE interactions SET bot_active = ? WHERE id = ? AND status = ?`, true, it.ID, StatusQueued); err != nil {
		return it, fmt.Errorf("router: hand interaction %d to the assistant: %w", it.ID, err)
	}
	it.Bot = true
	r.publishInteraction(it)
	return r.queueBotTurn(ctx, it, botTurn{assistantID: assistantID, interactionID: it.ID, message: m})
}

// The assistant's webhook may take its whole timeout (10 s) to answer.
// Receive runs on a connector's worker (WhatsApp hands every conversation
// of a number over from one goroutine) or in an HTTP request, so it only
// queues the customer's message for the assistant: RunBots calls the
// webhook from one goroutine per conversation, which keeps each
// conversation's order and lets the others go on.

// botTurn is a customer message waiting for the assistant.
type botTurn struct {
	assistantID   int64
	interactionID int64
	message       *Message
}

// maxBotCalls bounds the assistants' webhook calls in flight at once.
const maxBotCalls = 64

// botStopTimeout bounds the database writes that hand a conversation to
// agents when omniccd stops before its assistant answered.
const botStopTimeout = 5 * time.Second

// bots is the state of RunBots: the turns waiting per conversation and
// which conversations have a goroutine working through theirs.
type bots struct {
	mu      sync.Mutex
	ctx     context.Context // RunBots' context; nil until it runs
	stopped bool            // RunBots returned: turns are handed to agents at once
	turns   map[int64][]botTurn
	wg      sync.WaitGroup
	slots   chan struct{}
	idle    chan struct{} // closed when no turn waits or runs; nil while none is waited for
}

// RunBots calls the assistants for the conversations they hold until ctx
// ends; every instance runs it (a follower's Receive queues turns too).
// Turns queued before it runs wait for it. When ctx ends, a webhook call in
// flight is cancelled and its conversation, like any whose turn still
// waits, goes to agents with its transcript: nothing a customer wrote is
// left unanswered by both.
func (r *Router) RunBots(ctx context.Context) error {
	b := &r.bots
	b.mu.Lock()
	b.ctx = ctx
	for id := range b.turns {
		b.startLocked(r, id)
	}
	b.mu.Unlock()
	<-ctx.Done()
	b.mu.Lock()
	b.stopped = true
	b.mu.Unlock()
	b.wg.Wait()
	return nil
}

// startLocked starts the goroutine of conversation id.
func (b *bots) startLocked(r *Router, id int64) {
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		r.botWorker(b.ctx, id)
	}()
}

// queueBotTurn hands a customer message to the assistant's goroutine of
// its conversation, starting one when none runs, and answers it as it is
// then: unchanged, or handed to agents when RunBots has stopped.
func (r *Router) queueBotTurn(ctx context.Context, it *Interaction, t botTurn) (*Interaction, error) {
	b := &r.bots
	b.mu.Lock()
	if b.stopped {
		b.mu.Unlock()
		cur, err := r.handoff(ctx, t.interactionID, "omniccd is stopping")
		if cur == nil {
			cur = it
		}
		return cur, err
	}
	if b.turns == nil {
		b.turns = map[int64][]botTurn{}
	}
	_, running := b.turns[t.interactionID]
	b.turns[t.interactionID] = append(b.turns[t.interactionID], t)
	if !running && b.ctx != nil {
		b.startLocked(r, t.interactionID)
	}
	b.mu.Unlock()
	return it, nil
}

// botWorker answers conversation id's turns in order until none is left.
// The entry in b.turns stays while the goroutine runs, so a turn queued
// meanwhile joins this goroutine rather than starting a second one.
func (r *Router) botWorker(ctx context.Context, id int64) {
	b := &r.bots
	for {
		b.mu.Lock()
		q := b.turns[id]
		if len(q) == 0 {
			delete(b.turns, id)
			if len(b.turns) == 0 && b.idle != nil {
				close(b.idle)
				b.idle = nil
			}
			b.mu.Unlock()
			return
		}
		t := q[0]
		b.turns[id] = q[1:]
		b.mu.Unlock()
		r.botTurn(ctx, t)
	}
}

// botTurn asks the assistant one turn, unless the conversation left it
// meanwhile (an earlier turn's handoff, a close): then agents read the
// message as it is.
func (r *Router) botTurn(ctx context.Context, t botTurn) {
	// The writes after the call outlive a cancelled ctx: a conversation
	// whose call was cut by a shutdown is still handed to agents.
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), botStopTimeout)
	defer cancel()
	if ctx.Err() == nil {
		select {
		case r.bots.slots <- struct{}{}:
			defer func() { <-r.bots.slots }()
		case <-ctx.Done():
		}
	}
	it, err := readInteraction(wctx, r.db, t.interactionID)
	if err != nil {
		r.log.Warn("router: read the assistant's conversation", "interaction", t.interactionID, "err", err)
		return
	}
	if !it.Bot || it.Status != StatusQueued {
		return
	}
	if ctx.Err() != nil {
		if _, err := r.handoff(wctx, it.ID, "omniccd stopped before the assistant answered"); err != nil {
			r.log.Warn("router: hand the assistant's conversation to agents", "interaction", it.ID, "err", err)
		}
		return
	}
	if _, err := r.askBot(ctx, wctx, t.assistantID, it, t.message); err != nil {
		r.log.Warn("router: the assistant's turn", "interaction", it.ID, "err", err)
	}
}

// askBot hands one customer message to the assistant (the call bound to
// ctx), sends its replies and hands the conversation to agents on its
// handoff, its failure or its timeout — the transcript stays, agents read
// it all. The writes use wctx.
func (r *Router) askBot(ctx, wctx context.Context, assistantID int64, it *Interaction, m *Message) (*Interaction, error) {
	ans, err := r.bot.Ask(ctx, assistantID, BotTurn{InteractionID: it.ID, Channel: it.Channel, Customer: it.Customer,
		CustomerName: it.CustomerName, Message: m})
	ctx = wctx
	if err != nil {
		r.log.Warn("router: the assistant failed; agents take over", "interaction", it.ID, "assistant", assistantID, "err", err)
		return r.handoff(ctx, it.ID, "the assistant did not answer")
	}
	for _, body := range ans.Replies {
		if strings.TrimSpace(body) == "" || len(body) > MaxBody {
			continue
		}
		out := &Message{InteractionID: it.ID, Direction: DirectionOut, Body: body, Status: MessagePending, CreatedAt: r.now()}
		if err := inTx(ctx, r.db, func(tx *sqlx.Tx) error { return insertMessage(ctx, tx, out) }); err != nil {
			return it, fmt.Errorf("router: store the assistant's reply on interaction %d: %w", it.ID, err)
		}
		sent := *out
		r.publish("message", 0, MessageEvent{InteractionID: it.ID, Message: &sent})
		r.deliver(ctx, it, out, nil)
	}
	if ans.Handoff {
		reason := ans.Reason
		if reason == "" {
			reason = "the assistant handed over"
		}
		return r.handoff(ctx, it.ID, reason)
	}
	return readInteraction(ctx, r.db, it.ID)
}

// handoff takes a conversation from the assistant and puts it in its
// queue's line for agents, with a system message saying why.
func (r *Router) handoff(ctx context.Context, id int64, reason string) (*Interaction, error) {
	now := r.now()
	if len(reason) > 500 {
		reason = reason[:500]
	}
	moved := false
	err := inTx(ctx, r.db, func(tx *sqlx.Tx) error {
		n, err := exec(ctx, tx, `UPDATE interactions SET bot_active = ?, queued_at = ?, updated_at = ? WHERE id = ? AND bot_active = ? AND status = ?`,
			false, now, now, id, true, StatusQueued)
		if err != nil || n == 0 {
			return err
		}
		moved = true
		return insertMessage(ctx, tx, &Message{InteractionID: id, Direction: DirectionSystem, Status: MessageReceived,
			Body: "Handed to agents: " + reason, CreatedAt: now})
	})
	if err != nil {
		return nil, fmt.Errorf("router: hand interaction %d to agents: %w", id, err)
	}
	it, err := readInteraction(ctx, r.db, id)
	if err != nil || !moved {
		return it, err
	}
	r.mu.Lock()
	q, err := r.queueLocked(ctx, it.QueueID)
	if err == nil {
		q.line.add(it.ID, it.Priority, it.QueuedAt)
		r.publishInteraction(it)
	}
	r.mu.Unlock()
	if err != nil {
		return it, err
	}
	offered, err := r.dispatchUnlocked(ctx, q)
	if err != nil {
		return it, err
	}
	if cur := offered[id]; cur != nil {
		return cur, nil
	}
	return readInteraction(ctx, r.db, id)
}

// botQueue is the assistant of a queue, 0 when it has none or no bot is
// wired.
func (r *Router) botQueue(ctx context.Context, queueID int64) int64 {
	if r.bot == nil {
		return 0
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	q, err := r.queueLocked(ctx, queueID)
	if err != nil {
		return 0
	}
	return q.assistant
}

// botsIdle is closed once no assistant turn waits or runs.
func (r *Router) botsIdle() <-chan struct{} {
	b := &r.bots
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.turns) == 0 {
		c := make(chan struct{})
		close(c)
		return c
	}
	if b.idle == nil {
		b.idle = make(chan struct{})
	}
	return b.idle
}
