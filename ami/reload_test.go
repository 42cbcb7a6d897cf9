package ami_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"omnicc/ami"
	"omnicc/ami/amitest"
	"omnicc/clock"
	"omnicc/directory"
)

// reloadRig is a pool of two fake boxes and a Reloader on a fake clock,
// both running until the test ends.
type reloadRig struct {
	a, b *amitest.Server
	pool *ami.Pool
	r    *ami.Reloader
	clk  *clock.Fake

	mu      sync.Mutex
	results []string
}

func newReloadRig(t *testing.T) *reloadRig {
	t.Helper()
	rig := &reloadRig{a: amitest.NewServer(t, "omnicc", "pw"), b: amitest.NewServer(t, "omnicc", "pw"),
		clk: clock.NewFake(time.Unix(1_700_000_000, 0))}
	for _, s := range []*amitest.Server{rig.a, rig.b} {
		s.Handle("Reload", amitest.Reply(amitest.Success("Message", "Module Reloaded.")))
	}
	boxes, err := ami.ParseBoxes("omnicc:pw@" + rig.a.Addr() + ",omnicc:pw@" + rig.b.Addr())
	if err != nil {
		t.Fatal(err)
	}
	// The clients run on the wall clock with a short backoff; only the
	// reloader's window is on the fake clock.
	rig.pool, err = ami.NewPool(boxes, ami.Config{BackoffMin: 5 * time.Millisecond, BackoffMax: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	rig.r = ami.NewReloader(rig.pool, ami.ReloaderOptions{Clock: rig.clk, Sent: func(box, result string) {
		rig.mu.Lock()
		rig.results = append(rig.results, result)
		rig.mu.Unlock()
	}})
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { _ = rig.pool.Run(ctx) })
	wg.Go(func() { _ = rig.r.Run(ctx) })
	t.Cleanup(func() { cancel(); wg.Wait() })
	wctx, wcancel := context.WithTimeout(ctx, 5*time.Second)
	defer wcancel()
	for _, s := range []*amitest.Server{rig.a, rig.b} {
		if err := s.WaitLogins(wctx, 1); err != nil {
			t.Fatalf("box never logged in: %v", err)
		}
	}
	for _, c := range rig.pool.Clients() {
		waitFor(t, c.Box()+" connected", c.Connected)
	}
	return rig
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond) // polling real sockets, not standing in for time
	}
}

// window lets the reloader's gathering window pass once it is waiting.
func (rig *reloadRig) window(t *testing.T) {
	t.Helper()
	waitFor(t, "the reloader to wait for its window", func() bool { return rig.clk.Waiters() == 1 })
	rig.clk.Advance(ami.DefaultReloadWindow)
}

func waitReloads(t *testing.T, s *amitest.Server, n int) []ami.Message {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	got, err := s.WaitActions(ctx, "Reload", n)
	if err != nil {
		t.Fatalf("want %d Reload actions, got %d: %v", n, len(got), err)
	}
	return got
}

func agent(id int64, typology string, disabled bool) *directory.Agent {
	return &directory.Agent{ID: id, Username: "agent" + string(rune('a'+id%26)), Typology: typology, Disabled: disabled}
}

// save runs an agent change through the reloader's projector and reports
// its commit, as the directory does.
func save(t *testing.T, r *ami.Reloader, before, after *directory.Agent) {
	t.Helper()
	p := r.Projector(directory.NopProjector{})
	if err := p.AgentSaved(context.Background(), nil, before, after); err != nil {
		t.Fatal(err)
	}
	op := "update"
	if before == nil {
		op = "create"
	}
	r.Changed(directory.Change{Entity: "agent", Op: op, ID: after.ID})
}

func TestReloaderBurstOfCreationsIsOneReloadPerBox(t *testing.T) {
	rig := newReloadRig(t)
	for i := range 50 {
		save(t, rig.r, nil, agent(int64(i+1), directory.TypologyWebRTC, false))
	}
	rig.window(t)
	for _, s := range []*amitest.Server{rig.a, rig.b} {
		got := waitReloads(t, s, 1)
		if m := got[0].Get("Module"); m != "res_pjsip.so" {
			t.Fatalf("Reload Module = %q, want res_pjsip.so", m)
		}
	}
	// A later change is served by a second window: the count proves the
	// burst cost one reload, not fifty.
	save(t, rig.r, agent(7, directory.TypologyPhonebar, true), agent(7, directory.TypologyPhonebar, false)) // re-enabled
	rig.window(t)
	for _, s := range []*amitest.Server{rig.a, rig.b} {
		if got := waitReloads(t, s, 2); len(got) != 2 {
			t.Fatalf("box %s: %d reloads, want 2", s.Addr(), len(got))
		}
	}
}

