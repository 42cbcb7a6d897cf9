package api_test

import (
	"log/slog"
	"slices"
	"strings"
	"testing"

	"omnicc/ami"
	"omnicc/ami/amitest"
	"omnicc/storetest"
)

// moduleCheck answers ModuleCheck like Asterisk: "Module not loaded" for the
// modules in missing.
func moduleCheck(missing ...string) amitest.Handler {
	return func(a ami.Message) []ami.Message {
		for _, m := range missing {
			if a.Get("Module") == m {
				return []ami.Message{amitest.Error("Module not loaded")}
			}
		}
		return []ami.Message{amitest.Success("Version", "")}
	}
}

// Issue 17 item 3: a control whose Asterisk module is not loaded answers 503
// asterisk_module_missing naming it, and nothing reaches Asterisk; the
// other controls go on.
func TestVoiceModuleMissing(t *testing.T) {
	srv := amitest.NewServer(t, amiUser, amiSecret)
	srv.Handle("ModuleCheck", moduleCheck("app_confbridge"))
	for _, a := range []string{"Redirect", "Originate", "Hangup"} {
		srv.Handle(a, amitest.Reply(amitest.Success("Message", a+" done")))
	}
	srv.Handle("Getvar", amitest.Reply(amitest.Success("Value", "PJSIP/trunk-00000002")))
	pool := startVoicePool(t, srv)
	voice := ami.NewVoice(pool, slog.New(slog.DiscardHandler))
	// What Pool.OnConnect runs after each login (wired so in cmd/omniccd).
	if err := voice.CheckModules(t.Context(), pool.Clients()[0]); err != nil {
		t.Fatal(err)
	}
	ve := newVoiceEnv(t, storetest.SQLite(t), voice)
	st, out := ve.do("alice", "POST", ve.agentPath("alice", "/calls/conference"), map[string]any{"channel": "PJSIP/alice-00000001", "number": "300"})
	if st != 503 || errCode(out) != "asterisk_module_missing" || !strings.Contains(errMessage(out), "app_confbridge") {
		t.Fatalf("conference without app_confbridge: %d %v", st, out)
	}
	if n := len(srv.Actions("Redirect")); n != 0 {
		t.Fatalf("%d Redirects reached Asterisk", n)
	}
	if st, out := ve.do("alice", "POST", ve.agentPath("alice", "/calls/hangup"), map[string]any{"channel": "PJSIP/alice-00000001"}); st != 200 {
		t.Fatalf("hang-up needs no missing module: %d %v", st, out)
	}
}

// Issue 17 item 1: completing (or cancelling) an attended transfer when none
// is going on answers 409 no_consultation and leaves the call alone — the
// complete used to hang the customer up.
func TestVoiceAttendedTransferNeedsAConsultation(t *testing.T) {
	ve := newVoiceEnv(t, storetest.SQLite(t), nil)
	leg := map[string]any{"channel": "PJSIP/alice-00000001"}
	for _, p := range []string{"/calls/attended-transfer/complete", "/calls/attended-transfer/cancel"} {
		st, out := ve.do("alice", "POST", ve.agentPath("alice", p), leg)
		if st != 409 || errCode(out) != "no_consultation" {
			t.Fatalf("%s with no consultation: %d %v", p, st, out)
		}
	}
	if n := len(ve.ami.Actions("Hangup")) + len(ve.ami.Actions("CancelAtxfer")); n != 0 {
		t.Fatalf("%d actions reached Asterisk for a transfer that was not going on", n)
	}
	// Started, completed once: a second complete finds nothing to complete.
	if st, out := ve.do("alice", "POST", ve.agentPath("alice", "/calls/attended-transfer"), map[string]any{"channel": "PJSIP/alice-00000001", "number": "1002"}); st != 200 {
		t.Fatalf("start: %d %v", st, out)
	}
	if st, out := ve.do("alice", "POST", ve.agentPath("alice", "/calls/attended-transfer/complete"), leg); st != 200 {
		t.Fatalf("complete: %d %v", st, out)
	}
	if st, out := ve.do("alice", "POST", ve.agentPath("alice", "/calls/attended-transfer/complete"), leg); st != 409 || errCode(out) != "no_consultation" {
		t.Fatalf("second complete: %d %v", st, out)
	}
	if n := len(ve.ami.Actions("Hangup")); n != 1 {
		t.Fatalf("%d Hangups, want the one of the complete", n)
	}
}

// Issue 17 item 8: hold moves the customer and the agent's leg to the hold
// context, where each hears music on hold outside any bridge (in one
// Redirect, so neither is left alone in a dissolving bridge); unhold
// bridges the two again. Resuming a call not held is 409 not_on_hold.
func TestVoiceHoldAndUnhold(t *testing.T) {
	ve := newVoiceEnv(t, storetest.SQLite(t), nil)
	ve.ami.Handle("Bridge", amitest.Reply(amitest.Success("Message", "Channels have been bridged")))
	ve.peers.Store("PJSIP/alice-00000001", "PJSIP/trunk-00000002")
	leg := map[string]any{"channel": "PJSIP/alice-00000001"}
	if st, out := ve.do("alice", "POST", ve.agentPath("alice", "/calls/unhold"), leg); st != 409 || errCode(out) != "not_on_hold" {
		t.Fatalf("unhold of a call not held: %d %v", st, out)
	}
	st, out := ve.do("alice", "POST", ve.agentPath("alice", "/calls/hold"), leg)
	if st != 200 || out["on_hold"] != true || out["customer_channel"] != "PJSIP/trunk-00000002" {
		t.Fatalf("hold: %d %v", st, out)
	}
	r := ve.ami.Actions("Redirect")
	if len(r) != 1 || r[0].Get("Channel") != "PJSIP/trunk-00000002" || r[0].Get("ExtraChannel") != "PJSIP/alice-00000001" ||
		r[0].Get("Context") != "omnicc-hold" || r[0].Get("ExtraContext") != "omnicc-hold" || r[0].Get("Exten") != "customer" || r[0].Get("ExtraExten") != "agent" {
		t.Fatalf("hold sent %v", r)
	}
	st, out = ve.do("alice", "POST", ve.agentPath("alice", "/calls/unhold"), leg)
	if st != 200 || out["on_hold"] != false {
		t.Fatalf("unhold: %d %v", st, out)
	}
	if got := ve.lastAction("Bridge"); !slices.Equal(got, amiFields("Action", "Bridge", "Channel1", "PJSIP/alice-00000001",
		"Channel2", "PJSIP/trunk-00000002", "Tone", "no")) {
		t.Fatalf("unhold sent %v", got)
	}
}
