package webchat_test

import (
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"omnicc/channels/webchat"
	"omnicc/directory"
	"omnicc/storetest"
)

var (
	loadVisitors = flag.Int("webchat.load", 0, "TestVisitorLoad: how many concurrent visitor sockets (0 skips it; the README's figure is 2000)")
	loadRate     = flag.Int("webchat.rate", 200, "TestVisitorLoad: messages a second, all visitors together (0: every visitor at once)")
)

// TestVisitorLoad opens -webchat.load visitor sockets at once, each in a
// conversation accepted by one of 10 agents (round robin, auto-answer),
// then every visitor sends messages over its socket; the figure is the
// time from the visitor's send to the "message" event on the owner
// agent's websocket, and the heap per open visitor socket (both ends of
// each socket live in this process, so it is an upper bound).
//
//	go test ./channels/webchat -run VisitorLoad -args -webchat.load=2000
func TestVisitorLoad(t *testing.T) {
	n := *loadVisitors
	if n == 0 {
		t.Skip("set -webchat.load=N to run")
	}
	e := newEnv(t, storetest.SQLite(t), webchat.Limits{NewVisitorsBurst: n + 10})
	q, err := e.dir.CreateQueue(e.ctx, directory.QueueInput{Name: str("load"), Channel: str(webchat.Channel), Strategy: str("roundrobin")})
	if err != nil {
		t.Fatal(err)
	}
	var w webchat.Website
	if st := e.call("POST", "/chat-websites", e.admin, map[string]any{"name": "load", "queue_id": q.ID, "allowed_origins": []string{origin}}, &w); st != 201 {
		t.Fatalf("website: %d", st)
	}
	yes, zero := true, 0
	var agents []*websocket.Conn
	for i := 0; i < 10; i++ {
		name := fmt.Sprintf("agent%d", i)
		a, err := e.dir.CreateAgent(e.ctx, directory.AgentInput{FullName: str(name), Username: str(name), Typology: str(directory.TypologyWebRTC),
			Password: str("Str0ng-Pass"), Channels: map[string]directory.ChannelInput{webchat.Channel: {AutoAnswer: &yes, AutoAnswerDelay: &zero, Capacity: &zero}}})
		if err != nil {
			t.Fatal(err)
		}
		if err := e.dir.AddQueueMember(e.ctx, directory.MembershipInput{QueueID: q.ID, AgentID: a.ID}); err != nil {
			t.Fatal(err)
		}
		if err := e.pres.Load(e.ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := e.pres.Login(e.ctx, a.ID, "api"); err != nil {
			t.Fatal(err)
		}
		tok := e.login(name, "Str0ng-Pass")
		ws, _, err := websocket.DefaultDialer.DialContext(e.ctx, "ws"+strings.TrimPrefix(e.base, "http")+"/ws", http.Header{"Authorization": {"Bearer " + tok}})
		if err != nil {
			t.Fatal(err)
		}
		agents = append(agents, ws)
	}
	// Agents' readers: the time each visitor message reached its owner.
	var mu sync.Mutex
	arrived := map[string]time.Time{}
	var readers sync.WaitGroup
	for _, ws := range agents {
		readers.Go(func() {
			for {
				var ev struct {
					Type    string
					Message struct{ Direction, Body string }
				}
				if err := ws.ReadJSON(&ev); err != nil {
					return
				}
				if ev.Type == "message" && ev.Message.Direction == "in" && strings.HasPrefix(ev.Message.Body, "load ") {
					mu.Lock()
					if _, seen := arrived[ev.Message.Body]; !seen {
						arrived[ev.Message.Body] = time.Now()
					}
					mu.Unlock()
				}
			}
		})
	}
	defer func() {
		for _, ws := range agents {
			ws.Close()
		}
		readers.Wait()
	}()

	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	goroutines := runtime.NumGoroutine()
	visitors := make([]*websocket.Conn, n)
	var open sync.WaitGroup
	sem := make(chan struct{}, 50)
	for i := range visitors {
		open.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			var s session
			if st := e.visit("POST", "/chat/sessions", origin, map[string]string{"website": w.Token}, &s); st != 200 {
				t.Errorf("session %d: %d", i, st)
				return
			}
			url := "ws" + strings.TrimPrefix(e.base, "http") + "/chat/ws?session=" + s.Session
			ws, _, err := websocket.DefaultDialer.DialContext(e.ctx, url, http.Header{"Origin": {origin}})
			if err != nil {
				t.Errorf("socket %d: %v", i, err)
				return
			}
			visitors[i] = ws
		})
	}
	open.Wait()
	if t.Failed() {
		t.FailNow()
	}
	runtime.GC()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	perSocket := float64(int64(after.HeapAlloc)-int64(before.HeapAlloc)) / float64(n)
	perGoroutines := float64(runtime.NumGoroutine()-goroutines) / float64(n)
	// Visitors' readers drain what the server sends.
	var vreaders sync.WaitGroup
	for _, ws := range visitors {
		vreaders.Go(func() {
			for {
				if _, _, err := ws.ReadMessage(); err != nil {
					return
				}
			}
		})
	}
	defer func() {
		for _, ws := range visitors {
			ws.Close()
		}
		vreaders.Wait()
	}()
	// A first message from each opens its conversation, which an agent
	// auto-answers: only then do its messages go to that agent's socket.
	for i, ws := range visitors {
		raw, _ := json.Marshal(map[string]any{"type": "send", "client_id": fmt.Sprintf("w-%d", i), "body": "hello"})
		if err := ws.WriteMessage(websocket.TextMessage, raw); err != nil {
			t.Fatal(err)
		}
	}
	for wait := time.Now().Add(5 * time.Minute); ; {
		var accepted int
		if err := e.db.GetContext(e.ctx, &accepted, `SELECT COUNT(*) FROM interactions WHERE account = ? AND status = 'accepted'`, itoa(w.ID)); err != nil {
			t.Fatal(err)
		}
		if accepted == n {
			break
		}
		if time.Now().After(wait) {
			t.Fatalf("%d of %d conversations accepted", accepted, n)
		}
		time.Sleep(200 * time.Millisecond)
	}
	const rounds = 2
	sentAt := map[string]time.Time{}
	var sendMu sync.Mutex
	start := time.Now()
	for r := 0; r < rounds; r++ {
		var sends sync.WaitGroup
		roundStart := time.Now()
		for i, ws := range visitors {
			if *loadRate > 0 {
				time.Sleep(time.Until(roundStart.Add(time.Duration(i) * time.Second / time.Duration(*loadRate))))
			}
			sends.Go(func() {
				body := fmt.Sprintf("load %d/%d", i, r)
				sendMu.Lock()
				sentAt[body] = time.Now()
				sendMu.Unlock()
				raw, _ := json.Marshal(map[string]any{"type": "send", "client_id": fmt.Sprintf("l-%d-%d", i, r), "body": body})
				sendMu.Lock()
				err := ws.WriteMessage(websocket.TextMessage, raw)
				sendMu.Unlock()
				if err != nil {
					t.Errorf("send: %v", err)
				}
			})
		}
		sends.Wait()
	}
	deadline := time.Now().Add(5 * time.Minute)
	for {
		mu.Lock()
		got := len(arrived)
		mu.Unlock()
		if got >= n*rounds || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	elapsed := time.Since(start)
	mu.Lock()
	var lat []time.Duration
	for body, at := range arrived {
		lat = append(lat, at.Sub(sentAt[body]))
	}
	mu.Unlock()
	slices.Sort(lat)
	if len(lat) < n*rounds {
		t.Errorf("%d of %d messages reached an agent", len(lat), n*rounds)
	}
	if len(lat) == 0 {
		return
	}
	pct := func(p float64) time.Duration { return lat[min(len(lat)-1, int(float64(len(lat))*p))] }
	t.Logf("%d visitor sockets, %d messages at %d/s in %v: message → agent websocket p50 %v, p99 %v, max %v; heap %.1f KiB and %.1f goroutines per visitor socket (both ends in this process)",
		n, len(lat), *loadRate, elapsed.Round(time.Millisecond), pct(0.50).Round(time.Millisecond), pct(0.99).Round(time.Millisecond), lat[len(lat)-1].Round(time.Millisecond),
		perSocket/1024, perGoroutines)
}
