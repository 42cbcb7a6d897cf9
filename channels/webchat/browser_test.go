package webchat_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/gorilla/websocket"

	"omnicc/browsertest"
	"omnicc/channels/webchat"
	"omnicc/storetest"
)

// cutProxy forwards TCP to omniccd; Cut drops every connection and refuses
// new ones until Restore — the visitor's network going down.
type cutProxy struct {
	ln      net.Listener
	backend string
	down    atomic.Bool
	mu      sync.Mutex
	conns   map[net.Conn]bool
	wg      sync.WaitGroup
}

func newCutProxy(t *testing.T, backend string) *cutProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &cutProxy{ln: ln, backend: backend, conns: map[net.Conn]bool{}}
	p.wg.Go(p.serve)
	t.Cleanup(func() {
		_ = ln.Close()
		p.Cut()
		p.wg.Wait()
	})
	return p
}

func (p *cutProxy) URL() string { return "http://" + p.ln.Addr().String() }

func (p *cutProxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		if p.down.Load() {
			_ = c.Close()
			continue
		}
		b, err := net.Dial("tcp", p.backend)
		if err != nil {
			_ = c.Close()
			continue
		}
		p.mu.Lock()
		p.conns[c], p.conns[b] = true, true
		p.mu.Unlock()
		pipe := func(dst, src net.Conn) {
			_, _ = io.Copy(dst, src)
			_ = dst.Close()
			_ = src.Close()
			p.mu.Lock()
			delete(p.conns, dst)
			delete(p.conns, src)
			p.mu.Unlock()
		}
		p.wg.Go(func() { pipe(b, c) })
		p.wg.Go(func() { pipe(c, b) })
	}
}

func (p *cutProxy) Cut() {
	p.down.Store(true)
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.conns {
		_ = c.Close()
	}
}

func (p *cutProxy) Restore() { p.down.Store(false) }

// hostPage serves a customer's page embedding the snippet exactly as the
// website's REST answer gives it, on its own origin.
func hostPage(t *testing.T, snippet string) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		// The page's own CSS is aggressive on purpose: the widget must
		// not be restyled by it.
		fmt.Fprintf(w, `<!doctype html><html><head><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Acme shop</title><style>* { font-family: serif !important; color: #0a0 !important; } button { background: red !important; }
body { margin: 0; padding: 32px; background: #fafafa; } h1 { font-size: 28px; }</style></head>
<body><h1>Acme shop</h1><p>Welcome to our store. Ask us anything in the chat.</p>
%s</body></html>`, snippet)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func eval(js string, out any) chromedp.Action {
	return chromedp.Evaluate(js, out, func(p *runtime.EvaluateParams) *runtime.EvaluateParams { return p.WithAwaitPromise(true) })
}

