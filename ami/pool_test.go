package ami_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"omnicc/ami"
	"omnicc/ami/amitest"
)

func TestParseBoxes(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []ami.BoxConfig
	}{
		{"empty means no box", "", nil},
		{"blank means no box", "  ", nil},
		{"one box", "omnicc:pw@pbx1:5038", []ami.BoxConfig{{Addr: "pbx1:5038", Username: "omnicc", Secret: "pw"}}},
		{"default port", "omnicc:pw@10.0.0.5", []ami.BoxConfig{{Addr: "10.0.0.5:5038", Username: "omnicc", Secret: "pw"}}},
		{"secret with ':' and '@'", "omnicc:a:b@c@pbx1:15038", []ami.BoxConfig{{Addr: "pbx1:15038", Username: "omnicc", Secret: "a:b@c"}}},
		{"ipv6 with and without port", "u:p@[::1]:5039, u:p@[fd00::2]", []ami.BoxConfig{
			{Addr: "[::1]:5039", Username: "u", Secret: "p"}, {Addr: "[fd00::2]:5038", Username: "u", Secret: "p"}}},
		{"several boxes, spaces trimmed", " a:1@pbx1 , b:2@pbx2:6000 ", []ami.BoxConfig{
			{Addr: "pbx1:5038", Username: "a", Secret: "1"}, {Addr: "pbx2:6000", Username: "b", Secret: "2"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ami.ParseBoxes(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Errorf("box %d: got %+v, want %+v", i, got[i], tt.want[i])
				}
			}
		})
	}
}

func TestParseBoxesErrors(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string // substring of the error, after "OMNICC_AMI entry N"
	}{
		{"no credentials", "pbx1:5038", `entry 1 "pbx1:***": no '@'`},
		{"no secret separator", "omnicc@pbx1", `no ':' between user and secret`},
		{"empty user", ":pw@pbx1", "empty user"},
		{"empty secret", "omnicc:@pbx1", "empty secret (there are no default credentials)"},
		{"empty host", "omnicc:pw@", "empty host"},
		{"bad port", "omnicc:pw@pbx1:http", `port "http"`},
		{"port out of range", "omnicc:pw@pbx1:70000", `port "70000"`},
		{"stray comma", "a:1@pbx1,,b:2@pbx2", `entry 2 "": empty entry`},
		{"duplicate box", "a:1@pbx1,b:2@pbx1:5038", "box pbx1:5038 already listed as entry 1"},
		{"second entry bad, secret masked", "a:1@pbx1,b:topsecret@pbx2:x", `entry 2 "b:***@pbx2:x"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ami.ParseBoxes(tt.in)
			if err == nil {
				t.Fatal("no error")
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, "OMNICC_AMI entry") || !strings.Contains(msg, tt.want) {
				t.Fatalf("got %q, want it to start with OMNICC_AMI entry and contain %q", msg, tt.want)
			}
			if strings.Contains(msg, "topsecret") || strings.Contains(msg, ":pw@") {
				t.Fatalf("secret leaked into the error: %q", msg)
			}
		})
	}
}

// One client per box; events are tagged with the box they came from; an
// action goes to the box asked for.
func TestPool(t *testing.T) {
	checkLeaks(t)
	srv1 := amitest.NewServer(t, "u1", "p1")
	srv2 := amitest.NewServer(t, "u2", "p:2")
	boxes, err := ami.ParseBoxes("u1:p1@" + srv1.Addr() + ",u2:p:2@" + srv2.Addr())
	if err != nil {
		t.Fatal(err)
	}
	base := testConfig(t, srv1)
	base.Addr, base.Username, base.Secret = "", "", "" // taken from the boxes
	pool, err := ami.NewPool(boxes, base)
	if err != nil {
		t.Fatal(err)
	}
	sub := pool.Subscribe(0)
	defer sub.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- pool.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Pool.Run: %v", err)
		}
	}()
	for _, srv := range []*amitest.Server{srv1, srv2} {
		if err := srv.WaitLogins(testCtx(t), 1); err != nil {
			t.Fatal(err)
		}
	}
	// Each login sends FullyBooted; then one marked event per box.
	srv1.Push(ami.NewMessage("Event", "QueueMemberPause", "Queue", "one"))
	srv2.Push(ami.NewMessage("Event", "QueueMemberPause", "Queue", "two"))
	fromBox := map[string]string{}
	for _, ev := range receive(t, sub, 4) {
		if ev.Event() == "QueueMemberPause" {
			fromBox[ev.Get("Queue")] = ev.Box
		}
	}
	if fromBox["one"] != srv1.Addr() || fromBox["two"] != srv2.Addr() {
		t.Fatalf("events tagged %v; want one=%s two=%s", fromBox, srv1.Addr(), srv2.Addr())
	}

	if len(pool.Clients()) != 2 || pool.Client("nowhere:1") != nil {
		t.Fatal("Clients/Client lookup")
	}
	c2 := pool.Client(srv2.Addr())
	for deadline := time.Now().Add(wait); !c2.Connected(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("box 2 never connected")
		}
	}
	if _, err := c2.Action(testCtx(t), ami.NewAction("Ping")); err != nil {
		t.Fatal(err)
	}
	if n1, n2 := len(srv1.Actions("Ping")), len(srv2.Actions("Ping")); n1 != 0 || n2 != 1 {
		t.Fatalf("Ping reached box1 %d times, box2 %d times", n1, n2)
	}
}

func TestEmptyPoolWaitsForShutdown(t *testing.T) {
	checkLeaks(t)
	pool, err := ami.NewPool(nil, ami.Config{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- pool.Run(ctx) }()
	select {
	case err := <-done:
		t.Fatalf("Run returned before shutdown: %v", err)
	case <-time.After(20 * time.Millisecond):
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestNewPoolRejectsMissingCredentials(t *testing.T) {
	_, err := ami.NewPool([]ami.BoxConfig{{Addr: "pbx1:5038", Username: "u"}}, ami.Config{})
	if err == nil || !strings.Contains(err.Error(), "OMNICC_AMI") || !strings.Contains(err.Error(), "u:***@pbx1:5038") {
		t.Fatalf("got %v", err)
	}
}
