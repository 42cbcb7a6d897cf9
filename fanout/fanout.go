// Package fanout carries the event bus between omniccd instances over NATS,
// so that an event born on one instance reaches the websockets on every other.
package fanout

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"

	"omnicc/clock"
	"omnicc/events"
)

// DefaultSubject is where the instances of one deployment meet. Two
// deployments sharing a NATS server need a subject each (Options.Subject).
const DefaultSubject = "omnicc.events"

// Options configure a FanOut.
type Options struct {
	// URL is OMNICC_NATS_URL: one or more comma-separated nats:// URLs.
	URL string
	// Instance is OMNICC_INSTANCE_ID: it marks what this instance sends,
	// so that it never takes its own events back.
	Instance string
	Subject  string // [DefaultSubject]
	// Buffer is the local bus subscription's buffer. [8192]
	Buffer     int
	Logger     *slog.Logger
	Clock      clock.Clock
	Registerer prometheus.Registerer
	// ReconnectWait is the pause between two attempts to reach NATS. [500ms]
	ReconnectWait time.Duration
}

// envelope is one event on the wire. Seq counts the events of one run
// (Boot) of one instance, so a receiver drops what it already had and
// counts what it missed; At is when it was sent, for the lag metric.
type envelope struct {
	Instance string          `json:"instance"`
	Boot     string          `json:"boot"`
	Seq      uint64          `json:"seq"`
	At       int64           `json:"at"`
	Type     string          `json:"type"`
	AgentID  int64           `json:"agent_id,omitempty"`
	Queues   []string        `json:"queues,omitempty"`
	Teams    []int64         `json:"teams,omitempty"`
	Payload  json.RawMessage `json:"payload,omitempty"`
}

// FanOut sends every event born on this instance's bus to NATS, in bus
// order on one connection (NATS keeps one publisher's order), and puts
// every other instance's events on the local bus with their Origin set.
// So each event reaches every instance's hub once, and the events of one
// instance (all of an agent's presence, say) keep their order.
type FanOut struct {
	bus  *events.Bus
	o    Options
	log  *slog.Logger
	clk  clock.Clock
	boot string

	conn      atomic.Pointer[nats.Conn]
	ready     chan struct{}
	readyOnce sync.Once
	seq       uint64            // Run's sending loop only
	last      map[string]uint64 // instance/boot → last seq; the NATS callback only

	sent, received, gaps prometheus.Counter
	dropped              *prometheus.CounterVec
	lag                  prometheus.Histogram
}

// New builds a fan-out over bus; Run connects it.
func New(bus *events.Bus, o Options) (*FanOut, error) {
	if o.URL == "" {
		return nil, errors.New("fanout: OMNICC_NATS_URL is empty")
	}
	if o.Instance == "" {
		return nil, errors.New("fanout: OMNICC_INSTANCE_ID is empty")
	}
	if o.Subject == "" {
		o.Subject = DefaultSubject
	}
	if o.Buffer <= 0 {
		o.Buffer = 8192
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.ReconnectWait <= 0 {
		o.ReconnectWait = 500 * time.Millisecond
	}
	var b [8]byte
	_, _ = rand.Read(b[:])
	f := &FanOut{bus: bus, o: o, log: o.Logger, clk: clock.Or(o.Clock), boot: hex.EncodeToString(b[:]), last: map[string]uint64{},
		ready: make(chan struct{}),
		sent: prometheus.NewCounter(prometheus.CounterOpts{Name: "omnicc_fanout_sent_total",
			Help: "Events this instance sent to the other instances over NATS."}),
		received: prometheus.NewCounter(prometheus.CounterOpts{Name: "omnicc_fanout_received_total",
			Help: "Events from other instances put on this instance's bus."}),
		gaps: prometheus.NewCounter(prometheus.CounterOpts{Name: "omnicc_fanout_gaps_total",
			Help: "Events of another instance that never arrived (a gap in its sequence)."}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "omnicc_fanout_dropped_total",
			Help: "Events not carried: echo (our own), duplicate, lagged (the local subscription fell behind), publish (NATS refused)."},
			[]string{"reason"}),
		lag: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "omnicc_fanout_lag_seconds",
			Help:    "From an event's sending on its instance to its arrival on this one's bus.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 5}}),
	}
	if o.Registerer != nil {
		for _, c := range []prometheus.Collector{f.sent, f.received, f.gaps, f.dropped, f.lag} {
			if err := o.Registerer.Register(c); err != nil {
				return nil, fmt.Errorf("fanout: register metrics: %w", err)
			}
		}
	}
	return f, nil
}

// Ready is closed once the NATS server has this instance's subscription:
// from then on every event another ready instance sends arrives here.
func (f *FanOut) Ready() <-chan struct{} { return f.ready }

func (f *FanOut) markReady() { f.readyOnce.Do(func() { close(f.ready) }) }

// Connected reports whether NATS is reachable right now (for /readyz).
func (f *FanOut) Connected() bool {
	nc := f.conn.Load()
	return nc != nil && nc.IsConnected()
}

