package webchat_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/gorilla/websocket"
	"go.uber.org/goleak"

	"omnicc/api"
	"omnicc/auth"
	"omnicc/channels/webchat"
	"omnicc/contacts"
	"omnicc/directory"
	"omnicc/events"
	"omnicc/presence"
	"omnicc/router"
	"omnicc/store"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type nopQueues struct{}

func (nopQueues) QueueAdd(context.Context, presence.Member) error                { return nil }
func (nopQueues) QueueRemove(context.Context, string, string) error              { return nil }
func (nopQueues) QueuePause(context.Context, string, string, bool, string) error { return nil }
func (nopQueues) QueuePenalty(context.Context, string, string, int) error        { return nil }

func str(s string) *string { return &s }

// env is omniccd's digital half in one test: the store, directory, auth,
// event bus, presence, router, agent hub, the web chat connector and the
// REST API on an httptest server.
type env struct {
	t      testing.TB
	ctx    context.Context
	db     *store.DB
	dir    *directory.Directory
	authn  *auth.Service
	pres   *presence.Service
	rt     *router.Router
	chat   *webchat.Connector
	people *contacts.Manager
	bus    *events.Bus
	srv    *httptest.Server
	base   string // srv.URL + /api/v1
	queue  *directory.Queue
	agent  *directory.Agent
	admin  string // bearer tokens
	alice  string
}

func newEnv(t testing.TB, db *store.DB, limits webchat.Limits) *env {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	e := &env{t: t, ctx: ctx, db: db}
	e.dir = directory.New(db, directory.Options{BcryptCost: 4})
	if _, _, err := e.dir.EnsureAdmin(ctx, "Admin-Pass1"); err != nil {
		t.Fatal(err)
	}
	e.authn = auth.New(db, e.dir, auth.Options{})
	bus := events.New(events.Options{})
	e.bus = bus
	hub, err := api.NewHub(api.HubOptions{Auth: e.authn, Bus: bus})
	if err != nil {
		t.Fatal(err)
	}
	e.pres = presence.New(presence.Options{DB: db, Directory: e.dir, Controller: nopQueues{}, FlushDelay: -1, EventWait: -1, Publisher: bus})
	e.rt = router.New(router.Options{DB: db, Presence: e.pres, Directory: e.dir, Publisher: bus})
	e.people, err = contacts.New(db, contacts.Options{})
	if err != nil {
		t.Fatal(err)
	}
	e.chat, err = webchat.New(webchat.Options{DB: db, Router: e.rt, Directory: e.dir, Presence: e.pres, Contacts: e.people,
		FilesDir: t.(interface{ TempDir() string }).TempDir(), Limits: limits})
	if err != nil {
		t.Fatal(err)
	}
	e.rt.SetSender(webchat.Channel, webchat.RouterSender{Connector: e.chat})
	s, err := api.New(api.Options{DB: db, Directory: e.dir, Auth: e.authn, MaxBodyBytes: 64 << 10,
		Mounts: []func(*api.Router){hub.Mount, api.NewInteractions(e.rt).Mount, api.NewWebChat(e.chat, e.rt).Mount}})
	if err != nil {
		t.Fatal(err)
	}
	e.srv = httptest.NewServer(s.Handler())
	e.base = e.srv.URL + "/api/v1"
	var wg sync.WaitGroup
	wg.Go(func() { _ = bus.Run(ctx) })
	wg.Go(func() { _ = hub.Run(ctx) })
	wg.Go(func() { _ = e.rt.Run(ctx) })
	wg.Go(func() { _ = e.rt.Follow(ctx, bus) })
	wg.Go(func() { _ = e.chat.Run(ctx) })
	wg.Go(func() { _ = e.chat.Follow(ctx, bus) })
	t.Cleanup(func() {
		cancel()
		e.chat.Shutdown()
		e.srv.CloseClientConnections()
		e.srv.Close()
		http.DefaultClient.CloseIdleConnections()
		wg.Wait()
	})

	e.queue, err = e.dir.CreateQueue(ctx, directory.QueueInput{Name: str("web"), Channel: str(webchat.Channel), Strategy: str("beepall")})
	if err != nil {
		t.Fatal(err)
	}
	e.agent, err = e.dir.CreateAgent(ctx, directory.AgentInput{FullName: str("Alice Liddell"), Username: str("alice"), Alias: str("Alice"),
		Typology: str(directory.TypologyWebRTC), Password: str("Str0ng-Pass")})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.dir.AddQueueMember(ctx, directory.MembershipInput{QueueID: e.queue.ID, AgentID: e.agent.ID}); err != nil {
		t.Fatal(err)
	}
	if err := e.pres.Load(ctx); err != nil {
		t.Fatal(err)
	}
	if err := e.rt.Load(ctx); err != nil {
		t.Fatal(err)
	}
	e.admin = e.login("admin", "Admin-Pass1")
	e.alice = e.login("alice", "Str0ng-Pass")
	return e
}

