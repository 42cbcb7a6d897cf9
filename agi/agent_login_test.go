package agi

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"omnicc/directory"
	"omnicc/presence"
)

// fakeDesk is presence for /agent-login: alice (id 7, extension 1007, PIN
// 0042) owns endpoint PJSIP/alice.
type fakeDesk struct {
	mu       sync.Mutex
	loggedIn bool
	paused   string
	calls    []string
}

func (d *fakeDesk) AgentIDByChannel(ch string) (int64, bool) {
	return 7, strings.HasPrefix(ch, "PJSIP/alice-")
}

func (d *fakeDesk) AgentByPIN(_ context.Context, ext, pin string) (int64, error) {
	if ext == "1007" && pin == "0042" {
		return 7, nil
	}
	return 0, presence.ErrBadCredentials
}

func (d *fakeDesk) Session(int64) *presence.Session {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.loggedIn {
		return &presence.Session{AgentID: 7}
	}
	return nil
}

func (d *fakeDesk) result(state string) presence.Result {
	d.mu.Lock()
	defer d.mu.Unlock()
	return presence.Result{State: presence.AgentState{AgentID: 7, State: state}}
}

func (d *fakeDesk) record(c string) {
	d.mu.Lock()
	d.calls = append(d.calls, c)
	d.mu.Unlock()
}

func (d *fakeDesk) Login(context.Context, int64, string) (presence.Result, error) {
	d.record("login")
	d.mu.Lock()
	d.loggedIn = true
	d.mu.Unlock()
	return d.result("ready"), nil
}

func (d *fakeDesk) Logout(context.Context, int64, string) (presence.Result, error) {
	d.record("logout")
	d.mu.Lock()
	d.loggedIn = false
	d.mu.Unlock()
	return d.result("logged_out"), nil
}

func (d *fakeDesk) Pause(_ context.Context, _ int64, reason string, _ []string) (presence.Result, error) {
	d.record("pause " + reason)
	if reason == "99" {
		return presence.Result{}, &presence.RefusedError{Action: "QueuePause", Message: "Interface not found"}
	}
	return d.result("paused"), nil
}

func (d *fakeDesk) Unpause(context.Context, int64, []string) (presence.Result, error) {
	d.record("unpause")
	if !d.loggedIn {
		return presence.Result{}, presence.ErrNotLoggedIn
	}
	return d.result("ready"), nil
}

// headerFrom is a header for script whose channel is channel.
func headerFrom(channel, script string, args ...string) string {
	return strings.Replace(testHeader(script, args...), "agi_channel: Local/100@route-test-00000002;2", "agi_channel: "+channel, 1)
}

func TestAgentLoginFromTheAgentsEndpoint(t *testing.T) {
	desk := &fakeDesk{}
	r := NewRouter()
	r.Handle("/agent-login", AgentLogin(desk))
	ts := startServer(t, Config{}, r)

	// *45: login; the endpoint names the agent, no prompt.
	p := dialPeer(t, ts.addr)
	p.send(headerFrom("PJSIP/alice-0000001a", "agent-login", "login"))
	p.expect("SET VARIABLE OMNICC_AGENT_ID 7\n")
	p.send("200 result=1\n")
	p.expect("SET VARIABLE OMNICC_AGENT_STATE ready\n")
	p.send("200 result=1\n")
	p.expectClosed()

	// *472: pause with pause type 2.
	p = dialPeer(t, ts.addr)
	p.send(headerFrom("PJSIP/alice-0000001b", "agent-login", "pause", "2"))
	p.expect("SET VARIABLE OMNICC_AGENT_ID 7\n")
	p.send("200 result=1\n")
	p.expect("SET VARIABLE OMNICC_AGENT_STATE paused\n")
	p.send("200 result=1\n")
	p.expectClosed()

	// Asterisk refused: OMNICC_ERROR carries its words.
	p = dialPeer(t, ts.addr)
	p.send(headerFrom("PJSIP/alice-0000001c", "agent-login", "pause", "99"))
	p.expect("SET VARIABLE OMNICC_ERROR \"pause: Asterisk refused QueuePause: Interface not found\"\n")
	p.send("200 result=1\n")
	p.expectClosed()

	// An unknown action is refused before anything changes.
	p = dialPeer(t, ts.addr)
	p.send(headerFrom("PJSIP/alice-0000001d", "agent-login", "dance"))
	line, err := p.readLine()
	if err != nil || !strings.HasPrefix(line, "SET VARIABLE OMNICC_ERROR \"unknown action") {
		t.Fatalf("unknown action: %q %v", line, err)
	}
	p.send("200 result=1\n")
	p.expectClosed()

	desk.mu.Lock()
	defer desk.mu.Unlock()
	if got := strings.Join(desk.calls, ","); got != "login,pause 2,pause 99" {
		t.Fatalf("desk calls %s", got)
	}
}

