package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// agent is an agent created over REST with its registered phone.
type agent struct {
	id       int64
	username string
	ext      string
	secret   string
	phone    *phone
}

type agentSpec struct {
	username, typology string
	queues             []int64
	recordCalls        string
	chanspy            bool
	codecs             []string
}

// newAgent creates the agent over REST while Asterisk runs, assigns its
// queues and logs it in; register starts its phone.
func (b *box) newAgent(s agentSpec) *agent {
	b.t.Helper()
	body := map[string]any{"full_name": "E2E " + s.username, "username": s.username, "typology": s.typology,
		"password": "Str0ng-Pass-1", "chanspy": s.chanspy}
	if s.recordCalls != "" {
		body["record_calls"] = s.recordCalls
	}
	if s.codecs != nil {
		body["allowed_codecs"] = s.codecs
	}
	if s.typology == "mobile" {
		body["push_gateway_url"] = "https://push.example.com/wake"
	}
	var out struct {
		ID        int64  `json:"id"`
		Extension string `json:"extension"`
	}
	b.must(201, "POST", "/api/v1/agents", body, &out)
	a := &agent{id: out.ID, username: s.username, ext: out.Extension}
	var sec struct {
		Secret string `json:"sip_secret"`
	}
	b.must(200, "GET", fmt.Sprintf("/api/v1/agents/%d/sip-secret", a.id), nil, &sec)
	a.secret = sec.Secret
	for _, q := range s.queues {
		b.must(200, "POST", fmt.Sprintf("/api/v1/queues/%d/agents", q), map[string]any{"agent_id": a.id}, nil)
	}
	if len(s.queues) > 0 {
		b.must(200, "POST", fmt.Sprintf("/api/v1/agents/%d/login", a.id), map[string]any{}, nil)
	}
	return a
}

func (b *box) register(a *agent, transport string) time.Time {
	port := b.sipPort
	if transport == "ws" {
		port = b.wsPort
	}
	a.phone = newPhone(b.owner, phoneOptions{user: a.username, password: a.secret, transport: transport, sipPort: port})
	return a.phone.registered(b.t, 10*time.Second)
}

func (b *box) newQueue(name string) int64 {
	var out struct {
		ID int64 `json:"id"`
	}
	b.must(201, "POST", "/api/v1/queues", map[string]any{"name": name, "channel": "voice", "strategy": "ringall", "timeout": 20}, &out)
	return out.ID
}

// route sends the DID to the queue.
func (b *box) route(did, queue string) {
	b.must(201, "POST", "/api/v1/inbound-routes", map[string]any{"name": "to-" + queue, "did": did,
		"open": map[string]any{"type": "queue", "target": queue}}, nil)
}

var memberStatusRe = regexp.MustCompile(`\((Not in use|In use|Busy|Unavailable|Invalid|Ringing|Ring\+Inuse|On Hold|Unknown)\)`)

// memberStatus is how Asterisk's app_queue sees the member now, e.g.
// "Not in use", "Unavailable", "In use".
func (b *box) memberStatus(queue, iface string) string {
	out := b.cli("queue show " + queue)
	for line := range strings.SplitSeq(out, "\n") {
		if strings.Contains(line, "("+iface+" ") || strings.Contains(line, "("+iface+")") || strings.Contains(line, " "+iface+" ") {
			if m := memberStatusRe.FindStringSubmatch(line); m != nil {
				return m[1]
			}
			return line
		}
	}
	return "not a member"
}

// endpointState is the Endpoint and Contact lines of pjsip show endpoint.
func (b *box) endpointState(name string) string {
	var out []string
	for l := range strings.SplitSeq(b.cli("pjsip show endpoint "+name), "\n") {
		if f := strings.Fields(l); len(f) > 1 && (f[0] == "Endpoint:" || f[0] == "Contact:") && !strings.HasPrefix(f[1], "<") {
			out = append(out, strings.Join(f, " "))
		}
	}
	return strings.Join(out, " | ")
}

type callState struct {
	Channel     string `json:"channel"`
	LegUniqueID string `json:"leg_uniqueid"`
	UniqueID    string `json:"uniqueid"`
	Peer        string `json:"peer"`
	Direction   string `json:"direction"`
	Queue       string `json:"queue"`
	State       string `json:"state"`
}

type agentState struct {
	State string      `json:"state"`
	Calls []callState `json:"calls"`
}

