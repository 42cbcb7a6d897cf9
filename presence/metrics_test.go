package presence_test

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"omnicc/presence"
)

type listed []presence.AgentState

func (l listed) States(presence.StateFilter) []presence.AgentState { return l }

// Agents are counted per state at scrape time; states nobody is in read 0
// rather than vanishing.
func TestStateCollector(t *testing.T) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(presence.NewStateCollector(listed{{AgentID: 1, State: presence.StateReady}, {AgentID: 2, State: presence.StateReady},
		{AgentID: 3, State: presence.StatePaused}}))
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, f := range families {
		if f.GetName() != "omnicc_agent_states" {
			continue
		}
		for _, m := range f.GetMetric() {
			got[m.GetLabel()[0].GetValue()] = m.GetGauge().GetValue()
		}
	}
	want := map[string]float64{presence.StateReady: 2, presence.StatePaused: 1, presence.StateOnCall: 0, presence.StateLoggedOut: 0}
	for s, n := range want {
		if v, ok := got[s]; !ok || v != n {
			t.Errorf("omnicc_agent_states{state=%q} = %v (present %v), want %v", s, v, ok, n)
		}
	}
	if len(got) != 8 {
		t.Errorf("%d states exported, want the 8 known ones: %v", len(got), got)
	}
}
