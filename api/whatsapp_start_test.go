package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"omnicc/api"
	"omnicc/auth"
	"omnicc/channels/whatsapp"
	"omnicc/clock"
	"omnicc/directory"
	"omnicc/presence"
	"omnicc/router"
	"omnicc/store"
	"omnicc/storetest"
)

// metaRecorder is a fake Graph API that keeps every send it answers.
type metaRecorder struct {
	mu    sync.Mutex
	sends []map[string]any
}

func (f *metaRecorder) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	raw, _ := io.ReadAll(r.Body)
	var body map[string]any
	_ = json.Unmarshal(raw, &body)
	f.mu.Lock()
	f.sends = append(f.sends, body)
	n := len(f.sends)
	f.mu.Unlock()
	rw.Header().Set("Content-Type", "application/json")
	fmt.Fprintf(rw, `{"messaging_product":"whatsapp","contacts":[{"input":"%v","wa_id":"%v"}],"messages":[{"id":"wamid.out%d"}]}`,
		body["to"], body["to"], n)
}

func (f *metaRecorder) all() []map[string]any {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]map[string]any(nil), f.sends...)
}

// A conversation started from the contact card with a template is an
// interaction at once: held by the agent who sent it (accepted, in its
// load), on its websocket as `interaction`, in its inbox, the template its
// first message with the provider's statuses; the customer's answer lands
// in the same interaction and opens the 24-hour window. Over REST and
// signed webhooks, against a fake Graph API.
func TestWhatsAppTemplateStartsAnInteraction(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx, cancel := context.WithCancel(t.Context())
		meta := &metaRecorder{}
		fake := httptest.NewServer(meta)
		t.Cleanup(fake.Close)
		clk := clock.NewFake(time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC))
		dir := directory.New(db, directory.Options{ExtensionLow: 1000, ExtensionHigh: 1999, BcryptCost: 4, Now: clk.Now})
		if _, _, err := dir.EnsureAdmin(ctx, adminPassword); err != nil {
			t.Fatal(err)
		}
		authn := auth.New(db, dir, auth.Options{LockoutThreshold: 5})
		hub, err := api.NewHub(api.HubOptions{Auth: authn})
		if err != nil {
			t.Fatal(err)
		}
		var rt *router.Router
		pres := presence.New(presence.Options{DB: db, Directory: dir, Controller: nopQueues{}, Clock: clk, FlushDelay: -1, EventWait: -1,
			Publisher: presence.PublisherFunc(func(e presence.Event) {
				hub.Publish(e)
				if rt != nil {
					rt.Observe(e)
				}
			})})
		rt = router.New(router.Options{DB: db, Presence: pres, Directory: dir, Clock: clk, Publisher: hub})
		conn, err := whatsapp.New(whatsapp.Options{Store: whatsapp.NewStore(db, clk), Clock: clk, PublicURL: publicURL,
			Inbox: whatsapp.RouterInbox{Router: rt}, Statuses: whatsapp.RouterStatuses{Router: rt}})
		if err != nil {
			t.Fatal(err)
		}
		rt.SetSender(whatsapp.Channel, whatsapp.RouterSender{Connector: conn})
		s, err := api.New(api.Options{DB: db, Directory: dir, Auth: authn, PublicURL: publicURL, MaxBodyBytes: 1 << 20,
			Mounts: []func(*api.Router){hub.Mount, api.NewInteractions(rt).Mount, api.NewWhatsApp(conn, rt).Mount}})
		if err != nil {
			t.Fatal(err)
		}
		e := &env{t: t, srv: httptest.NewServer(s.Handler()), api: s, dir: dir}
		var wg sync.WaitGroup
		t.Cleanup(func() {
			cancel()
			wg.Wait()
			e.srv.Close()
		})
		wg.Go(func() { _ = hub.Run(ctx) })
		wg.Go(func() { _ = conn.Run(ctx) })

		e.admin = e.login("admin", adminPassword)
		str := func(s string) *string { return &s }
		q, err := dir.CreateQueue(ctx, directory.QueueInput{Name: str("wa"), Channel: str("whatsapp"), Strategy: str("roundrobin")})
		if err != nil {
			t.Fatal(err)
		}
		agentIDs := map[string]int64{}
		tokens := map[string]string{}
		for _, name := range []string{"ann", "bob"} {
			a, err := dir.CreateAgent(ctx, directory.AgentInput{FullName: str(name), Username: str(name),
				Typology: str(directory.TypologyWebRTC), Password: str("Str0ng-Pass")})
			if err != nil {
				t.Fatal(err)
			}
			if err := dir.AddQueueMember(ctx, directory.MembershipInput{QueueID: q.ID, AgentID: a.ID}); err != nil {
				t.Fatal(err)
			}
			agentIDs[name], tokens[name] = a.ID, e.login(name, "Str0ng-Pass")
		}
		if err := pres.Load(ctx); err != nil {
			t.Fatal(err)
		}
		if err := rt.Load(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := pres.Login(ctx, agentIDs["ann"], "api"); err != nil {
			t.Fatal(err)
		}
		var acct map[string]any
		e.must(e.call("POST", "/api/v1/whatsapp-accounts", e.admin, map[string]any{"name": "Meta", "provider": "meta",
			"queue_id": q.ID, "phone_number_id": "106540352242922", "access_token": "made-up-access-token",
			"app_secret": "made-up-app-secret", "verify_token": "made-up-verify-token", "api_base_url": fake.URL + "/v21.0"}, &acct), 201)
		var tpl map[string]any
		e.must(e.call("POST", "/api/v1/whatsapp-templates", e.admin, map[string]any{"account_id": id(acct), "name": "hello",
			"language": "en_US", "agents_can_send": true,
			"components": []any{map[string]any{"type": "body", "parameters": []any{map[string]any{"type": "text", "text": "{{1}}"}}}}}, &tpl), 201)

		ws, _, err := websocket.DefaultDialer.DialContext(ctx, "ws"+strings.TrimPrefix(e.srv.URL, "http")+"/api/v1/ws",
			http.Header{"Authorization": {"Bearer " + tokens["ann"]}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ws.Close() })
		next := func(typ string) map[string]any {
			t.Helper()
			for {
				ev := readEvent(t, ws)
				if ev["type"] == typ {
					return ev
				}
			}
		}

		// Ann starts the conversation from the contact card.
		sendPath := fmt.Sprintf("/api/v1/whatsapp-templates/%d/send", id(tpl))
		var out map[string]any
		e.must(e.call("POST", sendPath, tokens["ann"], map[string]any{"to": "+1 650-555-1234", "parameters": []string{"Kerry"}}, &out), 201)
		itID, _ := out["interaction_id"].(float64)
		if out["external_id"] != "wamid.out1" || out["status"] != "pending" || out["message_id"] == nil || itID == 0 {
			t.Fatalf("send answered %v", out)
		}
		it := out["interaction"].(map[string]any)
		if it["status"] != router.StatusAccepted || it["agent_id"] != float64(agentIDs["ann"]) || it["customer"] != "16505551234" {
			t.Fatalf("interaction %v, want accepted by ann for 16505551234", it)
		}
		sends := meta.all()
		if len(sends) != 1 || sends[0]["type"] != "template" || sends[0]["to"] != "16505551234" ||
			sends[0]["biz_opaque_callback_data"] != fmt.Sprintf("omnicc:%v", out["message_id"]) {
			t.Fatalf("provider got %v", sends)
		}
		if name := sends[0]["template"].(map[string]any)["name"]; name != "hello" {
			t.Fatalf("template %v sent", name)
		}
		ev := next("interaction")
		evIt, _ := ev["interaction"].(map[string]any)
		if evIt == nil || evIt["id"] != itID || evIt["status"] != router.StatusAccepted {
			t.Fatalf("websocket interaction event %v", ev)
		}
		if l, _ := pres.LoadOn(agentIDs["ann"], whatsapp.Channel); l.Open != 1 {
			t.Fatalf("ann's whatsapp load %+v, want 1 open", l)
		}
		path := fmt.Sprintf("/api/v1/interactions/%d", int64(itID))
		var inbox struct {
			Items []map[string]any `json:"items"`
			Total int              `json:"total"`
		}
		e.must(e.call("GET", "/api/v1/interactions", tokens["ann"], nil, &inbox), 200)
		if inbox.Total != 1 || inbox.Items[0]["id"] != itID {
			t.Fatalf("ann's inbox %+v", inbox)
		}
		msgs := func() []map[string]any {
			var ms []map[string]any
			e.must(e.call("GET", path+"/messages", tokens["ann"], nil, &ms), 200)
			return ms
		}
		if ms := msgs(); len(ms) != 1 || ms[0]["body"] != "[template hello] Kerry" || ms[0]["status"] != router.MessageSent {
			t.Fatalf("messages %v", ms)
		}
		// Until the customer answers, only templates go.
		var fail apiErr
		e.must(e.call("POST", path+"/messages", tokens["ann"], map[string]any{"body": "Hi"}, &fail), 409)
		if fail.Error.Code != "window_closed" || len(meta.all()) != 1 {
			t.Fatalf("free text before the answer: %+v (%d sends)", fail, len(meta.all()))
		}
		// Another agent cannot take the customer over from the contact card.
		e.must(e.call("POST", sendPath, tokens["bob"], map[string]any{"to": "16505551234"}, &fail), 409)

		hook := fmt.Sprintf("/api/v1/webhooks/whatsapp/%d", id(acct))
		deliver := func(value string) {
			t.Helper()
			body := []byte(`{"object":"whatsapp_business_account","entry":[{"id":"102290129340398","changes":[{"field":"messages","value":{"messaging_product":"whatsapp","metadata":{"display_phone_number":"15550783881","phone_number_id":"106540352242922"},` + value + `}}]}]}`)
			req, _ := http.NewRequestWithContext(ctx, "POST", e.srv.URL+hook, strings.NewReader(string(body)))
			req.Header.Set("X-Hub-Signature-256", whatsapp.SignMeta("made-up-app-secret", body))
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			if res.StatusCode != 200 {
				t.Fatalf("webhook answered %d", res.StatusCode)
			}
		}
		// The template's status follows it.
		deliver(fmt.Sprintf(`"statuses":[{"id":"wamid.out1","status":"delivered","timestamp":"%d","recipient_id":"16505551234","biz_opaque_callback_data":"omnicc:%v"}]`,
			clk.Now().Unix(), out["message_id"]))
		if ms := msgs(); ms[0]["status"] != router.MessageDelivered {
			t.Fatalf("template message after delivered: %v", ms[0])
		}

		// The customer answers: the same interaction, the window open.
		clk.Advance(time.Minute)
		deliver(fmt.Sprintf(`"contacts":[{"profile":{"name":"Kerry Fisher"},"wa_id":"16505551234"}],"messages":[{"from":"16505551234","id":"wamid.ANSWER1","timestamp":"%d","type":"text","text":{"body":"Yes please"}}]`,
			clk.Now().Unix()))
		m := next("message")
		for msg, _ := m["message"].(map[string]any); msg == nil || msg["direction"] != router.DirectionIn; msg, _ = m["message"].(map[string]any) {
			m = next("message")
		}
		if m["interaction_id"] != itID {
			t.Fatalf("the answer reached interaction %v, want %v", m["interaction_id"], itID)
		}
		var cur map[string]any
		e.must(e.call("GET", path, tokens["ann"], nil, &cur), 200)
		want := clk.Now().Add(whatsapp.Window).Format(time.RFC3339)
		if cur["status"] != router.StatusAccepted || cur["agent_id"] != float64(agentIDs["ann"]) || cur["window_expires_at"] != want {
			t.Fatalf("after the answer: %v (window want %s)", cur, want)
		}
		if ms := msgs(); len(ms) != 2 || ms[1]["body"] != "Yes please" {
			t.Fatalf("messages after the answer: %v", ms)
		}
		e.must(e.call("GET", "/api/v1/interactions", e.admin, nil, &inbox), 200)
		if inbox.Total != 1 {
			t.Fatalf("%d interactions, want the one the template opened", inbox.Total)
		}
		e.must(e.call("POST", path+"/messages", tokens["ann"], map[string]any{"body": "Great, here it is"}, nil), 201)
		if sends := meta.all(); len(sends) != 2 || sends[1]["type"] != "text" {
			t.Fatalf("provider got %v", sends)
		}
		if l, _ := pres.LoadOn(agentIDs["ann"], whatsapp.Channel); l.Open != 1 {
			t.Fatalf("ann's whatsapp load %+v after the answer, want still 1", l)
		}
	})
}
