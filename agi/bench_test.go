package agi

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// The session benchmarks run whole FastAGI sessions over loopback TCP, the
// way Asterisk drives them: connect, send a real header, answer each
// SET VARIABLE with `200 result=1`, wait for the server to close. The fake
// Asterisk runs in a child process (this test binary re-executed), as the
// real one does, so the server's CPU time per session is measured apart
// from the client's. The same byte exchange against a bare TCP server (no
// Session, router or deadlines) shows what the agi layer itself costs.
//
//	go test -run='^$' -bench='BenchmarkSession' -benchtime=20000x ./agi/

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
// latencies are mostly queueing, conc/throughput by Little's law, not the
// latency a call sees at a realistic load (see BenchmarkSessionLatency).
func BenchmarkSession(b *testing.B) {
	// agi and bare run back to back at each concurrency so that both see
	// the same neighbours on a shared machine.
	for _, conc := range []int{1, 100, 1000} {
		for _, server := range []string{"agi", "bare"} {
			b.Run(fmt.Sprintf("conc=%d/server=%s", conc, server), func(b *testing.B) {
				benchSessions(b, server, conc, 0)
			})
		}
	}
}

// BenchmarkSessionLatency starts sessions at a fixed rate (open loop) with
// up to 100 in flight: the latency a call sees while the server is busy
// but not saturated. Latency is measured from each session's scheduled
// start, so a server falling behind shows in the figures.
func BenchmarkSessionLatency(b *testing.B) {
	for _, rate := range []int{1000, 4000} {
		for _, server := range []string{"agi", "bare"} {
			b.Run(fmt.Sprintf("conc=100/rate=%d/server=%s", rate, server), func(b *testing.B) {
				benchSessions(b, server, 100, rate)
			})
		}
	}
}

func benchSessions(b *testing.B, server string, conc, rate int) {
	var addr string
	var stop func()
	if server == "agi" {
		addr, stop = startBenchAGI(b)
	} else {
		addr, stop = startBareServer(b)
	}
	defer stop()
	b.ReportAllocs()
	cpu0 := processCPU()
	b.ResetTimer()
	res := runClientProcess(b, addr, conc, b.N, rate)
	b.StopTimer()
	serverCPU := processCPU() - cpu0
	perSession := float64(serverCPU.Microseconds()) / float64(b.N)
	b.ReportMetric(float64(b.N)/res.elapsed.Seconds(), "sessions/s")
	b.ReportMetric(float64(res.p50.Microseconds()), "p50-µs")
	b.ReportMetric(float64(res.p99.Microseconds()), "p99-µs")
	b.ReportMetric(perSession, "server-cpu-µs/session")
	b.ReportMetric(float64(res.clientCPU.Microseconds())/float64(b.N), "client-cpu-µs/session")
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
		MaxSessions: 10000, // a client may reconnect before a closed slot is released
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
	return startBareExchange(b, benchVariables[:])
}

// clientResult is what the fake Asterisk process reports.
type clientResult struct {
	elapsed, p50, p99, clientCPU time.Duration
}

// benchClientEnv carries the parameters to the re-executed test binary.
const benchClientEnv = "AGI_BENCH_CLIENT"

func runClientProcess(b *testing.B, addr string, conc, n, rate int) clientResult {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%s %d %d %d", benchClientEnv, addr, conc, n, rate))
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		b.Fatalf("fake Asterisk process: %v", err)
	}
	f := strings.Fields(string(out))
	if len(f) != 4 {
		b.Fatalf("fake Asterisk process said %q", out)
	}
	var d [4]time.Duration
	for i := range f {
		ns, err := strconv.ParseInt(f[i], 10, 64)
		if err != nil {
			b.Fatalf("fake Asterisk process said %q", out)
		}
		d[i] = time.Duration(ns)
	}
	return clientResult{elapsed: d[0], p50: d[1], p99: d[2], clientCPU: d[3]}
}

// benchClientMain is the fake Asterisk process: it runs the sessions and
// prints elapsed, p50, p99 and its own CPU time, in nanoseconds.
func benchClientMain(params string) int {
	var addr string
	var conc, n, rate int
	if _, err := fmt.Sscan(params, &addr, &conc, &n, &rate); err != nil {
		fmt.Fprintln(os.Stderr, "bad", benchClientEnv, err)
		return 2
	}
	raddr, err := net.ResolveTCPAddr("tcp", addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	header := []byte(strings.Replace(capturedHeader, "route?queue=sales", "inbound", 2))
	latencies := make([]time.Duration, n)
	var next atomic.Int64
	var firstErr atomic.Pointer[error]
	cpu0 := processCPU()
	start := time.Now()
	var wg sync.WaitGroup
	for range conc {
		wg.Go(func() {
			buf := make([]byte, 512)
			for {
				i := next.Add(1) - 1
				if i >= int64(n) {
					return
				}
				t0 := time.Now()
				if rate > 0 {
					t0 = start.Add(time.Duration(i) * time.Second / time.Duration(rate))
					time.Sleep(time.Until(t0))
				}
				if err := fakeAsteriskSession(raddr, header, buf); err != nil {
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
	if err := firstErr.Load(); err != nil {
		fmt.Fprintln(os.Stderr, "fake Asterisk:", *err)
		return 1
	}
	slices.Sort(latencies)
	fmt.Println(int64(elapsed), int64(latencies[n/2]), int64(latencies[n*99/100]), int64(cpu))
	return 0
}

// fakeAsteriskSession is one call: header out, `200 result=1` for every
// command line, until the server closes.
func fakeAsteriskSession(raddr *net.TCPAddr, header, buf []byte) error {
	conn, err := net.DialTCP("tcp", nil, raddr)
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

// processCPU is the user and system CPU time this process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
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
