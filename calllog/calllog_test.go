package calllog_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"omnicc/calllog"
	"omnicc/store"
	"omnicc/storetest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// run starts l.Run until the test ends (or stop is called) and checks it
// returns.
func run(t *testing.T, l *calllog.Log) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- l.Run(ctx) }()
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("Run did not return after cancel")
		}
	}
	t.Cleanup(stop)
	return stop
}

var t0 = time.Date(2026, 3, 30, 8, 0, 0, 0, time.UTC)

func TestRecordAndList(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		l := calllog.New(db, calllog.Options{BatchSize: 7})
		run(t, l)
		contact := int64(42)
		for i := range 30 {
			e := calllog.Entry{At: t0.Add(time.Duration(i) * time.Minute), Direction: calllog.Inbound,
				UniqueID: fmt.Sprintf("1795277170.%d", i), LinkedID: "1795277170.0", Channel: "PJSIP/trunk-0000001",
				Caller: fmt.Sprintf("55500%02d", i%3), DID: []string{"0612345678", "0699999999"}[i%2],
				Route: "main", Chain: []string{"main"}, DestType: "queue", Dest: "sales", Open: i%2 == 0}
			if i == 29 {
				e.Chain, e.Open, e.ContactID, e.ContactCreated = []string{"main", "after-hours"}, false, &contact, true
			}
			l.Record(e)
		}
		l.Record(calllog.Entry{At: t0.Add(time.Hour), Direction: calllog.Outbound, DID: "0039061234", Route: "international",
			DestType: "external", Dest: "PJSIP/+39061234@provider", Open: true})
		if err := l.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		list := func(f calllog.Filter) ([]calllog.Entry, int) {
			t.Helper()
			es, total, err := l.List(ctx, f)
			if err != nil {
				t.Fatal(err)
			}
			return es, total
		}
		es, total := list(calllog.Filter{PerPage: 5})
		if total != 31 || len(es) != 5 || es[0].Direction != calllog.Outbound || es[1].UniqueID != "1795277170.29" {
			t.Fatalf("newest first: total %d, %+v", total, es)
		}
		if e := es[1]; strings.Join(e.Chain, ">") != "main>after-hours" || e.Open || e.ContactID == nil || *e.ContactID != 42 ||
			!e.ContactCreated || e.LinkedID != "1795277170.0" || !e.At.Equal(t0.Add(29*time.Minute)) {
			t.Fatalf("round trip: %+v", e)
		}
		if _, total := list(calllog.Filter{DID: "0612345678"}); total != 15 {
			t.Errorf("by DID: %d", total)
		}
		if _, total := list(calllog.Filter{Caller: "5550001", DID: "0699999999"}); total != 5 {
			t.Errorf("by caller and DID: %d", total)
		}
		// From is inclusive, To exclusive.
		if es, total := list(calllog.Filter{From: t0.Add(10 * time.Minute), To: t0.Add(20 * time.Minute)}); total != 10 ||
			!es[0].At.Equal(t0.Add(19*time.Minute)) || !es[9].At.Equal(t0.Add(10*time.Minute)) {
			t.Errorf("by time: %d %v", total, es)
		}
		if es, total := list(calllog.Filter{Direction: calllog.Inbound, Page: 4, PerPage: 8}); total != 30 || len(es) != 6 {
			t.Errorf("last page: %d %d", total, len(es))
		}
		for field, f := range map[string]calllog.Filter{
			"page": {Page: -1}, "per_page": {PerPage: 501}, "to": {From: t0, To: t0}, "direction": {Direction: "sideways"},
		} {
			var fe *calllog.FieldError
			if _, _, err := l.List(ctx, f); !errors.As(err, &fe) || fe.Field != field {
				t.Errorf("want an error on %s, got %v", field, err)
			}
		}
	})
}

