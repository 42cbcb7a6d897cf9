package router_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"omnicc/contacts"
	"omnicc/directory"
	"omnicc/presence"
	"omnicc/router"
	"omnicc/store"
	"omnicc/storetest"
)

// sender records what the router hands to a channel.
type sender struct {
	mu   sync.Mutex
	sent []router.Outbound
}

func (s *sender) Send(_ context.Context, m router.Outbound) error {
	s.mu.Lock()
	s.sent = append(s.sent, m)
	s.mu.Unlock()
	return nil
}

func (s *sender) all() []router.Outbound {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]router.Outbound(nil), s.sent...)
}

func (g *rig) digitalQueue(name string, in directory.QueueInput, members ...int64) int64 {
	g.t.Helper()
	in.Name, in.Channel, in.Strategy = ptr(name), ptr("chat"), ptr("roundrobin")
	q, err := g.dir.CreateQueue(g.t.Context(), in)
	if err != nil {
		g.t.Fatal(err)
	}
	for _, m := range members {
		if err := g.dir.AddQueueMember(g.t.Context(), directory.MembershipInput{QueueID: q.ID, AgentID: m}); err != nil {
			g.t.Fatal(err)
		}
	}
	return q.ID
}

func (g *rig) in(customer, ext string, queue int64, mod func(*router.Inbound)) *router.Interaction {
	g.t.Helper()
	in := router.Inbound{Channel: "chat", Account: "site1", Customer: customer, QueueID: queue, Body: "hi " + ext, ExternalID: ext}
	if mod != nil {
		mod(&in)
	}
	it, _, _, err := g.r.Receive(g.t.Context(), in)
	if err != nil {
		g.t.Fatal(err)
	}
	return it
}

func TestInboundFindsOrCreatesTheContact(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := t.Context()
		g := newRig(t, db)
		people, err := contacts.New(db, contacts.Options{Numbers: contacts.NumberPlan{CountryCode: "44"}, CacheTTL: -1})
		if err != nil {
			t.Fatal(err)
		}
		g.r = router.New(router.Options{DB: db, Presence: g.pres, Directory: g.dir, Publisher: g.rec, Clock: g.clock, Contacts: people})
		list, err := people.CreateList(ctx, contacts.ListInput{Name: "whatsapp senders"})
		if err != nil {
			t.Fatal(err)
		}
		known, err := people.Create(ctx, contacts.ContactInput{ListID: list.ID, FirstName: "Ada", Phone: "+44 7700 900456"})
		if err != nil {
			t.Fatal(err)
		}
		q := g.queue("web", "roundrobin")
		g.start()
		trigger := func(phone string) func(*router.Inbound) {
			return func(in *router.Inbound) { in.ContactListID, in.Phone, in.CustomerName = list.ID, phone, "Sam Jones" }
		}

		// An unknown sender is created once, and later messages keep it.
		first := g.in("447700900123", "m1", q, trigger("+447700900123"))
		if first.ContactID == nil {
			t.Fatal("a new sender's interaction has no contact")
		}
		again := g.in("447700900123", "m2", q, trigger("+447700900123"))
		if again.ContactID == nil || *again.ContactID != *first.ContactID {
			t.Fatalf("second message: contact %v, want %d", again.ContactID, *first.ContactID)
		}
		c, err := people.Get(ctx, *first.ContactID)
		if err != nil || c.FirstName != "Sam" || c.ExternalIDs["chat"] != "447700900123" {
			t.Fatalf("created contact %+v, %v", c, err)
		}
		// A sender matching a contact by number joins it; nothing is created.
		byPhone := g.in("447700900456", "m3", q, trigger("+447700900456"))
		if byPhone.ContactID == nil || *byPhone.ContactID != known.ID {
			t.Fatalf("known number: contact %v, want %d", byPhone.ContactID, known.ID)
		}
		// Without a trigger the interaction has no contact.
		if none := g.in("stranger", "m4", q, nil); none.ContactID != nil {
			t.Fatalf("no trigger, yet contact %d", *none.ContactID)
		}
		items, total, err := g.r.List(ctx, router.Actor{Staff: true}, router.Filter{ContactID: known.ID})
		if err != nil || total != 1 || items[0].ID != byPhone.ID {
			t.Fatalf("list by contact: %d items, %v", total, err)
		}
	})
}

