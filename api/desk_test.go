package api_test

import (
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"

	"omnicc/api"
	"omnicc/auth"
	"omnicc/directory"
	"omnicc/presence"
	"omnicc/storetest"
)

// The two routes the agent desktop added to the API for everyone: its
// settings, and who is online to transfer to.
func TestDeskConfigAndOnlineAgents(t *testing.T) {
	db := storetest.SQLite(t)
	ctx := t.Context()
	dir := directory.New(db, directory.Options{ExtensionLow: 1000, ExtensionHigh: 1999, BcryptCost: 4})
	if _, _, err := dir.EnsureAdmin(ctx, adminPassword); err != nil {
		t.Fatal(err)
	}
	pres := presence.New(presence.Options{DB: db, Directory: dir, Controller: nopQueues{}, FlushDelay: -1, EventWait: -1})
	s, err := api.New(api.Options{DB: db, Directory: dir, Auth: auth.New(db, dir, auth.Options{LockoutThreshold: 5}),
		SIPWSURL: "wss://pbx.example.com:8089/ws", Mounts: []func(*api.Router){api.NewAgentSessions(pres).Mount}})
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, srv: httptest.NewServer(s.Handler()), api: s, dir: dir}
	t.Cleanup(e.srv.Close)
	e.admin = e.login("admin", adminPassword)
	ann := e.createAgent(agent("ann", "webrtc"))
	e.createAgent(agent("ben", "phonebar"))
	if err := pres.Load(ctx); err != nil {
		t.Fatal(err)
	}
	ben := e.login("ben", "Str0ng-Pass")

	e.must(e.call("GET", "/api/v1/desk/config", "", nil, nil), 401)
	var cfg map[string]string
	e.must(e.call("GET", "/api/v1/desk/config", ben, nil, &cfg), 200)
	if cfg["sip_ws_url"] != "wss://pbx.example.com:8089/ws" || cfg["ws_path"] != "/api/v1/ws" {
		t.Fatalf("desk config %v", cfg)
	}

	var online struct {
		Items []map[string]any `json:"items"`
		Total int              `json:"total"`
	}
	e.must(e.call("GET", "/api/v1/agents/online", ben, nil, &online), 200)
	if online.Total != 0 {
		t.Fatalf("nobody logged in, online lists %v", online.Items)
	}
	if _, err := pres.Login(ctx, id(ann), "api"); err != nil {
		t.Fatal(err)
	}
	e.must(e.call("GET", "/api/v1/agents/online", ben, nil, &online), 200)
	if online.Total != 1 || online.Items[0]["username"] != "ann" || online.Items[0]["state"] != "ready" {
		t.Fatalf("online after ann's login: %v", online.Items)
	}
	raw, _ := json.Marshal(online.Items[0])
	for _, private := range []string{"counters", "calls", "queues"} {
		if strings.Contains(string(raw), `"`+private+`"`) {
			t.Fatalf("an agent sees a colleague's %s: %s", private, raw)
		}
	}
}
