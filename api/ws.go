package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/gorilla/websocket"
	"github.com/prometheus/client_golang/prometheus"

	"omnicc/auth"
	"omnicc/clock"
	"omnicc/directory"
	"omnicc/events"
	"omnicc/presence"
)

// Websocket subprotocols. Browsers cannot set an Authorization header on a
// websocket, so they offer two protocols: WSProtocol, which the server
// selects and echoes, and WSBearerPrefix+token, which carries the token and
// is never echoed. A query parameter would also work but ends up in access
// logs, proxy logs and browser history, so it is refused.
const (
	WSProtocol     = "omnicc.v1"
	WSBearerPrefix = "omnicc.bearer."
)

// Close codes the hub sends (RFC 6455 §7.4).
const (
	wsCloseSlow     = websocket.CloseTryAgainLater   // 1013: fell behind; reconnect and resync
	wsCloseShutdown = websocket.CloseGoingAway       // 1001: omniccd is stopping
	wsCloseRevoked  = websocket.ClosePolicyViolation // 1008: the credential is gone
)

// Authenticator resolves a bearer token or API key; *auth.Service is one.
type Authenticator interface {
	Authenticate(ctx context.Context, secret string) (auth.Principal, error)
}

// CredentialChecker is what the periodic recheck uses when the Authenticator
// also offers it: one call (one query) for the credentials of every open
// connection. It answers, per secret, nil while the credential holds or the
// auth error (auth.ErrUnauthenticated, ErrLocked, ErrDisabled) that ends it;
// a secret missing from the map is left alone. An error for the whole call
// (a database stall) closes nothing. Without it the hub checks each distinct
// secret in turn with Authenticate — still on its own goroutine.
type CredentialChecker interface {
	CheckCredentials(ctx context.Context, secrets []string) (map[string]error, error)
}

// WatchResolver lists the agents of the queues (by name) and teams (by id) a
// supervisor watches, so that agent events — which name their agent, not its
// queues — reach the supervisors watching those queues and teams. An unknown
// queue is a *directory.FieldError. DirectoryWatch is the directory's.
type WatchResolver interface {
	AgentsWatched(ctx context.Context, queues []string, teams []int64) ([]int64, error)
}

// StateSource is where the hub reads the agents' current states for the
// snapshot it sends on connect; *presence.Service is one.
type StateSource interface {
	States(f presence.StateFilter) []presence.AgentState
}

// Clock is the hub's time source for pings, liveness and the credential
// recheck, so tests drive them without sleeping. presence.Clock and
// ami.Clock have the same methods.
type Clock = clock.Clock

// HubOptions configure the websocket hub. Zero values take the defaults in
// brackets.
type HubOptions struct {
	Auth Authenticator // required
	// Bus is where the hub's events come from: it subscribes to
	// everything and routes each event to the connections watching it.
	// omniccd passes the bus presence publishes on. Nil: the hub makes
	// its own, runs it in Run, and Hub.Publish is the way in.
	Bus *events.Bus
	// Watch resolves the queues and teams a supervisor watches to their
	// agents; nil: a watched queue or team receives only the events that
	// name it (Event.Queues, Event.Teams), not its agents' states.
	Watch WatchResolver
	// States, when set, gives the snapshot sent right after hello: one
	// agent_state message (exactly as the events) per agent the connection
	// watches, so a desktop never has to race a REST read against events.
	States StateSource
	Clock  Clock // [the wall clock]
	Logger *slog.Logger
	// AllowedOrigins are the browser origins (scheme://host[:port]) allowed
	// besides the server's own host, e.g. the public URL of an agent desktop
	// served elsewhere. Requests without Origin (non-browser clients) are
	// allowed: they authenticate with a token, not a cookie, so there is no
	// cross-site request to forge.
	AllowedOrigins []string
	// SendBuffer is how many events may wait for one client's writer [256].
	// A client further behind is disconnected (close code 1013) instead of
	// slowing the others or growing memory; it reconnects and re-reads state
	// over REST.
	SendBuffer int
	// QueueSize is the hub's buffer on the bus [4096]. Should the hub itself
	// fall that far behind, the bus ends its subscription and every
	// connection is closed with 1013 (its events are lost: re-read state).
	QueueSize int
	// PingInterval is how often the server pings [25s]; a client that has
	// sent nothing (pong or message) for PongWait is dropped at the next
	// ping [60s].
	PingInterval, PongWait time.Duration
	// RecheckEvery is how often the credentials of all open connections
	// are checked again, in one batch on the hub's own goroutine [1m]: a
	// logout, a revoked key or a locked or disabled account ends the
	// connection (close code 1008) within that time. It also refreshes the
	// agents of the queues and teams supervisors watch.
	RecheckEvery time.Duration
	// RecheckTimeout bounds one recheck round [30s]; a round the database
	// does not answer closes nothing.
	RecheckTimeout time.Duration
	// WriteTimeout bounds one write to a client [10s].
	WriteTimeout time.Duration
	// ReadLimit is the largest message accepted from a client [4096 bytes];
	// clients send only pongs and small commands (subscribe, ping).
	ReadLimit int64
	// MaxConnsPerUser bounds simultaneous connections of one user or API key
	// [32]; -1 means no limit.
	MaxConnsPerUser int
	// CloseGrace is how long shutdown lets writers send their close frame
	// before cutting the connections [2s].
	CloseGrace time.Duration
	// MaskFor reports whether a user sees personal data masked
	// (mask_sensitive_data); such a user's events are masked. Nil: no one.
	MaskFor func(ctx context.Context, userID int64) (bool, error)
}

