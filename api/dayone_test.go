package api_test

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"omnicc/storetest"
)

// One paging rule for every list, unknown filters refused by name, and the
// filters an admin needs to find agents and routes.
func TestListParameters(t *testing.T) {
	e := newEnv(t, storetest.SQLite(t))
	for _, path := range []string{"/api/v1/agents", "/api/v1/queues", "/api/v1/teams", "/api/v1/pause-types", "/api/v1/users"} {
		e.fails("GET", path+"?page=0", nil, 400, "bad_query", "page")
		e.fails("GET", path+"?per_page=0", nil, 400, "bad_query", "per_page")
		e.fails("GET", path+"?per_page=1000", nil, 400, "bad_query", "per_page")
		e.fails("GET", path+"?per_page=-1", nil, 400, "bad_query", "per_page")
		e.fails("GET", path+"?bogus=1", nil, 400, "unknown_parameter", "bogus")
		e.must(e.call("GET", path+"?page=1&per_page=500", e.admin, nil, nil), 200)
	}
	e.fails("GET", "/api/v1/agents?state=paused", nil, 400, "unknown_parameter", "state")
	e.fails("GET", "/api/v1/api-keys?name=crm", nil, 400, "unknown_parameter", "name")
	e.fails("POST", "/api/v1/users", map[string]any{"role": "supervisor", "username": "sup", "full_name": "Sup\nAction: Hangup", "password": "Sup3r-visor"}, 422, "invalid", "full_name")
	e.fails("GET", "/api/v1/agents/export.csv?team=1", nil, 400, "unknown_parameter", "team")
	e.fails("GET", "/api/v1/agents?team_id=x", nil, 400, "bad_query", "team_id")

	ann := e.createAgent(agent("ann", "webrtc", "extension", "1001"))
	bob := e.createAgent(agent("bob", "phonebar", "extension", "1002"))
	e.createAgent(agent("cy", "webrtc", "extension", "1003"))
	var q, team map[string]any
	e.must(e.call("POST", "/api/v1/queues", e.admin, map[string]any{"name": "sales"}, &q), 201)
	e.must(e.call("POST", "/api/v1/teams", e.admin, map[string]any{"name": "north"}, &team), 201)
	var link map[string]any
	e.must(e.call("POST", fmt.Sprintf("/api/v1/queues/%d/agents", id(q)), e.admin, map[string]any{"agent_id": id(ann), "penalty": 2}, &link), 200)
	var members struct{ Items []map[string]any }
	e.must(e.call("GET", fmt.Sprintf("/api/v1/queues/%d/agents", id(q)), e.admin, nil, &members), 200)
	if len(members.Items) != 1 || fmt.Sprint(members.Items[0]) != fmt.Sprint(link) || link["queue_name"] != "sales" || link["username"] != "ann" {
		t.Errorf("POST answered %v; GET lists %v: want one shape with queue_name and username", link, members.Items)
	}
	e.must(e.call("PUT", fmt.Sprintf("/api/v1/teams/%d/agents", id(team)), e.admin, map[string]any{"agent_ids": []int64{id(bob)}}, nil), 200)
	for _, c := range []struct {
		query string
		want  []string
	}{
		{fmt.Sprintf("queue_id=%d", id(q)), []string{"ann"}},
		{"queue=sales", []string{"ann"}},
		{fmt.Sprintf("team_id=%d", id(team)), []string{"bob"}},
		{"extension=1003", []string{"cy"}},
		{"typology=phonebar", []string{"bob"}},
		{"extension=100", nil},
	} {
		var out struct {
			Items []struct{ Username string }
			Total int
		}
		e.must(e.call("GET", "/api/v1/agents?"+c.query, e.admin, nil, &out), 200)
		var got []string
		for _, a := range out.Items {
			got = append(got, a.Username)
		}
		if fmt.Sprint(got) != fmt.Sprint(c.want) || out.Total != len(c.want) {
			t.Errorf("agents?%s: %v (total %d), want %v", c.query, got, out.Total, c.want)
		}
	}
}

