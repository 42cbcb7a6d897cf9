package realtime

import (
	"context"
	"database/sql"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"omnicc/store"
	"omnicc/storetest"
)

// stalledDB holds every statement while stalled, as a SIGSTOPped server
// does, until the stall ends or the statement's context does.
type stalledDB struct {
	sqlDB
	mu      sync.Mutex
	stalled chan struct{} // nil: not stalled; closed: stall over
	tries   atomic.Int64
}

func (d *stalledDB) stall() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.stalled = make(chan struct{})
}

func (d *stalledDB) release() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.stalled != nil {
		close(d.stalled)
		d.stalled = nil
	}
}

func (d *stalledDB) wait(ctx context.Context) error {
	d.tries.Add(1)
	d.mu.Lock()
	ch := d.stalled
	d.mu.Unlock()
	if ch == nil {
		return nil
	}
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (d *stalledDB) QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	if err := d.wait(ctx); err != nil {
		return nil, err
	}
	return d.sqlDB.QueryContext(ctx, q, args...)
}

func (d *stalledDB) ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error) {
	if err := d.wait(ctx); err != nil {
		return nil, err
	}
	return d.sqlDB.ExecContext(ctx, q, args...)
}

type fakeHealth struct{ down atomic.Bool }

func (h *fakeHealth) Down() bool { return h.down.Load() }

// While the database is known to be down, Asterisk gets the last known
// rows at once: the soak saw each stale answer take the whole query
// timeout (~1 s), with an Asterisk thread blocked on every one.
func TestKnownDownServesLastKnownRowsAtOnce(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		mustExec(t, db, `INSERT INTO ps_endpoints (id, transport, context) VALUES (?, ?, ?)`, "ann", "transport-wss", "from-sip")
		sdb := &stalledDB{sqlDB: db}
		health := &fakeHealth{}
		clock := &fakeClock{now: time.Unix(1795277000, 0)}
		// The query timeout is far longer than the stall: only knowing the
		// database is down can answer before the stall ends.
		srv, err := newServer(ctx, sdb, db.Dialect, testOptions{Now: clock.Now, CacheTTL: time.Second,
			QueryTimeout: time.Hour, Health: health}.opts())
		if err != nil {
			t.Fatal(err)
		}
		url := startServer(t, srv)
		const ann = "id=ann&transport=transport-wss&context=from-sip\n"
		if r := post(t, url+"/ps_endpoints/single", "id=ann"); r.body != ann {
			t.Fatalf("lookup: %q", r.body)
		}

		sdb.stall()
		released := make(chan struct{})
		timer := time.AfterFunc(20*time.Second, func() { sdb.release(); close(released) })
		defer func() {
			if timer.Stop() {
				sdb.release()
			}
		}()
		health.down.Store(true)
		clock.Add(time.Minute) // past the TTL: only the stale copy is left
		tries := sdb.tries.Load()
		r := post(t, url+"/ps_endpoints/single", "id=ann")
		select {
		case <-released:
			t.Fatal("the lookup was answered only after the stall ended")
		default:
		}
		if r.status != 200 || r.body != ann {
			t.Errorf("lookup while down: %d %q, want the last known row", r.status, r.body)
		}
		if r := post(t, url+"/ps_endpoints/single", "id=bob"); r.status != http.StatusServiceUnavailable {
			t.Errorf("never-seen lookup while down: %d %q, want 503", r.status, r.body)
		}
		if r := post(t, url+"/ps_contacts/store", "id=ann%3B%40x&uri=sip%3Aann%40h"); r.status != http.StatusServiceUnavailable || r.body != "-1\n" {
			t.Errorf("write while down: %d %q, want 503 and -1", r.status, r.body)
		}
		if n := sdb.tries.Load() - tries; n != 0 {
			t.Errorf("%d statements sent to a database known to be down, want none", n)
		}

		health.down.Store(false)
		sdb.release()
		mustExec(t, db, `UPDATE ps_endpoints SET context = ? WHERE id = ?`, "agents", "ann")
		srv.Invalidate("ps_endpoints")
		if r := post(t, url+"/ps_endpoints/single", "id=ann"); r.body != "id=ann&transport=transport-wss&context=agents\n" {
			t.Errorf("lookup after recovery: %q", r.body)
		}
	})
}

// BenchmarkLookupWhileKnownDown is what a REGISTER costs while the
// database is known to be down: the last known row, from memory, over
// loopback HTTP. Before, each of these waited out QueryTimeout (1 s).
//
//	go test -run '^$' -bench LookupWhileKnownDown ./realtime/
func BenchmarkLookupWhileKnownDown(b *testing.B) {
	db := storetest.SQLite(b)
	if _, err := db.ExecContext(context.Background(), `INSERT INTO ps_endpoints (id, transport, context) VALUES (?, ?, ?)`,
		"ann", "transport-wss", "from-sip"); err != nil {
		b.Fatal(err)
	}
	sdb := &stalledDB{sqlDB: db}
	health := &fakeHealth{}
	srv, err := newServer(context.Background(), sdb, db.Dialect, testOptions{CacheTTL: -1, Health: health}.opts())
	if err != nil {
		b.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	defer hs.Close()
	url := hs.URL + "/realtime/ps_endpoints/single"
	lookup := func() string {
		res, err := http.Post(url, "application/x-www-form-urlencoded", strings.NewReader("id=ann"))
		if err != nil {
			b.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		return string(body)
	}
	if lookup() == "" {
		b.Fatal("no row to remember")
	}
	sdb.stall()
	defer sdb.release()
	health.down.Store(true)
	b.ResetTimer()
	for range b.N {
		if lookup() == "" {
			b.Fatal("no last known row")
		}
	}
}
