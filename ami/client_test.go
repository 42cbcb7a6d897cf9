package ami_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"go.uber.org/goleak"

	"omnicc/ami"
	"omnicc/ami/amitest"
)

const (
	testUser   = "omnicc"
	testSecret = "s3cret:with@odd chars"
	// wait bounds every wait for something that should happen at once; it
	// is generous because the race detector on two shared cores is slow.
	wait = 10 * time.Second
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// checkLeaks fails the test if it leaves goroutines behind. Registered first,
// it runs after every other cleanup (the server's and the client's).
func checkLeaks(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) })
}

// syncBuffer collects log output from several goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func testConfig(t *testing.T, srv *amitest.Server) ami.Config {
	return ami.Config{
		Addr:          srv.Addr(),
		Username:      testUser,
		Secret:        testSecret,
		PingInterval:  time.Hour, // tests of the keepalive lower it
		ActionTimeout: wait,
		DialTimeout:   wait,
		BackoffMin:    5 * time.Millisecond,
		BackoffMax:    50 * time.Millisecond,
		Logger:        slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
}

// start runs c until the test ends, then stops it and checks Run returned
// nil.
func start(t *testing.T, c *ami.Client) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run returned %v, want nil after cancel", err)
			}
		case <-time.After(wait):
			t.Error("Run did not return after cancel")
		}
	})
}

// connected starts a client against srv and waits for its login.
func connected(t *testing.T, srv *amitest.Server, mod func(*ami.Config)) *ami.Client {
	t.Helper()
	c := newClient(t, srv, mod)
	startAndWait(t, srv, c)
	return c
}

func newClient(t *testing.T, srv *amitest.Server, mod func(*ami.Config)) *ami.Client {
	t.Helper()
	cfg := testConfig(t, srv)
	if mod != nil {
		mod(&cfg)
	}
	c, err := ami.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func startAndWait(t *testing.T, srv *amitest.Server, c *ami.Client) {
	t.Helper()
	logins := srv.Logins()
	start(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := srv.WaitLogins(ctx, logins+1); err != nil {
		t.Fatalf("client never logged in: %v", err)
	}
	for !c.Connected() {
		if ctx.Err() != nil {
			t.Fatal("client logged in but never reported Connected")
		}
		time.Sleep(time.Millisecond)
	}
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	t.Cleanup(cancel)
	return ctx
}

// receive reads n events from sub or fails.
func receive(t *testing.T, sub *ami.Subscription, n int) []ami.Event {
	t.Helper()
	var out []ami.Event
	timeout := time.After(wait)
	for len(out) < n {
		select {
		case ev, ok := <-sub.Events():
			if !ok {
				t.Fatalf("subscription ended after %d of %d events: %v", len(out), n, sub.Err())
			}
			out = append(out, ev)
		case <-timeout:
			t.Fatalf("got %d of %d events", len(out), n)
		}
	}
	return out
}

func TestConfigValidate(t *testing.T) {
	ok := ami.Config{Addr: "pbx:5038", Username: "u", Secret: "s"}
	tests := []struct {
		name string
		mod  func(*ami.Config)
		want string // substring of the error; "" means valid
	}{
		{"valid", func(*ami.Config) {}, ""},
		{"no address", func(c *ami.Config) { c.Addr = "" }, "OMNICC_AMI"},
		{"address without port", func(c *ami.Config) { c.Addr = "pbx" }, "host:port"},
		{"no username", func(c *ami.Config) { c.Username = "" }, "OMNICC_AMI"},
		{"no secret", func(c *ami.Config) { c.Secret = "" }, "no default credentials"},
		{"negative timeout", func(c *ami.Config) { c.ActionTimeout = -time.Second }, "ActionTimeout"},
		{"backoff bounds swapped", func(c *ami.Config) { c.BackoffMin, c.BackoffMax = time.Minute, time.Second }, "BackoffMin"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := ok
			tt.mod(&cfg)
			_, err := ami.NewClient(cfg)
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("got %v, want an error mentioning %q", err, tt.want)
			}
		})
	}
}

