package agi

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"
)

// okSession runs one well-behaved session against the server: proof that
// whatever happened before did not hurt it.
func okSession(t *testing.T, addr string) {
	t.Helper()
	p := dialPeer(t, addr)
	p.send(testHeader("ok"))
	p.expect("SET VARIABLE OMNICC_DEST sales\n")
	p.send("200 result=1\n")
	p.expectClosed()
}

func okHandler(ctx context.Context, s *Session) error {
	return s.SetVariable("OMNICC_DEST", "sales")
}

func TestHostilePeers(t *testing.T) {
	r := NewRouter()
	r.HandleFunc("ok", okHandler)
	ts := startServer(t, Config{MaxLineBytes: 1024, HeaderTimeout: 200 * time.Millisecond}, r)

	tests := []struct {
		name    string
		send    string
		eof     bool   // half-close after sending
		wantLog string // what the server logs about it
	}{
		{"garbage bytes", "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\n\xff\xfe\x00", false, "no colon"},
		{"http request", "GET / HTTP/1.1\r\nHost: omnicc\r\n\r\n", false, "no colon"},
		{"endless line", "agi_network: " + strings.Repeat("A", 1<<20), false, "line too long"},
		{"missing agi_network_script", "agi_network: yes\nagi_request: agi://x/y\n\n", false, "no agi_network_script"},
		{"eof before the blank line", "agi_network: yes\nagi_network_script: ok\n", true, "unexpected EOF"},
		{"silence", "", false, "i/o timeout"},
		{"header trickling past HeaderTimeout", "agi_network: yes\n", false, "i/o timeout"},
		{"duplicate script", "agi_network_script: ok\nagi_network_script: admin\n\n", false, "sent twice"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := dialPeer(t, ts.addr)
			// The server may close while a big write is under way; the
			// write's outcome does not matter, the server's reaction does.
			p.conn.Write([]byte(tt.send))
			if tt.eof {
				p.conn.(*net.TCPConn).CloseWrite()
			}
			p.expectClosed()
			ts.logs.waitFor(t, tt.wantLog)
			okSession(t, ts.addr)
		})
	}
}

func TestUnknownScript(t *testing.T) {
	ts := startServer(t, Config{}, NewRouter())
	p := dialPeer(t, ts.addr)
	p.send(testHeader("nosuch?x=1"))
	p.expect("SET VARIABLE OMNICC_ERROR \"unknown script nosuch\"\n")
	p.send("200 result=1\n")
	p.expectClosed()
	ts.logs.waitFor(t, `msg="agi: unknown script"`)
}

func TestUnknownScriptNameIsSanitised(t *testing.T) {
	// The name comes from the wire; it must not break the command line or
	// make it too long for res_agi.
	ts := startServer(t, Config{}, NewRouter())
	p := dialPeer(t, ts.addr)
	name := "x\"y\\z\x01" + strings.Repeat("n", 500)
	p.send(testHeader(name))
	want := "SET VARIABLE OMNICC_ERROR \"unknown script x\\\"y\\\\z?" + strings.Repeat("n", 120-len("unknown script x\"y\\z?")) + "\"\n"
	p.expect(want)
	p.send("200 result=1\n")
	p.expectClosed()
}

func TestIdleTimeout(t *testing.T) {
	errc := make(chan error, 1)
	r := NewRouter()
	r.HandleFunc("wait", func(ctx context.Context, s *Session) error {
		_, err := s.Command("EXEC Dial PJSIP/alice,60")
		errc <- err
		return err
	})
	r.HandleFunc("ok", okHandler)
	ts := startServer(t, Config{IdleTimeout: 100 * time.Millisecond}, r)
	p := dialPeer(t, ts.addr)
	p.send(testHeader("wait"))
	p.expect("EXEC Dial PJSIP/alice,60\n")
	// Asterisk goes silent: no reply, no HANGUP.
	p.expectClosed()
	if err := <-errc; !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("handler got %v, want a deadline error", err)
	}
	ts.logs.waitFor(t, "handler failed")
	okSession(t, ts.addr)
}

