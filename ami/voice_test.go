package ami_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"omnicc/ami"
	"omnicc/ami/amitest"
	"omnicc/calls"
	"omnicc/domain"
)

// startPool runs a pool over the servers until the test ends and waits until
// every box is logged in.
func startPool(t *testing.T, servers ...*amitest.Server) *ami.Pool {
	t.Helper()
	var entries []string
	for _, s := range servers {
		entries = append(entries, testUser+":"+testSecret+"@"+s.Addr())
	}
	boxes, err := ami.ParseBoxes(strings.Join(entries, ","))
	if err != nil {
		t.Fatal(err)
	}
	base := testConfig(t, servers[0])
	base.Addr, base.Username, base.Secret = "", "", ""
	pool, err := ami.NewPool(boxes, base)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- pool.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Pool.Run: %v", err)
		}
	})
	for _, c := range pool.Clients() {
		for deadline := time.Now().Add(wait); !c.Connected(); time.Sleep(time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("box %s never connected", c.Box())
			}
		}
	}
	return pool
}

// sent returns the fields of the last action named name that srv received,
// without the ActionID the client chose.
func sent(t *testing.T, srv *amitest.Server, name string) []ami.Field {
	t.Helper()
	got := srv.Actions(name)
	if len(got) == 0 {
		t.Fatalf("no %s reached the server; it got %d actions", name, len(srv.Actions("")))
	}
	return slices.DeleteFunc(got[len(got)-1].Fields(), func(f ami.Field) bool { return f.Key == "ActionID" })
}

func fields(kv ...string) []ami.Field {
	var out []ami.Field
	for i := 0; i < len(kv); i += 2 {
		out = append(out, ami.Field{Key: kv[i], Value: kv[i+1]})
	}
	return out
}

