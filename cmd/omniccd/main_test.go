package main

import (
	"bytes"
	"context"
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

	"go.uber.org/goleak"
)

func freeAddr(t *testing.T) string {
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
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	dir := t.TempDir()
	addr := freeAddr(t)
	t.Setenv("OMNICC_DATA_DIR", dir)
	t.Setenv("OMNICC_HTTP_ADDR", addr)
	t.Setenv("OMNICC_AGI_ADDR", freeAddr(t))
	ctx, cancel := context.WithCancel(context.Background())
	var out, errOut syncBuffer
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"serve"}, &out, &errOut) }()

	deadline := time.Now().Add(30 * time.Second)
	for {
		res, err := http.Get("http://" + addr + "/readyz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("omniccd never became ready: %v\n%s", err, errOut.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	m := regexp.MustCompile(`created user admin with password (\S+)`).FindStringSubmatch(out.String())
	if m == nil {
		t.Fatalf("the generated admin password was not printed:\n%s", out.String())
	}
	agentReachesAsterisk(t, "http://"+addr, m[1])
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
	time.Sleep(300 * time.Millisecond)
	cancel2()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out.String(), "password") {
		t.Fatalf("second start printed a password again:\n%s", out.String())
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
