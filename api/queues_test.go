package api_test

import (
	"fmt"
	"testing"

	"omnicc/store"
	"omnicc/storetest"
)

func TestQueueRules(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		var q map[string]any
		e.must(e.call("POST", "/api/v1/queues", e.admin, map[string]any{"name": "sales", "channel": "voice", "strategy": "rrmemory",
			"timeout": 20, "wrapuptime": 10, "joinempty": "paused,unavailable", "ringinuse": false}, &q), 201)
		if q["strategy"] != "rrmemory" || q["transfer_timeout"] != 300.0 {
			t.Fatalf("voice queue: %v", q)
		}
		var chat map[string]any
		e.must(e.call("POST", "/api/v1/queues", e.admin, map[string]any{"name": "web", "channel": "chat"}, &chat), 201)
		if chat["strategy"] != "beepall" || chat["transfer_timeout"] != 300.0 {
			t.Fatalf("digital defaults: %v", chat)
		}
		for _, c := range []struct {
			body   map[string]any
			status int
			field  string
		}{
			{map[string]any{"name": "x", "channel": "voice", "strategy": "beepall"}, 422, "strategy"},
			{map[string]any{"name": "x", "channel": "whatsapp", "strategy": "ringall"}, 422, "strategy"},
			{map[string]any{"name": "x", "channel": "pigeon"}, 422, "channel"},
			{map[string]any{"name": "bad name", "channel": "voice"}, 422, "name"},
			{map[string]any{"name": "x", "channel": "voice", "timeout": -1}, 422, "timeout"},
			{map[string]any{"name": "x", "channel": "voice", "joinempty": "sometimes"}, 422, "joinempty"},
			{map[string]any{"name": "x", "channel": "chat", "transfer_timeout": 0}, 422, "transfer_timeout"},
			{map[string]any{"name": "SALES", "channel": "voice"}, 409, "name"},
		} {
			var out apiErr
			if st := e.call("POST", "/api/v1/queues", e.admin, c.body, &out); st != c.status || out.Error.Field != c.field {
				t.Errorf("%v: %d %+v; want %d %s", c.body, st, out, c.status, c.field)
			}
		}
		var out apiErr
		if st := e.call("PATCH", fmt.Sprintf("/api/v1/queues/%d", id(q)), e.admin, map[string]any{"channel": "chat"}, &out); st != 422 || out.Error.Field != "channel" {
			t.Fatalf("channel change: %d %+v", st, out)
		}
		e.must(e.call("PATCH", fmt.Sprintf("/api/v1/queues/%d", id(q)), e.admin, map[string]any{"maxlen": 5}, &q), 200)
		if q["maxlen"] != 5.0 || q["strategy"] != "rrmemory" {
			t.Fatalf("patch: %v", q)
		}
		var l struct{ Total int }
		e.must(e.call("GET", "/api/v1/queues?channel=chat", e.admin, nil, &l), 200)
		if l.Total != 1 {
			t.Fatalf("channel filter: %d", l.Total)
		}
	})
}

