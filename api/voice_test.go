package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"omnicc/ami"
	"omnicc/ami/amitest"
	"omnicc/api"
	"omnicc/auth"
	"omnicc/calls"
	"omnicc/directory"
	"omnicc/presence"
	"omnicc/store"
	"omnicc/storetest"
)

const amiUser, amiSecret = "omnicc", "s3cret"

// voiceEnv is the API with the voice routes mounted, talking AMI over real
// TCP to an amitest server that records every action.
type voiceEnv struct {
	*env
	ami    *amitest.Server
	calls  *calls.Service
	authn  *auth.Service
	events *eventLog
	ids    map[string]int64  // username -> agent id
	tokens map[string]string // username -> bearer token
	// peers answers Getvar BRIDGEPEER per channel.
	peers sync.Map
	mixID atomic.Int64
}

// eventLog is a presence.Publisher that keeps what it is given.
type eventLog struct {
	mu     sync.Mutex
	events []presence.Event
}

func (l *eventLog) Publish(e presence.Event) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.events = append(l.events, e)
}

func (l *eventLog) all() []presence.Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.events)
}

// newVoiceEnv builds the API over db with agents alice (webrtc, chanspy on,
// recording enabled), bob (phonebar, chanspy off, record_calls wav49) and
// carol (external), a supervisor sue, and an Asterisk that accepts
// everything. control replaces the AMI side when not nil.
func newVoiceEnv(t *testing.T, db *store.DB, control calls.Control) *voiceEnv {
	t.Helper()
	dir := directory.New(db, directory.Options{ExtensionLow: 1000, ExtensionHigh: 1999, SecuritySuite: true, BcryptCost: 4})
	if _, _, err := dir.EnsureAdmin(t.Context(), adminPassword); err != nil {
		t.Fatal(err)
	}
	ve := &voiceEnv{events: &eventLog{}, ids: map[string]int64{}, tokens: map[string]string{}}
	if control == nil {
		ve.ami = amitest.NewServer(t, amiUser, amiSecret)
		for _, a := range []string{"Originate", "Hangup", "BlindTransfer", "Atxfer", "CancelAtxfer", "Redirect", "StopMixMonitor", "MixMonitorMute"} {
			ve.ami.Handle(a, amitest.Reply(amitest.Success("Message", a+" done")))
		}
		ve.ami.Handle("MixMonitor", func(ami.Message) []ami.Message {
			return []ami.Message{amitest.Success("MixMonitorID", fmt.Sprintf("0x%d", ve.mixID.Add(1)))}
		})
		ve.ami.Handle("Getvar", ve.getvar)
		control = ami.NewVoice(startVoicePool(t, ve.ami), slog.New(slog.NewTextHandler(t.Output(), nil)))
	}
	svc, err := calls.New(calls.Options{Control: control, DB: db, Agents: dir, Events: ve.events,
		Logger: slog.New(slog.NewTextHandler(t.Output(), nil)),
		Now:    func() time.Time { return time.Date(2026, 1, 2, 9, 30, 0, 0, time.UTC) }})
	if err != nil {
		t.Fatal(err)
	}
	ve.calls = svc
	voice, err := api.NewVoice(svc)
	if err != nil {
		t.Fatal(err)
	}
	authn := auth.New(db, dir, auth.Options{LockoutThreshold: 5})
	ve.authn = authn
	s, err := api.New(api.Options{DB: db, Directory: dir, Auth: authn, MaxBodyBytes: 64 << 10,
		Mounts: []func(*api.Router){voice.Mount}})
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, srv: httptest.NewServer(s.Handler()), api: s, dir: dir}
	t.Cleanup(e.srv.Close)
	e.admin = e.login("admin", adminPassword)
	ve.env = e
	for _, a := range []map[string]any{
		agent("alice", "webrtc", "chanspy", true, "webrtc", map[string]any{"enable_recording": true}, "caller_id", `"Sales" <+390611111>`),
		agent("bob", "phonebar", "record_calls", "wav49"),
		agent("carol", "external"),
	} {
		out := e.createAgent(a)
		name := a["username"].(string)
		ve.ids[name] = id(out)
		ve.tokens[name] = e.login(name, "Str0ng-Pass")
	}
	var sup map[string]any
	e.must(e.call("POST", "/api/v1/users", e.admin, map[string]any{"role": "supervisor", "username": "sue",
		"full_name": "Sue Visor", "password": "Str0ng-Pass"}, &sup), 201)
	ve.ids["sue"] = id(sup)
	ve.tokens["sue"] = e.login("sue", "Str0ng-Pass")
	ve.tokens["admin"] = e.admin
	return ve
}

// getvar answers like Asterisk: ids of any channel, BRIDGEPEER as set.
func (ve *voiceEnv) getvar(a ami.Message) []ami.Message {
	ch, name := a.Get("Channel"), a.Get("Variable")
	val := ""
	switch name {
	case "CHANNEL(uniqueid)":
		val = "1795277390." + strings.TrimLeft(ch[strings.LastIndexByte(ch, '-')+1:], "0")
	case "CHANNEL(linkedid)":
		val = "1795277390.1"
	case "BRIDGEPEER":
		if p, ok := ve.peers.Load(ch); ok {
			val = p.(string)
		}
	}
	return []ami.Message{amitest.Success("Variable", name, "Value", val)}
}

