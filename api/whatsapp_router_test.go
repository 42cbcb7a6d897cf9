package api_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

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

// The WhatsApp side of the interaction contract over REST: the interaction
// carries window_expires_at; POST /interactions/{id}/template is for the
// owning agent (agents_can_send templates, the recontact one once the window
// has closed) or staff; free text outside the window is a 409 window_closed
// without a provider call; a queue requiring a disposition answers a bare
// close with 400 naming disposition.
func TestInteractionTemplatesAndWindowOverREST(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := t.Context()
		var sends atomic.Int32
		fake := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
			n := sends.Add(1)
			rw.Header().Set("Content-Type", "application/json")
			fmt.Fprintf(rw, `{"messaging_product":"whatsapp","messages":[{"id":"wamid.out%d"}]}`, n)
		}))
		t.Cleanup(fake.Close)
		clk := clock.NewFake(time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC))
		dir := directory.New(db, directory.Options{ExtensionLow: 1000, ExtensionHigh: 1999, BcryptCost: 4, Now: clk.Now})
		if _, _, err := dir.EnsureAdmin(ctx, adminPassword); err != nil {
			t.Fatal(err)
		}
		authn := auth.New(db, dir, auth.Options{LockoutThreshold: 5})
		pres := presence.New(presence.Options{DB: db, Directory: dir, Controller: nopQueues{}, Clock: clk, FlushDelay: -1, EventWait: -1})
		rt := router.New(router.Options{DB: db, Presence: pres, Directory: dir, Clock: clk})
		conn, err := whatsapp.New(whatsapp.Options{Store: whatsapp.NewStore(db, clk), Clock: clk, PublicURL: publicURL})
		if err != nil {
			t.Fatal(err)
		}
		rt.SetSender(whatsapp.Channel, whatsapp.RouterSender{Connector: conn})
		s, err := api.New(api.Options{DB: db, Directory: dir, Auth: authn, PublicURL: publicURL, MaxBodyBytes: 1 << 20,
			Mounts: []func(*api.Router){api.NewInteractions(rt).Mount, api.NewWhatsApp(conn, rt).Mount}})
		if err != nil {
			t.Fatal(err)
		}
		e := &env{t: t, srv: httptest.NewServer(s.Handler()), api: s, dir: dir}
		t.Cleanup(e.srv.Close)
		e.admin = e.login("admin", adminPassword)
		str := func(s string) *string { return &s }
		q, err := dir.CreateQueue(ctx, directory.QueueInput{Name: str("wa"), Channel: str("whatsapp"), Strategy: str("roundrobin"),
			RequireDisposition: ptrTo(true)})
		if err != nil {
			t.Fatal(err)
		}
		var agents []int64
		var tokens []string
		for _, name := range []string{"ann", "bob"} {
			a, err := dir.CreateAgent(ctx, directory.AgentInput{FullName: str(name), Username: str(name),
				Typology: str(directory.TypologyWebRTC), Password: str("Str0ng-Pass")})
			if err != nil {
				t.Fatal(err)
			}
			if err := dir.AddQueueMember(ctx, directory.MembershipInput{QueueID: q.ID, AgentID: a.ID}); err != nil {
				t.Fatal(err)
			}
			agents = append(agents, a.ID)
			tokens = append(tokens, e.login(name, "Str0ng-Pass"))
		}
		ann, bob := tokens[0], tokens[1]
		if err := pres.Load(ctx); err != nil {
			t.Fatal(err)
		}
		if err := rt.Load(ctx); err != nil {
			t.Fatal(err)
		}
		for _, a := range agents {
			if _, err := pres.Login(ctx, a, "api"); err != nil {
				t.Fatal(err)
			}
		}
		var acct map[string]any
		e.must(e.call("POST", "/api/v1/whatsapp-accounts", e.admin, map[string]any{"name": "Meta", "provider": "meta",
			"queue_id": q.ID, "phone_number_id": "106540352242922", "access_token": "made-up-access-token",
			"app_secret": "made-up-app-secret", "verify_token": "made-up-verify-token", "api_base_url": fake.URL + "/v21.0"}, &acct), 201)
		tpl := map[string]int64{}
		for name, flags := range map[string]map[string]any{
			"welcome":   {"agents_can_send": true},
			"recontact": {"recontact": true},
			"internal":  {},
		} {
			body := map[string]any{"account_id": id(acct), "name": name, "language": "en"}
			for k, v := range flags {
				body[k] = v
			}
			var out map[string]any
			e.must(e.call("POST", "/api/v1/whatsapp-templates", e.admin, body, &out), 201)
			tpl[name] = id(out)
		}

		window := clk.Now().Add(24 * time.Hour)
		res, err := whatsapp.RouterInbox{Router: rt}.Deliver(ctx, whatsapp.Inbound{Channel: whatsapp.Channel, AccountID: id(acct),
			QueueID: q.ID, From: "16505551234", Name: "Kerry", ExternalID: "wamid.IN1", Kind: whatsapp.KindText, Body: "Hello",
			WindowExpiresAt: window})
		if err != nil {
			t.Fatal(err)
		}
		path := fmt.Sprintf("/api/v1/interactions/%d", res.InteractionID)
		// Whoever was offered it accepts it.
		owner, other := ann, bob
		if e.call("POST", path+"/accept", ann, nil, nil) != 200 {
			owner, other = bob, ann
			e.must(e.call("POST", path+"/accept", bob, nil, nil), 200)
		}
		var it map[string]any
		e.must(e.call("GET", path, owner, nil, &it), 200)
		if it["window_expires_at"] != window.Format(time.RFC3339) {
			t.Fatalf("window_expires_at = %v, want %s", it["window_expires_at"], window.Format(time.RFC3339))
		}

		send := func(tok, name string) (int, apiErr) {
			var fail apiErr
			st := e.call("POST", path+"/template", tok, map[string]any{"template_id": tpl[name], "parameters": []string{"Kerry"}}, &fail)
			return st, fail
		}
		if st, fail := send(owner, "internal"); st != 403 || fail.Error.Field != "template_id" {
			t.Fatalf("agent sends a template not for agents: %d %+v", st, fail)
		}
		if st, _ := send(other, "welcome"); st != 403 {
			t.Fatalf("another agent's interaction: %d, want 403", st)
		}
		if st, _ := send(owner, "recontact"); st != 403 {
			t.Fatalf("recontact inside the window: %d, want 403", st)
		}
		var m map[string]any
		e.must(e.call("POST", path+"/template", owner, map[string]any{"template_id": tpl["welcome"], "parameters": []string{"Kerry"}}, &m), 201)
		if m["body"] != "[template welcome] Kerry" || m["status"] != "sent" || sends.Load() != 1 {
			t.Fatalf("template message %v (%d provider calls)", m, sends.Load())
		}

		// The window closes: free text is refused by omniccd itself.
		clk.Advance(25 * time.Hour)
		var fail apiErr
		e.must(e.call("POST", path+"/messages", owner, map[string]any{"body": "Still there?"}, &fail), 409)
		if fail.Error.Code != "window_closed" || sends.Load() != 1 {
			t.Fatalf("free text outside the window: %+v (%d provider calls)", fail, sends.Load())
		}
		e.must(e.call("POST", path+"/template", owner, map[string]any{"template_id": tpl["recontact"]}, &m), 201)
		e.must(e.call("POST", path+"/template", e.admin, map[string]any{"template_id": tpl["internal"]}, &m), 201)
		var msgs []map[string]any
		e.must(e.call("GET", path+"/messages", owner, nil, &msgs), 200)
		if len(msgs) != 4 {
			t.Fatalf("%d messages, want the customer's and three templates", len(msgs))
		}

		// The queue requires a disposition.
		e.must(e.call("POST", path+"/close", owner, nil, &fail), 400)
		if fail.Error.Field != "disposition" {
			t.Fatalf("bare close: %+v", fail)
		}
	})
}

func ptrTo[T any](v T) *T { return &v }
