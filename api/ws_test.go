package api_test

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"go.uber.org/goleak"

	"omnicc/api"
	"omnicc/auth"
	"omnicc/directory"
	"omnicc/events"
	"omnicc/presence"
)

// wsWait bounds waits for things that should happen at once; generous for
// the race detector on two shared cores.
const wsWait = 10 * time.Second

// fakeAuth maps tokens to principals.
type fakeAuth map[string]auth.Principal

func (f fakeAuth) Authenticate(_ context.Context, secret string) (auth.Principal, error) {
	if p, ok := f[secret]; ok {
		return p, nil
	}
	return auth.Principal{}, auth.ErrUnauthenticated
}

var wsUsers = fakeAuth{
	"omt_agent7": {UserID: 7, Role: directory.RoleAgent, Username: "alice"},
	"omt_agent8": {UserID: 8, Role: directory.RoleAgent, Username: "bob"},
	"omt_sup":    {UserID: 2, Role: directory.RoleSupervisor, Username: "sue"},
	"omt_admin":  {UserID: 1, Role: directory.RoleAdmin, Username: "admin"},
	"omk_agent":  {APIKeyID: 3, Role: directory.RoleAgent, Username: "api-key:robot"},
}

// wsEnv is a hub mounted on the real API over a real HTTP listener.
type wsEnv struct {
	t       *testing.T
	bus     *events.Bus
	hub     *api.Hub
	srv     *httptest.Server
	url     string
	cancel  context.CancelFunc
	done    chan error
	busDone chan error
	release chan struct{}
}

// newWSEnv starts the hub and the server; the test's cleanup stops both and
// then checks that no goroutine is left behind.
func newWSEnv(t *testing.T, mod func(*api.HubOptions)) *wsEnv {
	t.Helper()
	e := newWSEnvHeld(t, mod)
	close(e.release)
	return e
}

// leakChecked holds the tests whose goroutine check is registered.
var leakChecked sync.Map

// newWSEnvHeld is newWSEnv with Hub.Run held back until the test closes
// e.release: connections are served, but the hub reads nothing from the bus.
func newWSEnvHeld(t *testing.T, mod func(*api.HubOptions)) *wsEnv {
	t.Helper()
	// Registered first, so it runs last, after every other cleanup; what
	// ran before this test (other tests' idle HTTP clients) is ignored.
	// Once per test: a test with two hubs (two instances) is checked after
	// both stopped, not by the second's snapshot, which may miss the
	// first's goroutines still starting.
	if _, twice := leakChecked.LoadOrStore(t, true); !twice {
		before := goleak.IgnoreCurrent()
		t.Cleanup(func() {
			leakChecked.Delete(t)
			goleak.VerifyNone(t, before)
		})
	}
	bus := events.New(events.Options{})
	opts := api.HubOptions{Auth: wsUsers, Bus: bus, AllowedOrigins: []string{"https://desk.example.com"}}
	if mod != nil {
		mod(&opts)
	}
	hub, err := api.NewHub(opts)
	if err != nil {
		t.Fatal(err)
	}
	s, err := api.New(api.Options{Mounts: []func(*api.Router){hub.Mount}})
	if err != nil {
		t.Fatal(err)
	}
	e := &wsEnv{t: t, bus: bus, hub: hub, srv: httptest.NewServer(s.Handler()), done: make(chan error, 1), busDone: make(chan error, 1),
		release: make(chan struct{})}
	e.url = "ws" + strings.TrimPrefix(e.srv.URL, "http") + "/api/v1/ws"
	ctx, cancel := context.WithCancel(context.Background())
	e.cancel = cancel
	go func() { e.busDone <- bus.Run(ctx) }()
	go func() {
		<-e.release
		e.done <- hub.Run(ctx)
	}()
	t.Cleanup(func() {
		if err := <-e.busDone; err != nil {
			t.Errorf("Bus.Run: %v", err)
		}
	})
	t.Cleanup(func() {
		e.stop()
		e.srv.Close()
	})
	return e
}

// stop ends Hub.Run and checks it returned nil; safe to call twice.
func (e *wsEnv) stop() {
	e.t.Helper()
	e.cancel()
	select {
	case err, ok := <-e.done:
		if ok && err != nil {
			e.t.Errorf("Hub.Run: %v", err)
		}
		if ok {
			close(e.done)
		}
	case <-time.After(wsWait):
		e.t.Fatal("Hub.Run did not return after cancel")
	}
}

