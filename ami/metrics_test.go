package ami_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"omnicc/ami"
	"omnicc/ami/amitest"
)

// Per box: logged in or not, logins, events, action latency and failures
// by kind — each read from real traffic with a fake Asterisk.
func TestMetricsPerBox(t *testing.T) {
	srv := amitest.NewServer(t, "omnicc", "pw")
	reg := prometheus.NewRegistry()
	m, err := ami.NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	boxes, _ := ami.ParseBoxes("omnicc:pw@" + srv.Addr())
	pool, err := ami.NewPool(boxes, ami.Config{Metrics: m, BackoffMin: 5 * time.Millisecond, BackoffMax: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	m.Watch(pool)
	box := srv.Addr()
	if got := gathered(t, reg, "omnicc_ami_connected", "box", box); got != 0 {
		t.Fatalf("connected before Run = %v, want 0", got)
	}
	sub := pool.Subscribe(16)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { _ = pool.Run(ctx) })
	defer func() { cancel(); wg.Wait() }()
	c := pool.Clients()[0]
	waitFor(t, "login", c.Connected)

	if _, err := c.Action(ctx, ami.NewAction("Ping")); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Action(ctx, ami.NewAction("NoSuchAction")); err == nil {
		t.Fatal("unknown action accepted")
	}
	// The test server may send FullyBooted on login of its own: count every
	// event delivered up to and including the one pushed here.
	srv.Push(ami.NewMessage("Event", "UserEvent", "UserEvent", "metrics-test"))
	events := 0
	for done := false; !done; {
		select {
		case e := <-sub.Events():
			events++
			done = e.Get("UserEvent") == "metrics-test"
		case <-time.After(5 * time.Second):
			t.Fatal("event not delivered")
		}
	}
	m.Reload(box, "ok")

	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"omnicc_ami_connected", []string{"box", box}, 1},
		{"omnicc_ami_logins_total", []string{"box", box}, 1},
		{"omnicc_ami_events_total", []string{"box", box}, float64(events)},
		{"omnicc_ami_action_duration_seconds", []string{"box", box, "action", "Ping"}, 1},
		{"omnicc_ami_action_errors_total", []string{"box", box, "action", "NoSuchAction", "kind", "rejected"}, 1},
		{"omnicc_ami_reloads_total", []string{"box", box, "result", "ok"}, 1},
	} {
		if got := gathered(t, reg, c.name, c.labels...); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
}

// gathered is the value (a histogram's count) of the series of name whose
// labels include the given pairs; -1 when there is none.
func gathered(t *testing.T, reg prometheus.Gatherer, name string, labels ...string) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
	series:
		for _, m := range f.GetMetric() {
			have := map[string]string{}
			for _, l := range m.GetLabel() {
				have[l.GetName()] = l.GetValue()
			}
			for i := 0; i+1 < len(labels); i += 2 {
				if have[labels[i]] != labels[i+1] {
					continue series
				}
			}
			return m.GetCounter().GetValue() + m.GetGauge().GetValue() + float64(m.GetHistogram().GetSampleCount())
		}
	}
	return -1
}
