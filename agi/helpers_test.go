package agi

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	// The session benchmarks re-execute this binary as their fake Asterisk.
	if params := os.Getenv(benchClientEnv); params != "" {
		os.Exit(benchClientMain(params))
	}
	goleak.VerifyTestMain(m)
}

// waitLimit bounds every wait in these tests. It is a hang guard, not a
// performance assertion: the events waited for happen in milliseconds.
const waitLimit = 10 * time.Second

// fakeConn is a net.Conn for session unit tests: each Read returns the next
// scripted chunk (so tests choose exactly what arrives together), writes
// are recorded.
type fakeConn struct {
	mu      sync.Mutex
	chunks  []string
	written bytes.Buffer
}

func (c *fakeConn) Read(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.chunks) == 0 {
		return 0, io.EOF
	}
	n := copy(p, c.chunks[0])
	if n < len(c.chunks[0]) {
		c.chunks[0] = c.chunks[0][n:]
	} else {
		c.chunks = c.chunks[1:]
	}
	return n, nil
}

func (c *fakeConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.written.Write(p)
}

func (c *fakeConn) Written() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.written.String()
}

func (c *fakeConn) Close() error        { return nil }
func (c *fakeConn) LocalAddr() net.Addr { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 4573} }
func (c *fakeConn) RemoteAddr() net.Addr {
	return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 50000}
}
func (c *fakeConn) SetDeadline(time.Time) error      { return nil }
func (c *fakeConn) SetReadDeadline(time.Time) error  { return nil }
func (c *fakeConn) SetWriteDeadline(time.Time) error { return nil }

// newTestSession returns a session past its header whose peer sends chunks.
func newTestSession(chunks ...string) (*Session, *fakeConn) {
	fc := &fakeConn{chunks: chunks}
	s := &Session{
		conn:     fc,
		idle:     time.Minute,
		logger:   slog.New(slog.DiscardHandler),
		maxBlock: 4096,
		req:      &Request{Script: "test"},
	}
	s.cr = connReader{conn: fc, idle: time.Minute}
	s.lr.r = bufio.NewReaderSize(&s.cr, 512)
	return s, fc
}

// logBuffer collects a server's log output for assertions.
type logBuffer struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	changed chan struct{}
}

func newLogBuffer() *logBuffer { return &logBuffer{changed: make(chan struct{})} }

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	close(l.changed)
	l.changed = make(chan struct{})
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// waitFor waits until the log holds substr.
func (l *logBuffer) waitFor(t *testing.T, substr string) {
	t.Helper()
	deadline := time.After(waitLimit)
	for {
		l.mu.Lock()
		found, changed := strings.Contains(l.buf.String(), substr), l.changed
		l.mu.Unlock()
		if found {
			return
		}
		select {
		case <-changed:
		case <-deadline:
			t.Fatalf("log never said %q; log:\n%s", substr, l.String())
		}
	}
}

type testServer struct {
	srv    *Server
	addr   string
	logs   *logBuffer
	cancel context.CancelFunc
	done   chan error
}

// startServer runs a server on 127.0.0.1:0 until the test ends, and fails
// the test if Run does not return cleanly.
func startServer(t *testing.T, cfg Config, h Handler) *testServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	logs := newLogBuffer()
	cfg.Listener = ln
	cfg.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	srv, err := NewServer(cfg, h)
	if err != nil {
		ln.Close()
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ts := &testServer{srv: srv, addr: ln.Addr().String(), logs: logs, cancel: cancel, done: make(chan error, 1)}
	go func() { ts.done <- srv.Run(ctx) }()
	t.Cleanup(func() {
		ts.stop(t)
		if t.Failed() || os.Getenv("AGI_TEST_LOG") != "" {
			t.Logf("server log:\n%s", logs)
		}
	})
	return ts
}

// stop cancels the server and waits for Run; safe to call twice.
func (ts *testServer) stop(t *testing.T) {
	t.Helper()
	ts.cancel()
	select {
	case err, ok := <-ts.done:
		if ok && err != nil {
			t.Errorf("Run returned %v", err)
		}
		if ok {
			close(ts.done)
		}
	case <-time.After(waitLimit):
		t.Fatal("Run did not return after cancel")
	}
}

// peer is a fake Asterisk on the far end of a real TCP connection.
type peer struct {
	t    *testing.T
	conn net.Conn
	r    *bufio.Reader
}

func dialPeer(t *testing.T, addr string) *peer {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, waitLimit)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return &peer{t: t, conn: conn, r: bufio.NewReader(conn)}
}

func (p *peer) send(s string) {
	p.t.Helper()
	if _, err := io.WriteString(p.conn, s); err != nil {
		p.t.Fatalf("peer write %q: %v", s, err)
	}
}

// readLine returns the next line from the server, "\n" included.
func (p *peer) readLine() (string, error) {
	p.conn.SetReadDeadline(time.Now().Add(waitLimit))
	return p.r.ReadString('\n')
}

func (p *peer) expect(want string) {
	p.t.Helper()
	got, err := p.readLine()
	if err != nil {
		p.t.Fatalf("waiting for %q: %v (got %q)", want, err, got)
	}
	if got != want {
		p.t.Fatalf("server sent %q, want %q", got, want)
	}
}

// expectClosed checks that the server closes without sending anything more.
func (p *peer) expectClosed() {
	p.t.Helper()
	got, err := p.readLine()
	if got != "" || !isClosed(err) {
		p.t.Fatalf("want the server to close the connection; got %q, %v", got, err)
	}
}

// isClosed accepts a reset as a close: the server may close with our
// unread bytes (a HANGUP notice, a hostile header) in its buffer, and then
// the kernel answers with RST rather than FIN.
func isClosed(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET)
}

// headerLines is a real Asterisk 22 header (connection 1 of
// testdata/fastagi-session.txt) with the script and arguments left out.
var headerLines = []string{
	"agi_network: yes",
	"agi_network_script: %SCRIPT%",
	"agi_request: agi://127.0.0.1:4573/%SCRIPT%",
	"agi_channel: Local/100@route-test-00000002;2",
	"agi_language: en",
	"agi_type: Local",
	"agi_uniqueid: 1795277170.120",
	"agi_version: 22.10.1",
	"agi_callerid: 5551234",
	"agi_calleridname: Test Caller",
	"agi_callingpres: 0",
	"agi_callingani2: 0",
	"agi_callington: 0",
	"agi_callingtns: 0",
	"agi_dnid: unknown",
	"agi_rdnis: unknown",
	"agi_context: route-test",
	"agi_extension: 100",
	"agi_priority: 4",
	"agi_enhanced: 0.0",
	"agi_accountcode: ",
	"agi_threadid: 140291969099456",
}

// testHeader is a full header block for script with the given arguments.
func testHeader(script string, args ...string) string {
	var b strings.Builder
	for _, l := range headerLines {
		b.WriteString(strings.ReplaceAll(l, "%SCRIPT%", script))
		b.WriteByte('\n')
	}
	for i, a := range args {
		b.WriteString("agi_arg_")
		b.WriteString(string(rune('1' + i)))
		b.WriteString(": ")
		b.WriteString(a)
		b.WriteByte('\n')
	}
	b.WriteByte('\n')
	return b.String()
}
