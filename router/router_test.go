package router_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"omnicc/directory"
	"omnicc/presence"
	"omnicc/router"
	"omnicc/store"
	"omnicc/storetest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var day0 = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

// fakeClock only moves when a test says so; After never fires, so offers
// expire when the test calls ExpireDue.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}
func (c *fakeClock) After(time.Duration) <-chan time.Time { return nil }
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// nopController: digital queues never reach Asterisk.
type nopController struct{}

func (nopController) QueueAdd(context.Context, presence.Member) error                { return nil }
func (nopController) QueueRemove(context.Context, string, string) error              { return nil }
func (nopController) QueuePause(context.Context, string, string, bool, string) error { return nil }
func (nopController) QueuePenalty(context.Context, string, string, int) error        { return nil }

// recorder keeps every event the router and presence publish.
type recorder struct {
	mu     sync.Mutex
	events []presence.Event
}

func (r *recorder) Publish(e presence.Event) {
	r.mu.Lock()
	r.events = append(r.events, e)
	r.mu.Unlock()
}

// take returns and forgets the events of type typ for agent.
func (r *recorder) take(typ string, agent int64) []presence.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out, keep []presence.Event
	for _, e := range r.events {
		if e.Type == typ && e.AgentID == agent {
			out = append(out, e)
		} else {
			keep = append(keep, e)
		}
	}
	r.events = keep
	return out
}

type rig struct {
	t     *testing.T
	db    *store.DB
	clock *fakeClock
	dir   *directory.Directory
	pres  *presence.Service
	rec   *recorder
	r     *router.Router
}

func newRig(t *testing.T, db *store.DB) *rig {
	t.Helper()
	g := &rig{t: t, db: db, clock: &fakeClock{now: day0}, rec: &recorder{}}
	g.dir = directory.New(db, directory.Options{BcryptCost: 4, Now: g.clock.Now})
	// presence's events reach the router as main wires them: a fan-out.
	fan := presence.PublisherFunc(func(e presence.Event) {
		g.rec.Publish(e)
		if g.r != nil {
			g.r.Observe(e)
		}
	})
	g.pres = presence.New(presence.Options{DB: db, Directory: g.dir, Publisher: fan, Controller: nopController{},
		Clock: g.clock, Location: time.UTC, FlushDelay: -1, EventWait: -1})
	g.r = g.newRouter()
	return g
}

func (g *rig) newRouter() *router.Router {
	return router.New(router.Options{DB: g.db, Presence: g.pres, Directory: g.dir, Publisher: g.rec, Clock: g.clock})
}

func ptr[T any](v T) *T { return &v }

func (g *rig) agent(name string, channels map[string]directory.ChannelInput) int64 {
	g.t.Helper()
	a, err := g.dir.CreateAgent(g.t.Context(), directory.AgentInput{FullName: ptr("Agent " + name), Username: ptr(name),
		Typology: ptr(directory.TypologyWebRTC), Password: ptr("Str0ng-Pass"), Channels: channels})
	if err != nil {
		g.t.Fatal(err)
	}
	return a.ID
}

