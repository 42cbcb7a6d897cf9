package main

import (
	"bufio"
	"net"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestPercentile(t *testing.T) {
	ms := func(v ...int) []time.Duration {
		out := make([]time.Duration, len(v))
		for i, x := range v {
			out[i] = time.Duration(x) * time.Millisecond
		}
		return out
	}
	hundred := make([]time.Duration, 100)
	for i := range hundred {
		hundred[i] = time.Duration(i+1) * time.Millisecond
	}
	for _, c := range []struct {
		in   []time.Duration
		p    float64
		want time.Duration
	}{
		{nil, 50, 0},
		{ms(7), 50, 7 * time.Millisecond},
		{ms(7), 99, 7 * time.Millisecond},
		{ms(1, 2), 50, 1 * time.Millisecond},
		{ms(1, 2, 3, 4), 50, 2 * time.Millisecond},
		{ms(1, 2, 3, 4, 5), 50, 3 * time.Millisecond},
		{hundred, 50, 50 * time.Millisecond},
		{hundred, 99, 99 * time.Millisecond},
		{hundred, 100, 100 * time.Millisecond},
		{hundred, 0, 1 * time.Millisecond},
		{append(hundred, 1000*time.Millisecond), 99, 100 * time.Millisecond}, // rank ceil(0.99*101) = 100
	} {
		if got := Percentile(c.in, c.p); got != c.want {
			t.Errorf("Percentile(%d values, %v) = %v, want %v", len(c.in), c.p, got, c.want)
		}
	}
}

func TestStatsSnapshotResets(t *testing.T) {
	s := NewStats()
	for i := 1; i <= 100; i++ {
		s.OK(kindFastAGI, time.Duration(i)*time.Millisecond)
	}
	s.Err(kindFastAGI, "connect")
	s.Err(kindFastAGI, "connect")
	figs := s.Snapshot()
	var fa Figures
	for _, f := range figs {
		if f.Kind == kindFastAGI {
			fa = f
		}
	}
	if fa.N != 100 || fa.P50 != 50*time.Millisecond || fa.P99 != 99*time.Millisecond || fa.Errs["connect"] != 2 {
		t.Fatalf("first interval: %+v", fa)
	}
	for _, f := range s.Snapshot() {
		if f.N != 0 || f.ErrCount() != 0 {
			t.Fatalf("second interval not empty: %+v", f)
		}
	}
	for _, f := range s.Totals() {
		if f.Kind == kindFastAGI && (f.N != 100 || f.Errs["connect"] != 2 || f.P99 != 99*time.Millisecond) {
			t.Fatalf("totals: %+v", f)
		}
	}
}

func TestReservoirStaysBounded(t *testing.T) {
	s := NewStats()
	for i := range maxSamples + 1000 {
		s.OK(kindRealtime, time.Duration(i))
	}
	if n := len(s.series[kindRealtime].samples); n != maxSamples {
		t.Fatalf("kept %d samples, want %d", n, maxSamples)
	}
}

func TestParseArgs(t *testing.T) {
	for _, c := range []struct {
		line string
		want []string
	}{
		{`SET VARIABLE OMNICC_DEST_TYPE queue`, []string{"SET", "VARIABLE", "OMNICC_DEST_TYPE", "queue"}},
		{`SET VARIABLE XNOTE "hello world; with=chars"`, []string{"SET", "VARIABLE", "XNOTE", "hello world; with=chars"}},
		{`SET VARIABLE X ""`, []string{"SET", "VARIABLE", "X", ""}},
		{`SET VARIABLE X "say \"hi\" \\ there"`, []string{"SET", "VARIABLE", "X", `say "hi" \ there`}},
		{"GET  VARIABLE\tCHANNEL(linkedid)", []string{"GET", "VARIABLE", "CHANNEL(linkedid)"}},
		{`GET FULL VARIABLE "${CALLERID(name)} <${CALLERID(num)}>"`, []string{"GET", "FULL", "VARIABLE", "${CALLERID(name)} <${CALLERID(num)}>"}},
		{``, nil},
	} {
		if got := parseArgs(c.line); !slices.Equal(got, c.want) {
			t.Errorf("parseArgs(%q) = %q, want %q", c.line, got, c.want)
		}
	}
}

func TestHeaderMatchesAsterisk(t *testing.T) {
	h := string(callSpec{Addr: "127.0.0.1:4573", DID: "0612345678", Caller: "5551234", UniqueID: "1795277170.120",
		Channel: "PJSIP/trunk-00000001", ThreadID: 140291969099456}.header())
	lines := strings.SplitAfter(h, "\n")
	if lines[0] != "agi_network: yes\n" || lines[1] != "agi_network_script: inbound\n" ||
		!strings.Contains(h, "agi_accountcode: \n") || !strings.HasSuffix(h, "agi_threadid: 140291969099456\n\n") {
		t.Fatalf("header:\n%s", h)
	}
	if n := strings.Count(h, "\n"); n != 23 { // 22 variables and the empty line
		t.Fatalf("header has %d lines, want 23", n)
	}
	h = string(callSpec{Addr: "127.0.0.1:4573", UniqueID: "1795277170.120", LinkedIDInURL: true}.header())
	if !strings.Contains(h, "agi_network_script: inbound?linkedid=1795277170.120\n") ||
		!strings.Contains(h, "agi_request: agi://127.0.0.1:4573/inbound?linkedid=1795277170.120\n") {
		t.Fatalf("header with linkedid:\n%s", h)
	}
}

// TestRunCall plays omniccd's side of /inbound against runCall: the
// header is read to its empty line, each command gets Asterisk's reply, and
// the variables set come back.
func TestRunCall(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	got := make(chan []string, 1)
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		defer conn.Close()
		r := bufio.NewReader(conn)
		var env []string
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return
			}
			if line == "\n" {
				break
			}
			env = append(env, line)
		}
		var replies []string
		for _, cmd := range []string{
			"SET VARIABLE OMNICC_DEST_TYPE queue\n",
			"SET VARIABLE OMNICC_DEST \"sales team\"\n",
			"GET VARIABLE CHANNEL(linkedid)\n",
			"GET VARIABLE NOSUCHVAR\n",
			"HANGUP\n",
		} {
			conn.Write([]byte(cmd))
			line, err := r.ReadString('\n')
			if err != nil {
				return
			}
			replies = append(replies, line)
		}
		// Asterisk's own notice after a HANGUP command.
		line, _ := r.ReadString('\n')
		replies = append(replies, line)
		got <- append(env[:1:1], replies...)
	}()
	res, err := runCall(callSpec{Addr: ln.Addr().String(), DID: "100", Caller: "81", UniqueID: "1.7", Channel: "PJSIP/x",
		Deadline: 5 * time.Second, DialLimit: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"agi_network: yes\n", "200 result=1\n", "200 result=1\n", "200 result=1 (1.7)\n", "200 result=0\n",
		"200 result=1\n", "HANGUP\n"}
	if g := <-got; !slices.Equal(g, want) {
		t.Fatalf("exchange %q, want %q", g, want)
	}
	if res.Vars["OMNICC_DEST_TYPE"] != "queue" || res.Vars["OMNICC_DEST"] != "sales team" || res.Decided.IsZero() || res.Commands != 5 {
		t.Fatalf("result %+v", res)
	}
}