// Every control sends exactly one action with exactly these fields, in this
// order (Variable repeated, never joined).
func TestVoiceActionsOnTheWire(t *testing.T) {
	checkLeaks(t)
	srv := amitest.NewServer(t, testUser, testSecret)
	for _, a := range []string{"Originate", "Hangup", "BlindTransfer", "Atxfer", "CancelAtxfer", "Redirect", "StopMixMonitor", "MixMonitorMute"} {
		srv.Handle(a, amitest.Reply(amitest.Success("Message", "ok")))
	}
	srv.Handle("MixMonitor", amitest.Reply(amitest.Success("MixMonitorID", "0x7f3a2c001234")))
	srv.Handle("Getvar", amitest.Reply(amitest.Success("Variable", "CHANNEL(linkedid)", "Value", "1795277390.12")))
	pool := startPool(t, srv)
	v := ami.NewVoice(pool, nil)
	ctx := testCtx(t)

	tests := []struct {
		name string
		run  func() error
		want []ami.Field
	}{
		{"Originate", func() error {
			box, err := v.Originate(ctx, "", "PJSIP/alice", "from-sip", "+390612345", `"Alice" <1001>`, 30*time.Second,
				[]string{"OMNICC_AGENT_ID=7", "OMNICC_ORIGIN=click-to-call"})
			if err == nil && box != srv.Addr() {
				t.Errorf("Originate went to box %q, want %q", box, srv.Addr())
			}
			return err
		}, fields("Action", "Originate", "Channel", "PJSIP/alice", "Context", "from-sip", "Exten", "+390612345", "Priority", "1",
			"Timeout", "30000", "CallerID", `"Alice" <1001>`, "Async", "true",
			"Variable", "OMNICC_AGENT_ID=7", "Variable", "OMNICC_ORIGIN=click-to-call")},
		{"OriginateApp", func() error {
			_, err := v.OriginateApp(ctx, "", "PJSIP/sup1", "ChanSpy", "PJSIP/alice-,qEw", "Whisper", 20*time.Second, nil)
			return err
		}, fields("Action", "Originate", "Channel", "PJSIP/sup1", "Application", "ChanSpy", "Data", "PJSIP/alice-,qEw",
			"Timeout", "20000", "CallerID", "Whisper", "Async", "true")},
		{"Hangup", func() error { return v.Hangup(ctx, "", "PJSIP/alice-00000001") },
			fields("Action", "Hangup", "Channel", "PJSIP/alice-00000001", "Cause", "16")},
		{"BlindTransfer", func() error { return v.BlindTransfer(ctx, "", "PJSIP/alice-00000001", "from-sip", "1002") },
			fields("Action", "BlindTransfer", "Channel", "PJSIP/alice-00000001", "Exten", "1002", "Context", "from-sip")},
		{"AttendedTransfer", func() error { return v.AttendedTransfer(ctx, "", "PJSIP/alice-00000001", "from-sip", "1002") },
			fields("Action", "Atxfer", "Channel", "PJSIP/alice-00000001", "Exten", "1002", "Context", "from-sip")},
		{"CancelTransfer", func() error { return v.CancelTransfer(ctx, "", "PJSIP/alice-00000001") },
			fields("Action", "CancelAtxfer", "Channel", "PJSIP/alice-00000001")},
		{"CompleteTransfer", func() error {
			// Only a consultation going on is completed.
			if err := v.AttendedTransfer(ctx, "", "PJSIP/alice-00000002", "from-sip", "1002"); err != nil {
				return err
			}
			return v.CompleteTransfer(ctx, "", "PJSIP/alice-00000002")
		},
			fields("Action", "Hangup", "Channel", "PJSIP/alice-00000002", "Cause", "16")},
		{"Redirect", func() error {
			return v.Redirect(ctx, "", "PJSIP/alice-00000001", "PJSIP/trunk-00000003", "omnicc-conference", "4711")
		}, fields("Action", "Redirect", "Channel", "PJSIP/alice-00000001", "Exten", "4711", "Context", "omnicc-conference", "Priority", "1",
			"ExtraChannel", "PJSIP/trunk-00000003", "ExtraExten", "4711", "ExtraContext", "omnicc-conference", "ExtraPriority", "1")},
		{"StartRecording", func() error {
			box, id, err := v.StartRecording(ctx, "", "PJSIP/alice-00000001", "omnicc/2026/01/02/x-1.wav", 1)
			if err == nil && (id != "0x7f3a2c001234" || box != srv.Addr()) {
				t.Errorf("MixMonitor returned box %q id %q", box, id)
			}
			return err
		}, fields("Action", "MixMonitor", "Channel", "PJSIP/alice-00000001", "File", "omnicc/2026/01/02/x-1.wav", "Options", "i(OMNICC_MIXMON_1)")},
		{"StopRecording", func() error { return v.StopRecording(ctx, srv.Addr(), "PJSIP/alice-00000001", "0x7f3a2c001234") },
			fields("Action", "StopMixMonitor", "Channel", "PJSIP/alice-00000001", "MixMonitorID", "0x7f3a2c001234")},
		{"MuteRecording", func() error { return v.MuteRecording(ctx, "", "PJSIP/alice-00000001", true) },
			fields("Action", "MixMonitorMute", "Channel", "PJSIP/alice-00000001", "Direction", "both", "State", "1")},
		{"UnmuteRecording", func() error { return v.MuteRecording(ctx, "", "PJSIP/alice-00000001", false) },
			fields("Action", "MixMonitorMute", "Channel", "PJSIP/alice-00000001", "Direction", "both", "State", "0")},
		{"Getvar", func() error {
			_, val, err := v.Getvar(ctx, "", "PJSIP/alice-00000001", "CHANNEL(linkedid)")
			if err == nil && val != "1795277390.12" {
				t.Errorf("Getvar value %q", val)
			}
			return err
		}, fields("Action", "Getvar", "Channel", "PJSIP/alice-00000001", "Variable", "CHANNEL(linkedid)")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.run(); err != nil {
				t.Fatal(err)
			}
			got := sent(t, srv, tt.want[0].Value)
			if !slices.Equal(got, tt.want) {
				t.Fatalf("sent\n  %v\nwant\n  %v", got, tt.want)
			}
		})
	}
}

