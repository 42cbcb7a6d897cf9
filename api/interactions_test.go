package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"omnicc/api"
	"omnicc/auth"
	"omnicc/directory"
	"omnicc/presence"
	"omnicc/router"
	"omnicc/store"
	"omnicc/storetest"
)

type nopQueues struct{}

func (nopQueues) QueueAdd(context.Context, presence.Member) error                { return nil }
func (nopQueues) QueueRemove(context.Context, string, string) error              { return nil }
func (nopQueues) QueuePause(context.Context, string, string, bool, string) error { return nil }
func (nopQueues) QueuePenalty(context.Context, string, string, int) error        { return nil }

type routerEnv struct {
	*env
	rt     *router.Router
	pres   *presence.Service
	queue  int64
	agents []int64
	tokens []string
}

// newRouterEnv serves the interaction routes over a real listener, with
// three logged-in agents in a beepall chat queue.
func newRouterEnv(t *testing.T, db *store.DB) *routerEnv {
	t.Helper()
	ctx := t.Context()
	dir := directory.New(db, directory.Options{ExtensionLow: 1000, ExtensionHigh: 1999, BcryptCost: 4})
	if _, _, err := dir.EnsureAdmin(ctx, adminPassword); err != nil {
		t.Fatal(err)
	}
	authn := auth.New(db, dir, auth.Options{LockoutThreshold: 5})
	pres := presence.New(presence.Options{DB: db, Directory: dir, Controller: nopQueues{}, FlushDelay: -1, EventWait: -1})
	rt := router.New(router.Options{DB: db, Presence: pres, Directory: dir})
	interactions := api.NewInteractions(rt)
	interactions.Files = router.NewFiles(t.TempDir())
	interactions.MaskFor = dir.MaskSensitiveData
	s, err := api.New(api.Options{DB: db, Directory: dir, Auth: authn, MaxBodyBytes: 64 << 10,
		Mounts: []func(*api.Router){interactions.Mount}})
	if err != nil {
		t.Fatal(err)
	}
	e := &routerEnv{env: &env{t: t, srv: httptest.NewServer(s.Handler()), api: s, dir: dir}, rt: rt, pres: pres}
	t.Cleanup(e.srv.Close)
	e.admin = e.login("admin", adminPassword)
	str := func(s string) *string { return &s }
	q, err := dir.CreateQueue(ctx, directory.QueueInput{Name: str("web"), Channel: str("chat"), Strategy: str("beepall")})
	if err != nil {
		t.Fatal(err)
	}
	e.queue = q.ID
	for i := range 3 {
		name := fmt.Sprintf("agent%d", i)
		a, err := dir.CreateAgent(ctx, directory.AgentInput{FullName: str(name), Username: str(name),
			Typology: str(directory.TypologyWebRTC), Password: str("Str0ng-Pass")})
		if err != nil {
			t.Fatal(err)
		}
		if err := dir.AddQueueMember(ctx, directory.MembershipInput{QueueID: q.ID, AgentID: a.ID}); err != nil {
			t.Fatal(err)
		}
		e.agents = append(e.agents, a.ID)
		e.tokens = append(e.tokens, e.login(name, "Str0ng-Pass"))
	}
	if err := pres.Load(ctx); err != nil {
		t.Fatal(err)
	}
	if err := rt.Load(ctx); err != nil {
		t.Fatal(err)
	}
	for _, a := range e.agents {
		if _, err := pres.Login(ctx, a, "api"); err != nil {
			t.Fatal(err)
		}
	}
	return e
}

type goneErr struct {
	Error struct {
		Code   string `json:"code"`
		Reason string `json:"reason"`
	} `json:"error"`
}

