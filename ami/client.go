package ami

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// maxListItems bounds one list action's collected items, so a peer that
// never sends `EventList: Complete` cannot grow memory until the timeout.
const maxListItems = 1 << 20

// Response is Asterisk's direct answer to an action (`Response: Success`,
// `Goodbye`, `Follows`…), every field kept as sent: a Command's `Output`
// lines are in Response.All("Output").
type Response struct {
	Message
}

// Client keeps one logged-in manager connection to one Asterisk box and
// reconnects it forever. Create it with NewClient, start it with Run; Action,
// ActionList and Subscribe are safe for concurrent use.
type Client struct {
	cfg Config
	log *slog.Logger
	clk Clock

	idPrefix string        // unique per Client, so ids from two boxes never mix in logs
	nextID   atomic.Uint64 // ActionID counter
	running  atomic.Bool

	events hub

	mu   sync.Mutex
	sess *session // the logged-in connection, nil while down
}

// NewClient checks cfg and returns a client that is not connected yet.
func NewClient(cfg Config) (*Client, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	var b [4]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
	return &Client{
		cfg:      cfg,
		log:      cfg.Logger.With("box", cfg.Box),
		clk:      cfg.Clock,
		idPrefix: "omnicc-" + hex.EncodeToString(b[:]) + "-",
	}, nil
}

// Box is the name of the box, as it appears in events and logs.
func (c *Client) Box() string { return c.cfg.Box }

// Connected reports whether the client is logged in right now.
func (c *Client) Connected() bool { return c.current() != nil }

// Subscribe returns a subscription to every event of this box from now on,
// across reconnects. buffer 0 means DefaultSubscriberBuffer. Items of list
// actions go to ActionList's caller, not to subscribers.
func (c *Client) Subscribe(buffer int) *Subscription {
	s := newSubscription(buffer)
	c.events.add(s)
	return s
}

func (c *Client) current() *session {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.sess
}

// Run connects, logs in and keeps the connection up until ctx ends, then
// returns nil after every goroutine it started has stopped. A refused login
// is logged and retried with backoff like any other failure: Asterisk may be
// reconfigured while omniccd runs.
func (c *Client) Run(ctx context.Context) error {
	if !c.running.CompareAndSwap(false, true) {
		return errors.New("ami: Client.Run called while already running")
	}
	defer c.running.Store(false)

	bo := newBackoff(c.cfg.BackoffMin, c.cfg.BackoffMax)
	for {
		up, err := c.connectAndServe(ctx)
		if ctx.Err() != nil {
			return nil
		}
		// A connection that stayed logged in longer than the longest wait
		// was healthy: start over from BackoffMin. One that drops right
		// after login (a failing OnConnect, a crashing Asterisk) keeps
		// backing off.
		if up >= c.cfg.BackoffMax {
			bo.reset()
		}
		wait := bo.next()
		var rejected *ActionError
		if errors.As(err, &rejected) {
			c.log.Error("AMI login refused; check the user and secret in "+envName+" against manager.conf",
				"user", c.cfg.Username, "asterisk_message", rejected.Message, "retry_in", wait)
		} else {
			c.log.Warn("AMI connection down; reconnecting", "err", err, "retry_in", wait)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-c.clk.After(wait):
		}
	}
}

// connectAndServe runs one connection from dial to close. up is how long it
// stayed logged in (0 when login never succeeded).
func (c *Client) connectAndServe(ctx context.Context) (up time.Duration, err error) {
	dialCtx, cancel := context.WithTimeout(ctx, c.cfg.DialTimeout)
	conn, err := c.cfg.Dial(dialCtx, "tcp", c.cfg.Addr)
	cancel()
	if err != nil {
		return 0, fmt.Errorf("connect to %s: %w", c.cfg.Addr, err)
	}
	s := &session{
		c:       c,
		conn:    conn,
		pending: make(map[string]*pending),
		done:    make(chan struct{}),
		booted:  make(chan struct{}),
	}
	s.r = NewReader(bufio.NewReaderSize(conn, 32<<10), c.cfg.Limits)

	if err := s.login(ctx); err != nil {
		conn.Close()
		return 0, err
	}
	since := c.clk.Now()
	c.log.Info("AMI logged in", "addr", c.cfg.Addr, "user", c.cfg.Username)
	c.cfg.Metrics.login(c.cfg.Box)
	err = s.serve(ctx)
	up = c.clk.Now().Sub(since)
	if c.cfg.OnDisconnect != nil {
		c.cfg.OnDisconnect(c, err)
	}
	return up, err
}