// waitJS polls a JavaScript condition in the page.
func waitJS(t *testing.T, ctx context.Context, what, cond string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		var ok bool
		if err := chromedp.Run(ctx, eval(cond, &ok)); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s (%s)", what, cond)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

type pageMessage struct {
	Seq       int64  `json:"seq"`
	Direction string `json:"direction"`
	Body      string `json:"body"`
	ClientID  string `json:"client_id"`
}

func pageMessages(t *testing.T, ctx context.Context) []pageMessage {
	t.Helper()
	var raw string
	if err := chromedp.Run(ctx, eval(`JSON.stringify(window.omnicc.chat.messages())`, &raw)); err != nil {
		t.Fatal(err)
	}
	var out []pageMessage
	if err := json.Unmarshal([]byte(raw), &out); err != nil {
		t.Fatal(err)
	}
	return out
}

const readyJS = `new Promise(r => { const t = setInterval(() => { if (window.omnicc && window.omnicc.chat) { clearInterval(t); window.omnicc.chat.on("ready", () => r(true)); } }, 50); })`

// The whole web chat in a real browser: a page on another origin embeds
// the snippet; the visitor writes in the panel; an agent (REST + its
// websocket) accepts and replies; the visitor sees the reply under the
// agent's alias; a reload and a second tab resume the same history, not
// duplicated; the network drops and the messages written meanwhile arrive
// once, in order; a page of a disallowed origin gets no chat.
func TestBrowserWebChat(t *testing.T) {
	if !webchat.WidgetBuilt() {
		if os.Getenv("CI") == "true" {
			t.Fatal("the widget is not built: make web")
		}
		t.Skip("the widget is not built (make web)")
	}
	e := newEnv(t, storetest.SQLite(t), webchat.Limits{})
	proxy := newCutProxy(t, strings.TrimPrefix(e.srv.URL, "http://"))
	e.chat.SetPublicURL(proxy.URL())
	// The page's origin is only known once its server listens: create the
	// website, then allow the page.
	w := e.website("https://placeholder.example.com")
	page := hostPage(t, webchat.Snippet(proxy.URL(), w.Token))
	if st := e.call("PATCH", "/chat-websites/"+itoa(w.ID), e.admin, map[string]any{"allowed_origins": []string{page.URL}}, nil); st != 200 {
		t.Fatalf("allow the page: %d", st)
	}
	e.agentOnline()

	// The agent's desktop socket.
	agentWS, _, err := websocket.DefaultDialer.DialContext(e.ctx, "ws"+strings.TrimPrefix(e.base, "http")+"/ws", http.Header{"Authorization": {"Bearer " + e.alice}})
	if err != nil {
		t.Fatal(err)
	}
	defer agentWS.Close()
	agentEvent := func(what string, ok func(map[string]any) bool) map[string]any {
		t.Helper()
		_ = agentWS.SetReadDeadline(time.Now().Add(60 * time.Second))
		for {
			var ev map[string]any
			if err := agentWS.ReadJSON(&ev); err != nil {
				t.Fatalf("agent socket, waiting for %s: %v", what, err)
			}
			if ok(ev) {
				return ev
			}
		}
	}

	browser := browsertest.New(t)
	ctx, cancel := browsertest.Timeout(browser, 4*time.Minute)
	defer cancel()
	var ready bool
	if err := chromedp.Run(ctx, chromedp.Navigate(page.URL), eval(readyJS, &ready)); err != nil || !ready {
		t.Fatalf("the widget never got ready: %v", err)
	}
	// Keyboard: the launcher opens the panel and focus lands in the
	// message box; Enter sends what was typed.
	if err := chromedp.Run(ctx, eval(`document.querySelector("#omnicc-chat").shadowRoot.querySelector(".launcher").focus(); true`, nil),
		chromedp.KeyEvent("\r")); err != nil {
		t.Fatal(err)
	}
	waitJS(t, ctx, "focus in the message box", `document.querySelector("#omnicc-chat").shadowRoot.activeElement?.tagName === "TEXTAREA"`)
	if err := chromedp.Run(ctx, chromedp.KeyEvent("Hello, is anyone there? 👋"), chromedp.KeyEvent("\r")); err != nil {
		t.Fatal(err)
	}
	waitJS(t, ctx, "the first message stored", `window.omnicc.chat.messages().some(m => m.direction === "in")`)

	// The agent is offered it on its socket, accepts over REST, sees the
	// message and replies.
	offer := agentEvent("offer", func(ev map[string]any) bool { return ev["type"] == "offer" })
	id := int64(offer["interaction"].(map[string]any)["id"].(float64))
	if st := e.call("POST", "/interactions/"+itoa(id)+"/accept", e.alice, nil, nil); st != 200 {
		t.Fatalf("accept: %d", st)
	}
	var msgs []pageMessage
	e.call("GET", "/interactions/"+itoa(id)+"/messages", e.alice, nil, &msgs)
	if len(msgs) == 0 || msgs[0].Body != "Hello, is anyone there? 👋" {
		t.Fatalf("the agent reads: %+v", msgs)
	}
	if st := e.call("POST", "/interactions/"+itoa(id)+"/typing", e.alice, nil, nil); st != 204 {
		t.Fatalf("typing: %d", st)
	}
	waitJS(t, ctx, "the typing indicator", `document.querySelector("#omnicc-chat").shadowRoot.querySelector(".typing").textContent.includes("Alice is typing")`)
	if st := e.call("POST", "/interactions/"+itoa(id)+"/messages", e.alice, map[string]string{"body": "Hi! I am Alice. How can I help?", "client_id": "r-1"}, nil); st != 201 {
		t.Fatalf("reply: %d", st)
	}
	waitJS(t, ctx, "the reply in the page", `window.omnicc.chat.messages().some(m => m.direction === "out" && m.body.startsWith("Hi! I am Alice"))`)
	var shown string
	if err := chromedp.Run(ctx, eval(`document.querySelector("#omnicc-chat").shadowRoot.querySelector(".log").innerText`, &shown)); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(shown, "Alice") || strings.Contains(shown, "alice") {
		t.Fatalf("the panel shows %q: the agent's alias, never its username", shown)
	}
	// The visitor's page showed it: the agent sees it read.
	agentEvent("the reply read", func(ev map[string]any) bool {
		m, _ := ev["message"].(map[string]any)
		return ev["type"] == "message" && m != nil && m["direction"] == "out" && m["status"] == webchat.StatusRead
	})
	// The visitor types (the page sends at most one typing frame per 2 s,
	// and the first went with the first message): the owner's desktop is
	// told, nothing is stored.
	time.Sleep(2100 * time.Millisecond)
	if err := chromedp.Run(ctx, eval(`(() => { const ta = document.querySelector("#omnicc-chat").shadowRoot.querySelector("textarea");
		ta.value = "I am typ"; ta.dispatchEvent(new Event("input")); ta.value = ""; return true })()`, nil)); err != nil {
		t.Fatal(err)
	}
	agentEvent("the visitor typing", func(ev map[string]any) bool {
		return ev["type"] == "typing" && ev["interaction_id"] == float64(id) && ev["from"] == "visitor"
	})
	// The agent reads: the visitor's ticks turn to read.
	e.call("POST", "/interactions/"+itoa(id)+"/read", e.alice, nil, nil)
	waitJS(t, ctx, "read ticks", `document.querySelector("#omnicc-chat").shadowRoot.querySelector(".tick.read") !== null`)
	shot := browsertest.Screenshot(t, ctx, "webchat-open")
	t.Logf("screenshot of the open widget: %s", shot)

	// A reload resumes the same conversation, each message once.
	before := pageMessages(t, ctx)
	if err := chromedp.Run(ctx, chromedp.Reload(), eval(readyJS, &ready)); err != nil {
		t.Fatal(err)
	}
	waitJS(t, ctx, "the history after a reload", fmt.Sprintf(`window.omnicc.chat.messages().length >= %d`, len(before)))
	after := pageMessages(t, ctx)
	if fmt.Sprint(after) != fmt.Sprint(before) {
		t.Fatalf("after a reload:\n %v\nbefore:\n %v", after, before)
	}
	// A second tab (same browser, same storage) is the same conversation.
	tab, closeTab := chromedp.NewContext(ctx)
	if err := chromedp.Run(tab, chromedp.Navigate(page.URL), eval(readyJS, &ready)); err != nil {
		t.Fatal(err)
	}
	waitJS(t, tab, "the history in a second tab", fmt.Sprintf(`window.omnicc.chat.messages().length >= %d`, len(before)))
	if got := pageMessages(t, tab); fmt.Sprint(got) != fmt.Sprint(before) {
		t.Fatalf("second tab:\n %v\nwant:\n %v", got, before)
	}
	closeTab()

	// The network drops: three messages written meanwhile arrive once, in
	// order, once it is back.
	proxy.Cut()
	if err := chromedp.Run(ctx, eval(`window.__sent = Promise.all(["one", "two", "three"].map(b => window.omnicc.chat.send(b))); true`, nil)); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Second)
	proxy.Restore()
	if err := chromedp.Run(ctx, eval(`window.__sent.then(() => true)`, &ready)); err != nil {
		t.Fatal(err)
	}
	e.call("GET", "/interactions/"+itoa(id)+"/messages", e.alice, nil, &msgs)
	var bodies []string
	for _, m := range msgs {
		if m.Direction == "in" {
			bodies = append(bodies, m.Body)
		}
	}
	if got := strings.Join(bodies, "|"); got != "Hello, is anyone there? 👋|one|two|three" {
		t.Fatalf("the visitor's messages as stored: %s", got)
	}
	waitJS(t, ctx, "the page has them with their seq", `window.omnicc.chat.messages().filter(m => ["one","two","three"].includes(m.body)).length === 3`)

	// Phone width: the panel fills the screen and stays usable.
	if err := chromedp.Run(ctx, chromedp.EmulateViewport(390, 844)); err != nil {
		t.Fatal(err)
	}
	var panelWidth float64
	if err := chromedp.Run(ctx, eval(`document.querySelector("#omnicc-chat").shadowRoot.querySelector(".panel").getBoundingClientRect().width`, &panelWidth)); err != nil {
		t.Fatal(err)
	}
	if panelWidth < 380 {
		t.Fatalf("on a phone the panel is %vpx wide", panelWidth)
	}
	browsertest.Screenshot(t, ctx, "webchat-phone")

	// A page of an origin the website does not allow gets no chat.
	evil := hostPage(t, webchat.Snippet(proxy.URL(), w.Token))
	other := browsertest.New(t)
	octx, ocancel := browsertest.Timeout(other, time.Minute)
	defer ocancel()
	var status int
	if err := chromedp.Run(octx, chromedp.Navigate(evil.URL),
		eval(`fetch(`+jsString(proxy.URL()+"/api/v1/chat/sessions")+`, {method: "POST", headers: {"Content-Type": "text/plain"}, body: JSON.stringify({website: `+jsString(w.Token)+`})}).then(r => r.status, () => 0)`, &status)); err != nil {
		t.Fatal(err)
	}
	if status != 0 {
		t.Fatalf("a page of a disallowed origin read the session answer (%d)", status)
	}
	time.Sleep(time.Second)
	var built bool
	if err := chromedp.Run(octx, eval(`document.querySelector("#omnicc-chat") !== null`, &built)); err != nil {
		t.Fatal(err)
	}
	if built {
		t.Fatal("the widget opened on a disallowed origin")
	}
	var denied struct{ Error struct{ Code string } }
	if st := e.visit("POST", "/chat/sessions", evil.URL, map[string]string{"website": w.Token}, &denied); st != 403 || denied.Error.Code != "origin_not_allowed" {
		t.Fatalf("the server answered a disallowed origin %d %+v", st, denied)
	}
}

func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
