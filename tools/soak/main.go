// Command soak loads an omniccd the way a busy Asterisk and its users do,
// for a given time, and reports how the daemon holds up: FastAGI /inbound
// sessions in a loop (each with a unique caller), open websockets reading
// every event, res_config_curl realtime lookups and REST writes at a given
// rate. Every -report it prints the daemon's RSS, goroutines and open fds,
// and errors and p50/p99 latency per kind. At the end it matches every
// session that received a routing decision with its call-log row. With
// -kill it SIGKILLs the daemon it started in the middle of the load,
// restarts it on the same data, and reports which decisions Asterisk had
// received that the call log lost.
//
// Everything goes over loopback: FastAGI over TCP, REST, /realtime and
// /metrics over HTTP, the websocket; RSS and fds come from /proc.
//
//	go run ./tools/soak -duration 60s -concurrency 100 -ws 50
//	make soak SOAK_ARGS='-duration 60s -kill'
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

type options struct {
	duration     time.Duration
	concurrency  int
	ws           int
	realtimeRate float64
	restRate     float64
	report       time.Duration
	agents       int

	bin     string
	dsn     string
	dataDir string
	keep    bool

	target        string // HTTP base of an omniccd already running
	agiAddr       string
	adminPassword string
	pid           int

	kill      bool
	killAfter time.Duration
	match     bool
	timeout   time.Duration
	metrics   string
	linkedID  bool
}

