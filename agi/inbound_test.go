package agi

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"omnicc/calllog"
	"omnicc/contacts"
	"omnicc/directory"
	"omnicc/store"
	"omnicc/storetest"
)

// routingEnv is the routing path as omniccd wires it, over a real database:
// directory, route table, contacts, call log, and the /inbound and
// /outbound scripts on a router.
type routingEnv struct {
	db       *store.DB
	dir      *directory.Directory
	table    *directory.RouteTable
	contacts *contacts.Manager
	calls    *calllog.Log
	router   *Router
	clock    *testClock
	office   int64 // calendar: Europe/Rome, Mon-Fri 09:00-18:00, Christmas closed
	list     int64 // contact list for unknown callers
	ann      int64 // contact Ann O'Neil, 06 1234 5678
}

type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) set(rfc3339 string) {
	t, err := time.Parse(time.RFC3339, rfc3339)
	if err != nil {
		panic(err)
	}
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

func strp(s string) *string { return &s }

// newRoutingEnv builds the routing path on db. cacheTTL configures the
// contacts cache (negative: off). The call log's Run is the caller's.
func newRoutingEnv(tb testing.TB, db *store.DB, cacheTTL time.Duration) *routingEnv {
	tb.Helper()
	ctx := context.Background()
	e := &routingEnv{db: db, clock: &testClock{}}
	e.clock.set("2026-03-30T08:00:00Z") // Monday 10:00 in Rome
	e.dir = directory.New(db, directory.Options{BcryptCost: 4})
	for _, q := range []string{"sales", "support"} {
		if _, err := e.dir.CreateQueue(ctx, directory.QueueInput{Name: strp(q)}); err != nil {
			tb.Fatal(err)
		}
	}
	if _, err := e.dir.CreateAgent(ctx, directory.AgentInput{FullName: strp("Ann"), Username: strp("ann"), Typology: strp("webrtc"),
		Password: strp("Str0ng-Pass"), Extension: strp("1001")}); err != nil {
		tb.Fatal(err)
	}
	var hours []directory.WeeklyHours
	for _, d := range []string{"mon", "tue", "wed", "thu", "fri"} {
		hours = append(hours, directory.WeeklyHours{Day: d, Opens: "09:00", Closes: "18:00"})
	}
	exc := []directory.CalendarException{{Date: "12-25", Name: "Christmas"}, {Date: "2026-08-14", Name: "closure",
		Hours: []directory.OpenInterval{{Opens: "09:00", Closes: "12:00"}}}}
	cal, err := e.dir.CreateCalendar(ctx, directory.CalendarInput{Name: strp("office"), TimeZone: strp("Europe/Rome"), Hours: &hours, Exceptions: &exc})
	if err != nil {
		tb.Fatal(err)
	}
	e.office = cal.ID
	if e.contacts, err = contacts.New(db, contacts.Options{Numbers: contacts.NumberPlan{CountryCode: "39"}, CacheTTL: cacheTTL}); err != nil {
		tb.Fatal(err)
	}
	list, err := e.contacts.CreateList(ctx, contacts.ListInput{Name: "callers"})
	if err != nil {
		tb.Fatal(err)
	}
	e.list = list.ID
	ann, err := e.contacts.Create(ctx, contacts.ContactInput{ListID: list.ID, FirstName: "Ann", LastName: `O'Neil "the boss"`, Phone: "06 1234 5678"})
	if err != nil {
		tb.Fatal(err)
	}
	e.ann = ann.ID

	yes := true
	routes := []directory.InboundRouteInput{
		{Name: strp("after-hours"), DID: strp("_!"), Enabled: new(bool), Open: &directory.Destination{Type: "voicemail", Target: "1001@default"}},
		{Name: strp("main"), DID: strp("0612345678"), CalendarID: directory.Of(cal.ID),
			Open:   &directory.Destination{Type: "queue", Target: "sales"},
			Closed: directory.Of(directory.Destination{Type: "route", Target: "after-hours"})},
		{Name: strp("blocked"), DID: strp("0612345678"), CallerID: strp("_0200XXXXXX"), Open: &directory.Destination{Type: "hangup", Target: "USER_BUSY"}},
		{Name: strp("direct"), DID: strp("0611111111"), Open: &directory.Destination{Type: "agent", Target: "1001"}},
		{Name: strp("forward"), DID: strp("0622222222"), Open: &directory.Destination{Type: "external", Target: "+390699999999"}},
		{Name: strp("rome"), DID: strp("_06XXXXXXXX"), Open: &directory.Destination{Type: "queue", Target: "support"},
			CreateUnknownCaller: &yes, ContactListID: directory.Of(list.ID)},
		{Name: strp("catch-all"), DID: strp("_X."), Open: &directory.Destination{Type: "hangup", Target: "21"}},
	}
	for _, r := range routes {
		if _, err := e.dir.CreateInboundRoute(ctx, r); err != nil {
			tb.Fatalf("route %s: %v", *r.Name, err)
		}
	}
	for _, o := range []directory.OutboundRouteInput{
		{Name: strp("international"), Pattern: strp("_00X."), Strip: intp(2), Prepend: strp("+"), Trunk: strp("provider-a"),
			Record: &yes, RecordFormat: strp("wav49")},
		{Name: strp("national"), Pattern: strp("_0NX."), Trunk: strp("PJSIP/{number}@provider-b"), CallerID: strp(`"Sales" <0612345678>`)},
	} {
		if _, err := e.dir.CreateOutboundRoute(ctx, o); err != nil {
			tb.Fatalf("outbound route %s: %v", *o.Name, err)
		}
	}

	e.table = directory.NewRouteTable(e.dir, directory.RouteTableOptions{})
	if err := e.table.Refresh(ctx); err != nil {
		tb.Fatal(err)
	}
	e.calls = calllog.New(db, calllog.Options{})
	inbound, err := NewInbound(InboundOptions{Routes: e.table, Contacts: e.contacts, CallLog: e.calls, Now: e.clock.Now})
	if err != nil {
		tb.Fatal(err)
	}
	outbound, err := NewOutbound(OutboundOptions{Routes: e.table, CallLog: e.calls, Now: e.clock.Now})
	if err != nil {
		tb.Fatal(err)
	}
	e.router = NewRouter()
	e.router.Handle("inbound", inbound)
	e.router.Handle("outbound", outbound)
	return e
}

func intp(n int) *int { return &n }

// runCallLog runs the call log writer until the test ends.
func (e *routingEnv) runCallLog(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := e.calls.Run(ctx); err != nil {
			t.Error(err)
		}
	}()
	t.Cleanup(func() { cancel(); <-done })
}

