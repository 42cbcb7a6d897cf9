package directory_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"omnicc/directory"
	"omnicc/store"
	"omnicc/storetest"
)

// routing is a directory with what routes point at: voice queues sales and
// support, a chat queue, agent ann on extension 1001, calendar office and
// contact list 1.
type routing struct {
	t      *testing.T
	d      *directory.Directory
	table  *directory.RouteTable
	office int64
	list   int64
}

func newRouting(t *testing.T, db *store.DB) *routing {
	t.Helper()
	ctx := context.Background()
	d := directory.New(db, directory.Options{BcryptCost: 4})
	for _, q := range []directory.QueueInput{{Name: strp("sales")}, {Name: strp("support")}, {Name: strp("webchat"), Channel: strp("chat")}} {
		if _, err := d.CreateQueue(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := d.CreateAgent(ctx, directory.AgentInput{FullName: strp("Ann"), Username: strp("ann"), Typology: strp("webrtc"),
		Password: strp("Str0ng-Pass"), Extension: strp("1001"), Voicemail: boolp(true)}); err != nil {
		t.Fatal(err)
	}
	cal := officeHours()
	c, err := d.CreateCalendar(ctx, directory.CalendarInput{Name: &cal.Name, TimeZone: &cal.TimeZone, Hours: &cal.Hours, Exceptions: &cal.Exceptions})
	if err != nil {
		t.Fatal(err)
	}
	res, err := db.ExecContext(ctx, `INSERT INTO contact_lists (name, created_at, updated_at) VALUES ('callers', ?, ?)`, time.Now().UTC(), time.Now().UTC())
	if err != nil {
		t.Fatal(err)
	}
	list, _ := res.LastInsertId()
	return &routing{t: t, d: d, table: directory.NewRouteTable(d, directory.RouteTableOptions{}), office: c.ID, list: list}
}

// in builds an inbound route input: name, did, open destination, and
// optional key/value edits.
func in(name, did, openType, openTarget string, edits ...func(*directory.InboundRouteInput)) directory.InboundRouteInput {
	r := directory.InboundRouteInput{Name: &name, DID: &did, Open: &directory.Destination{Type: openType, Target: openTarget}}
	for _, e := range edits {
		e(&r)
	}
	return r
}

func withCaller(p string) func(*directory.InboundRouteInput) {
	return func(r *directory.InboundRouteInput) { r.CallerID = &p }
}

func withPriority(n int) func(*directory.InboundRouteInput) {
	return func(r *directory.InboundRouteInput) { r.Priority = &n }
}

func withCalendar(id int64, closedType, closedTarget string) func(*directory.InboundRouteInput) {
	return func(r *directory.InboundRouteInput) {
		r.CalendarID = directory.Of(id)
		r.Closed = directory.Of(directory.Destination{Type: closedType, Target: closedTarget})
	}
}

func (r *routing) create(ri directory.InboundRouteInput) *directory.InboundRoute {
	r.t.Helper()
	out, err := r.d.CreateInboundRoute(context.Background(), ri)
	if err != nil {
		r.t.Fatalf("create route %s: %v", *ri.Name, err)
	}
	return out
}

// decide asserts where a call goes.
func (r *routing) decide(did, caller, at, wantRoute, wantType, wantTarget string, wantOpen bool) directory.InboundDecision {
	r.t.Helper()
	dec, err := r.table.Inbound(context.Background(), did, caller, utc(at))
	if err != nil {
		r.t.Fatalf("%s from %q: %v", did, caller, err)
	}
	if dec.Route != wantRoute || dec.Dest.Type != wantType || dec.Dest.Target != wantTarget || dec.Open != wantOpen {
		r.t.Fatalf("%s from %q at %s: got route %s → %s %s open=%v, want %s → %s %s open=%v", did, caller, at,
			dec.Route, dec.Dest.Type, dec.Dest.Target, dec.Open, wantRoute, wantType, wantTarget, wantOpen)
	}
	return dec
}

func TestInboundRouteValidation(t *testing.T) {
	r := newRouting(t, storetest.SQLite(t))
	r.create(in("main", "0612345678", "queue", "sales"))
	ctx := context.Background()
	list := func(ri *directory.InboundRouteInput) {
		b := true
		ri.CreateUnknownCaller = &b
	}
	for _, c := range []struct {
		ri    directory.InboundRouteInput
		field string
		msg   string
	}{
		{in("bad name", "1", "queue", "sales"), "name", "letters, digits"},
		{in("x", "06 1234", "queue", "sales"), "did", "without spaces"},
		{in("x", "_X.5", "queue", "sales"), "did", "end the pattern"},
		{in("x", "_X.", "queue", "sales", withCaller("_[9-1]")), "caller_id", "backwards"},
		{in("x", "_X.", "queue", "sales", withPriority(10000)), "priority", "between 0 and 9999"},
		{directory.InboundRouteInput{Name: strp("x"), DID: strp("_X.")}, "open", "is required"},
		{in("x", "_X.", "", ""), "open.type", "is required"},
		{in("x", "_X.", "ivr", "menu"), "open.type", "must be one of"},
		{in("x", "_X.", "queue", "nosuch"), "open.target", "no queue is named"},
		{in("x", "_X.", "queue", "webchat"), "open.target", "chat queue"},
		{in("x", "_X.", "agent", "1002"), "open.target", "no agent has extension"},
		{in("x", "_X.", "agent", "ann"), "open.target", "extension"},
		{in("x", "_X.", "external", "06-1234"), "open.target", "number of 2 to 32 digits"},
		{in("x", "_X.", "voicemail", "1001@bad context"), "open.target", "mailbox"},
		{in("x", "_X.", "voicemail", "9999"), "open.target", "no agent has extension"},
		// The same DID, caller ID and priority as route main: which would win?
		{in("x", "0612345678", "queue", "support"), "priority", "already takes DID"},
		{in("x", "_X.", "hangup", "128"), "open.target", "hang-up cause"},
		{in("x", "_X.", "hangup", "busy"), "open.target", "hang-up cause"},
		{in("x", "_X.", "route", "nosuch"), "open.target", "no inbound route is named"},
		{in("x", "_X.", "route", "x"), "open.target", "loop"},
		{in("x", "_X.", "queue", "sales", func(ri *directory.InboundRouteInput) { ri.CalendarID = directory.Of(r.office) }), "closed", "is required with a calendar_id"},
		{in("x", "_X.", "queue", "sales", withCalendar(999, "hangup", "")), "calendar_id", "no calendar has id 999"},
		{in("x", "_X.", "queue", "sales", withCalendar(r.office, "voicemail", "")), "closed.target", "mailbox"},
		{in("x", "_X.", "queue", "sales", list), "contact_list_id", "is required when create_unknown_caller"},
		{in("x", "_X.", "queue", "sales", list, func(ri *directory.InboundRouteInput) { ri.ContactListID = directory.Of(int64(999)) }), "contact_list_id", "no contact list has id 999"},
	} {
		_, err := r.d.CreateInboundRoute(ctx, c.ri)
		var fe *directory.FieldError
		if !errors.As(err, &fe) || fe.Field != c.field || !strings.Contains(fe.Message, c.msg) {
			t.Errorf("route %s did %s: got %v, want an error on %s saying %q", *c.ri.Name, *c.ri.DID, err, c.field, c.msg)
		}
	}
	if _, err := r.d.CreateInboundRoute(ctx, in("MAIN", "1", "hangup", "")); !isConflict(err, "name") {
		t.Errorf("a second route named MAIN: %v", err)
	}
	// Another priority or caller ID for the same DID is a different route.
	if _, err := r.d.CreateInboundRoute(ctx, in("main-vip", "0612345678", "queue", "support", withCaller("_39X."))); err != nil {
		t.Errorf("same DID, another caller ID: %v", err)
	}
	if _, err := r.d.CreateInboundRoute(ctx, in("main-later", "0612345678", "queue", "support", withPriority(5))); err != nil {
		t.Errorf("same DID, another priority: %v", err)
	}
	// A bare mailbox is an agent's: with voicemail on, it is accepted, and
	// turning voicemail off while a route sends callers there is refused.
	bob, err := r.d.CreateAgent(ctx, directory.AgentInput{FullName: strp("Bob"), Username: strp("bob"), Typology: strp("webrtc"),
		Password: strp("Str0ng-Pass"), Extension: strp("1003")})
	if err != nil {
		t.Fatal(err)
	}
	var fe *directory.FieldError
	if _, err := r.d.CreateInboundRoute(ctx, in("bob-vm", "7", "voicemail", "1003")); !errors.As(err, &fe) || !strings.Contains(fe.Message, "voicemail off") {
		t.Errorf("voicemail of an agent with voicemail off: %v", err)
	}
	if _, err := r.d.UpdateAgent(ctx, bob.ID, directory.AgentInput{Voicemail: boolp(true)}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.d.CreateInboundRoute(ctx, in("bob-vm", "7", "voicemail", "1003")); err != nil {
		t.Errorf("voicemail of an agent with voicemail on: %v", err)
	}
	var inUse *directory.InUseError
	if _, err := r.d.UpdateAgent(ctx, bob.ID, directory.AgentInput{Voicemail: boolp(false)}); !errors.As(err, &inUse) {
		t.Errorf("voicemail off while routed to: %v", err)
	}
	for _, ok := range []directory.InboundRouteInput{
		in("cause-num", "1", "hangup", "17"), in("cause-name", "2", "hangup", "USER_BUSY"), in("vm", "3", "voicemail", "1001@default"),
		in("ext", "4", "external", "+390612345678"), in("agent", "5", "agent", "1001"), in("q", "6", "queue", "SALES"),
	} {
		got, err := r.d.CreateInboundRoute(ctx, ok)
		if err != nil {
			t.Errorf("route %s: %v", *ok.Name, err)
		} else if *ok.Name == "q" && got.Open.Target != "sales" {
			t.Errorf("a queue target is stored in the queue's own spelling: %q", got.Open.Target)
		}
	}
}

func TestInboundRouteStore(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		r := newRouting(t, db)
		vip := r.create(in("vip", "_X.", "queue", "support", withCaller("_39X.")))
		after := r.create(in("after-hours", "_!", "voicemail", "1001", func(ri *directory.InboundRouteInput) { ri.Enabled = new(bool) }))
		yes := true
		main := r.create(in("main", "0612345678", "route", "VIP", withCalendar(r.office, "route", "after-hours"),
			func(ri *directory.InboundRouteInput) {
				ri.CreateUnknownCaller = &yes
				ri.ContactListID = directory.Of(r.list)
			}))
		if main.Open.Target != "vip" || *main.CalendarID != r.office || *main.ContactListID != r.list || after.Enabled {
			t.Fatalf("created: %+v", main)
		}
		got, err := r.d.InboundRoute(ctx, main.ID)
		if err != nil || got.Closed == nil || got.Closed.Target != "after-hours" || !got.CreateUnknownCaller || got.CallerID != "" {
			t.Fatalf("read back: %+v %v", got, err)
		}
		// Chaining back makes a loop, refused on either side.
		if _, err := r.d.UpdateInboundRoute(ctx, vip.ID, directory.InboundRouteInput{Open: &directory.Destination{Type: "route", Target: "main"}}); !isField(err, "open.target") {
			t.Fatalf("vip → main → vip: %v", err)
		}
		if _, err := r.d.UpdateInboundRoute(ctx, after.ID, directory.InboundRouteInput{Open: &directory.Destination{Type: "route", Target: "main"}}); err == nil ||
			!strings.Contains(err.Error(), "after-hours → main → after-hours") {
			t.Fatalf("after-hours → main → after-hours: %v", err)
		}
		// Renaming a route renames it where routes chain to it.
		if _, err := r.d.UpdateInboundRoute(ctx, vip.ID, directory.InboundRouteInput{Name: strp("gold")}); err != nil {
			t.Fatal(err)
		}
		if got, _ := r.d.InboundRoute(ctx, main.ID); got.Open.Target != "gold" {
			t.Fatalf("chain not renamed: %+v", got.Open)
		}
		// A route or calendar in use cannot be deleted.
		var inUse *directory.InUseError
		if err := r.d.DeleteInboundRoute(ctx, vip.ID); !errors.As(err, &inUse) || !strings.Contains(err.Error(), "inbound route main") {
			t.Fatalf("delete a chained-to route: %v", err)
		}
		if err := r.d.DeleteCalendar(ctx, r.office); !errors.As(err, &inUse) {
			t.Fatalf("delete a calendar in use: %v", err)
		}
		// Removing the calendar (null) needs no closed destination any more.
		if up, err := r.d.UpdateInboundRoute(ctx, main.ID, directory.InboundRouteInput{CalendarID: directory.Null[int64](), Closed: directory.Null[directory.Destination]()}); err != nil ||
			up.CalendarID != nil || up.Closed != nil {
			t.Fatalf("clear calendar: %+v %v", up, err)
		}
		if err := r.d.DeleteCalendar(ctx, r.office); err != nil {
			t.Fatalf("delete a calendar no longer used: %v", err)
		}
		list, total, err := r.d.ListInboundRoutes(ctx, directory.RouteFilter{Sort: "-name"})
		if err != nil || total != 3 || list[0].Name != "main" || list[2].Name != "after-hours" {
			t.Fatalf("list: %v %d %v", list, total, err)
		}
		if _, total, _ := r.d.ListInboundRoutes(ctx, directory.RouteFilter{Q: "0612"}); total != 1 {
			t.Fatalf("search by DID: %d", total)
		}
		if err := r.d.DeleteInboundRoute(ctx, main.ID); err != nil {
			t.Fatal(err)
		}
		if err := r.d.DeleteInboundRoute(ctx, vip.ID); err != nil {
			t.Fatalf("delete once nothing chains to it: %v", err)
		}
	})
}

// The route table picks routes by priority, then Asterisk's precedence on
// the DID, then the caller ID; follows chains; honours the calendar.
func TestRouteTableInbound(t *testing.T) {
	r := newRouting(t, storetest.SQLite(t))
	ctx := context.Background()
	const open, closed = "2026-03-30T08:00:00Z", "2026-03-30T19:00:00Z" // a Monday, 10:00 and 21:00 in Rome
	p := withPriority(10)
	r.create(in("catch-all", "_X.", "hangup", "21", p))
	r.create(in("rome", "_06XXXXXXXX", "queue", "support", p))
	r.create(in("after-hours", "_!", "voicemail", "1001", p, func(ri *directory.InboundRouteInput) { ri.Enabled = new(bool) }))
	r.create(in("main", "0612345678", "queue", "sales", p, withCalendar(r.office, "route", "after-hours")))
	r.create(in("vip", "0612345678", "agent", "1001", p, withCaller("_39X.")))
	r.create(in("blocked", "0612345678", "hangup", "USER_BUSY", p, withCaller("3900000000")))
	r.create(in("urgent", "_0X.", "external", "+390699999999", withPriority(5), withCaller("_555XXXX")))

	r.decide("0612345678", "3911111111", open, "vip", "agent", "1001", true)           // caller-specific beats any-caller
	r.decide("0612345678", "3900000000", open, "blocked", "hangup", "USER_BUSY", true) // exact caller beats _39X.
	r.decide("0612345678", "021234567", open, "main", "queue", "sales", true)          // exact DID beats _06XXXXXXXX
	dec := r.decide("0612345678", "021234567", closed, "main", "voicemail", "1001", false)
	if strings.Join(dec.Chain, ">") != "main>after-hours" {
		t.Errorf("chain %v", dec.Chain)
	}
	r.decide("0699999999", "021234567", open, "rome", "queue", "support", true) // the more specific pattern
	r.decide("0799999999", "", open, "catch-all", "hangup", "21", true)
	r.decide("0612345678", "5551234", open, "urgent", "external", "+390699999999", true) // priority 5 beats the exact DID at priority 10
	if _, err := r.table.Inbound(ctx, "", "1", utc(open)); !errors.Is(err, directory.ErrNoRoute) {
		t.Errorf("no DID: %v", err)
	}
	if _, err := r.table.Inbound(ctx, "+44", "1", utc(open)); !errors.Is(err, directory.ErrNoRoute) || !strings.Contains(err.Error(), "+44") {
		t.Errorf("a disabled _! route must not catch calls: %v", err)
	}

	// A change is seen by the very next call; a destination deleted since
	// the route was written is reported, not dialled.
	// (The directory refuses to delete a routed queue, so it goes by hand.)
	qs, _, _ := r.d.ListQueues(ctx, directory.QueueFilter{Q: "support"})
	var inUse *directory.InUseError
	if err := r.d.DeleteQueue(ctx, qs[0].ID); !errors.As(err, &inUse) {
		t.Fatalf("deleting a routed queue: %v, want InUseError", err)
	}
	if _, err := r.d.DB().ExecContext(ctx, `DELETE FROM cc_queues WHERE id = ?`, qs[0].ID); err != nil {
		t.Fatal(err)
	}
	if err := r.table.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := r.table.Inbound(ctx, "0699999999", "1", utc(open)); !errors.Is(err, directory.ErrRouteBroken) || !strings.Contains(err.Error(), "queue support") {
		t.Errorf("deleted queue: %v", err)
	}
}

func TestOutboundRoutes(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		r := newRouting(t, db)
		out := func(name, pattern, trunk string, edits ...func(*directory.OutboundRouteInput)) directory.OutboundRouteInput {
			o := directory.OutboundRouteInput{Name: &name, Pattern: &pattern, Trunk: &trunk}
			for _, e := range edits {
				e(&o)
			}
			return o
		}
		strip := func(n int) func(*directory.OutboundRouteInput) {
			return func(o *directory.OutboundRouteInput) { o.Strip = &n }
		}
		for _, c := range []struct {
			o     directory.OutboundRouteInput
			field string
		}{
			{out("x", "_X.5", "prov"), "pattern"},
			{out("x", "_00X.", "prov", strip(4)), "strip"},
			{out("x", "_00X.", "prov", strip(21)), "strip"},
			{out("x", "_X.", "prov", func(o *directory.OutboundRouteInput) { o.Prepend = strp("0-") }), "prepend"},
			{out("x", "_X.", "PJSIP/{number}@prov,30"), "trunk"},
			{out("x", "_X.", "PJSIP/{number}@a&PJSIP/{number}@b"), "trunk"},
			{out("x", "_X.", "my provider"), "trunk"},
			{out("x", "_X.", "/{number}"), "trunk"},
			{out("x", "_X.", "prov", func(o *directory.OutboundRouteInput) { o.CallerID = strp("a,b") }), "caller_id"},
			{out("x", "_X.", "prov", func(o *directory.OutboundRouteInput) { o.RecordFormat = strp("mp3") }), "record_format"},
			{out("x", "_X.", "prov", func(o *directory.OutboundRouteInput) { o.Context = strp("from sip") }), "context"},
		} {
			if _, err := r.d.CreateOutboundRoute(ctx, c.o); !isField(err, c.field) {
				t.Errorf("outbound %s trunk %s: got %v, want an error on %s", *c.o.Pattern, *c.o.Trunk, err, c.field)
			}
		}
		yes := true
		for _, o := range []directory.OutboundRouteInput{
			out("international", "_00X.", "provider-a", strip(2), func(o *directory.OutboundRouteInput) {
				o.Prepend = strp("+")
				o.Record = &yes
				o.RecordFormat = strp("wav49")
			}),
			out("national", "_0NX.", "PJSIP/{number}@provider-b", func(o *directory.OutboundRouteInput) { o.CallerID = strp(`"Sales" <0612345678>`) }),
			out("mobile", "_3XXXXXXXXX", "DAHDI/g0/", func(o *directory.OutboundRouteInput) { o.Context = strp("from-sip") }),
			out("all", "_X.", "provider-c", func(o *directory.OutboundRouteInput) { p := 50; o.Priority = &p }),
		} {
			if _, err := r.d.CreateOutboundRoute(ctx, o); err != nil {
				t.Fatalf("outbound %s: %v", *o.Name, err)
			}
		}
		for _, c := range []struct {
			number, context, endpoint string
			want                      directory.OutboundDecision
		}{
			{"00390612345678", "from-sip", "bob", directory.OutboundDecision{Route: "international", Number: "+390612345678",
				Trunk: "provider-a", Record: "wav49"}},
			{"0612345678", "from-sip", "ann", directory.OutboundDecision{Route: "national", Number: "0612345678",
				Trunk: "PJSIP/{number}@provider-b", CallerID: `"Sales" <0612345678>`, Record: ""}},
			{"3331234567", "from-sip", "bob", directory.OutboundDecision{Route: "mobile", Number: "3331234567", Trunk: "DAHDI/g0/"}},
			{"3331234567", "omnicc-outbound", "", directory.OutboundDecision{Route: "all", Number: "3331234567", Trunk: "provider-c"}},
		} {
			got, err := r.table.Outbound(ctx, c.number, c.context, c.endpoint)
			got.RouteID = 0
			if err != nil || got != c.want {
				t.Errorf("%s from %s: got %+v, %v; want %+v", c.number, c.context, got, err, c.want)
			}
		}
		// An agent who records its calls gets its outbound calls recorded.
		if _, err := r.d.UpdateAgent(ctx, agentID(t, r.d, "ann"), directory.AgentInput{RecordCalls: strp("gsm")}); err != nil {
			t.Fatal(err)
		}
		if got, _ := r.table.Outbound(ctx, "0612345678", "from-sip", "ann"); got.Record != "gsm" {
			t.Errorf("agent recording: %+v", got)
		}
		if _, err := r.table.Outbound(ctx, "*21", "from-sip", ""); !errors.Is(err, directory.ErrNoRoute) {
			t.Errorf("no route: %v", err)
		}
		list, total, err := r.d.ListOutboundRoutes(ctx, directory.RouteFilter{Sort: "priority"})
		if err != nil || total != 4 || list[3].Name != "all" {
			t.Fatalf("list: %v %d %v", list, total, err)
		}
		if _, err := r.d.UpdateOutboundRoute(ctx, list[3].ID, directory.OutboundRouteInput{Strip: new(int), Name: strp("INTERNATIONAL")}); !isConflict(err, "name") {
			t.Fatalf("rename onto another route: %v", err)
		}
		if err := r.d.DeleteOutboundRoute(ctx, list[3].ID); err != nil {
			t.Fatal(err)
		}
		if err := r.d.DeleteOutboundRoute(ctx, list[3].ID); !errors.Is(err, directory.ErrNotFound) {
			t.Fatalf("second delete: %v", err)
		}
	})
}