func TestIdleTimeoutRestartsOnEveryRead(t *testing.T) {
	// A reply that trickles in slower, in total, than IdleTimeout but never
	// pauses that long must get through: the deadline measures silence, so
	// a long EXEC Dial is not cut. The margins (50 ms pauses against 1 s)
	// are wide so that a loaded machine cannot make this flaky.
	r := NewRouter()
	errc := make(chan error, 1)
	r.HandleFunc("dial", func(ctx context.Context, s *Session) error {
		reply, err := s.Exec("Dial", "PJSIP/alice,60")
		if err == nil && reply.Result != "0" {
			err = fmt.Errorf("result %q", reply.Result)
		}
		errc <- err
		return err
	})
	ts := startServer(t, Config{IdleTimeout: time.Second}, r)
	p := dialPeer(t, ts.addr)
	p.send(testHeader("dial"))
	p.expect("EXEC Dial PJSIP/alice,60\n")
	start := time.Now()
	for _, b := range []byte("200 result=0\n") {
		time.Sleep(50 * time.Millisecond)
		p.send(string(b))
	}
	// 13 bytes at one per 50 ms: only meaningful once the trickle outlasts
	// IdleTimeout, which it does unless the clock is odd.
	if time.Since(start) < time.Second/2 {
		t.Log("trickle was shorter than expected; the test proves less")
	}
	if err := <-errc; err != nil {
		t.Errorf("slow but live reply failed: %v", err)
	}
	p.expectClosed()
}

func TestHangupMidSession(t *testing.T) {
	errc := make(chan error, 1)
	r := NewRouter()
	r.HandleFunc("menu", func(ctx context.Context, s *Session) error {
		reply, err := s.Command("WAIT FOR DIGIT 15000")
		if err != nil || reply.Result != "-1" || !s.HungUp() {
			errc <- fmt.Errorf("WAIT FOR DIGIT = %+v, %v, hung up %v", reply, err, s.HungUp())
			return nil
		}
		err = s.SetVariable("OMNICC_DEST", "sales")
		errc <- err
		return err // ErrHangup: the server must not try OMNICC_ERROR
	})
	ts := startServer(t, Config{}, r)
	p := dialPeer(t, ts.addr)
	p.send(testHeader("menu"))
	p.expect("WAIT FOR DIGIT 15000\n")
	// The notice first, then the real reply, in separate writes.
	p.send("HANGUP\n")
	p.send("200 result=-1\n")
	if err := <-errc; !errors.Is(err, ErrHangup) {
		t.Fatalf("handler: %v, want ErrHangup on the command after hang-up", err)
	}
	p.expectClosed()
	ts.logs.waitFor(t, "session ended by hang-up")
}

func TestFailedSessionsSetOmniccError(t *testing.T) {
	r := NewRouter()
	r.HandleFunc("cmd", func(ctx context.Context, s *Session) error {
		_, err := s.Command("NOOP")
		return err
	})
	r.HandleFunc("public", func(ctx context.Context, s *Session) error {
		return &PublicError{Reason: "no route for DID 5551000", Err: errors.New("sql: no rows")}
	})
	r.HandleFunc("private", func(ctx context.Context, s *Session) error {
		return errors.New("dial tcp 10.0.0.5:3306: connection refused (user omnicc)")
	})
	ts := startServer(t, Config{}, r)

	tests := []struct {
		name    string
		script  string
		reply   string // Asterisk's answer to NOOP, if the handler sends it
		wantErr string // OMNICC_ERROR value; "" when none must be set
	}{
		{"510", "cmd", "510 Invalid or unknown command\n", "asterisk refused an agi command (510)"},
		{"520 block", "cmd", usageBlock, "asterisk refused an agi command (520)"},
		{"511 means a dead channel", "cmd", "511 Command Not Permitted on a dead channel or intercept routine\n", ""},
		{"public reason", "public", "", "no route for DID 5551000"},
		{"internal details stay in the log", "private", "", "internal error"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := dialPeer(t, ts.addr)
			p.send(testHeader(tt.script))
			if tt.reply != "" {
				p.expect("NOOP\n")
				p.send(tt.reply)
			}
			if tt.wantErr != "" {
				p.expect(fmt.Sprintf("SET VARIABLE OMNICC_ERROR %q\n", tt.wantErr))
				p.send("200 result=1\n")
			}
			p.expectClosed()
		})
	}
	ts.logs.waitFor(t, "connection refused (user omnicc)")
}

