package api_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"omnicc/ami"
	"omnicc/ami/amitest"
	"omnicc/api"
	"omnicc/auth"
	"omnicc/directory"
	"omnicc/presence"
	"omnicc/store"
	"omnicc/storetest"
)

// sessionEnv is the API with the agent session routes, over presence, the
// AMI tracker and an amitest Asterisk with an app_queue model.
type sessionEnv struct {
	*env
	db     *store.DB
	svc    *presence.Service
	ami    *amitest.Server
	queues *amitest.Queues
	pool   *ami.Pool
}

func newSessionEnv(t *testing.T, db *store.DB) *sessionEnv {
	t.Helper()
	quiet := slog.New(slog.DiscardHandler)
	dir := directory.New(db, directory.Options{ExtensionLow: 1000, ExtensionHigh: 1999, SecuritySuite: true, BcryptCost: 4})
	if _, _, err := dir.EnsureAdmin(t.Context(), adminPassword); err != nil {
		t.Fatal(err)
	}
	authn := auth.New(db, dir, auth.Options{LockoutThreshold: 5})
	svc := presence.New(presence.Options{DB: db, Directory: dir, Names: ami.Names{}, Logger: quiet, PINCost: 4, ActionTimeout: 2 * time.Second})
	srv := amitest.NewServer(t, "omnicc", "secret")
	queues := amitest.NewQueues(srv, "sales", "support")
	var tracker *ami.Tracker
	pool, err := ami.NewPool([]ami.BoxConfig{{Addr: srv.Addr(), Username: "omnicc", Secret: "secret"}}, ami.Config{
		PingInterval: time.Hour, BackoffMin: 5 * time.Millisecond, BackoffMax: 20 * time.Millisecond, Logger: quiet,
		OnConnect: func(ctx context.Context, c *ami.Client) error { return tracker.OnConnect(ctx, c) },
	})
	if err != nil {
		t.Fatal(err)
	}
	tracker = ami.NewTracker(pool, svc, ami.TrackerOptions{Logger: quiet})
	svc.SetController(tracker)
	if err := svc.Load(t.Context()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { _ = svc.Run(ctx) })
	wg.Go(func() { _ = tracker.Run(ctx) })
	wg.Go(func() { _ = pool.Run(ctx) })
	t.Cleanup(func() { cancel(); wg.Wait() })

	s, err := api.New(api.Options{DB: db, Directory: dir, Auth: authn, MaxBodyBytes: 64 << 10, Logger: quiet,
		Mounts: []func(*api.Router){api.NewAgentSessions(svc).Mount}})
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, srv: httptest.NewServer(s.Handler()), api: s, dir: dir}
	t.Cleanup(e.srv.Close)
	e.admin = e.login("admin", adminPassword)
	if err := srv.WaitLogins(t.Context(), 1); err != nil {
		t.Fatal(err)
	}
	if _, err := srv.WaitActions(t.Context(), "DeviceStateList", 1); err != nil {
		t.Fatal(err)
	}
	return &sessionEnv{env: e, db: db, svc: svc, ami: srv, queues: queues, pool: pool}
}

type sessionAnswer struct {
	Asterisk string              `json:"asterisk"`
	State    presence.AgentState `json:"state"`
	Error    api.ErrorDetail     `json:"error"`
}

// lastAction is the last action named name the fake Asterisk received, as
// fields without the ActionID.
func (e *sessionEnv) lastAction(name string) map[string]string {
	e.t.Helper()
	got := e.ami.Actions(name)
	if len(got) == 0 {
		e.t.Fatalf("Asterisk received no %s", name)
	}
	out := map[string]string{}
	for _, f := range got[len(got)-1].Fields() {
		if f.Key != "ActionID" {
			out[f.Key] = f.Value
		}
	}
	return out
}

func sameFields(got, want map[string]string) bool {
	if len(got) != len(want) {
		return false
	}
	for k, v := range want {
		if got[k] != v {
			return false
		}
	}
	return true
}