func main() {
	var o options
	flag.DurationVar(&o.duration, "duration", 60*time.Second, "how long the load runs")
	flag.IntVar(&o.concurrency, "concurrency", 100, "FastAGI /inbound sessions in flight at all times")
	flag.IntVar(&o.ws, "ws", 50, "websockets kept open, reading every event")
	flag.Float64Var(&o.realtimeRate, "realtime-rate", 280, "res_config_curl lookups per second (0: none)")
	flag.Float64Var(&o.restRate, "rest-rate", 20, "REST writes per second: agent login, PATCH, logout in turn (0: none)")
	flag.DurationVar(&o.report, "report", 30*time.Second, "how often figures are printed")
	flag.IntVar(&o.agents, "agents", 20, "agents seeded for the REST writes and realtime lookups")
	flag.StringVar(&o.bin, "bin", "bin/omniccd", "omniccd binary to start (not with -target)")
	flag.StringVar(&o.dsn, "dsn", "", "MariaDB/MySQL DSN (OMNICC_DB_DSN) for the daemon started; empty: embedded SQLite in -data-dir")
	flag.StringVar(&o.dataDir, "data-dir", "", "OMNICC_DATA_DIR of the daemon started (default: a new temporary directory)")
	flag.BoolVar(&o.keep, "keep", false, "keep the temporary data directory (database and omniccd.log) afterwards")
	flag.StringVar(&o.target, "target", "", "soak an omniccd already running at this HTTP base (e.g. http://127.0.0.1:8080) instead of starting one")
	flag.StringVar(&o.agiAddr, "agi", "127.0.0.1:4573", "with -target: its FastAGI address")
	flag.StringVar(&o.adminPassword, "admin-password", os.Getenv("OMNICC_ADMIN_PASSWORD"), "with -target (or a -dsn database that already has admin): admin's password")
	flag.IntVar(&o.pid, "pid", 0, "with -target: omniccd's pid, for RSS and fds from /proc")
	flag.BoolVar(&o.kill, "kill", false, "SIGKILL the daemon under load at -kill-after, restart it on the same data, and report the decisions lost")
	flag.DurationVar(&o.killAfter, "kill-after", 0, "when to kill with -kill (default: 55 % of -duration)")
	flag.BoolVar(&o.match, "match", true, "at the end, match every replied session with its call-log row")
	flag.DurationVar(&o.timeout, "session-timeout", 10*time.Second, "longest a FastAGI session may take")
	flag.BoolVar(&o.linkedID, "linkedid-url", true, "call agi://…/inbound?linkedid=<id> as the sample dialplan does; false: plain /inbound, omniccd asks GET VARIABLE CHANNEL(linkedid)")
	flag.StringVar(&o.metrics, "metrics", "omnicc_calllog_,omnicc_agi_,omnicc_db_", "comma-separated /metrics name prefixes printed with each report, when present")
	flag.Parse()
	if err := o.check(); err != nil {
		fmt.Fprintln(os.Stderr, "soak:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, o, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "soak:", err)
		os.Exit(1)
	}
}

func (o *options) check() error {
	switch {
	case o.duration <= 0:
		return errors.New("-duration must be positive")
	case o.concurrency < 0 || o.ws < 0 || o.realtimeRate < 0 || o.restRate < 0:
		return errors.New("-concurrency, -ws and the rates must not be negative")
	case o.report <= 0:
		return errors.New("-report must be positive")
	case o.agents < 1:
		return errors.New("-agents must be at least 1")
	case o.kill && o.target != "":
		return errors.New("-kill needs a daemon the soak started itself: drop -target")
	case o.target != "" && o.adminPassword == "":
		return errors.New("-target needs -admin-password (or OMNICC_ADMIN_PASSWORD)")
	}
	if o.kill {
		if o.killAfter == 0 {
			// Not on a report tick: the figures before the kill come from
			// a live daemon.
			o.killAfter = o.duration * 55 / 100
		}
		if o.killAfter <= 0 || o.killAfter >= o.duration {
			return errors.New("-kill-after must be within -duration")
		}
	}
	return nil
}

// runState is what the reporter and the end of the run share.
type runState struct {
	pid atomic.Int64
}

func run(ctx context.Context, o options, w io.Writer) error {
	out := &lockedWriter{w: w}
	started := time.Now()
	runID := strconv.FormatInt(started.Unix()%1_000_000_000, 36)
	var (
		d        *daemon
		base     = o.target
		agiAddr  = o.agiAddr
		password = o.adminPassword
		state    runState
		engine   = "sqlite"
	)
	if o.dsn != "" {
		engine = "mysql (-dsn)"
	}
	if o.target == "" {
		httpPort, err := freePort()
		if err != nil {
			return err
		}
		agiPort, err := freePort()
		if err != nil {
			return err
		}
		base = "http://127.0.0.1:" + strconv.Itoa(httpPort)
		agiAddr = "127.0.0.1:" + strconv.Itoa(agiPort)
		dataDir := o.dataDir
		if dataDir == "" {
			if dataDir, err = os.MkdirTemp("", "omnicc-soak-"); err != nil {
				return err
			}
			if !o.keep {
				defer os.RemoveAll(dataDir)
			}
		}
		if password == "" {
			password = strongPassword()
		}
		d = newDaemon(o.bin, dataDir, o.dsn, "127.0.0.1:"+strconv.Itoa(httpPort), agiAddr, password)
		if err := d.start(); err != nil {
			return err
		}
		defer func() {
			if err := d.stop(30 * time.Second); err != nil {
				fmt.Fprintln(out, "soak:", err)
			}
			printLogSummary(out, d.logPath)
			if o.keep || o.dataDir != "" {
				fmt.Fprintf(out, "data and omniccd.log kept in %s\n", dataDir)
			}
		}()
		fmt.Fprintf(out, "started %s (pid %d) on %s, http %s, fastagi %s, data %s\n", o.bin, d.pid(), engine, base, agiAddr, dataDir)
		state.pid.Store(int64(d.pid()))
	} else {
		engine = "already running"
		state.pid.Store(int64(o.pid))
	}

	c := newClient(base, 64)
	if d != nil {
		took, err := d.waitReady(ctx, c, 60*time.Second)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "ready in %s\n", took.Round(time.Millisecond))
	}
	if err := c.login(ctx, "admin", password); err != nil {
		return fmt.Errorf("%w (a database keeps the admin password of its first start: pass -admin-password, or use a new database)", err)
	}
	f, err := seed(ctx, c, runID, o.agents, o.ws)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "seeded run %s: DID %s -> queue %s (route %s), %d agents, %d API keys for %d websockets\n",
		runID, f.DID, f.Queue, f.Route, len(f.Agents), len(f.WSKeys), o.ws)
	fmt.Fprintf(out, "load: %d FastAGI sessions in flight, %d websockets, %.0f realtime lookups/s, %.0f REST writes/s, for %s",
		o.concurrency, o.ws, o.realtimeRate, o.restRate, o.duration)
	if o.kill {
		fmt.Fprintf(out, "; SIGKILL at %s", o.killAfter)
	}
	fmt.Fprintln(out)

	stats := NewStats()
	// The idle figures the daemon should come back to after the load.
	idle := reporter{out: out, c: c, stats: NewStats(), state: &state, ws: &wsLoad{}, start: time.Now(), last: time.Now()}
	idle.print(ctx, " (idle, before the load)", false)
	loadStart := time.Now()
	// The load is stopped by the reporter after its last figures, taken
	// while every websocket and session is still going.
	loadCtx, stopLoad := context.WithCancel(ctx)
	defer stopLoad()
	loadEndAt := loadStart.Add(o.duration)

	agi := &agiLoad{addr: agiAddr, did: f.DID, prefix: "8" + fmt.Sprintf("%06d", started.Unix()%1_000_000),
		timeout: o.timeout, stats: stats, runStart: loadStart.Unix(), linkedID: o.linkedID}
	wsURL := "ws" + strings.TrimPrefix(base, "http") + "/api/v1/ws"
	ws := &wsLoad{url: wsURL, keys: f.WSKeys, stats: stats}
	// A client of its own for the paced loads, so the FastAGI-like traffic
	// and the reporter never wait behind each other's connections.
	rc := newClient(base, 128)
	rc.token = c.token

	var wg sync.WaitGroup
	wg.Go(func() { agi.run(loadCtx, o.concurrency) })
	wg.Go(func() { ws.run(loadCtx, o.ws) })
	// As many workers as Asterisk has threads blocked on lookups at worst.
	wg.Go(func() { paced(loadCtx, o.realtimeRate, 256, stats, kindRealtime, realtimeLookup(rc, f, stats)) })
	wg.Go(func() { paced(loadCtx, o.restRate, 64, stats, kindREST, restWrite(rc, f, stats)) })

	var kill killRecord
	if o.kill {
		wg.Go(func() { kill = killAndRestart(loadCtx, out, d, c, &state, loadStart, o.killAfter) })
	}

	prefixes := splitList(o.metrics)
	rep := reporter{did: f.DID, out: out, c: c, stats: stats, state: &state, ws: ws, agi: agi, prefixes: prefixes, start: loadStart, last: loadStart}
	tick := time.NewTicker(o.report)
	end := time.NewTimer(o.duration)
	func() {
		defer tick.Stop()
		defer end.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-end.C:
				rep.print(ctx, " (end of load)", true)
				return
			case <-tick.C:
				// A tick just before the end is left to the final report.
				if time.Until(loadEndAt) > time.Second {
					rep.print(ctx, "", true)
				}
			}
		}
	}()
	stopLoad()
	wg.Wait()
	loadEnd := time.Now()
	// Sessions in flight at the stop end now: in the totals, not in the
	// idle figures below.
	stats.Snapshot()
	// Keep-alive connections of the load would hold the daemon's idle
	// goroutines and fds up.
	rc.http.CloseIdleConnections()
	if ctx.Err() != nil {
		return ctx.Err()
	}

	fmt.Fprintf(out, "\n=== totals over %s (%s) ===\n", loadEnd.Sub(loadStart).Round(time.Second), engine)
	writeFigures(out, stats.Totals(), loadEnd.Sub(loadStart))
	fmt.Fprintf(out, "  websockets: %d events read (%s), %d drops\n", ws.events.Load(), ws.typeCounts(), ws.drops.Load())
	if o.kill && !kill.at.IsZero() {
		fmt.Fprintf(out, "  kill -9 at %s: omniccd back and ready after %s\n", kill.at.Sub(loadStart).Round(time.Millisecond), kill.down.Round(time.Millisecond))
	}

	// Idle figures: the daemon should return to them once the load is gone.
	sleepCtx(ctx, 5*time.Second)
	rep.print(ctx, " (idle, 5 s after the load)", false)

	if o.match {
		return matchCallLog(ctx, out, c, f, agi.replies, loadStart, loadEnd, kill)
	}
	return nil
}