func startVoicePool(t *testing.T, srv *amitest.Server) *ami.Pool {
	t.Helper()
	boxes, err := ami.ParseBoxes(amiUser + ":" + amiSecret + "@" + srv.Addr())
	if err != nil {
		t.Fatal(err)
	}
	pool, err := ami.NewPool(boxes, ami.Config{ActionTimeout: wsWait, DialTimeout: wsWait, PingInterval: time.Hour,
		BackoffMin: 5 * time.Millisecond, BackoffMax: 50 * time.Millisecond, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- pool.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	for deadline := time.Now().Add(wsWait); !pool.Clients()[0].Connected(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("AMI pool never connected to amitest")
		}
	}
	return pool
}

// do calls the API as user and decodes the answer.
func (ve *voiceEnv) do(user, method, path string, body any) (int, map[string]any) {
	ve.t.Helper()
	var out map[string]any
	st := ve.call(method, path, ve.tokens[user], body, &out)
	return st, out
}

func (ve *voiceEnv) agentPath(name, rest string) string {
	return fmt.Sprintf("/api/v1/agents/%d%s", ve.ids[name], rest)
}

// lastAction is the last action named name that Asterisk received, without
// the ActionID.
func (ve *voiceEnv) lastAction(name string) []ami.Field {
	ve.t.Helper()
	got := ve.ami.Actions(name)
	if len(got) == 0 {
		ve.t.Fatalf("Asterisk received no %s", name)
	}
	return slices.DeleteFunc(got[len(got)-1].Fields(), func(f ami.Field) bool { return f.Key == "ActionID" })
}

func amiFields(kv ...string) []ami.Field {
	var out []ami.Field
	for i := 0; i < len(kv); i += 2 {
		out = append(out, ami.Field{Key: kv[i], Value: kv[i+1]})
	}
	return out
}

func errCode(out map[string]any) string {
	e, _ := out["error"].(map[string]any)
	c, _ := e["code"].(string)
	return c
}

func errField(out map[string]any) string {
	e, _ := out["error"].(map[string]any)
	f, _ := e["field"].(string)
	return f
}

func errMessage(out map[string]any) string {
	e, _ := out["error"].(map[string]any)
	m, _ := e["message"].(string)
	return m
}

// The voice routes over one API and one fake Asterisk: the subtests run in
// this order because later ones script errors into the fake Asterisk.
func TestVoiceControls(t *testing.T) {
	before := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, before) })
	db := storetest.SQLite(t)
	ve := newVoiceEnv(t, db, nil)
	t.Run("actions", func(t *testing.T) { testVoiceActions(t, ve) })
	t.Run("refusals", func(t *testing.T) { testVoiceRefusals(t, ve) })
	t.Run("auto-record", func(t *testing.T) { testVoiceAutoRecord(t, ve) })
	t.Run("recording lifecycle", func(t *testing.T) { testVoiceRecordingLifecycle(t, ve) })
	t.Run("asterisk errors", func(t *testing.T) { testVoiceAsteriskErrors(t, ve, db) })
	t.Run("desk endpoint", func(t *testing.T) { testVoiceDeskEndpoint(t, ve) })
}

// Issue 17 item 7: a supervisor's listen without endpoint rings the desk
// phone set on the user, and a bad one is refused naming the field.
func testVoiceDeskEndpoint(t *testing.T, ve *voiceEnv) {
	sue := fmt.Sprintf("/api/v1/users/%d", ve.ids["sue"])
	if st, out := ve.do("admin", "PATCH", sue, map[string]any{"desk_endpoint": "PJSIP/sue,qBw"}); st != 422 || errField(out) != "desk_endpoint" {
		t.Fatalf("a desk endpoint smuggling ChanSpy options: %d %v", st, out)
	}
	if st, out := ve.do("admin", "PATCH", sue, map[string]any{"desk_endpoint": "PJSIP/sue_desk"}); st != 200 || out["desk_endpoint"] != "PJSIP/sue_desk" {
		t.Fatalf("setting the desk endpoint: %d %v", st, out)
	}
	if st, out := ve.do("sue", "POST", ve.agentPath("alice", "/spy"), map[string]any{"mode": "listen"}); st != 202 {
		t.Fatalf("listen without endpoint, with a desk endpoint: %d %v", st, out)
	}
	got := ve.lastAction("Originate")
	if !slices.Contains(got, ami.Field{Key: "Channel", Value: "PJSIP/sue_desk"}) {
		t.Fatalf("listen rang %v, want the desk endpoint PJSIP/sue_desk", got)
	}
	ve.do("admin", "PATCH", sue, map[string]any{"desk_endpoint": ""})
}