func TestLoginAndOnConnect(t *testing.T) {
	checkLeaks(t)
	srv := amitest.NewServer(t, testUser, testSecret)
	hooked := make(chan *ami.Client, 1)
	c := connected(t, srv, func(cfg *ami.Config) {
		cfg.OnConnect = func(ctx context.Context, c *ami.Client) error { hooked <- c; return nil }
	})
	select {
	case got := <-hooked:
		if got != c {
			t.Fatal("OnConnect got another client")
		}
	case <-time.After(wait):
		t.Fatal("OnConnect not called")
	}
	login := srv.Actions("Login")[0]
	for k, want := range map[string]string{"Username": testUser, "Secret": testSecret, "Events": "on"} {
		if got := login.Get(k); got != want {
			t.Errorf("Login %s: got %q, want %q", k, got, want)
		}
	}
	if login.ActionID() == "" {
		t.Error("Login sent without ActionID")
	}
	if c.Box() != srv.Addr() {
		t.Errorf("Box defaults to Addr: got %q", c.Box())
	}
	var logged bytes.Buffer
	slog.New(slog.NewTextHandler(&logged, nil)).Info("config", "ami", testConfig(t, srv))
	if strings.Contains(logged.String(), testSecret) {
		t.Errorf("a logged Config shows the secret: %s", logged.String())
	}
}

func TestActionNotConnected(t *testing.T) {
	c, err := ami.NewClient(ami.Config{Addr: "127.0.0.1:1", Username: "u", Secret: "s"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Action(context.Background(), ami.NewAction("Ping"))
	if !errors.Is(err, ami.ErrNotConnected) {
		t.Fatalf("got %v, want ErrNotConnected", err)
	}
	if _, _, err := c.ActionList(context.Background(), ami.NewAction("QueueStatus")); !errors.Is(err, ami.ErrNotConnected) {
		t.Fatalf("ActionList: got %v, want ErrNotConnected", err)
	}
}

// fakeClock fires every After at once and records the delays asked for.
type fakeClock struct {
	mu     sync.Mutex
	delays []time.Duration
}

func (f *fakeClock) Now() time.Time { return time.Now() }

func (f *fakeClock) After(d time.Duration) <-chan time.Time {
	f.mu.Lock()
	f.delays = append(f.delays, d)
	f.mu.Unlock()
	ch := make(chan time.Time, 1)
	ch <- time.Now()
	return ch
}

func (f *fakeClock) recorded() []time.Duration {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]time.Duration(nil), f.delays...)
}

// A refused Login is logged with Asterisk's message and retried with capped,
// jittered exponential backoff; the client never reports connected.
func TestLoginRefusedRetriesWithBackoff(t *testing.T) {
	checkLeaks(t)
	srv := amitest.NewServer(t, testUser, testSecret)
	var logs syncBuffer
	clock := &fakeClock{}
	cfg := testConfig(t, srv)
	cfg.Secret = "wrong"
	cfg.BackoffMin, cfg.BackoffMax = 10*time.Millisecond, 80*time.Millisecond
	cfg.Clock = clock
	cfg.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	c, err := ami.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	start(t, c)
	if _, err := srv.WaitActions(testCtx(t), "Login", 7); err != nil {
		t.Fatal(err)
	}
	if c.Connected() || srv.Logins() != 0 {
		t.Fatal("connected with a wrong secret")
	}
	delays := clock.recorded()[:6]
	bases := []time.Duration{10, 20, 40, 80, 80, 80}
	for i, d := range delays {
		base := bases[i] * time.Millisecond
		if d < base/2 || d > base {
			t.Errorf("retry %d waited %s, want within [%s, %s]", i+1, d, base/2, base)
		}
	}
	out := logs.String()
	for _, want := range []string{"Authentication failed", "OMNICC_AMI", "AMI login refused"} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "wrong") {
		t.Error("the secret was logged")
	}
}

