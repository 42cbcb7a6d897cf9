package agi

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// The session benchmarks run whole FastAGI sessions over loopback TCP, the
// way Asterisk drives them: connect, send a real header, answer each
// SET VARIABLE with `200 result=1`, wait for the server to close. They run
// the same byte exchange against a bare TCP server (no Session, no router,
// no deadlines) to show what the agi layer itself costs. Client and server
// share the machine's cores, as Asterisk and omniccd do on one box.
//
//	go test -run='^$' -bench=BenchmarkSession -benchtime=3s ./agi/

// benchVariables are what an /inbound decision sets.
var benchVariables = [5][2]string{
	{"OMNICC_DEST_TYPE", "queue"},
	{"OMNICC_DEST", "sales"},
	{"OMNICC_ROUTE", "main-did"},
	{"OMNICC_OPEN", "1"},
	{"OMNICC_CONTACT_NAME", "Ann O'Neil"},
}

// BenchmarkSession runs sessions back to back from conc concurrent
// channels (closed loop): it measures the most sessions per second. Its
// latencies are queueing delay, conc/throughput by Little's law, not the
// latency a call sees at a realistic load.
func BenchmarkSession(b *testing.B) {
	for _, server := range []string{"agi", "bare"} {
		for _, conc := range []int{1, 100, 1000} {
			b.Run(fmt.Sprintf("server=%s/conc=%d", server, conc), func(b *testing.B) {
				addr, stop := startBenchServer(b, server)
				defer stop()
				runSessions(b, addr, conc, 0)
			})
		}
	}
}

// BenchmarkSessionLatency starts sessions at a fixed rate (open loop) with
// up to conc in flight: the latency a call sees while the server is busy
// but not saturated. It is measured from each session's scheduled start,
// so a server falling behind shows in the figures.
func BenchmarkSessionLatency(b *testing.B) {
	for _, server := range []string{"agi", "bare"} {
		for _, rate := range []int{1000, 4000} {
			b.Run(fmt.Sprintf("server=%s/conc=100/rate=%d", server, rate), func(b *testing.B) {
				addr, stop := startBenchServer(b, server)
				defer stop()
				runSessions(b, addr, 100, rate)
			})
		}
	}
}

func startBenchServer(b *testing.B, server string) (string, func()) {
	if server == "agi" {
		return startBenchAGI(b)
	}
	return startBareServer(b)
}

func startBenchAGI(b *testing.B) (string, func()) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	r := NewRouter()
	r.HandleFunc("inbound", func(ctx context.Context, s *Session) error {
		for _, v := range benchVariables {
			if err := s.SetVariable(v[0], v[1]); err != nil {
				return err
			}
		}
		return nil
	})
	srv, err := NewServer(Config{
		Listener:    ln,
		MaxSessions: 10000, // the client reconnects before a closed slot is released
		Logger:      slog.New(slog.DiscardHandler),
	}, r)
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	return ln.Addr().String(), func() {
		cancel()
		if err := <-done; err != nil {
			b.Error(err)
		}
	}
}

// startBareServer speaks the same bytes with nothing but a bufio.Reader:
// the floor the agi server is measured against.
func startBareServer(b *testing.B) (string, func()) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	var cmds [len(benchVariables)][]byte
	for i, v := range benchVariables {
		cmds[i] = appendArg([]byte("SET VARIABLE "+v[0]+" "), v[1])
		cmds[i] = append(cmds[i], '\n')
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer conn.Close()
				r := bufio.NewReader(conn)
				for {
					line, err := r.ReadSlice('\n')
					if err != nil {
						return
					}
					if len(line) == 1 {
						break
					}
				}
				for _, c := range cmds {
					if _, err := conn.Write(c); err != nil {
						return
					}
					if _, err := r.ReadSlice('\n'); err != nil {
						return
					}
				}
			})
		}
	})
	return ln.Addr().String(), func() {
		ln.Close()
		wg.Wait()
	}
}

// runSessions runs b.N sessions from conc concurrent fake Asterisk
// channels, back to back or, when rate > 0, started rate times a second.
// It reports throughput, latency percentiles, and the process CPU time per
// session (client and server together), which other tenants of a shared
// machine inflate far less than wall-clock figures.
func runSessions(b *testing.B, addr string, conc, rate int) {
	header := []byte(strings.Replace(capturedHeader, "route?queue=sales", "inbound", 2))
	latencies := make([]time.Duration, b.N)
	var next atomic.Int64
	var firstErr atomic.Pointer[error]
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := processCPU()
	start := time.Now()
	var wg sync.WaitGroup
	for range conc {
		wg.Go(func() {
			buf := make([]byte, 512)
			for {
				i := next.Add(1) - 1
				if i >= int64(b.N) {
					return
				}
				t0 := time.Now()
				if rate > 0 {
					t0 = start.Add(time.Duration(i) * time.Second / time.Duration(rate))
					time.Sleep(time.Until(t0))
				}
				if err := fakeAsteriskSession(addr, header, buf); err != nil {
					firstErr.CompareAndSwap(nil, &err)
					return
				}
				latencies[i] = time.Since(t0)
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	cpu := processCPU() - cpu0
	b.StopTimer()
	if err := firstErr.Load(); err != nil {
		b.Fatal(*err)
	}
	slices.Sort(latencies)
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "sessions/s")
	b.ReportMetric(float64(latencies[len(latencies)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(latencies[len(latencies)*99/100].Microseconds()), "p99-µs")
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-µs/session")
}

// processCPU is the user and system CPU time this process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// fakeAsteriskSession is one call: header out, `200 result=1` for every
// command line, until the server closes.
func fakeAsteriskSession(addr string, header, buf []byte) error {
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	if _, err := conn.Write(header); err != nil {
		return err
	}
	reply := []byte("200 result=1\n")
	commands := 0
	pending := 0 // bytes of a command line read so far
	for {
		n, err := conn.Read(buf)
		for _, c := range buf[:n] {
			pending++
			if c == '\n' {
				commands++
				pending = 0
				if _, err := conn.Write(reply); err != nil {
					return err
				}
			}
		}
		if errors.Is(err, io.EOF) {
			if commands != len(benchVariables) || pending != 0 {
				return fmt.Errorf("session ended after %d commands", commands)
			}
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// BenchmarkParseHeader is the per-call parsing cost, without the network.
func BenchmarkParseHeader(b *testing.B) {
	r := strings.NewReader(capturedHeader)
	lr := lineReader{r: bufio.NewReaderSize(r, DefaultMaxLineBytes)}
	var buf []byte
	b.ReportAllocs()
	for b.Loop() {
		r.Reset(capturedHeader)
		lr.r.Reset(r)
		var err error
		if _, buf, err = readHeader(&lr, DefaultMaxHeaderBytes, buf); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSetVariable is one SET VARIABLE round trip, without the network.
func BenchmarkSetVariable(b *testing.B) {
	s, fc := newTestSession()
	reply := []string{"200 result=1\n"}
	b.ReportAllocs()
	for b.Loop() {
		fc.chunks = reply
		fc.written.Reset()
		if err := s.SetVariable("OMNICC_CONTACT_NAME", "Ann O'Neil"); err != nil {
			b.Fatal(err)
		}
	}
}