func (g *rig) queue(name, strategy string, members ...int64) int64 {
	g.t.Helper()
	q, err := g.dir.CreateQueue(g.t.Context(), directory.QueueInput{Name: ptr(name), Channel: ptr("chat"),
		Strategy: ptr(strategy), OfferTimeout: ptr(20)})
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

// start loads presence and the router, then logs the agents in.
func (g *rig) start(agents ...int64) {
	g.t.Helper()
	ctx := g.t.Context()
	if err := g.pres.Load(ctx); err != nil {
		g.t.Fatal(err)
	}
	if err := g.r.Load(ctx); err != nil {
		g.t.Fatal(err)
	}
	for _, a := range agents {
		g.login(a)
	}
}

func (g *rig) login(a int64) {
	g.t.Helper()
	if _, err := g.pres.Login(g.t.Context(), a, "api"); err != nil {
		g.t.Fatal(err)
	}
	g.settle()
}

func (g *rig) settle() {
	g.t.Helper()
	if err := g.r.ProcessPending(g.t.Context()); err != nil {
		g.t.Fatal(err)
	}
}

func (g *rig) receive(customer, ext, body string, queue int64) *router.Interaction {
	g.t.Helper()
	it, _, _, err := g.r.Receive(g.t.Context(), router.Inbound{Channel: "chat", Account: "site1", Customer: customer,
		QueueID: queue, Body: body, ExternalID: ext})
	if err != nil {
		g.t.Fatal(err)
	}
	return it
}

func (g *rig) load(agent int64) int {
	l, _ := g.pres.LoadOn(agent, "chat")
	return l.Open
}

func TestBeepallExactlyOneAcceptWins(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		g := newRig(t, db)
		var agents []int64
		for i := range 8 {
			agents = append(agents, g.agent(fmt.Sprintf("a%d", i), nil))
		}
		q := g.queue("web", "beepall", agents...)
		g.start(agents...)
		it := g.receive("visitor-1", "m1", "hello", q)
		if it.Status != router.StatusOffered {
			t.Fatalf("status = %s, want offered to every logged-in agent", it.Status)
		}
		for _, a := range agents {
			if n := len(g.rec.take("offer", a)); n != 1 {
				t.Fatalf("agent %d got %d offers, want 1", a, n)
			}
			if g.load(a) != 1 {
				t.Fatalf("agent %d: the offer does not reserve capacity (load %d)", a, g.load(a))
			}
		}
		var wg sync.WaitGroup
		var mu sync.Mutex
		var winners []int64
		taken := 0
		for _, a := range agents {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := g.r.Accept(t.Context(), a, it.ID)
				mu.Lock()
				defer mu.Unlock()
				var gone *router.OfferGoneError
				switch {
				case err == nil:
					winners = append(winners, a)
				case errors.As(err, &gone) && gone.Reason == router.ReasonTaken:
					taken++
				default:
					t.Errorf("agent %d: %v", a, err)
				}
			}()
		}
		wg.Wait()
		if len(winners) != 1 || taken != len(agents)-1 {
			t.Fatalf("winners %v, taken %d: want exactly one winner", winners, taken)
		}
		w := winners[0]
		got, err := g.r.Get(t.Context(), router.Actor{AgentID: w}, it.ID)
		if err != nil || got.Status != router.StatusAccepted || *got.AgentID != w {
			t.Fatalf("after accept: %+v, %v", got, err)
		}
		for _, a := range agents {
			if a == w {
				if g.load(a) != 1 {
					t.Fatalf("winner load = %d, want 1", g.load(a))
				}
				continue
			}
			ev := g.rec.take("offer_withdrawn", a)
			if len(ev) != 1 || ev[0].Payload.(router.OfferWithdrawnEvent).Reason != router.ReasonTaken {
				t.Fatalf("agent %d withdrawn events %+v, want one 'taken'", a, ev)
			}
			if g.load(a) != 0 {
				t.Fatalf("agent %d still holds a reservation: load %d", a, g.load(a))
			}
		}
		// Accepting again what one holds is fine; another agent's view is 403.
		if _, err := g.r.Accept(t.Context(), w, it.ID); err != nil {
			t.Fatalf("a retried accept: %v", err)
		}
		other := agents[0]
		if other == w {
			other = agents[1]
		}
		if _, err := g.r.Get(t.Context(), router.Actor{AgentID: other}, it.ID); !errors.Is(err, router.ErrForbidden) {
			t.Fatalf("another agent reads it: %v, want ErrForbidden", err)
		}
	})
}

