package router

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"omnicc/directory"
	"omnicc/presence"
	"omnicc/store"
	"omnicc/storetest"
)

// memPresence answers CanTake from two maps, as presence.Service does under
// its lock, so the benchmarks measure the router's decision and not the
// setup of 5,000 logged-in agents in a database.
type memPresence struct {
	mu       sync.Mutex
	open     map[int64]map[string]int
	capacity int
}

func (p *memPresence) CanTake(id int64, ch string) (presence.Eligible, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := p.open[id][ch]
	if p.capacity > 0 && n >= p.capacity {
		return presence.Eligible{}, false
	}
	return presence.Eligible{AgentID: id, Load: presence.ChannelLoad{Channel: ch, Open: n, Capacity: p.capacity}}, true
}

func (p *memPresence) SetLoad(id int64, ch string, n int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.open[id] == nil {
		p.open[id] = map[string]int{}
	}
	p.open[id][ch] = n
}

func percentile(d []time.Duration, p float64) time.Duration {
	slices.Sort(d)
	return d[int(float64(len(d)-1)*p)]
}

// BenchmarkOfferDecision: 5,000 agents (capacity 3 on chat, every fourth
// one full), each in 4 of 200 digital queues (100 members a queue, the four
// strategies in turn), 50,000 interactions waiting (250 a queue). One op is
// the decision for one queue's head: whom to offer it to.
func BenchmarkOfferDecision(b *testing.B) {
	const agents, queues, waiting = 5000, 200, 50000
	pres := &memPresence{open: map[int64]map[string]int{}, capacity: 3}
	r := New(Options{Presence: pres})
	strategies := []string{"beepall", "roundrobin", "leastrecent", "fewestinteractions"}
	for q := range int64(queues) {
		r.queues[q+1] = &queueState{id: q + 1, name: fmt.Sprint("q", q), channel: "chat", strategy: strategies[q%4],
			offerTimeout: 30 * time.Second, line: newWaitLine()}
	}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range int64(agents) {
		a := r.agentLocked(i + 1)
		a.lastOffer = t0.Add(time.Duration(i*7919%agents) * time.Second)
		if i%4 == 0 {
			pres.SetLoad(a.id, "chat", 3)
		} else {
			pres.SetLoad(a.id, "chat", int(i%3))
		}
		a.open["chat"] = int(i % 3)
		for k := range int64(4) {
			qid := (i+k*50)%queues + 1
			a.queues = append(a.queues, qid)
			r.queues[qid].members = append(r.queues[qid].members, a.id)
		}
	}
	for _, q := range r.queues {
		slices.Sort(q.members)
	}
	for i := range int64(waiting) {
		r.queues[i%queues+1].line.add(i+1, int(i%3), t0.Add(time.Duration(i)*time.Millisecond))
	}
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := range b.N {
		start := time.Now()
		id, to := r.Decide(int64(i%queues) + 1)
		lat = append(lat, time.Since(start))
		if id == 0 || len(to) == 0 {
			b.Fatalf("queue %d: no decision", i%queues+1)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(percentile(lat, 0.50).Nanoseconds()), "p50-ns")
	b.ReportMetric(float64(percentile(lat, 0.99).Nanoseconds()), "p99-ns")
}

// BenchmarkAcceptRace: one op is a customer's first message (stored,
// queued, offered to 8 agents under beepall) and 8 agents accepting it at
// once, on each engine; the accepts/s metric is the winning accepts.
func BenchmarkAcceptRace(b *testing.B) {
	for _, engine := range []struct {
		name string
		open func(testing.TB) *store.DB
	}{{"sqlite", storetest.SQLite}, {"mariadb", storetest.MariaDB}} {
		b.Run(engine.name, func(b *testing.B) {
			db := engine.open(b)
			ctx := b.Context()
			dir := directory.New(db, directory.Options{BcryptCost: 4})
			str := func(s string) *string { return &s }
			q, err := dir.CreateQueue(ctx, directory.QueueInput{Name: str("web"), Channel: str("chat"), Strategy: str("beepall")})
			if err != nil {
				b.Fatal(err)
			}
			var ids []int64
			for i := range 8 {
				a, err := dir.CreateAgent(ctx, directory.AgentInput{FullName: str("A"), Username: str(fmt.Sprint("a", i)),
					Typology: str(directory.TypologyWebRTC), Password: str("Str0ng-Pass")})
				if err != nil {
					b.Fatal(err)
				}
				if err := dir.AddQueueMember(ctx, directory.MembershipInput{QueueID: q.ID, AgentID: a.ID}); err != nil {
					b.Fatal(err)
				}
				ids = append(ids, a.ID)
			}
			r := New(Options{DB: db, Directory: dir, Presence: &memPresence{open: map[int64]map[string]int{}}})
			if err := r.Load(ctx); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			start := time.Now()
			for i := range b.N {
				it, _, _, err := r.Receive(ctx, Inbound{Channel: "chat", Account: "bench", Customer: fmt.Sprint("c", i), QueueID: q.ID, Body: "hi"})
				if err != nil {
					b.Fatal(err)
				}
				var wg sync.WaitGroup
				var mu sync.Mutex
				wins := 0
				for _, a := range ids {
					wg.Add(1)
					go func() {
						defer wg.Done()
						if _, err := r.Accept(ctx, a, it.ID); err == nil {
							mu.Lock()
							wins++
							mu.Unlock()
						}
					}()
				}
				wg.Wait()
				if wins != 1 {
					b.Fatalf("interaction %d: %d winners", it.ID, wins)
				}
			}
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "accepts/s")
		})
	}
}