// Each control sends exactly the AMI action it should, with these fields.
func testVoiceActions(t *testing.T, ve *voiceEnv) {
	ve.peers.Store("PJSIP/alice-00000001", "PJSIP/trunk-00000002")
	ve.peers.Store("PJSIP/alice-00000003", "PJSIP/trunk-00000004")
	alice := fmt.Sprint(ve.ids["alice"])
	tests := []struct {
		name   string
		user   string
		path   string
		body   any
		status int
		action string
		want   func(out map[string]any) []ami.Field
	}{
		{"click-to-call, number cleaned of separators", "alice", ve.agentPath("alice", "/calls"),
			map[string]any{"number": "+39 (06) 1234-5678"}, 202, "Originate",
			func(out map[string]any) []ami.Field {
				return amiFields("Action", "Originate", "Channel", "PJSIP/alice", "Context", "from-sip", "Exten", "+390612345678",
					"Priority", "1", "Timeout", "30000", "CallerID", `"Sales" <+390611111>`, "Async", "true",
					"Variable", "OMNICC_AGENT_ID="+alice, "Variable", "OMNICC_ORIGINATE_ID="+out["originate_id"].(string),
					"Variable", "OMNICC_ORIGIN=click-to-call")
			}},
		{"click-to-call of an external agent rings its number through a Local channel", "sue", ve.agentPath("carol", "/calls"),
			map[string]any{"number": "1001", "caller_id": `"Help desk" <555>`}, 202, "Originate",
			func(out map[string]any) []ami.Field {
				return amiFields("Action", "Originate", "Channel", "Local/+390612345678@from-sip/n", "Context", "from-sip", "Exten", "1001",
					"Priority", "1", "Timeout", "30000", "CallerID", `"Help desk" <555>`, "Async", "true",
					"Variable", fmt.Sprintf("OMNICC_AGENT_ID=%d", ve.ids["carol"]), "Variable", "OMNICC_ORIGINATE_ID="+out["originate_id"].(string),
					"Variable", "OMNICC_ORIGIN=click-to-call")
			}},
		{"hang-up", "alice", ve.agentPath("alice", "/calls/hangup"), map[string]any{"channel": "PJSIP/alice-00000001"}, 200, "Hangup",
			func(map[string]any) []ami.Field {
				return amiFields("Action", "Hangup", "Channel", "PJSIP/alice-00000001", "Cause", "16")
			}},
		{"blind transfer", "alice", ve.agentPath("alice", "/calls/blind-transfer"),
			map[string]any{"channel": "PJSIP/alice-00000001", "number": "1002"}, 200, "BlindTransfer",
			func(map[string]any) []ami.Field {
				return amiFields("Action", "BlindTransfer", "Channel", "PJSIP/alice-00000001", "Exten", "1002", "Context", "from-sip")
			}},
		{"attended transfer", "alice", ve.agentPath("alice", "/calls/attended-transfer"),
			map[string]any{"channel": "PJSIP/alice-00000001", "number": "1002"}, 200, "Atxfer",
			func(map[string]any) []ami.Field {
				return amiFields("Action", "Atxfer", "Channel", "PJSIP/alice-00000001", "Exten", "1002", "Context", "from-sip")
			}},
		{"attended transfer cancelled", "alice", ve.agentPath("alice", "/calls/attended-transfer/cancel"),
			map[string]any{"channel": "PJSIP/alice-00000001"}, 200, "CancelAtxfer",
			func(map[string]any) []ami.Field {
				return amiFields("Action", "CancelAtxfer", "Channel", "PJSIP/alice-00000001")
			}},
		{"attended transfer started again", "alice", ve.agentPath("alice", "/calls/attended-transfer"),
			map[string]any{"channel": "PJSIP/alice-00000001", "number": "1002"}, 200, "Atxfer",
			func(map[string]any) []ami.Field {
				return amiFields("Action", "Atxfer", "Channel", "PJSIP/alice-00000001", "Exten", "1002", "Context", "from-sip")
			}},
		{"attended transfer completed by hanging up the transferer", "sue", ve.agentPath("alice", "/calls/attended-transfer/complete"),
			map[string]any{"channel": "PJSIP/alice-00000001"}, 200, "Hangup",
			func(map[string]any) []ami.Field {
				return amiFields("Action", "Hangup", "Channel", "PJSIP/alice-00000001", "Cause", "16")
			}},
		{"conference with a number: agent and customer moved together", "alice", ve.agentPath("alice", "/calls/conference"),
			map[string]any{"channel": "PJSIP/alice-00000001", "number": "+3906999"}, 200, "Redirect",
			func(out map[string]any) []ami.Field {
				room := out["room"].(string)
				return amiFields("Action", "Redirect", "Channel", "PJSIP/alice-00000001", "Exten", room, "Context", "omnicc-conference",
					"Priority", "1", "ExtraChannel", "PJSIP/trunk-00000002", "ExtraExten", room, "ExtraContext", "omnicc-conference", "ExtraPriority", "1")
			}},
		{"conference with a number: the third party is originated into the room", "alice", ve.agentPath("alice", "/calls/conference"),
			map[string]any{"channel": "PJSIP/alice-00000001", "number": "+3906999"}, 200, "Originate",
			func(out map[string]any) []ami.Field {
				room := out["room"].(string)
				return amiFields("Action", "Originate", "Channel", "Local/+3906999@from-sip/n", "Context", "omnicc-conference", "Exten", room,
					"Priority", "1", "Timeout", "30000", "CallerID", `"Sales" <+390611111>`, "Async", "true",
					"Variable", "OMNICC_AGENT_ID="+alice, "Variable", "OMNICC_ORIGIN=conference", "Variable", "OMNICC_CONFERENCE="+room)
			}},
		{"conference with the consultation call: its peer joins the room", "alice", ve.agentPath("alice", "/calls/conference"),
			map[string]any{"channel": "PJSIP/alice-00000001", "consult_channel": "PJSIP/alice-00000003"}, 200, "Redirect",
			func(out map[string]any) []ami.Field {
				return amiFields("Action", "Redirect", "Channel", "PJSIP/trunk-00000004", "Exten", out["room"].(string),
					"Context", "omnicc-conference", "Priority", "1")
			}},
		{"conference with the consultation call: the agent's second leg is hung up", "alice", ve.agentPath("alice", "/calls/conference"),
			map[string]any{"channel": "PJSIP/alice-00000001", "consult_channel": "PJSIP/alice-00000003"}, 200, "Hangup",
			func(map[string]any) []ami.Field {
				return amiFields("Action", "Hangup", "Channel", "PJSIP/alice-00000003", "Cause", "16")
			}},
		{"listen", "sue", ve.agentPath("alice", "/spy"), map[string]any{"mode": "listen", "endpoint": "PJSIP/sue_desk"}, 202, "Originate",
			func(map[string]any) []ami.Field {
				return amiFields("Action", "Originate", "Channel", "PJSIP/sue_desk", "Application", "ChanSpy", "Data", "PJSIP/alice-,qE",
					"Timeout", "30000", "CallerID", fmt.Sprintf(`"Listen alice" <%s>`, ve.extension("alice")), "Async", "true",
					"Variable", "OMNICC_SPY_AGENT_ID="+alice, "Variable", "OMNICC_SPY_MODE=listen", "Variable", "OMNICC_ORIGIN=chanspy")
			}},
		{"whisper to one call from a desk phone", "admin", ve.agentPath("alice", "/spy"),
			map[string]any{"mode": "whisper", "endpoint": "PJSIP/desk7", "channel": "PJSIP/alice-00000001"}, 202, "Originate",
			func(map[string]any) []ami.Field {
				return amiFields("Action", "Originate", "Channel", "PJSIP/desk7", "Application", "ChanSpy", "Data", "PJSIP/alice-00000001,qEw",
					"Timeout", "30000", "CallerID", fmt.Sprintf(`"Whisper alice" <%s>`, ve.extension("alice")), "Async", "true",
					"Variable", "OMNICC_SPY_AGENT_ID="+alice, "Variable", "OMNICC_SPY_MODE=whisper", "Variable", "OMNICC_ORIGIN=chanspy")
			}},
		{"barge", "sue", ve.agentPath("alice", "/spy"), map[string]any{"mode": "barge", "endpoint": "Local/3001@from-sip"}, 202, "Originate",
			func(map[string]any) []ami.Field {
				return amiFields("Action", "Originate", "Channel", "Local/3001@from-sip", "Application", "ChanSpy", "Data", "PJSIP/alice-,qEB",
					"Timeout", "30000", "CallerID", fmt.Sprintf(`"Barge alice" <%s>`, ve.extension("alice")), "Async", "true",
					"Variable", "OMNICC_SPY_AGENT_ID="+alice, "Variable", "OMNICC_SPY_MODE=barge", "Variable", "OMNICC_ORIGIN=chanspy")
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, out := ve.do(tt.user, "POST", tt.path, tt.body)
			if st != tt.status {
				t.Fatalf("status %d, want %d: %v", st, tt.status, out)
			}
			got, want := ve.lastAction(tt.action), tt.want(out)
			if !slices.Equal(got, want) {
				t.Fatalf("Asterisk received\n  %v\nwant\n  %v", got, want)
			}
		})
	}
}

