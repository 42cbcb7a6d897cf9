package api_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"omnicc/api"
	"omnicc/auth"
	"omnicc/calllog"
	"omnicc/contacts"
	"omnicc/directory"
	"omnicc/store"
	"omnicc/storetest"
)

// stallEnv is the API as cmd/omniccd wires it, with a health monitor
// running over ping, whose changes are reported on changed.
type stallEnv struct {
	*env
	health  *store.Health
	changed chan bool
}

func newStallEnv(t *testing.T, db *store.DB, ping store.Pinger, dbTimeout time.Duration) *stallEnv {
	t.Helper()
	dir := directory.New(db, directory.Options{ExtensionLow: 1000, ExtensionHigh: 1999, SecuritySuite: true, BcryptCost: 4})
	if _, _, err := dir.EnsureAdmin(t.Context(), adminPassword); err != nil {
		t.Fatal(err)
	}
	cm, err := contacts.New(db, contacts.Options{})
	if err != nil {
		t.Fatal(err)
	}
	se := &stallEnv{changed: make(chan bool, 8)}
	if ping != nil {
		// The daemon's own ping interval and timeout, so that the logged
		// figures are the ones an operator sees.
		se.health = store.NewHealth(ping, store.HealthOptions{OnChange: func(up bool) { se.changed <- up }})
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); _ = se.health.Run(ctx) }()
		t.Cleanup(func() { cancel(); <-done })
	}
	s, err := api.New(api.Options{DB: db, Health: se.health, DBTimeout: dbTimeout, Directory: dir,
		Auth:   auth.New(db, dir, auth.Options{LockoutThreshold: 5}),
		Mounts: []func(*api.Router){api.NewRouting(calllog.New(db, calllog.Options{}), cm).Mount}})
	if err != nil {
		t.Fatal(err)
	}
	se.env = &env{t: t, srv: httptest.NewServer(s.Handler()), api: s, dir: dir}
	t.Cleanup(se.srv.Close)
	se.admin = se.login("admin", adminPassword)
	return se
}

// stall is a stall that ends by itself after a long while, as the soak's
// 20 s SIGSTOP did: a request answered only after that waited it out.
type stall struct {
	t        *testing.T
	released chan struct{}
	timer    *time.Timer
	once     sync.Once
}

func startStall(t *testing.T, freeze, thaw func()) *stall {
	s := &stall{t: t, released: make(chan struct{})}
	freeze()
	s.timer = time.AfterFunc(20*time.Second, func() { s.release(thaw) })
	t.Cleanup(func() { s.timer.Stop(); s.release(thaw) })
	return s
}

func (s *stall) release(thaw func()) {
	s.once.Do(func() { thaw(); close(s.released) })
}

// during sends a request while the database stalls and wants 503
// database_unavailable before the stall ends.
func (s *stall) during(e *env, method, path, token string, body any) {
	s.t.Helper()
	if err := s.check(e, method, path, token, body); err != "" {
		s.t.Fatal(err)
	}
}

// check is during for any goroutine: it returns what is wrong.
func (s *stall) check(e *env, method, path, token string, body any) string {
	raw, _ := json.Marshal(body)
	req, err := http.NewRequestWithContext(context.Background(), method, e.srv.URL+path, bytes.NewReader(raw))
	if err != nil {
		return err.Error()
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Sprintf("%s %s: %v", method, path, err)
	}
	var out struct {
		Error api.ErrorDetail `json:"error"`
	}
	_ = json.NewDecoder(res.Body).Decode(&out)
	res.Body.Close()
	st := res.StatusCode
	select {
	case <-s.released:
		return fmt.Sprintf("%s %s answered %d only after the stall ended", method, path, st)
	default:
	}
	if st != http.StatusServiceUnavailable || out.Error.Code != "database_unavailable" {
		return fmt.Sprintf("%s %s during the stall: %d %+v, want 503 database_unavailable", method, path, st, out.Error)
	}
	return ""
}

