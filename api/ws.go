package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/gorilla/websocket"
	"github.com/prometheus/client_golang/prometheus"

	"omnicc/auth"
	"omnicc/directory"
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
	wsCloseSlow     = websocket.CloseTryAgainLater // 1013: fell behind; reconnect and resync
	wsCloseShutdown = websocket.CloseGoingAway     // 1001: omniccd is stopping
)

// Authenticator resolves a bearer token or API key; *auth.Service is one.
type Authenticator interface {
	Authenticate(ctx context.Context, secret string) (auth.Principal, error)
}

// HubOptions configure the websocket hub. Zero values take the defaults in
// brackets.
type HubOptions struct {
	Auth   Authenticator // required
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
	// QueueSize is how many published events may wait for the dispatcher
	// [4096]. Publish never blocks: when the queue is full the event is
	// dropped, counted and logged.
	QueueSize int
	// PingInterval is how often the server pings [25s]; a client that does
	// not answer (pong or any message) within PongWait is dropped [60s].
	PingInterval, PongWait time.Duration
	// RecheckEvery is how often an open connection's token or API key is
	// checked again [1m]: a logout, a revoked key or a locked or disabled
	// account ends the connection (close code 1008) within that time.
	RecheckEvery time.Duration
	// WriteTimeout bounds one write to a client [10s].
	WriteTimeout time.Duration
	// ReadLimit is the largest message accepted from a client [4096 bytes];
	// clients have nothing to send but pongs and small commands.
	ReadLimit int64
	// MaxConnsPerUser bounds simultaneous connections of one user or API key
	// [32]; -1 means no limit.
	MaxConnsPerUser int
	// CloseGrace is how long shutdown lets writers send their close frame
	// before cutting the connections [2s].
	CloseGrace time.Duration
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
	def(&o.CloseGrace, 2*time.Second)
	if o.ReadLimit <= 0 {
		o.ReadLimit = 4096
	}
	if o.MaxConnsPerUser == 0 {
		o.MaxConnsPerUser = 32
	}
	return o
}

// Hub is the live websocket at GET /api/v1/ws. It implements
// presence.Publisher: an event goes to the agent it concerns and to every
// supervisor and admin. Run owns every goroutine of every connection.
type Hub struct {
	opts     HubOptions
	log      *slog.Logger
	origins  map[string]bool
	upgrader websocket.Upgrader
	queue    chan presence.Event

	dropped atomic.Uint64 // events lost because the queue was full
	metrics hubMetrics

	mu      sync.Mutex
	running bool
	closed  bool
	staff   map[*wsClient]struct{}
	byAgent map[int64]map[*wsClient]struct{}
	perUser map[string]int
	all     map[*wsClient]struct{}
	wg      sync.WaitGroup
}

type hubMetrics struct {
	conns   prometheus.Gauge
	slow    prometheus.Counter
	dropped prometheus.Counter
}

