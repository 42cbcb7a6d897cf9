package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/goccy/go-yaml"
	"go.uber.org/goleak"

	"omnicc/ami/amitest"
	"omnicc/api"
)

func freeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// syncBuffer lets the test read what the daemon writes while it runs.
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

// The daemon starts on the embedded store with nothing but a data dir,
// prints the generated admin password once, answers, and on cancellation
// (what SIGTERM does) drains and returns with every goroutine gone.
func TestServeStartsAndStopsCleanly(t *testing.T) {
	// Registered first so it runs last, after the fake Asterisk is closed.
	ignore := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, ignore) })
	dir := t.TempDir()
	addr := freeAddr(t)
	t.Setenv("OMNICC_DATA_DIR", dir)
	t.Setenv("OMNICC_HTTP_ADDR", addr)
	agiAddr := freeAddr(t)
	t.Setenv("OMNICC_AGI_ADDR", agiAddr)
	asterisk := amitest.NewServer(t, "omnicc", "s3cret")
	queues := amitest.NewQueues(asterisk, "sales")
	asterisk.Handle("Reload", amitest.Reply(amitest.Success("Message", "Module Reloaded.")))
	t.Setenv("OMNICC_AMI", "omnicc:s3cret@"+asterisk.Addr())
	ctx, cancel := context.WithCancel(context.Background())
	var out, errOut syncBuffer
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"serve"}, &out, &errOut) }()

	waitReady(t, addr, &errOut)
	m := regexp.MustCompile(`created user admin with password (\S+)`).FindStringSubmatch(out.String())
	if m == nil {
		t.Fatalf("the generated admin password was not printed:\n%s", out.String())
	}
	agentReachesAsterisk(t, "http://"+addr, m[1])
	if err := asterisk.WaitLogins(ctx, 1); err != nil {
		t.Fatalf("omniccd never logged in to AMI: %v", err)
	}
	// The agent created above is new to res_pjsip's qualify tracking.
	rctx, rcancel := context.WithTimeout(ctx, 10*time.Second)
	if got, err := asterisk.WaitActions(rctx, "Reload", 1); err != nil || got[0].Get("Module") != "res_pjsip.so" {
		t.Fatalf("no Reload of res_pjsip.so after an agent was created: %v %v", got, err)
	}
	rcancel()
	agentLogsInOverAMI(t, "http://"+addr, m[1], queues)
	everyDocumentedRouteIsServed(t, "http://"+addr, m[1])
	everyScriptIsKnown(t, agiAddr)
	agiMetricsAreServed(t, "http://"+addr)
	operatorMetricsAreServed(t, "http://"+addr)
	callLogIsJournaledAndMeasured(t, "http://"+addr, dir)
	databaseMetricsAreExposed(t, "http://"+addr)
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("serve returned %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not stop after cancellation")
	}
	if _, err := filepath.Glob(filepath.Join(dir, "omnicc.db")); err != nil {
		t.Fatal(err)
	}

	// A second start finds the admin and prints no password.
	out = syncBuffer{}
	ctx2, cancel2 := context.WithCancel(context.Background())
	go func() { done <- run(ctx2, []string{"serve"}, &out, &errOut) }()
	waitReady(t, addr, &errOut)
	cancel2()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out.String(), "password") {
		t.Fatalf("second start printed a password again:\n%s", out.String())
	}
}

// callLogIsJournaledAndMeasured checks the call log's and the history's
// journals are under the data directory and the call log's metrics are on
// /metrics.
func callLogIsJournaledAndMeasured(t *testing.T, base, dataDir string) {
	t.Helper()
	for _, name := range []string{"calllog", "history"} {
		if segs, _ := filepath.Glob(filepath.Join(dataDir, "journal", name, "*.log")); len(segs) == 0 {
			t.Errorf("no %s journal under %s/journal", name, dataDir)
		}
	}
	res, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	for _, m := range []string{"omnicc_calllog_dropped_total", "omnicc_calllog_queue_depth", "omnicc_calllog_write_lag_seconds", "go_goroutines"} {
		if !strings.Contains(string(body), m) {
			t.Errorf("/metrics lacks %s", m)
		}
	}
}