// Many goroutines share one connection; each gets its own reply, while
// events interleave with the replies.
func TestConcurrentActions(t *testing.T) {
	checkLeaks(t)
	srv := amitest.NewServer(t, testUser, testSecret)
	srv.Handle("Setvar", func(a ami.Message) []ami.Message {
		return []ami.Message{amitest.Success("Message", "Variable Set", "Echo", a.Get("Value"))}
	})
	c := connected(t, srv, nil)
	sub := c.Subscribe(0)
	defer sub.Close()

	const workers, each = 16, 40
	stopPush := make(chan struct{})
	var pushes sync.WaitGroup
	pushes.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-stopPush:
				return
			default:
			}
			srv.Push(ami.NewMessage("Event", "VarSet", "Variable", "N", "Value", strconv.Itoa(i)))
			time.Sleep(100 * time.Microsecond)
		}
	})
	var wg sync.WaitGroup
	var failures atomic.Int32
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				want := fmt.Sprintf("w%d-%d", w, i)
				resp, err := c.Action(testCtx(t), ami.NewAction("Setvar", "Variable", "X", "Value", want))
				if err != nil || resp.Get("Echo") != want {
					failures.Add(1)
					t.Errorf("worker %d: got %q, %v; want %q", w, resp.Get("Echo"), err, want)
					return
				}
			}
		})
	}
	wg.Wait()
	close(stopPush)
	pushes.Wait()
	if failures.Load() > 0 {
		return
	}
	ids := map[string]bool{}
	for _, a := range srv.Actions("Setvar") {
		if ids[a.ActionID()] {
			t.Fatalf("ActionID %q used twice", a.ActionID())
		}
		ids[a.ActionID()] = true
	}
	if len(ids) != workers*each {
		t.Fatalf("server saw %d Setvar, want %d", len(ids), workers*each)
	}
}

// Replies that come back in another order than the actions went out still
// reach their callers.
func TestRepliesOutOfOrder(t *testing.T) {
	checkLeaks(t)
	srv := amitest.NewServer(t, testUser, testSecret)
	srv.Handle("Getvar", amitest.NoReply)
	c := connected(t, srv, nil)

	const n = 10
	type result struct {
		variable, value string
		err             error
	}
	results := make(chan result, n)
	for i := range n {
		go func() {
			v := fmt.Sprintf("VAR%d", i)
			resp, err := c.Action(testCtx(t), ami.NewAction("Getvar", "Variable", v))
			results <- result{v, resp.Get("Value"), err}
		}()
	}
	got, err := srv.WaitActions(testCtx(t), "Getvar", n)
	if err != nil {
		t.Fatal(err)
	}
	for i := len(got) - 1; i >= 0; i-- {
		a := got[i]
		srv.Push(amitest.Success("ActionID", a.ActionID(), "Variable", a.Get("Variable"), "Value", "value of "+a.Get("Variable")))
	}
	for range n {
		r := <-results
		if r.err != nil || r.value != "value of "+r.variable {
			t.Errorf("%s: got %q, %v", r.variable, r.value, r.err)
		}
	}
}

func TestActionListFromCapture(t *testing.T) {
	checkLeaks(t)
	srv := amitest.NewServer(t, testUser, testSecret)
	srv.ReplyFrom(amitest.LoadCapture(t, amitest.Actions))
	c := connected(t, srv, nil)

	tests := []struct {
		action    string
		wantItems []string // event names of the items, in order
		wantReply string
	}{
		{
			action:    "QueueStatus", // first capture: queue sales, member paused
			wantItems: []string{"QueueParams", "QueueMember"},
			wantReply: "Queue status will follow",
		},
		{
			action:    "QueueStatus", // second capture: all queues
			wantItems: []string{"QueueParams", "QueueMember", "QueueParams", "QueueMember", "QueueMember"},
			wantReply: "Queue status will follow",
		},
		{action: "CoreShowChannels", wantItems: []string{"CoreShowChannel", "CoreShowChannel", "CoreShowChannel", "CoreShowChannel"}, wantReply: "Channels will follow"},
		{action: "PJSIPShowEndpoints", wantItems: []string{"EndpointList", "EndpointList"}},
		{action: "Status", wantItems: nil, wantReply: "Channel status will follow"},
	}
	for _, tt := range tests {
		t.Run(tt.action, func(t *testing.T) {
			resp, items, err := c.ActionList(testCtx(t), ami.NewAction(tt.action))
			if err != nil {
				t.Fatal(err)
			}
			if tt.wantReply != "" && resp.Get("Message") != tt.wantReply {
				t.Errorf("response: %v", resp)
			}
			var names []string
			for _, it := range items {
				names = append(names, it.Event())
				if it.ActionID() != resp.ActionID() {
					t.Errorf("item %s has ActionID %q, response %q", it.Event(), it.ActionID(), resp.ActionID())
				}
			}
			if strings.Join(names, ",") != strings.Join(tt.wantItems, ",") {
				t.Errorf("items: got %v, want %v", names, tt.wantItems)
			}
		})
	}

	// The member of the first capture, with QueueStatus's own field names.
	srv2 := amitest.NewServer(t, testUser, testSecret)
	srv2.ReplyFrom(amitest.LoadCapture(t, amitest.Actions))
	c2 := connected(t, srv2, nil)
	_, items, err := c2.ActionList(testCtx(t), ami.NewAction("QueueStatus", "Queue", "sales"))
	if err != nil {
		t.Fatal(err)
	}
	m := items[1]
	for k, want := range map[string]string{"Name": "Agent 200", "Location": "Local/200@agents-test/n", "Paused": "1", "PausedReason": "lunch break"} {
		if got := m.Get(k); got != want {
			t.Errorf("QueueMember %s: got %q, want %q", k, got, want)
		}
	}
}