func TestReplyWindowAndTemplates(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := t.Context()
		g := newRig(t, db)
		out := &sender{}
		g.r.SetSender("chat", out)
		a := g.agent("ann", nil)
		q := g.queue("web", "roundrobin", a)
		g.start(a)
		window := day0.Add(24 * time.Hour)
		it := g.in("cust", "m1", q, func(in *router.Inbound) { in.WindowExpiresAt = window })
		if _, err := g.r.Accept(ctx, a, it.ID); err != nil {
			t.Fatal(err)
		}
		// A late delivery of an older message never shortens the window.
		it = g.in("cust", "m0", q, func(in *router.Inbound) { in.WindowExpiresAt = window.Add(-time.Hour) })
		if it.WindowExpiresAt == nil || !it.WindowExpiresAt.Equal(window) {
			t.Fatalf("window_expires_at = %v, want %v", it.WindowExpiresAt, window)
		}
		me := router.Actor{AgentID: a}
		if _, _, err := g.r.Reply(ctx, me, it.ID, "inside the window", ""); err != nil {
			t.Fatal(err)
		}
		g.clock.Advance(25 * time.Hour)
		_, _, err := g.r.Reply(ctx, me, it.ID, "too late", "")
		var refused *router.RefusedError
		if !errors.As(err, &refused) || refused.Code != "window_closed" {
			t.Fatalf("free text outside the window: %v, want a window_closed refusal", err)
		}
		if n := len(out.all()); n != 1 {
			t.Fatalf("the sender got %d messages, want only the one inside the window", n)
		}
		// A template goes, and is stored in the conversation.
		m, err := g.r.SendTemplate(ctx, me, it.ID, router.TemplateSend{ID: 7, Parameters: []string{"Ann"}}, "[template recontact] Ann")
		if err != nil || m.Status != router.MessageSent {
			t.Fatalf("template: %+v, %v", m, err)
		}
		sent := out.all()
		if len(sent) != 2 || sent[1].Template == nil || sent[1].Template.ID != 7 || sent[1].MessageID != m.ID {
			t.Fatalf("sender got %+v", sent)
		}
		// Someone else's interaction is not theirs to send on.
		b := g.agent("bob", nil)
		if _, err := g.r.SendTemplate(ctx, router.Actor{AgentID: b}, it.ID, router.TemplateSend{ID: 7}, "x"); !errors.Is(err, router.ErrForbidden) {
			t.Fatalf("another agent's template: %v, want ErrForbidden", err)
		}
	})
}