// dial connects with the token in the Authorization header (or nothing when
// token is empty) and returns the connection or the HTTP answer.
func (e *wsEnv) dial(token string, header http.Header) (*websocket.Conn, *http.Response, error) {
	if header == nil {
		header = http.Header{}
	}
	if token != "" {
		header.Set("Authorization", "Bearer "+token)
	}
	ctx, cancel := context.WithTimeout(context.Background(), wsWait)
	defer cancel()
	return websocket.DefaultDialer.DialContext(ctx, e.url, header)
}

// connect dials, fails the test on error, reads the hello and closes the
// connection when the test ends.
func (e *wsEnv) connect(token string) *websocket.Conn {
	e.t.Helper()
	conn, resp, err := e.dial(token, nil)
	if err != nil {
		e.t.Fatalf("dial with %q: %v (%s)", token, err, status(resp))
	}
	e.t.Cleanup(func() { conn.Close() })
	if hello := readEvent(e.t, conn); hello["type"] != "hello" {
		e.t.Fatalf("first message %v, want hello", hello)
	}
	return conn
}

func status(resp *http.Response) string {
	if resp == nil {
		return "no HTTP answer"
	}
	return resp.Status
}

func readEvent(t *testing.T, conn *websocket.Conn) map[string]any {
	t.Helper()
	_ = conn.SetReadDeadline(time.Now().Add(wsWait))
	var m map[string]any
	if err := conn.ReadJSON(&m); err != nil {
		t.Fatalf("read: %v", err)
	}
	return m
}

// expectNothing checks that nothing arrives within a short while.
func expectNothing(t *testing.T, conn *websocket.Conn, who string) {
	t.Helper()
	_ = conn.SetReadDeadline(time.Now().Add(150 * time.Millisecond))
	var m map[string]any
	err := conn.ReadJSON(&m)
	if err == nil {
		t.Fatalf("%s received %v, want nothing", who, m)
	}
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("%s: %v, want a read timeout", who, err)
	}
}

// closeCode reads until the connection ends and returns the close code the
// server sent (-1 when the connection ended without one).
func closeCode(t *testing.T, conn *websocket.Conn) (int, string) {
	t.Helper()
	_ = conn.SetReadDeadline(time.Now().Add(wsWait))
	for {
		_, _, err := conn.ReadMessage()
		if err == nil {
			continue
		}
		var ce *websocket.CloseError
		if errors.As(err, &ce) {
			return ce.Code, ce.Text
		}
		return -1, err.Error()
	}
}

func agentState(agentID int64, state string) presence.Event {
	return presence.Event{Type: "agent_state", AgentID: agentID, Payload: map[string]any{
		"agent_id": agentID, "state": state, "reason": "", "since": "2026-01-02T09:00:00Z",
		"queues": []any{}, "counters": map[string]any{"answered": 0},
	}}
}

func TestWebsocketRefusesWithoutValidToken(t *testing.T) {
	e := newWSEnv(t, nil)
	tests := []struct {
		name     string
		token    string
		header   http.Header
		query    string
		status   int
		inAnswer string
	}{
		{"no token", "", nil, "", 401, "Authorization: Bearer"},
		{"bad token", "omt_nope", nil, "", 401, "log in again"},
		{"token in query refused", "", nil, "?token=omt_agent7", 401, "query string is refused"},
		{"bearer subprotocol without omnicc.v1", "", http.Header{"Sec-Websocket-Protocol": {"omnicc.bearer.omt_agent7"}}, "", 400, `"omnicc.v1"`},
		{"bad token as subprotocol", "", http.Header{"Sec-Websocket-Protocol": {"omnicc.v1, omnicc.bearer.omt_nope"}}, "", 401, "log in again"},
		{"foreign origin", "omt_agent7", http.Header{"Origin": {"https://evil.example.net"}}, "", 403, "adding it to OMNICC_WS_ORIGINS"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{}
			for k, v := range tt.header {
				h[k] = v
			}
			if tt.token != "" {
				h.Set("Authorization", "Bearer "+tt.token)
			}
			ctx, cancel := context.WithTimeout(context.Background(), wsWait)
			defer cancel()
			conn, resp, err := websocket.DefaultDialer.DialContext(ctx, e.url+tt.query, h)
			if err == nil {
				conn.Close()
				t.Fatal("connected; want a refusal")
			}
			if resp == nil || resp.StatusCode != tt.status {
				t.Fatalf("%v (%s), want HTTP %d", err, status(resp), tt.status)
			}
			var body apiErr
			if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
				t.Fatalf("refusal is not the JSON error shape: %v", err)
			}
			if !strings.Contains(body.Error.Message, tt.inAnswer) {
				t.Fatalf("message %q lacks %q", body.Error.Message, tt.inAnswer)
			}
		})
	}
	// A plain GET (no upgrade) is told what the route is.
	res, err := http.Get(e.srv.URL + "/api/v1/ws")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 400 {
		t.Fatalf("plain GET: %d, want 400", res.StatusCode)
	}
}