// List items interleaved with unrelated events: the items are collected, the
// events go to subscribers, and the Complete event ends the list.
func TestActionListInterleavedEvents(t *testing.T) {
	checkLeaks(t)
	srv := amitest.NewServer(t, testUser, testSecret)
	ev := func(n string) ami.Message {
		return ami.NewMessage("Event", "DeviceStateChange", "Device", n, "State", "INUSE")
	}
	srv.Handle("DeviceStateList", amitest.Reply(
		ev("before"),
		amitest.Success("EventList", "start", "Message", "Device State Changes will follow"),
		ami.NewMessage("Event", "DeviceStateChange", "Device", "PJSIP/alice", "State", "NOT_INUSE", "ActionID", ""),
		ev("between"),
		ami.NewMessage("Event", "DeviceStateChange", "Device", "PJSIP/bob", "State", "UNAVAILABLE", "ActionID", ""),
		ami.NewMessage("Event", "DeviceStateListComplete", "ActionID", "", "EventList", "Complete", "ListItems", "2"),
		ev("after"),
	))
	// Subscribed before connecting, so the login's FullyBooted is always
	// the first event, not one that may or may not be seen.
	c := newClient(t, srv, nil)
	sub := c.Subscribe(0)
	defer sub.Close()
	startAndWait(t, srv, c)
	_, items, err := c.ActionList(testCtx(t), ami.NewAction("DeviceStateList"))
	if err != nil {
		t.Fatal(err)
	}
	if len(items) != 2 || items[0].Get("Device") != "PJSIP/alice" || items[1].Get("Device") != "PJSIP/bob" {
		t.Fatalf("items: %v", items)
	}
	got := receive(t, sub, 4)
	if got[0].Event() != "FullyBooted" {
		t.Fatalf("first event %v, want the login's FullyBooted", got[0].Message)
	}
	got = got[1:]
	for i, want := range []string{"before", "between", "after"} {
		if got[i].Get("Device") != want || got[i].Box != c.Box() || got[i].Received.IsZero() {
			t.Errorf("event %d: got %v (box %q)", i, got[i].Message, got[i].Box)
		}
	}
}

func TestCommandOutputIntact(t *testing.T) {
	checkLeaks(t)
	srv := amitest.NewServer(t, testUser, testSecret)
	srv.ReplyFrom(amitest.LoadCapture(t, amitest.Actions))
	lines := []string{"Channel              Location             State   Application(Data)", "   0 active channels", "", "key: value: more"}
	kv := []string{"Message", "Command output follows"}
	for _, l := range lines {
		kv = append(kv, "Output", l)
	}
	srv.Handle("Command", amitest.Reply(amitest.Success(kv...)))
	c := connected(t, srv, nil)
	got, err := c.Command(testCtx(t), "core show channels")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(got, "\n") != strings.Join(lines, "\n") || len(got) != len(lines) {
		t.Fatalf("output lines:\n got %q\nwant %q", got, lines)
	}

	srv.Handle("Command", nil) // back to the captured answer
	got, err = c.Command(testCtx(t), "core show version")
	if err != nil || len(got) != 1 || !strings.HasPrefix(got[0], "Asterisk 22.10.1") {
		t.Fatalf("core show version: %q, %v", got, err)
	}
}

