// Package amitest is an Asterisk Manager Interface server for tests: it
// speaks the AMI over real TCP the way Asterisk 22 does, replays captured
// traffic, answers scripted responses and records every action it receives.
//
// A typical test:
//
//	srv := amitest.NewServer(t, "omnicc", "s3cret")
//	srv.ReplyFrom(amitest.LoadCapture(t, amitest.Actions)) // QueueStatus, CoreShowChannels… as captured
//	srv.Handle("QueuePause", amitest.Reply(amitest.Error("Interface not found")))
//	// … point an ami.Client at srv.Addr() …
//	srv.WaitLogins(ctx, 1)
//	srv.Push(events...)   // events as Asterisk would send them
//	srv.Drop()            // cut every connection mid-stream
//	srv.Restart()         // an Asterisk restart: listener down, then up
//	got := srv.Actions("QueueAdd")
package amitest

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"omnicc/ami"
)

// Banner is what Asterisk 22 sends on connect: one line, no blank line after.
const Banner = "Asterisk Call Manager/11.0.0\r\n"

// Handler answers one action with the messages to send back: usually a
// Response, maybe followed by list items and a Complete event. Every
// ActionID field in them is set to the action's, and one is added to each
// Response that has none; give list items an empty ActionID field to have it
// filled (and place it: Asterisk puts it last in QueueMember). Returning nil sends nothing (an action Asterisk
// never answers). Handlers may run concurrently, one per connection.
type Handler func(action ami.Message) []ami.Message

// Reply returns a Handler that always answers msgs.
func Reply(msgs ...ami.Message) Handler {
	return func(ami.Message) []ami.Message { return msgs }
}

// NoReply never answers: for timeouts and missed pongs.
func NoReply(ami.Message) []ami.Message { return nil }

// Success is `Response: Success` followed by the key/value pairs.
func Success(kv ...string) ami.Message {
	return ami.NewMessage(append([]string{"Response", "Success"}, kv...)...)
}

// Error is `Response: Error` with Asterisk's Message, as for a QueuePause
// of an unknown interface ("Interface not found").
func Error(message string) ami.Message {
	return ami.NewMessage("Response", "Error", "Message", message)
}

// Server is a fake Asterisk manager listening on 127.0.0.1.
type Server struct {
	tb testing.TB

	mu       sync.Mutex
	username string
	secret   string
	ln       net.Listener
	addr     string
	conns    map[*serverConn]struct{}
	handlers map[string]Handler
	scripted map[string][][]ami.Message
	actions  []ami.Message
	logins   int
	booting  bool          // no FullyBooted at login: Asterisk is still loading modules
	changed  chan struct{} // closed and replaced whenever actions or logins change
	closed   bool

	wg sync.WaitGroup
}

// NewServer starts a server on 127.0.0.1:0 that accepts username/secret, and
// stops it when the test ends.
func NewServer(tb testing.TB, username, secret string) *Server {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("amitest: listen: %v", err)
	}
	s := &Server{
		tb:       tb,
		username: username,
		secret:   secret,
		ln:       ln,
		addr:     ln.Addr().String(),
		conns:    make(map[*serverConn]struct{}),
		handlers: make(map[string]Handler),
		scripted: make(map[string][][]ami.Message),
		changed:  make(chan struct{}),
	}
	s.wg.Go(func() { s.accept(ln) })
	tb.Cleanup(s.Close)
	return s
}

// NewPipeServer is a Server reached through in-memory connections
// (net.Pipe) instead of a TCP port: set the client's Config.Dial to its Dial.
// Everything it runs can live in a testing/synctest bubble, so tests of
// timeouts and keepalives run on the bubble's fake clock; build it inside
// the bubble.
func NewPipeServer(tb testing.TB, username, secret string) *Server {
	tb.Helper()
	s := &Server{
		tb:       tb,
		username: username,
		secret:   secret,
		addr:     "amitest.pipe:5038",
		conns:    make(map[*serverConn]struct{}),
		handlers: make(map[string]Handler),
		scripted: make(map[string][][]ami.Message),
		changed:  make(chan struct{}),
	}
	tb.Cleanup(s.Close)
	return s
}

// Dial connects to a NewPipeServer: a Config.Dial.
func (s *Server) Dial(ctx context.Context, _, _ string) (net.Conn, error) {
	client, server := net.Pipe()
	if !s.serveConn(server) {
		client.Close()
		return nil, errors.New("amitest: server closed")
	}
	return client, nil
}

// Booting makes the server behave like an Asterisk that accepts manager
// logins while it still loads its modules: no FullyBooted at login. Booted
// ends that and sends FullyBooted to every session, as Asterisk does when it
// finishes booting.
func (s *Server) Booting() {
	s.mu.Lock()
	s.booting = true
	s.mu.Unlock()
}