func (e *env) login(user, pass string) string {
	var out struct{ Token string }
	if st := e.call("POST", "/auth/login", "", map[string]string{"username": user, "password": pass}, &out); st != 200 {
		e.t.Fatalf("login %s: %d", user, st)
	}
	return out.Token
}

// agentOnline logs alice in, ready for chats.
func (e *env) agentOnline() {
	e.t.Helper()
	if _, err := e.pres.Login(e.ctx, e.agent.ID, "api"); err != nil {
		e.t.Fatal(err)
	}
}

// call is an admin's or agent's REST call (bearer token, JSON).
func (e *env) call(method, path, token string, body any, out any) int {
	e.t.Helper()
	return e.do(method, path, token, "", body, out)
}

// visit is a visitor page's call from origin (no bearer, text/plain).
func (e *env) visit(method, path, origin string, body any, out any) int {
	e.t.Helper()
	return e.do(method, path, "", origin, body, out)
}

func (e *env) do(method, path, token, origin string, body any, out any) int {
	e.t.Helper()
	var rd *bytes.Reader
	if body != nil {
		raw, _ := json.Marshal(body)
		rd = bytes.NewReader(raw)
	} else {
		rd = bytes.NewReader(nil)
	}
	req, _ := http.NewRequestWithContext(e.ctx, method, e.base+path, rd)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/json")
	} else {
		req.Header.Set("Content-Type", "text/plain")
	}
	if origin != "" {
		req.Header.Set("Origin", origin)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	if out != nil {
		_ = json.NewDecoder(resp.Body).Decode(out)
	}
	return resp.StatusCode
}

// website creates a chat website for origin through the REST API.
func (e *env) website(origins ...string) *webchat.Website {
	e.t.Helper()
	var w webchat.Website
	if st := e.call("POST", "/chat-websites", e.admin, map[string]any{"name": "shop", "queue_id": e.queue.ID, "allowed_origins": origins,
		"greeting": "Hi! How can we help?", "offline_message": "We are closed.", "max_file_bytes": 1024, "identity_secret": "site-secret-0123456789"}, &w); st != 201 {
		e.t.Fatalf("create website: %d", st)
	}
	return &w
}

// visitorWS opens a visitor socket.
func (e *env) visitorWS(session, origin string, afterSeq int64) *websocket.Conn {
	e.t.Helper()
	url := "ws" + strings.TrimPrefix(e.base, "http") + "/chat/ws?session=" + session + "&after_seq=" + itoa(afterSeq)
	ws, resp, err := websocket.DefaultDialer.DialContext(e.ctx, url, http.Header{"Origin": {origin}})
	if err != nil {
		st := 0
		if resp != nil {
			st = resp.StatusCode
		}
		e.t.Fatalf("visitor websocket: %v (%d)", err, st)
	}
	e.t.Cleanup(func() { ws.Close() })
	return ws
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
