package openchannel_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"omnicc/api"
	"omnicc/auth"
	"omnicc/channels/openchannel"
	"omnicc/directory"
	"omnicc/presence"
	"omnicc/router"
	"omnicc/store"
	"omnicc/storetest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// instantClock moves time forward by whatever is waited for and fires at
// once: backoff is exercised in full without the test sleeping.
type instantClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *instantClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *instantClock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	c.now = c.now.Add(d)
	now := c.now
	c.mu.Unlock()
	ch := make(chan time.Time, 1)
	ch <- now
	return ch
}

type nopQueues struct{}

func (nopQueues) QueueAdd(context.Context, presence.Member) error                { return nil }
func (nopQueues) QueueRemove(context.Context, string, string) error              { return nil }
func (nopQueues) QueuePause(context.Context, string, string, bool, string) error { return nil }
func (nopQueues) QueuePenalty(context.Context, string, string, int) error        { return nil }

// statuses passes on the delivery statuses the router publishes.
type statuses chan string

func (s statuses) Publish(e presence.Event) {
	if me, ok := e.Payload.(router.MessageEvent); ok && me.Message.Direction == router.DirectionOut && me.Message.Status != router.MessagePending {
		s <- me.Message.Status
	}
}

// integrator is the reply_url: it records each POST and answers 500 to the
// first `failures` of them.
type integrator struct {
	mu       sync.Mutex
	failures int
	got      chan capturedReply
}

type capturedReply struct {
	sig  string
	body []byte
}