// killRecord is when the daemon was killed and how long it was away.
type killRecord struct {
	at    time.Time // just before SIGKILL
	ready time.Time // when the restarted daemon answered /readyz
	down  time.Duration
}

func killAndRestart(ctx context.Context, out io.Writer, d *daemon, c *client, state *runState, loadStart time.Time, after time.Duration) killRecord {
	var k killRecord
	sleepCtx(ctx, time.Until(loadStart.Add(after)))
	if ctx.Err() != nil {
		return k
	}
	k.at = time.Now()
	if err := d.kill(); err != nil {
		fmt.Fprintln(out, "soak: kill:", err)
		return killRecord{}
	}
	fmt.Fprintf(out, "[%s] SIGKILL sent to omniccd pid %d; restarting on the same data\n", fmtElapsed(k.at.Sub(loadStart)), state.pid.Load())
	if err := d.start(); err != nil {
		fmt.Fprintln(out, "soak: restart:", err)
		return k
	}
	state.pid.Store(int64(d.pid()))
	// Not tied to the load: the daemon must come back even if the load ends.
	if _, err := d.waitReady(context.Background(), c, 120*time.Second); err != nil {
		fmt.Fprintln(out, "soak: restart:", err)
		return k
	}
	k.ready = time.Now()
	k.down = k.ready.Sub(k.at)
	fmt.Fprintf(out, "[%s] omniccd pid %d ready again, %s after the kill\n", fmtElapsed(k.ready.Sub(loadStart)), d.pid(), k.down.Round(time.Millisecond))
	return k
}