// The last enabled admin can be neither deleted nor demoted, and the answer
// says so with its own code.
func TestLastAdmin(t *testing.T) {
	e := newEnv(t, storetest.SQLite(t))
	var me map[string]any
	e.must(e.call("GET", "/api/v1/auth/me", e.admin, nil, &me), 200)
	var uid int64
	for _, k := range []string{"user_id", "id"} {
		if v, ok := me[k].(float64); ok {
			uid = int64(v)
		}
	}
	path := fmt.Sprintf("/api/v1/users/%d", uid)
	e.fails("DELETE", path, nil, 409, "last_admin", "")
	e.fails("PATCH", path, map[string]any{"role": "supervisor"}, 409, "last_admin", "")
	e.must(e.call("POST", "/api/v1/users", e.admin, map[string]any{"role": "admin", "username": "root2", "full_name": "Root", "password": "Sup3r-admin"}, nil), 201)
	e.must(e.call("DELETE", path, e.admin, nil, nil), 204)
}

// GET → edit → PATCH of the whole object works; a read-only field sent with
// another value is refused by name.
func TestPatchRoundTrip(t *testing.T) {
	e := newEnv(t, storetest.SQLite(t))
	ann := e.createAgent(agent("ann", "webrtc", "extension", "1001"))
	var q, team map[string]any
	e.must(e.call("POST", "/api/v1/queues", e.admin, map[string]any{"name": "sales"}, &q), 201)
	e.must(e.call("POST", "/api/v1/teams", e.admin, map[string]any{"name": "north"}, &team), 201)
	var me map[string]any
	e.must(e.call("GET", "/api/v1/auth/me", e.admin, nil, &me), 200)
	var sup map[string]any
	e.must(e.call("POST", "/api/v1/users", e.admin, map[string]any{"role": "supervisor", "username": "sup", "full_name": "Sup", "password": "Sup3r-visor"}, &sup), 201)
	for _, c := range []struct {
		path, field string
		value       any
	}{
		{fmt.Sprintf("/api/v1/agents/%d", id(ann)), "full_name", "Ann Edited"},
		{fmt.Sprintf("/api/v1/queues/%d", id(q)), "timeout", 42.0},
		{fmt.Sprintf("/api/v1/teams/%d", id(team)), "description", "north side"},
		{fmt.Sprintf("/api/v1/users/%d", id(sup)), "full_name", "Sue"},
	} {
		var cur, got map[string]any
		e.must(e.call("GET", c.path, e.admin, nil, &cur), 200)
		cur[c.field] = c.value
		if st := e.call("PATCH", c.path, e.admin, cur, &got); st != 200 || got[c.field] != c.value {
			t.Errorf("PATCH %s with what GET gave: %d %v", c.path, st, got)
			continue
		}
		for _, ro := range []struct {
			key string
			v   any
		}{{"id", 999.0}, {"created_at", "2001-01-01T00:00:00Z"}, {"updated_at", "2001-01-01T00:00:00Z"}} {
			e.must(e.call("GET", c.path, e.admin, nil, &cur), 200)
			cur[ro.key] = ro.v
			e.fails("PATCH", c.path, cur, 422, "read_only", ro.key)
		}
	}
}

