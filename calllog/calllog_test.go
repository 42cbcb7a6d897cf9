package calllog_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"

	"omnicc/calllog"
	"omnicc/journal"
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

// A full queue without a journal drops (and counts) rather than block a
// call, and says the database is behind — not down — while it answers.
func TestFullQueueDropsAndCounts(t *testing.T) {
	var logs bytes.Buffer
	reg := prometheus.NewRegistry()
	clock := &fakeClock{now: t0}
	l := calllog.New(storetest.SQLite(t), calllog.Options{QueueSize: 2, Registerer: reg, Now: clock.Now,
		Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	for range 5 {
		l.Record(calllog.Entry{Direction: calllog.Inbound})
	}
	if l.Dropped() != 3 {
		t.Fatalf("dropped %d, want 3", l.Dropped())
	}
	if !strings.Contains(logs.String(), "the database is behind") || strings.Contains(logs.String(), "down") {
		t.Fatalf("the log should say the database is behind:\n%s", logs.String())
	}
	clock.now = t0.Add(5 * time.Second)
	want := map[string]float64{"omnicc_calllog_dropped_total": 3, "omnicc_calllog_queue_depth": 2,
		"omnicc_calllog_write_lag_seconds": 5, "omnicc_calllog_written_total": 0}
	if got := gather(t, reg); !maps.Equal(got, want) {
		t.Fatalf("metrics %v, want %v", got, want)
	}
	run(t, l)
	if err := l.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	want = map[string]float64{"omnicc_calllog_dropped_total": 3, "omnicc_calllog_queue_depth": 0,
		"omnicc_calllog_write_lag_seconds": 0, "omnicc_calllog_written_total": 2}
	if got := gather(t, reg); !maps.Equal(got, want) {
		t.Fatalf("after the write: metrics %v, want %v", got, want)
	}
}

// With a journal, entries that find the queue full wait in it and are
// written from it: none is dropped, and order is kept.
func TestFullQueueWaitsInTheJournal(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		jdir := t.TempDir()
		j, err := journal.Open(jdir, journal.Options{SegmentBytes: 4096})
		if err != nil {
			t.Fatal(err)
		}
		defer j.Close()
		reg := prometheus.NewRegistry()
		l := calllog.New(db, calllog.Options{QueueSize: 10, MaxBatch: 7, BatchSize: 3, Journal: j, Registerer: reg})
		for i := range 100 {
			l.Record(calllog.Entry{At: t0.Add(time.Duration(i) * time.Second), Direction: calllog.Inbound, UniqueID: fmt.Sprint(i)})
		}
		if l.Dropped() != 0 || l.Depth() != 100 {
			t.Fatalf("dropped %d, depth %d", l.Dropped(), l.Depth())
		}
		run(t, l)
		if err := l.Flush(context.Background()); err != nil {
			t.Fatal(err)
		}
		es, total, err := l.List(context.Background(), calllog.Filter{PerPage: 500})
		if err != nil || total != 100 {
			t.Fatalf("%d entries stored, %v", total, err)
		}
		for i, e := range es {
			if e.UniqueID != fmt.Sprint(99-i) {
				t.Fatalf("entry %d is %q", i, e.UniqueID)
			}
		}
		if got := gather(t, reg); got["omnicc_calllog_spilled_total"] != 90 || got["omnicc_calllog_queue_depth"] != 0 {
			t.Fatalf("metrics %v", got)
		}
		if segs, _ := filepath.Glob(filepath.Join(jdir, "*.log")); len(segs) != 1 {
			t.Fatalf("journal not truncated: %d segments", len(segs))
		}
	})
}

// A write that fails while the database does not answer a ping is logged
// as the database being down, and the drops that follow say so too.
func TestDatabaseDownIsSaidSo(t *testing.T) {
	var logs syncBuffer
	db := storetest.SQLite(t)
	l := calllog.New(db, calllog.Options{QueueSize: 1, RetryEvery: time.Hour, ShutdownTimeout: 100 * time.Millisecond, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	run(t, l)
	db.Close()
	l.Record(calllog.Entry{Direction: calllog.Inbound})
	if err := l.Flush(context.Background()); err == nil {
		t.Fatal("a write to a closed database succeeded")
	}
	l.Record(calllog.Entry{Direction: calllog.Inbound})
	l.Record(calllog.Entry{Direction: calllog.Inbound})
	out := logs.String()
	if !strings.Contains(out, "does not answer a ping") || !strings.Contains(out, "the database is down; dropping") {
		t.Fatalf("the log should say the database is down:\n%s", out)
	}
}

type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// gather returns the omnicc_calllog_* metrics by name.
func gather(t *testing.T, reg *prometheus.Registry) map[string]float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		if n := mf.GetName(); strings.HasPrefix(n, "omnicc_calllog_") && n != "omnicc_calllog_spilled_total" {
			m := mf.GetMetric()[0]
			out[n] = m.GetGauge().GetValue() + m.GetCounter().GetValue()
		} else if n == "omnicc_calllog_spilled_total" {
			if v := mf.GetMetric()[0].GetCounter().GetValue(); v != 0 {
				out[n] = v
			}
		}
	}
	return out
}

// A journal that refuses appends (a full disk; here a closed one) does not
// cost entries while omniccd lives: they go through memory, and the log
// says so in a trail, not once per entry.
func TestJournalFailureKeepsEntriesInMemory(t *testing.T) {
	j, err := journal.Open(t.TempDir(), journal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	j.Close()
	var logs syncBuffer
	l := calllog.New(storetest.SQLite(t), calllog.Options{Journal: j, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	run(t, l)
	for i := range 10 {
		l.Record(calllog.Entry{At: t0, Direction: calllog.Inbound, UniqueID: fmt.Sprint(i)})
	}
	if err := l.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, total, err := l.List(context.Background(), calllog.Filter{}); err != nil || total != 10 {
		t.Fatalf("%d entries stored, %v", total, err)
	}
	if n := strings.Count(logs.String(), "cannot journal entries"); n != 4 {
		t.Fatalf("logged %d times for 10 refused entries, want 4 (1st, 2nd, 4th, 8th):\n%s", n, logs.String())
	}
}