func (g *integrator) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	g.got <- capturedReply{sig: r.Header.Get(openchannel.SignatureHeader), body: b}
	g.mu.Lock()
	fail := g.failures > 0
	g.failures--
	g.mu.Unlock()
	if fail {
		http.Error(w, "busy", http.StatusInternalServerError)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func call(t *testing.T, method, url, token string, body any, out any) int {
	t.Helper()
	raw, _ := json.Marshal(body)
	req, _ := http.NewRequestWithContext(t.Context(), method, url, bytes.NewReader(raw))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if out != nil {
		_ = json.NewDecoder(resp.Body).Decode(out)
	}
	return resp.StatusCode
}

func TestOpenChannelEndToEnd(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := t.Context()
		str := func(s string) *string { return &s }
		dir := directory.New(db, directory.Options{BcryptCost: 4})
		if _, _, err := dir.EnsureAdmin(ctx, "Admin-Pass1"); err != nil {
			t.Fatal(err)
		}
		authn := auth.New(db, dir, auth.Options{})
		pres := presence.New(presence.Options{DB: db, Directory: dir, Controller: nopQueues{}, FlushDelay: -1, EventWait: -1})
		events := make(statuses, 16)
		rt := router.New(router.Options{DB: db, Presence: pres, Directory: dir, Publisher: events})
		clock := &instantClock{now: time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)}
		conn := openchannel.New(openchannel.Options{DB: db, Router: rt, Queues: dir, Clock: clock, MaxAttempts: 3})
		rt.SetSender(openchannel.Channel, conn)
		s, err := api.New(api.Options{DB: db, Directory: dir, Auth: authn, MaxBodyBytes: 64 << 10,
			Mounts: []func(*api.Router){api.NewInteractions(rt).Mount, api.NewOpenChannel(conn).Mount}})
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(s.Handler())
		defer srv.Close()
		hook := &integrator{failures: 1, got: make(chan capturedReply, 8)}
		replyURL := httptest.NewServer(hook)
		defer replyURL.Close()

		q, err := dir.CreateQueue(ctx, directory.QueueInput{Name: str("sms"), Channel: str(openchannel.Channel), Strategy: str("roundrobin")})
		if err != nil {
			t.Fatal(err)
		}
		chat, err := dir.CreateQueue(ctx, directory.QueueInput{Name: str("web"), Channel: str("chat"), Strategy: str("beepall")})
		if err != nil {
			t.Fatal(err)
		}
		a, err := dir.CreateAgent(ctx, directory.AgentInput{FullName: str("Alice"), Username: str("alice"),
			Typology: str(directory.TypologyWebRTC), Password: str("Str0ng-Pass")})
		if err != nil {
			t.Fatal(err)
		}
		if err := dir.AddQueueMember(ctx, directory.MembershipInput{QueueID: q.ID, AgentID: a.ID}); err != nil {
			t.Fatal(err)
		}
		if err := pres.Load(ctx); err != nil {
			t.Fatal(err)
		}
		if err := rt.Load(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := pres.Login(ctx, a.ID, "api"); err != nil {
			t.Fatal(err)
		}
		base := srv.URL + "/api/v1"
		var login struct{ Token string }
		call(t, "POST", base+"/auth/login", "", map[string]string{"username": "admin", "password": "Admin-Pass1"}, &login)
		admin := login.Token
		call(t, "POST", base+"/auth/login", "", map[string]string{"username": "alice", "password": "Str0ng-Pass"}, &login)
		alice := login.Token

		// Accounts: admin only; the queue must be an open channel one.
		var fail struct{ Error api.ErrorDetail }
		if st := call(t, "POST", base+"/openchannel-accounts", admin, map[string]any{"name": "gw", "queue_id": chat.ID, "reply_url": replyURL.URL}, &fail); st != 422 || fail.Error.Field != "queue_id" {
			t.Fatalf("account on a chat queue: %d %+v", st, fail)
		}
		if st := call(t, "POST", base+"/openchannel-accounts", alice, map[string]any{"name": "gw", "queue_id": q.ID, "reply_url": replyURL.URL}, nil); st != 403 {
			t.Fatalf("an agent creates an account: %d", st)
		}
		var acc openchannel.Account
		if st := call(t, "POST", base+"/openchannel-accounts", admin, map[string]any{"name": "gw", "queue_id": q.ID, "reply_url": replyURL.URL}, &acc); st != 201 || acc.Token == "" || acc.Secret == "" {
			t.Fatalf("create account: %d %+v", st, acc)
		}

		// Inbound: token checked; the same external_id twice stores one.
		in := map[string]string{"from": "+447700900123", "name": "Bob", "body": "hello", "external_id": "sms-1"}
		path := fmt.Sprintf("%s/openchannel/%d/messages", base, acc.ID)
		if st := call(t, "POST", path, "wrong", in, nil); st != 401 {
			t.Fatalf("wrong token: %d", st)
		}
		var first, second api.InboundAnswer
		if st := call(t, "POST", path, acc.Token, in, &first); st != 201 {
			t.Fatalf("inbound: %d", st)
		}
		if st := call(t, "POST", path, acc.Token, in, &second); st != 200 || second.MessageID != first.MessageID {
			t.Fatalf("duplicate inbound: %d %+v vs %+v", st, second, first)
		}
		if st := call(t, "POST", path, acc.Token, map[string]string{"from": "", "body": "x"}, &fail); st != 422 || fail.Error.Field != "from" {
			t.Fatalf("no from: %d %+v", st, fail)
		}

		// The agent accepts and replies; the first POST to reply_url fails,
		// the retry succeeds, each signed with the account secret.
		ipath := fmt.Sprintf("%s/interactions/%d", base, first.InteractionID)
		if st := call(t, "POST", ipath+"/accept", alice, nil, nil); st != 200 {
			t.Fatalf("accept: %d", st)
		}
		var m router.Message
		if st := call(t, "POST", ipath+"/messages", alice, map[string]string{"body": "hi Bob", "client_id": "r1"}, &m); st != 201 || m.Status != router.MessagePending {
			t.Fatalf("reply: %d %+v", st, m)
		}
		runCtx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- conn.Run(runCtx) }()
		defer func() { cancel(); <-done }()
		for i := range 2 {
			got := <-hook.got
			if got.sig != openchannel.Sign(acc.Secret, got.body) {
				t.Fatalf("attempt %d: signature %q does not match the body", i, got.sig)
			}
			var rep openchannel.Reply
			if err := json.Unmarshal(got.body, &rep); err != nil || rep.To != "+447700900123" || rep.Body != "hi Bob" ||
				rep.MessageID != m.ID || rep.InteractionID != first.InteractionID {
				t.Fatalf("attempt %d: reply %s", i, got.body)
			}
		}
		if st := <-events; st != router.MessageSent {
			t.Fatalf("delivery status %s, want sent", st)
		}
		var msgs []router.Message
		call(t, "GET", ipath+"/messages", alice, nil, &msgs)
		if len(msgs) != 2 || msgs[1].Status != router.MessageSent {
			t.Fatalf("messages after delivery: %+v", msgs)
		}

		// An integrator that keeps failing: the reply ends failed, kept.
		hook.mu.Lock()
		hook.failures = 100
		hook.mu.Unlock()
		if st := call(t, "POST", ipath+"/messages", alice, map[string]string{"body": "anyone?", "client_id": "r2"}, nil); st != 201 {
			t.Fatalf("reply 2: %d", st)
		}
		for range 3 {
			<-hook.got
		}
		if st := <-events; st != router.MessageFailed {
			t.Fatalf("status after 3 failed attempts: %s", st)
		}
	})
}