func TestDeliveryStatusOnlyMovesForward(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := t.Context()
		g := newRig(t, db)
		g.r.SetSender("chat", &sender{})
		a := g.agent("ann", nil)
		q := g.queue("web", "roundrobin", a)
		g.start(a)
		it := g.in("cust", "m1", q, nil)
		if _, err := g.r.Accept(ctx, a, it.ID); err != nil {
			t.Fatal(err)
		}
		m, _, err := g.r.Reply(ctx, router.Actor{AgentID: a}, it.ID, "hello", "c1")
		if err != nil {
			t.Fatal(err)
		}
		g.rec.take("message", a)
		status := func() *router.Message {
			ms, err := g.r.Messages(ctx, router.Actor{Staff: true}, it.ID, 0)
			if err != nil {
				t.Fatal(err)
			}
			for _, x := range ms {
				if x.ID == m.ID {
					return x
				}
			}
			t.Fatal("reply not found")
			return nil
		}
		steps := []struct {
			status, errText, want string
			event                 bool
		}{
			{router.MessageRead, "", router.MessageRead, true},
			{router.MessageDelivered, "", router.MessageRead, false}, // after read: ignored
			{router.MessageSent, "", router.MessageRead, false},
			{router.MessageFailed, "131026 Message undeliverable", router.MessageRead, false},
		}
		for _, s := range steps {
			if err := g.r.DeliveryStatus(ctx, m.ID, s.status, s.errText); err != nil {
				t.Fatal(err)
			}
			if got := status(); got.Status != s.want {
				t.Fatalf("after %s: status %s, want %s", s.status, got.Status, s.want)
			}
			ev := g.rec.take("message", a)
			if (len(ev) == 1) != s.event {
				t.Fatalf("after %s: %d message events, want event=%v", s.status, len(ev), s.event)
			}
		}
		// A failure before it is read carries the provider's code and title.
		m2, _, err := g.r.Reply(ctx, router.Actor{AgentID: a}, it.ID, "second", "c2")
		if err != nil {
			t.Fatal(err)
		}
		if err := g.r.DeliveryStatus(ctx, m2.ID, router.MessageFailed, "131026 Message undeliverable"); err != nil {
			t.Fatal(err)
		}
		ms, _ := g.r.Messages(ctx, router.Actor{Staff: true}, it.ID, m.Seq)
		if len(ms) != 1 || ms[0].Status != router.MessageFailed || ms[0].Error != "131026 Message undeliverable" {
			t.Fatalf("failed message: %+v", ms)
		}
		if err := g.r.DeliveryStatus(ctx, m2.ID, "bogus", ""); err == nil {
			t.Fatal("an unknown status was taken")
		}
	})
}

func TestClosingQuickReplyClosesTheInteraction(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := t.Context()
		g := newRig(t, db)
		a := g.agent("ann", nil)
		q := g.queue("web", "roundrobin", a)
		g.start(a)
		it := g.in("cust", "m1", q, nil)
		if _, err := g.r.Accept(ctx, a, it.ID); err != nil {
			t.Fatal(err)
		}
		closing := func(in *router.Inbound) { in.CloseAfter = true; in.Body = "No thanks" }
		got := g.in("cust", "m2", q, closing)
		if got.Status != router.StatusClosed {
			t.Fatalf("after the closing quick reply: %s, want closed", got.Status)
		}
		if g.load(a) != 0 {
			t.Fatalf("agent load %d after the close, want 0", g.load(a))
		}
		// Another one on the closed interaction is stored, and does not reopen it.
		got = g.in("cust", "m3", q, closing)
		if got.Status != router.StatusClosed || got.LastSeq != 3 {
			t.Fatalf("second quick reply: %s seq %d, want closed with 3 messages", got.Status, got.LastSeq)
		}
		// A plain message reopens it.
		if got = g.in("cust", "m4", q, nil); got.Status == router.StatusClosed {
			t.Fatal("a plain message left it closed")
		}
	})
}

func TestQueueMayRequireADisposition(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := t.Context()
		g := newRig(t, db)
		a := g.agent("ann", nil)
		q := g.digitalQueue("strict", directory.QueueInput{RequireDisposition: ptr(true)}, a)
		g.start(a)
		it := g.in("cust", "m1", q, nil)
		if _, err := g.r.Accept(ctx, a, it.ID); err != nil {
			t.Fatal(err)
		}
		me := router.Actor{AgentID: a}
		if _, err := g.r.Close(ctx, me, it.ID, ""); !errors.Is(err, router.ErrDispositionRequired) {
			t.Fatalf("close without a disposition: %v, want ErrDispositionRequired", err)
		}
		if _, err := g.r.CreateDisposition(ctx, router.DispositionInput{Name: ptr("solved")}); err != nil {
			t.Fatal(err)
		}
		got, err := g.r.Close(ctx, me, it.ID, "solved")
		if err != nil || got.Status != router.StatusClosed || got.Disposition != "solved" {
			t.Fatalf("close with a disposition: %+v, %v", got, err)
		}
	})
}

