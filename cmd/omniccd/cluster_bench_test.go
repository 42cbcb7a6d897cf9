package main

import (
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// The cluster benchmarks start real omniccd processes (the test binary
// itself) against one MariaDB, a nats-server of their own and AMI test
// servers, as TestClusterSurvivesKill9 does:
//
//	go test -run '^$' -bench 'ClusterFailover' -benchtime 20x ./cmd/omniccd/
//	go test -run '^$' -bench 'ClusterRouting' -benchtime 2000x ./cmd/omniccd/

// BenchmarkClusterFailover kills the router's leader with SIGKILL, once
// per iteration, among three instances and two boxes, and measures how
// long until every role (the router, each box) is led again by a
// survivor; the killed instance is then started again, untimed.
func BenchmarkClusterFailover(b *testing.B) {
	cl := newCluster(b, 2)
	live := map[string]*proc{}
	for _, id := range []string{"omnicc-a", "omnicc-b", "omnicc-c"} {
		live[id] = cl.startReady(id) // one at a time: the first migrates
	}
	procs := func() []*proc {
		out := make([]*proc, 0, len(live))
		for _, p := range live {
			out = append(out, p)
		}
		return out
	}
	var took []time.Duration
	b.ResetTimer()
	for range b.N {
		var owner map[string]*proc
		waitFor(b, 60*time.Second, "every role led", func() bool { owner = cl.owners(procs()...); return owner != nil })
		victim := owner["router"]
		cl.kill(victim)
		killed := time.Now()
		delete(live, victim.id)
		for cl.owners(procs()...) == nil {
			if time.Since(killed) > 60*time.Second {
				b.Fatalf("the roles of %s were not taken over in 60 s", victim.id)
			}
			time.Sleep(2 * time.Millisecond)
		}
		took = append(took, time.Since(killed))
		b.StopTimer()
		live[victim.id] = cl.startReady(victim.id)
		b.StartTimer()
	}
	b.StopTimer()
	reportPercentiles(b, took, "takeover")
}

// BenchmarkClusterRouting is the routing throughput of 1 and 3 instances:
// customers' first messages (the open channel API, spread over the
// instances) until an agent accepted and closed each, with 6 agents of
// unlimited capacity whose sockets and REST calls are spread likewise.
// It reports interactions/s and the p50/p99 from the message's POST to
// its accept.
func BenchmarkClusterRouting(b *testing.B) {
	for _, n := range []int{1, 3} {
		b.Run(fmt.Sprintf("instances=%d", n), func(b *testing.B) { benchRouting(b, n) })
	}
}

func benchRouting(b *testing.B, instances int) {
	cl := newCluster(b, 1)
	var procs []*proc
	for i := range instances {
		procs = append(procs, cl.startReady(fmt.Sprintf("omnicc-%c", 'a'+i)))
	}
	waitFor(b, 60*time.Second, "every role led", func() bool { return cl.owners(procs...) != nil })
	api := &restClient{t: b, base: procs[0].base()}
	admin := api.login("admin", clusterAdminPass)
	var q struct{ ID int64 }
	api.do("POST", "/api/v1/queues", admin, map[string]any{"name": "sms", "channel": "openchannel", "strategy": "roundrobin"}, 201, &q)
	accountID, accountToken := openChannel(api, admin, q.ID)

	var (
		mu      sync.Mutex
		sentAt  = map[int64]time.Time{}
		latency []time.Duration
		offered []time.Duration
		closed  atomic.Int64
	)
	var wg sync.WaitGroup
	var sockets []interface{ Close() error }
	defer func() {
		for _, s := range sockets {
			s.Close()
		}
		wg.Wait()
	}()
	for i := range 6 {
		p := procs[i%len(procs)]
		via := &restClient{t: b, base: p.base()}
		token := newAgent(api, admin, via, fmt.Sprintf("bench%d", i), q.ID).token
		ws := dialWS(b, p, token)
		sockets = append(sockets, ws)
		wg.Go(func() {
			followOffers(ws, func(id int64) {
				mu.Lock()
				if t0, ok := sentAt[id]; ok {
					offered = append(offered, time.Since(t0))
				}
				mu.Unlock()
				// Each offer is taken on its own, so the socket is read on:
				// the figure is the server's, not six agents' queue.
				wg.Go(func() {
					if st, _ := via.try("POST", fmt.Sprintf("/api/v1/interactions/%d/accept", id), token, nil); st != 200 {
						return // gone
					}
					mu.Lock()
					if t0, ok := sentAt[id]; ok {
						latency = append(latency, time.Since(t0))
					}
					mu.Unlock()
					if st, raw := via.try("POST", fmt.Sprintf("/api/v1/interactions/%d/close", id), token, nil); st != 200 {
						b.Errorf("close %d: %d %s", id, st, raw)
					}
					closed.Add(1)
				})
			})
		})
	}

	const senders = 8
	var next atomic.Int64
	b.ResetTimer()
	start := time.Now()
	var sg sync.WaitGroup
	for s := range senders {
		gw := &restClient{t: b, base: procs[s%len(procs)].base()}
		sg.Go(func() {
			for {
				i := next.Add(1)
				if i > int64(b.N) {
					return
				}
				t0 := time.Now()
				st, raw := gw.try("POST", fmt.Sprintf("/api/v1/openchannel/%d/messages", accountID), accountToken,
					map[string]any{"from": fmt.Sprintf("+44770%07d", i), "body": "hello", "external_id": fmt.Sprint("m", i)})
				var ans struct {
					InteractionID int64 `json:"interaction_id"`
				}
				if st != 201 || json.Unmarshal(raw, &ans) != nil {
					b.Errorf("inbound %d: %d %s", i, st, raw)
					return
				}
				mu.Lock()
				sentAt[ans.InteractionID] = t0
				mu.Unlock()
			}
		})
	}
	sg.Wait()
	for closed.Load() < int64(b.N) {
		if time.Since(start) > 10*time.Minute {
			b.Fatalf("%d of %d interactions closed after 10 minutes", closed.Load(), b.N)
		}
		time.Sleep(5 * time.Millisecond)
	}
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "interactions/s")
	mu.Lock()
	reportPercentiles(b, offered, "offered")
	reportPercentiles(b, latency, "accepted")
	mu.Unlock()
}

// reportPercentiles reports the p50 and p99 of ds in milliseconds.
func reportPercentiles(b *testing.B, ds []time.Duration, what string) {
	if len(ds) == 0 {
		return
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	at := func(p float64) float64 {
		i := int(p * float64(len(s)-1))
		return float64(s[i].Microseconds()) / 1000
	}
	b.ReportMetric(at(0.50), what+"-p50-ms")
	b.ReportMetric(at(0.99), what+"-p99-ms")
	b.ReportMetric(0, "ns/op")
}