type reporter struct {
	did      string // the run's DID, for the call-log count
	out      io.Writer
	c        *client
	stats    *Stats
	state    *runState
	ws       *wsLoad
	agi      *agiLoad
	prefixes []string
	start    time.Time
	last     time.Time
}

// lockedWriter lets the reporter and the kill goroutine print whole
// blocks without interleaving.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func (r *reporter) print(ctx context.Context, note string, figures bool) {
	var buf bytes.Buffer
	r.report(ctx, &buf, note, figures)
	r.out.Write(buf.Bytes())
}

func (r *reporter) report(ctx context.Context, out io.Writer, note string, figures bool) {
	now := time.Now()
	period := now.Sub(r.last)
	r.last = now
	pid := int(r.state.pid.Load())
	ps := readProc(pid)
	mctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	m, mok := r.c.metrics(mctx)
	cancel()
	rss, fds, gor := "n/a", "n/a", "n/a"
	if ps.OK {
		rss = fmt.Sprintf("%.1f MiB", float64(ps.RSSKiB)/1024)
		fds = strconv.Itoa(ps.FDs)
	}
	if v, ok := m["go_goroutines"]; mok && ok {
		gor = strconv.FormatFloat(v, 'f', 0, 64)
	}
	fmt.Fprintf(out, "\n[%s]%s omniccd pid %d: RSS %s, goroutines %s, fds %s; websockets open %d, events read %d\n",
		fmtElapsed(now.Sub(r.start)), note, pid, rss, gor, fds, r.ws.open.Load(), r.ws.events.Load())
	if r.did != "" {
		// How far the call log is behind what Asterisk received: every
		// decision and every OMNICC_ERROR refusal has a row.
		answered := r.agi.replied.Load() + r.agi.refused.Load()
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		rows, err := r.c.callLogTotal(cctx, r.did, r.start.Add(-2*time.Second))
		cancel()
		if err != nil {
			fmt.Fprintf(out, "  call log: %d sessions answered so far; GET /call-log failed: %s\n", answered, httpReason(err))
		} else {
			fmt.Fprintf(out, "  call log: %d sessions answered so far (decision or OMNICC_ERROR), %d rows written (behind by %d)\n",
				answered, rows, answered-int64(rows))
		}
	}
	if extra := pickMetrics(m, r.prefixes); extra != "" {
		fmt.Fprintf(out, "  metrics: %s\n", extra)
	}
	if figures {
		writeFigures(out, r.stats.Snapshot(), period)
	}
}

// fmtOffset prints a signed offset in milliseconds: -19.4ms is before.
func fmtOffset(d time.Duration) string {
	return fmt.Sprintf("%+.1fms", float64(d)/float64(time.Millisecond))
}

