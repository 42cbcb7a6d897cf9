package desk_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"omnicc/ami"
	"omnicc/ami/amitest"
	"omnicc/api"
	"omnicc/auth"
	"omnicc/browsertest"
	"omnicc/calls"
	"omnicc/channels/whatsapp"
	"omnicc/contacts"
	"omnicc/desk"
	"omnicc/directory"
	"omnicc/events"
	"omnicc/presence"
	"omnicc/router"
	"omnicc/storetest"
)

const (
	adminPassword = "Admin-Pass1"
	agentPassword = "Str0ng-Pass!"
)

// nopQueues stands in for AMI: the desk tests have no Asterisk.
type nopQueues struct{}

func (nopQueues) QueueAdd(context.Context, presence.Member) error                { return nil }
func (nopQueues) QueueRemove(context.Context, string, string) error              { return nil }
func (nopQueues) QueuePause(context.Context, string, string, bool, string) error { return nil }
func (nopQueues) QueuePenalty(context.Context, string, string, int) error        { return nil }

// chatOut records agents' replies as the web chat connector would send them.
type chatOut struct {
	mu   sync.Mutex
	sent []router.Outbound
}

func (c *chatOut) Send(_ context.Context, m router.Outbound) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sent = append(c.sent, m)
	return nil
}

// deskEnv is omniccd's HTTP side as cmd/omniccd wires it for the desktop:
// the REST routes the page uses, the websocket hub on the event bus,
// presence and the digital router, and the embedded page at /desk/.
type deskEnv struct {
	t      *testing.T
	srv    *httptest.Server
	dir    *directory.Directory
	pres   *presence.Service
	rt     *router.Router
	chat   *chatOut
	bus    *events.Bus
	admin  string
	queue  int64 // the "web" chat queue
	lunch  int64 // the "Lunch" pause type
	agents map[string]int64
	proxy  *tcpProxy // what the browser connects through
}

type envOptions struct {
	sipWSURL string
	// asterisk, when set, mounts the REST voice controls over AMI to it.
	asterisk *amitest.Server
	// whatsappAPI, when set, is the fake provider the WhatsApp connector
	// sends to (mounted with its routes).
	whatsappAPI *httptest.Server
}