func agentID(t *testing.T, d *directory.Directory, username string) int64 {
	t.Helper()
	a, err := d.AgentByUsername(context.Background(), username)
	if err != nil {
		t.Fatal(err)
	}
	return a.ID
}

// When the database cannot be read, the last table keeps answering; a table
// that never loaded says the routes are unavailable.
func TestRouteTableSurvivesTheDatabase(t *testing.T) {
	db := storetest.SQLite(t)
	r := newRouting(t, db)
	now := utc("2026-03-30T08:00:00Z")
	table := directory.NewRouteTable(r.d, directory.RouteTableOptions{Now: func() time.Time { return now }, RetryAfter: time.Minute})
	ctx := context.Background()
	if _, err := table.Inbound(ctx, "1", "", now); !errors.Is(err, directory.ErrNoRoute) {
		t.Fatalf("empty table: %v", err)
	}
	r.create(in("main", "_X.", "queue", "sales"))
	db.Close()
	for range 3 {
		if _, err := table.Inbound(ctx, "1", "", now); !errors.Is(err, directory.ErrNoRoute) {
			t.Fatalf("with the database gone the last table answers: %v", err)
		}
	}
	if err := table.Refresh(ctx); err == nil {
		t.Fatal("Refresh with the database closed succeeded")
	}
	fresh := directory.NewRouteTable(r.d, directory.RouteTableOptions{})
	if _, err := fresh.Inbound(ctx, "1", "", now); !errors.Is(err, directory.ErrRoutesUnavailable) {
		t.Fatalf("a table never loaded: %v", err)
	}
}

