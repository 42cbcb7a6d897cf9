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
	"testing"
	"time"

	"omnicc/directory"
	"omnicc/storetest"
)

// BenchmarkInbound runs whole /inbound sessions over loopback TCP as
// Asterisk drives them — header, the six SET VARIABLEs of a decision for a
// known caller, close — with everything on the path: the route table (507
// routes, 100 of them patterns ranked before the one that matches, so every
// call scans them), the business-hours check, the contact lookup in SQLite,
// and the call log writing behind. The fake Asterisk runs in a child
// process (this test binary, TestInboundBenchPeer) so that the server's
// CPU time is measured apart from the client's. Servers:
//
//	inbound          the real /inbound, caller lookups through the contacts cache
//	inbound-nocache  the same with the cache off: one indexed query per call
//	static           agi.Server sending the same six variables, no lookup
//	bare             the same bytes over a bare TCP server
//
//	go test -run='^$' -bench='BenchmarkInbound' -benchtime=20000x ./agi/
func BenchmarkInbound(b *testing.B) {
	bench := newInboundBench(b)
	for _, conc := range []int{1, 100, 1000} {
		for _, server := range []string{"inbound", "inbound-nocache", "static", "bare"} {
			b.Run(fmt.Sprintf("conc=%d/server=%s", conc, server), func(b *testing.B) {
				bench.run(b, server, conc, 0)
			})
		}
	}
}

// BenchmarkInboundLatency starts /inbound sessions at a fixed rate (open
// loop, up to 100 in flight): the latency a call sees while the server is
// busy but not saturated, measured from each session's scheduled start.
//
//	go test -run='^$' -bench='BenchmarkInboundLatency' -benchtime=20000x ./agi/
func BenchmarkInboundLatency(b *testing.B) {
	bench := newInboundBench(b)
	for _, rate := range []int{1000, 2000} {
		for _, server := range []string{"inbound", "bare"} {
			b.Run(fmt.Sprintf("conc=100/rate=%d/server=%s", rate, server), func(b *testing.B) {
				bench.run(b, server, 100, rate)
			})
		}
	}
}

// inboundBench is the routing path on SQLite with and without the contacts
// cache, the call log writing behind, and the header and variables of the
// benchmarked call.
type inboundBench struct {
	envs   map[string]*routingEnv
	header string
	vars   [][2]string
}

func newInboundBench(b *testing.B) *inboundBench {
	ib := &inboundBench{envs: map[string]*routingEnv{}}
	for name, ttl := range map[string]time.Duration{"inbound": 0, "inbound-nocache": -1} {
		e := newBenchRoutingEnv(b, ttl)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); _ = e.calls.Run(ctx) }()
		b.Cleanup(func() { cancel(); <-done })
		ib.envs[name] = e
	}
	ib.header = callHeader("inbound?linkedid=1795277170.5", map[string]string{
		"extension": benchDID, "callerid": "0612345678", "calleridname": "", "context": "omnicc-inbound", "channel": "PJSIP/provider-00000001"})
	// The decision for that header, to check the server and to replay it
	// from the static and bare servers.
	first := ib.envs["inbound"]
	dec, err := first.table.Inbound(context.Background(), benchDID, "0612345678", first.clock.Now())
	if err != nil || dec.Route != "main" || !dec.Open {
		b.Fatalf("bench decision: %+v %v", dec, err)
	}
	ib.vars = [][2]string{{VarDestType, dec.Dest.Type}, {VarDest, dec.Dest.Target}, {VarRoute, dec.Route}, {VarOpen, "1"},
		{VarContactID, strconv.FormatInt(first.ann, 10)}, {VarContactName, `Ann O'Neil "the boss"`}}
	return ib
}