func TestRetriedDeliveryAndReplyStoreOne(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		g := newRig(t, db)
		a := g.agent("alice", nil)
		q := g.queue("web", "roundrobin", a)
		g.start(a)
		it := g.receive("v1", "ext-1", "hi", q)
		again := g.receive("v1", "ext-1", "hi", q)
		if again.ID != it.ID {
			t.Fatalf("a retried delivery opened interaction %d beside %d", again.ID, it.ID)
		}
		if _, err := g.r.Accept(t.Context(), a, it.ID); err != nil {
			t.Fatal(err)
		}
		g.receive("v1", "ext-2", "are you there?", q)
		me := router.Actor{AgentID: a}
		sent := &recordingSender{}
		g.r.SetSender("chat", sent)
		m1, fresh, err := g.r.Reply(t.Context(), me, it.ID, "yes", "c-1")
		if err != nil || !fresh {
			t.Fatal(err, fresh)
		}
		m2, fresh, err := g.r.Reply(t.Context(), me, it.ID, "yes", "c-1")
		if err != nil || fresh || m2.ID != m1.ID {
			t.Fatalf("retried reply: %+v fresh=%v err=%v", m2, fresh, err)
		}
		msgs, err := g.r.Messages(t.Context(), me, it.ID, 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(msgs) != 3 {
			t.Fatalf("%d messages, want 3", len(msgs))
		}
		for i, m := range msgs {
			if m.Seq != int64(i+1) {
				t.Fatalf("message %d has seq %d", i, m.Seq)
			}
		}
		if msgs[2].Direction != router.DirectionOut || msgs[2].Status != router.MessageSent || len(sent.got()) != 1 {
			t.Fatalf("reply %+v, sender saw %d", msgs[2], len(sent.got()))
		}
		if after, _ := g.r.Messages(t.Context(), me, it.ID, 2); len(after) != 1 || after[0].Seq != 3 {
			t.Fatalf("after_seq=2 answered %+v", after)
		}
		// A failing sender keeps the message, failed, and Retry sends it.
		sent.fail(errors.New("gateway down"))
		m3, _, err := g.r.Reply(t.Context(), me, it.ID, "still there", "c-2")
		if err != nil {
			t.Fatal(err)
		}
		if m3.Status != router.MessageFailed || m3.Error == "" {
			t.Fatalf("failed send: %+v", m3)
		}
		sent.fail(nil)
		if err := g.r.Retry(t.Context(), me, it.ID); err != nil {
			t.Fatal(err)
		}
		if last, _ := g.r.Messages(t.Context(), me, it.ID, 3); len(last) != 1 || last[0].Status != router.MessageSent {
			t.Fatalf("after retry: %+v", last)
		}
		// Closed: replies are refused; the customer writing again reopens it
		// into the queue and it is offered again.
		if _, err := g.r.Close(t.Context(), me, it.ID, ""); err != nil {
			t.Fatal(err)
		}
		if g.load(a) != 0 {
			t.Fatalf("load after close = %d", g.load(a))
		}
		if _, _, err := g.r.Reply(t.Context(), me, it.ID, "late", "c-3"); !errors.Is(err, router.ErrClosed) {
			t.Fatalf("reply to closed: %v", err)
		}
		re := g.receive("v1", "ext-3", "me again", q)
		if re.ID != it.ID || re.Status != router.StatusOffered {
			t.Fatalf("reopened: %+v", re)
		}
	})
}

type recordingSender struct {
	mu   sync.Mutex
	err  error
	sent []router.Outbound
}

func (s *recordingSender) Send(_ context.Context, m router.Outbound) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return s.err
	}
	s.sent = append(s.sent, m)
	return nil
}
func (s *recordingSender) fail(err error) { s.mu.Lock(); s.err = err; s.mu.Unlock() }
func (s *recordingSender) got() []router.Outbound {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]router.Outbound(nil), s.sent...)
}