// Booted: see Booting.
func (s *Server) Booted() {
	s.mu.Lock()
	s.booting = false
	s.mu.Unlock()
	s.Push(FullyBooted())
}

// FullyBooted is the event Asterisk sends when it has booted (at login when
// it already has).
func FullyBooted() ami.Message {
	return ami.NewMessage("Event", "FullyBooted", "Privilege", "system,all",
		"Uptime", "11", "LastReload", "11", "Status", "Fully Booted")
}

// Addr is host:port to connect to; it stays the same across Restart.
func (s *Server) Addr() string { return s.addr }

// SetCredentials changes what Login accepts from now on.
func (s *Server) SetCredentials(username, secret string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.username, s.secret = username, secret
}

// Handle scripts the answer to an action (case-insensitive name). It wins
// over ReplyFrom and the built-in answers (Ping's Pong, unknown-action
// errors); Login and Logoff are always handled by the server itself.
func (s *Server) Handle(action string, h Handler) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.handlers[strings.ToLower(action)] = h
}

// ReplyFrom scripts every action found in a capture with what Asterisk
// answered it there. An action seen several times gets its answers in
// capture order, then the last one again.
func (s *Server) ReplyFrom(t *Transcript) {
	replies, err := t.replies()
	if err != nil {
		s.tb.Fatalf("amitest: %v", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for name, r := range replies {
		s.scripted[name] = append(s.scripted[name], r...)
	}
}

// Actions returns the actions received so far, on every connection and in
// order, Login included; name filters by action (case-insensitive), "" is all.
func (s *Server) Actions(name string) []ami.Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.actionsLocked(name)
}

func (s *Server) actionsLocked(name string) []ami.Message {
	var out []ami.Message
	for _, a := range s.actions {
		if name == "" || strings.EqualFold(a.Get("Action"), name) {
			out = append(out, a)
		}
	}
	return out
}

// WaitActions waits until at least n actions named name were received and
// returns them all.
func (s *Server) WaitActions(ctx context.Context, name string, n int) ([]ami.Message, error) {
	for {
		s.mu.Lock()
		got := s.actionsLocked(name)
		ch := s.changed
		s.mu.Unlock()
		if len(got) >= n {
			return got, nil
		}
		select {
		case <-ctx.Done():
			return got, ctx.Err()
		case <-ch:
		}
	}
}

// Logins is the number of successful logins so far.
func (s *Server) Logins() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.logins
}

// WaitLogins waits until at least n logins succeeded.
func (s *Server) WaitLogins(ctx context.Context, n int) error {
	for {
		s.mu.Lock()
		got, ch := s.logins, s.changed
		s.mu.Unlock()
		if got >= n {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-ch:
		}
	}
}

// Push sends messages to every logged-in connection, as Asterisk would:
// events only where the login asked for them (Events: on), anything else to
// all.
func (s *Server) Push(msgs ...ami.Message) {
	var all, noEvents []byte
	for _, m := range msgs {
		b, err := ami.AppendMessage(nil, m)
		if err != nil {
			s.tb.Errorf("amitest: Push: %v", err)
			return
		}
		all = append(all, b...)
		if !m.IsEvent() {
			noEvents = append(noEvents, b...)
		}
	}
	for _, c := range s.liveConns() {
		if c.wantsEvents() {
			c.write(all)
		} else if len(noEvents) > 0 {
			c.write(noEvents)
		}
	}
}

// PushRaw writes bytes as they are to every logged-in connection: half a
// message before a Drop, garbage for a hostile peer.
func (s *Server) PushRaw(b []byte) {
	for _, c := range s.liveConns() {
		c.write(b)
	}
}

func (s *Server) liveConns() []*serverConn {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*serverConn
	for c := range s.conns {
		if c.isAuthed() {
			out = append(out, c)
		}
	}
	return out
}

// Drop cuts every connection at once, mid-stream, as a crash or a network
// failure does. The server keeps listening.
func (s *Server) Drop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		c.conn.Close()
	}
}

// Restart simulates an Asterisk restart: connections are cut, the port
// refuses connections for a moment, then listens again on the same address.
func (s *Server) Restart() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	if s.ln == nil { // a pipe server: cutting the connections is the restart
		for c := range s.conns {
			c.conn.Close()
		}
		s.mu.Unlock()
		return
	}
	s.ln.Close()
	for c := range s.conns {
		c.conn.Close()
	}
	s.mu.Unlock()
	time.Sleep(20 * time.Millisecond)
	ln, err := net.Listen("tcp", s.addr)
	if err != nil {
		s.tb.Errorf("amitest: listen again on %s: %v", s.addr, err)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		ln.Close()
		return
	}
	s.ln = ln
	s.wg.Go(func() { s.accept(ln) })
}