func (ib *inboundBench) run(b *testing.B, server string, conc, rate int) {
	var addr string
	var stop func()
	switch server {
	case "static":
		addr, stop = startStaticAGI(b, ib.vars)
	case "bare":
		addr, stop = startBareExchange(b, ib.vars)
	default:
		addr, stop = startRouterAGI(b, ib.envs[server].router)
	}
	defer stop()
	b.ReportAllocs()
	cpu0 := processCPU()
	b.ResetTimer()
	res := runInboundPeer(b, addr, ib.header, len(ib.vars), conc, b.N, rate)
	b.StopTimer()
	serverCPU := processCPU() - cpu0
	b.ReportMetric(float64(b.N)/res.elapsed.Seconds(), "sessions/s")
	b.ReportMetric(float64(res.p50.Microseconds()), "p50-µs")
	b.ReportMetric(float64(res.p99.Microseconds()), "p99-µs")
	b.ReportMetric(float64(serverCPU.Microseconds())/float64(b.N), "server-cpu-µs/session")
	b.ReportMetric(float64(res.clientCPU.Microseconds())/float64(b.N), "client-cpu-µs/session")
	b.ReportMetric(float64(res.noContact), "no-contact-sessions")
}

// benchDID is the number the benchmark calls.
const benchDID = "0612345678"

// newBenchRoutingEnv is newRoutingEnv (main: 0612345678 → queue sales in
// business hours, caller Ann known) with 500 more routes: 400 exact DIDs
// that are not called and 100 patterns at a lower priority number, tried
// (and missed) on every call.
func newBenchRoutingEnv(b *testing.B, cacheTTL time.Duration) *routingEnv {
	e := newRoutingEnv(b, storetest.SQLite(b), cacheTTL)
	ctx := context.Background()
	for i := range 500 {
		in := directory.InboundRouteInput{Name: strp(fmt.Sprintf("extra-%d", i)), Open: &directory.Destination{Type: "queue", Target: "support"}}
		if i < 400 {
			in.DID = strp(fmt.Sprintf("07%08d", i))
		} else {
			// Priority 0, before main's 10: every call tries them first.
			p := 0
			in.DID, in.Priority = strp(fmt.Sprintf("_09%02dXXXXXX", i-400)), &p
		}
		if _, err := e.dir.CreateInboundRoute(ctx, in); err != nil {
			b.Fatal(err)
		}
	}
	// The base routes move behind the patterns, keeping their order.
	routes, _, err := e.dir.ListInboundRoutes(ctx, directory.RouteFilter{PerPage: directory.MaxPerPage})
	if err != nil {
		b.Fatal(err)
	}
	for _, r := range routes {
		p, ok := map[string]int{"main": 10, "blocked": 10, "rome": 20, "catch-all": 20}[r.Name]
		if !ok {
			continue
		}
		if _, err := e.dir.UpdateInboundRoute(ctx, r.ID, directory.InboundRouteInput{Priority: &p}); err != nil {
			b.Fatal(err)
		}
	}
	if err := e.table.Refresh(ctx); err != nil {
		b.Fatal(err)
	}
	return e
}

func startRouterAGI(b *testing.B, h Handler) (string, func()) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv, err := NewServer(Config{Listener: ln, MaxSessions: 10000, Logger: slog.New(slog.DiscardHandler)}, h)
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

// startStaticAGI is the agi layer alone: the same variables, no decision.
func startStaticAGI(b *testing.B, vars [][2]string) (string, func()) {
	r := NewRouter()
	r.HandleFunc("inbound", func(ctx context.Context, s *Session) error {
		for _, v := range vars {
			if err := s.SetVariable(v[0], v[1]); err != nil {
				return err
			}
		}
		return nil
	})
	return startRouterAGI(b, r)
}