func TestSessionCap(t *testing.T) {
	entered := make(chan struct{}, 2)
	release := make(chan struct{})
	r := NewRouter()
	r.HandleFunc("hold", func(ctx context.Context, s *Session) error {
		entered <- struct{}{}
		<-release
		return nil
	})
	r.HandleFunc("ok", okHandler)
	reg := prometheus.NewPedanticRegistry()
	ts := startServer(t, Config{MaxSessions: 2, Registerer: reg}, r)

	var held []*peer
	for range 2 {
		p := dialPeer(t, ts.addr)
		p.send(testHeader("hold"))
		<-entered
		held = append(held, p)
	}
	wantMetric(t, reg, "omnicc_agi_sessions_active", 2)
	wantMetric(t, reg, "omnicc_agi_sessions_max", 2)
	over := dialPeer(t, ts.addr)
	over.expectClosed() // closed before Asterisk gets to send a byte
	ts.logs.waitFor(t, "session cap reached")
	wantMetric(t, reg, "omnicc_agi_sessions_refused_total", 1)

	close(release)
	for _, p := range held {
		p.expectClosed()
	}
	// The slots are free again, at once: a session frees its slot before
	// the peer can see it close.
	wantMetric(t, reg, "omnicc_agi_sessions_active", 0)
	okSession(t, ts.addr)
	okSession(t, ts.addr)
	wantMetric(t, reg, "omnicc_agi_sessions_refused_total", 1)
}