// A reply stored while no connector was running (omniccd stopped right
// after the agent sent it) is delivered by the next connector's Run.
func TestPendingReplySurvivesRestart(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := t.Context()
		str := func(s string) *string { return &s }
		dir := directory.New(db, directory.Options{BcryptCost: 4})
		pres := presence.New(presence.Options{DB: db, Directory: dir, Controller: nopQueues{}, FlushDelay: -1, EventWait: -1})
		rt := router.New(router.Options{DB: db, Presence: pres, Directory: dir})
		hook := &integrator{got: make(chan capturedReply, 4)}
		replyURL := httptest.NewServer(hook)
		defer replyURL.Close()
		q, err := dir.CreateQueue(ctx, directory.QueueInput{Name: str("sms"), Channel: str(openchannel.Channel), Strategy: str("roundrobin")})
		if err != nil {
			t.Fatal(err)
		}
		a, err := dir.CreateAgent(ctx, directory.AgentInput{FullName: str("Alice"), Username: str("alice"),
			Typology: str(directory.TypologyWebRTC), Password: str("Str0ng-Pass")})
		if err != nil {
			t.Fatal(err)
		}
		if err := dir.AddQueueMember(ctx, directory.MembershipInput{QueueID: q.ID, AgentID: a.ID}); err != nil {
			t.Fatal(err)
		}
		if err := pres.Load(ctx); err != nil {
			t.Fatal(err)
		}
		if err := rt.Load(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := pres.Login(ctx, a.ID, "api"); err != nil {
			t.Fatal(err)
		}
		before := openchannel.New(openchannel.Options{DB: db, Router: rt, Queues: dir})
		rt.SetSender(openchannel.Channel, before)
		acc, err := before.CreateAccount(ctx, openchannel.AccountInput{Name: str("gw"), QueueID: &q.ID, ReplyURL: str(replyURL.URL)})
		if err != nil {
			t.Fatal(err)
		}
		it, _, _, err := before.Receive(ctx, acc.ID, acc.Token, openchannel.InboundMessage{From: "cust", Body: "hi"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := rt.Accept(ctx, a.ID, it.ID); err != nil {
			t.Fatal(err)
		}
		m, _, err := rt.Reply(ctx, router.Actor{AgentID: a.ID}, it.ID, "on my way", "c1")
		if err != nil || m.Status != router.MessagePending {
			t.Fatalf("reply: %+v %v", m, err)
		}
		// "Restart": the first connector never ran; a new one does.
		after := openchannel.New(openchannel.Options{DB: db, Router: rt, Queues: dir})
		runCtx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- after.Run(runCtx) }()
		got := <-hook.got
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		var rep openchannel.Reply
		if err := json.Unmarshal(got.body, &rep); err != nil || rep.MessageID != m.ID || got.sig != openchannel.Sign(acc.Secret, got.body) {
			t.Fatalf("delivered %s (signature %q)", got.body, got.sig)
		}
	})
}