func (o HubOptions) withDefaults() HubOptions {
	def := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Clock == nil {
		o.Clock = clock.Wall
	}
	if o.SendBuffer <= 0 {
		o.SendBuffer = 256
	}
	if o.QueueSize <= 0 {
		o.QueueSize = 4096
	}
	def(&o.PingInterval, 25*time.Second)
	def(&o.PongWait, 60*time.Second)
	def(&o.WriteTimeout, 10*time.Second)
	def(&o.RecheckEvery, time.Minute)
	def(&o.RecheckTimeout, 30*time.Second)
	def(&o.CloseGrace, 2*time.Second)
	if o.ReadLimit <= 0 {
		o.ReadLimit = 4096
	}
	if o.MaxConnsPerUser == 0 {
		o.MaxConnsPerUser = 32
	}
	return o
}

// Hub is the live websocket at GET /api/v1/ws. It is one subscriber of the
// event bus and routes each event to the connections watching it: an agent
// its own events, a supervisor or admin the agents, queues and teams it
// watches (everything by default). Run owns every goroutine of every
// connection and the recheck goroutine.
type Hub struct {
	opts     HubOptions
	log      *slog.Logger
	clock    Clock
	origins  map[string]bool
	upgrader websocket.Upgrader
	bus      *events.Bus
	ownBus   bool // made by NewHub, so run by Run
	metrics  hubMetrics

	// life ends when Run does: it bounds what readers do on a client's
	// behalf (resolving a subscribe), so shutdown never waits on them.
	life    context.Context
	endLife context.CancelFunc

	mu      sync.Mutex
	sub     *events.Subscription
	running bool
	closed  bool
	seq     uint64 // dispatch number, to send an event once to a client several indexes hold
	all     map[*wsClient]struct{}
	// live are the connections whose goroutines run, including those
	// already removed from all (slow, revoked) whose writer may still be
	// blocked: shutdown cuts their sockets too.
	live    map[*wsClient]struct{}
	perUser map[string]int
	// Who watches what. A client is in everyone, or in the indexes of
	// its agents, queues and teams.
	everyone map[*wsClient]struct{}
	byAgent  map[int64]map[*wsClient]struct{}
	byQueue  map[string]map[*wsClient]struct{}
	byTeam   map[int64]map[*wsClient]struct{}
	wg       sync.WaitGroup
}

type hubMetrics struct {
	conns   prometheus.Gauge
	slow    prometheus.Counter
	lagged  prometheus.Counter
	revoked prometheus.Counter
	dropped prometheus.CounterFunc
}

// NewHub builds a hub and subscribes it to the bus at once, so no event
// published after NewHub returns is missed; start it with Run and mount it
// on the API with Mount.
func NewHub(o HubOptions) (*Hub, error) {
	if o.Auth == nil {
		return nil, errors.New("api: HubOptions.Auth is required (pass the *auth.Service)")
	}
	o = o.withDefaults()
	ownBus := o.Bus == nil
	if ownBus {
		o.Bus = events.New(events.Options{Logger: o.Logger, QueueSize: o.QueueSize})
	}
	origins := make(map[string]bool)
	for _, raw := range o.AllowedOrigins {
		if raw == "" {
			continue
		}
		u, err := url.Parse(raw)
		if err != nil || u.Scheme == "" || u.Host == "" {
			return nil, fmt.Errorf("api: allowed websocket origin %q is not scheme://host[:port]", raw)
		}
		origins[strings.ToLower(u.Scheme+"://"+u.Host)] = true
	}
	bus := o.Bus
	life, endLife := context.WithCancel(context.Background())
	h := &Hub{
		life:     life,
		endLife:  endLife,
		ownBus:   ownBus,
		opts:     o,
		log:      o.Logger,
		clock:    o.Clock,
		origins:  origins,
		bus:      bus,
		sub:      bus.Subscribe(events.Everything, o.QueueSize),
		all:      make(map[*wsClient]struct{}),
		live:     make(map[*wsClient]struct{}),
		perUser:  make(map[string]int),
		everyone: make(map[*wsClient]struct{}),
		byAgent:  make(map[int64]map[*wsClient]struct{}),
		byQueue:  make(map[string]map[*wsClient]struct{}),
		byTeam:   make(map[int64]map[*wsClient]struct{}),
		metrics: hubMetrics{
			conns: prometheus.NewGauge(prometheus.GaugeOpts{
				Name: "omnicc_ws_connections", Help: "Open agent/supervisor websocket connections."}),
			slow: prometheus.NewCounter(prometheus.CounterOpts{
				Name: "omnicc_ws_slow_clients_total", Help: "Websocket clients disconnected because they fell behind."}),
			lagged: prometheus.NewCounter(prometheus.CounterOpts{
				Name: "omnicc_ws_hub_lagged_total", Help: "Times the websocket hub fell behind the event bus and closed every connection."}),
			revoked: prometheus.NewCounter(prometheus.CounterOpts{
				Name: "omnicc_ws_revoked_total", Help: "Websocket connections closed because their credential was revoked, expired, locked or disabled."}),
			dropped: prometheus.NewCounterFunc(prometheus.CounterOpts{
				Name: "omnicc_ws_dropped_events_total", Help: "Events dropped because the event bus's queue was full."},
				func() float64 { return float64(bus.Dropped()) }),
		},
	}
	h.upgrader = websocket.Upgrader{
		ReadBufferSize:  1024,
		WriteBufferSize: 4096,
		Subprotocols:    []string{WSProtocol},
		// The origin was checked before Upgrade, with a clearer answer
		// than gorilla's bare 403.
		CheckOrigin:       func(*http.Request) bool { return true },
		EnableCompression: false, // a per-client deflate would undo the prepared messages' one-encode-for-all
	}
	return h, nil
}

