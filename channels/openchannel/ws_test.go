package openchannel_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/gorilla/websocket"

	"omnicc/api"
	"omnicc/auth"
	"omnicc/channels/openchannel"
	"omnicc/directory"
	"omnicc/presence"
	"omnicc/router"
	"omnicc/storetest"
)

// The websocket contract, end to end: an integrator's message reaches both
// beepall agents' desktops as `offer` {"interaction", "expires_at"}; when
// one accepts over REST the other reads `offer_withdrawn` {"interaction_id",
// "reason": "taken"}, and the winner reads `interaction` and `message`.
func TestWebsocketEvents(t *testing.T) {
	db := storetest.SQLite(t)
	ctx, cancel := context.WithCancel(t.Context())
	str := func(s string) *string { return &s }
	dir := directory.New(db, directory.Options{BcryptCost: 4})
	authn := auth.New(db, dir, auth.Options{})
	hub, err := api.NewHub(api.HubOptions{Auth: authn})
	if err != nil {
		t.Fatal(err)
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
		t.Fatal(err)
	}
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	wg.Go(func() { _ = hub.Run(ctx) })
	wg.Go(func() { _ = rt.Run(ctx) })

	q, err := dir.CreateQueue(ctx, directory.QueueInput{Name: str("sms"), Channel: str(openchannel.Channel), Strategy: str("beepall")})
	if err != nil {
		t.Fatal(err)
	}
	var tokens []string
	var conns []*websocket.Conn
	for _, name := range []string{"alice", "bob"} {
		a, err := dir.CreateAgent(ctx, directory.AgentInput{FullName: str(name), Username: str(name),
			Typology: str(directory.TypologyWebRTC), Password: str("Str0ng-Pass")})
		if err != nil {
			t.Fatal(err)
		}
		if err := dir.AddQueueMember(ctx, directory.MembershipInput{QueueID: q.ID, AgentID: a.ID}); err != nil {
			t.Fatal(err)
		}
		tok, _, _, err := authn.Login(ctx, name, "Str0ng-Pass")
		if err != nil {
			t.Fatal(err)
		}
		tokens = append(tokens, tok)
	}
	acc, err := conn.CreateAccount(ctx, openchannel.AccountInput{Name: str("gw"), QueueID: &q.ID, ReplyURL: str("http://127.0.0.1:9/none")})
	if err != nil {
		t.Fatal(err)
	}
	if err := pres.Load(ctx); err != nil {
		t.Fatal(err)
	}
	if err := rt.Load(ctx); err != nil {
		t.Fatal(err)
	}
	for _, tok := range tokens {
		ws, _, err := websocket.DefaultDialer.DialContext(ctx, "ws"+strings.TrimPrefix(srv.URL, "http")+"/api/v1/ws",
			http.Header{"Authorization": {"Bearer " + tok}})
		if err != nil {
			t.Fatal(err)
		}
		defer ws.Close()
		conns = append(conns, ws)
	}
	agents, _ := dir.AgentRefs(ctx)
	for _, a := range agents {
		if _, err := pres.Login(ctx, a.ID, "api"); err != nil {
			t.Fatal(err)
		}
	}
	// next reads events until one of type typ.
	next := func(ws *websocket.Conn, typ string) map[string]any {
		t.Helper()
		for {
			_, raw, err := ws.ReadMessage()
			if err != nil {
				t.Fatalf("waiting for %s: %v", typ, err)
			}
			var ev map[string]any
			if json.Unmarshal(raw, &ev) == nil && ev["type"] == typ {
				return ev
			}
		}
	}
	body, _ := json.Marshal(openchannel.InboundMessage{From: "cust", Body: "hello", ExternalID: "e1"})
	req, _ := http.NewRequestWithContext(ctx, "POST", fmt.Sprintf("%s/api/v1/openchannel/%d/messages", srv.URL, acc.ID), bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+acc.Token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	var id float64
	for i, ws := range conns {
		ev := next(ws, "offer")
		it, ok := ev["interaction"].(map[string]any)
		if !ok || ev["expires_at"] == nil || it["status"] != "offered" {
			t.Fatalf("agent %d offer: %v", i, ev)
		}
		id = it["id"].(float64)
	}
	req, _ = http.NewRequestWithContext(ctx, "POST", fmt.Sprintf("%s/api/v1/interactions/%d/accept", srv.URL, int64(id)), nil)
	req.Header.Set("Authorization", "Bearer "+tokens[0])
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("accept: %s", resp.Status)
	}
	if ev := next(conns[1], "offer_withdrawn"); ev["interaction_id"] != id || ev["reason"] != "taken" {
		t.Fatalf("offer_withdrawn: %v", ev)
	}
	if ev := next(conns[0], "interaction"); ev["interaction"].(map[string]any)["status"] != "accepted" {
		t.Fatalf("interaction: %v", ev)
	}
	if _, _, _, err := conn.Receive(ctx, acc.ID, acc.Token, openchannel.InboundMessage{From: "cust", Body: "thanks", ExternalID: "e2"}); err != nil {
		t.Fatal(err)
	}
	if ev := next(conns[0], "message"); ev["interaction_id"] != id || ev["message"].(map[string]any)["seq"] != float64(2) {
		t.Fatalf("message: %v", ev)
	}
}
