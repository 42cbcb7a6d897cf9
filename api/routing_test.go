package api_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/goccy/go-yaml"

	"omnicc/api"
	"omnicc/auth"
	"omnicc/calllog"
	"omnicc/contacts"
	"omnicc/directory"
	"omnicc/store"
	"omnicc/storetest"
)

// newRoutingAPI is the API with the routing routes mounted, as
// cmd/omniccd wires it, and the call log behind GET /call-log running.
func newRoutingAPI(t *testing.T, db *store.DB) (*env, *calllog.Log) {
	t.Helper()
	dir := directory.New(db, directory.Options{ExtensionLow: 1000, ExtensionHigh: 1999, SecuritySuite: true, BcryptCost: 4})
	if _, _, err := dir.EnsureAdmin(t.Context(), adminPassword); err != nil {
		t.Fatal(err)
	}
	cm, err := contacts.New(db, contacts.Options{})
	if err != nil {
		t.Fatal(err)
	}
	calls := calllog.New(db, calllog.Options{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = calls.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	s, err := api.New(api.Options{DB: db, Directory: dir, Auth: auth.New(db, dir, auth.Options{LockoutThreshold: 5}),
		Mounts: []func(*api.Router){api.NewRouting(calls, cm).Mount, api.NewContacts(cm).Mount}})
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, srv: httptest.NewServer(s.Handler()), api: s, dir: dir}
	t.Cleanup(e.srv.Close)
	e.admin = e.login("admin", adminPassword)
	return e, calls
}

// fails asserts an error answer with its status, code and field.
func (e *env) fails(method, path string, body any, status int, code, field string) {
	e.t.Helper()
	var out apiErr
	if got := e.call(method, path, e.admin, body, &out); got != status || out.Error.Code != code || out.Error.Field != field {
		e.t.Errorf("%s %s %v: %d %+v, want %d %s on %q", method, path, body, got, out.Error, status, code, field)
	}
}

func TestRoutingAPI(t *testing.T) {
	e, calls := newRoutingAPI(t, storetest.SQLite(t))
	e.must(e.call("POST", "/api/v1/queues", e.admin, map[string]any{"name": "sales"}, nil), 201)
	e.createAgent(agent("ann", "webrtc", "extension", "1000", "voicemail", true))

	weekdays := []map[string]string{}
	for _, d := range []string{"mon", "tue", "wed", "thu", "fri"} {
		weekdays = append(weekdays, map[string]string{"day": d, "opens": "09:00", "closes": "18:00"})
	}
	cal := map[string]any{"name": "office", "time_zone": "Europe/Rome", "hours": weekdays,
		"exceptions": []map[string]any{{"date": "12-25", "name": "Christmas"}}}
	var calOut map[string]any
	e.must(e.call("POST", "/api/v1/calendars", e.admin, cal, &calOut), 201)
	calID := id(calOut)
	e.fails("POST", "/api/v1/calendars", map[string]any{"name": "x", "time_zone": "Europe/Roma"}, 422, "invalid", "time_zone")
	e.fails("POST", "/api/v1/calendars", map[string]any{"name": "x", "time_zone": "UTC",
		"hours": []map[string]string{{"day": "mon", "opens": "18:00", "closes": "09:00"}}}, 422, "invalid", "hours[0].closes")
	e.fails("POST", "/api/v1/calendars", map[string]any{"name": "x", "time_zone": "UTC",
		"exceptions": []map[string]any{{"date": "2026-13-01"}}}, 422, "invalid", "exceptions[0].date")

	var listOut map[string]any
	e.must(e.call("POST", "/api/v1/contact-lists", e.admin, map[string]any{"name": "inbound callers"}, &listOut), 201)
	e.fails("POST", "/api/v1/contact-lists", map[string]any{"name": "Inbound Callers"}, 409, "conflict", "name")
	e.fails("POST", "/api/v1/contact-lists", map[string]any{"name": " "}, 422, "invalid", "name")

	route := map[string]any{"name": "main", "did": "_06XXXXXXXX", "caller_id": "", "priority": 10, "calendar_id": calID,
		"open": map[string]any{"type": "queue", "target": "sales"}, "closed": map[string]any{"type": "voicemail", "target": "1000"},
		"create_unknown_caller": true, "contact_list_id": id(listOut)}
	var routeOut map[string]any
	e.must(e.call("POST", "/api/v1/inbound-routes", e.admin, route, &routeOut), 201)
	if routeOut["open"].(map[string]any)["target"] != "sales" || routeOut["closed"].(map[string]any)["type"] != "voicemail" ||
		int64(routeOut["calendar_id"].(float64)) != calID || routeOut["enabled"] != true {
		t.Fatalf("created: %v", routeOut)
	}
	with := func(k string, v any) map[string]any {
		m := map[string]any{"name": "other", "did": "100", "open": map[string]any{"type": "hangup", "target": ""}}
		m[k] = v
		return m
	}
	e.fails("POST", "/api/v1/inbound-routes", with("did", "06 1234"), 422, "invalid", "did")
	e.fails("POST", "/api/v1/inbound-routes", with("caller_id", "_X.1"), 422, "invalid", "caller_id")
	e.fails("POST", "/api/v1/inbound-routes", with("open", map[string]any{"type": "queue", "target": "nosuch"}), 422, "invalid", "open.target")
	e.fails("POST", "/api/v1/inbound-routes", with("open", map[string]any{"type": "route", "target": "other"}), 422, "invalid", "open.target")
	e.fails("POST", "/api/v1/inbound-routes", with("calendar_id", calID), 422, "invalid", "closed")
	e.fails("POST", "/api/v1/inbound-routes", with("calendar_id", "office"), 400, "bad_json", "calendar_id")
	e.fails("POST", "/api/v1/inbound-routes", with("closed", map[string]any{"type": "hangup", "cause": "17"}), 400, "unknown_field", "cause")
	e.fails("POST", "/api/v1/inbound-routes", with("dids", "100"), 400, "unknown_field", "dids")
	e.fails("POST", "/api/v1/inbound-routes", with("name", "MAIN"), 409, "conflict", "name")
	e.fails("POST", "/api/v1/inbound-routes", with("open", map[string]any{"type": "voicemail", "target": "9999"}), 422, "invalid", "open.target")
	dup := with("did", "_06XXXXXXXX")
	dup["priority"] = 10
	e.fails("POST", "/api/v1/inbound-routes", dup, 422, "invalid", "priority")

	path := fmt.Sprintf("/api/v1/inbound-routes/%d", id(routeOut))
	e.fails("DELETE", fmt.Sprintf("/api/v1/calendars/%d", calID), nil, 409, "in_use", "")
	var patched map[string]any
	e.must(e.call("PATCH", path, e.admin, map[string]any{"calendar_id": nil, "closed": nil}, &patched), 200)
	if patched["calendar_id"] != nil || patched["closed"] != nil || patched["did"] != "_06XXXXXXXX" {
		t.Fatalf("patched: %v", patched)
	}
	// GET → PATCH back the whole object, for a route and a calendar.
	for _, p := range []string{path, fmt.Sprintf("/api/v1/calendars/%d", calID)} {
		var cur map[string]any
		e.must(e.call("GET", p, e.admin, nil, &cur), 200)
		cur["description"] = "edited"
		e.must(e.call("PATCH", p, e.admin, cur, &cur), 200)
		cur["id"] = 12345
		e.fails("PATCH", p, cur, 422, "read_only", "id")
	}
	e.must(e.call("DELETE", fmt.Sprintf("/api/v1/calendars/%d", calID), e.admin, nil, nil), 204)
	var routes struct {
		Items []map[string]any
		Total int
	}
	e.must(e.call("GET", "/api/v1/inbound-routes?q=06", e.admin, nil, &routes), 200)
	if routes.Total != 1 || routes.Items[0]["name"] != "main" {
		t.Fatalf("list: %+v", routes)
	}
	// did= finds the routes that take a call to the number, patterns included.
	e.must(e.call("GET", "/api/v1/inbound-routes?did=0612345678", e.admin, nil, &routes), 200)
	if routes.Total != 1 || routes.Items[0]["name"] != "main" {
		t.Fatalf("did=0612345678: %+v", routes)
	}
	e.must(e.call("GET", "/api/v1/inbound-routes?did=0712345678", e.admin, nil, &routes), 200)
	if routes.Total != 0 {
		t.Fatalf("did=0712345678: %+v", routes)
	}
	e.fails("GET", "/api/v1/inbound-routes?dids=0612345678", nil, 400, "unknown_parameter", "dids")
	e.fails("GET", "/api/v1/outbound-routes?did=0612345678", nil, 400, "unknown_parameter", "did")

	var outOut map[string]any
	e.must(e.call("POST", "/api/v1/outbound-routes", e.admin, map[string]any{"name": "intl", "pattern": "_00X.", "strip": 2, "prepend": "+",
		"trunk": "provider", "record": true}, &outOut), 201)
	if outOut["record_format"] != "wav" || outOut["enabled"] != true {
		t.Fatalf("outbound defaults: %v", outOut)
	}
	e.fails("POST", "/api/v1/outbound-routes", map[string]any{"name": "x", "pattern": "_X.", "trunk": "PJSIP/{number}@a,30"}, 422, "invalid", "trunk")
	e.fails("PATCH", fmt.Sprintf("/api/v1/outbound-routes/%d", id(outOut)), map[string]any{"strip": 4}, 422, "invalid", "strip")
	e.must(e.call("DELETE", fmt.Sprintf("/api/v1/outbound-routes/%d", id(outOut)), e.admin, nil, nil), 204)
	e.fails("GET", fmt.Sprintf("/api/v1/outbound-routes/%d", id(outOut)), nil, 404, "not_found", "")

	// The call log, filtered.
	t0 := time.Date(2026, 3, 30, 7, 0, 0, 0, time.UTC)
	for i := range 4 {
		calls.Record(calllog.Entry{At: t0.Add(time.Duration(i) * time.Hour), Direction: calllog.Inbound, DID: "0612345678",
			Caller: fmt.Sprint("55512", i%2), Route: "main", Chain: []string{"main"}, DestType: "queue", Dest: "sales", Open: true})
	}
	if err := calls.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	var log struct {
		Items []calllog.Entry
		Total int
	}
	e.must(e.call("GET", "/api/v1/call-log?did=0612345678&caller=555121&from=2026-03-30T08:00:00Z&to=2026-03-30T12:00:00%2B02:00", e.admin, nil, &log), 200)
	if log.Total != 1 || !log.Items[0].At.Equal(t0.Add(time.Hour)) || log.Items[0].Dest != "sales" {
		t.Fatalf("call log: %+v", log)
	}
	// Plain dates are whole UTC days; a trailing * matches a number prefix.
	e.must(e.call("GET", "/api/v1/call-log?from=2026-03-30&to=2026-03-30", e.admin, nil, &log), 200)
	if log.Total != 4 {
		t.Fatalf("call log of 2026-03-30: %d entries, want 4", log.Total)
	}
	e.must(e.call("GET", "/api/v1/call-log?to=2026-03-29", e.admin, nil, &log), 200)
	if log.Total != 0 {
		t.Fatalf("call log to 2026-03-29: %d entries, want 0", log.Total)
	}
	e.must(e.call("GET", "/api/v1/call-log?caller=55512*&did=061*", e.admin, nil, &log), 200)
	if log.Total != 4 {
		t.Fatalf("call log caller=55512*: %d entries, want 4", log.Total)
	}
	e.must(e.call("GET", "/api/v1/call-log?caller=5551*1", e.admin, nil, &log), 200)
	if log.Total != 0 {
		t.Fatalf("a * inside the number is literal: %d entries", log.Total)
	}
	e.must(e.call("GET", "/api/v1/call-log?caller=555%25*", e.admin, nil, &log), 200)
	if log.Total != 0 {
		t.Fatalf("a %% in the number is literal: %d entries", log.Total)
	}
	// The link a contact's journey gives for a call is one entry.
	e.must(e.call("GET", "/api/v1/call-log?caller=555121", e.admin, nil, &log), 200)
	want := log.Items[0]
	e.must(e.call("GET", fmt.Sprintf("/api/v1/call-log?id=%d", want.ID), e.admin, nil, &log), 200)
	if log.Total != 1 || log.Items[0].ID != want.ID {
		t.Fatalf("call-log?id=%d: %+v", want.ID, log)
	}
	e.must(e.call("GET", "/api/v1/call-log?contact_id=99", e.admin, nil, &log), 200)
	if log.Total != 0 {
		t.Fatalf("call-log?contact_id=99: %d entries, want 0", log.Total)
	}
	e.fails("GET", "/api/v1/call-log?id=x", nil, 400, "bad_query", "id")
	e.fails("GET", "/api/v1/call-log?from=yesterday", nil, 400, "bad_query", "from")
	e.fails("GET", "/api/v1/call-log?per_page=1000", nil, 400, "bad_query", "per_page")
	e.fails("GET", "/api/v1/call-log?from=2026-03-30T08:00:00Z&to=2026-03-30T08:00:00Z", nil, 400, "bad_query", "to")

	// Agents see none of it; only admins change it. (Contact lists are the
	// contact manager's: an agent sees the lists granted to it, tested
	// there.)
	e.createAgent(agent("bob", "webrtc"))
	bob := e.login("bob", "Str0ng-Pass")
	for _, p := range []string{"/api/v1/call-log", "/api/v1/inbound-routes", "/api/v1/calendars"} {
		if st := e.call("GET", p, bob, nil, nil); st != 403 {
			t.Errorf("agent GET %s: %d", p, st)
		}
	}
}

// The routes mounted here are described in openapi.yaml (the repository's
// TestOpenAPICoversEveryRoute sees only the mounts it builds).
func TestRoutingRoutesDocumented(t *testing.T) {
	e, _ := newRoutingAPI(t, storetest.SQLite(t))
	var doc struct {
		Paths map[string]map[string]any `yaml:"paths"`
	}
	if err := yaml.Unmarshal(api.OpenAPI, &doc); err != nil {
		t.Fatalf("openapi.yaml: %v", err)
	}
	mine := 0
	for _, r := range e.api.Routes() {
		p := ginParam.ReplaceAllString(strings.TrimPrefix(r.Path, "/api/v1"), "{$1}")
		// /contact-lists is the contact manager's (api/contacts.go), documented with it.
		for _, prefix := range []string{"/inbound-routes", "/outbound-routes", "/calendars", "/call-log"} {
			if strings.HasPrefix(p, prefix) {
				mine++
				if _, ok := doc.Paths[p][strings.ToLower(r.Method)]; !ok {
					t.Errorf("%s %s is not in api/openapi.yaml", r.Method, p)
				}
			}
		}
	}
	if mine != 16 {
		t.Errorf("found %d routing routes, want 16", mine)
	}
}

// routingMount is the routing routes' mount, for TestOpenAPICoversEveryRoute.
func routingMount(db *store.DB) func(*api.Router) {
	cm, err := contacts.New(db, contacts.Options{})
	if err != nil {
		panic(err)
	}
	return api.NewRouting(calllog.New(db, calllog.Options{}), cm).Mount
}