func (b *box) state(a *agent) agentState {
	var s agentState
	b.must(200, "GET", fmt.Sprintf("/api/v1/agents/%d/state", a.id), nil, &s)
	return s
}

// waitState waits for the agent's state, and for its call when want is a
// call state; it returns the state.
func (b *box) waitState(a *agent, want string) agentState {
	b.t.Helper()
	var s agentState
	eventually(b.t, 10*time.Second, a.username+" state "+want, func() string {
		s = b.state(a)
		if s.State != want {
			return fmt.Sprintf("state %q, calls %+v", s.State, s.Calls)
		}
		if (want == "on_call" || want == "on_hold") && (len(s.Calls) == 0 || s.Calls[0].Channel == "") {
			return fmt.Sprintf("state %q without a call channel: %+v", s.State, s.Calls)
		}
		return ""
	})
	return s
}

// customerCalls has the carrier phone call the DID; the customer's call is
// returned once it is answered (by the queue's agent).
func (b *box) customerCalls(carrier *phone, did string) *call {
	b.t.Helper()
	return carrier.dial(b.t, did, b.sipPort, "")
}

func (b *box) newCarrier() *phone {
	return newPhone(b.owner, phoneOptions{user: "carrier", noRegister: true, port: b.carrier})
}

// TestAsteriskNewAgentReachableWithin2s is the day-one defect: an agent
// created through the API while Asterisk runs must be reachable within 2 s
// of its first REGISTER, for every typology, in both modes, with no manual
// step; and a call FastAGI routes into its queue must ring its phone.
func TestAsteriskNewAgentReachableWithin2s(t *testing.T) {
	for _, mode := range []string{"curl", "odbc"} {
		t.Run(mode, func(t *testing.T) {
			b := startBox(t, boxOptions{mode: mode})
			carrier := b.newCarrier()
			for i, typ := range []struct{ typology, transport string }{
				{"phonebar", "udp"}, {"mobile", "tcp"}, {"webrtc", "ws"},
			} {
				queue := "q_" + typ.typology
				qid := b.newQueue(queue)
				did := fmt.Sprintf("555010%d", i)
				b.route(did, queue)
				a := b.newAgent(agentSpec{username: mode + "." + typ.typology, typology: typ.typology, queues: []int64{qid}})
				iface := "PJSIP/" + a.username
				eventually(t, 10*time.Second, "QueueAdd of "+iface, func() string {
					if s := b.memberStatus(queue, iface); s == "not a member" {
						return s
					}
					return ""
				})
				if s := b.memberStatus(queue, iface); s != "Unavailable" {
					t.Fatalf("%s before its phone registered: %q, want Unavailable", iface, s)
				}
				regAt := b.register(a, typ.transport)
				last := ""
				eventually(t, 30*time.Second, iface+" reachable after REGISTER", func() string {
					s := b.memberStatus(queue, iface)
					if s != last {
						t.Logf("%s +%s: app_queue says %q; %s", iface, time.Since(regAt).Round(time.Millisecond), s, b.endpointState(a.username))
						last = s
					}
					if s != "Not in use" {
						return s
					}
					return ""
				})
				since := time.Since(regAt) // an upper bound: it includes the last CLI poll
				t.Logf("%s (%s, %s mode): Not in use at most %s after the first REGISTER's 200 OK", iface, typ.typology, mode, since.Round(time.Millisecond))
				if since > 2*time.Second+200*time.Millisecond {
					t.Errorf("%s became reachable %s after its first REGISTER: the goal is 2 s", iface, since)
				}
				if typ.typology == "webrtc" {
					// A browser's call needs DTLS-SRTP and ICE, which the Go
					// phone does not do: reachability is what is checked.
					continue
				}
				customer := b.customerCalls(carrier, did)
				agentLeg := a.phone.nextCall(t, 15*time.Second)
				st := b.waitState(a, "on_call")
				if st.Calls[0].Queue != queue || !strings.HasPrefix(st.Calls[0].Channel, iface+"-") {
					t.Errorf("state's call: %+v, want queue %s and a channel of %s", st.Calls[0], queue, iface)
				}
				customer.waitMedia(t, 5*time.Second, "the customer hears the agent")
				agentLeg.waitMedia(t, 5*time.Second, "the agent hears the customer")
				customerHangsUp(t, customer, agentLeg, a.username)
				b.waitState(a, "ready")
			}
		})
	}
}