// Browsers authenticate with the subprotocol pair; the server echoes only
// omnicc.v1, never the token. Same-origin and listed origins are allowed.
func TestWebsocketBrowserStyleAuth(t *testing.T) {
	e := newWSEnv(t, nil)
	for _, origin := range []string{"", e.srv.URL, "https://desk.example.com"} {
		h := http.Header{"Sec-Websocket-Protocol": {"omnicc.v1, omnicc.bearer.omt_agent7"}}
		if origin != "" {
			h.Set("Origin", origin)
		}
		conn, resp, err := e.dial("", h)
		if err != nil {
			t.Fatalf("origin %q: %v (%s)", origin, err, status(resp))
		}
		if got := resp.Header.Get("Sec-Websocket-Protocol"); got != api.WSProtocol {
			t.Fatalf("server selected subprotocol %q, want %q", got, api.WSProtocol)
		}
		hello := readEvent(t, conn)
		if hello["type"] != "hello" || hello["user_id"] != float64(7) || hello["role"] != "agent" {
			t.Fatalf("hello %v", hello)
		}
		conn.Close()
	}
}

// An agent sees only its own events; supervisors and admins see everyone's
// and the staff-only ones (AgentID 0); an agent-role API key has no agent
// and sees nothing.
func TestWebsocketRouting(t *testing.T) {
	e := newWSEnv(t, nil)
	alice, bob := e.connect("omt_agent7"), e.connect("omt_agent8")
	sup, admin, robot := e.connect("omt_sup"), e.connect("omt_admin"), e.connect("omk_agent")

	e.bus.Publish(agentState(7, "ready"))
	e.bus.Publish(agentState(8, "paused"))
	e.bus.Publish(presence.Event{Type: "queue_summary", Payload: map[string]any{"queue": "sales", "waiting": 3}})
	e.bus.Publish(agentState(7, "on_call"))

	got := readEvent(t, alice)
	want := map[string]any{"type": "agent_state", "agent_id": float64(7), "state": "ready", "reason": "",
		"since": "2026-01-02T09:00:00Z", "queues": []any{}, "counters": map[string]any{"answered": float64(0)}}
	if mustJSON(got) != mustJSON(want) {
		t.Fatalf("alice got %v\nwant %v", got, want)
	}
	if got := readEvent(t, alice); got["state"] != "on_call" {
		t.Fatalf("alice's second event %v", got)
	}
	if got := readEvent(t, bob); got["agent_id"] != float64(8) {
		t.Fatalf("bob got %v", got)
	}
	for name, conn := range map[string]*websocket.Conn{"supervisor": sup, "admin": admin} {
		var seq []string
		for range 4 {
			m := readEvent(t, conn)
			seq = append(seq, m["type"].(string)+":"+mustJSON(m["agent_id"]))
		}
		if strings.Join(seq, " ") != "agent_state:7 agent_state:8 queue_summary:null agent_state:7" {
			t.Fatalf("%s got %v, want every event in publish order", name, seq)
		}
	}
	expectNothing(t, alice, "alice")
	expectNothing(t, bob, "bob")
	expectNothing(t, robot, "an agent-role API key")
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// A payload that is not a JSON object is not sent (and does not stop the
// hub); a nil payload is just the type.
func TestWebsocketEventShape(t *testing.T) {
	e := newWSEnv(t, nil)
	sup := e.connect("omt_sup")
	e.bus.Publish(presence.Event{Type: "bad", Payload: []int{1, 2}})
	e.bus.Publish(presence.Event{Type: "", Payload: map[string]int{"x": 1}})
	e.bus.Publish(presence.Event{Type: "bare"})
	e.bus.Publish(presence.Event{Type: "struct", AgentID: 7, Payload: struct {
		AgentID int64  `json:"agent_id"`
		Note    string `json:"note"`
	}{7, `quote " and <tag>`}})
	if got := readEvent(t, sup); mustJSON(got) != `{"type":"bare"}` {
		t.Fatalf("got %v", got)
	}
	if got := readEvent(t, sup); got["type"] != "struct" || got["note"] != `quote " and <tag>` {
		t.Fatalf("got %v", got)
	}
}

// A client that stops reading is disconnected with code 1013 once its buffer
// is full, while the others receive every event.
func TestWebsocketSlowClientIsDropped(t *testing.T) {
	e := newWSEnv(t, func(o *api.HubOptions) { o.SendBuffer = 4 })
	fast := e.connect("omt_sup")
	// A small receive window, so the server's socket fills fast.
	dialer := websocket.Dialer{NetDialContext: (&net.Dialer{Control: smallReceiveBuffer}).DialContext}
	ctx, cancel := context.WithTimeout(context.Background(), wsWait)
	defer cancel()
	slow, _, err := dialer.DialContext(ctx, e.url, http.Header{"Authorization": {"Bearer omt_admin"}})
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	other := e.connect("omt_agent7")

	big := strings.Repeat("x", 32<<10)
	dropped := false
	sent := 0
	for sent < 5000 && !dropped {
		e.bus.Publish(presence.Event{Type: "bulk", AgentID: 7, Payload: map[string]any{"n": sent, "pad": big}})
		// Paced by the fast readers: only the slow one falls behind.
		for _, c := range []*websocket.Conn{fast, other} {
			if m := readEvent(t, c); m["n"] != float64(sent) {
				t.Fatalf("event %d arrived as %v", sent, m["n"])
			}
		}
		sent++
		dropped = e.hub.Connections() == 2
	}
	if !dropped {
		t.Fatalf("the slow client was still connected after %d events of 32 KiB", sent)
	}
	code, text := closeCode(t, slow)
	if code != websocket.CloseTryAgainLater || !strings.Contains(text, "too slow") {
		t.Fatalf("slow client closed with %d %q, want 1013 and a reason", code, text)
	}
	e.bus.Publish(agentState(7, "ready"))
	for _, c := range []*websocket.Conn{fast, other} {
		if m := readEvent(t, c); m["type"] != "agent_state" {
			t.Fatalf("after the drop got %v", m)
		}
	}
	t.Logf("slow client dropped after %d events", sent)
}

// Shutdown closes every connection with 1001, refuses new ones, and leaves
// no goroutine behind (checked by newWSEnv's cleanup).
func TestWebsocketShutdownClosesEverything(t *testing.T) {
	e := newWSEnv(t, nil)
	var conns []*websocket.Conn
	for _, tok := range []string{"omt_agent7", "omt_agent8", "omt_sup", "omt_admin"} {
		conns = append(conns, e.connect(tok))
	}
	// One client that never reads: shutdown must not wait on it forever.
	idle, _, err := e.dial("omt_sup", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	if n := e.hub.Connections(); n != 5 {
		t.Fatalf("%d connections, want 5", n)
	}
	e.stop()
	var wg sync.WaitGroup
	for _, c := range conns {
		wg.Go(func() {
			if code, _ := closeCode(t, c); code != websocket.CloseGoingAway {
				t.Errorf("closed with %d, want 1001", code)
			}
		})
	}
	wg.Wait()
	if n := e.hub.Connections(); n != 0 {
		t.Fatalf("%d connections after shutdown", n)
	}
	_, resp, err := e.dial("omt_sup", nil)
	if err == nil || resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("connect after shutdown: %v (%s), want 503", err, status(resp))
	}
	e.bus.Publish(agentState(7, "ready")) // after Run: must not block or panic
}

// A client that has sent nothing for PongWait is dropped at the next ping;
// one that answers the pings stays. The hub's clock is driven by the test.
func TestWebsocketPingPong(t *testing.T) {
	clock := newFakeClock()
	e := newWSEnv(t, func(o *api.HubOptions) {
		o.Clock = clock
		o.PingInterval, o.PongWait, o.RecheckEvery = 25*time.Second, 60*time.Second, time.Hour
	})
	deaf, _, err := e.dial("omt_agent8", nil) // never reads, so never answers a ping
	if err != nil {
		t.Fatal(err)
	}
	defer deaf.Close()
	// When it reads its close frame at the end, the pings queued before it
	// must not be answered: the server may have closed the socket, and
	// gorilla would report the failed pong instead of the close frame.
	deaf.SetPingHandler(func(string) error { return nil })
	alive := e.connect("omt_agent7")
	msgs, pinged := readInBackground(t, alive)

	// Each writer and the recheck loop wait on the clock.
	for tick := 1; tick <= 3; tick++ {
		clock.blockUntil(t, 3)
		clock.advance(25 * time.Second)
		if tick == 3 {
			break // the deaf client's last sign of life was 75s ago
		}
		<-pinged
		// The server reads in order: once it answers our ping, it has
		// read the pong that went before.
		if err := alive.WriteMessage(websocket.TextMessage, []byte(`{"type":"ping"}`)); err != nil {
			t.Fatal(err)
		}
		if m := <-msgs; m["type"] != "pong" {
			t.Fatalf("got %v, want pong", m)
		}
	}
	if code, text := closeCode(t, deaf); code != websocket.CloseGoingAway || text != "no pong or message in time" {
		t.Fatalf("deaf client closed with %d %q, want 1001", code, text)
	}
	<-pinged
	e.bus.Publish(agentState(7, "ready"))
	if m := <-msgs; m["type"] != "agent_state" {
		t.Fatalf("alive client got %v, want its event", m)
	}
}

// readInBackground reads conn on its own goroutine until the test ends (or
// the connection does), handing over messages and telling of each ping
// (answered first, as gorilla's default handler does).
func readInBackground(t *testing.T, conn *websocket.Conn) (<-chan map[string]any, <-chan struct{}) {
	msgs := make(chan map[string]any, 64)
	pinged := make(chan struct{}, 64)
	conn.SetPingHandler(func(data string) error {
		err := conn.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(wsWait))
		pinged <- struct{}{}
		return err
	})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			var m map[string]any
			if err := conn.ReadJSON(&m); err != nil {
				close(msgs)
				return
			}
			msgs <- m
		}
	}()
	t.Cleanup(func() { conn.Close(); <-done })
	return msgs, pinged
}