// callHeader is a real Asterisk header for script with the given agi_*
// values replaced (keys without the agi_ prefix).
func callHeader(script string, set map[string]string) string {
	var b strings.Builder
	for _, l := range headerLines {
		l = strings.ReplaceAll(l, "%SCRIPT%", script)
		key, _, _ := strings.Cut(l, ":")
		if v, ok := set[strings.TrimPrefix(key, "agi_")]; ok {
			l = key + ": " + v
		}
		b.WriteString(l)
		b.WriteByte('\n')
	}
	b.WriteByte('\n')
	return b.String()
}

// call is one session as Asterisk plays it: what the server set, in order.
type call struct {
	vars     map[string]string
	order    []string
	commands []string
}

// dial plays Asterisk for one session over TCP: sends header, answers
// every command (GET VARIABLE CHANNEL(linkedid) with linkedid), and
// collects the variables set until the server closes. hangUpAfter > 0
// sends HANGUP after that many replies, as Asterisk does when the caller
// leaves.
func dial(t *testing.T, addr, header, linkedid string, hangUpAfter int) call {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, waitLimit)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(waitLimit))
	if _, err := io.WriteString(conn, header); err != nil {
		t.Fatal(err)
	}
	c := call{vars: map[string]string{}}
	r := bufio.NewReader(conn)
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			if line != "" || !isClosed(err) {
				t.Fatalf("after %v: %q, %v", c.commands, line, err)
			}
			return c
		}
		line = strings.TrimSuffix(line, "\n")
		c.commands = append(c.commands, line)
		reply := "200 result=1\n"
		switch {
		case strings.HasPrefix(line, "SET VARIABLE "):
			name, value := splitSetVariable(t, strings.TrimPrefix(line, "SET VARIABLE "))
			c.vars[name] = value
			c.order = append(c.order, name)
		case line == "GET VARIABLE CHANNEL(linkedid)":
			reply = "200 result=1 (" + linkedid + ")\n"
		}
		if hangUpAfter > 0 && len(c.commands) == hangUpAfter {
			reply += "HANGUP\n"
		}
		if _, err := io.WriteString(conn, reply); err != nil && !isClosed(err) {
			t.Fatal(err)
		}
	}
}