// customerHangsUp hangs up the customer's leg and waits for the leg that
// answered it (who names it) to end too.
func customerHangsUp(t *testing.T, customer, answered *call, who string) {
	t.Helper()
	hangupCtx(t, customer)
	answered.waitEnded(t, 5*time.Second, who+"'s leg after the customer hung up")
}

func hangupCtx(t *testing.T, c *call) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.hangup(ctx); err != nil {
		t.Fatalf("hang up: %v", err)
	}
}

// voiceBox is a box with a queue, two agents, a supervisor's desk phone, a
// carrier and an outbound route back to the carrier.
type voiceBox struct {
	*box
	carrier    *phone
	alice, bob *agent
	desk       *agent
	supervisor string // token
	queueID    int64
	did        string
}

func startVoiceBox(t *testing.T) *voiceBox {
	b := startBox(t, boxOptions{mode: "curl"})
	v := &voiceBox{box: b, did: "5550200"}
	v.queueID = b.newQueue("support")
	b.route(v.did, "support")
	b.must(201, "POST", "/api/v1/outbound-routes", map[string]any{"name": "carrier", "pattern": "_9X.", "strip": 1, "trunk": "carrier"}, nil)
	v.carrier = b.newCarrier()
	v.alice = b.newAgent(agentSpec{username: "alice", typology: "phonebar", queues: []int64{v.queueID}, chanspy: true})
	v.bob = b.newAgent(agentSpec{username: "bob", typology: "phonebar"})
	v.desk = b.newAgent(agentSpec{username: "deskphone", typology: "phonebar"})
	for _, a := range []*agent{v.alice, v.bob, v.desk} {
		b.register(a, "udp")
	}
	b.must(201, "POST", "/api/v1/users", map[string]any{"role": "supervisor", "username": "sue", "full_name": "Sue Visor",
		"password": "Str0ng-Pass-1", "desk_endpoint": "PJSIP/deskphone"}, nil)
	v.supervisor = b.login("sue", "Str0ng-Pass-1")
	eventually(t, 10*time.Second, "alice reachable", func() string {
		if s := b.memberStatus("support", "PJSIP/alice"); s != "Not in use" {
			return s
		}
		return ""
	})
	return v
}

// queueCall: the customer calls the DID, alice answers; it returns both
// legs and alice's call as her state shows it.
func (v *voiceBox) queueCall() (customer, aliceLeg *call, st callState) {
	v.t.Helper()
	customer = v.customerCalls(v.carrier, v.did)
	// Whatever a step leaves up is hung up after it, so that one failure
	// does not leave alice busy for the next.
	v.t.Cleanup(func() { v.hangupAll() })
	aliceLeg = v.alice.phone.nextCall(v.t, 15*time.Second)
	s := v.waitState(v.alice, "on_call")
	customer.waitMedia(v.t, 5*time.Second, "customer audio")
	return customer, aliceLeg, s.Calls[0]
}

func (v *voiceBox) control(a *agent, path string, body map[string]any, want int) map[string]any {
	v.t.Helper()
	var out map[string]any
	st := v.do("POST", fmt.Sprintf("/api/v1/agents/%d/%s", a.id, path), body, &out)
	if st != want {
		v.t.Fatalf("POST %s: %d %v, want %d", path, st, out, want)
	}
	return out
}

// channels lists Asterisk's channels (concise: name!context!exten!…).
func (v *voiceBox) channels() []string {
	var names []string
	for line := range strings.SplitSeq(v.cli("core show channels concise"), "\n") {
		if f := strings.Split(line, "!"); len(f) > 1 {
			names = append(names, f[0])
		}
	}
	return names
}

// application is what Asterisk runs on the channel now (concise field 6).
func (v *voiceBox) application(channel string) string {
	for line := range strings.SplitSeq(v.cli("core show channels concise"), "\n") {
		if f := strings.Split(line, "!"); len(f) > 6 && f[0] == channel {
			return f[5]
		}
	}
	return "(no such channel)"
}