// Messages from clients are bounded: a large one gets close code 1009.
func TestWebsocketReadLimit(t *testing.T) {
	e := newWSEnv(t, func(o *api.HubOptions) { o.ReadLimit = 512 })
	c := e.connect("omt_agent7")
	if err := c.WriteMessage(websocket.TextMessage, []byte(`{"type":"noop"}`)); err != nil {
		t.Fatal(err)
	}
	if err := c.WriteMessage(websocket.TextMessage, []byte(strings.Repeat("a", 4096))); err != nil {
		t.Fatal(err)
	}
	if code, _ := closeCode(t, c); code != websocket.CloseMessageTooBig {
		t.Fatalf("closed with %d, want 1009", code)
	}
}

func TestWebsocketConnectionsPerUser(t *testing.T) {
	e := newWSEnv(t, func(o *api.HubOptions) { o.MaxConnsPerUser = 2 })
	e.connect("omt_agent7")
	e.connect("omt_agent7")
	_, resp, err := e.dial("omt_agent7", nil)
	if err == nil || resp == nil || resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("third connection: %v (%s), want 429", err, status(resp))
	}
	e.connect("omt_agent8") // others are not affected
}

// fakeClock is the hub's clock in tests: time moves only when advance says,
// and blockUntil waits (without sleeping) until enough timers are set.
type fakeClock struct {
	mu     sync.Mutex
	cond   *sync.Cond
	now    time.Time
	timers []fakeTimer
}