// Run carries events until ctx ends. NATS being down at start or later
// is not an error: the client reconnects for ever, and what this instance
// sends meanwhile waits in the client's reconnect buffer.
func (f *FanOut) Run(ctx context.Context) error {
	nc, err := nats.Connect(f.o.URL,
		nats.Name("omniccd "+f.o.Instance),
		nats.NoEcho(),
		nats.RetryOnFailedConnect(true),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(f.o.ReconnectWait),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			f.log.Warn("fan-out: NATS connection lost; events wait for it", "url", f.o.URL, "err", err)
		}),
		// Ready comes from the flush below only: a connect handler runs
		// when the connection is up, which may be before the server has
		// the subscription, and an event another instance sent then was
		// lost (CI, TestWebsocketGetsEventsBornOnAnotherInstance).
		nats.ReconnectHandler(func(*nats.Conn) {
			f.log.Info("fan-out: NATS connection back; resyncing from the database what may have been missed", "url", f.o.URL)
			f.bus.Publish(events.Event{Type: events.Lost, Origin: f.o.Instance})
		}),
	)
	if err != nil {
		return fmt.Errorf("fanout: OMNICC_NATS_URL %q: %w", f.o.URL, err)
	}
	f.conn.Store(nc)
	defer nc.Close()
	// The callback runs on one goroutine of the client's, in arrival order.
	sub, err := nc.Subscribe(f.o.Subject, f.receive)
	if err != nil {
		return fmt.Errorf("fanout: subscribe to %s: %w", f.o.Subject, err)
	}
	defer func() { _ = sub.Unsubscribe() }()
	// On the local bus before Ready: an event published once Ready is
	// closed must be sent on.
	local := f.bus.Subscribe(events.Everything, f.o.Buffer)
	// Ready once the server has answered a flush after the SUB: retried
	// while NATS is slow or away (the connect handlers also mark it).
	var wg sync.WaitGroup
	defer wg.Wait()
	flushCtx, stopFlush := context.WithCancel(ctx)
	defer stopFlush()
	wg.Go(func() {
		for flushCtx.Err() == nil {
			if nc.IsConnected() && nc.FlushTimeout(5*time.Second) == nil {
				f.markReady()
				return
			}
			select {
			case <-flushCtx.Done():
			case <-f.clk.After(f.o.ReconnectWait):
			}
		}
	})
	for ; ; local = f.bus.Subscribe(events.Everything, f.o.Buffer) {
		for done := false; !done; {
			select {
			case <-ctx.Done():
				local.Close()
				return nil
			case e, ok := <-local.C():
				if !ok {
					done = true
					break
				}
				if e.Origin == "" {
					f.send(nc, e)
				}
			}
		}
		if errors.Is(local.Err(), events.ErrClosed) || ctx.Err() != nil {
			return nil
		}
		// Events were lost between the bus and NATS: the other instances'
		// sockets see a gap, as a socket of this one does when it lags.
		f.dropped.WithLabelValues("lagged").Inc()
		f.log.Warn("fan-out fell behind the local bus; events were not sent to the other instances", "err", local.Err())
	}
}

func (f *FanOut) send(nc *nats.Conn, e events.Event) {
	f.seq++
	env := envelope{Instance: f.o.Instance, Boot: f.boot, Seq: f.seq, At: f.clk.Now().UnixNano(),
		Type: e.Type, AgentID: e.AgentID, Queues: e.Queues, Teams: e.Teams}
	if e.Payload != nil {
		raw, err := json.Marshal(e.Payload)
		if err != nil {
			f.dropped.WithLabelValues("publish").Inc()
			f.log.Error("fan-out: event payload does not marshal; not sent", "type", e.Type, "err", err)
			return
		}
		env.Payload = raw
	}
	data, err := json.Marshal(env)
	if err == nil {
		err = nc.Publish(f.o.Subject, data)
	}
	if err != nil {
		f.dropped.WithLabelValues("publish").Inc()
		f.log.Warn("fan-out: event not sent", "type", e.Type, "agent_id", e.AgentID, "err", err)
		return
	}
	f.sent.Inc()
}

func (f *FanOut) receive(m *nats.Msg) {
	var env envelope
	if err := json.Unmarshal(m.Data, &env); err != nil || env.Type == "" {
		f.log.Warn("fan-out: a message on the subject is no omniccd event; ignored", "subject", m.Subject, "err", err)
		return
	}
	if env.Instance == f.o.Instance {
		// NoEcho keeps our connection's own; this is another process
		// with our id, which must not be (OMNICC_INSTANCE_ID is unique).
		f.dropped.WithLabelValues("echo").Inc()
		return
	}
	key := env.Instance + "/" + env.Boot
	last := f.last[key]
	if env.Seq <= last {
		f.dropped.WithLabelValues("duplicate").Inc()
		return
	}
	if last != 0 && env.Seq > last+1 {
		f.gaps.Add(float64(env.Seq - last - 1))
		f.log.Warn("fan-out: events of another instance were lost; resyncing from the database", "instance", env.Instance, "missed", env.Seq-last-1)
		f.bus.Publish(events.Event{Type: events.Lost, Origin: env.Instance})
	}
	f.last[key] = env.Seq
	f.lag.Observe(max(f.clk.Now().Sub(time.Unix(0, env.At)), 0).Seconds())
	e := events.Event{Type: env.Type, AgentID: env.AgentID, Queues: env.Queues, Teams: env.Teams, Origin: env.Instance}
	if len(env.Payload) > 0 {
		e.Payload = env.Payload
	}
	f.received.Inc()
	f.bus.Publish(e)
}