func newDeskEnv(t *testing.T, o envOptions) *deskEnv {
	t.Helper()
	if !desk.Built() {
		if os.Getenv("CI") == "true" {
			t.Fatal("desk: the page is not built (run make web)")
		}
		t.Skip("desk: the page is not built; run make web (npm ci && npm run build in desk/ui)")
	}
	db := storetest.SQLite(t)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(func() {
		cancel()
		wg.Wait()
	})
	run := func(fn func(context.Context) error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = fn(ctx)
		}()
	}
	dir := directory.New(db, directory.Options{ExtensionLow: 1000, ExtensionHigh: 1999, SecuritySuite: true, BcryptCost: 4})
	if _, _, err := dir.EnsureAdmin(ctx, adminPassword); err != nil {
		t.Fatal(err)
	}
	authn := auth.New(db, dir, auth.Options{LockoutThreshold: 3})
	bus := events.New(events.Options{})
	pres := presence.New(presence.Options{DB: db, Directory: dir, Publisher: bus, Controller: nopQueues{}, Names: ami.Names{}, FlushDelay: -1, EventWait: -1})
	if err := pres.Load(ctx); err != nil {
		t.Fatal(err)
	}
	hub, err := api.NewHub(api.HubOptions{Auth: authn, Bus: bus, Watch: api.DirectoryWatch{Dir: dir}, States: pres, MaskFor: dir.MaskSensitiveData})
	if err != nil {
		t.Fatal(err)
	}
	rt := router.New(router.Options{DB: db, Presence: pres, Directory: dir, Publisher: bus})
	if err := rt.Load(ctx); err != nil {
		t.Fatal(err)
	}
	chat := &chatOut{}
	rt.SetSender("chat", chat)
	people, err := contacts.New(db, contacts.Options{})
	if err != nil {
		t.Fatal(err)
	}
	mounts := []func(*api.Router){
		api.NewAgentSessions(pres).Mount, hub.Mount, api.NewInteractions(rt).Mount, api.NewContacts(people).Mount,
		func(r *api.Router) { r.Page(desk.Prefix, desk.Handler()) },
	}
	if o.asterisk != nil {
		boxes, err := ami.ParseBoxes("omnicc:secret@" + o.asterisk.Addr())
		if err != nil {
			t.Fatal(err)
		}
		pool, err := ami.NewPool(boxes, ami.Config{PingInterval: time.Hour, BackoffMin: 5 * time.Millisecond, BackoffMax: 50 * time.Millisecond,
			Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		run(pool.Run)
		svc, err := calls.New(calls.Options{Control: ami.NewVoice(pool, slog.New(slog.DiscardHandler)), DB: db, Agents: dir, Events: bus,
			Logger: slog.New(slog.DiscardHandler),
			// As cmd/omniccd wires it: a hold made over REST shows in the state.
			Held: func(_ int64, channel string, held bool) {
				kind := presence.VoiceResumed
				if held {
					kind = presence.VoiceHeld
				}
				pres.ApplyVoice(&presence.VoiceFact{Kind: kind, Leg: channel, Agent: ami.Names{}.Device(channel)})
			}})
		if err != nil {
			t.Fatal(err)
		}
		voice, err := api.NewVoice(svc)
		if err != nil {
			t.Fatal(err)
		}
		mounts = append(mounts, voice.Mount)
	}
	if o.whatsappAPI != nil {
		wa, err := whatsapp.New(whatsapp.Options{Store: whatsapp.NewStore(db, nil), PublicURL: "https://cc.example.com",
			Inbox: whatsapp.RouterInbox{Router: rt}, MediaDir: t.TempDir(), Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		rt.SetSender(whatsapp.Channel, whatsapp.RouterSender{Connector: wa})
		run(wa.Run)
		mounts = append(mounts, api.NewWhatsApp(wa, rt).Mount)
	}
	s, err := api.New(api.Options{DB: db, Directory: dir, Auth: authn, SIPWSURL: o.sipWSURL, Mounts: mounts})
	if err != nil {
		t.Fatal(err)
	}
	run(bus.Run)
	run(hub.Run)
	run(pres.Run)
	run(rt.Run)
	run(func(ctx context.Context) error { return rt.Follow(ctx, bus) })
	e := &deskEnv{t: t, srv: httptest.NewServer(s.Handler()), dir: dir, pres: pres, rt: rt, chat: chat, bus: bus, agents: map[string]int64{}}
	t.Cleanup(e.srv.Close)
	e.proxy = newTCPProxy(t, e.srv.Listener.Addr().String())
	e.admin = e.login("admin", adminPassword)

	var out struct{ ID int64 }
	e.do("POST", "/api/v1/queues", e.admin, map[string]any{"name": "web", "channel": "chat", "strategy": "beepall"}, &out, 201)
	e.queue = out.ID
	e.do("POST", "/api/v1/pause-types", e.admin, map[string]any{"name": "Lunch"}, &out, 201)
	e.lunch = out.ID
	e.do("POST", "/api/v1/pause-types", e.admin, map[string]any{"name": "Training"}, nil, 201)
	e.do("POST", "/api/v1/dispositions", e.admin, map[string]any{"name": "solved"}, nil, 201)
	return e
}

// addAgent creates an agent in the chat queue and returns its id.
// extra are more agent fields, name then value.
func (e *deskEnv) addAgent(username, typology string, extra ...any) int64 {
	e.t.Helper()
	var a struct{ ID int64 }
	body := map[string]any{"full_name": "Agent " + username, "username": username, "typology": typology, "password": agentPassword}
	for i := 0; i+1 < len(extra); i += 2 {
		body[extra[i].(string)] = extra[i+1]
	}
	e.do("POST", "/api/v1/agents", e.admin, body, &a, 201)
	e.do("POST", fmt.Sprintf("/api/v1/queues/%d/agents", e.queue), e.admin, map[string]any{"agent_id": a.ID}, nil, 0)
	e.agents[username] = a.ID
	return a.ID
}

func (e *deskEnv) login(user, pw string) string {
	e.t.Helper()
	var out struct{ Token string }
	e.do("POST", "/api/v1/auth/login", "", map[string]string{"username": user, "password": pw}, &out, 200)
	return out.Token
}

// do calls the API; want 0 accepts any 2xx.
func (e *deskEnv) do(method, path, token string, body, out any, want int) {
	e.t.Helper()
	var rd io.Reader
	if body != nil {
		raw, _ := json.Marshal(body)
		rd = bytes.NewReader(raw)
	}
	req, _ := http.NewRequest(method, e.srv.URL+path, rd)
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	if (want == 0 && res.StatusCode/100 != 2) || (want != 0 && res.StatusCode != want) {
		e.t.Fatalf("%s %s: status %d, want %d: %s", method, path, res.StatusCode, want, raw)
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			e.t.Fatalf("%s %s: %v: %s", method, path, err, raw)
		}
	}
}

// browser opens the desk in a fresh headless Chromium and signs in.
func (e *deskEnv) browser(user, pw string) context.Context {
	e.t.Helper()
	ctx := browsertest.New(e.t)
	e.run(ctx, "sign in as "+user,
		chromedp.Navigate(e.proxy.url()+"/desk/"),
		chromedp.WaitVisible("#login-username", chromedp.ByQuery),
		chromedp.SendKeys("#login-username", user, chromedp.ByQuery),
		chromedp.SendKeys("#login-password", pw, chromedp.ByQuery),
		chromedp.Click("#login-submit", chromedp.ByQuery),
		chromedp.WaitVisible(".topbar", chromedp.ByQuery),
	)
	return ctx
}

// run runs browser actions with a deadline, failing the test with what it was doing.
func (e *deskEnv) run(ctx context.Context, what string, actions ...chromedp.Action) {
	e.t.Helper()
	tctx, cancel := browsertest.Timeout(ctx, 20*time.Second)
	defer cancel()
	if err := chromedp.Run(tctx, actions...); err != nil {
		var body string
		_ = chromedp.Run(ctx, chromedp.Evaluate(`document.body ? document.body.innerText.slice(0, 2000) : ""`, &body))
		e.t.Fatalf("%s: %v\npage text:\n%s", what, err, body)
	}
}

// waitJS polls a JavaScript expression in the page until it is true.
func waitJS(expr string) chromedp.Action {
	return chromedp.Poll(expr, nil, chromedp.WithPollingInterval(50*time.Millisecond))
}

// clickUntil clicks sel in the page until cond holds: on a loaded CI box a
// click could land while the inbox re-rendered after an event, and was lost
// (TestDeskAgentDay failed so once).
func clickUntil(sel, cond string) chromedp.Action {
	return chromedp.Poll(fmt.Sprintf(`(() => { if (%s) return true; document.querySelector(%q)?.click(); return false })()`, cond, sel),
		nil, chromedp.WithPollingInterval(250*time.Millisecond))
}

// text reads an element's text.
func text(ctx context.Context, t *testing.T, sel string) string {
	t.Helper()
	var s string
	if err := chromedp.Run(ctx, chromedp.Text(sel, &s, chromedp.ByQuery)); err != nil {
		t.Fatalf("text of %s: %v", sel, err)
	}
	return s
}

// choose sets a <select>'s value as a user does (a change event).
func choose(sel, value string) chromedp.Action {
	return chromedp.Evaluate(fmt.Sprintf(`(() => { const s = document.querySelector(%q); s.value = %q; s.dispatchEvent(new Event("change", {bubbles: true})); return true })()`, sel, value), nil)
}

// consoleErrors collects the page's uncaught exceptions and console.error
// calls; a test ends by checking there were none.
type consoleErrors struct {
	mu   sync.Mutex
	errs []string
}

func watchConsole(ctx context.Context) *consoleErrors {
	c := &consoleErrors{}
	chromedp.ListenTarget(ctx, func(ev any) {
		c.mu.Lock()
		defer c.mu.Unlock()
		switch ev := ev.(type) {
		case *runtime.EventExceptionThrown:
			c.errs = append(c.errs, "exception: "+ev.ExceptionDetails.Error())
		case *runtime.EventConsoleAPICalled:
			if ev.Type == runtime.APITypeError {
				var parts []string
				for _, a := range ev.Args {
					parts = append(parts, string(a.Value)+a.Description)
				}
				c.errs = append(c.errs, "console.error: "+strings.Join(parts, " "))
			}
		}
	})
	return c
}

func (c *consoleErrors) check(t *testing.T) {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.errs) > 0 {
		t.Errorf("the page logged errors:\n  %s", strings.Join(c.errs, "\n  "))
	}
}

// tcpProxy stands between the browser and omniccd so a test can cut every
// connection at once, as a network drop or an omniccd restart does
// (httptest forgets hijacked connections such as websockets).
type tcpProxy struct {
	ln    net.Listener
	mu    sync.Mutex
	conns map[net.Conn]bool
}

func newTCPProxy(t *testing.T, target string) *tcpProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &tcpProxy{ln: ln, conns: map[net.Conn]bool{}}
	var wg sync.WaitGroup
	t.Cleanup(func() {
		ln.Close()
		p.drop()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			u, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns[c], p.conns[u] = true, true
			p.mu.Unlock()
			wg.Add(2)
			pipe := func(dst, src net.Conn) {
				defer wg.Done()
				_, _ = io.Copy(dst, src)
				dst.Close()
				src.Close()
			}
			go pipe(u, c)
			go pipe(c, u)
		}
	}()
	return p
}

func (p *tcpProxy) url() string { return "http://" + p.ln.Addr().String() }

// drop cuts every open connection; new ones are still accepted.
func (p *tcpProxy) drop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.conns {
		c.Close()
		delete(p.conns, c)
	}
}

func sleep() { time.Sleep(25 * time.Millisecond) }