type fakeTimer struct {
	at time.Time
	ch chan time.Time
}

func newFakeClock() *fakeClock {
	c := &fakeClock{now: time.Date(2026, 11, 21, 9, 0, 0, 0, time.UTC)}
	c.cond = sync.NewCond(&c.mu)
	return c
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := make(chan time.Time, 1)
	c.timers = append(c.timers, fakeTimer{c.now.Add(d), ch})
	c.cond.Broadcast()
	return ch
}

// advance moves time on and fires the timers that are due.
func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	keep := c.timers[:0]
	for _, tm := range c.timers {
		if tm.at.After(c.now) {
			keep = append(keep, tm)
		} else {
			tm.ch <- c.now
		}
	}
	c.timers = keep
}

// blockUntil waits until at least n timers are pending (timers of goroutines
// that have ended stay pending: count them).
func (c *fakeClock) blockUntil(t *testing.T, n int) {
	t.Helper()
	stop := context.AfterFunc(t.Context(), func() { c.mu.Lock(); c.cond.Broadcast(); c.mu.Unlock() })
	defer stop()
	c.mu.Lock()
	defer c.mu.Unlock()
	for len(c.timers) < n {
		if t.Context().Err() != nil {
			t.Fatalf("%d timers pending, want %d", len(c.timers), n)
		}
		c.cond.Wait()
	}
}