// restDuringStall is what the soak found hanging for 18 s: it runs the
// four requests during a stall and after it.
func restDuringStall(t *testing.T, se *stallEnv, freeze, thaw func(), goDown func()) {
	a := se.createAgent(agent("stall1", "webrtc"))
	id := jsonID(a)
	patch := map[string]any{"full_name": "Agent Stalled"}

	s := startStall(t, freeze, thaw)
	stalledAt := time.Now() // for the log only: nothing is asserted on durations
	// In flight when the stall is found (the monitor has not pinged yet):
	// its context ends, it does not wait for the database.
	inFlight := make(chan string, 1)
	go func() { inFlight <- s.check(se.env, "PATCH", "/api/v1/agents/"+id, se.admin, patch) }()
	goDown()
	if up := <-se.changed; up {
		t.Fatal("monitor reported up at the stall")
	}
	if err := <-inFlight; err != "" {
		t.Fatal(err)
	}
	t.Logf("request in flight at the stall answered 503 after %s", time.Since(stalledAt).Round(time.Millisecond))
	// Known down: every route answers at once.
	knownDown := time.Now()
	s.during(se.env, "GET", "/api/v1/agents", se.admin, nil)
	s.during(se.env, "POST", "/api/v1/auth/login", "", map[string]string{"username": "admin", "password": adminPassword})
	s.during(se.env, "GET", "/api/v1/call-log", se.admin, nil)
	s.during(se.env, "PATCH", "/api/v1/agents/"+id, se.admin, patch)
	t.Logf("4 requests while known down answered 503 in %s", time.Since(knownDown).Round(time.Microsecond))
	for _, p := range []string{"/healthz", "/metrics", "/api/v1/openapi.yaml"} {
		if st := se.call("GET", p, "", nil, nil); st != 200 {
			t.Fatalf("GET %s during the stall: %d, want 200 (it needs no database)", p, st)
		}
	}
	res, err := http.Get(se.srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if !strings.Contains(string(raw), "omnicc_db_up 0") {
		t.Fatal("/metrics does not show omnicc_db_up 0 during the stall")
	}

	s.release(thaw)
	thawedAt := time.Now()
	if up := <-se.changed; !up {
		t.Fatal("monitor did not report the database back")
	}
	t.Logf("database reported back %s after the stall ended", time.Since(thawedAt).Round(time.Millisecond))
	se.must(se.call("PATCH", "/api/v1/agents/"+id, se.admin, patch, nil), 200)
	se.must(se.call("GET", "/api/v1/agents", se.admin, nil, nil), 200)
	se.must(se.call("GET", "/api/v1/call-log", se.admin, nil, nil), 200)
	se.login("admin", adminPassword)
}

func jsonID(m map[string]any) string {
	b, _ := json.Marshal(m["id"])
	return string(b)
}

func TestRESTFailsFastWhileMariaDBStalls(t *testing.T) {
	db, proxy := storetest.StallableMariaDB(t, nil)
	// A long deadline: only the monitor can end the requests in time.
	se := newStallEnv(t, db, db.Pool(store.PoolHealth), time.Minute)
	restDuringStall(t, se, proxy.Freeze, proxy.Thaw, func() {})
}

// SQLite does not stall as a server does; a transaction holding the write
// lock makes a write wait (up to busy_timeout) as a stalled server would,
// and the monitor is told the database is down by a pinger that fails.
func TestRESTFailsFastWhileSQLiteStalls(t *testing.T) {
	db := storetest.SQLite(t)
	ping := &switchPinger{db: db}
	se := newStallEnv(t, db, ping, time.Minute)
	var conn *sql.Conn
	freeze := func() {
		c, err := db.Conn(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.ExecContext(t.Context(), "BEGIN IMMEDIATE"); err != nil {
			t.Fatal(err)
		}
		conn = c
		t.Cleanup(func() { _ = c.Close() })
	}
	thaw := func() {
		ping.fail(nil)
		if _, err := conn.ExecContext(context.Background(), "ROLLBACK"); err != nil {
			t.Errorf("release the write lock: %v", err)
		}
		_ = conn.Close()
	}
	restDuringStall(t, se, freeze, thaw, func() { ping.fail(errors.New("disk stalled")) })
}

// Without a monitor (or before it sees the stall) OMNICC_HTTP_DB_TIMEOUT
// still bounds a request.
func TestRESTDeadlineBoundsAStalledRequest(t *testing.T) {
	db, proxy := storetest.StallableMariaDB(t, nil)
	se := newStallEnv(t, db, nil, 300*time.Millisecond)
	s := startStall(t, proxy.Freeze, proxy.Thaw)
	s.during(se.env, "GET", "/api/v1/agents", se.admin, nil)
}

// switchPinger pings the database until told to fail.
type switchPinger struct {
	db  store.Pinger
	mu  sync.Mutex
	err error
}

func (p *switchPinger) fail(err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.err = err
}

func (p *switchPinger) PingContext(ctx context.Context) error {
	p.mu.Lock()
	err := p.err
	p.mu.Unlock()
	if err != nil {
		return err
	}
	return p.db.PingContext(ctx)
}