func TestOneAtATimeTimeoutRejectAndCapacity(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		g := newRig(t, db)
		one := map[string]directory.ChannelInput{"chat": {Capacity: ptr(1)}}
		a, b := g.agent("alice", one), g.agent("bob", one)
		q1 := g.queue("web", "roundrobin", a, b)
		q2 := g.queue("shop", "leastrecent", a, b)
		g.start(a, b)
		ctx := t.Context()

		i1 := g.receive("v1", "", "1", q1)
		first := *offeredTo(t, g, i1.ID, a, b)
		second := a + b - first
		// Timeout: the offer goes to the other agent.
		g.clock.Advance(20 * time.Second)
		if err := g.r.ExpireDue(ctx); err != nil {
			t.Fatal(err)
		}
		if ev := g.rec.take("offer_withdrawn", first); len(ev) != 1 || ev[0].Payload.(router.OfferWithdrawnEvent).Reason != router.ReasonTimeout {
			t.Fatalf("withdrawn to %d: %+v", first, ev)
		}
		if got := *offeredTo(t, g, i1.ID, a, b); got != second {
			t.Fatalf("after timeout offered to %d, want %d", got, second)
		}
		if _, err := g.r.Accept(ctx, first, i1.ID); !errors.As(err, new(*router.OfferGoneError)) {
			t.Fatalf("accepting a timed out offer: %v", err)
		}
		// Reject with everyone passed: a new round (back to the first) once
		// the queue's offer timeout has gone by, not at once.
		if err := g.r.Reject(ctx, second, i1.ID); err != nil {
			t.Fatal(err)
		}
		if n := len(g.rec.take("offer", first)); n != 0 {
			t.Fatalf("re-offered to %d at once after everyone passed", first)
		}
		g.clock.Advance(20 * time.Second)
		if err := g.r.ExpireDue(ctx); err != nil {
			t.Fatal(err)
		}
		if got := *offeredTo(t, g, i1.ID, a, b); got != first {
			t.Fatalf("after reject offered to %d, want %d", got, first)
		}
		if _, err := g.r.Accept(ctx, first, i1.ID); err != nil {
			t.Fatal(err)
		}
		// Capacity 1 each, across two queues: three waiting, only one more
		// can be offered (to the other agent), never a second to anyone.
		i2 := g.receive("v2", "", "2", q2)
		i3 := g.receive("v3", "", "3", q1)
		i4 := g.receive("v4", "", "4", q2)
		if g.load(a) > 1 || g.load(b) > 1 {
			t.Fatalf("capacity exceeded: loads %d, %d", g.load(a), g.load(b))
		}
		if got := *offeredTo(t, g, i2.ID, a, b); got != second {
			t.Fatalf("i2 offered to %d", got)
		}
		for _, id := range []int64{i3.ID, i4.ID} {
			if it, _ := g.r.Get(ctx, router.Actor{Staff: true}, id); it.Status != router.StatusQueued {
				t.Fatalf("interaction %d is %s with everyone full", id, it.Status)
			}
		}
		// Closing frees capacity: the oldest waiting (i3) is offered at once.
		if _, err := g.r.Close(ctx, router.Actor{AgentID: first}, i1.ID, ""); err != nil {
			t.Fatal(err)
		}
		if got := *offeredTo(t, g, i3.ID, a, b); got != first {
			t.Fatalf("i3 offered to %d, want %d", got, first)
		}
	})
}

// offeredTo finds which of the agents holds an offer of the interaction,
// from the events.
func offeredTo(t *testing.T, g *rig, id int64, agents ...int64) *int64 {
	t.Helper()
	var got *int64
	for _, a := range agents {
		for _, e := range g.rec.take("offer", a) {
			if e.Payload.(router.OfferEvent).Interaction.ID == id {
				if got != nil {
					t.Fatalf("interaction %d offered to %d and %d at once", id, *got, a)
				}
				got = ptr(a)
			}
		}
	}
	if got == nil {
		t.Fatalf("interaction %d was offered to none of %v", id, agents)
	}
	return got
}

func TestRestartRebuildsLinesAndOffers(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		g := newRig(t, db)
		one := map[string]directory.ChannelInput{"chat": {Capacity: ptr(1)}}
		a := g.agent("alice", one)
		q := g.queue("web", "roundrobin", a)
		g.start(a)
		ctx := t.Context()
		i1 := g.receive("v1", "", "1", q) // offered to alice
		i2 := g.receive("v2", "", "2", q) // waits: alice is full
		g.rec.take("offer", a)

		// Restart: a new router (and presence) over the same database.
		g2 := &rig{t: t, db: db, clock: g.clock, dir: g.dir, rec: &recorder{}}
		g2.pres = presence.New(presence.Options{DB: db, Directory: g.dir, Publisher: g2.rec, Controller: nopController{},
			Clock: g.clock, Location: time.UTC, FlushDelay: -1, EventWait: -1})
		g2.r = g2.newRouter()
		if err := g2.pres.Load(ctx); err != nil {
			t.Fatal(err)
		}
		if err := g2.r.Load(ctx); err != nil {
			t.Fatal(err)
		}
		if g2.load(a) != 1 {
			t.Fatalf("the standing offer's reservation is lost: load %d", g2.load(a))
		}
		if _, err := g2.r.Accept(ctx, a, i1.ID); err != nil {
			t.Fatalf("accepting the offer made before the restart: %v", err)
		}
		// The offer of i2 has not happened; an expired one is re-offered:
		// close i1, restart past i2's deadline.
		if _, err := g2.r.Close(ctx, router.Actor{AgentID: a}, i1.ID, ""); err != nil {
			t.Fatal(err)
		}
		if offeredTo(t, g2, i2.ID, a) == nil {
			t.Fatal("unreachable")
		}
		g.clock.Advance(time.Minute)
		g3 := &rig{t: t, db: db, clock: g.clock, dir: g.dir, rec: &recorder{}, pres: g2.pres}
		g3.r = g3.newRouter()
		if err := g3.r.Load(ctx); err != nil {
			t.Fatal(err)
		}
		if offeredTo(t, g3, i2.ID, a) == nil {
			t.Fatal("unreachable")
		}
		if _, err := g3.r.Accept(ctx, a, i2.ID); err != nil {
			t.Fatalf("accepting the re-offer: %v", err)
		}
	})
}