// Asterisk's Response: Error comes back as a refused VoiceError carrying its
// Message; no connection is "unavailable"; an unknown box is invalid input.
func TestVoiceErrors(t *testing.T) {
	checkLeaks(t)
	srv := amitest.NewServer(t, testUser, testSecret)
	srv.Handle("Hangup", amitest.Reply(amitest.Error("No such channel")))
	srv.Handle("CancelAtxfer", amitest.Reply(amitest.Error("Transfer not in progress")))
	srv.Handle("Atxfer", amitest.Reply(amitest.Success("Message", "Atxfer successfully queued")))
	pool := startPool(t, srv)
	v := ami.NewVoice(pool, nil)
	ctx := testCtx(t)
	if err := v.AttendedTransfer(ctx, "", "PJSIP/alice-00000001", "from-sip", "1002"); err != nil {
		t.Fatal(err)
	}

	err := v.CancelTransfer(ctx, "", "PJSIP/alice-00000001")
	var ve *ami.VoiceError
	if !errors.As(err, &ve) {
		t.Fatalf("got %T %v, want *ami.VoiceError", err, err)
	}
	if ve.Outcome != ami.OutcomeRefused || ve.Message != "Transfer not in progress" || ve.Box != srv.Addr() {
		t.Fatalf("outcome %q message %q box %q", ve.Outcome, ve.Message, ve.Box)
	}
	if !errors.Is(err, ami.ErrRejected) || !errors.Is(err, calls.ErrRefused) || !strings.Contains(err.Error(), "Transfer not in progress") {
		t.Fatalf("error %q does not wrap ErrRejected and calls.ErrRefused or lacks Asterisk's message", err)
	}
	if errors.Is(err, calls.ErrNoSuchChannel) {
		t.Fatalf("%q taken for a missing channel", err)
	}
	// With one box, "no such channel" is the answer, not a reason to retry.
	err = v.Hangup(ctx, "", "PJSIP/gone-00000009")
	if !errors.Is(err, calls.ErrNoSuchChannel) || !errors.Is(err, calls.ErrRefused) || len(srv.Actions("Hangup")) != 1 {
		t.Fatalf("Hangup: %v after %d actions, want calls.ErrNoSuchChannel", err, len(srv.Actions("Hangup")))
	}

	var fe *domain.FieldError
	if err := v.Hangup(ctx, "nowhere:5038", "PJSIP/a-1"); !errors.As(err, &ve) || ve.Outcome != ami.OutcomeInvalid ||
		!errors.Is(err, calls.ErrNotSent) || !errors.As(err, &fe) || fe.Field != "box" {
		t.Fatalf("unknown box: %v", err)
	}

	empty, err := ami.NewPool(nil, ami.Config{})
	if err != nil {
		t.Fatal(err)
	}
	err = ami.NewVoice(empty, nil).Hangup(ctx, "", "PJSIP/a-1")
	if !errors.As(err, &ve) || ve.Outcome != ami.OutcomeUnavailable || !errors.Is(err, ami.ErrNotConfigured) || !errors.Is(err, calls.ErrUnavailable) {
		t.Fatalf("no box: %v", err)
	}
}