// splitSetVariable parses `NAME value` as res_agi does: value bare, or in
// double quotes with backslash escapes.
func splitSetVariable(t *testing.T, args string) (string, string) {
	name, value, ok := strings.Cut(args, " ")
	if !ok {
		t.Fatalf("SET VARIABLE %q has no value", args)
	}
	if !strings.HasPrefix(value, `"`) {
		return name, value
	}
	var b strings.Builder
	for i := 1; i < len(value); i++ {
		switch value[i] {
		case '\\':
			i++
			b.WriteByte(value[i])
		case '"':
			return name, b.String()
		default:
			b.WriteByte(value[i])
		}
	}
	t.Fatalf("unterminated quotes in %q", value)
	return "", ""
}

// want checks the variables set, exactly: nothing more, nothing less.
func (c call) want(t *testing.T, vars ...string) {
	t.Helper()
	want := map[string]string{}
	for i := 0; i+1 < len(vars); i += 2 {
		want[vars[i]] = vars[i+1]
	}
	if fmt.Sprint(want) != fmt.Sprint(c.vars) {
		t.Errorf("set %v\n want %v\n (commands %q)", c.vars, want, c.commands)
	}
}

func TestInboundDestinations(t *testing.T) {
	e := newRoutingEnv(t, storetest.SQLite(t), 0)
	e.runCallLog(t)
	ts := startServer(t, Config{}, e.router)
	annID := fmt.Sprint(e.ann)
	const annName = `Ann O'Neil "the boss"`
	inbound := func(did, caller string) string {
		return callHeader("inbound?linkedid=1795277170.7", map[string]string{"extension": did, "callerid": caller, "context": "omnicc-inbound"})
	}
	for _, c := range []struct {
		name, at, did, caller string
		want                  []string
	}{
		{"queue, in business hours, known caller", "2026-03-30T08:00:00Z", "0612345678", "+39 06 12345678",
			[]string{VarDestType, "queue", VarDest, "sales", VarRoute, "main", VarOpen, "1", VarContactID, annID, VarContactName, annName}},
		{"closed: chained to voicemail", "2026-03-30T17:00:00Z", "0612345678", "021234567",
			[]string{VarDestType, "voicemail", VarDest, "1001@default", VarRoute, "main", VarOpen, "0"}},
		{"agent", "2026-03-30T08:00:00Z", "0611111111", "021234567",
			[]string{VarDestType, "agent", VarDest, "1001", VarRoute, "direct", VarOpen, "1"}},
		{"external", "2026-03-30T08:00:00Z", "0622222222", "021234567",
			[]string{VarDestType, "external", VarDest, "+390699999999", VarRoute, "forward", VarOpen, "1"}},
		{"hang-up for a blocked caller (caller-ID pattern)", "2026-03-30T08:00:00Z", "0612345678", "0200123456",
			[]string{VarDestType, "hangup", VarDest, "USER_BUSY", VarRoute, "blocked", VarOpen, "1"}},
		{"pattern precedence: _06XXXXXXXX over _X.", "2026-03-30T08:00:00Z", "0633333333", "+390612345678",
			[]string{VarDestType, "queue", VarDest, "support", VarRoute, "rome", VarOpen, "1", VarContactID, annID, VarContactName, annName}},
		{"catch-all pattern", "2026-03-30T08:00:00Z", "0712345678", "",
			[]string{VarDestType, "hangup", VarDest, "21", VarRoute, "catch-all", VarOpen, "1"}},
		// Europe/Rome changes to summer time on 29 March 2026: 07:30 UTC is
		// 08:30 on the Friday before and 09:30 on the Monday after.
		{"DST: Friday 08:30 CET closed", "2026-03-27T07:30:00Z", "0612345678", "021234567",
			[]string{VarDestType, "voicemail", VarDest, "1001@default", VarRoute, "main", VarOpen, "0"}},
		{"DST: Monday 09:30 CEST open", "2026-03-30T07:30:00Z", "0612345678", "021234567",
			[]string{VarDestType, "queue", VarDest, "sales", VarRoute, "main", VarOpen, "1"}},
		// And back on 25 October: 16:30 UTC is 18:30 CEST on the Friday
		// before, 17:30 CET on the Monday after.
		{"DST: Friday 18:30 CEST closed", "2026-10-23T16:30:00Z", "0612345678", "021234567",
			[]string{VarDestType, "voicemail", VarDest, "1001@default", VarRoute, "main", VarOpen, "0"}},
		{"DST: Monday 17:30 CET open", "2026-10-26T16:30:00Z", "0612345678", "021234567",
			[]string{VarDestType, "queue", VarDest, "sales", VarRoute, "main", VarOpen, "1"}},
		{"holiday: Christmas, a Friday", "2026-12-25T10:00:00Z", "0612345678", "021234567",
			[]string{VarDestType, "voicemail", VarDest, "1001@default", VarRoute, "main", VarOpen, "0"}},
		{"closure: open only in the morning, 11:00", "2026-08-14T09:00:00Z", "0612345678", "021234567",
			[]string{VarDestType, "queue", VarDest, "sales", VarRoute, "main", VarOpen, "1"}},
		{"closure: open only in the morning, 13:00", "2026-08-14T11:00:00Z", "0612345678", "021234567",
			[]string{VarDestType, "voicemail", VarDest, "1001@default", VarRoute, "main", VarOpen, "0"}},
		{"no route", "2026-03-30T08:00:00Z", "+442079460000", "021234567",
			[]string{"OMNICC_ERROR", "no route for DID +442079460000 from 021234567"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			e.clock.set(c.at)
			got := dial(t, ts.addr, inbound(c.did, c.caller), "", 0)
			got.want(t, c.want...)
			for _, cmd := range got.commands {
				if strings.HasPrefix(cmd, "GET VARIABLE") {
					t.Errorf("linkedid came in the URL, yet the server asked: %q", cmd)
				}
			}
		})
	}

	// Each decision is in the call log, the refusal included.
	if err := e.calls.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	entries, total, err := e.calls.List(context.Background(), calllog.Filter{PerPage: 100})
	if err != nil || total != 15 {
		t.Fatalf("call log: %d entries, %v", total, err)
	}
	var chained, refused *calllog.Entry
	for i := range entries {
		switch {
		case entries[i].Error != "":
			refused = &entries[i]
		case entries[i].At.Equal(time.Date(2026, 3, 30, 17, 0, 0, 0, time.UTC)):
			chained = &entries[i]
		}
	}
	if chained == nil || strings.Join(chained.Chain, ">") != "main>after-hours" || chained.Open || chained.DestType != "voicemail" ||
		chained.LinkedID != "1795277170.7" || chained.UniqueID != "1795277170.120" || chained.Caller != "021234567" || chained.DID != "0612345678" {
		t.Errorf("chained call logged as %+v", chained)
	}
	if refused == nil || refused.Error != "no route for DID +442079460000 from 021234567" || refused.Route != "" {
		t.Errorf("refused call logged as %+v", refused)
	}
}