// databaseMetricsAreExposed: the health monitor runs and the pools' waits
// are in /metrics.
func databaseMetricsAreExposed(t *testing.T, base string) {
	t.Helper()
	res, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	for _, want := range []string{"omnicc_db_up 1", `omnicc_db_pool_waits_total{pool="rest"}`, `omnicc_db_pool_wait_seconds_total{pool="rest"}`} {
		if !strings.Contains(string(raw), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

func waitReady(t testing.TB, addr string, log *syncBuffer) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		res, err := http.Get("http://" + addr + "/readyz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == 200 {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("omniccd never became ready: %v\n%s", err, log.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// agentReachesAsterisk creates an agent through the API and looks its
// endpoint up the way res_config_curl does: no reload in between.
func agentReachesAsterisk(t *testing.T, base, adminPassword string) {
	t.Helper()
	post := func(path, token, ctype, body string) (int, string) {
		req, _ := http.NewRequest("POST", base+path, strings.NewReader(body))
		req.Header.Set("Content-Type", ctype)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		raw, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(raw)
	}
	st, body := post("/api/v1/auth/login", "", "application/json", `{"username":"admin","password":"`+adminPassword+`"}`)
	tok := regexp.MustCompile(`"token":"([^"]+)"`).FindStringSubmatch(body)
	if st != 200 || tok == nil {
		t.Fatalf("admin login: %d %s", st, body)
	}
	st, body = post("/api/v1/agents", tok[1], "application/json",
		`{"full_name":"Web Agent","username":"web.agent","typology":"webrtc","password":"Str0ng-Pass"}`)
	if st != 201 {
		t.Fatalf("create agent: %d %s", st, body)
	}
	st, body = post("/realtime/ps_endpoints/single", "", "application/x-www-form-urlencoded", "id=web.agent")
	if st != 200 || !strings.Contains(body, "webrtc=yes") || !strings.Contains(body, "transport=transport-wss") {
		t.Fatalf("res_config_curl lookup of the new agent: %d %q", st, body)
	}
}

// agentLogsInOverAMI assigns the agent to a voice queue and logs it in over
// REST: Asterisk must receive the QueueAdd that makes it a dynamic member.
func agentLogsInOverAMI(t *testing.T, base, adminPassword string, queues *amitest.Queues) {
	t.Helper()
	c := &client{t: t, base: base}
	c.token = c.expect("POST", "/api/v1/auth/login", `{"username":"admin","password":"`+adminPassword+`"}`, 200, `"token":"([^"]+)"`)
	agentID := c.expect("GET", "/api/v1/agents?q=web.agent", "", 200, `"id":(\d+)`)
	queueID := c.expect("POST", "/api/v1/queues", `{"name":"sales","channel":"voice"}`, 201, `"id":(\d+)`)
	c.expect("POST", "/api/v1/queues/"+queueID+"/agents", `{"agent_id":`+agentID+`,"penalty":3}`, 200, ``)
	c.expect("POST", "/api/v1/agents/"+agentID+"/login", `{}`, 200, ``)
	deadline := time.Now().Add(10 * time.Second)
	for {
		if m, ok := queues.Member("sales", "PJSIP/web.agent"); ok {
			if m.Penalty != 3 || m.Membership != "dynamic" || m.MemberName != "web.agent" {
				t.Fatalf("Asterisk's member: %+v", m)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no QueueAdd reached Asterisk; members: %+v", queues.Members())
		}
		time.Sleep(20 * time.Millisecond)
	}
	state := c.expect("GET", "/api/v1/agents/"+agentID+"/state", "", 200, `"state":"([a-z_]+)"`)
	if state != "ready" {
		t.Fatalf("state after login = %q, want ready", state)
	}
}

// everyDocumentedRouteIsServed: the assembled daemon must serve every path
// of openapi.yaml — a component built but not mounted answers "no such route".
func everyDocumentedRouteIsServed(t *testing.T, base, adminPassword string) {
	t.Helper()
	c := &client{t: t, base: base}
	c.token = c.expect("POST", "/api/v1/auth/login", `{"username":"admin","password":"`+adminPassword+`"}`, 200, `"token":"([^"]+)"`)
	var doc struct {
		Paths map[string]map[string]any `yaml:"paths"`
	}
	if err := yaml.Unmarshal(api.OpenAPI, &doc); err != nil {
		t.Fatal(err)
	}
	param := regexp.MustCompile(`\{[a-z_]+\}`)
	for path, ops := range doc.Paths {
		for method := range ops {
			if method == "parameters" || path == "/ws" {
				continue
			}
			req, _ := http.NewRequest(strings.ToUpper(method), base+"/api/v1"+param.ReplaceAllString(path, "999999"), strings.NewReader("{}"))
			req.Header.Set("Authorization", "Bearer "+c.token)
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			raw, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if strings.Contains(string(raw), "no such route") {
				t.Errorf("%s %s is documented but not served by omniccd", strings.ToUpper(method), path)
			}
		}
	}
}

// everyScriptIsKnown opens a FastAGI session per script of SPEC.md, answering
// every command with success, and fails when omniccd says it does not know it.
func everyScriptIsKnown(t *testing.T, agiAddr string) {
	t.Helper()
	for _, script := range []string{"inbound", "outbound", "agent-login"} {
		conn, err := net.Dial("tcp", agiAddr)
		if err != nil {
			t.Fatal(err)
		}
		_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
		fmt.Fprintf(conn, "agi_network: yes\nagi_network_script: %s\nagi_request: agi://127.0.0.1/%s\n"+
			"agi_channel: PJSIP/web.agent-00000001\nagi_uniqueid: 1700000000.1\nagi_callerid: 5551234\n"+
			"agi_dnid: 5550100\nagi_context: from-sip\nagi_extension: 5550100\nagi_priority: 1\n\n", script, script)
		var sent strings.Builder
		r := bufio.NewReader(conn)
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				break
			}
			sent.WriteString(line)
			fmt.Fprint(conn, "200 result=1\n")
		}
		conn.Close()
		if strings.Contains(sent.String(), "unknown script") {
			t.Errorf("FastAGI /%s is not served: %q", script, sent.String())
		}
	}
}

// agiMetricsAreServed: the FastAGI server's session metrics reach /metrics,
// so that refusals at the session cap can be alerted on.
func agiMetricsAreServed(t *testing.T, base string) {
	t.Helper()
	res, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(res.Body)
	res.Body.Close()
	for _, want := range []string{"\nomnicc_agi_sessions_refused_total 0\n", "\nomnicc_agi_sessions_active ", "\nomnicc_agi_sessions_max 1000\n"} {
		if !strings.Contains(string(raw), want) {
			t.Errorf("/metrics has no %q", strings.TrimSpace(want))
		}
	}
}

type client struct {
	t           *testing.T
	base, token string
}

// expect sends a JSON request, checks the status and returns the first
// group of re (or "" when re is empty).
func (c *client) expect(method, path, body string, status int, re string) string {
	c.t.Helper()
	req, _ := http.NewRequest(method, c.base+path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	if res.StatusCode != status {
		c.t.Fatalf("%s %s: %d, want %d: %s", method, path, res.StatusCode, status, raw)
	}
	if re == "" {
		return ""
	}
	m := regexp.MustCompile(re).FindSubmatch(raw)
	if m == nil {
		c.t.Fatalf("%s %s: %s does not match %s", method, path, raw, re)
	}
	return string(m[1])
}

func TestAsteriskConfRenders(t *testing.T) {
	t.Setenv("OMNICC_DATA_DIR", t.TempDir())
	t.Setenv("OMNICC_AMI", "omnicc:s3cret@127.0.0.1:5038")
	dir := t.TempDir()
	var out, errOut bytes.Buffer
	if err := run(context.Background(), []string{"asterisk-conf", "--out", dir, "--host", "192.0.2.10"}, &out, &errOut); err != nil {
		t.Fatalf("asterisk-conf: %v\n%s", err, errOut.String())
	}
	mgr, err := os.ReadFile(filepath.Join(dir, "curl", "manager.conf"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(mgr), "[omnicc]") || !strings.Contains(string(mgr), "s3cret") {
		t.Fatalf("manager.conf lacks the OMNICC_AMI account:\n%s", mgr)
	}
	ext, err := os.ReadFile(filepath.Join(dir, "curl", "extconfig.conf"))
	if err != nil || !strings.Contains(string(ext), "http://192.0.2.10:") {
		t.Fatalf("extconfig.conf does not point at --host: %v\n%s", err, ext)
	}
	if err := run(context.Background(), []string{"asterisk-conf"}, &out, &errOut); err == nil || !strings.Contains(err.Error(), "--out") {
		t.Fatalf("missing --out: %v", err)
	}
}

func TestSubcommands(t *testing.T) {
	t.Setenv("OMNICC_DATA_DIR", t.TempDir())
	var out, errOut bytes.Buffer
	if err := run(context.Background(), []string{"version"}, &out, &errOut); err != nil || !strings.HasPrefix(out.String(), "omniccd ") {
		t.Fatalf("version: %v %q", err, out.String())
	}
	out.Reset()
	if err := run(context.Background(), []string{"migrate"}, &out, &errOut); err != nil || !strings.Contains(out.String(), "schema version") {
		t.Fatalf("migrate: %v %q", err, out.String())
	}
	if err := run(context.Background(), []string{"frobnicate"}, &out, &errOut); err == nil {
		t.Fatal("an unknown command must fail")
	}
	t.Setenv("OMNICC_EXTENSION_RANGE", "abc")
	err := run(context.Background(), []string{"serve"}, &out, &errOut)
	if err == nil || !strings.Contains(err.Error(), "OMNICC_EXTENSION_RANGE") {
		t.Fatalf("a bad config must fail naming the key, got %v", err)
	}
}

// operatorMetricsAreServed: after the traffic above (an agent created and
// looked up over /realtime, logged in over AMI, FastAGI sessions of every
// script) each family an operator graphs is on /metrics, and so on the
// Grafana dashboard's data source.
func operatorMetricsAreServed(t *testing.T, base string) {
	t.Helper()
	res, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(res.Body)
	res.Body.Close()
	for _, want := range []string{
		`omnicc_agi_sessions_total{outcome="ok",script="agent-login"} 1`, `omnicc_agi_sessions_total{outcome="error",script="inbound"} 1`, `omnicc_agi_session_duration_seconds_bucket{script="agent-login"`,
		`omnicc_ami_connected{box="`, `omnicc_ami_events_total{box="`, `omnicc_ami_action_duration_seconds_count{action="QueueAdd"`,
		`omnicc_ami_logins_total{box="`, `omnicc_ami_reloads_total{box="`,
		`omnicc_realtime_requests_total{table="ps_endpoints",verb="single"} `, `omnicc_realtime_cache_lookups_total{result="miss",table="ps_endpoints"}`,
		// agent-login above toggled the agent that logged in over REST out.
		`omnicc_agent_states{state="logged_out"} 1`, `omnicc_agent_states{state="ready"} 0`,
	} {
		if !strings.Contains(string(raw), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}