// Mount registers GET /ws (for every role) and the hub's metrics. The route
// authenticates itself because browsers send the token as a subprotocol.
func (h *Hub) Mount(r *Router) {
	r.routes = append(r.routes, RouteInfo{Method: http.MethodGet, Path: "/api/v1/ws", Roles: everyone})
	r.group.GET("/ws", func(c *gin.Context) { h.serveWS(r.s, c) })
	for _, col := range []prometheus.Collector{h.metrics.conns, h.metrics.slow, h.metrics.lagged, h.metrics.revoked, h.metrics.dropped} {
		if err := r.s.opts.Registry.Register(col); err != nil {
			var are prometheus.AlreadyRegisteredError
			if !errors.As(err, &are) {
				h.log.Warn("websocket metric not registered", "err", err)
			}
		}
	}
}

// Connections is the number of open connections.
func (h *Hub) Connections() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.all)
}

// Dropped is the number of events the bus could not queue.
func (h *Hub) Dropped() uint64 { return h.bus.Dropped() }

// Publish puts e on the bus. It is kept so that code written when the hub
// was presence's publisher keeps working; new code publishes on the bus.
func (h *Hub) Publish(e events.Event) { h.bus.Publish(e) }

// Run delivers the bus's events and rechecks credentials until ctx ends,
// then closes every connection (code 1001) and returns once all their
// goroutines and its own have ended.
func (h *Hub) Run(ctx context.Context) error {
	h.mu.Lock()
	if h.running || h.closed {
		h.mu.Unlock()
		return errors.New("api: Hub.Run called twice")
	}
	h.running = true
	sub := h.sub
	h.mu.Unlock()

	// The recheck talks to the database; it runs here, never on a
	// writer, so a stalled database delays no event and drops no client.
	rctx, stopRecheck := context.WithCancel(ctx)
	var own sync.WaitGroup
	own.Go(func() { h.recheckLoop(rctx) })
	if h.ownBus {
		own.Go(func() { _ = h.bus.Run(rctx) })
	}
	defer func() {
		stopRecheck()
		own.Wait()
		h.shutdown()
	}()

	in := sub.C()
	for {
		select {
		case <-ctx.Done():
			sub.Close()
			return nil
		case e, ok := <-in:
			if ok {
				h.dispatch(e)
				continue
			}
			if !errors.Is(sub.Err(), events.ErrLagged) {
				// The bus has stopped: no more events, but the
				// connections live until ctx ends.
				in = nil
				continue
			}
			sub = h.resubscribe()
			in = sub.C()
		}
	}
}

// resubscribe follows a lag: every connection may have missed events, so
// each is told to reconnect and re-read state, and the hub starts over.
func (h *Hub) resubscribe() *events.Subscription {
	h.metrics.lagged.Inc()
	h.log.Error("websocket hub fell behind the event bus; closing every connection so desktops re-read state",
		"buffer", h.opts.QueueSize)
	sub := h.bus.Subscribe(events.Everything, h.opts.QueueSize)
	h.mu.Lock()
	h.sub = sub
	for c := range h.all {
		h.removeLocked(c)
		c.stop(wsCloseSlow, "the server fell behind; reconnect and re-read state over REST")
	}
	h.mu.Unlock()
	return sub
}

func (h *Hub) shutdown() {
	h.endLife()
	h.mu.Lock()
	h.closed = true
	clients := make([]*wsClient, 0, len(h.all))
	for c := range h.all {
		clients = append(clients, c)
	}
	conns := make([]*websocket.Conn, 0, len(h.live))
	for c := range h.live {
		conns = append(conns, c.conn)
	}
	h.mu.Unlock()
	for _, c := range clients {
		c.stop(wsCloseShutdown, "omniccd is shutting down; reconnect in a moment")
	}
	done := make(chan struct{})
	go func() { h.wg.Wait(); close(done) }()
	select {
	case <-done:
		return
	case <-time.After(h.opts.CloseGrace):
	}
	// A writer stuck on a client that stopped reading would hold shutdown
	// for WriteTimeout: cut the sockets (net.Conn.Close is safe from any
	// goroutine) and wait for the goroutines to notice.
	for _, conn := range conns {
		_ = conn.NetConn().Close()
	}
	<-done
}

// encodeEvent writes {"type": e.Type, ...payload fields}.
func encodeEvent(e events.Event) ([]byte, error) {
	if e.Type == "" {
		return nil, errors.New("event has no Type")
	}
	typ, err := json.Marshal(e.Type)
	if err != nil {
		return nil, err
	}
	var payload []byte
	if e.Payload != nil {
		if payload, err = json.Marshal(e.Payload); err != nil {
			return nil, fmt.Errorf("event %q: payload: %w", e.Type, err)
		}
		payload = bytes.TrimSpace(payload)
	}
	buf := make([]byte, 0, len(typ)+len(payload)+10)
	buf = append(buf, `{"type":`...)
	buf = append(buf, typ...)
	switch {
	case len(payload) == 0 || string(payload) == "null" || string(payload) == "{}":
		return append(buf, '}'), nil
	case payload[0] != '{':
		return nil, fmt.Errorf("event %q: payload %T must marshal to a JSON object", e.Type, e.Payload)
	}
	buf = append(buf, ',')
	return append(buf, payload[1:]...), nil
}

func prepare(e events.Event) (*websocket.PreparedMessage, error) {
	data, err := encodeEvent(e)
	if err != nil {
		return nil, err
	}
	// Framed once for every client (no compression): the fan-out cost per
	// client is a channel send.
	return websocket.NewPreparedMessage(websocket.TextMessage, data)
}

// variants frames an event once for the clients that see it as is and,
// only when one of them needs it, once masked.
type variants struct {
	data         []byte
	plain        *websocket.PreparedMessage
	masked       *websocket.PreparedMessage
	maskedFailed bool
}

