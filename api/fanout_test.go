package api_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net"
	neturl "net/url"
	"os"
	"sync"
	"testing"
	"time"

	"omnicc/fanout"
)

// A desktop's socket on instance B gets the events born on instance A, in
// order and once, and A's own sockets get them once too: two hubs, two
// buses, the fan-out between them over the machine's NATS.
func TestWebsocketGetsEventsBornOnAnotherInstance(t *testing.T) {
	natsAddr := os.Getenv("OMNICC_TEST_NATS")
	if natsAddr == "" {
		natsAddr = "nats://127.0.0.1:4222"
	}
	u, err := neturl.Parse(natsAddr)
	if err != nil {
		t.Fatal(err)
	}
	if c, err := net.DialTimeout("tcp", u.Host, 2*time.Second); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("NATS at %s is unreachable and CI=true: start it (.ci/nats-up does) — %v", u.Host, err)
		}
		t.Skipf("NATS at %s is unreachable: %v", u.Host, err)
	} else {
		c.Close()
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	subject := "omnicc.test." + hex.EncodeToString(b[:])

	envA, envB := newWSEnv(t, nil), newWSEnv(t, nil)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(func() { cancel(); wg.Wait() }) // before the envs' leak checks
	var fans []*fanout.FanOut
	for name, e := range map[string]*wsEnv{"a": envA, "b": envB} {
		f, err := fanout.New(e.bus, fanout.Options{URL: natsAddr, Subject: subject, Instance: name})
		if err != nil {
			t.Fatal(err)
		}
		fans = append(fans, f)
		wg.Go(func() { _ = f.Run(ctx) })
	}
	for _, f := range fans {
		select {
		case <-f.Ready():
		case <-time.After(30 * time.Second):
			t.Fatal("the fan-out never subscribed")
		}
	}
	onB, onA := envB.connect("omt_agent7"), envA.connect("omt_agent7")
	states := []string{"ready", "ringing", "on_call", "wrap_up", "ready"}
	for _, s := range states {
		envA.bus.Publish(agentState(7, s))
	}
	for _, s := range states {
		if got := readEvent(t, onB); got["type"] != "agent_state" || got["state"] != s || got["agent_id"] != float64(7) {
			t.Fatalf("socket on B got %v, want agent_state %s", got, s)
		}
		if got := readEvent(t, onA); got["state"] != s {
			t.Fatalf("socket on A got %v, want agent_state %s", got, s)
		}
	}
	expectNothing(t, onB, "the socket on B")
	expectNothing(t, onA, "the socket on A")
}