// fakeWatch resolves queues and teams from tables a test can change.
type fakeWatch struct {
	mu     sync.Mutex
	queues map[string][]int64
	teams  map[int64][]int64
}

func (f *fakeWatch) AgentsWatched(_ context.Context, queues []string, teams []int64) ([]int64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var ids []int64
	for _, q := range queues {
		agents, ok := f.queues[q]
		if !ok {
			return nil, &directory.FieldError{Field: "queues", Message: "no queue is named " + q}
		}
		ids = append(ids, agents...)
	}
	for _, t := range teams {
		ids = append(ids, f.teams[t]...)
	}
	return ids, nil
}

func (f *fakeWatch) setQueue(q string, agents ...int64) {
	f.mu.Lock()
	f.queues[q] = agents
	f.mu.Unlock()
}

func newFakeWatch() *fakeWatch {
	return &fakeWatch{
		queues: map[string][]int64{"sales": {7}, "support": {8}},
		teams:  map[int64][]int64{3: {8}},
	}
}

// connectWith dials with a query string and reads the hello.
func (e *wsEnv) connectWith(token, query string) (*websocket.Conn, map[string]any) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wsWait)
	defer cancel()
	conn, resp, err := websocket.DefaultDialer.DialContext(ctx, e.url+query, http.Header{"Authorization": {"Bearer " + token}})
	if err != nil {
		e.t.Fatalf("dial %s%s: %v (%s)", token, query, err, status(resp))
	}
	e.t.Cleanup(func() { conn.Close() })
	hello := readEvent(e.t, conn)
	if hello["type"] != "hello" {
		e.t.Fatalf("first message %v, want hello", hello)
	}
	return conn, hello
}

// readTypes reads n events and returns "type:agent_id" for each.
func readTypes(t *testing.T, conn *websocket.Conn, n int) string {
	t.Helper()
	var seq []string
	for range n {
		m := readEvent(t, conn)
		seq = append(seq, m["type"].(string)+":"+mustJSON(m["agent_id"]))
	}
	return strings.Join(seq, " ")
}

// A supervisor that names queues or teams receives only the events of their
// agents and the events that name them; one that names nothing, and admins,
// receive everything.
func TestWebsocketSupervisorWatchesQueuesAndTeams(t *testing.T) {
	e := newWSEnv(t, func(o *api.HubOptions) { o.Watch = newFakeWatch() })
	sales, hello := e.connectWith("omt_sup", "?queues=sales")
	if w := mustJSON(hello["watching"]); w != `{"agents":[],"all":false,"queues":["sales"],"teams":[]}` {
		t.Fatalf("hello watching %s", w)
	}
	team3, _ := e.connectWith("omt_sup", "?teams=3")
	agent8, _ := e.connectWith("omt_sup", "?agents=8")
	both, _ := e.connectWith("omt_sup", "?queues=sales&teams=3")
	all := e.connect("omt_sup")
	admin := e.connect("omt_admin")

	e.bus.Publish(agentState(7, "ready"))                                                                                           // agent 7: sales
	e.bus.Publish(agentState(8, "paused"))                                                                                          // agent 8: support, team 3
	e.bus.Publish(events.Event{Type: "queue_summary", Queues: []string{"sales"}})                                                   // names sales
	e.bus.Publish(events.Event{Type: "queue_summary", Queues: []string{"support"}})                                                 // names support
	e.bus.Publish(events.Event{Type: "team_note", Teams: []int64{3}})                                                               // names team 3
	e.bus.Publish(events.Event{Type: "offer", AgentID: 7, Queues: []string{"sales"}, Payload: map[string]int{"agent_id": 7}})       // both: once
	e.bus.Publish(events.Event{Type: "marker", AgentID: 8, Queues: []string{"sales", "x"}, Payload: map[string]int{"agent_id": 8}}) // last for everyone below
	e.bus.Publish(events.Event{Type: "marker", AgentID: 7, Teams: []int64{3}, Payload: map[string]int{"agent_id": 7}})

	for _, tt := range []struct {
		name string
		conn *websocket.Conn
		want string
	}{
		{"queue sales", sales, "agent_state:7 queue_summary:null offer:7 marker:8 marker:7"},
		{"team 3", team3, "agent_state:8 team_note:null marker:8 marker:7"},
		{"agent 8", agent8, "agent_state:8 marker:8"},
		{"sales and team 3", both, "agent_state:7 agent_state:8 queue_summary:null team_note:null offer:7 marker:8 marker:7"},
		{"everything", all, "agent_state:7 agent_state:8 queue_summary:null queue_summary:null team_note:null offer:7 marker:8 marker:7"},
		{"admin", admin, "agent_state:7 agent_state:8 queue_summary:null queue_summary:null team_note:null offer:7 marker:8 marker:7"},
	} {
		n := strings.Count(tt.want, " ") + 1
		if got := readTypes(t, tt.conn, n); got != tt.want {
			t.Errorf("%s got  %s\nwant %s", tt.name, got, tt.want)
		}
	}
	expectNothing(t, agent8, "agent 8's watcher")
}