func TestReloaderIgnoresChangesThatKeepTheAOR(t *testing.T) {
	rig := newReloadRig(t)
	before := agent(3, directory.TypologyPhonebar, false)
	renamed := *before
	renamed.FullName = "Someone Else"
	renamed.LoginInPause = true
	save(t, rig.r, before, &renamed)
	save(t, rig.r, nil, agent(4, directory.TypologyExternal, false)) // no endpoint at all
	save(t, rig.r, nil, agent(5, directory.TypologyWebRTC, true))    // created disabled
	rig.r.Changed(directory.Change{Entity: "queue", Op: "create", ID: 1})
	rig.r.Changed(directory.Change{Entity: "membership", Op: "update", ID: 3, QueueID: 1})
	if n := rig.clk.Waiters(); n != 0 {
		t.Fatalf("the reloader started a window (%d waiters) for changes that keep every AOR", n)
	}
	// The control: a re-typed agent does reload, and only then.
	retyped := renamed
	retyped.Typology = directory.TypologyMobile
	save(t, rig.r, &renamed, &retyped)
	rig.window(t)
	waitReloads(t, rig.a, 1)
	if n := len(rig.b.Actions("Reload")) + len(rig.a.Actions("Reload")); n > 2 {
		t.Fatalf("%d reloads, want one per box", n)
	}
}

func TestReloaderCatchesUpAfterReconnectWithoutLooping(t *testing.T) {
	rig := newReloadRig(t)
	// Box b goes down and stays down (its login is refused).
	rig.b.SetCredentials("omnicc", "changed")
	rig.b.Drop()
	var cb *ami.Client
	for _, c := range rig.pool.Clients() {
		if c.Box() == rig.b.Addr() {
			cb = c
		}
	}
	waitFor(t, "box b down", func() bool { return !cb.Connected() })

	save(t, rig.r, nil, agent(1, directory.TypologyMobile, false))
	rig.window(t)
	waitReloads(t, rig.a, 1)
	if n := len(rig.b.Actions("Reload")); n != 0 {
		t.Fatalf("box b got %d reloads while down", n)
	}
	// No retry loop while b is down: the reloader waits for nothing.
	if n := rig.clk.Waiters(); n != 0 {
		t.Fatalf("reloader still waiting (%d) with b down: it would loop", n)
	}

	// b comes back: it gets the reload it missed, a does not get another.
	logins := rig.b.Logins()
	rig.b.SetCredentials("omnicc", "pw")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := rig.b.WaitLogins(ctx, logins+1); err != nil {
		t.Fatal(err)
	}
	rig.window(t)
	waitReloads(t, rig.b, 1)
	if n := len(rig.a.Actions("Reload")); n != 1 {
		t.Fatalf("box a got %d reloads, want 1", n)
	}
}

func TestReloaderRefusedIsNotRetried(t *testing.T) {
	rig := newReloadRig(t)
	rig.a.Handle("Reload", amitest.Reply(amitest.Error("Permission denied")))
	save(t, rig.r, nil, agent(1, directory.TypologyWebRTC, false))
	rig.window(t)
	waitReloads(t, rig.a, 1)
	waitReloads(t, rig.b, 1)
	waitFor(t, "both outcomes reported", func() bool {
		rig.mu.Lock()
		defer rig.mu.Unlock()
		return len(rig.results) == 2
	})
	if n := rig.clk.Waiters(); n != 0 {
		t.Fatalf("a refused reload started another window (%d waiters): it would loop", n)
	}
	rig.mu.Lock()
	defer rig.mu.Unlock()
	got := map[string]int{}
	for _, r := range rig.results {
		got[r]++
	}
	if got["ok"] != 1 || got["rejected"] != 1 {
		t.Fatalf("outcomes %v, want one ok and one rejected", got)
	}
}