func TestActionErrorTyped(t *testing.T) {
	checkLeaks(t)
	srv := amitest.NewServer(t, testUser, testSecret)
	srv.ReplyFrom(amitest.LoadCapture(t, amitest.Actions))
	srv.Handle("QueuePause", amitest.Reply(amitest.Error("Interface not found")))
	srv.Handle("QueueStatus", amitest.Reply(amitest.Error("Permission denied")))
	c := connected(t, srv, nil)

	tests := []struct {
		name    string
		list    bool
		action  ami.Message
		message string
	}{
		{"scripted QueuePause error", false, ami.NewAction("QueuePause", "Interface", "Local/999@nowhere", "Paused", "true"), "Interface not found"},
		{"unknown action, as captured", false, ami.NewAction("NoSuchAction"), "Invalid/unknown command: NoSuchAction. Use Action: ListCommands to show available commands."},
		{"list action refused", true, ami.NewAction("QueueStatus"), "Permission denied"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var resp ami.Response
			var err error
			if tt.list {
				resp, _, err = c.ActionList(testCtx(t), tt.action)
			} else {
				resp, err = c.Action(testCtx(t), tt.action)
			}
			var ae *ami.ActionError
			if !errors.As(err, &ae) {
				t.Fatalf("got %v, want *ActionError", err)
			}
			if !errors.Is(err, ami.ErrRejected) {
				t.Error("errors.Is(err, ErrRejected) is false")
			}
			if ae.Message != tt.message || ae.Action != tt.action.Get("Action") || ae.Box != c.Box() {
				t.Errorf("ActionError: %+v", ae)
			}
			if !strings.Contains(err.Error(), tt.message) {
				t.Errorf("error text lacks Asterisk's message: %v", err)
			}
			if resp.Get("Response") != "Error" {
				t.Errorf("the Response is returned with the error: %v", resp)
			}
		})
	}
}

