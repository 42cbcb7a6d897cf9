package router_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"omnicc/directory"
	"omnicc/events"
	"omnicc/presence"
	"omnicc/router"
	"omnicc/store"
	"omnicc/storetest"
)

// twoInstances are two omniccd "instances" on one MariaDB database (agents
// of chat capacity 1): each its own connections, directory, presence and
// router, one clock. a leads (it made the agents and queue); b follows.
func twoInstances(t *testing.T, strategy string, agents int) (a, b *rig, ids []int64, queue int64) {
	t.Helper()
	dsn := storetest.MariaDBDSN(t)
	open := func() *store.DB {
		db, err := store.Open(context.Background(), store.Options{DSN: dsn})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	}
	dbA := open()
	if _, err := dbA.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	a = newRig(t, dbA)
	for i := range agents {
		ids = append(ids, a.agent(fmt.Sprintf("x%d", i), map[string]directory.ChannelInput{"chat": {Capacity: ptr(1)}}))
	}
	queue = a.queue("web", strategy, ids...)
	a.start(ids...)
	b = newRig(t, open())
	b.clock = a.clock
	b.pres = presence.New(presence.Options{DB: b.db, Directory: b.dir, Publisher: presence.PublisherFunc(func(e presence.Event) {
		b.rec.Publish(e)
		if b.r != nil {
			b.r.Observe(e)
		}
	}), Controller: nopController{}, Clock: a.clock, Location: time.UTC, FlushDelay: -1, EventWait: -1})
	b.dir = directory.New(b.db, directory.Options{BcryptCost: 4, Now: a.clock.Now})
	b.r = b.newRouter()
	b.r.SetLeading(false)
	b.start()
	return a, b, ids, queue
}