func TestInteractionsREST(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newRouterEnv(t, db)
		ctx := t.Context()
		it, _, _, err := e.rt.Receive(ctx, router.Inbound{Channel: "chat", Account: "site", Customer: "visitor", QueueID: e.queue, Body: "hello"})
		if err != nil {
			t.Fatal(err)
		}
		if it.Status != router.StatusOffered {
			t.Fatalf("status %s, want offered", it.Status)
		}
		path := fmt.Sprintf("/api/v1/interactions/%d", it.ID)

		// Every agent accepts at once over HTTP: one 200, the others 409 taken.
		var wg sync.WaitGroup
		statuses := make([]int, len(e.tokens))
		gone := make([]goneErr, len(e.tokens))
		for i, tok := range e.tokens {
			wg.Add(1)
			go func() {
				defer wg.Done()
				statuses[i] = e.call("POST", path+"/accept", tok, nil, &gone[i])
			}()
		}
		wg.Wait()
		winner := -1
		for i, st := range statuses {
			switch {
			case st == 200 && winner < 0:
				winner = i
			case st == 409 && gone[i].Error.Code == "offer_gone" && gone[i].Error.Reason == "taken":
			default:
				t.Fatalf("accepts answered %v (%+v)", statuses, gone)
			}
		}
		if winner < 0 {
			t.Fatalf("nobody won: %v", statuses)
		}
		me, other := e.tokens[winner], e.tokens[(winner+1)%len(e.tokens)]

		e.must(e.call("GET", path, other, nil, nil), 403)
		e.must(e.call("GET", "/api/v1/interactions/999999", me, nil, nil), 404)
		e.must(e.call("GET", "/api/v1/interactions/abc", me, nil, nil), 400)

		var m router.Message
		e.must(e.call("POST", path+"/messages", me, map[string]string{"body": "hi there", "client_id": "k1"}, &m), 201)
		var again router.Message
		e.must(e.call("POST", path+"/messages", me, map[string]string{"body": "hi there", "client_id": "k1"}, &again), 200)
		if again.ID != m.ID || m.Seq != 2 {
			t.Fatalf("retried reply %+v vs %+v", again, m)
		}
		// No connector is registered for chat here: the reply is kept, failed.
		if m.Status != router.MessageFailed || m.Error == "" {
			t.Fatalf("reply without a sender: %+v", m)
		}
		e.must(e.call("POST", path+"/messages", other, map[string]string{"body": "mine?"}, nil), 403)
		e.must(e.call("POST", path+"/messages", me, map[string]string{"body": strings.Repeat("x", router.MaxBody+1)}, nil), 413)

		var msgs []router.Message
		e.must(e.call("GET", path+"/messages?after_seq=1", me, nil, &msgs), 200)
		if len(msgs) != 1 || msgs[0].Seq != 2 {
			t.Fatalf("after_seq=1: %+v", msgs)
		}

		var lst struct {
			Items []router.Interaction `json:"items"`
			Total int                  `json:"total"`
		}
		e.must(e.call("GET", "/api/v1/interactions?status=accepted", other, nil, &lst), 200)
		if lst.Total != 0 {
			t.Fatalf("another agent lists %d accepted interactions", lst.Total)
		}
		e.must(e.call("GET", "/api/v1/interactions?status=accepted", e.admin, nil, &lst), 200)
		if lst.Total != 1 || lst.Items[0].ID != it.ID {
			t.Fatalf("admin list: %+v", lst)
		}
		e.must(e.call("GET", "/api/v1/interactions?status=bogus", e.admin, nil, nil), 422)

		e.must(e.call("PUT", path+"/tags", me, map[string]any{"tags": []string{"vip", "billing"}}, nil), 200)
		e.must(e.call("GET", "/api/v1/interactions?tag=vip", e.admin, nil, &lst), 200)
		if lst.Total != 1 {
			t.Fatalf("tag filter found %d", lst.Total)
		}
		// A transfer to oneself is refused naming the field; one to another
		// agent waits for it, and its refusal leaves the interaction here.
		var fail apiErr
		e.must(e.call("POST", path+"/transfer", me, map[string]int64{"agent_id": e.agents[winner]}, &fail), 422)
		if fail.Error.Field != "agent_id" {
			t.Fatalf("transfer to itself: %+v", fail)
		}
		otherID := e.agents[(winner+1)%len(e.agents)]
		e.must(e.call("POST", path+"/transfer", me, map[string]int64{"agent_id": otherID}, nil), 202)
		e.must(e.call("POST", path+"/reject", other, nil, nil), 204)
		e.must(e.call("GET", path, me, nil, nil), 200)
		e.must(e.call("POST", path+"/notes", me, map[string]string{"body": "called back"}, nil), 201)

		var dash router.Dashboard
		e.must(e.call("GET", fmt.Sprintf("/api/v1/agents/%d/dashboard", e.agents[winner]), me, nil, &dash), 200)
		if dash.Open != 1 || len(dash.Queues) != 1 || dash.Queues[0].Waiting != 0 {
			t.Fatalf("dashboard %+v", dash)
		}
		e.must(e.call("GET", fmt.Sprintf("/api/v1/agents/%d/dashboard", e.agents[winner]), other, nil, nil), 403)

		e.must(e.call("POST", path+"/close", me, map[string]string{"disposition": "sold"}, nil), 422)
		e.must(e.call("POST", "/api/v1/dispositions", me, map[string]string{"name": "sold"}, nil), 403)
		e.must(e.call("POST", "/api/v1/dispositions", e.admin, map[string]string{"name": "sold"}, nil), 201)
		e.must(e.call("POST", "/api/v1/dispositions", e.admin, map[string]string{"name": "sold"}, nil), 409)
		var closed router.Interaction
		e.must(e.call("POST", path+"/close", me, map[string]string{"disposition": "sold"}, &closed), 200)
		if closed.Status != router.StatusClosed || closed.Disposition != "sold" || closed.ClosedAt == nil {
			t.Fatalf("closed: %+v", closed)
		}
		e.must(e.call("POST", path+"/close", me, nil, nil), 200)
		e.must(e.call("POST", path+"/messages", me, map[string]string{"body": "late"}, nil), 409)
		e.must(e.call("POST", path+"/accept", other, nil, nil), 409)
		e.must(e.call("POST", path+"/reopen", me, nil, &closed), 200)
		if closed.Status != router.StatusAccepted {
			t.Fatalf("reopened: %+v", closed)
		}
		raw, _ := json.Marshal(closed)
		for _, k := range []string{`"id"`, `"channel"`, `"queue_id"`, `"status"`, `"agent_id"`, `"contact_id"`, `"created_at"`, `"closed_at"`, `"disposition"`, `"tags"`, `"unread"`} {
			if !strings.Contains(string(raw), k) {
				t.Fatalf("interaction JSON lacks %s: %s", k, raw)
			}
		}
	})
}