// A channel lives on one box: actions on it are tried box after box until
// one does not answer "no such channel"; Originate goes to the first box.
func TestVoiceFindsTheChannelsBox(t *testing.T) {
	checkLeaks(t)
	srv1 := amitest.NewServer(t, testUser, testSecret)
	srv2 := amitest.NewServer(t, testUser, testSecret)
	srv1.Handle("BlindTransfer", amitest.Reply(amitest.Error("Channel specified does not exist")))
	srv2.Handle("BlindTransfer", amitest.Reply(amitest.Success("Message", "Transfer succeeded")))
	srv1.Handle("MixMonitor", amitest.Reply(amitest.Error("No such channel")))
	srv2.Handle("MixMonitor", amitest.Reply(amitest.Success("MixMonitorID", "0x1")))
	for _, s := range []*amitest.Server{srv1, srv2} {
		s.Handle("Originate", amitest.Reply(amitest.Success("Message", "Originate successfully queued")))
	}
	pool := startPool(t, srv1, srv2)
	v := ami.NewVoice(pool, nil)
	ctx := testCtx(t)

	if err := v.BlindTransfer(ctx, "", "PJSIP/bob-00000002", "from-sip", "1003"); err != nil {
		t.Fatal(err)
	}
	if n1, n2 := len(srv1.Actions("BlindTransfer")), len(srv2.Actions("BlindTransfer")); n1 != 1 || n2 != 1 {
		t.Fatalf("BlindTransfer reached box1 %d and box2 %d times, want 1 and 1", n1, n2)
	}
	box, id, err := v.StartRecording(ctx, "", "PJSIP/bob-00000002", "f.wav", 1)
	if err != nil || box != srv2.Addr() || id != "0x1" {
		t.Fatalf("MixMonitor: box %q id %q err %v", box, id, err)
	}
	// Named box: no search.
	if err := v.BlindTransfer(ctx, srv1.Addr(), "PJSIP/bob-00000002", "from-sip", "1003"); err == nil {
		t.Fatal("BlindTransfer on the named box that lacks the channel succeeded")
	}
	if len(srv2.Actions("BlindTransfer")) != 1 {
		t.Fatal("a named box was not respected")
	}
	if box, err := v.Originate(ctx, "", "PJSIP/bob", "from-sip", "555", "", time.Second, nil); err != nil || box != srv1.Addr() {
		t.Fatalf("Originate went to %q (%v), want the first box", box, err)
	}
	if len(srv2.Actions("Originate")) != 0 {
		t.Fatal("Originate reached the second box too")
	}
}

// The core's agents and numbers become Asterisk's names here, through
// package asterisk: an external agent is rung as app_queue rings it.
func TestVoiceTurnsAgentsIntoAsteriskNames(t *testing.T) {
	checkLeaks(t)
	srv := amitest.NewServer(t, testUser, testSecret)
	srv.Handle("Originate", amitest.Reply(amitest.Success("Message", "ok")))
	srv.Handle("Getvar", func(a ami.Message) []ami.Message {
		v := map[string]string{"CHANNEL(uniqueid)": "1795277390.12", "CHANNEL(linkedid)": "1795277390.1", "BRIDGEPEER": "PJSIP/trunk-00000002"}[a.Get("Variable")]
		return []ami.Message{amitest.Success("Variable", a.Get("Variable"), "Value", v)}
	})
	v := ami.NewVoice(startPool(t, srv), nil)
	ctx := testCtx(t)
	alice := calls.Agent{ID: 7, Username: "alice", Context: "from-sip"}
	carol := calls.Agent{ID: 9, Username: "carol", External: true, ExternalNumber: "+3906123", Context: "outside"}
	ring := calls.Ring{CallerID: "X", Timeout: time.Second}

	tests := []struct {
		name string
		run  func() error
		want []ami.Field
	}{
		{"an agent's endpoint", func() error {
			_, dialled, err := v.RingAgent(ctx, "", alice, "from-sip", "555", ring)
			if dialled != "PJSIP/alice" {
				t.Errorf("dialled %q", dialled)
			}
			return err
		}, fields("Action", "Originate", "Channel", "PJSIP/alice", "Context", "from-sip", "Exten", "555", "Priority", "1",
			"Timeout", "1000", "CallerID", "X", "Async", "true")},
		{"an external agent's number, kept in the path", func() error {
			_, _, err := v.RingAgent(ctx, "", carol, "outside", "555", ring)
			return err
		}, fields("Action", "Originate", "Channel", "Local/+3906123@outside/n", "Context", "outside", "Exten", "555", "Priority", "1",
			"Timeout", "1000", "CallerID", "X", "Async", "true")},
		{"a number into a conference room", func() error {
			_, err := v.RingNumber(ctx, "", "+3906999", "", "omnicc-conference", "1234567890", ring)
			return err
		}, fields("Action", "Originate", "Channel", "Local/+3906999@from-sip/n", "Context", "omnicc-conference", "Exten", "1234567890",
			"Priority", "1", "Timeout", "1000", "CallerID", "X", "Async", "true")},
		{"listen to whichever call the agent is on, from the supervisor's endpoint", func() error {
			_, ep, target, err := v.Spy(ctx, "", calls.SpyCall{Supervisor: "sue", Endpoint: "PJSIP/sue_desk", Agent: alice, Mode: calls.SpyListen, Ring: ring})
			if ep != "PJSIP/sue_desk" || target != "PJSIP/alice-" {
				t.Errorf("endpoint %q target %q", ep, target)
			}
			return err
		}, fields("Action", "Originate", "Channel", "PJSIP/sue_desk", "Application", "ChanSpy", "Data", "PJSIP/alice-,qE",
			"Timeout", "1000", "CallerID", "X", "Async", "true")},
		{"barge into an external agent's call", func() error {
			_, _, _, err := v.Spy(ctx, "", calls.SpyCall{Supervisor: "sue", Endpoint: "Local/3001@from-sip", Agent: carol, Mode: calls.SpyBarge, Ring: ring})
			return err
		}, fields("Action", "Originate", "Channel", "Local/3001@from-sip", "Application", "ChanSpy", "Data", "Local/+3906123@outside-,qEB",
			"Timeout", "1000", "CallerID", "X", "Async", "true")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.run(); err != nil {
				t.Fatal(err)
			}
			if got := sent(t, srv, tt.want[0].Value); !slices.Equal(got, tt.want) {
				t.Fatalf("sent\n  %v\nwant\n  %v", got, tt.want)
			}
		})
	}

	if box, uid, lid, err := v.CallIDs(ctx, "", "PJSIP/alice-00000001"); err != nil || box != srv.Addr() || uid != "1795277390.12" || lid != "1795277390.1" {
		t.Fatalf("CallIDs: %q %q %q %v", box, uid, lid, err)
	}
	if _, peer, err := v.BridgePeer(ctx, "", "PJSIP/alice-00000001"); err != nil || peer != "PJSIP/trunk-00000002" {
		t.Fatalf("BridgePeer: %q %v", peer, err)
	}

	before := len(srv.Actions(""))
	var fe *domain.FieldError
	if _, _, _, err := v.Spy(ctx, "", calls.SpyCall{Supervisor: "sue", Endpoint: "PJSIP/sue,qBw", Agent: alice, Mode: calls.SpyListen}); !errors.As(err, &fe) || fe.Field != "endpoint" {
		t.Fatalf("ChanSpy options in the endpoint: %v", err)
	}
	if _, _, err := v.RingAgent(ctx, "", calls.Agent{Username: "eve", External: true}, "x", "1", ring); !errors.Is(err, calls.ErrNoEndpoint) {
		t.Fatalf("an external agent without a number: %v", err)
	}
	if n := len(srv.Actions("")); n != before {
		t.Fatalf("refused controls sent %d actions", n-before)
	}
}