// Agents spread over two instances race for one beepall offer: the
// database gives it to exactly one, whichever instance each accept went
// through, and the leader's capacity is exact after its resync.
func TestInstancesOneAcceptWinsAcrossInstances(t *testing.T) {
	a, b, agents, q := twoInstances(t, "beepall", 6)
	it := b.receive("visitor-1", "m1", "hello", q)
	if it.Status != router.StatusQueued {
		t.Fatalf("a follower offered it: status %s, want queued for the leader", it.Status)
	}
	for _, ag := range agents {
		if n := len(b.rec.take("offer", ag)); n != 0 {
			t.Fatalf("the follower offered to agent %d", ag)
		}
	}
	// The leader's resync finds what the follower queued and offers it.
	if err := a.r.Load(t.Context()); err != nil {
		t.Fatal(err)
	}
	for _, ag := range agents {
		if n := len(a.rec.take("offer", ag)); n != 1 {
			t.Fatalf("agent %d got %d offers from the leader, want 1", ag, n)
		}
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var winners []int64
	for i, ag := range agents {
		via := a
		if i%2 == 1 {
			via = b
		}
		wg.Go(func() {
			_, err := via.r.Accept(t.Context(), ag, it.ID)
			mu.Lock()
			defer mu.Unlock()
			var gone *router.OfferGoneError
			switch {
			case err == nil:
				winners = append(winners, ag)
			case errors.As(err, &gone) && gone.Reason == router.ReasonTaken:
			default:
				t.Errorf("agent %d: %v", ag, err)
			}
		})
	}
	wg.Wait()
	if len(winners) != 1 {
		t.Fatalf("winners %v: want exactly one", winners)
	}
	if err := a.r.Load(t.Context()); err != nil {
		t.Fatal(err)
	}
	for _, ag := range agents {
		want := 0
		if ag == winners[0] {
			want = 1
		}
		if got := a.load(ag); got != want {
			t.Fatalf("leader's load of agent %d = %d after resync, want %d", ag, got, want)
		}
	}
}

// The router's leader fails with an offer standing and another
// interaction arriving meanwhile: the next leader rebuilds from the
// database, keeps the standing offer's deadline, re-offers it when it
// times out, and offers what waited. Nothing is lost.
func TestInstancesFailoverReoffersPending(t *testing.T) {
	a, b, agents, q := twoInstances(t, "roundrobin", 2)
	first := a.receive("visitor-1", "m1", "hello", q)
	if first.Status != router.StatusOffered {
		t.Fatalf("status %s, want offered by the leader", first.Status)
	}
	var offered int64
	for _, ag := range agents {
		if len(a.rec.take("offer", ag)) == 1 {
			offered = ag
		}
	}
	// a is gone (killed: no more calls to it). A visitor writes through b
	// before b has won the router.
	second := b.receive("visitor-2", "m2", "anyone?", q)
	if second.Status != router.StatusQueued {
		t.Fatalf("status %s, want queued while nobody leads", second.Status)
	}

	// b wins the router: Lead rebuilds first.
	bus := events.New(events.Options{})
	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	wg.Go(func() { _ = bus.Run(ctx) })
	led := make(chan error, 1)
	wg.Go(func() { led <- b.r.Lead(ctx, bus, true) })
	defer func() { cancel(); wg.Wait() }()
	other := agents[0]
	if other == offered {
		other = agents[1]
	}
	eventually(t, "the new leader offers what waited to the free agent", func() bool {
		return len(b.rec.take("offer", other)) == 1
	})
	// The standing offer's time runs out on the new leader's clock: it is
	// withdrawn and offered again (to the only agent with room, the same).
	a.clock.Advance(21 * time.Second)
	if err := b.r.ExpireDue(t.Context()); err != nil {
		t.Fatal(err)
	}
	if n := len(b.rec.take("offer_withdrawn", offered)); n != 1 {
		t.Fatalf("%d withdrawals for agent %d, want 1 (timeout)", n, offered)
	}
	if n := len(b.rec.take("offer", offered)); n != 1 {
		t.Fatalf("the timed-out interaction was offered %d times again, want 1", n)
	}
	for _, id := range []int64{first.ID, second.ID} {
		it, err := b.r.Get(t.Context(), router.Actor{Staff: true}, id)
		if err != nil || it.Status != router.StatusOffered {
			t.Fatalf("interaction %d: %+v, %v; want offered", id, it, err)
		}
	}
	cancel()
	if err := <-led; err != nil {
		t.Fatalf("Lead = %v when its context ended", err)
	}
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after 30s: %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// onBus runs a's router as the leader on a bus of its own (with its
// presence following other instances when sessions is set) and answers
// forward, which puts b's recorded events of a type (and agent, 0 for any)
// on that bus as the fan-out delivers them: Origin set, the payload as JSON.
func onBus(t *testing.T, a, b *rig, sessions bool) (ctx context.Context, forward func(typ string, agent int64)) {
	t.Helper()
	bus := events.New(events.Options{})
	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	t.Cleanup(func() { cancel(); wg.Wait() })
	wg.Go(func() { _ = bus.Run(ctx) })
	want := 1
	if sessions {
		a.pres.OnSynced(a.r.AgentChanged)
		wg.Go(func() { _ = a.pres.FollowOthers(ctx, bus, time.Hour) })
		want++
	}
	wg.Go(func() { _ = a.r.Lead(ctx, bus, true) })
	eventually(t, "the leader follows the bus", func() bool { return bus.Subscribers() == want })
	return ctx, func(typ string, agent int64) {
		t.Helper()
		sent := b.rec.take(typ, agent)
		if len(sent) == 0 {
			t.Fatalf("the follower published no %s event", typ)
		}
		for _, e := range sent {
			raw, err := json.Marshal(e.Payload)
			if err != nil {
				t.Fatal(err)
			}
			e.Origin, e.Payload = "b", json.RawMessage(raw)
			bus.Publish(e)
		}
	}
}

// With the fan-out on, the leader hears of an interaction another
// instance queued (its "interaction" event) and offers it from the event
// itself, without rebuilding from the database: nothing else here would
// make it rebuild (the fake clock never reaches the periodic one, and a
// queued interaction's event does not ask for one).
func TestInstancesRemoteInteractionIsOfferedAtOnce(t *testing.T) {
	a, b, agents, q := twoInstances(t, "beepall", 2)
	ctx, forward := onBus(t, a, b, false)
	it := b.receive("visitor-1", "m1", "hello", q)
	if it.Status != router.StatusQueued {
		t.Fatalf("status %s on the follower, want queued", it.Status)
	}
	forward("interaction", 0)
	for _, ag := range agents {
		eventually(t, "the leader offers what the follower queued", func() bool { return len(a.rec.take("offer", ag)) == 1 })
	}
	got, err := a.r.Get(ctx, router.Actor{Staff: true}, it.ID)
	if err != nil || got.Status != router.StatusOffered {
		t.Fatalf("interaction %d: %+v, %v; want offered", it.ID, got, err)
	}
}

// An agent logs out and back in through a follower: the leader's presence
// takes the stored session on the follower's agent_state events, so it
// offers nothing while the agent is out and offers what waits once the
// agent is back.
func TestInstancesLeaderFollowsSessionsChangedElsewhere(t *testing.T) {
	a, b, agents, q := twoInstances(t, "beepall", 1)
	x := agents[0]
	ctx, forward := onBus(t, a, b, true)

	if _, err := b.pres.Logout(ctx, x, "api"); err != nil {
		t.Fatal(err)
	}
	forward("agent_state", x)
	eventually(t, "the leader's presence sees the logout made through b", func() bool {
		st, err := a.pres.State(ctx, x)
		return err == nil && !st.LoggedIn
	})
	it := b.receive("visitor-1", "m1", "hello", q)
	forward("interaction", 0)
	time.Sleep(300 * time.Millisecond) // the leader's handling; it must offer nothing
	if n := len(a.rec.take("offer", x)); n != 0 {
		t.Fatalf("the leader offered %d times to an agent logged out through b", n)
	}

	if _, err := b.pres.Login(ctx, x, "api"); err != nil {
		t.Fatal(err)
	}
	forward("agent_state", x)
	eventually(t, "the leader offers the waiting interaction to the agent logged in through b", func() bool {
		return len(a.rec.take("offer", x)) == 1
	})
	got, err := a.r.Get(ctx, router.Actor{Staff: true}, it.ID)
	if err != nil || got.Status != router.StatusOffered {
		t.Fatalf("interaction %d: %+v, %v; want offered", it.ID, got, err)
	}
}