// An agent is created without a password and onboarded by invitation; its
// voicemail PIN is random, settable by itself or an admin, never echoed; an
// external agent has no SIP secret; encryption without TLS is refused.
func TestAgentCredentials(t *testing.T) {
	e := newEnv(t, storetest.SQLite(t))
	m := agent("ann", "webrtc", "voicemail", true)
	delete(m, "password")
	ann := e.createAgent(m)
	var fail apiErr
	if st := e.call("POST", "/api/v1/auth/login", "", map[string]string{"username": "ann", "password": ""}, &fail); st != 401 && st != 400 && st != 422 {
		t.Errorf("login with no password set: %d", st)
	}
	var inv struct{ URL, Token string }
	e.must(e.call("POST", fmt.Sprintf("/api/v1/agents/%d/invitation", id(ann)), e.admin, nil, &inv), 201)
	// The link leads to a page that posts the password to the accept route.
	page, err := http.Get(e.srv.URL + strings.TrimPrefix(inv.URL, "https://cc.example.com"))
	if err != nil {
		t.Fatal(err)
	}
	html, _ := io.ReadAll(page.Body)
	page.Body.Close()
	if page.StatusCode != 200 || !strings.HasPrefix(page.Header.Get("Content-Type"), "text/html") ||
		!strings.Contains(string(html), `fetch("auth/invitations/accept"`) || page.Header.Get("Referrer-Policy") != "no-referrer" {
		t.Fatalf("invitation page %s: %d %s", inv.URL, page.StatusCode, page.Header)
	}
	e.must(e.call("POST", "/api/v1/auth/invitations/accept", "", map[string]string{"token": inv.Token, "password": "N3w-Password"}, nil), 200)
	self := e.login("ann", "N3w-Password")

	pin := fmt.Sprintf("/api/v1/agents/%d/voicemail-pin", id(ann))
	e.must(e.call("PUT", pin, self, map[string]string{"pin": "482913"}, nil), 204)
	e.must(e.call("PUT", pin, e.admin, map[string]string{"pin": "1234"}, nil), 204)
	e.fails("PUT", pin, map[string]string{"pin": "12a4"}, 422, "invalid", "pin")
	e.fails("PUT", pin, map[string]string{"pin": "123"}, 422, "invalid", "pin")
	e.fails("PUT", pin, map[string]string{"pin": "1234567890123"}, 422, "invalid", "pin")
	bob := e.createAgent(agent("bob", "webrtc"))
	e.must(e.call("PUT", fmt.Sprintf("/api/v1/agents/%d/voicemail-pin", id(bob)), self, map[string]string{"pin": "1234"}, nil), 403)
	var got map[string]any
	e.must(e.call("GET", fmt.Sprintf("/api/v1/agents/%d", id(ann)), self, nil, &got), 200)
	for k, v := range got {
		if k == "voicemail_pin" || v == "1234" {
			t.Errorf("GET agent echoes the PIN in %s", k)
		}
	}

	ext := e.createAgent(agent("ext", "external"))
	e.fails("GET", fmt.Sprintf("/api/v1/agents/%d/sip-secret", id(ext)), nil, 409, "no_endpoint", "")
	e.fails("POST", fmt.Sprintf("/api/v1/agents/%d/sip-secret", id(ext)), nil, 409, "no_endpoint", "")
	// Moving to a typology with an endpoint gives it a secret.
	e.must(e.call("PATCH", fmt.Sprintf("/api/v1/agents/%d", id(ext)), e.admin, map[string]any{"typology": "phonebar", "external_number": ""}, nil), 200)
	var sec struct {
		SIPSecret string `json:"sip_secret"`
	}
	e.must(e.call("GET", fmt.Sprintf("/api/v1/agents/%d/sip-secret", id(ext)), e.admin, nil, &sec), 200)
	if len(sec.SIPSecret) < 16 {
		t.Errorf("secret after becoming phonebar: %q", sec.SIPSecret)
	}

	var bad apiErr
	if st := e.call("POST", "/api/v1/agents", e.admin, agent("pat", "phonebar", "encryption", true), &bad); st != 422 || bad.Error.Field != "encryption" {
		t.Errorf("encryption on a phonebar agent: %d %+v", st, bad.Error)
	}
	e.createAgent(agent("web", "webrtc", "encryption", true))
}