// An unknown caller on a route with create_unknown_caller becomes a
// contact in the route's list, and is known from the next call on. Run on
// both engines: this is the path that writes on the call.
func TestInboundCreatesUnknownCaller(t *testing.T) {
	storetest.Each(t, testInboundCreatesUnknownCaller)
}

func testInboundCreatesUnknownCaller(t *testing.T, db *store.DB) {
	e := newRoutingEnv(t, db, 0)
	e.runCallLog(t)
	ts := startServer(t, Config{}, e.router)
	// Asterisk's usual header: the DID on the s extension comes as dnid;
	// no linkedid in the URL, so the server asks for it — first, because
	// the entry is recorded complete before the last variable goes out.
	h := callHeader("inbound", map[string]string{"extension": "s", "dnid": "0644444444", "callerid": "0299998888", "calleridname": "Mario Rossi"})
	got := dial(t, ts.addr, h, "1795277170.1", 0)
	id := got.vars[VarContactID]
	got.want(t, VarDestType, "queue", VarDest, "support", VarRoute, "rome", VarOpen, "1", VarContactID, id, VarContactName, "Mario Rossi")
	if got.commands[0] != "GET VARIABLE CHANNEL(linkedid)" {
		t.Errorf("linkedid not asked for: %q", got.commands)
	}
	var cid int64
	fmt.Sscan(id, &cid)
	c, err := e.contacts.Get(context.Background(), cid)
	if err != nil || c.ListID != e.list || c.Phone != "0299998888" || c.Mobile != "0299998888" || c.Source != contacts.SourceUnknownCaller {
		t.Fatalf("created contact: %+v %v", c, err)
	}
	again := dial(t, ts.addr, h, "1795277170.2", 0)
	if again.vars[VarContactID] != id {
		t.Errorf("second call: contact %q, want %q", again.vars[VarContactID], id)
	}
	if err := e.calls.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	entries, _, _ := e.calls.List(context.Background(), calllog.Filter{})
	if len(entries) != 2 || !entries[1].ContactCreated || entries[0].ContactCreated || *entries[1].ContactID != cid ||
		entries[1].LinkedID != "1795277170.1" || entries[1].DID != "0644444444" {
		t.Errorf("call log: %+v", entries)
	}
	// A route without the trigger leaves unknown callers alone.
	before, _, _ := e.contacts.LookupCaller(context.Background(), "0277776666")
	dial(t, ts.addr, callHeader("inbound?linkedid=x", map[string]string{"extension": "0611111111", "callerid": "0277776666"}), "", 0).
		want(t, VarDestType, "agent", VarDest, "1001", VarRoute, "direct", VarOpen, "1")
	if after, found, _ := e.contacts.LookupCaller(context.Background(), "0277776666"); found || after != before {
		t.Errorf("contact created without a trigger: %+v", after)
	}
}