// startBareExchange speaks the same bytes with nothing but a bufio.Reader.
func startBareExchange(b *testing.B, vars [][2]string) (string, func()) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	cmds := make([][]byte, len(vars))
	for i, v := range vars {
		cmds[i] = append(appendArg([]byte("SET VARIABLE "+v[0]+" "), v[1]), '\n')
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

// inboundPeerEnv carries the fake Asterisk's parameters to the child
// process: address, expected commands, concurrency, sessions, rate (0:
// closed loop) and the header file.
const inboundPeerEnv = "AGI_INBOUND_BENCH_PEER"

// inboundPeerResult is what the fake Asterisk reports.
type inboundPeerResult struct {
	clientResult
	// noContact counts sessions routed without the caller's contact: its
	// lookup failed or ran past contacts.Options.CallerTimeout.
	noContact int
}

func runInboundPeer(b *testing.B, addr, header string, commands, conc, n, rate int) inboundPeerResult {
	f := b.TempDir() + "/header"
	if err := os.WriteFile(f, []byte(header), 0o600); err != nil {
		b.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestInboundBenchPeer$")
	cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%s %d %d %d %d %s", inboundPeerEnv, addr, commands, conc, n, rate, f))
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		b.Fatalf("fake Asterisk process: %v (%s)", err, out)
	}
	var d [5]int64
	if _, err := fmt.Sscan(string(out), &d[0], &d[1], &d[2], &d[3], &d[4]); err != nil {
		b.Fatalf("fake Asterisk process said %q", out)
	}
	return inboundPeerResult{clientResult{elapsed: time.Duration(d[0]), p50: time.Duration(d[1]), p99: time.Duration(d[2]),
		clientCPU: time.Duration(d[3])}, int(d[4])}
}

// TestInboundBenchPeer is BenchmarkInbound's fake Asterisk when run as its
// child process (the os/exec helper-process pattern); otherwise it does
// nothing. It prints elapsed, p50, p99 and its CPU time in nanoseconds,
// and the number of sessions that came without the contact variables.
func TestInboundBenchPeer(t *testing.T) {
	params := os.Getenv(inboundPeerEnv)
	if params == "" {
		t.Skip("run by BenchmarkInbound")
	}
	var addr, headerFile string
	var commands, conc, n, rate int
	if _, err := fmt.Sscan(params, &addr, &commands, &conc, &n, &rate, &headerFile); err != nil {
		fmt.Fprintln(os.Stderr, "bad", inboundPeerEnv, err)
		os.Exit(2)
	}
	header, err := os.ReadFile(headerFile)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	raddr, err := net.ResolveTCPAddr("tcp", addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	latencies := make([]time.Duration, n)
	var next, noContact atomic.Int64
	var firstErr atomic.Pointer[error]
	cpu0 := processCPU()
	start := time.Now()
	var wg sync.WaitGroup
	for range conc {
		wg.Go(func() {
			buf := make([]byte, 1024)
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
				got, err := inboundPeerSession(raddr, header, buf)
				switch {
				case err != nil:
				case got == commands-2: // OMNICC_CONTACT_ID and _NAME missing
					noContact.Add(1)
				case got != commands:
					err = fmt.Errorf("session ended after %d commands, want %d", got, commands)
				}
				if err != nil {
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
		os.Exit(1)
	}
	slices.Sort(latencies)
	fmt.Println(int64(elapsed), int64(latencies[n/2]), int64(latencies[n*99/100]), int64(cpu), noContact.Load())
	os.Exit(0) // before the test framework prints anything of its own
}

// inboundPeerSession is one call: header out, `200 result=1` for each
// command until the server closes; it returns how many commands came.
func inboundPeerSession(raddr *net.TCPAddr, header, buf []byte) (int, error) {
	conn, err := net.DialTCP("tcp", nil, raddr)
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	if _, err := conn.Write(header); err != nil {
		return 0, err
	}
	reply := []byte("200 result=1\n")
	seen, pending := 0, 0
	var last []byte
	for {
		n, err := conn.Read(buf)
		for _, c := range buf[:n] {
			last = append(last[:pending], c)
			pending++
			if c == '\n' {
				if strings.HasPrefix(string(last), "SET VARIABLE OMNICC_ERROR") {
					return seen, fmt.Errorf("server refused the call: %q", last)
				}
				seen++
				pending = 0
				if _, err := conn.Write(reply); err != nil {
					return seen, err
				}
			}
		}
		if errors.Is(err, io.EOF) {
			if pending != 0 {
				return seen, fmt.Errorf("session ended in the middle of a command line %q", last)
			}
			return seen, nil
		}
		if err != nil {
			return seen, err
		}
	}
}
