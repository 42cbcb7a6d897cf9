package amitest_test

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"go.uber.org/goleak"

	"omnicc/ami"
	"omnicc/ami/amitest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// peer is a raw manager client, to check the server speaks as Asterisk does.
type peer struct {
	t    *testing.T
	conn net.Conn
	r    *ami.Reader
}

func dial(t *testing.T, srv *amitest.Server) *peer {
	t.Helper()
	conn, err := net.Dial("tcp", srv.Addr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	p := &peer{t: t, conn: conn, r: ami.NewReader(bufio.NewReader(conn), ami.Limits{})}
	if b, err := p.r.ReadBanner(); err != nil || b+"\r\n" != amitest.Banner {
		t.Fatalf("banner %q, %v", b, err)
	}
	return p
}

func (p *peer) send(id string, action ami.Message) {
	p.t.Helper()
	buf, err := ami.AppendAction(nil, action, id)
	if err != nil {
		p.t.Fatal(err)
	}
	if _, err := p.conn.Write(buf); err != nil {
		p.t.Fatal(err)
	}
}

func (p *peer) read() ami.Message {
	p.t.Helper()
	m, err := p.r.ReadMessage()
	if err != nil {
		p.t.Fatal(err)
	}
	return m
}

func TestLoginAsAsterisk(t *testing.T) {
	srv := amitest.NewServer(t, "admin", "amipass")

	bad := dial(t, srv)
	bad.send("bad-1", ami.NewAction("Login", "Username", "admin", "Secret", "wrong"))
	if m := bad.read(); m.Get("Response") != "Error" || m.Get("Message") != "Authentication failed" || m.ActionID() != "bad-1" {
		t.Fatalf("failed login answer: %v", m)
	}
	if _, err := bad.r.ReadMessage(); !errors.Is(err, io.EOF) {
		t.Fatalf("after a failed login the connection must close, got %v", err)
	}

	p := dial(t, srv)
	p.send("x-1", ami.NewAction("Ping"))
	if m := p.read(); m.Get("Message") != "Permission denied" {
		t.Fatalf("action before login: %v", m)
	}
	p.send("x-2", ami.NewAction("Login", "Username", "admin", "Secret", "amipass", "Events", "on"))
	if m := p.read(); m.Get("Response") != "Success" || m.Get("Message") != "Authentication accepted" || m.ActionID() != "x-2" {
		t.Fatalf("login answer: %v", m)
	}
	if m := p.read(); m.Event() != "FullyBooted" {
		t.Fatalf("after login: %v", m)
	}
	p.send("x-3", ami.NewAction("NoSuchAction"))
	if m := p.read(); m.Get("Message") != "Invalid/unknown command: NoSuchAction. Use Action: ListCommands to show available commands." {
		t.Fatalf("unknown action: %v", m)
	}
	p.send("x-4", ami.NewAction("Logoff"))
	if m := p.read(); m.Get("Response") != "Goodbye" {
		t.Fatalf("logoff: %v", m)
	}
	if srv.Logins() != 1 || len(srv.Actions("")) != 5 || len(srv.Actions("login")) != 2 {
		t.Fatalf("recorded %d logins, actions %v", srv.Logins(), srv.Actions(""))
	}
}

// Replies from a capture are replayed with the caller's ActionID, wherever
// the capture put it (last in QueueMember items).
func TestReplyFromCapture(t *testing.T) {
	srv := amitest.NewServer(t, "admin", "amipass")
	srv.ReplyFrom(amitest.LoadCapture(t, amitest.Actions))
	p := dial(t, srv)
	p.send("l", ami.NewAction("Login", "Username", "admin", "Secret", "amipass", "Events", "off"))
	p.read()
	p.send("mine-7", ami.NewAction("QueueStatus"))
	want := []string{"", "QueueParams", "QueueMember", "QueueStatusComplete"}
	for i, ev := range want {
		m := p.read()
		if m.Event() != ev || m.ActionID() != "mine-7" {
			t.Fatalf("message %d: got %v", i, m)
		}
	}
	srv.Push(ami.NewMessage("Event", "Hangup"), ami.NewMessage("Response", "Success", "ActionID", "late"))
	if m := p.read(); m.ActionID() != "late" {
		t.Fatalf("Events: off must not receive events: %v", m)
	}
}

func TestDropAndRestart(t *testing.T) {
	srv := amitest.NewServer(t, "admin", "amipass")
	login := func() *peer {
		p := dial(t, srv)
		p.send("l", ami.NewAction("Login", "Username", "admin", "Secret", "amipass"))
		p.read()
		p.read() // FullyBooted
		return p
	}
	p := login()
	srv.Drop()
	if _, err := p.r.ReadMessage(); err == nil {
		t.Fatal("connection survived Drop")
	}
	p = login()
	srv.Restart()
	if _, err := p.r.ReadMessage(); err == nil {
		t.Fatal("connection survived Restart")
	}
	login()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.WaitLogins(ctx, 3); err != nil {
		t.Fatal(err)
	}
}