func TestAgentSessionsOverREST(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newSessionEnv(t, db)
		alice := id(e.createAgent(agent("alice", "webrtc")))
		bob := id(e.createAgent(agent("bob", "webrtc")))
		var q map[string]any
		e.must(e.call("POST", "/api/v1/queues", e.admin, map[string]any{"name": "sales", "channel": "voice", "strategy": "ringall"}, &q), 201)
		var chat map[string]any
		e.must(e.call("POST", "/api/v1/queues", e.admin, map[string]any{"name": "web", "channel": "chat", "strategy": "beepall"}, &chat), 201)
		e.must(e.call("POST", fmt.Sprintf("/api/v1/queues/%d/agents", id(q)), e.admin, map[string]any{"agent_id": alice, "penalty": 2}, nil), 200)
		e.must(e.call("POST", fmt.Sprintf("/api/v1/queues/%d/agents", id(chat)), e.admin, map[string]any{"agent_id": alice}, nil), 200)
		var lunch map[string]any
		e.must(e.call("POST", "/api/v1/pause-types", e.admin, map[string]any{"name": "Lunch"}, &lunch), 201)
		aliceTok, bobTok := e.login("alice", "Str0ng-Pass"), e.login("bob", "Str0ng-Pass")
		base := fmt.Sprintf("/api/v1/agents/%d", alice)

		var ans sessionAnswer
		e.must(e.call("POST", base+"/login", bobTok, nil, &ans), 403)
		e.must(e.call("POST", base+"/pause", aliceTok, map[string]any{"reason": "Lunch"}, &ans), 409)
		if ans.Error.Code != "not_logged_in" {
			t.Fatalf("pause before login: %+v", ans.Error)
		}

		e.must(e.call("POST", base+"/login", aliceTok, nil, &ans), 200)
		if ans.Asterisk != presence.AsteriskSynced || !ans.State.LoggedIn || ans.State.State != presence.StateReady {
			t.Fatalf("login answer %+v", ans)
		}
		want := map[string]string{"Action": "QueueAdd", "Queue": "sales", "Interface": "PJSIP/alice", "Penalty": "2",
			"Paused": "false", "MemberName": "alice", "StateInterface": "PJSIP/alice"}
		if got := e.lastAction("QueueAdd"); !sameFields(got, want) {
			t.Fatalf("QueueAdd sent %v\nwant %v", got, want)
		}

		ans = sessionAnswer{}
		e.must(e.call("POST", base+"/pause", aliceTok, map[string]any{"reason": "Nap"}, &ans), 422)
		if ans.Error.Field != "reason" || !strings.Contains(ans.Error.Message, "Lunch") {
			t.Fatalf("unknown reason: %+v", ans.Error)
		}
		e.must(e.call("POST", base+"/pause", aliceTok, map[string]any{"reason": "Lunch", "channels": []string{"fax", "pigeon"}}, &ans), 422)
		if ans.Error.Field != "channels" {
			t.Fatalf("unknown channel: %+v", ans.Error)
		}
		// Partial pause: chat only; Asterisk is not asked.
		pauses := len(e.ami.Actions("QueuePause"))
		ans = sessionAnswer{}
		e.must(e.call("POST", base+"/pause", aliceTok, map[string]any{"reason": id(lunch), "channels": []string{"chat"}}, &ans), 200)
		if ans.Asterisk != presence.AsteriskNone || ans.State.State != presence.StateReady || !slices.Equal(ans.State.PausedChannels, []string{"chat"}) {
			t.Fatalf("chat pause %+v", ans)
		}
		if len(e.ami.Actions("QueuePause")) != pauses {
			t.Fatal("a chat-only pause reached Asterisk")
		}
		e.must(e.call("POST", base+"/pause", e.admin, map[string]any{"reason": "lunch"}, &ans), 200)
		if ans.Asterisk != presence.AsteriskSynced || ans.State.State != presence.StatePaused || ans.State.Reason != "Lunch" {
			t.Fatalf("pause %+v", ans)
		}
		if got := e.lastAction("QueuePause"); !sameFields(got, map[string]string{"Action": "QueuePause", "Interface": "PJSIP/alice", "Paused": "true", "Reason": "Lunch"}) {
			t.Fatalf("QueuePause sent %v", got)
		}

		// The state: SPEC's fields, the queue paused as Asterisk reports it.
		var raw map[string]any
		deadline := time.Now().Add(10 * time.Second)
		for {
			raw = nil
			e.must(e.call("GET", base+"/state", aliceTok, nil, &raw), 200)
			qs, _ := raw["queues"].([]any)
			if len(qs) == 1 && qs[0].(map[string]any)["paused"] == true || time.Now().After(deadline) {
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
		for _, k := range []string{"agent_id", "state", "reason", "since", "queues", "counters"} {
			if _, ok := raw[k]; !ok {
				t.Errorf("state lacks %q: %v", k, raw)
			}
		}
		qs := raw["queues"].([]any)
		q0 := qs[0].(map[string]any)
		if raw["state"] != "paused" || raw["reason"] != "Lunch" || q0["queue"] != "sales" || q0["paused"] != true || q0["reason"] != "Lunch" {
			t.Fatalf("state %v", raw)
		}
		e.must(e.call("GET", fmt.Sprintf("/api/v1/agents/%d/state", bob), aliceTok, nil, nil), 403)

		var states struct {
			Items []presence.AgentState
			Total int
		}
		e.must(e.call("GET", "/api/v1/agents/states", aliceTok, nil, &states), 403)
		e.must(e.call("GET", "/api/v1/agents/states?state=paused", e.admin, nil, &states), 200)
		if states.Total != 1 || states.Items[0].AgentID != alice {
			t.Fatalf("paused agents %+v", states)
		}
		e.must(e.call("GET", "/api/v1/agents/states?state=napping", e.admin, nil, nil), 400)

		e.must(e.call("POST", base+"/unpause", aliceTok, nil, &ans), 200)
		if ans.State.State != presence.StateReady || len(ans.State.PausedChannels) != 0 {
			t.Fatalf("unpause %+v", ans)
		}
		if got := e.lastAction("QueuePause"); got["Paused"] != "false" || got["Interface"] != "PJSIP/alice" {
			t.Fatalf("unpause sent %v", got)
		}
		e.must(e.call("POST", base+"/logout", aliceTok, nil, &ans), 200)
		if got := e.lastAction("QueueRemove"); !sameFields(got, map[string]string{"Action": "QueueRemove", "Queue": "sales", "Interface": "PJSIP/alice"}) {
			t.Fatalf("QueueRemove sent %v", got)
		}
		if ans.State.State != presence.StateLoggedOut {
			t.Fatalf("logout %+v", ans)
		}

		// Asterisk refuses: 502 with its words, nothing changed.
		e.ami.Handle("QueueAdd", amitest.Reply(amitest.Error("Unable to add interface to queue: No such queue")))
		ans = sessionAnswer{}
		e.must(e.call("POST", base+"/login", aliceTok, nil, &ans), 502)
		if ans.Error.Code != "asterisk_error" || !strings.Contains(ans.Error.Message, "Unable to add interface to queue: No such queue") {
			t.Fatalf("refused login %+v", ans.Error)
		}
		e.must(e.call("GET", base+"/state", aliceTok, nil, &raw), 200)
		if raw["state"] != "logged_out" {
			t.Fatalf("after a refused login %v", raw)
		}

		// Asterisk down: the database is the truth, Asterisk catches up.
		e.ami.Close()
		for e.pool.Clients()[0].Connected() {
			time.Sleep(time.Millisecond)
		}
		ans = sessionAnswer{}
		e.must(e.call("POST", base+"/login", aliceTok, nil, &ans), 200)
		if ans.Asterisk != presence.AsteriskPending || !ans.State.LoggedIn {
			t.Fatalf("login with Asterisk down %+v", ans)
		}

		// The history, written a moment later.
		var hist struct {
			Items []presence.HistoryEvent
		}
		from := url(time.Now().Add(-time.Hour))
		wantStates := []string{"login", "pause", "paused", "unpause", "ready", "logout", "logged_out"}
		// The writer batches rows (up to FlushDelay late): wait until every
		// expected state has landed, not merely until some rows have.
		var states2, missing []string
		deadline = time.Now().Add(10 * time.Second)
		for {
			e.must(e.call("GET", base+"/events?from="+from, aliceTok, nil, &hist), 200)
			states2, missing = states2[:0], missing[:0]
			for _, h := range hist.Items {
				states2 = append(states2, h.State)
			}
			for _, w := range wantStates {
				if !slices.Contains(states2, w) {
					missing = append(missing, w)
				}
			}
			if len(missing) == 0 || time.Now().After(deadline) {
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
		if len(missing) > 0 {
			t.Errorf("history lacks %v: %v", missing, states2)
		}
		e.must(e.call("GET", base+"/events?from=yesterday", aliceTok, nil, nil), 400)

		// The phone PIN for /agent-login.
		e.must(e.call("PUT", base+"/pin", bobTok, map[string]any{"pin": "1234"}, nil), 403)
		ans = sessionAnswer{}
		e.must(e.call("PUT", base+"/pin", aliceTok, map[string]any{"pin": "12ab"}, &ans), 422)
		if ans.Error.Field != "pin" {
			t.Fatalf("bad pin %+v", ans.Error)
		}
		e.must(e.call("PUT", base+"/pin", aliceTok, map[string]any{"pin": "0042"}, nil), 204)
	})
}

func url(t time.Time) string { return strings.ReplaceAll(t.UTC().Format(time.RFC3339), "+", "%2B") }