func TestIdleCloseAndWindowWarnings(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := t.Context()
		g := newRig(t, db)
		a := g.agent("ann", nil)
		idle := g.digitalQueue("idle", directory.QueueInput{IdleClose: ptr(600)}, a)
		keep := g.digitalQueue("keep", directory.QueueInput{}, a)
		g.start(a)
		quiet := g.in("quiet", "q1", idle, nil)
		other := g.in("other", "o1", keep, func(in *router.Inbound) { in.WindowExpiresAt = day0.Add(24 * time.Hour) })
		for _, id := range []int64{quiet.ID, other.ID} {
			if _, err := g.r.Accept(ctx, a, id); err != nil {
				t.Fatal(err)
			}
		}
		g.clock.Advance(5 * time.Minute)
		if n, err := g.r.CloseIdle(ctx); err != nil || n != 0 {
			t.Fatalf("after 5 minutes: closed %d, %v", n, err)
		}
		g.clock.Advance(6 * time.Minute)
		if n, err := g.r.CloseIdle(ctx); err != nil || n != 1 {
			t.Fatalf("after 11 minutes: closed %d, %v; want the idle queue's one", n, err)
		}
		if it, _ := g.r.Get(ctx, router.Actor{Staff: true}, quiet.ID); it.Status != router.StatusClosed {
			t.Fatalf("idle interaction is %s", it.Status)
		}
		if it, _ := g.r.Get(ctx, router.Actor{Staff: true}, other.ID); it.Status != router.StatusAccepted {
			t.Fatalf("a queue without idle_close closed one: %s", it.Status)
		}

		// The window warning: once per window, an hour ahead.
		if n, _ := g.r.WarnWindows(ctx, time.Hour); n != 0 {
			t.Fatalf("warned %d a day ahead", n)
		}
		g.clock.Advance(23 * time.Hour)
		g.rec.take("window_warning", a)
		if n, err := g.r.WarnWindows(ctx, time.Hour); err != nil || n != 1 {
			t.Fatalf("warned %d, %v; want 1", n, err)
		}
		if n, _ := g.r.WarnWindows(ctx, time.Hour); n != 0 {
			t.Fatalf("warned again: %d", n)
		}
		if ev := g.rec.take("window_warning", a); len(ev) != 1 {
			t.Fatalf("%d window_warning events, want 1", len(ev))
		}
		ms, _ := g.r.Messages(ctx, router.Actor{AgentID: a}, other.ID, 0)
		if last := ms[len(ms)-1]; last.Direction != router.DirectionSystem {
			t.Fatalf("no stored system warning: %+v", last)
		}
		// The customer writes: a new window, warned about in its turn.
		g.in("other", "o2", keep, func(in *router.Inbound) { in.WindowExpiresAt = g.clock.Now().Add(24 * time.Hour) })
		g.clock.Advance(23*time.Hour + 30*time.Minute)
		if n, _ := g.r.WarnWindows(ctx, time.Hour); n != 1 {
			t.Fatalf("new window: warned %d, want 1", n)
		}
	})
}