func newVariants(e events.Event) (*variants, error) {
	data, err := encodeEvent(e)
	if err != nil {
		return nil, err
	}
	pm, err := websocket.NewPreparedMessage(websocket.TextMessage, data)
	if err != nil {
		return nil, err
	}
	return &variants{data: data, plain: pm}, nil
}

// forClient is what c gets: nil when c must not get the event at all (a
// masked user, and the event could not be masked).
func (v *variants) forClient(c *wsClient) *websocket.PreparedMessage {
	if !c.mask {
		return v.plain
	}
	if v.masked == nil && !v.maskedFailed {
		if data := maskEventJSON(v.data); data != nil {
			v.masked, _ = websocket.NewPreparedMessage(websocket.TextMessage, data)
		}
		v.maskedFailed = v.masked == nil
	}
	return v.masked
}

func (h *Hub) dispatch(e events.Event) {
	if e.Type == events.Lost {
		// Agent states born on other instances may have been missed.
		if h.opts.States == nil {
			return
		}
		snap := newSnapshot(h.opts.States.States(presence.StateFilter{}))
		h.mu.Lock()
		for c := range h.all {
			h.snapshotOfLocked(c, snap)
		}
		h.mu.Unlock()
		return
	}
	if strings.HasPrefix(e.Type, "internal.") {
		return // between instances only (directory.ChangeEvent)
	}
	v, err := newVariants(e)
	if err != nil {
		h.log.Error("websocket event not sent: fix the publisher", "type", e.Type, "err", err)
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.seq++
	send := func(set map[*wsClient]struct{}) {
		for c := range set {
			// A supervisor watching both the agent and its queue gets
			// the event once.
			if c.seen != h.seq {
				c.seen = h.seq
				if pm := v.forClient(c); pm != nil {
					h.offerLocked(c, pm)
				}
			}
		}
	}
	send(h.everyone)
	if e.AgentID != 0 {
		send(h.byAgent[e.AgentID])
	}
	for _, q := range e.Queues {
		send(h.byQueue[q])
	}
	for _, t := range e.Teams {
		send(h.byTeam[t])
	}
}

// offerLocked hands pm to c's writer, or drops c if its buffer is full.
func (h *Hub) offerLocked(c *wsClient, pm *websocket.PreparedMessage) {
	select {
	case c.send <- pm:
	default:
		h.metrics.slow.Inc()
		h.log.Warn("websocket client too slow; disconnected", "user", c.p.Username, "user_id", c.p.UserID, "remote", c.remote,
			"buffer", cap(c.send))
		h.removeLocked(c)
		c.stop(wsCloseSlow, fmt.Sprintf("too slow: more than %d events waiting; reconnect and re-read state over REST", cap(c.send)))
	}
}

func userKey(p auth.Principal) string {
	if p.APIKeyID != 0 {
		return "key:" + strconv.FormatInt(p.APIKeyID, 10)
	}
	return "user:" + strconv.FormatInt(p.UserID, 10)
}

func isStaff(p auth.Principal) bool {
	return p.Role == directory.RoleAdmin || p.Role == directory.RoleSupervisor
}

// watch is what one connection receives: everything, or the events of its
// agents, queues and teams. agents includes those resolved from the watched
// queues and teams (resolved), refreshed by the recheck.
type watch struct {
	All      bool     `json:"all"`
	Agents   []int64  `json:"agents"`
	Queues   []string `json:"queues"`
	Teams    []int64  `json:"teams"`
	resolved []int64
}

func (w watch) key() string { return fmt.Sprint(w.Queues, w.Teams) }

func addTo[K comparable](m map[K]map[*wsClient]struct{}, k K, c *wsClient) {
	set := m[k]
	if set == nil {
		set = make(map[*wsClient]struct{})
		m[k] = set
	}
	set[c] = struct{}{}
}

func removeFrom[K comparable](m map[K]map[*wsClient]struct{}, k K, c *wsClient) {
	if set := m[k]; set != nil {
		delete(set, c)
		if len(set) == 0 {
			delete(m, k)
		}
	}
}

func (h *Hub) indexLocked(c *wsClient) {
	if c.watch.All {
		h.everyone[c] = struct{}{}
		return
	}
	for _, id := range c.watch.Agents {
		addTo(h.byAgent, id, c)
	}
	for _, id := range c.watch.resolved {
		addTo(h.byAgent, id, c)
	}
	for _, q := range c.watch.Queues {
		addTo(h.byQueue, q, c)
	}
	for _, t := range c.watch.Teams {
		addTo(h.byTeam, t, c)
	}
}

func (h *Hub) unindexLocked(c *wsClient) {
	delete(h.everyone, c)
	for _, id := range c.watch.Agents {
		removeFrom(h.byAgent, id, c)
	}
	for _, id := range c.watch.resolved {
		removeFrom(h.byAgent, id, c)
	}
	for _, q := range c.watch.Queues {
		removeFrom(h.byQueue, q, c)
	}
	for _, t := range c.watch.Teams {
		removeFrom(h.byTeam, t, c)
	}
}

// rewatchLocked changes what c receives; events dispatched after it follow
// the new watch.
func (h *Hub) rewatchLocked(c *wsClient, w watch) {
	if _, ok := h.all[c]; !ok {
		return
	}
	h.unindexLocked(c)
	c.watch = w
	h.indexLocked(c)
}

// addLocked registers c for delivery.
func (h *Hub) addLocked(c *wsClient) {
	h.all[c] = struct{}{}
	h.perUser[userKey(c.p)]++
	h.indexLocked(c)
	h.metrics.conns.Inc()
}

// removeLocked stops delivery to c; safe to call more than once.
func (h *Hub) removeLocked(c *wsClient) {
	if _, ok := h.all[c]; !ok {
		return
	}
	delete(h.all, c)
	h.unindexLocked(c)
	k := userKey(c.p)
	if h.perUser[k]--; h.perUser[k] <= 0 {
		delete(h.perUser, k)
	}
	h.metrics.conns.Dec()
}

// watchError is a watch request the hub refuses; field names the query
// parameter or subscribe field at fault.
type watchError struct{ field, msg string }

func (e *watchError) Error() string { return e.field + ": " + e.msg }

// resolveWatch turns what a connection asks to watch into a watch, within
// what its role allows. Agents receive their own events and choose nothing;
// staff choose agents, queues and teams, or everything (also when they name
// nothing: the directory does not grant supervisors queues or teams yet).
func (h *Hub) resolveWatch(ctx context.Context, p auth.Principal, req watch) (watch, error) {
	named := len(req.Agents)+len(req.Queues)+len(req.Teams) > 0
	if !isStaff(p) {
		if named || req.All {
			return watch{}, &watchError{"queues", "agents receive their own events only; queues, teams and agents are for supervisors and admins"}
		}
		if p.Role == directory.RoleAgent && p.UserID != 0 {
			// An agent's user id is its agent id. An agent-role
			// API key has no agent: it receives nothing.
			return watch{Agents: []int64{p.UserID}, Queues: []string{}, Teams: []int64{}}, nil
		}
		return watch{Agents: []int64{}, Queues: []string{}, Teams: []int64{}}, nil
	}
	if req.All || !named {
		return watch{All: true, Agents: []int64{}, Queues: []string{}, Teams: []int64{}}, nil
	}
	w := watch{Agents: dedupe(req.Agents), Queues: dedupe(req.Queues), Teams: dedupe(req.Teams)}
	if h.opts.Watch != nil && len(w.Queues)+len(w.Teams) > 0 {
		ids, err := h.opts.Watch.AgentsWatched(ctx, w.Queues, w.Teams)
		if err != nil {
			return watch{}, err
		}
		w.resolved = ids
	}
	return w, nil
}

func dedupe[T comparable](in []T) []T {
	out := []T{}
	seen := make(map[T]bool, len(in))
	for _, v := range in {
		if !seen[v] {
			seen[v] = true
			out = append(out, v)
		}
	}
	return out
}

// watchFromQuery reads ?all=true&agents=7,8&queues=sales,support&teams=3.
func watchFromQuery(q url.Values) (watch, error) {
	var w watch
	list := func(name string) []string {
		var out []string
		for _, v := range q[name] {
			for part := range strings.SplitSeq(v, ",") {
				if part = strings.TrimSpace(part); part != "" {
					out = append(out, part)
				}
			}
		}
		return out
	}
	ids := func(name string) ([]int64, error) {
		var out []int64
		for _, s := range list(name) {
			id, err := strconv.ParseInt(s, 10, 64)
			if err != nil || id <= 0 {
				return nil, &watchError{name, fmt.Sprintf("%q is not an id: give positive numbers separated by commas", s)}
			}
			out = append(out, id)
		}
		return out, nil
	}
	var err error
	if v := q.Get("all"); v != "" {
		if w.All, err = strconv.ParseBool(v); err != nil {
			return w, &watchError{"all", fmt.Sprintf("%q is not true or false", v)}
		}
	}
	if w.Agents, err = ids("agents"); err != nil {
		return w, err
	}
	if w.Teams, err = ids("teams"); err != nil {
		return w, err
	}
	w.Queues = list("queues")
	return w, nil
}

// bearer finds the token: the Authorization header (non-browser clients) or
// the omnicc.bearer.<token> subprotocol (browsers).
func bearer(r *http.Request) (token string, viaProtocol bool) {
	if t, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok && strings.TrimSpace(t) != "" {
		return strings.TrimSpace(t), false
	}
	for _, p := range websocket.Subprotocols(r) {
		if t, ok := strings.CutPrefix(p, WSBearerPrefix); ok && t != "" {
			return t, true
		}
	}
	return "", false
}

func (h *Hub) originAllowed(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" {
		return false
	}
	if strings.EqualFold(u.Host, r.Host) {
		return true // same origin: a desktop served by omniccd (or through the same proxy)
	}
	return h.origins[strings.ToLower(u.Scheme+"://"+u.Host)]
}