// Nothing recorded is lost at shutdown: the queue is written when Run
// stops, and entries recorded afterwards (calls the AGI server is still
// draining) are written one by one.
func TestShutdownLosesNothing(t *testing.T) {
	db := storetest.SQLite(t)
	l := calllog.New(db, calllog.Options{BatchSize: 50})
	stop := run(t, l)
	for i := range 1000 {
		l.Record(calllog.Entry{At: t0, Direction: calllog.Inbound, UniqueID: fmt.Sprint(i)})
	}
	stop()
	l.Record(calllog.Entry{Direction: calllog.Inbound, UniqueID: "late"})
	_, total, err := l.List(context.Background(), calllog.Filter{})
	if err != nil || total != 1001 {
		t.Fatalf("after shutdown: %d entries, %v", total, err)
	}
	if es, _, _ := l.List(context.Background(), calllog.Filter{PerPage: 1}); es[0].UniqueID != "late" || es[0].At.IsZero() {
		t.Fatalf("the late entry: %+v", es[0])
	}
}

// A hostile caller ID — too long, not UTF-8 — is cut to fit instead of
// failing its batch on MySQL's strict mode.
func TestHostileValuesFit(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		l := calllog.New(db, calllog.Options{})
		run(t, l)
		l.Record(calllog.Entry{At: t0, Direction: calllog.Inbound, Caller: strings.Repeat("9", 500), CallerName: "Ren\xe9 " + strings.Repeat("é", 300)})
		l.Record(calllog.Entry{At: t0, Direction: calllog.Inbound, Caller: "ok"})
		if err := l.Flush(context.Background()); err != nil {
			t.Fatal(err)
		}
		es, total, err := l.List(context.Background(), calllog.Filter{})
		if err != nil || total != 2 {
			t.Fatalf("%d entries, %v", total, err)
		}
		var hostile calllog.Entry
		for _, e := range es {
			if e.Caller != "ok" {
				hostile = e
			}
		}
		if len(hostile.Caller) != 80 || !strings.HasPrefix(hostile.CallerName, "Ren? éé") {
			t.Fatalf("stored %q / %q", hostile.Caller, hostile.CallerName)
		}
	})
}

// A full queue drops (and counts) rather than block a call.
func TestFullQueueDrops(t *testing.T) {
	l := calllog.New(storetest.SQLite(t), calllog.Options{QueueSize: 2})
	for range 5 {
		l.Record(calllog.Entry{Direction: calllog.Inbound})
	}
	if l.Dropped() != 3 {
		t.Fatalf("dropped %d, want 3", l.Dropped())
	}
}

// BenchmarkWriter is the writer's throughput on each engine, in rows/s:
// b.N decisions are recorded at once — a backlog, as under a FastAGI soak —
// and the time runs until the database has every one of them.
//
//	go test -run '^$' -bench BenchmarkWriter -count 5 ./calllog/
func BenchmarkWriter(b *testing.B) {
	for _, engine := range []struct {
		name string
		open func(testing.TB) *store.DB
	}{{"sqlite", storetest.SQLite}, {"mariadb", storetest.MariaDB}} {
		b.Run(engine.name, func(b *testing.B) { benchmarkWriter(b, engine.open(b)) })
	}
}

func benchmarkWriter(b *testing.B, db *store.DB) {
	l := calllog.New(db, calllog.Options{QueueSize: b.N + 1})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = l.Run(ctx) }()
	defer func() { cancel(); <-done }()
	e := calllog.Entry{At: t0, Direction: calllog.Inbound, LinkedID: "1795277170.120",
		Channel: "PJSIP/provider-00000001", Caller: "0612345678", DID: "0612345678", Route: "main", Chain: []string{"main"},
		DestType: "queue", Dest: "sales", Open: true}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		e.UniqueID = "1795277170." + strconv.Itoa(i)
		l.Record(e)
	}
	// Timed: the entries are written, not only queued.
	if err := l.Flush(context.Background()); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "rows/s")
	if l.Dropped() != 0 {
		b.Fatalf("%d entries dropped", l.Dropped())
	}
}