// hangupAll hangs up every channel Asterisk has, and waits for alice to be
// ready again.
func (v *voiceBox) hangupAll() {
	for _, ch := range v.channels() {
		v.cli("channel request hangup " + ch)
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(v.channels()) > 0 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	for time.Now().Before(deadline) {
		var s agentState
		if v.do("GET", fmt.Sprintf("/api/v1/agents/%d/state", v.alice.id), nil, &s) == 200 && s.State == "ready" {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (v *voiceBox) hasChannel(prefix string) bool {
	for _, c := range v.channels() {
		if strings.HasPrefix(c, prefix) {
			return true
		}
	}
	return false
}

// TestAsteriskVoiceControls drives every voice control over REST against
// the real Asterisk and checks each in Asterisk and in the phones.
func TestAsteriskVoiceControls(t *testing.T) {
	v := startVoiceBox(t)

	t.Run("hold and unhold", func(t *testing.T) {
		v.t = t
		customer, aliceLeg, c := v.queueCall()
		var held map[string]any
		if st := v.do("POST", fmt.Sprintf("/api/v1/agents/%d/calls/hold", v.alice.id), map[string]any{"channel": c.Channel}, &held); st != 200 {
			t.Fatalf("hold: %d %v", st, held)
		}
		v.waitState(v.alice, "on_hold")
		customerChannel := fmt.Sprint(held["customer_channel"])
		eventually(t, 5*time.Second, "both legs in MusicOnHold", func() string {
			if a, b := v.application(customerChannel), v.application(c.Channel); a != "MusicOnHold" || b != "MusicOnHold" {
				return fmt.Sprintf("customer %s runs %s, alice %s runs %s", customerChannel, a, c.Channel, b)
			}
			return ""
		})
		customer.waitMedia(t, 5*time.Second, "the customer hears music on hold")
		v.control(v.alice, "calls/unhold", map[string]any{"channel": c.Channel}, 200)
		v.waitState(v.alice, "on_call")
		aliceLeg.waitMedia(t, 5*time.Second, "alice hears the customer again")
		v.control(v.alice, "calls/unhold", map[string]any{"channel": c.Channel}, 409)
		customerHangsUp(t, customer, aliceLeg, "alice")
		v.waitState(v.alice, "ready")
	})

	t.Run("recording closed at hang-up", func(t *testing.T) {
		v.t = t
		customer, aliceLeg, c := v.queueCall()
		var rec map[string]any
		if st := v.do("POST", fmt.Sprintf("/api/v1/agents/%d/recordings", v.alice.id), map[string]any{"channel": c.Channel}, &rec); st != 201 && st != 200 {
			t.Fatalf("start recording: %d %v", st, rec)
		}
		if rec["id"] == nil || rec["state"] == nil {
			t.Fatalf("start recording answered %v, want the recording", rec)
		}
		eventually(t, 5*time.Second, "MixMonitor on alice's channel", func() string {
			if out := v.cli("mixmonitor list " + c.Channel); !strings.Contains(out, "/monitor/omnicc/") {
				return "mixmonitor list " + c.Channel + ": " + out
			}
			return ""
		})
		time.Sleep(500 * time.Millisecond)
		customerHangsUp(t, customer, aliceLeg, "alice")
		v.recordingStopped(c.UniqueID)
		files, _ := filepath.Glob(filepath.Join(v.dir, "spool", "monitor", "omnicc", "*", "*", "*", "*"))
		if len(files) == 0 {
			t.Errorf("no recording file under the spool's monitor/omnicc")
		}
		for _, f := range files {
			if st, err := os.Stat(f); err != nil || st.Size() < 1000 {
				t.Errorf("recording %s: %v, %d bytes", f, err, st.Size())
			}
		}
		v.waitState(v.alice, "ready")
	})

	t.Run("attended transfer complete, and complete with none going on", func(t *testing.T) {
		v.t = t
		customer, aliceLeg, c := v.queueCall()
		v.control(v.alice, "calls/attended-transfer/complete", map[string]any{"channel": c.Channel}, 409)
		if customer.ended() || aliceLeg.ended() {
			t.Fatal("a complete with no consultation ended the call")
		}
		v.control(v.alice, "calls/attended-transfer", map[string]any{"channel": c.Channel, "number": v.bob.ext}, 200)
		bobLeg := v.bob.phone.nextCall(t, 15*time.Second)
		bobLeg.waitMedia(t, 5*time.Second, "bob hears alice")
		v.control(v.alice, "calls/attended-transfer/complete", map[string]any{"channel": c.Channel}, 200)
		eventually(t, 10*time.Second, "alice's legs gone", func() string {
			if v.hasChannel("PJSIP/alice-") {
				return fmt.Sprintf("channels: %v", v.channels())
			}
			return ""
		})
		if customer.ended() || bobLeg.ended() {
			t.Fatal("the transfer ended the customer's or bob's leg")
		}
		customer.waitMedia(t, 5*time.Second, "the customer hears bob")
		bobLeg.waitMedia(t, 5*time.Second, "bob hears the customer")
		customerHangsUp(t, customer, bobLeg, "bob")
		v.waitState(v.alice, "ready")
	})

	t.Run("attended transfer cancel", func(t *testing.T) {
		v.t = t
		customer, aliceLeg, c := v.queueCall()
		v.control(v.alice, "calls/attended-transfer", map[string]any{"channel": c.Channel, "number": v.bob.ext}, 200)
		bobLeg := v.bob.phone.nextCall(t, 15*time.Second)
		v.control(v.alice, "calls/attended-transfer/cancel", map[string]any{"channel": c.Channel}, 200)
		bobLeg.waitEnded(t, 10*time.Second, "bob's consultation leg after cancel")
		if customer.ended() || aliceLeg.ended() {
			t.Fatal("cancel ended the customer's call")
		}
		aliceLeg.waitMedia(t, 5*time.Second, "alice hears the customer again")
		customerHangsUp(t, customer, aliceLeg, "alice")
		v.waitState(v.alice, "ready")
	})

	t.Run("three-way conference, the first agent leaves", func(t *testing.T) {
		v.t = t
		customer, aliceLeg, c := v.queueCall()
		out := v.control(v.alice, "calls/conference", map[string]any{"channel": c.Channel, "number": v.bob.ext}, 200)
		bobLeg := v.bob.phone.nextCall(t, 15*time.Second)
		room := fmt.Sprint(out["room"])
		eventually(t, 10*time.Second, "three in room "+room, func() string {
			if n := confMembers(v.cli("confbridge list " + room)); n != 3 {
				return fmt.Sprintf("%d members:\n%s", n, v.cli("confbridge list "+room))
			}
			return ""
		})
		hangupCtx(t, aliceLeg)
		time.Sleep(time.Second)
		if customer.ended() || bobLeg.ended() {
			t.Fatal("the others were dropped when alice left")
		}
		if n := confMembers(v.cli("confbridge list " + room)); n != 2 {
			t.Errorf("room %s has %d members after alice left, want 2", room, n)
		}
		customer.waitMedia(t, 5*time.Second, "the customer still hears the room")
		hangupCtx(t, customer)
		hangupCtx(t, bobLeg)
		v.waitState(v.alice, "ready")
	})

	t.Run("click-to-call is addressable", func(t *testing.T) {
		v.t = t
		var out map[string]any
		if st := v.do("POST", fmt.Sprintf("/api/v1/agents/%d/calls", v.alice.id), map[string]any{"number": "90612345678"}, &out); st != 202 {
			t.Fatalf("click-to-call: %d %v", st, out)
		}
		aliceLeg := v.alice.phone.nextCall(t, 15*time.Second)
		far := v.carrier.nextCall(t, 15*time.Second)
		if far.to != "0612345678" {
			t.Errorf("the carrier was asked for %q, want 0612345678 (the route strips the 9)", far.to)
		}
		st := v.waitState(v.alice, "on_call")
		if c := st.Calls[0]; c.Channel == "" || c.UniqueID == "" || c.Direction != "outbound" {
			t.Errorf("click-to-call in the state: %+v, want channel, uniqueid and direction outbound", c)
		}
		v.control(v.alice, "calls/hangup", map[string]any{"channel": st.Calls[0].Channel}, 200)
		aliceLeg.waitEnded(t, 5*time.Second, "alice after the REST hang-up")
		far.waitEnded(t, 5*time.Second, "the far end after the REST hang-up")
		v.waitState(v.alice, "ready")
	})

	t.Run("supervisor listens from the desk phone", func(t *testing.T) {
		v.t = t
		customer, aliceLeg, _ := v.queueCall()
		var out map[string]any
		if st := v.doAs(v.supervisor, "POST", fmt.Sprintf("/api/v1/agents/%d/spy", v.alice.id), map[string]any{"mode": "listen"}, &out); st != 202 {
			t.Fatalf("spy: %d %v", st, out)
		}
		deskLeg := v.desk.phone.nextCall(t, 15*time.Second)
		eventually(t, 10*time.Second, "ChanSpy running", func() string {
			if out := v.cli("core show channels verbose"); !strings.Contains(out, "ChanSpy") {
				return out
			}
			return ""
		})
		deskLeg.waitMedia(t, 5*time.Second, "the supervisor hears the call")
		customerHangsUp(t, customer, aliceLeg, "alice")
		deskLeg.waitEnded(t, 10*time.Second, "the spy leg when the agent's call ended (E option)")
		v.waitState(v.alice, "ready")
	})

	t.Run("automatic recording: agent and queue both record, one recording", func(t *testing.T) {
		v.t = t
		v.must(200, "PATCH", fmt.Sprintf("/api/v1/agents/%d", v.alice.id), map[string]any{"record_calls": "wav"}, nil)
		v.must(200, "PATCH", fmt.Sprintf("/api/v1/queues/%d", v.queueID), map[string]any{"record_calls": "wav"}, nil)
		t.Cleanup(func() {
			v.must(200, "PATCH", fmt.Sprintf("/api/v1/agents/%d", v.alice.id), map[string]any{"record_calls": "inactive"}, nil)
			v.must(200, "PATCH", fmt.Sprintf("/api/v1/queues/%d", v.queueID), map[string]any{"record_calls": "inactive"}, nil)
		})
		customer, aliceLeg, c := v.queueCall()
		v.autoRecorded(c.UniqueID, "queue")
		if out := v.cli("mixmonitor list " + c.Channel); strings.Count(out, "/monitor/omnicc/") != 1 {
			t.Errorf("MixMonitors on %s, want exactly one:\n%s", c.Channel, out)
		}
		customerHangsUp(t, customer, aliceLeg, "alice")
		v.recordingStopped(c.UniqueID)
	})

	t.Run("automatic recording of an outbound route with record", func(t *testing.T) {
		v.t = t
		v.must(201, "POST", "/api/v1/outbound-routes", map[string]any{"name": "carrier-rec", "pattern": "_8X.", "strip": 1,
			"trunk": "carrier", "record": true, "record_format": "wav"}, nil)
		var out map[string]any
		if st := v.do("POST", fmt.Sprintf("/api/v1/agents/%d/calls", v.alice.id), map[string]any{"number": "80699999999"}, &out); st != 202 {
			t.Fatalf("click-to-call: %d %v", st, out)
		}
		t.Cleanup(func() { v.hangupAll() })
		aliceLeg := v.alice.phone.nextCall(t, 15*time.Second)
		far := v.carrier.nextCall(t, 15*time.Second)
		st := v.waitState(v.alice, "on_call")
		linked := st.Calls[0].UniqueID
		v.autoRecorded(linked, "route")
		hangupCtx(t, far)
		aliceLeg.waitEnded(t, 5*time.Second, "alice after the far end hung up")
		v.recordingStopped(linked)
	})
}

// autoRecorded waits for exactly one recording of the call, recording, from
// source.
func (v *voiceBox) autoRecorded(linkedID, source string) {
	v.t.Helper()
	eventually(v.t, 10*time.Second, "one automatic recording from "+source, func() string {
		var list struct {
			Items []map[string]any `json:"items"`
		}
		v.must(200, "GET", "/api/v1/recordings?linkedid="+linkedID, nil, &list)
		if len(list.Items) != 1 || list.Items[0]["state"] != "recording" || list.Items[0]["source"] != source {
			return fmt.Sprintf("%v", list.Items)
		}
		return ""
	})
}

// recordingStopped waits for the call's one recording to be stopped.
func (v *voiceBox) recordingStopped(linkedID string) {
	v.t.Helper()
	eventually(v.t, 10*time.Second, "the recording stopped at hang-up", func() string {
		var list struct {
			Items []map[string]any `json:"items"`
		}
		v.must(200, "GET", "/api/v1/recordings?linkedid="+linkedID, nil, &list)
		if len(list.Items) != 1 || list.Items[0]["state"] != "stopped" {
			return fmt.Sprintf("%v", list.Items)
		}
		return ""
	})
}

// confMembers counts the channels `confbridge list <room>` prints.
func confMembers(out string) int {
	n := 0
	for line := range strings.SplitSeq(out, "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "PJSIP/") || strings.HasPrefix(strings.TrimSpace(line), "Local/") {
			n++
		}
	}
	return n
}