// From a trunk (an external agent on its mobile): extension and PIN typed,
// digits kept as typed (the leading zero of 0042), a wrong try first.
func TestAgentLoginWithExtensionAndPIN(t *testing.T) {
	desk := &fakeDesk{}
	r := NewRouter()
	r.Handle("/agent-login", AgentLogin(desk))
	ts := startServer(t, Config{}, r)

	p := dialPeer(t, ts.addr)
	p.send(headerFrom("PJSIP/trunk-00000003", "agent-login"))
	p.expect("ANSWER\n")
	p.send("200 result=0\n")
	p.expect("GET DATA agent-user 5000 10\n")
	p.send("200 result=1007\n")
	p.expect("GET DATA agent-pass 5000 12\n")
	p.send("200 result=42 (timeout)\n")
	p.expect("GET DATA agent-incorrect 5000 10\n")
	p.send("200 result=1007\n")
	p.expect("GET DATA agent-pass 5000 12\n")
	p.send("200 result=0042\n")
	p.expect("SET VARIABLE OMNICC_AGENT_ID 7\n")
	p.send("200 result=1\n")
	p.expect("SET VARIABLE OMNICC_AGENT_STATE ready\n")
	p.send("200 result=1\n")
	p.expectClosed()

	// The same code again toggles: logout.
	p = dialPeer(t, ts.addr)
	p.send(headerFrom("PJSIP/trunk-00000004", "agent-login", "toggle"))
	p.expect("ANSWER\n")
	p.send("200 result=0\n")
	p.expect("GET DATA agent-user 5000 10\n")
	p.send("200 result=1007\n")
	p.expect("GET DATA agent-pass 5000 12\n")
	p.send("200 result=0042\n")
	p.expect("SET VARIABLE OMNICC_AGENT_ID 7\n")
	p.send("200 result=1\n")
	p.expect("SET VARIABLE OMNICC_AGENT_STATE logged_out\n")
	p.send("200 result=1\n")
	p.expectClosed()

	// Three wrong tries: refused.
	p = dialPeer(t, ts.addr)
	p.send(headerFrom("PJSIP/trunk-00000005", "agent-login"))
	p.expect("ANSWER\n")
	p.send("200 result=0\n")
	for _, prompt := range []string{"agent-user", "agent-incorrect", "agent-incorrect"} {
		p.expect("GET DATA " + prompt + " 5000 10\n")
		p.send("200 result=1007\n")
		p.expect("GET DATA agent-pass 5000 12\n")
		p.send("200 result= (timeout)\n")
	}
	p.expect("SET VARIABLE OMNICC_ERROR \"wrong extension or PIN\"\n")
	p.send("200 result=1\n")
	p.expectClosed()
}

// A refusal whose reason is its cause's own message is logged once, not
// "pause: reason: … : reason: …"; the cause stays reachable.
func TestAgentLoginErrorSaysTheReasonOnce(t *testing.T) {
	fe := &directory.FieldError{Field: "reason", Message: `"9" is not a pause type; use one of Lunch (or its id)`}
	refused := &presence.RefusedError{Action: "QueuePause", Message: "Interface not found"}
	for _, tt := range []struct {
		err        error
		text, told string
	}{
		{fe, `pause: reason: "9" is not a pause type; use one of Lunch (or its id)`, `pause: reason: "9" is not a pause type; use one of Lunch (or its id)`},
		{refused, "pause: Asterisk refused QueuePause: Interface not found", "pause: Asterisk refused QueuePause: Interface not found"},
		// A cause with more to say than the reason keeps it.
		{fmt.Errorf("agent 7: %w", presence.ErrNotLoggedIn), "pause: agent is not logged in: agent 7: " + presence.ErrNotLoggedIn.Error(), "pause: agent is not logged in"},
	} {
		err := agentLoginError("pause", tt.err)
		if err.Error() != tt.text {
			t.Errorf("logged as %q\nwant %q", err.Error(), tt.text)
		}
		if got := publicReason(err); got != tt.told {
			t.Errorf("OMNICC_ERROR %q, want %q", got, tt.told)
		}
		if !errors.Is(err, tt.err) {
			t.Errorf("%v does not wrap its cause", err)
		}
	}
	var ae *presence.RefusedError
	if !errors.As(agentLoginError("pause", refused), &ae) {
		t.Error("the RefusedError is not reachable")
	}
}