func fmtElapsed(d time.Duration) string {
	d = d.Round(time.Second)
	return fmt.Sprintf("%02d:%02d", int(d.Minutes()), int(d.Seconds())%60)
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// pickMetrics prints the samples whose names start with one of prefixes,
// leaving out histogram and summary series.
func pickMetrics(m map[string]float64, prefixes []string) string {
	var parts []string
	for name, v := range m {
		if strings.HasSuffix(name, "_bucket") || strings.HasSuffix(name, "_sum") || strings.HasSuffix(name, "_count") {
			continue
		}
		for _, p := range prefixes {
			if strings.HasPrefix(name, p) {
				parts = append(parts, name+"="+strconv.FormatFloat(v, 'f', -1, 64))
				break
			}
		}
	}
	return strings.Join(sortStrings(parts), " ")
}

func sortStrings(s []string) []string {
	sort.Strings(s)
	return s
}

// matchCallLog waits for the call log to stop growing, reads every row of
// the run's DID, and checks that each session that received a decision has
// its row (callers are unique per session).
func matchCallLog(ctx context.Context, out io.Writer, c *client, f *fixture, replies []reply, loadStart, loadEnd time.Time, k killRecord) error {
	from := loadStart.Add(-2 * time.Second)
	fmt.Fprintf(out, "\n=== call log: matching %d replied sessions ===\n", len(replies))
	// The writer is behind by design (batches); wait until the count holds
	// still for two seconds, at most 2 minutes.
	prev, still := -1, 0
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		n, err := c.callLogTotal(ctx, f.DID, from)
		if err != nil {
			return fmt.Errorf("read the call log: %w", err)
		}
		if n == prev {
			if still++; still >= 4 {
				break
			}
		} else {
			prev, still = n, 0
		}
		sleepCtx(ctx, 500*time.Millisecond)
	}
	readStart := time.Now()
	rows, err := c.callLog(ctx, f.DID, from, time.Now().Add(time.Second), time.Second)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "  read %d rows for DID %s in %s (GET /call-log?did=&from=&to=&page=&per_page=500, 1 s windows)\n",
		len(rows), f.DID, time.Since(readStart).Round(time.Millisecond))
	res := match(replies, rows, k.at)
	res.write(out, k)
	return nil
}

// matchResult is how the replied sessions compare with the call log.
type matchResult struct {
	Replied    int
	Found      int
	Duplicates int // callers with more than one row
	Unreplied  int // rows whose session saw no decision (cut by the kill, or refusals)
	Refusals   int // of Unreplied, rows with an error (OMNICC_ERROR was sent)
	// Lost decisions, split by the kill when there was one: sessions that
	// connected before the SIGKILL were served by the daemon killed.
	LostBefore []time.Time // when each was decided
	LostAfter  []time.Time // served by the restarted daemon (or all, without a kill)
}

func match(replies []reply, rows []callLogRow, killAt time.Time) matchResult {
	seen := make(map[string]int, len(rows))
	refused := map[string]bool{}
	for _, r := range rows {
		seen[r.Caller]++
		if r.Error != "" {
			refused[r.Caller] = true
		}
	}
	var m matchResult
	replied := make(map[string]bool, len(replies))
	for _, r := range replies {
		m.Replied++
		replied[r.Caller] = true
		if seen[r.Caller] > 0 {
			m.Found++
			continue
		}
		if !killAt.IsZero() && r.Started.Before(killAt) {
			m.LostBefore = append(m.LostBefore, r.Decided)
		} else {
			m.LostAfter = append(m.LostAfter, r.Decided)
		}
	}
	for caller, n := range seen {
		if n > 1 {
			m.Duplicates++
		}
		if !replied[caller] {
			m.Unreplied++
			if refused[caller] {
				m.Refusals++
			}
		}
	}
	slices.SortFunc(m.LostBefore, func(a, b time.Time) int { return a.Compare(b) })
	slices.SortFunc(m.LostAfter, func(a, b time.Time) int { return a.Compare(b) })
	return m
}