func (h *Hub) serveWS(s *Server, c *gin.Context) {
	r := c.Request
	if !websocket.IsWebSocketUpgrade(r) {
		writeError(c, http.StatusBadRequest, "websocket_required",
			"GET /api/v1/ws is a websocket: send Connection: Upgrade and Upgrade: websocket (see docs/websocket.md)", "")
		return
	}
	if !h.originAllowed(r) {
		writeError(c, http.StatusForbidden, "origin_not_allowed",
			"websocket origin "+strconv.Quote(r.Header.Get("Origin"))+" is neither this server nor OMNICC_PUBLIC_URL; an admin can allow it by adding it to OMNICC_WS_ORIGINS (comma-separated scheme://host[:port])", "")
		return
	}
	token, viaProtocol := bearer(r)
	if token == "" {
		msg := `send the token as Authorization: Bearer <token> or, from a browser, as the subprotocols ["` + WSProtocol + `", "` + WSBearerPrefix + `<token>"]`
		if r.URL.Query().Has("token") {
			msg += "; a token in the query string is refused because it ends up in logs"
		}
		c.Header("WWW-Authenticate", `Bearer realm="omnicc"`)
		writeError(c, http.StatusUnauthorized, "unauthenticated", msg, "")
		return
	}
	if viaProtocol && !containsString(websocket.Subprotocols(r), WSProtocol) {
		writeError(c, http.StatusBadRequest, "subprotocol_required",
			`offer the subprotocol "`+WSProtocol+`" next to the token: browsers reject a connection whose offered protocols the server does not echo`, "")
		return
	}
	p, err := h.opts.Auth.Authenticate(r.Context(), token)
	if err != nil {
		s.fail(c, err)
		return
	}
	var mask bool
	if h.opts.MaskFor != nil && p.UserID != 0 {
		if mask, err = h.opts.MaskFor(r.Context(), p.UserID); err != nil {
			s.fail(c, err)
			return
		}
	}
	req, err := watchFromQuery(r.URL.Query())
	if err == nil {
		req, err = h.resolveWatch(r.Context(), p, req)
	}
	var we *watchError
	switch {
	case errors.As(err, &we) && !isStaff(p):
		writeError(c, http.StatusForbidden, "forbidden", we.msg, we.field)
		return
	case errors.As(err, &we):
		writeError(c, http.StatusBadRequest, "invalid_watch", we.Error(), we.field)
		return
	case err != nil:
		s.fail(c, err)
		return
	}

	// Reserve the slot before upgrading, so the per-user limit holds under
	// concurrent connects and a refusal is still a readable HTTP answer.
	// The buffer also holds the snapshot, so that a supervisor watching
	// every agent is not taken for a slow client before it read one event.
	cl := &wsClient{hub: h, p: p, mask: mask, secret: token, remote: c.ClientIP(), watch: req,
		send: make(chan *websocket.PreparedMessage, h.opts.SendBuffer+h.snapshotRoom(req)), done: make(chan struct{})}
	cl.lastSeen.Store(h.clock.Now().UnixNano())
	// hello goes first, before the client can receive any event.
	if pm, err := prepare(events.Event{Type: "hello", Payload: helloPayload{
		UserID: p.UserID, Username: p.Username, Role: string(p.Role), ServerTime: h.clock.Now().UTC(), Watching: req}}); err == nil {
		cl.send <- pm // the buffer is new and empty
	}
	h.mu.Lock()
	switch {
	case h.closed:
		h.mu.Unlock()
		writeError(c, http.StatusServiceUnavailable, "shutting_down", "omniccd is shutting down; reconnect in a moment", "")
		return
	case h.opts.MaxConnsPerUser > 0 && h.perUser[userKey(p)] >= h.opts.MaxConnsPerUser:
		h.mu.Unlock()
		writeError(c, http.StatusTooManyRequests, "too_many_connections",
			fmt.Sprintf("%s already has %d websocket connections open (the most allowed); close one first", p.Username, h.opts.MaxConnsPerUser), "")
		return
	}
	h.addLocked(cl)
	// The snapshot is queued in the same step as the registration: every
	// event dispatched later comes after it, none is lost in between. An
	// event already on the bus may follow with a state the snapshot
	// includes; agent_state carries the whole state, so applying messages
	// in order ends right.
	h.snapshotLocked(cl)
	// Added under mu while not closed: shutdown's Wait starts only after
	// closed is set, so this Add never races it.
	h.wg.Add(2)
	h.mu.Unlock()

	conn, err := h.upgrader.Upgrade(c.Writer, r, nil)
	if err != nil {
		// Upgrade already answered with an HTTP error.
		h.mu.Lock()
		h.removeLocked(cl)
		h.mu.Unlock()
		h.wg.Add(-2)
		return
	}
	h.mu.Lock()
	cl.conn = conn
	h.live[cl] = struct{}{}
	h.mu.Unlock()
	h.log.Debug("websocket connected", "user", p.Username, "role", p.Role, "remote", cl.remote)
	// The HTTP handler returns now; the connection lives in the hub's
	// goroutines, which Run waits for. If shutdown began meanwhile, stop
	// was already called and the writer closes at once.
	go func() {
		defer h.wg.Done()
		cl.writeLoop()
		h.mu.Lock()
		h.removeLocked(cl)
		delete(h.live, cl)
		h.mu.Unlock()
	}()
	go func() {
		defer h.wg.Done()
		cl.readLoop()
	}()
}

