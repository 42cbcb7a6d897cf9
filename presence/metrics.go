package presence

import "github.com/prometheus/client_golang/prometheus"

// StateLister is what the agent-state metric reads: *Service's States.
type StateLister interface {
	States(f StateFilter) []AgentState
}

var agentStatesDesc = prometheus.NewDesc("omnicc_agent_states",
	"Agents in each state (logged_out, ready, paused, ringing, on_call, on_hold, wrap_up, unavailable), read from presence when scraped.",
	[]string{"state"}, nil)

// knownStates are always exported, at 0 when no agent is in them, so a
// graph or an alert on "ready" does not vanish when it reaches zero.
var knownStates = []string{StateLoggedOut, StateReady, StatePaused, StateRinging, StateOnCall, StateOnHold, StateWrapUp, StateUnavailable}

// StateCollector counts agents by state at each scrape, from the same
// snapshot REST and the websocket serve, so the metric never drifts from
// what desktops show. Register it with the daemon's registry.
type StateCollector struct{ src StateLister }

// NewStateCollector returns a collector over src (a *Service).
func NewStateCollector(src StateLister) *StateCollector { return &StateCollector{src: src} }

// Describe implements prometheus.Collector.
func (c *StateCollector) Describe(ch chan<- *prometheus.Desc) { ch <- agentStatesDesc }

// Collect implements prometheus.Collector.
func (c *StateCollector) Collect(ch chan<- prometheus.Metric) {
	counts := make(map[string]int, len(knownStates))
	for _, s := range knownStates {
		counts[s] = 0
	}
	for _, st := range c.src.States(StateFilter{}) {
		counts[st.State]++
	}
	for s, n := range counts {
		ch <- prometheus.MustNewConstMetric(agentStatesDesc, prometheus.GaugeValue, float64(n), s)
	}
}