// The agent's digital work of the day shows in its state's counters, next
// to voice: offers, rejects, time-outs, accepts, closes and handle time.
func TestDigitalCountersInAgentState(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := t.Context()
		g := newRig(t, db)
		a := g.agent("ann", nil)
		q := g.queue("web", "roundrobin", a)
		g.start(a)
		it := g.in("cust", "m1", q, nil) // offered (1)
		if err := g.r.Reject(ctx, a, it.ID); err != nil {
			t.Fatal(err)
		} // rejected; the next round comes after the offer timeout
		for range 3 {
			g.clock.Advance(21 * time.Second)
			if err := g.r.ExpireDue(ctx); err != nil {
				t.Fatal(err)
			}
		} // offered again (2), timed out, offered again (3)
		if _, err := g.r.Accept(ctx, a, it.ID); err != nil {
			t.Fatal(err)
		}
		g.clock.Advance(90 * time.Second)
		if _, err := g.r.Close(ctx, router.Actor{AgentID: a}, it.ID, ""); err != nil {
			t.Fatal(err)
		}
		st, err := g.pres.State(ctx, a)
		if err != nil {
			t.Fatal(err)
		}
		want := presence.DigitalCounters{Offered: 3, Accepted: 1, Rejected: 1, TimedOut: 1, Closed: 1, HandleSeconds: 90}
		if got := st.Counters.Digital["chat"]; got != want {
			t.Fatalf("chat counters %+v, want %+v", got, want)
		}
		// They are kept with the day's counters: a restart goes on from them.
		runCtx, stop := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- g.pres.Run(runCtx) }()
		stop() // Run writes what it holds as it ends
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		again := presence.New(presence.Options{DB: db, Directory: g.dir, Controller: nopController{}, Clock: g.clock,
			Location: time.UTC, FlushDelay: -1, EventWait: -1})
		if err := again.Load(ctx); err != nil {
			t.Fatal(err)
		}
		if st, err := again.State(ctx, a); err != nil || st.Counters.Digital["chat"] != want {
			t.Fatalf("after a restart: %+v, %v", st.Counters.Digital, err)
		}
	})
}

// fakeBot answers from a script keyed by the customer's message.
type fakeBot struct {
	mu    sync.Mutex
	turns []router.BotTurn
}

func (b *fakeBot) Ask(_ context.Context, _ int64, turn router.BotTurn) (router.BotAnswer, error) {
	b.mu.Lock()
	b.turns = append(b.turns, turn)
	b.mu.Unlock()
	switch turn.Message.Body {
	case "hi m1":
		return router.BotAnswer{Replies: []string{"Hello! I am the assistant."}}, nil
	case "hi m2":
		return router.BotAnswer{Replies: []string{"Let me find a person."}, Handoff: true, Reason: "asked for an agent"}, nil
	}
	return router.BotAnswer{}, errors.New("the bot is down")
}

// runBots runs the router's assistant calls until the test ends.
func (g *rig) runBots() {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	r := g.r
	go func() {
		defer close(done)
		_ = r.RunBots(ctx)
	}()
	g.t.Cleanup(func() {
		cancel()
		<-done
	})
}

// answered is the interaction once the assistant has answered every
// customer message handed to it (Receive only queues them for it).
func (g *rig) answered(it *router.Interaction) *router.Interaction {
	g.t.Helper()
	<-g.r.BotsIdle()
	cur, err := g.r.Get(g.t.Context(), router.Actor{Staff: true}, it.ID)
	if err != nil {
		g.t.Fatal(err)
	}
	return cur
}