// snapshotRoom is the buffer room the snapshot of w needs, with a margin
// for agents created while the connection is being set up.
func (h *Hub) snapshotRoom(w watch) int {
	if h.opts.States == nil {
		return 0
	}
	if w.All {
		return len(h.opts.States.States(presence.StateFilter{})) + 64
	}
	return len(w.Agents) + len(w.resolved) + 1
}

// snapshotLocked queues the current agent_state of every agent c watches.
func (h *Hub) snapshotLocked(c *wsClient) {
	if h.opts.States == nil {
		return
	}
	h.snapshotOfLocked(c, newSnapshot(h.opts.States.States(presence.StateFilter{})))
}

// snapshot is one read of presence's states, each encoded once however
// many sockets are sent it (all of them after events.Lost).
type snapshot struct {
	states   []presence.AgentState
	byID     map[int64]int // index in states
	prepared map[int64]*variants
}

func newSnapshot(states []presence.AgentState) *snapshot {
	s := &snapshot{states: states, byID: make(map[int64]int, len(states)), prepared: map[int64]*variants{}}
	for i, st := range states {
		s.byID[st.AgentID] = i
	}
	return s
}

// variantsOf encodes st once; nil (logged) when it cannot be.
func (s *snapshot) variantsOf(h *Hub, st presence.AgentState) *variants {
	if v, ok := s.prepared[st.AgentID]; ok {
		return v
	}
	v, err := newVariants(events.Event{Type: presence.EventAgentState, AgentID: st.AgentID, Payload: st})
	if err != nil {
		h.log.Error("websocket snapshot not sent", "agent_id", st.AgentID, "err", err)
	}
	s.prepared[st.AgentID] = v
	return v
}