// API key names are unique; an agent-role key acts as its agent and no
// more; a revoked key is told it was revoked.
func TestAPIKeyNamesAgentsAndRevocation(t *testing.T) {
	e := newEnv(t, storetest.SQLite(t))
	ann := e.createAgent(agent("ann", "webrtc"))
	bob := e.createAgent(agent("bob", "webrtc"))
	var crm struct {
		Key    string
		APIKey struct{ ID int64 } `json:"api_key"`
	}
	e.must(e.call("POST", "/api/v1/api-keys", e.admin, map[string]any{"name": "crm", "role": "supervisor"}, &crm), 201)
	e.fails("POST", "/api/v1/api-keys", map[string]any{"name": "CRM", "role": "admin"}, 409, "conflict", "name")
	e.fails("POST", "/api/v1/api-keys", map[string]any{"name": "desk", "role": "agent"}, 422, "invalid", "agent_id")
	e.fails("POST", "/api/v1/api-keys", map[string]any{"name": "desk", "role": "agent", "agent_id": 999}, 422, "invalid", "agent_id")
	e.fails("POST", "/api/v1/api-keys", map[string]any{"name": "desk", "role": "supervisor", "agent_id": id(ann)}, 422, "invalid", "agent_id")

	var desk struct{ Key string }
	e.must(e.call("POST", "/api/v1/api-keys", e.admin, map[string]any{"name": "ann-desk", "role": "agent", "agent_id": id(ann)}, &desk), 201)
	e.must(e.call("GET", fmt.Sprintf("/api/v1/agents/%d", id(ann)), desk.Key, nil, nil), 200)
	e.must(e.call("PUT", fmt.Sprintf("/api/v1/agents/%d/voicemail-pin", id(ann)), desk.Key, map[string]string{"pin": "9753"}, nil), 204)
	e.must(e.call("GET", fmt.Sprintf("/api/v1/agents/%d", id(bob)), desk.Key, nil, nil), 403)
	e.must(e.call("GET", "/api/v1/agents", desk.Key, nil, nil), 403)
	// Disabling the agent stops its key.
	e.must(e.call("PATCH", fmt.Sprintf("/api/v1/agents/%d", id(ann)), e.admin, map[string]any{"disabled": true}, nil), 200)
	e.must(e.call("GET", fmt.Sprintf("/api/v1/agents/%d", id(ann)), desk.Key, nil, nil), 403)

	e.must(e.call("DELETE", fmt.Sprintf("/api/v1/api-keys/%d", crm.APIKey.ID), e.admin, nil, nil), 204)
	var out apiErr
	if st := e.call("GET", "/api/v1/queues", crm.Key, nil, &out); st != 401 || out.Error.Code != "api_key_revoked" || strings.Contains(out.Error.Message, "log in") {
		t.Errorf("revoked key: %d %+v", st, out.Error)
	}
	// Revoked keys keep their names.
	e.fails("POST", "/api/v1/api-keys", map[string]any{"name": "crm", "role": "supervisor"}, 409, "conflict", "name")
}

// Deleting a pause type agents are paused with answers 409 naming them.
func TestDeletePauseTypeInUseOverHTTP(t *testing.T) {
	e := newEnv(t, storetest.SQLite(t))
	ann := e.createAgent(agent("ann", "webrtc"))
	var lunch map[string]any
	e.must(e.call("POST", "/api/v1/pause-types", e.admin, map[string]any{"name": "Lunch"}, &lunch), 201)
	e.fails("POST", "/api/v1/pause-types", map[string]any{"name": "Training|x"}, 422, "invalid", "name")
	now := time.Now().UTC()
	if _, err := e.dir.DB().ExecContext(t.Context(), `INSERT INTO agent_sessions (agent_id, logged_in_at, source, paused_channels, pause_type_id, pause_reason, paused_at, updated_at)
		VALUES (?, ?, 'api', 'voice', ?, 'Lunch', ?, ?)`, id(ann), now, id(lunch), now, now); err != nil {
		t.Fatal(err)
	}
	var out apiErr
	if st := e.call("DELETE", fmt.Sprintf("/api/v1/pause-types/%d", id(lunch)), e.admin, nil, &out); st != 409 || out.Error.Code != "in_use" || !strings.Contains(out.Error.Message, "ann") {
		t.Fatalf("delete a pause type in use: %d %+v", st, out.Error)
	}
}