// Action sends an action and waits for its response. Asterisk's
// `Response: Error` comes back as an *ActionError carrying its Message (the
// Response is returned too). Any ActionID in action is replaced by a unique
// one. The wait ends at ctx's deadline, or after Config.ActionTimeout when
// ctx has none.
func (c *Client) Action(ctx context.Context, action Message) (Response, error) {
	resp, _, err := c.measured(ctx, action, false)
	return resp, err
}

// measured runs an action or list action and records it in Config.Metrics.
func (c *Client) measured(ctx context.Context, action Message, list bool) (Response, []Message, error) {
	start := time.Now()
	resp, items, err := c.do(ctx, action, list)
	c.cfg.Metrics.action(c.cfg.Box, action.Get("Action"), time.Since(start), err)
	return resp, items, err
}

func (c *Client) do(ctx context.Context, action Message, list bool) (Response, []Message, error) {
	s := c.current()
	if s == nil {
		return Response{}, nil, fmt.Errorf("%w: box %s, action %s", ErrNotConnected, c.cfg.Box, action.Get("Action"))
	}
	return s.do(ctx, action, list)
}

// ActionList sends a list action (QueueStatus, CoreShowChannels,
// PJSIPShowEndpoints, DeviceStateList…) and collects the events that carry
// its ActionID until the one with `EventList: Complete`, which is not among
// the items. The whole exchange shares one timeout, as in Action; give ctx a
// deadline for very large lists.
//
// Some list actions answer `Response: Error` instead of an empty list
// (PJSIPShowEndpoints with no endpoint says "No endpoints found"): a resync
// should treat that *ActionError as "nothing to list" where it makes sense.
func (c *Client) ActionList(ctx context.Context, action Message) (Response, []Message, error) {
	return c.measured(ctx, action, true)
}

// Command runs a CLI command and returns its output lines intact, one per
// `Output:` field.
func (c *Client) Command(ctx context.Context, command string) ([]string, error) {
	resp, err := c.Action(ctx, NewAction("Command", "Command", command))
	if err != nil {
		return nil, err
	}
	return resp.All("Output"), nil
}

func (c *Client) newActionID() string {
	return c.idPrefix + strconv.FormatUint(c.nextID.Add(1), 10)
}

// pending is one action waiting for its reply.
type pending struct {
	name  string
	list  bool
	resp  Message
	gotIt bool // the Response arrived (for lists: items are being collected)
	items []Message
	err   error
	done  chan struct{} // closed by the reader when complete
}

// session is one logged-in connection. The reader goroutine owns r; writes
// go through wmu; pending is shared under mu.
type session struct {
	c    *Client
	conn net.Conn
	r    *Reader

	wmu  sync.Mutex
	wbuf []byte

	mu      sync.Mutex
	pending map[string]*pending
	closed  bool

	done     chan struct{} // closed when the connection is over
	booted   chan struct{} // closed at Asterisk's FullyBooted
	bootOnce sync.Once
}