func (ve *voiceEnv) extension(name string) string {
	a, err := ve.dir.Agent(ve.t.Context(), ve.ids[name])
	if err != nil {
		ve.t.Fatal(err)
	}
	return a.Extension
}

// Who may do what, and input that must never reach Asterisk.
func testVoiceRefusals(t *testing.T, ve *voiceEnv) {
	tests := []struct {
		name, user, path string
		body             any
		status           int
		code             string
		field            string
	}{
		{"an agent acting for another", "bob", ve.agentPath("alice", "/calls/hangup"), map[string]any{"channel": "PJSIP/alice-00000001"}, 403, "forbidden", ""},
		{"a channel of someone else", "alice", ve.agentPath("alice", "/calls/hangup"), map[string]any{"channel": "PJSIP/bob-00000001"}, 403, "not_agents_channel", "channel"},
		{"a prefix that is not the agent's endpoint", "alice", ve.agentPath("alice", "/calls/hangup"), map[string]any{"channel": "PJSIP/alice2-00000001"}, 403, "not_agents_channel", "channel"},
		{"a regex channel (Hangup would match every channel)", "sue", ve.agentPath("alice", "/calls/hangup"), map[string]any{"channel": "/.*/"}, 422, "invalid", "channel"},
		{"header injection in the channel", "alice", ve.agentPath("alice", "/calls/hangup"), map[string]any{"channel": "PJSIP/alice-1\r\nAction: Originate"}, 422, "invalid", "channel"},
		{"header injection in the number", "alice", ve.agentPath("alice", "/calls"), map[string]any{"number": "1002\r\nChannel: PJSIP/x"}, 422, "invalid", "number"},
		{"header injection in the caller id", "alice", ve.agentPath("alice", "/calls"), map[string]any{"number": "1002", "caller_id": "x\nVariable: A=1"}, 422, "invalid", "caller_id"},
		{"letters are no number", "alice", ve.agentPath("alice", "/calls/blind-transfer"), map[string]any{"channel": "PJSIP/alice-00000001", "number": "sales"}, 422, "invalid", "number"},
		{"no channel", "alice", ve.agentPath("alice", "/calls/attended-transfer/cancel"), map[string]any{}, 422, "invalid", "channel"},
		{"unknown field", "alice", ve.agentPath("alice", "/calls/hangup"), map[string]any{"chan": "x"}, 400, "unknown_field", "chan"},
		{"agents may not spy", "alice", ve.agentPath("bob", "/spy"), map[string]any{"mode": "listen"}, 403, "forbidden", ""},
		{"spying on an agent who does not allow chanspy", "sue", ve.agentPath("bob", "/spy"), map[string]any{"mode": "listen"}, 403, "chanspy_not_allowed", ""},
		// Issue 17 item 7: no endpoint and no desk endpoint used to dial
		// PJSIP/<username>, which rings nothing.
		{"spy with no endpoint and no desk endpoint", "sue", ve.agentPath("alice", "/spy"), map[string]any{"mode": "listen"}, 422, "invalid", "endpoint"},
		{"spy mode", "sue", ve.agentPath("alice", "/spy"), map[string]any{"mode": "record"}, 422, "invalid", "mode"},
		{"ChanSpy options smuggled in the endpoint", "sue", ve.agentPath("alice", "/spy"), map[string]any{"mode": "listen", "endpoint": "PJSIP/sue,qBw"}, 422, "invalid", "endpoint"},
		{"no such agent", "sue", "/api/v1/agents/9999/calls", map[string]any{"number": "1"}, 404, "not_found", ""},
		{"recording not enabled for the agent", "carol", ve.agentPath("carol", "/recordings"), map[string]any{"channel": "Local/+390612345678@from-sip-00000001;1"}, 403, "recording_not_allowed", ""},
		{"recording format", "alice", ve.agentPath("alice", "/recordings"), map[string]any{"channel": "PJSIP/alice-00000001", "format": "mp3"}, 422, "invalid", "format"},
		{"conference with both a number and a second call", "alice", ve.agentPath("alice", "/calls/conference"),
			map[string]any{"channel": "PJSIP/alice-00000001", "consult_channel": "PJSIP/alice-00000003", "number": "1"}, 422, "invalid", "number"},
		{"conference when the agent talks to nobody", "alice", ve.agentPath("alice", "/calls/conference"),
			map[string]any{"channel": "PJSIP/alice-00000009", "number": "1002"}, 409, "not_bridged", "channel"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(ve.ami.Actions(""))
			st, out := ve.do(tt.user, "POST", tt.path, tt.body)
			if st != tt.status || errCode(out) != tt.code {
				t.Fatalf("got %d %v, want %d %s", st, out, tt.status, tt.code)
			}
			if f, _ := out["error"].(map[string]any)["field"].(string); f != tt.field {
				t.Fatalf("field %q, want %q", f, tt.field)
			}
			for _, a := range ve.ami.Actions("")[before:] {
				if n := a.Get("Action"); n != "Getvar" {
					t.Fatalf("a refused request sent %s to Asterisk", n)
				}
			}
		})
	}
}