func TestAutoAnswer(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		g := newRig(t, db)
		a := g.agent("alice", map[string]directory.ChannelInput{"chat": {AutoAnswer: ptr(true), AutoAnswerDelay: ptr(3)}})
		q := g.queue("web", "roundrobin", a)
		g.start(a)
		it := g.receive("v1", "", "hi", q)
		if it.Status != router.StatusOffered {
			t.Fatalf("status %s", it.Status)
		}
		g.clock.Advance(3 * time.Second)
		if err := g.r.ExpireDue(t.Context()); err != nil {
			t.Fatal(err)
		}
		got, _ := g.r.Get(t.Context(), router.Actor{AgentID: a}, it.ID)
		if got.Status != router.StatusAccepted || *got.AgentID != a {
			t.Fatalf("auto-answer did not accept: %+v", got)
		}
	})
}

func TestTransfer(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		g := newRig(t, db)
		a, b, c := g.agent("alice", nil), g.agent("bob", nil), g.agent("carol", nil)
		q := g.queue("web", "roundrobin", a)
		q2 := g.queue("sales", "beepall", b)
		g.start(a, b)
		ctx := t.Context()
		it := g.receive("v1", "", "hi", q)
		if _, err := g.r.Accept(ctx, a, it.ID); err != nil {
			t.Fatal(err)
		}
		owner := router.Actor{AgentID: a}
		var fe *router.FieldError
		if _, err := g.r.Transfer(ctx, owner, it.ID, c, 0); !errors.As(err, &fe) || fe.Field != "agent_id" {
			t.Fatalf("transfer to logged-out carol: %v", err)
		}
		if _, err := g.r.Transfer(ctx, router.Actor{AgentID: b}, it.ID, c, 0); !errors.Is(err, router.ErrForbidden) {
			t.Fatalf("bob transfers alice's interaction: %v", err)
		}
		// Timeout: it stays with alice, unread.
		if _, err := g.r.Transfer(ctx, owner, it.ID, b, 0); err != nil {
			t.Fatal(err)
		}
		if _, err := g.r.Transfer(ctx, owner, it.ID, b, 0); !errors.Is(err, router.ErrTransferPending) {
			t.Fatalf("second transfer: %v", err)
		}
		if ev := g.rec.take("offer", b); len(ev) != 1 || !ev[0].Payload.(router.OfferEvent).Transfer {
			t.Fatalf("bob's transfer offer: %+v", ev)
		}
		if g.load(b) != 1 {
			t.Fatalf("the transfer offer reserves no capacity: %d", g.load(b))
		}
		g.clock.Advance(300 * time.Second)
		if err := g.r.ExpireDue(ctx); err != nil {
			t.Fatal(err)
		}
		got, _ := g.r.Get(ctx, owner, it.ID)
		if *got.AgentID != a || got.Unread != 1 || g.load(b) != 0 {
			t.Fatalf("after the transfer timed out: %+v, bob load %d", got, g.load(b))
		}
		if _, err := g.r.Accept(ctx, b, it.ID); !errors.As(err, new(*router.OfferGoneError)) {
			t.Fatalf("accepting a timed out transfer: %v", err)
		}
		// To a queue, accepted: bob owns it in the new queue.
		if _, err := g.r.Transfer(ctx, owner, it.ID, 0, q2); err != nil {
			t.Fatal(err)
		}
		if _, err := g.r.Get(ctx, router.Actor{AgentID: b}, it.ID); err != nil {
			t.Fatalf("the target cannot read what it is offered: %v", err)
		}
		got, err := g.r.Accept(ctx, b, it.ID)
		if err != nil {
			t.Fatal(err)
		}
		if *got.AgentID != b || got.QueueID != q2 || g.load(a) != 0 || g.load(b) != 1 {
			t.Fatalf("after the transfer: %+v, loads %d %d", got, g.load(a), g.load(b))
		}
	})
}

