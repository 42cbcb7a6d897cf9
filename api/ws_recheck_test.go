package api_test

import (
	"context"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"omnicc/api"
	"omnicc/auth"
	"omnicc/events"
)

// revocable is fakeAuth whose tokens can be revoked while connections live,
// and whose rechecks can be made to hang like a stalled database.
type revocable struct {
	mu      sync.Mutex
	revoked map[string]error
	hang    bool
	calls   int
	entered chan struct{} // told of each call that hangs
}

func newRevocable() *revocable {
	return &revocable{revoked: map[string]error{}, entered: make(chan struct{}, 16)}
}

func (r *revocable) Authenticate(ctx context.Context, secret string) (auth.Principal, error) {
	r.mu.Lock()
	err, hang := r.revoked[secret], r.hang
	r.calls++
	r.mu.Unlock()
	if hang {
		// A database that does not answer: only the caller's context
		// ends the wait.
		r.entered <- struct{}{}
		<-ctx.Done()
		return auth.Principal{}, ctx.Err()
	}
	if err != nil {
		return auth.Principal{}, err
	}
	return wsUsers.Authenticate(ctx, secret)
}

func (r *revocable) revoke(secret string, err error) {
	r.mu.Lock()
	r.revoked[secret] = err
	r.mu.Unlock()
}

func (r *revocable) setHang(v bool) {
	r.mu.Lock()
	r.hang = v
	r.mu.Unlock()
}

// A logout (or a disabled account) ends that user's open websocket at the
// next recheck; a failure that says nothing about the credential keeps it.
func TestWebsocketClosesWhenTheCredentialGoes(t *testing.T) {
	creds := newRevocable()
	clock := newFakeClock()
	e := newWSEnv(t, func(o *api.HubOptions) {
		o.Auth, o.Clock = creds, clock
		o.RecheckEvery, o.PingInterval = time.Minute, time.Hour
	})
	alice := e.connect("omt_agent7")
	bob := e.connect("omt_agent8")
	sup := e.connect("omt_sup") // connect has read each hello

	creds.revoke("omt_agent7", auth.ErrUnauthenticated)
	creds.revoke("omt_agent8", auth.ErrDisabled)
	creds.revoke("omt_sup", context.DeadlineExceeded)
	clock.blockUntil(t, 4) // three writers' pings and the recheck
	clock.advance(time.Minute)
	if code, text := closeCode(t, alice); code != websocket.ClosePolicyViolation {
		t.Fatalf("revoked token: close %d %q, want 1008", code, text)
	}
	if code, text := closeCode(t, bob); code != websocket.ClosePolicyViolation || text != "account disabled" {
		t.Fatalf("disabled account: close %d %q, want 1008 account disabled", code, text)
	}
	// The round is over once the loop waits again; the supervisor is
	// still served.
	clock.blockUntil(t, 4)
	e.bus.Publish(agentState(7, "ready"))
	if m := readEvent(t, sup); m["type"] != "agent_state" {
		t.Fatalf("supervisor got %v", m)
	}
	if n := e.hub.Connections(); n < 1 {
		t.Fatalf("%d connections, want the supervisor's", n)
	}
}

// A recheck that hangs (a database stall) runs on the hub's own goroutine:
// events keep reaching every socket, well past their buffers, and no socket
// is dropped — neither as "too slow" nor for its credential.
func TestWebsocketRecheckStallDelaysNothing(t *testing.T) {
	creds := newRevocable()
	clock := newFakeClock()
	e := newWSEnv(t, func(o *api.HubOptions) {
		o.Auth, o.Clock = creds, clock
		o.RecheckEvery, o.PingInterval = time.Minute, time.Hour
		o.RecheckTimeout = time.Hour // the stall outlasts the test
		o.SendBuffer = 4
	})
	conns := []*websocket.Conn{e.connect("omt_agent7"), e.connect("omt_sup"), e.connect("omt_admin")}

	creds.setHang(true)
	clock.blockUntil(t, 4)
	clock.advance(time.Minute)
	<-creds.entered // the recheck is now stuck in the "database"

	const n = 200 // 50 times the send buffer
	for i := range n {
		e.bus.Publish(agentState(7, "ready"))
		for _, c := range conns {
			if m := readEvent(t, c); m["type"] != "agent_state" {
				t.Fatalf("event %d: got %v", i, m)
			}
		}
	}
	if got := e.hub.Connections(); got != 3 {
		t.Fatalf("%d connections during the stall, want 3", got)
	}
	// Shutdown cancels the stuck recheck (newWSEnv's cleanup checks that
	// every goroutine ends).
}