// Asterisk's refusal reaches the client with its own words (502); no AMI
// connection is 503.
func testVoiceAsteriskErrors(t *testing.T, ve *voiceEnv, db *store.DB) {
	ve.ami.Handle("BlindTransfer", amitest.Reply(amitest.Error("Channel specified does not exist")))
	st, out := ve.do("alice", "POST", ve.agentPath("alice", "/calls/blind-transfer"), map[string]any{"channel": "PJSIP/alice-00000001", "number": "1002"})
	if st != 502 || errCode(out) != "asterisk_error" || !strings.Contains(errMessage(out), "Channel specified does not exist") {
		t.Fatalf("got %d %v, want 502 asterisk_error with Asterisk's message", st, out)
	}
	ve.ami.Handle("CancelAtxfer", amitest.Reply(amitest.Error("No transfer in progress")))
	if st, out := ve.do("alice", "POST", ve.agentPath("alice", "/calls/attended-transfer"), map[string]any{"channel": "PJSIP/alice-00000001", "number": "1002"}); st != 200 {
		t.Fatalf("attended transfer: %d %v", st, out)
	}
	st, out = ve.do("alice", "POST", ve.agentPath("alice", "/calls/attended-transfer/cancel"), map[string]any{"channel": "PJSIP/alice-00000001"})
	if st != 502 || !strings.Contains(errMessage(out), "No transfer in progress") {
		t.Fatalf("got %d %v", st, out)
	}

	// The same API with no Asterisk configured at all (OMNICC_AMI empty):
	// its own code, so a client does not wait for a reconnect.
	empty, err := ami.NewPool(nil, ami.Config{})
	if err != nil {
		t.Fatal(err)
	}
	svc, err := calls.New(calls.Options{Control: ami.NewVoice(empty, nil), DB: db, Agents: ve.dir})
	if err != nil {
		t.Fatal(err)
	}
	voice, err := api.NewVoice(svc)
	if err != nil {
		t.Fatal(err)
	}
	s, err := api.New(api.Options{DB: db, Directory: ve.dir, Auth: ve.authn, Mounts: []func(*api.Router){voice.Mount}})
	if err != nil {
		t.Fatal(err)
	}
	down := *ve.env
	down.srv = httptest.NewServer(s.Handler())
	defer down.srv.Close()
	var out2 map[string]any
	st = down.call("POST", ve.agentPath("alice", "/calls"), ve.tokens["alice"], map[string]any{"number": "1002"}, &out2)
	if out = out2; st != 503 || errCode(out) != "asterisk_not_configured" {
		t.Fatalf("got %d %v, want 503 asterisk_not_configured", st, out)
	}
}

