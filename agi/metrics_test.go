package agi

import (
	"context"
	"errors"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// Sessions are counted by script and outcome, an unregistered script under
// "unknown" (so a scanner cannot grow the series), and timed by script.
func TestSessionMetricsPerScript(t *testing.T) {
	reg := prometheus.NewRegistry()
	r := NewRouter()
	r.HandleFunc("route", func(context.Context, *Session) error { return nil })
	r.HandleFunc("broken", func(context.Context, *Session) error { return errors.New("no route table") })
	ts := startServer(t, Config{Registerer: reg}, r)

	run := func(script string) {
		p := dialPeer(t, ts.addr)
		p.send(testHeader(script))
		for {
			line, err := p.readLine()
			if err != nil || line == "" {
				return // closed: the session is over and counted
			}
			p.send("200 result=1\n") // the OMNICC_ERROR variable of a failure
		}
	}
	run("route")
	run("route")
	run("broken")
	run("../../etc/passwd")

	for _, c := range []struct {
		script, outcome string
		want            float64
	}{{"route", "ok", 2}, {"broken", "error", 1}, {"unknown", "unknown_script", 1}} {
		if got := gathered(t, reg, "omnicc_agi_sessions_total", "script", c.script, "outcome", c.outcome); got != c.want {
			t.Errorf("sessions{script=%q,outcome=%q} = %v, want %v", c.script, c.outcome, got, c.want)
		}
	}
	if got := gathered(t, reg, "omnicc_agi_session_duration_seconds", "script", "route"); got != 2 {
		t.Errorf("duration observations of route = %v, want 2", got)
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
