package openchannel_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"omnicc/api"
	"omnicc/auth"
	"omnicc/channels/openchannel"
	"omnicc/directory"
	"omnicc/presence"
	"omnicc/router"
	"omnicc/store"
	"omnicc/storetest"
)

// BenchmarkInboundToOffer is the whole digital path as an integrator and
// an agent see it: POST /openchannel/{id}/messages from a new customer →
// stored, queued, offered → the `offer` event read on the agent's
// websocket. Messages are sent open loop at 200/s; the metrics are the
// latency percentiles of that path.
//
//	go test -run '^$' -bench InboundToOffer -benchtime 1000x ./channels/openchannel/
func BenchmarkInboundToOffer(b *testing.B) {
	for _, engine := range []struct {
		name string
		open func(testing.TB) *store.DB
	}{{"sqlite", storetest.SQLite}, {"mariadb", storetest.MariaDB}} {
		b.Run(engine.name, func(b *testing.B) { benchInboundToOffer(b, engine.open(b)) })
	}
}

func benchInboundToOffer(b *testing.B, db *store.DB) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	str := func(s string) *string { return &s }
	dir := directory.New(db, directory.Options{BcryptCost: 4})
	if _, _, err := dir.EnsureAdmin(ctx, "Admin-Pass1"); err != nil {
		b.Fatal(err)
	}
	authn := auth.New(db, dir, auth.Options{})
	hub, err := api.NewHub(api.HubOptions{Auth: authn, QueueSize: 1 << 16})
	if err != nil {
		b.Fatal(err)
	}
	var rt *router.Router
	pres := presence.New(presence.Options{DB: db, Directory: dir, Controller: nopQueues{}, FlushDelay: -1, EventWait: -1,
		Publisher: presence.PublisherFunc(func(e presence.Event) {
			hub.Publish(e)
			if rt != nil {
				rt.Observe(e)
			}
		})})
	rt = router.New(router.Options{DB: db, Presence: pres, Directory: dir, Publisher: hub})
	conn := openchannel.New(openchannel.Options{DB: db, Router: rt, Queues: dir})
	rt.SetSender(openchannel.Channel, conn)
	s, err := api.New(api.Options{DB: db, Directory: dir, Auth: authn, MaxBodyBytes: 64 << 10,
		Mounts: []func(*api.Router){hub.Mount, api.NewInteractions(rt).Mount, api.NewOpenChannel(conn).Mount}})
	if err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()

	q, err := dir.CreateQueue(ctx, directory.QueueInput{Name: str("sms"), Channel: str(openchannel.Channel), Strategy: str("beepall"),
		OfferTimeout: str2int(3600)})
	if err != nil {
		b.Fatal(err)
	}
	a, err := dir.CreateAgent(ctx, directory.AgentInput{FullName: str("Alice"), Username: str("alice"),
		Typology: str(directory.TypologyWebRTC), Password: str("Str0ng-Pass")})
	if err != nil {
		b.Fatal(err)
	}
	if err := dir.AddQueueMember(ctx, directory.MembershipInput{QueueID: q.ID, AgentID: a.ID}); err != nil {
		b.Fatal(err)
	}
	acc, err := conn.CreateAccount(ctx, openchannel.AccountInput{Name: str("gw"), QueueID: &q.ID, ReplyURL: str("http://127.0.0.1:9/none")})
	if err != nil {
		b.Fatal(err)
	}
	if err := pres.Load(ctx); err != nil {
		b.Fatal(err)
	}
	if err := rt.Load(ctx); err != nil {
		b.Fatal(err)
	}
	if _, err := pres.Login(ctx, a.ID, "api"); err != nil {
		b.Fatal(err)
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	wg.Go(func() { _ = hub.Run(ctx) })
	wg.Go(func() { _ = rt.Run(ctx) })
	token, _, _, err := authn.Login(ctx, "alice", "Str0ng-Pass")
	if err != nil {
		b.Fatal(err)
	}
	ws, _, err := websocket.DefaultDialer.DialContext(ctx, "ws"+strings.TrimPrefix(srv.URL, "http")+"/api/v1/ws",
		http.Header{"Authorization": {"Bearer " + token}})
	if err != nil {
		b.Fatal(err)
	}
	defer ws.Close()

	var mu sync.Mutex
	sent := map[string]time.Time{}
	lat := make([]time.Duration, 0, b.N)
	all := make(chan struct{})
	wg.Go(func() {
		for {
			_, raw, err := ws.ReadMessage()
			if err != nil {
				return
			}
			var ev struct {
				Type        string `json:"type"`
				Interaction struct {
					Customer string `json:"customer"`
				} `json:"interaction"`
			}
			if json.Unmarshal(raw, &ev) != nil || ev.Type != "offer" {
				continue
			}
			now := time.Now()
			mu.Lock()
			if t0, ok := sent[ev.Interaction.Customer]; ok {
				lat = append(lat, now.Sub(t0))
				delete(sent, ev.Interaction.Customer)
				if len(lat) == b.N {
					close(all)
				}
			}
			mu.Unlock()
		}
	})

	url := fmt.Sprintf("%s/api/v1/openchannel/%d/messages", srv.URL, acc.ID)
	b.ResetTimer()
	tick := time.NewTicker(5 * time.Millisecond) // 200 messages/s
	defer tick.Stop()
	var posts sync.WaitGroup
	for i := range b.N {
		<-tick.C
		from := fmt.Sprint("+4477009", i)
		body, _ := json.Marshal(openchannel.InboundMessage{From: from, Body: "hello", ExternalID: fmt.Sprint("m", i)})
		mu.Lock()
		sent[from] = time.Now()
		mu.Unlock()
		posts.Go(func() {
			req, _ := http.NewRequestWithContext(ctx, "POST", url, bytes.NewReader(body))
			req.Header.Set("Authorization", "Bearer "+acc.Token)
			req.Header.Set("Content-Type", "application/json")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				b.Error(err)
				return
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusCreated {
				b.Errorf("inbound %s: %s", from, resp.Status)
			}
		})
	}
	posts.Wait()
	select {
	case <-all:
	case <-time.After(60 * time.Second):
		b.Fatalf("only %d of %d offers reached the websocket", len(lat), b.N)
	}
	b.StopTimer()
	ws.Close()
	mu.Lock()
	defer mu.Unlock()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[(len(lat)-1)*99/100].Microseconds())/1000, "p99-ms")
}

func str2int(n int) *int { return &n }