// Recording: MixMonitor with an i() option for its ID, StopMixMonitor with
// that ID, MixMonitorMute both ways, and the events the agent bar shows.
func testVoiceRecordingLifecycle(t *testing.T, ve *voiceEnv) {
	seen := len(ve.events.all())
	st, rec := ve.do("alice", "POST", ve.agentPath("alice", "/recordings"), map[string]any{"channel": "PJSIP/alice-00000005", "uniqueid": "1795277390.5"})
	if st != 201 {
		t.Fatalf("start: %d %v", st, rec)
	}
	if rec["file"] != "omnicc/2026/01/02/1795277390.1-1.wav" || rec["call_id"] != "1795277390.1" || rec["state"] != "recording" ||
		rec["started_by_name"] != "alice" || rec["source"] != "manual" || rec["box"] != ve.ami.Addr() {
		t.Fatalf("recording %v", rec)
	}
	if got, want := ve.lastAction("MixMonitor"), amiFields("Action", "MixMonitor", "Channel", "PJSIP/alice-00000005",
		"File", "omnicc/2026/01/02/1795277390.1-1.wav", "Options", "i(OMNICC_MIXMON_1)"); !slices.Equal(got, want) {
		t.Fatalf("MixMonitor %v, want %v", got, want)
	}
	recPath := fmt.Sprintf("/api/v1/recordings/%d", int64(rec["id"].(float64)))

	st, out := ve.do("alice", "POST", recPath+"/pause", nil)
	if st != 200 || out["state"] != "paused" {
		t.Fatalf("pause: %d %v", st, out)
	}
	if got := ve.lastAction("MixMonitorMute"); !slices.Equal(got, amiFields("Action", "MixMonitorMute", "Channel", "PJSIP/alice-00000005", "Direction", "both", "State", "1")) {
		t.Fatalf("pause sent %v", got)
	}
	st, out = ve.do("alice", "POST", recPath+"/resume", nil)
	if st != 200 || out["state"] != "recording" || ve.lastAction("MixMonitorMute")[3].Value != "0" {
		t.Fatalf("resume: %d %v, %v", st, out, ve.lastAction("MixMonitorMute"))
	}
	if st, _ := ve.do("bob", "POST", recPath+"/stop", nil); st != 403 {
		t.Fatalf("another agent stopped alice's recording: %d", st)
	}
	st, out = ve.do("sue", "POST", recPath+"/stop", nil)
	if st != 200 || out["state"] != "stopped" || out["stopped_by_name"] != "sue" || out["stopped_at"] == nil {
		t.Fatalf("stop: %d %v", st, out)
	}
	if got := ve.lastAction("StopMixMonitor"); !slices.Equal(got, amiFields("Action", "StopMixMonitor", "Channel", "PJSIP/alice-00000005", "MixMonitorID", rec["mixmonitor_id"].(string))) {
		t.Fatalf("stop sent %v", got)
	}
	if st, out := ve.do("alice", "POST", recPath+"/resume", nil); st != 409 || errCode(out) != "recording_stopped" {
		t.Fatalf("resume after stop: %d %v", st, out)
	}
	var states []string
	for _, e := range ve.events.all()[seen:] {
		if e.Type == "recording" && e.AgentID == ve.ids["alice"] {
			states = append(states, e.Payload.(*calls.Recording).State)
		}
	}
	if strings.Join(states, ",") != "recording,paused,recording,stopped" {
		t.Fatalf("recording events %v", states)
	}

	// A uniqueid that is no longer the channel's: the call the client
	// meant has ended.
	st, out = ve.do("alice", "POST", ve.agentPath("alice", "/recordings"), map[string]any{"channel": "PJSIP/alice-00000006", "uniqueid": "1795277390.5"})
	if st != 409 || errCode(out) != "call_mismatch" {
		t.Fatalf("stale uniqueid: %d %v", st, out)
	}
	// Stopping a recording whose channel is gone (the call ended) marks
	// it stopped instead of failing.
	_, rec2 := ve.do("alice", "POST", ve.agentPath("alice", "/recordings"), map[string]any{"channel": "PJSIP/alice-00000007"})
	ve.ami.Handle("StopMixMonitor", amitest.Reply(amitest.Error("No such channel")))
	if st, out := ve.do("alice", "POST", fmt.Sprintf("/api/v1/recordings/%d/stop", int64(rec2["id"].(float64))), nil); st != 200 || out["state"] != "stopped" {
		t.Fatalf("stop after hang-up: %d %v", st, out)
	}
}