// snapshotOfLocked queues the states of snap that c watches.
func (h *Hub) snapshotOfLocked(c *wsClient, snap *snapshot) {
	w := c.watch
	var states []presence.AgentState
	if w.All {
		states = snap.states
	} else {
		seen := make(map[int64]bool, len(w.Agents)+len(w.resolved))
		for _, id := range slices.Concat(w.Agents, w.resolved) {
			if i, ok := snap.byID[id]; ok && !seen[id] {
				seen[id] = true
				states = append(states, snap.states[i])
			}
		}
		// In presence's order, as a full snapshot is.
		slices.SortFunc(states, func(a, b presence.AgentState) int { return snap.byID[a.AgentID] - snap.byID[b.AgentID] })
	}
	for _, st := range states {
		v := snap.variantsOf(h, st)
		if v == nil {
			continue
		}
		if _, ok := h.all[c]; !ok {
			return // dropped as too slow by offerLocked
		}
		if pm := v.forClient(c); pm != nil {
			h.offerLocked(c, pm)
		}
	}
}

type helloPayload struct {
	UserID     int64     `json:"user_id"`
	Username   string    `json:"username"`
	Role       string    `json:"role"`
	ServerTime time.Time `json:"server_time"`
	Watching   watch     `json:"watching"`
}

func containsString(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// recheckLoop checks the credentials of every open connection every
// RecheckEvery, in one batch, on this one goroutine.
func (h *Hub) recheckLoop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-h.clock.After(h.opts.RecheckEvery):
		}
		h.recheck(ctx)
	}
}

// credentialGone says why an auth answer ends a connection ("" when it
// does not). Only an answer about the credential counts: a database that
// does not answer must not drop every desktop.
func credentialGone(err error) string {
	switch {
	case errors.Is(err, auth.ErrAPIKeyRevoked):
		return "API key revoked: ask an admin for a new key"
	case errors.Is(err, auth.ErrUnauthenticated):
		return "token expired or revoked: log in again"
	case errors.Is(err, auth.ErrLocked):
		return "account locked"
	case errors.Is(err, auth.ErrDisabled):
		return "account disabled"
	}
	return ""
}

func (h *Hub) recheck(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, h.opts.RecheckTimeout)
	defer cancel()
	type watchers struct {
		w       watch // copied under mu: a subscribe may change the clients' own
		clients []*wsClient
	}
	h.mu.Lock()
	bySecret := make(map[string][]*wsClient)
	watches := make(map[string]*watchers)
	for c := range h.all {
		bySecret[c.secret] = append(bySecret[c.secret], c)
		if !c.watch.All && len(c.watch.Queues)+len(c.watch.Teams) > 0 {
			k := c.watch.key()
			if watches[k] == nil {
				watches[k] = &watchers{w: c.watch}
			}
			watches[k].clients = append(watches[k].clients, c)
		}
	}
	h.mu.Unlock()
	if len(bySecret) == 0 {
		return
	}
	secrets := make([]string, 0, len(bySecret))
	for s := range bySecret {
		secrets = append(secrets, s)
	}

	results := make(map[string]error, len(secrets))
	if batch, ok := h.opts.Auth.(CredentialChecker); ok {
		res, err := batch.CheckCredentials(ctx, secrets)
		if err != nil {
			h.log.Warn("websocket credential recheck failed; connections kept", "err", err)
		}
		results = res
	} else {
		for _, s := range secrets {
			if ctx.Err() != nil {
				h.log.Warn("websocket credential recheck cut short; unchecked connections kept",
					"checked", len(results), "of", len(secrets), "err", ctx.Err())
				break
			}
			_, results[s] = h.opts.Auth.Authenticate(ctx, s)
		}
	}
	for s, err := range results {
		reason := credentialGone(err)
		if reason == "" {
			continue
		}
		h.mu.Lock()
		for _, c := range bySecret[s] {
			if _, ok := h.all[c]; ok {
				h.metrics.revoked.Inc()
				h.removeLocked(c)
				c.stop(wsCloseRevoked, reason)
			}
		}
		h.mu.Unlock()
	}

	// Queue and team members change; follow them at the same pace.
	if h.opts.Watch == nil {
		return
	}
	for _, ws := range watches {
		w := ws.w
		ids, err := h.opts.Watch.AgentsWatched(ctx, w.Queues, w.Teams)
		if err != nil {
			h.log.Warn("websocket watch not refreshed; the previous agents are kept", "queues", w.Queues, "teams", w.Teams, "err", err)
			continue
		}
		h.mu.Lock()
		for _, c := range ws.clients {
			if c.watch.key() == w.key() { // unless it subscribed anew meanwhile
				nw := c.watch
				nw.resolved = ids
				h.rewatchLocked(c, nw)
			}
		}
		h.mu.Unlock()
	}
}

// wsClient is one connection: a writer goroutine owns every write, a reader
// goroutine every read; stop tells the writer to close with a reason.
type wsClient struct {
	hub    *Hub
	conn   *websocket.Conn
	p      auth.Principal
	mask   bool   // gets events with personal data masked
	secret string // rechecked by the hub's recheck goroutine
	remote string
	send   chan *websocket.PreparedMessage
	// lastSeen is when the client last sent anything (a pong, a message),
	// in the hub clock's UnixNano.
	lastSeen atomic.Int64

	// Guarded by hub.mu.
	watch watch
	seen  uint64

	once      sync.Once
	done      chan struct{}
	closeCode int
	closeText string
}

// stop asks the writer to send a close frame with code and text and to close
// the connection. The first reason wins.
func (c *wsClient) stop(code int, text string) {
	c.once.Do(func() {
		c.closeCode, c.closeText = code, text
		close(c.done)
	})
}