func (m matchResult) write(out io.Writer, k killRecord) {
	lost := len(m.LostBefore) + len(m.LostAfter)
	pct := 0.0
	if m.Replied > 0 {
		pct = 100 * float64(lost) / float64(m.Replied)
	}
	fmt.Fprintf(out, "  replied sessions %d, with their row %d, lost %d (%.2f %%); callers with several rows %d; rows without a replied session %d (%d refusals)\n",
		m.Replied, m.Found, lost, pct, m.Duplicates, m.Unreplied, m.Refusals)
	if !k.at.IsZero() {
		if n := len(m.LostBefore); n > 0 {
			first, last := m.LostBefore[0].Sub(k.at), m.LostBefore[n-1].Sub(k.at)
			older := 0
			for _, t := range m.LostBefore {
				if k.at.Sub(t) > 250*time.Millisecond {
					older++
				}
			}
			fmt.Fprintf(out, "  lost by kill -9: %d decisions the killed daemon had replied, from %s to %s relative to the SIGKILL (span %s); %d older than 250 ms\n",
				n, fmtOffset(first), fmtOffset(last), fmtDur(last-first), older)
		} else {
			fmt.Fprintln(out, "  lost by kill -9: none of the decisions the killed daemon replied")
		}
	}
	if n := len(m.LostAfter); n > 0 {
		what := "lost while the daemon was up"
		if !k.at.IsZero() {
			what = "lost after the restart (daemon up)"
		}
		fmt.Fprintf(out, "  %s: %d decisions, replied from %s to %s\n", what, n,
			m.LostAfter[0].Format("15:04:05.000"), m.LostAfter[n-1].Format("15:04:05.000"))
	}
}

// printLogSummary counts omniccd's warnings and errors by message.
func printLogSummary(out io.Writer, path string) {
	b, err := os.ReadFile(path)
	if err != nil {
		return
	}
	counts := map[string]int{}
	for _, line := range strings.Split(string(b), "\n") {
		level := ""
		switch {
		case strings.Contains(line, "level=WARN"), strings.Contains(line, `"level":"WARN"`):
			level = "WARN"
		case strings.Contains(line, "level=ERROR"), strings.Contains(line, `"level":"ERROR"`):
			level = "ERROR"
		default:
			continue
		}
		key := level + " " + logMsg(line)
		if level == "ERROR" {
			// What failed and why, numbers folded so that alike errors group.
			for _, a := range []string{"path", "err"} {
				if v := logAttr(line, a); v != "" {
					if len(v) > 120 {
						v = v[:120] + "…"
					}
					key += " " + a + "=" + foldDigits(v)
				}
			}
		}
		counts[key]++
	}
	fmt.Fprintf(out, "\n=== %s: warnings and errors by message ===\n", filepath.Base(path))
	if len(counts) == 0 {
		fmt.Fprintln(out, "  none")
		return
	}
	keys := make([]string, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return counts[keys[i]] > counts[keys[j]] })
	for i, k := range keys {
		if i == 10 {
			fmt.Fprintf(out, "  … %d more kinds\n", len(keys)-10)
			break
		}
		fmt.Fprintf(out, "  %7d  %s\n", counts[k], k)
	}
}

// logMsg is the msg of a slog text line.
func logMsg(line string) string {
	if v := logAttr(line, "msg"); v != "" {
		return v
	}
	return "(no msg)"
}

// foldDigits replaces each run of digits with N.
func foldDigits(s string) string {
	var b strings.Builder
	digit := false
	for _, r := range s {
		if r >= '0' && r <= '9' {
			if !digit {
				b.WriteByte('N')
			}
			digit = true
			continue
		}
		digit = false
		b.WriteRune(r)
	}
	return b.String()
}

// logAttr is the value of key in a slog text line, "" when absent.
func logAttr(line, key string) string {
	i := strings.Index(line, " "+key+"=")
	if i < 0 {
		return ""
	}
	s := line[i+len(key)+2:]
	if strings.HasPrefix(s, `"`) {
		if v, err := strconv.QuotedPrefix(s); err == nil {
			if u, err := strconv.Unquote(v); err == nil {
				return u
			}
		}
	}
	if j := strings.IndexByte(s, ' '); j >= 0 {
		return s[:j]
	}
	return s
}