func TestRunCallConnectRefused(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close()
	_, err := runCall(callSpec{Addr: addr, Deadline: time.Second, DialLimit: time.Second})
	if reasonOf(err) != "connect" {
		t.Fatalf("err %v (reason %q), want a connect error", err, reasonOf(err))
	}
}

func TestCurlEncode(t *testing.T) {
	got := curlEncode([][2]string{{"id LIKE", "agent200;@%"}, {"name", "a+b"}})
	if want := "id%20LIKE=agent200%3B%40%25&name=a%2Bb"; got != want {
		t.Fatalf("curlEncode = %q, want %q", got, want)
	}
}

func TestParseMetrics(t *testing.T) {
	m := parseMetrics([]byte(`# HELP go_goroutines Number of goroutines.
# TYPE go_goroutines gauge
go_goroutines 42
http_requests_total{code="200",method="GET"} 3
http_requests_total{code="500",method="GET"} 2 1700000000000
omnicc_calllog_queue_depth 1.5e+03
`))
	if m["go_goroutines"] != 42 || m["http_requests_total"] != 5 || m["omnicc_calllog_queue_depth"] != 1500 {
		t.Fatalf("parsed %v", m)
	}
	if s := pickMetrics(m, []string{"omnicc_calllog_"}); s != "omnicc_calllog_queue_depth=1500" {
		t.Fatalf("picked %q", s)
	}
}

func TestMatch(t *testing.T) {
	kill := time.Date(2026, 1, 1, 10, 0, 0, 0, time.UTC)
	at := func(ms int) time.Time { return kill.Add(time.Duration(ms) * time.Millisecond) }
	replies := []reply{{"a", at(-901), at(-900)}, {"b", at(-201), at(-200)}, {"c", at(-101), at(-100)},
		{"c2", at(-1), at(1)}, // connected before the kill, reply read just after it
		{"d", at(499), at(500)}, {"e", at(599), at(600)}}
	rows := []callLogRow{{Caller: "a"}, {Caller: "d"}, {Caller: "d"}, {Caller: "z"}}
	m := match(replies, rows, kill)
	if m.Replied != 6 || m.Found != 2 || m.Duplicates != 1 || m.Unreplied != 1 ||
		!slices.Equal(m.LostBefore, []time.Time{at(-200), at(-100), at(1)}) || !slices.Equal(m.LostAfter, []time.Time{at(600)}) {
		t.Fatalf("match: %+v", m)
	}
	var b strings.Builder
	m.write(&b, killRecord{at: kill})
	if !strings.Contains(b.String(), "lost by kill -9: 3 decisions the killed daemon had replied, from -200.0ms to +1.0ms relative to the SIGKILL (span 201.0ms); 0 older than 250 ms") {
		t.Fatalf("report:\n%s", b.String())
	}
}

func TestErrorClass(t *testing.T) {
	if got := errorClass("no route for DID 7796587520 from 858752000000034"); got != "no_route_for_DID" {
		t.Fatalf("errorClass = %q", got)
	}
}

func TestLogAttr(t *testing.T) {
	line := `time=T level=ERROR msg="request failed" method=GET path=/api/v1/agents/:id err="sql: timeout after 1500ms"`
	if p, e := logAttr(line, "path"), foldDigits(logAttr(line, "err")); p != "/api/v1/agents/:id" || e != "sql: timeout after Nms" {
		t.Fatalf("path %q err %q", p, e)
	}
}

func TestLogMsg(t *testing.T) {
	for line, want := range map[string]string{
		`time=2026-12-06T20:00:00Z level=WARN msg="calllog: queue full (is the database down?)" dropped=3`: "calllog: queue full (is the database down?)",
		`time=2026-12-06T20:00:00Z level=ERROR msg=boom err=x`:                                             "boom",
		`time=2026-12-06T20:00:00Z level=ERROR err=x`:                                                      "(no msg)",
	} {
		if got := logMsg(line); got != want {
			t.Errorf("logMsg(%q) = %q, want %q", line, got, want)
		}
	}
}
