package realtime

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"omnicc/store"
	"omnicc/storetest"
)

// logBuffer collects a server's log lines for assertions.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func (l *logBuffer) logger() *slog.Logger { return slog.New(slog.NewTextHandler(l, nil)) }

func startServer(t *testing.T, srv *Server) string {
	t.Helper()
	hs := httptest.NewServer(srv)
	t.Cleanup(hs.Close)
	return hs.URL + "/realtime"
}

type httpReply struct {
	status int
	body   string
	header http.Header
}

func call(t *testing.T, method, url, body string, mod ...func(*http.Request)) httpReply {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for _, m := range mod {
		m(req)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return httpReply{resp.StatusCode, string(b), resp.Header}
}

func post(t *testing.T, url, body string) httpReply {
	t.Helper()
	return call(t, http.MethodPost, url, body)
}

func mustExec(t *testing.T, db interface {
	ExecContext(context.Context, string, ...any) (sql.Result, error)
}, q string, args ...any) {
	t.Helper()
	if _, err := db.ExecContext(context.Background(), q, args...); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

func TestAllowed(t *testing.T) {
	s := &Server{allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128"), netip.MustParsePrefix("10.1.0.0/16")}}
	for remote, want := range map[string]bool{
		"127.0.0.1:5000":          true,
		"[::1]:5000":              true,
		"[::ffff:127.0.0.1]:5000": true, // an IPv4 peer on a dual-stack socket
		"10.1.2.3:5060":           true,
		"10.2.0.1:5060":           false,
		"[2001:db8::1]:80":        false,
		"garbage":                 false,
		"":                        false,
	} {
		if got := s.allowed(remote); got != want {
			t.Errorf("allowed(%q) = %v, want %v", remote, got, want)
		}
	}
}

func TestRefusals(t *testing.T) {
	db := storetest.SQLite(t)
	var logs logBuffer
	ctx := context.Background()

	// Only 10.0.0.0/8 may call: the test client on loopback is refused.
	far, err := NewServer(ctx, db, testOptions{Allow: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}, Logger: logs.logger()}.opts())
	if err != nil {
		t.Fatal(err)
	}
	farURL := startServer(t, far)
	if r := post(t, farURL+"/ps_endpoints/single", "id=a"); r.status != http.StatusForbidden || r.body != "" {
		t.Errorf("lookup from outside the allowlist: %d %q, want 403 and an empty body", r.status, r.body)
	}
	if r := post(t, farURL+"/ps_contacts/store", "id=a"); r.status != http.StatusForbidden || r.body != "-1\n" {
		t.Errorf("write from outside the allowlist: %d %q, want 403 and -1", r.status, r.body)
	}
	if !strings.Contains(logs.String(), "OMNICC_REALTIME_ALLOW") {
		t.Errorf("the refusal is not logged with the setting to change: %s", logs.String())
	}

	// Basic auth on, small bodies.
	srv, err := NewServer(ctx, db, testOptions{User: "asterisk", Password: "s3cret", MaxBodyBytes: 64, Logger: logs.logger()}.opts())
	if err != nil {
		t.Fatal(err)
	}
	url := startServer(t, srv)
	auth := func(u, p string) func(*http.Request) { return func(r *http.Request) { r.SetBasicAuth(u, p) } }
	ok := auth("asterisk", "s3cret")

	for _, tc := range []struct {
		name, method, path, body string
		mod                      []func(*http.Request)
		status                   int
		reply                    string
	}{
		{"no credentials", "POST", "/ps_endpoints/single", "id=a", nil, 401, ""},
		{"wrong password", "POST", "/ps_contacts/destroy", "id=a", []func(*http.Request){auth("asterisk", "nope")}, 401, "-1\n"},
		{"wrong user", "POST", "/ps_endpoints/single", "id=a", []func(*http.Request){auth("root", "s3cret")}, 401, ""},
		{"right credentials", "POST", "/ps_endpoints/single", "id=a", []func(*http.Request){ok}, 200, ""},
		{"body over the limit", "POST", "/ps_contacts/store", "id=" + strings.Repeat("x", 100), []func(*http.Request){ok}, 413, "-1\n"},
		{"write with GET", "GET", "/ps_contacts/destroy?id=a", "", []func(*http.Request){ok}, 405, "-1\n"},
		{"unknown verb", "POST", "/ps_endpoints/select", "id=a", []func(*http.Request){ok}, 404, ""},
		{"unknown family", "POST", "/users/single", "username=admin", []func(*http.Request){ok}, 404, ""},
		{"static table as a family", "POST", "/ast_config/multi", "id%20LIKE=%25", []func(*http.Request){ok}, 404, ""},
		{"derived family is read-only", "POST", "/ps_endpoints/store", "id=x", []func(*http.Request){ok}, 403, "-1\n"},
		{"unknown column", "POST", "/ps_endpoints/single", "password=x", []func(*http.Request){ok}, 400, ""},
		{"bad operator", "POST", "/ps_endpoints/multi", "id%3B%20DROP=x", []func(*http.Request){ok}, 400, ""},
		{"bad integer", "POST", "/queue_members/update?uniqueid=1", "paused=yes", []func(*http.Request){ok}, 400, "-1\n"},
		{"destroy without a match", "POST", "/ps_contacts/destroy", "&", []func(*http.Request){ok}, 400, "-1\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := call(t, tc.method, url+tc.path, tc.body, tc.mod...)
			if r.status != tc.status || (tc.status != 404 && r.body != tc.reply) {
				t.Errorf("%d %q, want %d %q", r.status, r.body, tc.status, tc.reply)
			}
			if tc.status == 401 && r.header.Get("WWW-Authenticate") == "" {
				t.Error("401 without WWW-Authenticate")
			}
		})
	}
}

// TestVerbs covers what the capture does not: queue_log in both of
// Asterisk's modes, require answers, voicemail's update2, pbx_realtime's
// escaped LIKE, static, and the counts of failed writes.
func TestVerbs(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		srv, err := NewServer(ctx, db, testOptions{}.opts())
		if err != nil {
			t.Fatal(err)
		}
		url := startServer(t, srv)
		mustExec(t, db, `INSERT INTO voicemail (context, mailbox, password, fullname) VALUES (?, ?, ?, ?)`, "omnicc", "1000", "1234", "Ann Smith")
		mustExec(t, db, `INSERT INTO extensions (context, exten, priority, app, appdata) VALUES (?, ?, ?, ?, ?)`, "omnicc-agents", "1000", 1, "Gosub", "omnicc-dial-agent,s,1(PJSIP/ann)")
		mustExec(t, db, `INSERT INTO extensions (context, exten, priority, app, appdata) VALUES (?, ?, ?, ?, ?)`, "omnicc-agents", "_1XXX", 1, "Hangup", "")
		mustExec(t, db, `INSERT INTO ps_endpoint_id_ips (id, endpoint, `+srv.build.quote("match")+`) VALUES (?, ?, ?)`, "trunk1", "trunk1", "10.0.0.1")

		for _, tc := range []struct {
			name, path, body, want string
		}{
			{"queue_log probe", "/queue_log/require", "time=datetime%3A26&data1=char%3A20&data2=char%3A20&data3=char%3A20&data4=char%3A20&data5=char%3A20", "0\n"},
			{"queue_member probe", "/queue_members/require", "paused=integer1%3A1&uniqueid=uinteger2%3A5&reason_paused=char%3A80", "0\n"},
			{"require a missing column", "/queue_members/require", "paused=integer1%3A1&nosuch=char%3A1", "-1\n"},
			{"queue_log adaptive", "/queue_log/store", "time=2026-11-21%2016%3A05%3A45.123456&callid=1795277388.25&queuename=sales&agent=Agent%20200&event=CONNECT&data1=0&data2=1795277389.27&data3=0&data4=&data5=", "1\n"},
			{"queue_log plain", "/queue_log/store", "time=2026-11-21%2016%3A05%3A46.000001&callid=NONE&queuename=sales&agent=Agent%20200&event=PAUSE&data=lunch%20break", "1\n"},
			{"voicemail password by update2", "/voicemail/update?&context=omniccmailbox=1000", "&password=4321", "1\n"},
			{"voicemail single", "/voicemail/single", "mailbox=1000&context=omnicc", "uniqueid=1&context=omnicc&mailbox=1000&password=4321&fullname=Ann%20Smith\n"},
			{"exact extension", "/extensions/single", "exten=1000&context=omnicc-agents&priority=1", "id=1&context=omnicc-agents&exten=1000&priority=1&app=Gosub&appdata=omnicc-dial-agent%2Cs%2C1%28PJSIP%2Fann%29\n"},
			{"pattern extensions only", "/extensions/multi", "exten%20LIKE=%5C_%25&context=omnicc-agents&priority=1", "id=2&context=omnicc-agents&exten=_1XXX&priority=1&app=Hangup&appdata=\n"},
			{"match column", "/ps_endpoint_id_ips/multi", "match%20LIKE=10.%25", "id=trunk1&endpoint=trunk1&match=10.0.0.1\n"},
			{"not found", "/ps_endpoints/single", "id=nobody", ""},
			{"no rows", "/ps_endpoints/multi", "id%20LIKE=%25", ""},
			{"contact", "/ps_contacts/store", "id=ann%3B%40abc&uri=sip%3Aann%40192.0.2.1%3A5060%3Btransport%3Dws&expiration_time=1795277265&endpoint=ann", "1\n"},
			{"same contact again", "/ps_contacts/store", "id=ann%3B%40abc&uri=sip%3Aann%40192.0.2.1", "-1\n"},
			{"contact with ; inside", "/ps_contacts/multi", "id%20LIKE=ann%3B%40%25", "id=ann%3B%40abc&uri=sip%3Aann%40192.0.2.1%3A5060%3Btransport%3Dws&expiration_time=1795277265&endpoint=ann\n"},
			{"update nothing matched", "/ps_contacts/update?id=nobody", "expiration_time=1", "0\n"},
			{"update same values counts the row", "/ps_contacts/update?id=ann%3B%40abc", "endpoint=ann", "1\n"},
			{"bad enum", "/ps_contacts/update?id=ann%3B%40abc", "prune_on_boot=maybe", "-1\n"},
			{"static unknown file", "/static/static?file=nosuch.conf", "", ""},
		} {
			t.Run(tc.name, func(t *testing.T) {
				r := post(t, url+tc.path, tc.body)
				if r.body != tc.want {
					t.Errorf("%d %q, want %q", r.status, r.body, tc.want)
				}
			})
		}

		// MySQL's VARCHAR(80) cannot hold 81 characters; SQLite's TEXT can.
		wantLong := "-1\n"
		if db.Dialect == store.SQLite {
			wantLong = "0\n"
		}
		if r := post(t, url+"/queue_members/require", "reason_paused=char%3A81"); r.body != wantLong {
			t.Errorf("require 81 characters of reason_paused: %q, want %q", r.body, wantLong)
		}

		var n int
		if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM queue_log WHERE queuename = 'sales' AND agent = 'Agent 200'`).Scan(&n); err != nil || n != 2 {
			t.Errorf("queue_log rows: %d %v", n, err)
		}
		var data1, data2 string
		if err := db.QueryRowContext(ctx, `SELECT data1, data2 FROM queue_log WHERE event = 'CONNECT'`).Scan(&data1, &data2); err != nil || data1 != "0" || data2 != "1795277389.27" {
			t.Errorf("queue_log CONNECT: %q %q %v", data1, data2, err)
		}
	})
}

// flakyDB makes the database fail on demand the way an unreachable server
// does, below the server and above database/sql.
type flakyDB struct {
	sqlDB
	down atomic.Bool
}

var errRefused = errors.New("dial tcp 127.0.0.1:3306: connect: connection refused")

func (f *flakyDB) QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	if f.down.Load() {
		return nil, errRefused
	}
	return f.sqlDB.QueryContext(ctx, q, args...)
}

func (f *flakyDB) ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error) {
	if f.down.Load() {
		return nil, errRefused
	}
	return f.sqlDB.ExecContext(ctx, q, args...)
}

type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// TestDatabaseUnreachable: while the database is down, lookups Asterisk made
// before are answered with the last known rows and the log says so once;
// lookups never made get "not found" and writes -1; when the database is
// back, answers are fresh again and the log says that too.
func TestDatabaseUnreachable(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		mustExec(t, db, `INSERT INTO ps_endpoints (id, transport, context) VALUES (?, ?, ?)`, "ann", "transport-wss", "from-sip")
		flaky := &flakyDB{sqlDB: db}
		clock := &fakeClock{now: time.Unix(1795277000, 0)}
		var logs logBuffer
		srv, err := newServer(ctx, flaky, db.Dialect, testOptions{Logger: logs.logger(), Now: clock.Now, CacheTTL: time.Second}.opts())
		if err != nil {
			t.Fatal(err)
		}
		url := startServer(t, srv)
		const ann = "id=ann&transport=transport-wss&context=from-sip\n"
		if r := post(t, url+"/ps_endpoints/single", "id=ann"); r.body != ann {
			t.Fatalf("lookup: %q", r.body)
		}

		flaky.down.Store(true)
		clock.Add(time.Minute) // well past the TTL: only the stale copy is left
		for range 3 {
			if r := post(t, url+"/ps_endpoints/single", "id=ann"); r.status != 200 || r.body != ann {
				t.Errorf("lookup while down: %d %q, want the last known row", r.status, r.body)
			}
		}
		if r := post(t, url+"/ps_endpoints/single", "id=bob"); r.status != http.StatusServiceUnavailable || r.body != "" {
			t.Errorf("never-seen lookup while down: %d %q, want 503 and an empty body", r.status, r.body)
		}
		if r := post(t, url+"/ps_contacts/store", "id=ann%3B%40x&uri=sip%3Aann%40h"); r.status != http.StatusServiceUnavailable || r.body != "-1\n" {
			t.Errorf("write while down: %d %q, want 503 and -1", r.status, r.body)
		}
		if got := strings.Count(logs.String(), "serving the last known rows"); got != 1 {
			t.Errorf("the stale-rows warning was logged %d times, want once per outage:\n%s", got, logs.String())
		}

		flaky.down.Store(false)
		mustExec(t, db, `UPDATE ps_endpoints SET context = ? WHERE id = ?`, "agents", "ann")
		srv.Invalidate("ps_endpoints")
		if r := post(t, url+"/ps_endpoints/single", "id=ann"); r.body != "id=ann&transport=transport-wss&context=agents\n" {
			t.Errorf("lookup after recovery: %q", r.body)
		}
		if !strings.Contains(logs.String(), "database reachable again") {
			t.Errorf("recovery not logged:\n%s", logs.String())
		}
	})
}

func TestInvalidate(t *testing.T) {
	db := storetest.SQLite(t)
	srv, err := NewServer(context.Background(), db, testOptions{CacheTTL: time.Hour}.opts())
	if err != nil {
		t.Fatal(err)
	}
	url := startServer(t, srv)
	mustExec(t, db, `INSERT INTO queues (name, strategy) VALUES (?, ?)`, "sales", "ringall")
	if r := post(t, url+"/queues/single", "name=sales"); r.body != "name=sales&strategy=ringall\n" {
		t.Fatalf("%q", r.body)
	}
	// A change behind the server's back is not seen until the directory
	// hook says so...
	mustExec(t, db, `UPDATE queues SET strategy = ? WHERE name = ?`, "rrmemory", "sales")
	if r := post(t, url+"/queues/single", "name=sales"); r.body != "name=sales&strategy=ringall\n" {
		t.Fatalf("cache not used: %q", r.body)
	}
	srv.Invalidate("queues")
	if r := post(t, url+"/queues/single", "name=sales"); r.body != "name=sales&strategy=rrmemory\n" {
		t.Errorf("after Invalidate: %q", r.body)
	}
	// ...while a write through the server is seen at once (a REGISTER's
	// store then Asterisk's own lookup of the contacts).
	if r := post(t, url+"/ps_contacts/multi", "id%20LIKE=ann%3B%40%25"); r.body != "" {
		t.Fatalf("%q", r.body)
	}
	post(t, url+"/ps_contacts/store", "id=ann%3B%40x&uri=sip%3Aann%40h")
	if r := post(t, url+"/ps_contacts/multi", "id%20LIKE=ann%3B%40%25"); r.body != "id=ann%3B%40x&uri=sip%3Aann%40h\n" {
		t.Errorf("own write not seen: %q", r.body)
	}
}

func TestCacheGenerations(t *testing.T) {
	now := time.Unix(0, 0)
	c := newLookupCache(time.Minute, time.Hour, 2, func() time.Time { return now })
	gen := c.generation("t")
	c.invalidate("t") // a commit lands while the lookup is running
	c.put("t", "k", []byte("old"), gen)
	if _, ok := c.fresh("t", "k"); ok {
		t.Fatal("a reply read before an invalidation was cached as fresh")
	}
	if _, _, ok := c.stale("t", "k"); ok {
		t.Fatal("a reply read before an invalidation was kept at all")
	}
	gen = c.generation("t")
	c.put("t", "k", []byte("new"), gen)
	if b, ok := c.fresh("t", "k"); !ok || string(b) != "new" {
		t.Fatalf("fresh = %q %v", b, ok)
	}
	c.invalidate("t")
	if _, ok := c.fresh("t", "k"); ok {
		t.Error("fresh after invalidate")
	}
	if b, _, ok := c.stale("t", "k"); !ok || string(b) != "new" {
		t.Error("the last known reply is gone after invalidate")
	}
	// Bounded: a third key evicts.
	gen = c.generation("t")
	c.put("t", "a", []byte("a"), gen)
	c.put("t", "b", []byte("b"), gen)
	c.put("t", "c", []byte("c"), gen)
	if n := len(c.tables["t"].entries); n > 2 {
		t.Errorf("%d entries, bound is 2", n)
	}
}

// TestConcurrentLookups runs REGISTER-like traffic — lookups and contact
// writes from many goroutines — for the race detector, and checks that every
// reply is one a database state could give.
func TestConcurrentLookups(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		mustExec(t, db, `INSERT INTO ps_endpoints (id, context) VALUES (?, ?)`, "ann", "from-sip")
		srv, err := NewServer(context.Background(), db, testOptions{}.opts())
		if err != nil {
			t.Fatal(err)
		}
		url := startServer(t, srv)
		var wg sync.WaitGroup
		for g := range 8 {
			wg.Go(func() {
				for i := range 20 {
					if r := post(t, url+"/ps_endpoints/single", "id=ann"); r.body != "id=ann&context=from-sip\n" {
						t.Errorf("lookup: %q", r.body)
						return
					}
					if g%2 == 0 {
						id := "ann%3B%40" + string(rune('a'+g)) + string(rune('a'+i))
						if r := post(t, url+"/ps_contacts/store", "id="+id+"&uri=sip%3Aann%40h"); r.body != "1\n" {
							t.Errorf("store: %d %q", r.status, r.body)
							return
						}
					}
				}
			})
		}
		wg.Wait()
		r := post(t, url+"/ps_contacts/multi", "id%20LIKE=ann%3B%40%25")
		if n := strings.Count(r.body, "\n"); n != 80 {
			t.Errorf("%d contacts after the run, want 80", n)
		}
	})
}

// tcpProxy stands between omniccd and MariaDB so that a test can cut the
// network the way a database restart or a failover does.
type tcpProxy struct {
	target string
	addr   string

	mu    sync.Mutex
	ln    net.Listener
	conns []net.Conn
	wg    sync.WaitGroup
}

func (p *tcpProxy) start(t *testing.T) {
	t.Helper()
	addr := p.addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	p.mu.Lock()
	p.ln, p.addr = ln, ln.Addr().String()
	p.mu.Unlock()
	p.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			u, err := net.Dial("tcp", p.target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, u)
			p.mu.Unlock()
			p.wg.Go(func() { _, _ = io.Copy(u, c); u.Close() })
			p.wg.Go(func() { _, _ = io.Copy(c, u); c.Close() })
		}
	})
}

func (p *tcpProxy) stop() {
	p.mu.Lock()
	p.ln.Close()
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
	p.mu.Unlock()
	p.wg.Wait()
}

// TestMariaDBCutOff cuts the TCP path to a real MariaDB: lookups go on from
// the last known rows, and once the path is back the pool reconnects by
// itself.
func TestMariaDBCutOff(t *testing.T) {
	dsn := storetest.MariaDBDSN(t)
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		t.Fatal(err)
	}
	proxy := &tcpProxy{target: cfg.Addr}
	proxy.start(t)
	defer proxy.stop()
	cfg.Addr = proxy.addr
	ctx := context.Background()
	db, err := store.Open(ctx, store.Options{DSN: cfg.FormatDSN()})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	mustExec(t, db, `INSERT INTO ps_auths (id, auth_type, username, password) VALUES (?, ?, ?, ?)`, "ann", "userpass", "ann", "pw")
	clock := &fakeClock{now: time.Unix(1795277000, 0)}
	var logs logBuffer
	srv, err := NewServer(ctx, db, testOptions{Logger: logs.logger(), Now: clock.Now}.opts())
	if err != nil {
		t.Fatal(err)
	}
	url := startServer(t, srv)
	const ann = "id=ann&auth_type=userpass&password=pw&username=ann\n"
	if r := post(t, url+"/ps_auths/single", "id=ann"); r.body != ann {
		t.Fatalf("lookup: %q", r.body)
	}

	proxy.stop()
	clock.Add(time.Minute)
	if r := post(t, url+"/ps_auths/single", "id=ann"); r.status != 200 || r.body != ann {
		t.Errorf("lookup with MariaDB cut off: %d %q, want the last known row", r.status, r.body)
	}
	if !strings.Contains(logs.String(), "serving the last known rows") {
		t.Errorf("no warning while serving stale rows:\n%s", logs.String())
	}

	proxy.start(t)
	mustExec(t, db, `UPDATE ps_auths SET password = ? WHERE id = ?`, "pw2", "ann")
	srv.Invalidate("ps_auths")
	if r := post(t, url+"/ps_auths/single", "id=ann"); r.body != "id=ann&auth_type=userpass&password=pw2&username=ann\n" {
		t.Errorf("lookup after reconnect: %d %q", r.status, r.body)
	}
}