// NewHub builds a hub; start it with Run and mount it on the API with Mount.
func NewHub(o HubOptions) (*Hub, error) {
	if o.Auth == nil {
		return nil, errors.New("api: HubOptions.Auth is required (pass the *auth.Service)")
	}
	o = o.withDefaults()
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
	h := &Hub{
		opts:    o,
		log:     o.Logger,
		origins: origins,
		queue:   make(chan presence.Event, o.QueueSize),
		staff:   make(map[*wsClient]struct{}),
		byAgent: make(map[int64]map[*wsClient]struct{}),
		perUser: make(map[string]int),
		all:     make(map[*wsClient]struct{}),
		metrics: hubMetrics{
			conns: prometheus.NewGauge(prometheus.GaugeOpts{
				Name: "omnicc_ws_connections", Help: "Open agent/supervisor websocket connections."}),
			slow: prometheus.NewCounter(prometheus.CounterOpts{
				Name: "omnicc_ws_slow_clients_total", Help: "Websocket clients disconnected because they fell behind."}),
			dropped: prometheus.NewCounter(prometheus.CounterOpts{
				Name: "omnicc_ws_dropped_events_total", Help: "Events dropped because the hub's queue was full."}),
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
	for _, col := range []prometheus.Collector{h.metrics.conns, h.metrics.slow, h.metrics.dropped} {
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

// Dropped is the number of events lost because the queue was full.
func (h *Hub) Dropped() uint64 { return h.dropped.Load() }

// Publish queues e for delivery and returns at once (presence.Publisher).
func (h *Hub) Publish(e presence.Event) {
	select {
	case h.queue <- e:
	default:
		n := h.dropped.Add(1)
		h.metrics.dropped.Inc()
		// Powers of two: visible in the log without flooding it.
		if n&(n-1) == 0 {
			h.log.Warn("websocket hub queue full; event dropped (the dispatcher is behind)",
				"type", e.Type, "agent_id", e.AgentID, "dropped_total", n, "queue", h.opts.QueueSize)
		}
	}
}

// Run dispatches published events until ctx ends, then closes every
// connection (code 1001) and returns once all their goroutines have ended.
func (h *Hub) Run(ctx context.Context) error {
	h.mu.Lock()
	if h.running || h.closed {
		h.mu.Unlock()
		return errors.New("api: Hub.Run called twice")
	}
	h.running = true
	h.mu.Unlock()
	for {
		select {
		case <-ctx.Done():
			h.shutdown()
			return nil
		case e := <-h.queue:
			h.dispatch(e)
		}
	}
}

func (h *Hub) shutdown() {
	h.mu.Lock()
	h.closed = true
	clients := make([]*wsClient, 0, len(h.all))
	conns := make([]*websocket.Conn, 0, len(h.all))
	for c := range h.all {
		clients = append(clients, c)
		if c.conn != nil { // nil while its handler is still upgrading
			conns = append(conns, c.conn)
		}
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
func encodeEvent(e presence.Event) ([]byte, error) {
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

func (h *Hub) dispatch(e presence.Event) {
	data, err := encodeEvent(e)
	if err != nil {
		h.log.Error("websocket event not sent: fix the publisher", "err", err)
		return
	}
	// Framed once for every client (no compression): the fan-out cost per
	// client is a channel send.
	pm, err := websocket.NewPreparedMessage(websocket.TextMessage, data)
	if err != nil {
		h.log.Error("websocket event not sent", "type", e.Type, "err", err)
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for c := range h.staff {
		h.offerLocked(c, pm)
	}
	if e.AgentID != 0 {
		for c := range h.byAgent[e.AgentID] {
			h.offerLocked(c, pm)
		}
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

// addLocked registers c for delivery.
func (h *Hub) addLocked(c *wsClient) {
	h.all[c] = struct{}{}
	h.perUser[userKey(c.p)]++
	if isStaff(c.p) {
		h.staff[c] = struct{}{}
	} else if c.p.Role == directory.RoleAgent && c.p.UserID != 0 {
		// An agent's user id is its agent id. An agent-role API key has
		// no agent: it receives nothing (AgentID 0 is staff only).
		set := h.byAgent[c.p.UserID]
		if set == nil {
			set = make(map[*wsClient]struct{})
			h.byAgent[c.p.UserID] = set
		}
		set[c] = struct{}{}
	}
	h.metrics.conns.Inc()
}

// removeLocked stops delivery to c; safe to call more than once.
func (h *Hub) removeLocked(c *wsClient) {
	if _, ok := h.all[c]; !ok {
		return
	}
	delete(h.all, c)
	delete(h.staff, c)
	if set := h.byAgent[c.p.UserID]; set != nil {
		delete(set, c)
		if len(set) == 0 {
			delete(h.byAgent, c.p.UserID)
		}
	}
	k := userKey(c.p)
	if h.perUser[k]--; h.perUser[k] <= 0 {
		delete(h.perUser, k)
	}
	h.metrics.conns.Dec()
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
			"websocket origin "+strconv.Quote(r.Header.Get("Origin"))+" is not this server nor an allowed origin; an admin can add it to the allowed websocket origins", "")
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

	// Reserve the slot before upgrading, so the per-user limit holds under
	// concurrent connects and a refusal is still a readable HTTP answer.
	cl := &wsClient{hub: h, p: p, secret: token, remote: c.ClientIP(), send: make(chan *websocket.PreparedMessage, h.opts.SendBuffer), done: make(chan struct{})}
	// hello goes first, before the client can receive any event.
	hello, _ := encodeEvent(presence.Event{Type: "hello", Payload: helloPayload{
		UserID: p.UserID, Username: p.Username, Role: string(p.Role), ServerTime: time.Now().UTC()}})
	if pm, err := websocket.NewPreparedMessage(websocket.TextMessage, hello); err == nil {
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
		h.mu.Unlock()
	}()
	go func() {
		defer h.wg.Done()
		cl.readLoop()
	}()
}

type helloPayload struct {
	UserID     int64     `json:"user_id"`
	Username   string    `json:"username"`
	Role       string    `json:"role"`
	ServerTime time.Time `json:"server_time"`
}

func containsString(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// wsClient is one connection: a writer goroutine owns every write, a reader
// goroutine every read; stop tells the writer to close with a reason.
type wsClient struct {
	hub    *Hub
	conn   *websocket.Conn
	p      auth.Principal
	secret string // re-checked every RecheckEvery
	remote string
	send   chan *websocket.PreparedMessage

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
	ping := time.NewTicker(o.PingInterval)
	recheck := time.NewTicker(o.RecheckEvery)
	defer func() {
		ping.Stop()
		recheck.Stop()
		// Closing the socket ends the reader's blocked read.
		c.conn.Close()
	}()
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
		case <-ping.C:
			if err := c.conn.WriteControl(websocket.PingMessage, nil, time.Now().Add(o.WriteTimeout)); err != nil {
				c.stop(0, "")
				return
			}
		case <-recheck.C:
			if reason := c.credentialGone(); reason != "" {
				c.stop(websocket.ClosePolicyViolation, reason)
			}
		}
	}
}

// credentialGone checks the connection's token again and says why it no
// longer holds ("" while it does). Only an answer about the credential
// counts: a database that does not answer must not drop every desktop.
func (c *wsClient) credentialGone() string {
	ctx, cancel := context.WithTimeout(context.Background(), c.hub.opts.WriteTimeout)
	defer cancel()
	_, err := c.hub.opts.Auth.Authenticate(ctx, c.secret)
	switch {
	case errors.Is(err, auth.ErrUnauthenticated):
		return "token expired or revoked: log in again"
	case errors.Is(err, auth.ErrLocked):
		return "account locked"
	case errors.Is(err, auth.ErrDisabled):
		return "account disabled"
	}
	return ""
}

func (c *wsClient) readLoop() {
	o := &c.hub.opts
	c.conn.SetReadLimit(o.ReadLimit)
	extend := func() { _ = c.conn.SetReadDeadline(time.Now().Add(o.PongWait)) }
	extend()
	c.conn.SetPongHandler(func(string) error { extend(); return nil })
	for {
		// Clients have nothing to tell the hub yet; reading keeps pongs
		// and close frames flowing and enforces the limit (gorilla
		// answers an oversized message with close code 1009).
		_, rd, err := c.conn.NextReader()
		if err == nil {
			_, err = io.Copy(io.Discard, rd)
		}
		if err != nil {
			var ce *websocket.CloseError
			switch {
			case errors.As(err, &ce):
				// The client closed; gorilla echoed its close frame.
				c.stop(0, "")
			case errors.Is(err, websocket.ErrReadLimit):
				// gorilla has already sent close code 1009.
				c.stop(0, "")
			default:
				c.stop(websocket.CloseGoingAway, "no pong or message in time")
			}
			return
		}
		extend()
	}
}