func TestActionTimeout(t *testing.T) {
	checkLeaks(t)
	// On synctest's clock over in-memory connections: the timeouts take no
	// test time and cannot be flaky on a loaded machine.
	synctest.Test(t, func(t *testing.T) {
		srv := amitest.NewPipeServer(t, testUser, testSecret)
		srv.Handle("QueueStatus", amitest.NoReply)
		c := connected(t, srv, func(cfg *ami.Config) { cfg.ActionTimeout = 100 * time.Millisecond; cfg.Dial = srv.Dial })

		start := time.Now()
		if _, err := c.Action(context.Background(), ami.NewAction("QueueStatus")); !errors.Is(err, ami.ErrTimeout) {
			t.Fatalf("Config.ActionTimeout: got %v, want ErrTimeout", err)
		}
		if took := time.Since(start); took != 100*time.Millisecond {
			t.Errorf("Config.ActionTimeout: the action failed after %s, want 100ms", took)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		if _, _, err := c.ActionList(ctx, ami.NewAction("QueueStatus")); !errors.Is(err, ami.ErrTimeout) {
			t.Fatalf("context deadline: got %v, want ErrTimeout", err)
		}
		ctx, cancel = context.WithCancel(context.Background())
		cancel()
		if _, err := c.Action(ctx, ami.NewAction("QueueStatus")); !errors.Is(err, context.Canceled) {
			t.Fatalf("cancelled context: got %v, want context.Canceled", err)
		}
		// The connection is still fine: a late reply for a forgotten action is
		// dropped and the next action works.
		srv.Push(amitest.Success("ActionID", srv.Actions("QueueStatus")[0].ActionID()))
		if _, err := c.Action(context.Background(), ami.NewAction("Ping")); err != nil {
			t.Fatalf("Ping after timeouts: %v", err)
		}
	})
}

// The server drops the connection mid-stream — half a message on the wire,
// an action waiting for its reply — and the client reconnects, calls
// OnConnect again and delivers the events that follow.
func TestReconnectAfterDrop(t *testing.T) {
	checkLeaks(t)
	srv := amitest.NewServer(t, testUser, testSecret)
	srv.Handle("Originate", amitest.NoReply)
	events, err := amitest.LoadCapture(t, amitest.QueueEvents).Events()
	if err != nil {
		t.Fatal(err)
	}
	var connects atomic.Int32
	disconnects := make(chan error, 4)
	c := newClient(t, srv, func(cfg *ami.Config) {
		cfg.OnConnect = func(ctx context.Context, c *ami.Client) error { connects.Add(1); return nil }
		cfg.OnDisconnect = func(c *ami.Client, err error) { disconnects <- err }
	})
	sub := c.Subscribe(0)
	defer sub.Close()
	startAndWait(t, srv, c)
	if ev := receive(t, sub, 1)[0]; ev.Event() != "FullyBooted" {
		t.Fatalf("first event after login: %v", ev.Message)
	}
	first, second := events[:200], events[200:]
	srv.Push(first...)
	got := receive(t, sub, len(first))
	for i := range first {
		if !got[i].Equal(first[i]) {
			t.Fatalf("event %d: got %v, want %v", i, got[i].Message, first[i])
		}
	}

	inflight := make(chan error, 1)
	go func() {
		_, err := c.Action(context.Background(), ami.NewAction("Originate", "Channel", "PJSIP/alice"))
		inflight <- err
	}()
	if _, err := srv.WaitActions(testCtx(t), "Originate", 1); err != nil {
		t.Fatal(err)
	}
	srv.PushRaw([]byte("Event: QueueMemberPause\r\nQueue: sa"))
	srv.Drop()

	select {
	case err := <-inflight:
		if !errors.Is(err, ami.ErrNotConnected) {
			t.Fatalf("in-flight action: got %v, want ErrNotConnected", err)
		}
	case <-time.After(wait):
		t.Fatal("in-flight action not released by the drop")
	}
	select {
	case err := <-disconnects:
		if err == nil {
			t.Error("OnDisconnect without a reason")
		}
	case <-time.After(wait):
		t.Fatal("OnDisconnect not called")
	}
	if err := srv.WaitLogins(testCtx(t), 2); err != nil {
		t.Fatal("no reconnect:", err)
	}
	for connects.Load() < 2 {
		time.Sleep(time.Millisecond)
	}
	srv.Push(second...)
	got = receive(t, sub, len(second)+1) // + FullyBooted of the new login
	if got[0].Event() != "FullyBooted" {
		t.Fatalf("first event after reconnect: %v (the half message must be dropped)", got[0].Message)
	}
	for i := range second {
		if !got[i+1].Equal(second[i]) {
			t.Fatalf("event %d after reconnect: got %v, want %v", i, got[i+1].Message, second[i])
		}
	}
}

// An Asterisk restart: the port refuses connections for a moment.
func TestReconnectAfterRestart(t *testing.T) {
	checkLeaks(t)
	srv := amitest.NewServer(t, testUser, testSecret)
	var connects atomic.Int32
	c := connected(t, srv, func(cfg *ami.Config) {
		cfg.OnConnect = func(ctx context.Context, c *ami.Client) error { connects.Add(1); return nil }
	})
	srv.Restart()
	if err := srv.WaitLogins(testCtx(t), 2); err != nil {
		t.Fatal("no reconnect after restart:", err)
	}
	for !c.Connected() || connects.Load() < 2 {
		time.Sleep(time.Millisecond)
	}
	if _, err := c.Action(testCtx(t), ami.NewAction("Ping")); err != nil {
		t.Fatal(err)
	}
}

// Asterisk stops answering (a half-open TCP connection): the missed pong
// drops the connection and the client logs in again.
func TestMissedPongReconnects(t *testing.T) {
	checkLeaks(t)
	synctest.Test(t, func(t *testing.T) {
		srv := amitest.NewPipeServer(t, testUser, testSecret)
		disconnects := make(chan error, 8)
		connected(t, srv, func(cfg *ami.Config) {
			cfg.PingInterval = 20 * time.Millisecond
			cfg.ActionTimeout = 100 * time.Millisecond
			cfg.OnDisconnect = func(c *ami.Client, err error) { disconnects <- err }
			cfg.Dial = srv.Dial
		})
		if _, err := srv.WaitActions(testCtx(t), "Ping", 2); err != nil {
			t.Fatal("no keepalive:", err)
		}
		srv.Handle("Ping", amitest.NoReply)
		start := time.Now()
		select {
		case err := <-disconnects:
			if !errors.Is(err, ami.ErrTimeout) || !strings.Contains(err.Error(), "keepalive") {
				t.Fatalf("disconnect reason: %v", err)
			}
			// The next ping is due within PingInterval, and times out
			// ActionTimeout after it.
			if took := time.Since(start); took > 120*time.Millisecond {
				t.Errorf("the missed pong dropped the connection after %s", took)
			}
		case <-time.After(wait):
			t.Fatal("missed pong did not drop the connection")
		}
		if err := srv.WaitLogins(testCtx(t), 2); err != nil {
			t.Fatal("no reconnect:", err)
		}
	})
}

// A subscriber that never reads neither blocks the reader nor delays action
// replies; it is ended with ErrOverflow while a fast one receives everything.
func TestSlowSubscriberDoesNotBlock(t *testing.T) {
	checkLeaks(t)
	srv := amitest.NewServer(t, testUser, testSecret)
	c := connected(t, srv, nil)
	slow := c.Subscribe(8)
	fast := c.Subscribe(0)
	defer fast.Close()

	const n = 3000
	var batch []ami.Message
	for i := range n {
		batch = append(batch, ami.NewMessage("Event", "VarSet", "Value", strconv.Itoa(i)))
	}
	srv.Push(batch...)
	if _, err := c.Action(testCtx(t), ami.NewAction("Ping")); err != nil {
		t.Fatalf("action reply blocked behind a slow subscriber: %v", err)
	}
	got := receive(t, fast, n)
	if got[n-1].Get("Value") != strconv.Itoa(n-1) {
		t.Fatalf("fast subscriber lost events: last %v", got[n-1].Message)
	}
	// The slow one holds its 8 buffered events, then its channel is closed.
	count := 0
	for range slow.Events() {
		count++
	}
	if count != 8 || !errors.Is(slow.Err(), ami.ErrOverflow) {
		t.Fatalf("slow subscriber: %d events, err %v; want 8, ErrOverflow", count, slow.Err())
	}
	// A new subscription works: the way to resync.
	again := c.Subscribe(0)
	defer again.Close()
	srv.Push(ami.NewMessage("Event", "FullyBooted"))
	receive(t, again, 1)
	slow.Close() // harmless after overflow
	if !errors.Is(slow.Err(), ami.ErrOverflow) {
		t.Fatal("Close must keep the overflow reason")
	}
}

// OnConnect can run actions while events keep arriving: the resync does not
// stall the reader, and the reader does not wait for the resync.
func TestOnConnectResyncWhileEventsFlow(t *testing.T) {
	checkLeaks(t)
	srv := amitest.NewServer(t, testUser, testSecret)
	srv.ReplyFrom(amitest.LoadCapture(t, amitest.Actions))
	eventsSeen := make(chan struct{})
	resynced := make(chan []ami.Message, 1)
	var sub *ami.Subscription
	cfg := testConfig(t, srv)
	cfg.OnConnect = func(ctx context.Context, c *ami.Client) error {
		_, members, err := c.ActionList(ctx, ami.NewAction("QueueStatus"))
		if err != nil {
			return err
		}
		// Hold the hook until the test saw events arrive meanwhile.
		select {
		case <-eventsSeen:
		case <-ctx.Done():
			return ctx.Err()
		}
		_, channels, err := c.ActionList(ctx, ami.NewAction("CoreShowChannels"))
		if err != nil {
			return err
		}
		resynced <- append(members, channels...)
		return nil
	}
	c, err := ami.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	sub = c.Subscribe(0)
	defer sub.Close()
	start(t, c)
	if _, err := srv.WaitActions(testCtx(t), "QueueStatus", 1); err != nil {
		t.Fatal(err)
	}
	srv.Push(ami.NewMessage("Event", "QueueMemberPause", "Queue", "sales", "Interface", "PJSIP/alice", "Paused", "1"))
	for {
		ev := receive(t, sub, 1)[0]
		if ev.Event() == "QueueMemberPause" {
			break
		}
	}
	close(eventsSeen)
	select {
	case items := <-resynced:
		if len(items) != 2+4 { // QueueParams+QueueMember, 4 channels
			t.Fatalf("resync items: %d", len(items))
		}
	case <-time.After(wait):
		t.Fatal("resync did not finish")
	}
}

// A failing resync drops the connection so that the next login resyncs
// again: state is never left unsynced.
func TestOnConnectErrorReconnects(t *testing.T) {
	checkLeaks(t)
	srv := amitest.NewServer(t, testUser, testSecret)
	var calls atomic.Int32
	connected(t, srv, func(cfg *ami.Config) {
		cfg.OnConnect = func(ctx context.Context, c *ami.Client) error {
			if calls.Add(1) == 1 {
				return errors.New("store unavailable")
			}
			return nil
		}
	})
	if err := srv.WaitLogins(testCtx(t), 2); err != nil {
		t.Fatal(err)
	}
	for calls.Load() < 2 {
		time.Sleep(time.Millisecond)
	}
}

func TestRunTwice(t *testing.T) {
	checkLeaks(t)
	srv := amitest.NewServer(t, testUser, testSecret)
	c := connected(t, srv, nil)
	if err := c.Run(context.Background()); err == nil {
		t.Fatal("second Run must fail")
	}
}

// A peer that is not Asterisk (wrong port in OMNICC_AMI) is never logged in
// to, and the log says what to check.
func TestNotAnAsteriskPeer(t *testing.T) {
	checkLeaks(t)
	var logs syncBuffer
	srv := amitest.NewServer(t, testUser, testSecret)
	cfg := testConfig(t, srv)
	cfg.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	cfg.Dial = func(ctx context.Context, network, addr string) (net.Conn, error) {
		a, b := net.Pipe()
		go func() {
			_, _ = io.WriteString(b, "SSH-2.0-OpenSSH_9.2\r\n")
			_, _ = io.Copy(io.Discard, b)
		}()
		return a, nil
	}
	c, err := ami.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	start(t, c)
	deadline := time.Now().Add(wait)
	for !strings.Contains(logs.String(), "manager port") {
		if time.Now().After(deadline) {
			t.Fatalf("log: %s", logs.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// A peer sending a line beyond Limits is cut off and the client logs in
// again, instead of buffering without bound.
func TestOversizedLineReconnects(t *testing.T) {
	checkLeaks(t)
	srv := amitest.NewServer(t, testUser, testSecret)
	disconnects := make(chan error, 4)
	c := connected(t, srv, func(cfg *ami.Config) {
		cfg.Limits = ami.Limits{MaxLineBytes: 1024}
		cfg.OnDisconnect = func(c *ami.Client, err error) { disconnects <- err }
	})
	srv.PushRaw([]byte("Event: VarSet\r\nValue: " + strings.Repeat("x", 4096) + "\r\n\r\n"))
	select {
	case err := <-disconnects:
		if !errors.Is(err, ami.ErrMalformed) {
			t.Fatalf("disconnect reason: %v, want ErrMalformed", err)
		}
	case <-time.After(wait):
		t.Fatal("oversized line did not drop the connection")
	}
	if err := srv.WaitLogins(testCtx(t), 2); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(wait); !c.Connected(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("not connected again")
		}
	}
}

// Asterisk accepts manager logins while it still loads its modules
// (QueueStatus is then "Invalid/unknown command", seen on a real Asterisk
// 22.10.1 started after omniccd): OnConnect's resync waits for FullyBooted.
func TestOnConnectWaitsForFullyBooted(t *testing.T) {
	checkLeaks(t)
	srv := amitest.NewServer(t, testUser, testSecret)
	srv.Booting()
	ran := make(chan struct{}, 4)
	c := newClient(t, srv, func(cfg *ami.Config) {
		cfg.OnConnect = func(context.Context, *ami.Client) error {
			ran <- struct{}{}
			return nil
		}
	})
	startAndWait(t, srv, c)
	// A Ping round trip: had OnConnect been started without waiting, it
	// would have run by now.
	if _, err := c.Action(testCtx(t), ami.NewAction("Ping")); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ran:
		t.Fatal("OnConnect ran before Asterisk said FullyBooted")
	default:
	}
	srv.Booted()
	select {
	case <-ran:
	case <-time.After(wait):
		t.Fatal("OnConnect did not run after FullyBooted")
	}
}

// A manager user without read=system never gets FullyBooted: OnConnect
// runs after BootWait anyway.
func TestOnConnectRunsAfterBootWaitWithoutFullyBooted(t *testing.T) {
	checkLeaks(t)
	srv := amitest.NewServer(t, testUser, testSecret)
	srv.Booting()
	ran := make(chan struct{}, 4)
	c := newClient(t, srv, func(cfg *ami.Config) {
		cfg.BootWait = 50 * time.Millisecond
		cfg.OnConnect = func(context.Context, *ami.Client) error {
			ran <- struct{}{}
			return nil
		}
	})
	startAndWait(t, srv, c)
	select {
	case <-ran:
	case <-time.After(wait):
		t.Fatal("OnConnect never ran without FullyBooted")
	}
}
