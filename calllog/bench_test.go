package calllog_test

import (
	"context"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"omnicc/calllog"
	"omnicc/journal"
	"omnicc/store"
	"omnicc/storetest"
)

// BenchmarkWriter is the writer's throughput on each engine, in rows/s:
// b.N decisions are recorded at once — a backlog, as under a FastAGI soak —
// and the time runs until the database has every one of them. The
// +journal cases also journal each entry before Record returns, as
// omniccd does; mariadb+10ms reaches MariaDB through a proxy that delays
// every packet by 5 ms each way, as a database busy with a soak's lookups
// (or across a network) answers.
//
//	go test -run '^$' -bench BenchmarkWriter -count 5 ./calllog/
func BenchmarkWriter(b *testing.B) {
	for _, engine := range []struct {
		name string
		open func(testing.TB) *store.DB
	}{{"sqlite", storetest.SQLite}, {"mariadb", storetest.MariaDB}, {"mariadb+10ms", slowMariaDB}} {
		b.Run(engine.name, func(b *testing.B) { benchmarkWriter(b, engine.open(b), nil) })
		b.Run(engine.name+"+journal", func(b *testing.B) {
			j, err := journal.Open(b.TempDir(), journal.Options{})
			if err != nil {
				b.Fatal(err)
			}
			defer j.Close()
			benchmarkWriter(b, engine.open(b), j)
		})
	}
}

func benchmarkWriter(b *testing.B, db *store.DB, j *journal.Journal) {
	l := calllog.New(db, calllog.Options{QueueSize: b.N + 1, Journal: j})
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

// slowMariaDB is a migrated MariaDB database reached through a proxy that
// delays every packet by 5 ms each way.
func slowMariaDB(tb testing.TB) *store.DB {
	direct := storetest.MariaDB(tb)
	cfg, err := mysql.ParseDSN(sameServer(tb, direct))
	if err != nil {
		tb.Fatal(err)
	}
	cfg.Addr = delayProxy(tb, cfg.Addr, 5*time.Millisecond)
	db, err := store.Open(context.Background(), store.Options{DSN: cfg.FormatDSN()})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	return db
}

// delayProxy forwards connections to target, each read delivered delay
// later, until the test ends.
func delayProxy(tb testing.TB, target string, delay time.Duration) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	tb.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	// pipe delivers each chunk read from src to dst delay after it was
	// read; chunks in flight overlap, as on a long wire.
	pipe := func(dst, src net.Conn) {
		type chunk struct {
			b   []byte
			due time.Time
		}
		ch := make(chan chunk, 1024)
		wg.Go(func() {
			defer dst.Close()
			var failed bool
			for c := range ch { // drained to the end, so the reader never blocks
				time.Sleep(time.Until(c.due)) // the latency being simulated
				if !failed {
					_, err := dst.Write(c.b)
					failed = err != nil
				}
			}
		})
		defer close(ch)
		for {
			buf := make([]byte, 64<<10)
			n, err := src.Read(buf)
			if n > 0 {
				ch <- chunk{buf[:n], time.Now().Add(delay)}
			}
			if err != nil {
				return
			}
		}
	}
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			mu.Lock()
			conns = append(conns, c, s)
			mu.Unlock()
			wg.Go(func() { pipe(s, c) })
			wg.Go(func() { pipe(c, s) })
		}
	})
	return ln.Addr().String()
}