// Two routers over one database (two instances, or an old and a new one
// across a restart) each take half of the accepts of one beepall offer: the
// database, not the routers' mutexes, must pick the one winner.
func TestAcceptRaceAcrossRouters(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		g := newRig(t, db)
		var agents []int64
		for i := range 10 {
			agents = append(agents, g.agent(fmt.Sprintf("a%d", i), nil))
		}
		q := g.queue("web", "beepall", agents...)
		g.start(agents...)
		for round := range 3 {
			it := g.receive(fmt.Sprintf("visitor-%d", round), "", "hello", q)
			second := router.New(router.Options{DB: db, Directory: g.dir, Clock: g.clock})
			if err := second.Load(t.Context()); err != nil {
				t.Fatal(err)
			}
			var wg sync.WaitGroup
			var won, lost sync.Map
			for i, a := range agents {
				rt := g.r
				if i%2 == 1 {
					rt = second
				}
				wg.Add(1)
				go func() {
					defer wg.Done()
					_, err := rt.Accept(t.Context(), a, it.ID)
					var gone *router.OfferGoneError
					switch {
					case err == nil:
						won.Store(a, true)
					case errors.As(err, &gone):
						lost.Store(a, gone.Reason)
					default:
						t.Errorf("agent %d: %v", a, err)
					}
				}()
			}
			wg.Wait()
			n := 0
			won.Range(func(any, any) bool { n++; return true })
			if n != 1 {
				t.Fatalf("round %d: %d winners, want exactly 1", round, n)
			}
			var owner int64
			if err := db.GetContext(t.Context(), &owner, `SELECT agent_id FROM interactions WHERE id = ?`, it.ID); err != nil {
				t.Fatal(err)
			}
			if _, ok := won.Load(owner); !ok {
				t.Fatalf("round %d: the database says agent %d owns it, not the winner", round, owner)
			}
			if _, err := g.r.Close(t.Context(), router.Actor{Staff: true}, it.ID, ""); err != nil {
				t.Fatal(err)
			}
		}
	})
}

// Nobody is free when the customer writes; the interaction waits and is
// offered the moment presence says an agent logged in or unpaused on the
// channel — the agent_state event, not a polling job. Pausing chat stops
// new offers but not the messages of what the agent holds.
func TestLoginAndUnpauseOfferWhatWaits(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		g := newRig(t, db)
		a := g.agent("alice", nil)
		q := g.queue("web", "roundrobin", a)
		g.start()
		ctx := t.Context()
		p := &directory.PauseType{Base: directory.Base{Name: "lunch"}}
		if err := g.dir.PauseTypes().Create(ctx, p); err != nil {
			t.Fatal(err)
		}
		i1 := g.receive("v1", "", "anyone?", q)
		if i1.Status != router.StatusQueued {
			t.Fatalf("offered with nobody logged in: %s", i1.Status)
		}
		var dash *router.Dashboard
		if dash, _ = g.r.Dashboard(ctx, a); len(dash.Queues) != 1 || dash.Queues[0].Waiting != 1 {
			t.Fatalf("dashboard %+v", dash)
		}
		g.login(a)
		if offeredTo(t, g, i1.ID, a) == nil {
			t.Fatal("unreachable")
		}
		if _, err := g.r.Accept(ctx, a, i1.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := g.pres.Pause(ctx, a, "lunch", []string{"chat"}); err != nil {
			t.Fatal(err)
		}
		g.settle()
		i2 := g.receive("v2", "", "hello", q)
		g.receive("v1", "", "still there?", q)
		if got := g.rec.take("offer", a); len(got) != 0 {
			t.Fatalf("offered while paused on chat: %+v", got)
		}
		if cur, _ := g.r.Get(ctx, router.Actor{AgentID: a}, i1.ID); cur.Unread != 1 {
			t.Fatalf("the held interaction's message did not arrive: unread %d", cur.Unread)
		}
		if _, err := g.pres.Unpause(ctx, a, []string{"chat"}); err != nil {
			t.Fatal(err)
		}
		g.settle()
		if offeredTo(t, g, i2.ID, a) == nil {
			t.Fatal("unreachable")
		}
	})
}

