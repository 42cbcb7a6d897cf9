package agi

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Server is the FastAGI listener: one goroutine per Asterisk connection,
// each reading the header, running the handler and closing the socket.
type Server struct {
	cfg     Config
	handler Handler
	log     *slog.Logger
	buffers sync.Pool // *sessionBuffers sized by cfg

	started  atomic.Bool
	active   atomic.Int64   // sessions running, for the cap
	sessions sync.WaitGroup // every session goroutine
	refused  prometheus.Counter
	// outcomes counts sessions by script and outcome; latency is how long
	// the handler took, by script: what an operator graphs per script.
	outcomes *prometheus.CounterVec
	latency  *prometheus.HistogramVec

	mu    sync.Mutex
	addr  net.Addr
	conns map[net.Conn]struct{} // open sessions, closed at the drain deadline
}

// sessionBuffers are reused across sessions: at thousands of calls per
// second a fresh 8 KiB reader per call is most of a session's garbage.
type sessionBuffers struct {
	r      *bufio.Reader
	header []byte
	wbuf   []byte
}

// NewServer checks cfg and returns a server that runs handler (usually a
// *Router) for every session.
func NewServer(cfg Config, handler Handler) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if handler == nil {
		return nil, errors.New("agi: NewServer: nil handler")
	}
	cfg = cfg.withDefaults()
	s := &Server{
		cfg:     cfg,
		handler: handler,
		log:     cfg.Logger,
		conns:   make(map[net.Conn]struct{}),
		refused: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "omnicc_agi_sessions_refused_total",
			Help: "FastAGI connections closed unserved because MaxSessions sessions were running.",
		}),
		outcomes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "omnicc_agi_sessions_total",
			Help: "FastAGI sessions by script and outcome (ok, hangup, error, panic, unknown_script, bad_header); script is \"unknown\" for an unregistered one and \"\" when the header was unreadable.",
		}, []string{"script", "outcome"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "omnicc_agi_session_duration_seconds",
			Help: "Time from a FastAGI session's header to its handler's end, by script (a routing decision holds the caller).",
			// Routing answers in milliseconds; agent-login waits for digits.
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60},
		}, []string{"script"}),
	}
	if cfg.Listener != nil {
		s.addr = cfg.Listener.Addr()
	}
	if cfg.Registerer != nil {
		active := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "omnicc_agi_sessions_active",
			Help: "FastAGI sessions running, out of omnicc_agi_sessions_max.",
		}, func() float64 { return float64(s.active.Load()) })
		limit := prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "omnicc_agi_sessions_max",
			Help: "The FastAGI session cap (MaxSessions): connections beyond it are refused.",
		})
		limit.Set(float64(cfg.MaxSessions))
		for _, c := range []prometheus.Collector{s.refused, active, limit, s.outcomes, s.latency} {
			if err := cfg.Registerer.Register(c); err != nil {
				return nil, fmt.Errorf("agi: register the session metrics (Config.Registerer; one Server per registry): %w", err)
			}
		}
	}
	return s, nil
}

// Addr is the address the server listens on, nil until Run has started
// listening.
func (s *Server) Addr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addr
}

// Run listens (or uses Config.Listener) and serves until ctx is cancelled.
// Then it stops accepting, lets the sessions in flight finish for up to
// DrainTimeout, closes those still open, and returns once every goroutine
// it started has exited. The error is nil after a cancel.
func (s *Server) Run(ctx context.Context) error {
	if !s.started.CompareAndSwap(false, true) {
		return errors.New("agi: Server.Run called twice")
	}
	ln := s.cfg.Listener
	if ln == nil {
		var lc net.ListenConfig
		l, err := lc.Listen(ctx, "tcp", s.cfg.Addr)
		if err != nil {
			return fmt.Errorf("agi: listen on %q (OMNICC_AGI_ADDR): %w", s.cfg.Addr, err)
		}
		ln = l
		s.mu.Lock()
		s.addr = ln.Addr()
		s.mu.Unlock()
	}
	s.log.Info("agi: listening", "addr", ln.Addr().String(), "max_sessions", s.cfg.MaxSessions)

	// Sessions outlive ctx by up to DrainTimeout: cancelling ctx must not
	// cut calls that are being routed. stopSessions ends them.
	sessCtx, stopSessions := context.WithCancel(context.WithoutCancel(ctx))
	defer stopSessions()

	// Accept blocks; closing the listener is the only way to wake it.
	acceptDone := make(chan struct{})
	closerDone := make(chan struct{})
	go func() {
		defer close(closerDone)
		select {
		case <-ctx.Done():
		case <-acceptDone:
		}
		ln.Close()
	}()
	err := s.accept(ctx, sessCtx, ln)
	close(acceptDone)
	<-closerDone

	s.drain(stopSessions)
	s.log.Info("agi: stopped", "addr", ln.Addr().String())
	return err
}