// TestSessionCapNeverRefusesWithinIt is the soak's pattern at small scale:
// as many clients as the cap, each reconnecting the moment its previous
// session has closed, so every slot is always taken or about to be taken
// again. A client is never over the cap, so none may be refused — which
// happened when a session closed its socket before freeing its slot.
func TestSessionCapNeverRefusesWithinIt(t *testing.T) {
	const clients, rounds = 8, 400
	r := NewRouter()
	r.HandleFunc("ok", okHandler)
	reg := prometheus.NewPedanticRegistry()
	ts := startServer(t, Config{MaxSessions: clients, Registerer: reg}, r)

	var wg sync.WaitGroup
	errs := make(chan error, clients)
	for c := range clients {
		wg.Go(func() {
			for round := range rounds {
				if err := oneSession(ts.addr); err != nil {
					errs <- fmt.Errorf("client %d, session %d: %w", c, round, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	wantMetric(t, reg, "omnicc_agi_sessions_refused_total", 0)
}

// oneSession is okSession for a client goroutine: it returns what went
// wrong instead of failing the test, and returns only once the server has
// closed the connection.
func oneSession(addr string) error {
	conn, err := net.DialTimeout("tcp", addr, waitLimit)
	if err != nil {
		return err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(waitLimit))
	if _, err := conn.Write([]byte(testHeader("ok"))); err != nil {
		return err
	}
	br := bufio.NewReader(conn)
	line, err := br.ReadString('\n')
	if err != nil {
		if isClosed(err) {
			return errors.New("refused: closed before any command")
		}
		return err
	}
	if line != "SET VARIABLE OMNICC_DEST sales\n" {
		return fmt.Errorf("server sent %q", line)
	}
	if _, err := conn.Write([]byte("200 result=1\n")); err != nil {
		return err
	}
	if line, err := br.ReadString('\n'); line != "" || !isClosed(err) {
		return fmt.Errorf("not closed after the session: %q, %v", line, err)
	}
	return nil
}

// wantMetric checks the value of the unlabelled metric name in reg.
func wantMetric(t *testing.T, reg prometheus.Gatherer, name string, want float64) {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		m := f.GetMetric()[0]
		got := m.GetCounter().GetValue() + m.GetGauge().GetValue()
		if got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
		return
	}
	t.Errorf("%s is not registered", name)
}

func TestMetricsRegisterOncePerRegistry(t *testing.T) {
	reg := prometheus.NewRegistry()
	cfg := Config{Addr: "127.0.0.1:0", Registerer: reg}
	if _, err := NewServer(cfg, NewRouter()); err != nil {
		t.Fatal(err)
	}
	_, err := NewServer(cfg, NewRouter())
	if err == nil || !strings.Contains(err.Error(), "Config.Registerer") {
		t.Fatalf("second server on the same registry: err = %v, want one naming Config.Registerer", err)
	}
}

func TestGracefulDrain(t *testing.T) {
	defer goleak.VerifyNone(t)
	got := make(chan error, 1)
	r := NewRouter()
	r.HandleFunc("dial", func(ctx context.Context, s *Session) error {
		_, err := s.Exec("Dial", "PJSIP/alice,60")
		got <- err
		return err
	})
	ts := startServer(t, Config{DrainTimeout: time.Minute}, r)
	p := dialPeer(t, ts.addr)
	p.send(testHeader("dial"))
	p.expect("EXEC Dial PJSIP/alice,60\n")

	ts.cancel()
	ts.logs.waitFor(t, "draining sessions")
	// No new calls are taken during the drain.
	if c, err := net.DialTimeout("tcp", ts.addr, waitLimit); err == nil {
		c.SetReadDeadline(time.Now().Add(waitLimit))
		n, rerr := c.Read(make([]byte, 1))
		c.Close()
		if n != 0 || !isClosed(rerr) {
			t.Errorf("a new connection during the drain was served: %d bytes, %v", n, rerr)
		}
	}
	select {
	case err := <-ts.done:
		t.Fatalf("Run returned (%v) with a session in flight", err)
	default:
	}
	// The call in flight finishes normally.
	p.send("200 result=0\n")
	if err := <-got; err != nil {
		t.Errorf("session in flight failed during the drain: %v", err)
	}
	p.expectClosed()
	ts.stop(t)
}

func TestDrainDeadlineClosesSessions(t *testing.T) {
	defer goleak.VerifyNone(t)
	got := make(chan error, 1)
	r := NewRouter()
	r.HandleFunc("dial", func(ctx context.Context, s *Session) error {
		_, err := s.Exec("Dial", "PJSIP/alice,60")
		got <- errors.Join(err, ctx.Err())
		return err
	})
	ts := startServer(t, Config{DrainTimeout: 50 * time.Millisecond}, r)
	p := dialPeer(t, ts.addr)
	p.send(testHeader("dial"))
	p.expect("EXEC Dial PJSIP/alice,60\n")
	ts.cancel()
	// The peer never answers; the drain deadline ends the session.
	p.expectClosed()
	err := <-got
	if !errors.Is(err, net.ErrClosed) || !errors.Is(err, context.Canceled) {
		t.Errorf("handler got %v, want a closed connection and a cancelled context", err)
	}
	ts.stop(t)
	ts.logs.waitFor(t, "drain deadline passed")
}

func TestHandlerPanic(t *testing.T) {
	defer goleak.VerifyNone(t)
	inFlight := make(chan struct{})
	r := NewRouter()
	r.HandleFunc("boom", func(ctx context.Context, s *Session) error {
		var m map[string]int
		m["x"]++ // nil map write
		return nil
	})
	r.HandleFunc("long", func(ctx context.Context, s *Session) error {
		close(inFlight)
		return s.SetVariable("OMNICC_DEST", "sales")
	})
	r.HandleFunc("ok", okHandler)
	ts := startServer(t, Config{}, r)

	// A session in flight on another goroutine while one panics.
	long := dialPeer(t, ts.addr)
	long.send(testHeader("long"))
	<-inFlight

	p := dialPeer(t, ts.addr)
	p.send(testHeader("boom"))
	p.expect("SET VARIABLE OMNICC_ERROR \"internal error\"\n")
	p.send("200 result=1\n")
	p.expectClosed()
	ts.logs.waitFor(t, "handler panicked")
	ts.logs.waitFor(t, "assignment to entry in nil map")

	long.expect("SET VARIABLE OMNICC_DEST sales\n")
	long.send("200 result=1\n")
	long.expectClosed()
	okSession(t, ts.addr)
	ts.stop(t)
}

func TestManyConcurrentSessions(t *testing.T) {
	// Sessions run side by side, each getting its own replies.
	r := NewRouter()
	r.HandleFunc("echo", func(ctx context.Context, s *Session) error {
		v, _, err := s.GetVariable("CALLERID(num)")
		if err != nil {
			return err
		}
		return s.SetVariable("OMNICC_DEST", v)
	})
	ts := startServer(t, Config{}, r)
	var wg sync.WaitGroup
	errs := make(chan error, 50)
	for i := range 50 {
		wg.Go(func() {
			conn, err := net.DialTimeout("tcp", ts.addr, waitLimit)
			if err != nil {
				errs <- err
				return
			}
			defer conn.Close()
			conn.SetDeadline(time.Now().Add(waitLimit))
			p := &peer{t: t, conn: conn, r: bufio.NewReader(conn)}
			if _, err := conn.Write([]byte(testHeader("echo"))); err != nil {
				errs <- err
				return
			}
			num := fmt.Sprintf("555%04d", i)
			steps := []struct{ want, reply string }{
				{"GET VARIABLE CALLERID(num)\n", "200 result=1 (" + num + ")\n"},
				{"SET VARIABLE OMNICC_DEST " + num + "\n", "200 result=1\n"},
			}
			for _, st := range steps {
				line, err := p.readLine()
				if err != nil || line != st.want {
					errs <- fmt.Errorf("session %d: got %q, %v; want %q", i, line, err, st.want)
					return
				}
				conn.Write([]byte(st.reply))
			}
			if line, err := p.readLine(); line != "" || !isClosed(err) {
				errs <- fmt.Errorf("session %d: not closed: %q, %v", i, line, err)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestRunTwiceAndListenErrors(t *testing.T) {
	srv, err := NewServer(Config{Addr: "127.0.0.1:-1"}, NewRouter())
	if err != nil {
		t.Fatal(err)
	}
	err = srv.Run(context.Background())
	if err == nil || !strings.Contains(err.Error(), "OMNICC_AGI_ADDR") {
		t.Errorf("Run on a bad address: %v, want an error naming OMNICC_AGI_ADDR", err)
	}
	if err := srv.Run(context.Background()); err == nil {
		t.Error("second Run succeeded")
	}

	// Listening on Addr (no Listener given) works and reports the address.
	srv, err = NewServer(Config{Addr: "127.0.0.1:0"}, NewRouter())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	for srv.Addr() == nil {
		time.Sleep(time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run: %v", err)
	}
}

// flakyListener fails its first Accepts the way a process out of file
// descriptors does.
type flakyListener struct {
	net.Listener
	failures atomic.Int32
}

func (l *flakyListener) Accept() (net.Conn, error) {
	if l.failures.Add(-1) >= 0 {
		return nil, &net.OpError{Op: "accept", Net: "tcp", Err: os.NewSyscallError("accept4", syscall.EMFILE)}
	}
	return l.Listener.Accept()
}

func TestAcceptErrorsAreRetried(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	fl := &flakyListener{Listener: ln}
	fl.failures.Store(3)
	logs := newLogBuffer()
	r := NewRouter()
	r.HandleFunc("ok", okHandler)
	srv, err := NewServer(Config{Listener: fl, Logger: slog.New(slog.NewTextHandler(logs, nil))}, r)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	okSession(t, ln.Addr().String())
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run: %v", err)
	}
	if !strings.Contains(logs.String(), "too many open files") {
		t.Errorf("accept failures not logged:\n%s", logs)
	}
}