// A queue with an AI assistant: new conversations go to the bot first
// (queued, not offered), its replies reach the customer, and its handoff
// puts the conversation in the agents' line with the transcript; a failing
// bot hands over too.
func TestBotFirstThenAgents(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := t.Context()
		g := newRig(t, db)
		bot := &fakeBot{}
		g.r.SetBot(bot)
		g.runBots()
		out := &sender{}
		g.r.SetSender("chat", out)
		helper := &directory.AIAssistant{Base: directory.Base{Name: "helper"}, WebhookURL: "https://bot.example.com/hook"}
		if err := g.dir.AIAssistants().Create(ctx, helper); err != nil {
			t.Fatal(err)
		}
		a := g.agent("ann", nil)
		q := g.digitalQueue("botq", directory.QueueInput{AIAssistantID: &helper.ID}, a)
		g.start(a)

		it := g.answered(g.in("cust", "m1", q, nil))
		if !it.Bot || it.Status != router.StatusQueued || len(g.rec.take("offer", a)) != 0 {
			t.Fatalf("first message: %+v; want the bot's, queued, no offer", it)
		}
		if sent := out.all(); len(sent) != 1 || sent[0].Body != "Hello! I am the assistant." {
			t.Fatalf("the customer got %+v", sent)
		}
		// Agents can see it while the bot holds it.
		if _, err := g.r.Get(ctx, router.Actor{AgentID: a}, it.ID); err != nil {
			t.Fatalf("the queue's agent cannot see the bot conversation: %v", err)
		}
		// A restart keeps it with the bot.
		g.r = g.newRouter()
		g.r.SetBot(bot)
		g.runBots()
		g.r.SetSender("chat", out)
		if err := g.r.Load(ctx); err != nil {
			t.Fatal(err)
		}
		if d, _ := g.r.Dashboard(ctx, a); d.Queues[0].Waiting != 0 {
			t.Fatalf("after a restart the bot conversation waits for agents: %+v", d)
		}
		it = g.answered(g.in("cust", "m2", q, nil))
		if it.Bot || it.Status != router.StatusOffered {
			t.Fatalf("after the handoff: bot=%v status=%s, want offered to the agent", it.Bot, it.Status)
		}
		ms, _ := g.r.Messages(ctx, router.Actor{Staff: true}, it.ID, 0)
		var dirs []string
		for _, m := range ms {
			dirs = append(dirs, m.Direction)
		}
		if fmt.Sprint(dirs) != "[in out in out system]" {
			t.Fatalf("transcript directions %v", dirs)
		}
		// Once with agents, later messages do not go to the bot.
		g.answered(g.in("cust", "m3", q, nil))
		if len(bot.turns) != 2 {
			t.Fatalf("the bot got %d turns, want 2", len(bot.turns))
		}

		// A failing bot hands over at once.
		other := g.answered(g.in("cust2", "x1", q, nil))
		if other.Bot {
			t.Fatalf("a failing bot kept the conversation: %+v", other)
		}
		ms, _ = g.r.Messages(ctx, router.Actor{Staff: true}, other.ID, 0)
		if last := ms[len(ms)-1]; last.Direction != router.DirectionSystem || !strings.Contains(last.Body, "did not answer") {
			t.Fatalf("no handoff note: %+v", last)
		}
	})
}

// slowBot holds customer A's first turn until released and answers the
// others at once, logging what it does in order.
type slowBot struct {
	mu      sync.Mutex
	log     []string
	heldA   chan struct{} // closed when A's first turn reached the bot
	release chan struct{}
	askedB  chan struct{}
}

func (b *slowBot) note(s string) {
	b.mu.Lock()
	b.log = append(b.log, s)
	b.mu.Unlock()
}

func (b *slowBot) Ask(ctx context.Context, _ int64, turn router.BotTurn) (router.BotAnswer, error) {
	body := turn.Message.Body
	b.note("ask " + body)
	switch body {
	case "hi a1":
		close(b.heldA)
		select {
		case <-b.release:
		case <-ctx.Done():
			return router.BotAnswer{}, ctx.Err()
		}
	case "hi b1":
		// Answered before the test lets A's turn go.
		b.note("done " + body)
		close(b.askedB)
		return router.BotAnswer{Replies: []string{"re: " + body}}, nil
	}
	b.note("done " + body)
	return router.BotAnswer{Replies: []string{"re: " + body}}, nil
}