func (s *Server) accept(ctx, sessCtx context.Context, ln net.Listener) error {
	var (
		delay          time.Duration // accept retry backoff
		refused        int           // connections over the cap not yet logged
		lastRefusalLog time.Time
	)
	for {
		conn, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if errors.Is(err, net.ErrClosed) {
				return fmt.Errorf("agi: listener on %s closed: %w", ln.Addr(), err)
			}
			// Out of file descriptors and the like: wait and retry, as
			// net/http does, instead of spinning or giving up.
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			s.log.Warn("agi: accept failed; retrying", "err", err, "retry_in", delay)
			t := time.NewTimer(delay)
			select {
			case <-ctx.Done():
				t.Stop()
				return nil
			case <-t.C:
			}
			continue
		}
		delay = 0
		// Only this goroutine adds sessions, so the check cannot race
		// with another admission.
		if s.active.Load() >= int64(s.cfg.MaxSessions) {
			conn.Close()
			s.refused.Inc()
			// At most one line a second: a flood of calls must not
			// become a flood of logs.
			refused++
			if now := time.Now(); now.Sub(lastRefusalLog) >= time.Second {
				s.log.Warn("agi: session cap reached; closed new connections, Asterisk continues the dialplan",
					"refused", refused, "last_remote", conn.RemoteAddr().String(), "max_sessions", s.cfg.MaxSessions)
				refused, lastRefusalLog = 0, now
			}
			continue
		}
		s.active.Add(1)
		s.sessions.Add(1)
		s.mu.Lock()
		s.conns[conn] = struct{}{}
		s.mu.Unlock()
		go s.serve(sessCtx, conn)
	}
}

// drain waits for the sessions, closing them at the drain deadline.
func (s *Server) drain(stopSessions context.CancelFunc) {
	done := make(chan struct{})
	go func() {
		s.sessions.Wait()
		close(done)
	}()
	if n := s.active.Load(); n > 0 {
		s.log.Info("agi: draining sessions", "sessions", n, "deadline", s.cfg.DrainTimeout)
	}
	t := time.NewTimer(s.cfg.DrainTimeout)
	defer t.Stop()
	select {
	case <-done:
		return
	case <-t.C:
	}
	s.mu.Lock()
	s.log.Warn("agi: drain deadline passed; closing sessions", "sessions", len(s.conns))
	stopSessions()
	for c := range s.conns {
		c.Close() // wakes the session's blocked read or write
	}
	s.mu.Unlock()
	<-done
}

func (s *Server) serve(ctx context.Context, conn net.Conn) {
	sess := s.newSession(conn)
	defer func() {
		if p := recover(); p != nil {
			// The handler's panics are caught in runHandler; this is a bug
			// in the session code itself. It must not take the daemon down.
			s.log.Error("agi: panic in session", "remote", conn.RemoteAddr().String(),
				"panic", p, "stack", string(debug.Stack()))
		}
		s.mu.Lock()
		delete(s.conns, conn)
		s.mu.Unlock()
		s.release(sess)
		// The slot is freed before the close, never after: Asterisk may
		// reconnect the moment it reads EOF, and with every other slot
		// busy that next call must find this one free, not be refused.
		s.active.Add(-1)
		conn.Close()
		s.sessions.Done()
	}()

	if err := conn.SetReadDeadline(time.Now().Add(s.cfg.HeaderTimeout)); err != nil {
		s.log.Warn("agi: cannot set header deadline; closing", "remote", conn.RemoteAddr().String(), "err", err)
		return
	}
	req, hdr, err := readHeader(&sess.lr, s.cfg.MaxHeaderBytes, sess.buf.header)
	sess.buf.header = hdr
	if err != nil {
		level := slog.LevelWarn
		if errors.Is(err, io.EOF) {
			level = slog.LevelDebug // a port probe: connected, sent nothing
		}
		s.log.Log(ctx, level, "agi: bad header; closing", "remote", conn.RemoteAddr().String(), "err", err)
		if !errors.Is(err, io.EOF) {
			s.outcomes.WithLabelValues("", "bad_header").Inc()
		}
		return
	}
	sess.req = req
	sess.cr.idle = s.cfg.IdleTimeout // from here on, silence is what times out
	if req.queryErr != nil {
		sess.Logger().Warn("agi: agi_network_script has a bad query string; its bad pairs are ignored",
			"err", req.queryErr)
	}
	start := time.Now()
	herr := s.runHandler(ctx, sess)
	s.observe(req.Script, herr, time.Since(start))
	s.finish(sess, herr)
}