// login reads the banner and logs in synchronously, before the reader
// goroutine exists: nothing else can arrive before authentication.
func (s *session) login(ctx context.Context) error {
	c := s.c
	// Socket deadlines are wall-clock time whatever Config.Clock says.
	deadline := time.Now().Add(c.cfg.DialTimeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	_ = s.conn.SetDeadline(deadline)
	// Cancelling Run must not wait for a silent peer.
	stop := context.AfterFunc(ctx, func() { _ = s.conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	banner, err := s.r.ReadBanner()
	if err != nil {
		return fmt.Errorf("read banner from %s: %w", c.cfg.Addr, err)
	}
	id := c.newActionID()
	buf, err := AppendAction(nil, NewAction("Login",
		"Username", c.cfg.Username, "Secret", c.cfg.Secret, "Events", "on"), id)
	if err != nil {
		return err
	}
	if _, err := s.conn.Write(buf); err != nil {
		return fmt.Errorf("send Login to %s: %w", c.cfg.Addr, err)
	}
	for {
		m, err := s.r.ReadMessage()
		if err != nil {
			return fmt.Errorf("read Login response from %s: %w", c.cfg.Addr, err)
		}
		if !m.IsResponse() || m.ActionID() != id {
			continue
		}
		if !responseOK(m) {
			return &ActionError{Box: c.cfg.Box, Action: "Login", Message: m.Get("Message"), Response: m}
		}
		c.log.Debug("AMI banner", "banner", banner)
		_ = s.conn.SetDeadline(time.Time{})
		return nil
	}
}

// responseOK: anything but Error counts as success; Logoff answers Goodbye
// and old Command answers Follows.
func responseOK(m Message) bool {
	r := m.Get("Response")
	return !keyIs(r, "Error")
}

// serve runs the logged-in connection: the reader, the keepalive and the
// OnConnect hook, until one of them fails or ctx ends. It returns after all
// three goroutines stopped.
func (s *session) serve(ctx context.Context) error {
	c := s.c
	sctx, cancel := context.WithCancelCause(ctx)
	var wg sync.WaitGroup

	wg.Go(func() { cancel(s.readLoop()) })

	c.mu.Lock()
	c.sess = s
	c.mu.Unlock()

	wg.Go(func() { s.keepalive(sctx, cancel) })
	if c.cfg.OnConnect != nil {
		wg.Go(func() {
			if !s.waitBooted(sctx) {
				return
			}
			if err := c.cfg.OnConnect(sctx, c); err != nil && sctx.Err() == nil {
				cancel(fmt.Errorf("OnConnect (resync) failed, reconnecting to resync again: %w", err))
			}
		})
	}

	<-sctx.Done()
	err := context.Cause(sctx)

	c.mu.Lock()
	c.sess = nil
	c.mu.Unlock()

	if ctx.Err() != nil {
		// Shutting down: say goodbye so Asterisk logs a logoff rather than
		// a lost connection. Best effort, never waited for.
		if buf, aerr := AppendAction(nil, NewAction("Logoff"), c.newActionID()); aerr == nil {
			s.wmu.Lock()
			_ = s.conn.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
			_, _ = s.conn.Write(buf)
			s.wmu.Unlock()
		}
	}
	// Closing the socket is what stops the reader; then every waiting
	// action learns the connection is gone.
	s.conn.Close()
	s.failPending()
	cancel(nil)
	wg.Wait()
	return err
}

// failPending ends the session for waiting actions: their outcome is unknown.
func (s *session) failPending() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	s.closed = true
	close(s.done)
	s.pending = nil
}

// keepalive sends Ping every PingInterval; a missing pong ends the session,
// which is how a half-open TCP connection (Asterisk host gone) is noticed.
func (s *session) keepalive(ctx context.Context, fail context.CancelCauseFunc) {
	c := s.c
	for {
		select {
		case <-ctx.Done():
			return
		case <-c.clk.After(c.cfg.PingInterval):
		}
		pctx, cancel := context.WithTimeout(ctx, c.cfg.ActionTimeout)
		_, _, err := s.do(pctx, NewAction("Ping"), false)
		cancel()
		// Any reply, even an error, proves the peer is alive.
		if err != nil && !errors.Is(err, ErrRejected) {
			if ctx.Err() == nil {
				fail(fmt.Errorf("keepalive: no answer to Ping within %s: %w", c.cfg.ActionTimeout, err))
			}
			return
		}
	}
}

// readLoop parses messages and routes them until the connection fails. It
// never blocks on anyone: replies go to buffered-by-construction pending
// slots and events to non-blocking subscriptions.
// waitBooted waits for Asterisk's FullyBooted on this connection, at most
// BootWait; false means the connection ended first.
func (s *session) waitBooted(ctx context.Context) bool {
	c := s.c
	select {
	case <-s.booted:
		return true
	case <-ctx.Done():
		return false
	case <-c.clk.After(c.cfg.BootWait):
		c.log.Warn("AMI: no FullyBooted from Asterisk since login; resyncing anyway. Asterisk sends it only to manager users with read=system: grant it in manager.conf",
			"user", c.cfg.Username, "waited", c.cfg.BootWait)
		return true
	}
}

func (s *session) readLoop() error {
	for {
		m, err := s.r.ReadMessage()
		if err != nil {
			return fmt.Errorf("read from %s: %w", s.c.cfg.Addr, err)
		}
		s.route(m)
	}
}

func (s *session) route(m Message) {
	if id, ok := m.Lookup("ActionID"); ok && id != "" {
		if s.routeReply(id, m) {
			return
		}
	}
	if !m.IsEvent() {
		// A response nobody waits for: its action timed out.
		s.c.log.Debug("AMI response for no waiting action (it timed out?)", "action_id", m.ActionID())
		return
	}
	if m.Event() == "FullyBooted" {
		s.bootOnce.Do(func() { close(s.booted) })
	}
	s.c.cfg.Metrics.event(s.c.cfg.Box)
	ev := Event{Box: s.c.cfg.Box, Received: s.c.clk.Now(), Message: m}
	if n := s.c.events.publish(ev); n > 0 {
		s.c.log.Warn("AMI subscriber fell behind; its stream was ended so it resyncs", "subscribers", n)
	}
}

// routeReply hands m to the action waiting for id and reports whether it
// did. Events carrying the ActionID of an action that is already complete
// (OriginateResponse after an async Originate) are not replies: they go to
// subscribers.
func (s *session) routeReply(id string, m Message) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.pending[id]
	if !ok {
		return false
	}
	isResp := m.IsResponse()
	switch {
	case isResp && !p.gotIt:
		p.resp, p.gotIt = m, true
		if !responseOK(m) {
			p.err = &ActionError{Box: s.c.cfg.Box, Action: p.name, Message: m.Get("Message"), Response: m}
			s.finishLocked(id, p)
			return true
		}
		// A list reply announces its items with `EventList: start`; a list
		// action that answers without it (nothing to list on some versions)
		// is complete now.
		if !p.list || !keyIs(m.Get("EventList"), "start") {
			s.finishLocked(id, p)
		}
		return true
	case !isResp && p.list && p.gotIt:
		if keyIs(m.Get("EventList"), "Complete") {
			s.finishLocked(id, p)
			return true
		}
		if len(p.items) >= maxListItems {
			p.err = fmt.Errorf("%w: %s list longer than %d items", ErrMalformed, p.name, maxListItems)
			s.finishLocked(id, p)
			return true
		}
		p.items = append(p.items, m)
		return true
	}
	return false
}

func (s *session) finishLocked(id string, p *pending) {
	delete(s.pending, id)
	close(p.done)
}

// do sends one action on this connection and waits for its reply.
func (s *session) do(ctx context.Context, action Message, list bool) (Response, []Message, error) {
	c := s.c
	name := action.Get("Action")
	id := c.newActionID()
	p := &pending{name: name, list: list, done: make(chan struct{})}

	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return Response{}, nil, fmt.Errorf("%w: box %s, action %s", ErrNotConnected, c.cfg.Box, name)
	}
	// Registered before writing: the reply can arrive before Write returns.
	s.pending[id] = p
	s.mu.Unlock()

	if err := s.write(action, id); err != nil {
		s.forget(id)
		if errors.Is(err, ErrInvalidAction) {
			return Response{}, nil, err
		}
		return Response{}, nil, fmt.Errorf("%w: box %s, sending %s: %v", ErrNotConnected, c.cfg.Box, name, err)
	}

	var timeout <-chan time.Time
	if _, ok := ctx.Deadline(); !ok {
		timeout = c.clk.After(c.cfg.ActionTimeout)
	}
	select {
	case <-p.done:
		return Response{p.resp}, p.items, p.err
	case <-s.done:
		return Response{}, nil, fmt.Errorf("%w: box %s: connection lost while waiting for the reply to %s; it may or may not have run",
			ErrNotConnected, c.cfg.Box, name)
	case <-timeout:
		s.forget(id)
		return Response{}, nil, fmt.Errorf("%w: box %s did not answer %s within %s", ErrTimeout, c.cfg.Box, name, c.cfg.ActionTimeout)
	case <-ctx.Done():
		s.forget(id)
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return Response{}, nil, fmt.Errorf("%w: box %s did not answer %s before the deadline: %w", ErrTimeout, c.cfg.Box, name, ctx.Err())
		}
		return Response{}, nil, fmt.Errorf("ami: %s on box %s abandoned: %w", name, c.cfg.Box, ctx.Err())
	}
}

// forget drops a pending action whose caller stopped waiting, so a late
// reply is discarded rather than delivered to nobody.
func (s *session) forget(id string) {
	s.mu.Lock()
	if s.pending != nil {
		delete(s.pending, id)
	}
	s.mu.Unlock()
}

// write encodes and sends one action. The write deadline keeps a peer that
// stopped reading from blocking every caller behind wmu forever.
func (s *session) write(action Message, id string) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	buf, err := AppendAction(s.wbuf[:0], action, id)
	if err != nil {
		return err
	}
	s.wbuf = buf[:0]
	_ = s.conn.SetWriteDeadline(time.Now().Add(s.c.cfg.ActionTimeout))
	_, err = s.conn.Write(buf)
	return err
}