// At most two recordings per call (stopped ones count), enforced by the
// database on both engines; a MixMonitor Asterisk refuses frees its slot.
func TestVoiceTwoRecordingsPerCall(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ve := newVoiceEnv(t, db, nil)
		start := func(user, channel string) (int, map[string]any) {
			return ve.do(user, "POST", ve.agentPath("alice", "/recordings"), map[string]any{"channel": channel})
		}
		var refuse atomic.Bool
		refuse.Store(true)
		ve.ami.Handle("MixMonitor", func(ami.Message) []ami.Message {
			if refuse.Swap(false) {
				return []ami.Message{amitest.Error("Could not start monitoring channel")}
			}
			return []ami.Message{amitest.Success("MixMonitorID", fmt.Sprintf("0x%d", ve.mixID.Add(1)))}
		})
		if st, out := start("alice", "PJSIP/alice-00000001"); st != 502 || !strings.Contains(errMessage(out), "Could not start monitoring channel") {
			t.Fatalf("refused MixMonitor: %d %v", st, out)
		}
		st, first := start("alice", "PJSIP/alice-00000001")
		if st != 201 || first["slot"] != float64(1) {
			t.Fatalf("first: %d %v (the refused one must have freed slot 1)", st, first)
		}
		if st, _ := ve.do("alice", "POST", fmt.Sprintf("/api/v1/recordings/%d/stop", int64(first["id"].(float64))), nil); st != 200 {
			t.Fatal("stop first")
		}
		// Another leg of the same call (same linkedid) counts too.
		st, second := start("sue", "PJSIP/alice-00000002")
		if st != 201 || second["slot"] != float64(2) || second["started_by_name"] != "sue" {
			t.Fatalf("second: %d %v", st, second)
		}
		st, out := start("alice", "PJSIP/alice-00000001")
		if st != 409 || errCode(out) != "recording_limit" {
			t.Fatalf("third: %d %v, want 409 recording_limit", st, out)
		}
		if n := len(ve.ami.Actions("MixMonitor")); n != 3 {
			t.Fatalf("%d MixMonitor actions, want 3 (the third recording must not reach Asterisk)", n)
		}

		// Concurrent requests for the last slots of a new call: the
		// database lets exactly two through.
		ve.ami.Handle("Getvar", func(a ami.Message) []ami.Message {
			v := "1795277400.1"
			if a.Get("Variable") == "CHANNEL(uniqueid)" {
				v = "1795277400.2"
			}
			return []ami.Message{amitest.Success("Variable", a.Get("Variable"), "Value", v)}
		})
		var wg sync.WaitGroup
		var ok, limited atomic.Int32
		for range 5 {
			wg.Go(func() {
				var out map[string]any
				switch st := ve.call("POST", ve.agentPath("alice", "/recordings"), ve.tokens["alice"], map[string]any{"channel": "PJSIP/alice-00000010"}, &out); st {
				case 201:
					ok.Add(1)
				case 409:
					limited.Add(1)
				default:
					t.Errorf("concurrent start: %d %v", st, out)
				}
			})
		}
		wg.Wait()
		if ok.Load() != 2 || limited.Load() != 3 {
			t.Fatalf("%d started and %d refused, want 2 and 3", ok.Load(), limited.Load())
		}
	})
}

// GET /recordings: filters, paging, and agents limited to their own.
func TestVoiceRecordingsList(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ve := newVoiceEnv(t, db, nil)
		for _, ch := range []string{"PJSIP/alice-00000001", "PJSIP/alice-00000002"} {
			if st, out := ve.do("alice", "POST", ve.agentPath("alice", "/recordings"), map[string]any{"channel": ch}); st != 201 {
				t.Fatalf("%d %v", st, out)
			}
		}
		ve.ami.Handle("Getvar", func(a ami.Message) []ami.Message {
			return []ami.Message{amitest.Success("Variable", a.Get("Variable"), "Value", "1795277500.7")}
		})
		if st, out := ve.do("sue", "POST", ve.agentPath("bob", "/recordings"), map[string]any{"channel": "PJSIP/bob-00000007", "format": "gsm"}); st != 201 || out["file"] != "omnicc/2026/01/02/1795277500.7-1.gsm" {
			t.Fatalf("%d %v", st, out)
		}
		type page struct {
			Items []calls.Recording `json:"items"`
			Total int               `json:"total"`
		}
		list := func(user, query string) (int, page) {
			var p page
			st := ve.call("GET", "/api/v1/recordings"+query, ve.tokens[user], nil, &p)
			return st, p
		}
		tests := []struct {
			user, query string
			total       int
			first       string // uniqueid of the first item
		}{
			{"sue", "", 3, "1795277500.7"},
			{"admin", fmt.Sprintf("?agent_id=%d", ve.ids["alice"]), 2, "1795277390.2"},
			{"sue", "?linkedid=1795277390.1&per_page=1&page=2", 2, "1795277390.1"},
			{"sue", "?uniqueid=1795277500.7", 1, "1795277500.7"},
			{"sue", "?state=recording&from=2026-01-02T09:00:00Z&to=2026-01-02T10:00:00Z", 3, "1795277500.7"},
			{"sue", "?to=2026-01-02T09:30:00Z", 0, ""},
			{"bob", "", 1, "1795277500.7"},
			{"alice", "", 2, "1795277390.2"},
			{"alice", fmt.Sprintf("?agent_id=%d", ve.ids["alice"]), 2, "1795277390.2"},
		}
		for _, tt := range tests {
			st, p := list(tt.user, tt.query)
			if st != 200 || p.Total != tt.total || (tt.first != "" && (len(p.Items) == 0 || p.Items[0].UniqueID != tt.first)) {
				t.Fatalf("%s %s: %d total %d %+v; want total %d, first %s", tt.user, tt.query, st, p.Total, p.Items, tt.total, tt.first)
			}
		}
		for _, q := range []string{"?state=lost", "?from=yesterday", "?per_page=100000", "?uniqueid=a%20b"} {
			if st, _ := list("sue", q); st != 400 {
				t.Fatalf("%s: %d, want 400", q, st)
			}
		}
		if st, _ := list("alice", fmt.Sprintf("?agent_id=%d", ve.ids["bob"])); st != 403 {
			t.Fatalf("alice listed bob's recordings: %d", st)
		}
		var one calls.Recording
		_, p := list("sue", "?uniqueid=1795277500.7")
		if st := ve.call("GET", fmt.Sprintf("/api/v1/recordings/%d", p.Items[0].ID), ve.tokens["alice"], nil, &one); st != 403 {
			t.Fatalf("alice read bob's recording: %d", st)
		}
		if st := ve.call("GET", fmt.Sprintf("/api/v1/recordings/%d", p.Items[0].ID), ve.tokens["bob"], nil, &one); st != 200 || one.Format != "gsm" {
			t.Fatalf("bob's own recording: %d %+v", st, one)
		}
	})
}