// A change through the directory applies to the next call; a target
// deleted since the route was written is an OMNICC_ERROR naming it; a
// caller who hangs up mid-session ends it cleanly and the decision is
// logged as not delivered.
func TestInboundChangesAndFailures(t *testing.T) {
	e := newRoutingEnv(t, storetest.SQLite(t), 0)
	e.runCallLog(t)
	ts := startServer(t, Config{}, e.router)
	ctx := context.Background()
	h := callHeader("inbound?linkedid=l", map[string]string{"extension": "0611111111", "callerid": "021234567"})
	dial(t, ts.addr, h, "", 0).want(t, VarDestType, "agent", VarDest, "1001", VarRoute, "direct", VarOpen, "1")

	routes, _, _ := e.dir.ListInboundRoutes(ctx, directory.RouteFilter{Q: "direct"})
	if _, err := e.dir.UpdateInboundRoute(ctx, routes[0].ID, directory.InboundRouteInput{Open: &directory.Destination{Type: "queue", Target: "support"}}); err != nil {
		t.Fatal(err)
	}
	dial(t, ts.addr, h, "", 0).want(t, VarDestType, "queue", VarDest, "support", VarRoute, "direct", VarOpen, "1")

	// The directory refuses to delete a queue a route uses; a queue removed
	// behind its back (by hand in SQL, say) still gives a clear error.
	qs, _, _ := e.dir.ListQueues(ctx, directory.QueueFilter{Q: "support"})
	var inUse *directory.InUseError
	if err := e.dir.DeleteQueue(ctx, qs[0].ID); !errors.As(err, &inUse) {
		t.Fatalf("deleting a routed queue: %v, want InUseError", err)
	}
	if _, err := e.db.ExecContext(ctx, `DELETE FROM cc_queues WHERE id = ?`, qs[0].ID); err != nil {
		t.Fatal(err)
	}
	if err := e.table.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	dial(t, ts.addr, h, "", 0).want(t, "OMNICC_ERROR", "route broken: route direct sends calls to queue support, which no longer exists")

	// Hang-up after the first SET VARIABLE: the server stops, closes.
	hung := dial(t, ts.addr, callHeader("inbound?linkedid=hung", map[string]string{"extension": "0622222222", "callerid": "021234567"}), "", 1)
	if len(hung.commands) != 1 {
		t.Errorf("commands after HANGUP: %q", hung.commands)
	}
	if err := e.calls.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	es, _, _ := e.calls.List(ctx, calllog.Filter{PerPage: 1})
	if !strings.HasPrefix(es[0].Error, "decision not delivered") || es[0].Dest != "+390699999999" {
		t.Errorf("hung-up call logged as %+v", es[0])
	}
	dial(t, ts.addr, h, "", 0).want(t, "OMNICC_ERROR", "route broken: route direct sends calls to queue support, which no longer exists")
}

func TestOutbound(t *testing.T) {
	e := newRoutingEnv(t, storetest.SQLite(t), 0)
	e.runCallLog(t)
	ts := startServer(t, Config{}, e.router)
	out := func(number, channel string) string {
		return callHeader("outbound?linkedid=1795277170.9", map[string]string{"extension": number, "context": "from-sip", "channel": channel, "callerid": "1001"})
	}
	dial(t, ts.addr, out("00390612345678", "PJSIP/ann-00000001"), "", 0).
		want(t, VarDial, "PJSIP/+390612345678@provider-a", VarCallerID, "", VarRecord, "wav49")
	dial(t, ts.addr, out("0612345678", "PJSIP/ann-00000002"), "", 0).
		want(t, VarDial, "PJSIP/0612345678@provider-b", VarCallerID, `"Sales" <0612345678>`, VarRecord, "0")
	dial(t, ts.addr, out("112", "PJSIP/ann-00000003"), "", 0).
		want(t, "OMNICC_ERROR", "no route for 112 dialled from context from-sip")
	if err := e.calls.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	es, _, _ := e.calls.List(context.Background(), calllog.Filter{Direction: calllog.Outbound})
	if len(es) != 3 || es[2].Route != "international" || es[2].Dest != "PJSIP/+390612345678@provider-a" || es[2].DID != "00390612345678" ||
		es[2].DestType != "external" || es[0].Error == "" || es[2].LinkedID != "1795277170.9" {
		t.Errorf("call log: %+v", es)
	}
}
