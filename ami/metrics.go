package ami

import (
	"errors"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the AMI series an operator graphs, per box: whether it is
// logged in, events received (rate() gives events/s), action latency and
// failures, and the res_pjsip reloads sent. Give it to every client through
// Config.Metrics and the pool to Watch; a nil *Metrics records nothing.
type Metrics struct {
	events   *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	failures *prometheus.CounterVec
	reloads  *prometheus.CounterVec
	logins   *prometheus.CounterVec

	mu    sync.Mutex
	pools []*Pool
}

// NewMetrics registers the AMI metrics with reg.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "omnicc_ami_events_total", Help: "AMI events received, by box (rate() is events per second)."},
			[]string{"box"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "omnicc_ami_action_duration_seconds", Help: "Time from sending an AMI action to its complete answer (or failure), by box and action.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}},
			[]string{"box", "action"}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "omnicc_ami_action_errors_total", Help: "AMI actions that failed, by box, action and kind (rejected: Asterisk answered Error; timeout; not_connected; other)."},
			[]string{"box", "action", "kind"}),
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "omnicc_ami_reloads_total", Help: "Reloads of res_pjsip.so sent so that new agents' AORs are qualified, by box and result (ok, rejected, failed)."},
			[]string{"box", "result"}),
		logins: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "omnicc_ami_logins_total", Help: "Successful AMI logins by box: more than one means the connection dropped and was reopened."},
			[]string{"box"}),
	}
	for _, c := range []prometheus.Collector{m.events, m.latency, m.failures, m.reloads, m.logins, connectedCollector{m}} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// Watch adds pool's boxes to omnicc_ami_connected.
func (m *Metrics) Watch(p *Pool) {
	if m == nil {
		return
	}
	m.mu.Lock()
	m.pools = append(m.pools, p)
	m.mu.Unlock()
	// Every box shows in the series from the start, even before traffic.
	for _, c := range p.Clients() {
		m.events.WithLabelValues(c.Box())
		m.logins.WithLabelValues(c.Box())
	}
}

func (m *Metrics) event(box string) {
	if m != nil {
		m.events.WithLabelValues(box).Inc()
	}
}

func (m *Metrics) login(box string) {
	if m != nil {
		m.logins.WithLabelValues(box).Inc()
	}
}

// action records one action; action names are omniccd's own, so the label
// stays bounded.
func (m *Metrics) action(box, action string, took time.Duration, err error) {
	if m == nil {
		return
	}
	m.latency.WithLabelValues(box, action).Observe(took.Seconds())
	if err == nil {
		return
	}
	kind := "other"
	switch {
	case errors.Is(err, ErrRejected):
		kind = "rejected"
	case errors.Is(err, ErrTimeout):
		kind = "timeout"
	case errors.Is(err, ErrNotConnected):
		kind = "not_connected"
	}
	m.failures.WithLabelValues(box, action, kind).Inc()
}

// Reload records a reload's result; it fits ReloaderOptions.Sent.
func (m *Metrics) Reload(box, result string) {
	if m != nil {
		m.reloads.WithLabelValues(box, result).Inc()
	}
}

var connectedDesc = prometheus.NewDesc("omnicc_ami_connected",
	"1 while omniccd is logged in to the box's AMI, 0 while it reconnects.", []string{"box"}, nil)

// connectedCollector reads each client's state when scraped, so the gauge
// can never disagree with the client.
type connectedCollector struct{ m *Metrics }

func (c connectedCollector) Describe(ch chan<- *prometheus.Desc) { ch <- connectedDesc }

func (c connectedCollector) Collect(ch chan<- prometheus.Metric) {
	c.m.mu.Lock()
	pools := append([]*Pool(nil), c.m.pools...)
	c.m.mu.Unlock()
	for _, p := range pools {
		for _, cl := range p.Clients() {
			v := 0.0
			if cl.Connected() {
				v = 1
			}
			ch <- prometheus.MustNewConstMetric(connectedDesc, prometheus.GaugeValue, v, cl.Box())
		}
	}
}