// Automatic recording: route, then queue, then the agent's record_calls;
// once per call; hang-up marks it stopped.
func testVoiceAutoRecord(t *testing.T, ve *voiceEnv) {
	ctx := t.Context()
	bob := ve.ids["bob"]
	mixBefore := len(ve.ami.Actions("MixMonitor"))

	r, err := ve.calls.AutoRecord(ctx, calls.AnsweredCall{Channel: "PJSIP/bob-00000001", UniqueID: "1795277600.1", AgentID: bob})
	if err != nil || r == nil {
		t.Fatalf("agent auto-record: %v %v", r, err)
	}
	if r.Source != "agent" || r.Format != "wav49" || r.File != "omnicc/2026/01/02/1795277600.1-1.WAV" || r.StartedByName != "auto:agent" || r.StartedBy != nil {
		t.Fatalf("recording %+v", r)
	}
	if r2, err := ve.calls.AutoRecord(ctx, calls.AnsweredCall{Channel: "PJSIP/bob-00000001", UniqueID: "1795277600.1", AgentID: bob}); r2 != nil || err != nil {
		t.Fatalf("second auto-record of the same call: %v %v, want nothing", r2, err)
	}
	if n := len(ve.ami.Actions("MixMonitor")) - mixBefore; n != 1 {
		t.Fatalf("%d MixMonitor, want 1", n)
	}
	r, err = ve.calls.AutoRecord(ctx, calls.AnsweredCall{Channel: "PJSIP/bob-00000002", UniqueID: "1795277600.3", LinkedID: "1795277600.2",
		AgentID: bob, QueueFormat: "gsm"})
	if err != nil || r.Source != "queue" || r.Format != "gsm" || r.CallID != "1795277600.2" {
		t.Fatalf("queue auto-record: %+v %v", r, err)
	}
	r, err = ve.calls.AutoRecord(ctx, calls.AnsweredCall{Channel: "PJSIP/alice-00000004", UniqueID: "1795277600.4", AgentID: ve.ids["alice"],
		QueueFormat: "gsm", RouteFormat: "yes"})
	if err != nil || r.Source != "route" || r.Format != "wav" {
		t.Fatalf("route auto-record: %+v %v", r, err)
	}
	if r, err := ve.calls.AutoRecord(ctx, calls.AnsweredCall{Channel: "PJSIP/alice-00000005", UniqueID: "1795277600.5", AgentID: ve.ids["alice"]}); r != nil || err != nil {
		t.Fatalf("alice records nothing automatically: %v %v", r, err)
	}
	if _, err := ve.calls.AutoRecord(ctx, calls.AnsweredCall{Channel: "PJSIP/x-1\r\nAction: Hangup", UniqueID: "1.1"}); err == nil {
		t.Fatal("a channel with CR/LF was accepted")
	}

	if err := ve.calls.ChannelHungUp(ctx, "1795277600.1"); err != nil {
		t.Fatal(err)
	}
	var p struct {
		Items []calls.Recording `json:"items"`
	}
	ve.call("GET", "/api/v1/recordings?uniqueid=1795277600.1", ve.tokens["sue"], nil, &p)
	if len(p.Items) != 1 {
		t.Fatalf("items %+v", p.Items)
	}
	got := p.Items[0]
	if got.State != "stopped" || got.StoppedByName != "hangup" || got.StoppedAt == nil {
		t.Fatalf("after hang-up: %+v", got)
	}
	raw, _ := json.Marshal(got)
	if !strings.Contains(string(raw), `"uniqueid":"1795277600.1"`) {
		t.Fatalf("JSON %s", raw)
	}
}