// Many messages of one new customer at once (an album of photos, a
// gateway delivering in parallel) open one interaction, store every
// message with seq 1..N, and are offered once.
func TestConcurrentFirstMessagesOpenOne(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		g := newRig(t, db)
		a := g.agent("alice", nil)
		q := g.queue("web", "beepall", a)
		g.start(a)
		const n = 12
		var wg sync.WaitGroup
		ids := make([]int64, n)
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				it, _, _, err := g.r.Receive(t.Context(), router.Inbound{Channel: "chat", Account: "site1", Customer: "album",
					QueueID: q, Body: fmt.Sprint("photo ", i), ExternalID: fmt.Sprint("p", i)})
				if err != nil {
					t.Error(err)
					return
				}
				ids[i] = it.ID
			}()
		}
		wg.Wait()
		for _, id := range ids {
			if id != ids[0] {
				t.Fatalf("interactions %v: one customer opened several", ids)
			}
		}
		msgs, err := g.r.Messages(t.Context(), router.Actor{Staff: true}, ids[0], 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(msgs) != n {
			t.Fatalf("%d messages, want %d", len(msgs), n)
		}
		for i, m := range msgs {
			if m.Seq != int64(i+1) {
				t.Fatalf("message %d has seq %d", i, m.Seq)
			}
		}
		if offers := g.rec.take("offer", a); len(offers) != 1 {
			t.Fatalf("%d offers, want 1", len(offers))
		}
	})
}

// An admin's change of a queue's strategy reaches the router without a
// restart (within the configuration TTL).
func TestQueueChangeIsPickedUp(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		g := newRig(t, db)
		a, b := g.agent("alice", nil), g.agent("bob", nil)
		q := g.queue("web", "roundrobin", a, b)
		g.start(a, b)
		g.receive("v1", "", "one", q)
		if n := len(g.rec.take("offer", a)) + len(g.rec.take("offer", b)); n != 1 {
			t.Fatalf("roundrobin made %d offers", n)
		}
		if _, err := g.dir.UpdateQueue(t.Context(), q, directory.QueueInput{Strategy: ptr("beepall")}); err != nil {
			t.Fatal(err)
		}
		g.clock.Advance(31 * time.Second)
		g.receive("v2", "", "two", q)
		if n := len(g.rec.take("offer", a)) + len(g.rec.take("offer", b)); n != 2 {
			t.Fatalf("after the change to beepall, %d offers, want 2", n)
		}
	})
}

// OffersTo lists what stands for an agent now (a desktop reloaded during
// an offer shows it again), and nothing once it was accepted.
func TestOffersToListsWhatStands(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		g := newRig(t, db)
		a, b := g.agent("ann", nil), g.agent("bob", nil)
		q := g.queue("web", "beepall", a, b)
		g.start(a, b)
		it := g.receive("visitor-1", "m1", "hello", q)
		for _, ag := range []int64{a, b} {
			got, err := g.r.OffersTo(t.Context(), ag)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 1 || got[0].Interaction.ID != it.ID || got[0].Transfer || !got[0].ExpiresAt.After(g.clock.Now()) {
				t.Fatalf("offers to agent %d: %+v, want the one of interaction %d", ag, got, it.ID)
			}
		}
		if _, err := g.r.Accept(t.Context(), a, it.ID); err != nil {
			t.Fatal(err)
		}
		for _, ag := range []int64{a, b} {
			if got, err := g.r.OffersTo(t.Context(), ag); err != nil || len(got) != 0 {
				t.Fatalf("offers to agent %d after the accept: %+v, %v", ag, got, err)
			}
		}
	})
}