func (c *wsClient) writeLoop() {
	o := &c.hub.opts
	clock := c.hub.clock
	// Closing the socket ends the reader's blocked read.
	defer c.conn.Close()
	ping := clock.After(o.PingInterval)
	for {
		select {
		case <-c.done:
			if c.closeCode != 0 {
				msg := websocket.FormatCloseMessage(c.closeCode, c.closeText)
				_ = c.conn.WriteControl(websocket.CloseMessage, msg, time.Now().Add(time.Second))
			}
			return
		case pm := <-c.send:
			_ = c.conn.SetWriteDeadline(time.Now().Add(o.WriteTimeout))
			if err := c.conn.WritePreparedMessage(pm); err != nil {
				c.stop(0, "")
				return
			}
		case now := <-ping:
			// Liveness is judged here rather than with a read deadline
			// so that it follows the hub's clock.
			if now.Sub(time.Unix(0, c.lastSeen.Load())) > o.PongWait {
				c.stop(websocket.CloseGoingAway, "no pong or message in time")
				continue
			}
			ping = clock.After(o.PingInterval)
			if err := c.conn.WriteControl(websocket.PingMessage, nil, time.Now().Add(o.WriteTimeout)); err != nil {
				c.stop(0, "")
				return
			}
		}
	}
}

// clientMessage is what a client may send: {"type":"subscribe", ...} to
// change what it watches, {"type":"ping"} to learn the connection works.
type clientMessage struct {
	Type   string   `json:"type"`
	All    bool     `json:"all"`
	Agents []int64  `json:"agents"`
	Queues []string `json:"queues"`
	Teams  []int64  `json:"teams"`
}

func (c *wsClient) readLoop() {
	h := c.hub
	c.conn.SetReadLimit(h.opts.ReadLimit)
	seen := func() { c.lastSeen.Store(h.clock.Now().UnixNano()) }
	c.conn.SetPongHandler(func(string) error { seen(); return nil })
	for {
		_, data, err := c.conn.ReadMessage()
		if err != nil {
			// A close from the client (gorilla echoed it), the read
			// limit (gorilla sent 1009) or a socket the writer closed:
			// the writer has sent or will send what is due.
			c.stop(0, "")
			return
		}
		seen()
		var m clientMessage
		if json.Unmarshal(data, &m) != nil {
			c.reply(events.Event{Type: "error", Payload: wsErrorPayload{Code: "invalid_message", Message: "send one JSON object with a type"}})
			continue
		}
		switch m.Type {
		case "ping":
			c.reply(events.Event{Type: "pong"})
		case "subscribe":
			c.subscribe(watch{All: m.All, Agents: m.Agents, Queues: m.Queues, Teams: m.Teams})
		default:
			// Unknown types are ignored, as clients ignore ours: either
			// side may be newer.
		}
	}
}

type wsErrorPayload struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Field   string `json:"field,omitempty"`
}

// reply queues a message for this client only, in order with its events.
func (c *wsClient) reply(e events.Event) {
	pm, err := prepare(e)
	if err != nil {
		c.hub.log.Error("websocket reply not sent", "type", e.Type, "err", err)
		return
	}
	c.hub.mu.Lock()
	defer c.hub.mu.Unlock()
	if _, ok := c.hub.all[c]; ok {
		c.hub.offerLocked(c, pm)
	}
}

// subscribe changes what the client watches and answers "subscribed" with
// the new watch, or "error". It runs on the reader: resolving queues may
// query the database, which delays only this client's next command.
func (c *wsClient) subscribe(req watch) {
	h := c.hub
	ctx, cancel := context.WithTimeout(h.life, h.opts.RecheckTimeout)
	defer cancel()
	w, err := h.resolveWatch(ctx, c.p, req)
	if err != nil {
		var (
			we *watchError
			fe *directory.FieldError
		)
		payload := wsErrorPayload{Code: "internal", Message: "the watch could not be resolved; try again"}
		switch {
		case errors.As(err, &we) && !isStaff(c.p):
			payload = wsErrorPayload{Code: "forbidden", Message: we.msg, Field: we.field}
		case errors.As(err, &we):
			payload = wsErrorPayload{Code: "invalid_watch", Message: we.Error(), Field: we.field}
		case errors.As(err, &fe):
			payload = wsErrorPayload{Code: "invalid_watch", Message: fe.Error(), Field: fe.Field}
		default:
			h.log.Warn("websocket subscribe failed", "user", c.p.Username, "err", err)
		}
		c.reply(events.Event{Type: "error", Payload: payload})
		return
	}
	pm, err := prepare(events.Event{Type: "subscribed", Payload: w})
	if err != nil {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.all[c]; !ok {
		return
	}
	// The answer is queued in the same step as the change: every event
	// after it follows the new watch, every one before it the old.
	h.rewatchLocked(c, w)
	h.offerLocked(c, pm)
}

// DirectoryWatch resolves watched queues and teams through the directory.
type DirectoryWatch struct{ Dir *directory.Directory }

// AgentsWatched lists the agents linked to the queues (by name) and teams.
func (d DirectoryWatch) AgentsWatched(ctx context.Context, queues []string, teams []int64) ([]int64, error) {
	var ids []int64
	for _, name := range queues {
		found, _, err := d.Dir.ListQueues(ctx, directory.QueueFilter{Q: name, PerPage: directory.MaxPerPage})
		if err != nil {
			return nil, err
		}
		var id int64
		for _, q := range found {
			if q.Name == name {
				id = q.ID
			}
		}
		if id == 0 {
			return nil, &directory.FieldError{Field: "queues", Message: fmt.Sprintf("no queue is named %q", name)}
		}
		members, err := d.Dir.QueueMembers(ctx, id)
		if err != nil {
			return nil, err
		}
		for _, m := range members {
			ids = append(ids, m.AgentID)
		}
	}
	for _, team := range teams {
		agents, err := d.Dir.LinkedAgents(ctx, directory.TeamLinks, team)
		if err != nil {
			return nil, err
		}
		ids = append(ids, agents...)
	}
	return dedupe(ids), nil
}