// BenchmarkRouteTableInbound is one decision from memory: 507 routes, the
// 100 patterns ranked before the matching exact DID tried and missed, a
// business-hours check in Europe/Rome.
//
//	go test -run='^$' -bench=BenchmarkRouteTableInbound ./directory/
func BenchmarkRouteTableInbound(b *testing.B) {
	db := storetest.SQLite(b)
	ctx := context.Background()
	d := directory.New(db, directory.Options{BcryptCost: 4})
	if _, err := d.CreateQueue(ctx, directory.QueueInput{Name: strp("sales")}); err != nil {
		b.Fatal(err)
	}
	cal := officeHours()
	c, err := d.CreateCalendar(ctx, directory.CalendarInput{Name: &cal.Name, TimeZone: &cal.TimeZone, Hours: &cal.Hours, Exceptions: &cal.Exceptions})
	if err != nil {
		b.Fatal(err)
	}
	for i := range 507 {
		ri := in(fmt.Sprintf("r%d", i), fmt.Sprintf("07%08d", i), "queue", "sales", withPriority(10))
		switch {
		case i >= 400 && i < 500:
			ri = in(fmt.Sprintf("r%d", i), fmt.Sprintf("_09%02dXXXXXX", i-400), "queue", "sales")
		case i == 500:
			ri = in("main", "0612345678", "queue", "sales", withPriority(10), withCalendar(c.ID, "hangup", ""))
		}
		if _, err := d.CreateInboundRoute(ctx, ri); err != nil {
			b.Fatal(err)
		}
	}
	table := directory.NewRouteTable(d, directory.RouteTableOptions{})
	at := utc("2026-03-30T08:00:00Z")
	b.ReportAllocs()
	for b.Loop() {
		dec, err := table.Inbound(ctx, "0612345678", "0298765432", at)
		if err != nil || dec.Route != "main" {
			b.Fatal(dec, err)
		}
	}
}