// A slow assistant on one conversation holds neither the channel's worker
// nor the other conversations: while it thinks about A's message, B's
// message on the same channel is received and answered, and A's second
// message waits its turn behind A's first.
func TestSlowBotDoesNotHoldOtherConversations(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := t.Context()
		g := newRig(t, db)
		bot := &slowBot{heldA: make(chan struct{}), release: make(chan struct{}), askedB: make(chan struct{})}
		g.r.SetBot(bot)
		g.runBots()
		out := &sender{}
		g.r.SetSender("chat", out)
		helper := &directory.AIAssistant{Base: directory.Base{Name: "slow"}, WebhookURL: "https://bot.example.com/hook"}
		if err := g.dir.AIAssistants().Create(ctx, helper); err != nil {
			t.Fatal(err)
		}
		a := g.agent("ann", nil)
		q := g.digitalQueue("botq", directory.QueueInput{AIAssistantID: &helper.ID}, a)
		g.start(a)

		// The channel's worker hands the messages over one after the
		// other, as a connector does.
		worker := make(chan struct{})
		go func() {
			defer close(worker)
			g.in("custA", "a1", q, nil)
			<-bot.heldA
			g.in("custA", "a2", q, nil)
			g.in("custB", "b1", q, nil)
		}()
		<-bot.askedB // B was answered while A's first turn is held
		<-worker     // and every Receive returned
		close(bot.release)
		<-g.r.BotsIdle()

		bot.mu.Lock()
		log := strings.Join(bot.log, ", ")
		bot.mu.Unlock()
		if !strings.Contains(log, "done hi b1") || strings.Index(log, "done hi b1") > strings.Index(log, "done hi a1") {
			t.Fatalf("B was answered after A's slow turn: %s", log)
		}
		if strings.Index(log, "ask hi a2") < strings.Index(log, "done hi a1") {
			t.Fatalf("A's second message reached the bot before its first was answered: %s", log)
		}
		sent := map[string][]string{}
		for _, m := range out.all() {
			sent[m.Customer] = append(sent[m.Customer], m.Body)
		}
		if fmt.Sprint(sent) != "map[custA:[re: hi a1 re: hi a2] custB:[re: hi b1]]" {
			t.Fatalf("replies sent: %v", sent)
		}
	})
}

// When RunBots stops (omniccd shutting down), the call in flight is
// cancelled and its conversation, with the turn waiting behind it, goes to
// agents; a conversation that reaches the bot after the stop goes to them
// at once. Nothing a customer wrote is left with a bot nobody runs.
func TestBotStopHandsConversationsToAgents(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := t.Context()
		g := newRig(t, db)
		bot := &slowBot{heldA: make(chan struct{}), release: make(chan struct{}), askedB: make(chan struct{})}
		g.r.SetBot(bot)
		g.r.SetSender("chat", &sender{})
		runCtx, stop := context.WithCancel(context.Background())
		stopped := make(chan struct{})
		go func() {
			defer close(stopped)
			_ = g.r.RunBots(runCtx)
		}()
		defer func() {
			stop()
			<-stopped
		}()
		helper := &directory.AIAssistant{Base: directory.Base{Name: "slow"}, WebhookURL: "https://bot.example.com/hook"}
		if err := g.dir.AIAssistants().Create(ctx, helper); err != nil {
			t.Fatal(err)
		}
		a := g.agent("ann", nil)
		q := g.digitalQueue("botq", directory.QueueInput{AIAssistantID: &helper.ID}, a)
		g.start(a)

		first := g.in("custA", "a1", q, nil)
		<-bot.heldA
		g.in("custA", "a2", q, nil) // waits behind a1
		stop()
		<-stopped // RunBots waited for its goroutines

		staff := router.Actor{Staff: true}
		it, err := g.r.Get(ctx, staff, first.ID)
		if err != nil {
			t.Fatal(err)
		}
		if it.Bot {
			t.Fatalf("after the stop the bot still holds it: %+v", it)
		}
		ms, _ := g.r.Messages(ctx, staff, it.ID, 0)
		var got []string
		for _, m := range ms {
			got = append(got, m.Direction+":"+m.Body)
		}
		if want := "[in:hi a1 in:hi a2 system:Handed to agents: the assistant did not answer]"; fmt.Sprint(got) != want {
			t.Fatalf("transcript %v, want %s", got, want)
		}
		if offers := g.rec.take("offer", a); len(offers) != 1 {
			t.Fatalf("the agent got %d offers, want the handed-over conversation's", len(offers))
		}

		late := g.in("custC", "c1", q, nil)
		if late.Bot {
			t.Fatalf("a conversation arriving after the stop was left with the bot: %+v", late)
		}
	})
}