// Associations are editable from either side and idempotent.
func TestAssociationsFromBothSides(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		a := e.createAgent(agent("ag1", "webrtc"))
		b := e.createAgent(agent("ag2", "external"))
		var sales, web, team, prof, ai, pause map[string]any
		e.must(e.call("POST", "/api/v1/queues", e.admin, map[string]any{"name": "sales"}, &sales), 201)
		e.must(e.call("POST", "/api/v1/queues", e.admin, map[string]any{"name": "web", "channel": "whatsapp", "strategy": "roundrobin"}, &web), 201)
		e.must(e.call("POST", "/api/v1/teams", e.admin, map[string]any{"name": "Tier 1"}, &team), 201)
		e.must(e.call("POST", "/api/v1/profiles", e.admin, map[string]any{"name": "Basic", "permissions": []string{"contacts.read"}}, &prof), 201)
		e.must(e.call("POST", "/api/v1/ai-assistants", e.admin, map[string]any{"name": "Bot", "webhook_url": "https://bot.example.com/hook"}, &ai), 201)
		e.must(e.call("POST", "/api/v1/pause-types", e.admin, map[string]any{"name": "Lunch", "paid": false}, &pause), 201)
		var bad apiErr
		if st := e.call("POST", "/api/v1/ai-assistants", e.admin, map[string]any{"name": "Bot2", "webhook_url": "ftp://x"}, &bad); st != 422 || bad.Error.Field != "webhook_url" {
			t.Fatalf("bad webhook: %d %+v", st, bad)
		}

		qa := fmt.Sprintf("/api/v1/queues/%d/agents", id(sales))
		for range 2 { // idempotent
			e.must(e.call("POST", qa, e.admin, map[string]any{"agent_id": id(a), "penalty": 2}, nil), 200)
		}
		e.must(e.call("POST", qa, e.admin, map[string]any{"agent_id": id(b), "penalty": 1, "permanent": true}, nil), 200)
		if st := e.call("POST", fmt.Sprintf("/api/v1/queues/%d/agents", id(web)), e.admin, map[string]any{"agent_id": id(a), "permanent": true}, &bad); st != 422 || bad.Error.Field != "permanent" {
			t.Fatalf("permanent digital member: %d %+v", st, bad)
		}
		if st := e.call("POST", qa, e.admin, map[string]any{"agent_id": id(a), "penalty": -1}, &bad); st != 422 || bad.Error.Field != "penalty" {
			t.Fatalf("negative penalty: %d %+v", st, bad)
		}
		if st := e.call("POST", qa, e.admin, map[string]any{"agent_id": 424242}, &bad); st != 404 {
			t.Fatalf("unknown agent: %d", st)
		}
		var members struct {
			Items []struct {
				AgentID   int64 `json:"agent_id"`
				Penalty   int
				Permanent bool
				Username  string
			}
			Total int
		}
		e.must(e.call("GET", qa, e.admin, nil, &members), 200)
		if members.Total != 2 || members.Items[0].Username != "ag1" || members.Items[0].Penalty != 2 || !members.Items[1].Permanent {
			t.Fatalf("members: %+v", members)
		}
		// The agent's side sees the same, and can replace the set.
		var aq struct {
			Items []struct {
				QueueName string `json:"queue_name"`
			}
		}
		e.must(e.call("GET", fmt.Sprintf("/api/v1/agents/%d/queues", id(a)), e.admin, nil, &aq), 200)
		if len(aq.Items) != 1 || aq.Items[0].QueueName != "sales" {
			t.Fatalf("agent queues: %+v", aq)
		}
		e.must(e.call("PUT", fmt.Sprintf("/api/v1/agents/%d/queues", id(a)), e.admin, map[string]any{"queue_ids": []int64{id(web)}}, &aq), 200)
		if len(aq.Items) != 1 || aq.Items[0].QueueName != "web" {
			t.Fatalf("after PUT: %+v", aq)
		}
		for range 2 {
			e.must(e.call("DELETE", fmt.Sprintf("%s/%d", qa, id(b)), e.admin, nil, nil), 204)
		}
		e.must(e.call("GET", qa, e.admin, nil, &members), 200)
		if members.Total != 0 {
			t.Fatalf("sales still has %d members", members.Total)
		}

		// Teams, profiles and AI assistants: from the agent and from the resource.
		for _, r := range []struct {
			path, field string
			rid         int64
		}{{"teams", "team_ids", id(team)}, {"profiles", "profile_ids", id(prof)}, {"ai-assistants", "ai_assistant_ids", id(ai)}} {
			var got map[string][]int64
			for range 2 {
				e.must(e.call("PUT", fmt.Sprintf("/api/v1/agents/%d/%s", id(a), r.path), e.admin, map[string]any{r.field: []int64{r.rid, r.rid}}, &got), 200)
			}
			if len(got[r.field]) != 1 {
				t.Fatalf("%s from agent: %v", r.path, got)
			}
			for range 2 {
				e.must(e.call("POST", fmt.Sprintf("/api/v1/%s/%d/agents", r.path, r.rid), e.admin, map[string]any{"agent_id": id(b)}, nil), 204)
			}
			e.must(e.call("GET", fmt.Sprintf("/api/v1/%s/%d/agents", r.path, r.rid), e.admin, nil, &got), 200)
			if fmt.Sprint(got["agent_ids"]) != fmt.Sprint([]int64{id(a), id(b)}) {
				t.Fatalf("%s from resource: %v", r.path, got)
			}
			e.must(e.call("PUT", fmt.Sprintf("/api/v1/%s/%d/agents", r.path, r.rid), e.admin, map[string]any{"agent_ids": []int64{id(b)}}, &got), 200)
			e.must(e.call("GET", fmt.Sprintf("/api/v1/agents/%d/%s", id(a), r.path), e.admin, nil, &got), 200)
			if len(got[r.field]) != 0 {
				t.Fatalf("%s after replacing from the resource side: %v", r.path, got)
			}
			if st := e.call("PUT", fmt.Sprintf("/api/v1/agents/%d/%s", id(a), r.path), e.admin, map[string]any{r.field: []int64{999}}, &bad); st != 404 {
				t.Fatalf("%s unknown id: %d", r.path, st)
			}
		}
		// Deleting a resource removes its links.
		e.must(e.call("DELETE", fmt.Sprintf("/api/v1/teams/%d", id(team)), e.admin, nil, nil), 204)
		var got map[string][]int64
		e.must(e.call("GET", fmt.Sprintf("/api/v1/agents/%d/teams", id(b)), e.admin, nil, &got), 200)
		if len(got["team_ids"]) != 0 {
			t.Fatalf("links survive the team: %v", got)
		}
		// PATCH on a named resource keeps what it does not name.
		var p map[string]any
		e.must(e.call("PATCH", fmt.Sprintf("/api/v1/pause-types/%d", id(pause)), e.admin, map[string]any{"paid": true}, &p), 200)
		if p["name"] != "Lunch" || p["paid"] != true {
			t.Fatalf("pause type patch: %v", p)
		}
	})
}