// observe counts one session. An unknown script is labelled "unknown", so
// that whatever Asterisk (or a scanner) asks for cannot grow the series.
func (s *Server) observe(script string, err error, took time.Duration) {
	var pe *panicError
	outcome := "ok"
	switch {
	case err == nil:
	case errors.Is(err, ErrUnknownScript):
		script, outcome = "unknown", "unknown_script"
	case errors.Is(err, ErrHangup) || errors.Is(err, ErrDeadChannel):
		outcome = "hangup"
	case errors.As(err, &pe):
		outcome = "panic"
	default:
		outcome = "error"
	}
	s.outcomes.WithLabelValues(script, outcome).Inc()
	s.latency.WithLabelValues(script).Observe(took.Seconds())
}

// runHandler runs the handler, turning a panic into an error so that one
// bad call never takes the daemon down.
func (s *Server) runHandler(ctx context.Context, sess *Session) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = &panicError{value: p, stack: debug.Stack()}
		}
	}()
	return s.handler.ServeAGI(ctx, sess)
}

type panicError struct {
	value any
	stack []byte
}

func (e *panicError) Error() string { return fmt.Sprintf("handler panic: %v", e.value) }

// finish logs how the session ended and, when the handler failed on a live
// channel, sets OMNICC_ERROR so that the dialplan takes its safe branch.
func (s *Server) finish(sess *Session, err error) {
	if err == nil {
		if sess.err != nil {
			sess.Logger().Warn("agi: handler ended after a connection failure it did not report", "err", sess.err)
		} else if s.log.Enabled(context.Background(), slog.LevelDebug) {
			sess.Logger().Debug("agi: session done", "hung_up", sess.hungUp)
		}
		return
	}
	if errors.Is(err, ErrHangup) || errors.Is(err, ErrDeadChannel) {
		// The caller left: routine, not a failure.
		sess.Logger().Debug("agi: session ended by hang-up", "err", err)
		return
	}
	reason := publicReason(err)
	errorSet := false
	if sess.canTalk() {
		errorSet = sess.SetVariable("OMNICC_ERROR", reason) == nil
	}
	attrs := []any{"err", err, "omnicc_error", reason, "omnicc_error_set", errorSet}
	var pe *panicError
	switch {
	case errors.As(err, &pe):
		sess.Logger().Error("agi: handler panicked", append(attrs, "stack", string(pe.stack))...)
	case errors.Is(err, ErrUnknownScript):
		sess.Logger().Warn("agi: unknown script", attrs...)
	default:
		sess.Logger().Warn("agi: handler failed", attrs...)
	}
}

// publicReason is the OMNICC_ERROR text for err: what a PublicError says,
// else a generic phrase that leaks nothing.
func publicReason(err error) string {
	var pub *PublicError
	if errors.As(err, &pub) && pub.Reason != "" {
		return safeText(pub.Reason)
	}
	var ce *CommandError
	if errors.As(err, &ce) {
		return fmt.Sprintf("asterisk refused an agi command (%d)", ce.Reply.Code)
	}
	return "internal error"
}

// safeText keeps a reason printable and short: it may quote a script name
// from the wire, and must fit in one command line.
func safeText(s string) string {
	const max = 120
	b := make([]byte, 0, min(len(s), max))
	for i := 0; i < len(s) && len(b) < max; i++ {
		c := s[i]
		if c < 0x20 || c > 0x7e {
			c = '?'
		}
		b = append(b, c)
	}
	return string(b)
}

func (s *Server) newSession(conn net.Conn) *Session {
	buf, _ := s.buffers.Get().(*sessionBuffers)
	sess := &Session{
		conn:     conn,
		idle:     s.cfg.IdleTimeout,
		logger:   s.log,
		maxBlock: s.cfg.MaxHeaderBytes,
	}
	sess.cr.conn = conn
	if buf == nil {
		buf = &sessionBuffers{r: bufio.NewReaderSize(&sess.cr, s.cfg.MaxLineBytes)}
	} else {
		buf.r.Reset(&sess.cr)
	}
	sess.buf = buf
	sess.lr.r = buf.r
	sess.wbuf = buf.wbuf[:0]
	return sess
}

// release returns the session's buffers to the pool. A handler that kept
// its *Session past ServeAGI gets errSessionEnded instead of another call's
// buffers.
func (s *Server) release(sess *Session) {
	buf := sess.buf
	buf.wbuf = sess.wbuf[:0]
	buf.r.Reset(nil)
	sess.err = errSessionEnded
	sess.buf, sess.lr.r, sess.wbuf = nil, nil, nil
	s.buffers.Put(buf)
}

var errSessionEnded = errors.New("agi: session used after its handler returned")