// Agents cannot widen what they receive; a bad watch is refused before the
// upgrade with the parameter at fault.
func TestWebsocketWatchRefusals(t *testing.T) {
	e := newWSEnv(t, func(o *api.HubOptions) { o.Watch = newFakeWatch() })
	for _, tt := range []struct {
		token, query string
		status       int
		field        string
	}{
		{"omt_agent7", "?queues=sales", 403, "queues"},
		{"omt_agent7", "?all=true", 403, "queues"},
		{"omt_sup", "?teams=three", 400, "teams"},
		{"omt_sup", "?all=maybe", 400, "all"},
		{"omt_sup", "?queues=nosuch", 422, "queues"},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), wsWait)
		conn, resp, err := websocket.DefaultDialer.DialContext(ctx, e.url+tt.query, http.Header{"Authorization": {"Bearer " + tt.token}})
		cancel()
		if err == nil {
			conn.Close()
			t.Fatalf("%s %s: connected, want %d", tt.token, tt.query, tt.status)
		}
		var body apiErr
		if resp == nil || resp.StatusCode != tt.status || json.NewDecoder(resp.Body).Decode(&body) != nil || body.Error.Field != tt.field {
			t.Fatalf("%s %s: %v (%s) %+v, want %d on field %s", tt.token, tt.query, err, status(resp), body, tt.status, tt.field)
		}
	}
}

// A subscribe message changes the watch without reconnecting; the answer
// marks where the new watch starts. Agents are refused.
func TestWebsocketSubscribeMessage(t *testing.T) {
	e := newWSEnv(t, func(o *api.HubOptions) { o.Watch = newFakeWatch() })
	sup := e.connect("omt_sup")
	if err := sup.WriteJSON(map[string]any{"type": "subscribe", "queues": []string{"support"}}); err != nil {
		t.Fatal(err)
	}
	if m := readEvent(t, sup); m["type"] != "subscribed" || mustJSON(m["queues"]) != `["support"]` {
		t.Fatalf("got %v, want subscribed", m)
	}
	e.bus.Publish(agentState(7, "ready"))
	e.bus.Publish(agentState(8, "ready"))
	if got := readTypes(t, sup, 1); got != "agent_state:8" {
		t.Fatalf("got %s, want only agent 8 (support)", got)
	}
	// Back to everything.
	if err := sup.WriteJSON(map[string]any{"type": "subscribe", "all": true}); err != nil {
		t.Fatal(err)
	}
	if m := readEvent(t, sup); m["type"] != "subscribed" || m["all"] != true {
		t.Fatalf("got %v", m)
	}
	e.bus.Publish(agentState(7, "ready"))
	if got := readTypes(t, sup, 1); got != "agent_state:7" {
		t.Fatalf("got %s", got)
	}
	if err := sup.WriteJSON(map[string]any{"type": "subscribe", "queues": []string{"nosuch"}}); err != nil {
		t.Fatal(err)
	}
	if m := readEvent(t, sup); m["type"] != "error" || m["code"] != "invalid_watch" {
		t.Fatalf("got %v, want an invalid_watch error", m)
	}

	alice := e.connect("omt_agent7")
	if err := alice.WriteJSON(map[string]any{"type": "subscribe", "all": true}); err != nil {
		t.Fatal(err)
	}
	if m := readEvent(t, alice); m["type"] != "error" || m["code"] != "forbidden" {
		t.Fatalf("got %v, want forbidden", m)
	}
	e.bus.Publish(agentState(8, "ready"))
	e.bus.Publish(agentState(7, "ready"))
	if got := readTypes(t, alice, 1); got != "agent_state:7" {
		t.Fatalf("alice got %s, want her own event only", got)
	}
}