// Which channels are an agent's: its device's, with Asterisk's sequence —
// never the bare interface, which as a ChanSpy prefix would match others'.
func TestVoiceOwnsChannel(t *testing.T) {
	v := ami.NewVoice(nil, nil)
	alice := calls.Agent{Username: "alice"}
	carol := calls.Agent{Username: "carol", External: true, ExternalNumber: "+3906123", Context: "from-sip"}
	tests := []struct {
		agent   calls.Agent
		channel string
		want    bool
	}{
		{alice, "PJSIP/alice-00000001", true},
		{alice, "PJSIP/alice", false},
		{alice, "PJSIP/alice2-00000001", false},
		{alice, "PJSIP/bob-00000001", false},
		{carol, "Local/+3906123@from-sip-00000001;1", true},
		{carol, "Local/+3906123@from-sip/n", false},
		{carol, "Local/+3906123@other-00000001;1", false},
	}
	for _, tt := range tests {
		if got := v.OwnsChannel(tt.agent, tt.channel); got != tt.want {
			t.Errorf("OwnsChannel(%s, %q) = %v, want %v", tt.agent.Username, tt.channel, got, tt.want)
		}
	}
	for _, bad := range []string{"/.*/", "PJSIP/a-1\r\nAction: Hangup", "PJSIP/a,b", ""} {
		if v.CheckChannel(bad) == nil {
			t.Errorf("CheckChannel(%q) accepted it", bad)
		}
	}
	if err := v.CheckChannel("Local/200@ctx-0000000a;1"); err != nil {
		t.Error(err)
	}
}