// Close stops the server and waits for its goroutines. NewServer registers
// it with the test's Cleanup; calling it earlier is fine.
func (s *Server) Close() {
	s.mu.Lock()
	if !s.closed {
		s.closed = true
		if s.ln != nil {
			s.ln.Close()
		}
		for c := range s.conns {
			c.conn.Close()
		}
	}
	s.mu.Unlock()
	s.wg.Wait()
}

func (s *Server) accept(ln net.Listener) {
	for {
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		if !s.serveConn(conn) {
			return
		}
	}
}

// serveConn serves conn in a goroutine of the server's; false when the
// server is closed (conn is closed then).
func (s *Server) serveConn(conn net.Conn) bool {
	c := &serverConn{conn: conn}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		conn.Close()
		return false
	}
	s.conns[c] = struct{}{}
	s.wg.Go(func() {
		defer func() {
			conn.Close()
			s.mu.Lock()
			delete(s.conns, c)
			s.mu.Unlock()
		}()
		s.serve(c)
	})
	s.mu.Unlock()
	return true
}

func (s *Server) notifyLocked() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// serve speaks one manager session: banner, Login, then actions.
func (s *Server) serve(c *serverConn) {
	c.write([]byte(Banner))
	r := ami.NewReader(c.conn, ami.Limits{})
	for {
		action, err := r.ReadMessage()
		if err != nil {
			return
		}
		name := action.Get("Action")
		s.mu.Lock()
		s.actions = append(s.actions, action)
		s.notifyLocked()
		user, secret := s.username, s.secret
		h := s.handlers[strings.ToLower(name)]
		var scripted []ami.Message
		if q := s.scripted[strings.ToLower(name)]; h == nil && len(q) > 0 {
			scripted = q[0]
			if len(q) > 1 {
				s.scripted[strings.ToLower(name)] = q[1:]
			}
		}
		s.mu.Unlock()

		switch {
		case strings.EqualFold(name, "Login"):
			if action.Get("Username") != user || action.Get("Secret") != secret {
				// Asterisk answers, then closes the connection.
				c.reply(action, ami.NewMessage("Response", "Error", "Message", "Authentication failed"))
				return
			}
			c.login(!strings.EqualFold(action.Get("Events"), "off"))
			s.mu.Lock()
			s.logins++
			s.notifyLocked()
			s.mu.Unlock()
			c.reply(action, ami.NewMessage("Response", "Success", "Message", "Authentication accepted"))
			s.mu.Lock()
			booting := s.booting
			s.mu.Unlock()
			if c.wantsEvents() && !booting {
				c.reply(ami.Message{}, FullyBooted())
			}
		case strings.EqualFold(name, "Logoff"):
			c.reply(action, ami.NewMessage("Response", "Goodbye", "Message", "Thanks for all the fish."))
			return
		case !c.isAuthed():
			c.reply(action, Error("Permission denied"))
		case h != nil:
			c.reply(action, h(action)...)
		case scripted != nil:
			c.reply(action, scripted...)
		case strings.EqualFold(name, "Ping"):
			c.reply(action, Success("Ping", "Pong", "Timestamp", "1795277386.054676"))
		default:
			c.reply(action, Error("Invalid/unknown command: "+name+". Use Action: ListCommands to show available commands."))
		}
	}
}

type serverConn struct {
	conn net.Conn

	mu     sync.Mutex // serialises writes and guards the flags
	authed bool
	events bool
}

func (c *serverConn) login(events bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.authed, c.events = true, events
}

func (c *serverConn) isAuthed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.authed
}

func (c *serverConn) wantsEvents() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.authed && c.events
}

func (c *serverConn) write(b []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	_ = c.conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
	_, _ = c.conn.Write(b)
}

// reply sends msgs answering action, with the action's ActionID stamped on
// every ActionID field, and added to responses that have none.
func (c *serverConn) reply(action ami.Message, msgs ...ami.Message) {
	id, hasID := action.Lookup("ActionID")
	var buf []byte
	for _, m := range msgs {
		if hasID {
			m = withActionID(m, id, m.IsResponse())
		}
		var err error
		if buf, err = ami.AppendMessage(buf, m); err != nil {
			return
		}
	}
	c.write(buf)
}

func withActionID(m ami.Message, id string, add bool) ami.Message {
	fields := m.Fields()
	found := false
	for i := range fields {
		if strings.EqualFold(fields[i].Key, "ActionID") {
			fields[i].Value = id
			found = true
		}
	}
	if !found && add {
		// After the first field, where Asterisk puts it in a Response.
		fields = append(fields[:1], append([]ami.Field{{Key: "ActionID", Value: id}}, fields[1:]...)...)
	}
	return ami.MessageFromFields(fields)
}