// With a CredentialChecker the hub checks every open connection's
// credential in one call per round, one entry per distinct secret.
func TestWebsocketRecheckIsBatched(t *testing.T) {
	creds := &batchAuth{revocable: newRevocable()}
	clock := newFakeClock()
	e := newWSEnv(t, func(o *api.HubOptions) {
		o.Auth, o.Clock = creds, clock
		o.RecheckEvery, o.PingInterval = time.Minute, time.Hour
	})
	alice1, alice2 := e.connect("omt_agent7"), e.connect("omt_agent7")
	sup := e.connect("omt_sup")
	creds.revoke("omt_agent7", auth.ErrUnauthenticated)
	clock.blockUntil(t, 4)
	clock.advance(time.Minute)
	for _, c := range []*websocket.Conn{alice1, alice2} {
		if code, _ := closeCode(t, c); code != websocket.ClosePolicyViolation {
			t.Fatalf("close %d, want 1008", code)
		}
	}
	clock.blockUntil(t, 4)
	creds.mu.Lock()
	batches, sizes, single := creds.batches, creds.sizes, creds.calls
	creds.mu.Unlock()
	if batches != 1 || sizes[0] != 2 || single != 3 { // 3: the connects
		t.Fatalf("%d batches of %v and %d single calls; want one batch of 2 and only the connects' calls", batches, sizes, single)
	}
	e.bus.Publish(agentState(7, "ready"))
	if m := readEvent(t, sup); m["type"] != "agent_state" {
		t.Fatalf("supervisor got %v", m)
	}
}

type batchAuth struct {
	*revocable
	batches int
	sizes   []int
}

func (b *batchAuth) CheckCredentials(ctx context.Context, secrets []string) (map[string]error, error) {
	b.mu.Lock()
	b.batches++
	b.sizes = append(b.sizes, len(secrets))
	out := make(map[string]error, len(secrets))
	for _, s := range secrets {
		out[s] = b.revoked[s]
	}
	b.mu.Unlock()
	return out, nil
}

// A connection closed for its credential while its writer is blocked on a
// client that reads nothing is still cut at shutdown, not waited for until
// the write timeout.
func TestWebsocketShutdownCutsRevokedBlockedWriter(t *testing.T) {
	creds := newRevocable()
	clock := newFakeClock()
	e := newWSEnv(t, func(o *api.HubOptions) {
		o.Auth, o.Clock = creds, clock
		o.RecheckEvery, o.PingInterval = time.Minute, time.Hour
		o.SendBuffer = 4096
		o.WriteTimeout, o.CloseGrace = time.Hour, 50*time.Millisecond
	})
	dialer := websocket.Dialer{NetDialContext: (&net.Dialer{Control: smallReceiveBuffer}).DialContext}
	ctx, cancel := context.WithTimeout(context.Background(), wsWait)
	defer cancel()
	deaf, _, err := dialer.DialContext(ctx, e.url, http.Header{"Authorization": {"Bearer omt_agent8"}})
	if err != nil {
		t.Fatal(err)
	}
	defer deaf.Close()
	alice := e.connect("omt_agent7")
	// 16 MiB for a client that reads nothing: its writer blocks on the
	// full socket long before the end.
	big := strings.Repeat("x", 32<<10)
	for i := range 512 {
		e.bus.Publish(events.Event{Type: "bulk", AgentID: 8, Payload: map[string]any{"n": i, "pad": big}})
	}
	// The hub dispatches in order: once alice has her event, every bulk
	// event waits in the deaf client's buffer or socket.
	e.bus.Publish(agentState(7, "ready"))
	readEvent(t, alice)
	creds.revoke("omt_agent8", auth.ErrUnauthenticated)
	clock.blockUntil(t, 3) // two writers' pings and the recheck
	clock.advance(time.Minute)
	clock.blockUntil(t, 3) // the round is over: the connection is revoked
	e.stop()               // fails after wsWait if Run waits for the blocked writer
}