// The recheck also follows queue membership: an agent who joins a watched
// queue reaches its supervisors from the next round on.
func TestWebsocketWatchFollowsMembership(t *testing.T) {
	watch := newFakeWatch()
	clock := newFakeClock()
	e := newWSEnv(t, func(o *api.HubOptions) {
		o.Watch, o.Clock = watch, clock
		o.RecheckEvery, o.PingInterval = time.Minute, time.Hour
	})
	sup, _ := e.connectWith("omt_sup", "?queues=sales")
	watch.setQueue("sales", 7, 8)
	clock.blockUntil(t, 2)
	clock.advance(time.Minute)
	clock.blockUntil(t, 2) // the round is over
	e.bus.Publish(agentState(8, "ready"))
	if got := readTypes(t, sup, 1); got != "agent_state:8" {
		t.Fatalf("got %s, want agent 8 now in sales", got)
	}
}

// hangingWatch is a directory that does not answer until its caller gives up.
type hangingWatch struct{ entered chan struct{} }

func (h hangingWatch) AgentsWatched(ctx context.Context, _ []string, _ []int64) ([]int64, error) {
	h.entered <- struct{}{}
	<-ctx.Done()
	return nil, ctx.Err()
}

// A subscribe stuck on the directory holds neither the connection's events
// nor shutdown: Run ends it (newWSEnv's cleanup checks every goroutine ends).
func TestWebsocketStuckSubscribeDoesNotHoldShutdown(t *testing.T) {
	watch := hangingWatch{entered: make(chan struct{}, 1)}
	e := newWSEnv(t, func(o *api.HubOptions) { o.Watch, o.RecheckTimeout = watch, time.Hour })
	sup := e.connect("omt_sup")
	if err := sup.WriteJSON(map[string]any{"type": "subscribe", "queues": []string{"sales"}}); err != nil {
		t.Fatal(err)
	}
	<-watch.entered
	e.bus.Publish(agentState(7, "ready"))
	if m := readEvent(t, sup); m["type"] != "agent_state" {
		t.Fatalf("got %v while the subscribe hangs", m)
	}
	e.stop()
	if code, _ := closeCode(t, sup); code != websocket.CloseGoingAway {
		t.Fatalf("closed with %d, want 1001", code)
	}
}

// If the hub falls behind the bus, it cannot know which desktops missed
// what: it closes every connection with 1013 and serves new ones from a
// fresh subscription.
func TestWebsocketHubLagClosesEveryConnection(t *testing.T) {
	e := newWSEnvHeld(t, func(o *api.HubOptions) { o.QueueSize = 2 })
	alice := e.connect("omt_agent7")
	sup := e.connect("omt_sup")
	for _, state := range []string{"ready", "paused", "on_call"} { // one more than the hub holds
		e.bus.Publish(agentState(7, state))
	}
	// The bus has dispatched everything once a later subscriber gets a
	// later event.
	probe := e.bus.Subscribe(events.Everything, 0)
	e.bus.Publish(events.Event{Type: "probe"})
	<-probe.C()
	probe.Close()
	close(e.release)
	for name, c := range map[string]*websocket.Conn{"alice": alice, "supervisor": sup} {
		// Some of the events the hub held may come first: a closing
		// connection does not flush its buffer.
		if code, text := closeCode(t, c); code != websocket.CloseTryAgainLater || !strings.Contains(text, "re-read state") {
			t.Fatalf("%s closed with %d %q, want 1013", name, code, text)
		}
	}
	again := e.connect("omt_agent7")
	e.bus.Publish(agentState(7, "ready"))
	if got := readTypes(t, again, 1); got != "agent_state:7" {
		t.Fatalf("after the lag got %s", got)
	}
}

// A hub given no bus makes and runs its own; Publish feeds it.
func TestWebsocketHubWithoutABus(t *testing.T) {
	before := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, before) })
	hub, err := api.NewHub(api.HubOptions{Auth: wsUsers})
	if err != nil {
		t.Fatal(err)
	}
	s, err := api.New(api.Options{Mounts: []func(*api.Router){hub.Mount}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- hub.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	conn, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(srv.URL, "http")+"/api/v1/ws", http.Header{"Authorization": {"Bearer omt_agent7"}})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	readEvent(t, conn) // hello
	hub.Publish(agentState(7, "ready"))
	if m := readEvent(t, conn); m["type"] != "agent_state" {
		t.Fatalf("got %v", m)
	}
}
