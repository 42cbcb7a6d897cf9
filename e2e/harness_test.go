package e2e

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/binary"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"omnicc/storetest"
)

// asteriskBinary is the Asterisk the suite boots, or a skip.
func asteriskBinary(t *testing.T) string {
	t.Helper()
	bin := os.Getenv("OMNICC_TEST_ASTERISK")
	if bin == "" {
		t.Skip("no real Asterisk: set OMNICC_TEST_ASTERISK=/path/to/sbin/asterisk (built from upstream source; see README, \"Tests against a real Asterisk\") to run the end-to-end suite")
	}
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("OMNICC_TEST_ASTERISK=%s: %v", bin, err)
	}
	return bin
}

// modulesDir is where the Asterisk's modules are: OMNICC_TEST_ASTERISK_MODULES,
// else <prefix>/lib/asterisk/modules next to <prefix>/sbin/asterisk.
func modulesDir(t *testing.T, bin string) string {
	if d := os.Getenv("OMNICC_TEST_ASTERISK_MODULES"); d != "" {
		return d
	}
	prefix := filepath.Dir(filepath.Dir(bin))
	for _, d := range []string{"lib/asterisk/modules", "lib64/asterisk/modules", "lib/x86_64-linux-gnu/asterisk/modules"} {
		if st, err := os.Stat(filepath.Join(prefix, d)); err == nil && st.IsDir() {
			return filepath.Join(prefix, d)
		}
	}
	t.Fatalf("no Asterisk modules directory under %s: set OMNICC_TEST_ASTERISK_MODULES", prefix)
	return ""
}

func freePort(t *testing.T, network string) int {
	t.Helper()
	if network == "udp" {
		c, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		return c.LocalAddr().(*net.UDPAddr).Port
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// freeSIPPort is free for both UDP and TCP (the two transports share it).
func freeSIPPort(t *testing.T) int {
	for range 50 {
		p := freePort(t, "udp")
		if ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p)); err == nil {
			ln.Close()
			return p
		}
	}
	t.Fatal("no port free for both UDP and TCP")
	return 0
}

var buildOnce struct {
	sync.Once
	bin string
	err error
}

// omniccdBinary builds omniccd once per test run.
func omniccdBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "omnicc-e2e-bin")
		if err != nil {
			buildOnce.err = err
			return
		}
		buildOnce.bin = filepath.Join(dir, "omniccd")
		cmd := exec.Command("go", "build", "-o", buildOnce.bin, "omnicc/cmd/omniccd")
		out, err := cmd.CombinedOutput()
		if err != nil {
			buildOnce.err = fmt.Errorf("go build omniccd: %v\n%s", err, out)
		}
	})
	if buildOnce.err != nil {
		t.Fatal(buildOnce.err)
	}
	return buildOnce.bin
}

// lockedBuffer collects a process's output while it runs.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// box is one omniccd beside one Asterisk, both started for a test.
type box struct {
	t        *testing.T // the test (or subtest) now using the box
	owner    *testing.T // the test that started it
	mode     string     // curl or odbc
	dir      string
	asterisk string // binary
	astConf  string // asterisk.conf path
	base     string // omniccd's HTTP base URL
	sipPort  int
	wsPort   int // Asterisk's plain HTTP port (SIP over ws://…/ws)
	carrier  int // the carrier phone's SIP port, where the trunk sends calls
	token    string
	omnicc   *exec.Cmd
	omniLog  *lockedBuffer
	ast      *exec.Cmd
	astLog   *lockedBuffer
}

// boxOptions choose the mode: curl on the embedded SQLite store, or odbc on
// a fresh MariaDB database (OMNICC_TEST_MYSQL, as for the store tests).
type boxOptions struct {
	mode string
	// plainSIPWS points OMNICC_SIP_WS_URL (the desk's softphone) at
	// Asterisk's plain ws://127.0.0.1:<port>/ws instead of its WSS listener,
	// whose self-signed certificate a browser would refuse.
	plainSIPWS bool
}

const amiSecret = "e2e-Secret-42"

// startBox starts omniccd (built from this tree), renders its Asterisk
// configuration, changes ports and directories only, and boots Asterisk.
func startBox(t *testing.T, o boxOptions) *box {
	t.Helper()
	bin := asteriskBinary(t)
	if o.mode == "" {
		o.mode = "curl"
	}
	b := &box{t: t, owner: t, mode: o.mode, dir: t.TempDir(), asterisk: bin}
	httpPort, agiPort, amiPort := freePort(t, "tcp"), freePort(t, "tcp"), freePort(t, "tcp")
	b.sipPort, b.wsPort = freeSIPPort(t), freePort(t, "tcp")
	wssPort := freePort(t, "tcp")
	b.base = fmt.Sprintf("http://127.0.0.1:%d", httpPort)
	env := append(os.Environ(),
		"OMNICC_DATA_DIR="+filepath.Join(b.dir, "data"),
		fmt.Sprintf("OMNICC_HTTP_ADDR=127.0.0.1:%d", httpPort),
		fmt.Sprintf("OMNICC_AGI_ADDR=127.0.0.1:%d", agiPort),
		fmt.Sprintf("OMNICC_AMI=omnicc:%s@127.0.0.1:%d", amiSecret, amiPort),
		"OMNICC_ADMIN_PASSWORD=Adm1n-e2e-Pass",
		"OMNICC_LOG_LEVEL=debug",
	)
	if o.plainSIPWS {
		env = append(env, fmt.Sprintf("OMNICC_SIP_WS_URL=ws://127.0.0.1:%d/ws", b.wsPort))
	} else {
		env = append(env, fmt.Sprintf("OMNICC_SIP_WS_URL=wss://127.0.0.1:%d/ws", wssPort))
	}
	if o.mode == "odbc" {
		env = append(env, "OMNICC_DB_DSN="+storetest.MariaDBDSN(t))
	}
	omniccd := omniccdBinary(t)

	// Render exactly as a user would, with the same environment.
	conf := filepath.Join(b.dir, "rendered")
	render := exec.Command(omniccd, "asterisk-conf", "--out", conf)
	render.Env = env
	if out, err := render.CombinedOutput(); err != nil {
		t.Fatalf("omniccd asterisk-conf: %v\n%s", err, out)
	}
	b.prepareAsteriskDirs(filepath.Join(conf, o.mode), modulesDir(t, bin), wssPort)

	// omniccd first (the start order the README gives), then Asterisk.
	b.omniLog = &lockedBuffer{}
	b.omnicc = exec.Command(omniccd, "serve")
	b.omnicc.Env = env
	b.omnicc.Stdout, b.omnicc.Stderr = b.omniLog, b.omniLog
	// A test binary killed by its timeout must not leave daemons behind.
	b.omnicc.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := b.omnicc.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.stop(b.omnicc, "omniccd", b.omniLog) })
	b.waitHTTP("/readyz", 60*time.Second)

	b.astLog = &lockedBuffer{}
	b.ast = exec.Command(bin, "-C", b.astConf, "-f", "-n", "-g", "-vvv")
	b.ast.Env = append(os.Environ(), "ODBCINI="+filepath.Join(b.dir, "etc", "odbc.ini"))
	b.ast.Stdout, b.ast.Stderr = b.astLog, b.astLog
	b.ast.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := b.ast.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		b.cli("core stop now")
		b.stop(b.ast, "asterisk", b.astLog)
	})
	b.waitAsterisk()
	if os.Getenv("OMNICC_TEST_SIP_LOG") != "" {
		b.cli("pjsip set logger on") // SIP traffic in Asterisk's output, printed on failure
	}
	b.token = b.login("admin", "Adm1n-e2e-Pass")
	b.waitAMI()
	return b
}

// prepareAsteriskDirs copies the rendered set into an etc directory and
// writes asterisk.conf with directories under the test's own.
func (b *box) prepareAsteriskDirs(rendered, modules string, wssPort int) {
	t := b.t
	etc := filepath.Join(b.dir, "etc")
	dirs := map[string]string{}
	for _, d := range []string{"etc", "lib", "lib/moh", "spool", "run", "log", "agi", "keys"} {
		p := filepath.Join(b.dir, d)
		if err := os.MkdirAll(p, 0o755); err != nil {
			t.Fatal(err)
		}
		dirs[d] = p
	}
	entries, err := os.ReadDir(rendered)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile := selfSignedCert(t, dirs["keys"])
	for _, e := range entries {
		raw, err := os.ReadFile(filepath.Join(rendered, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		s := string(raw)
		switch e.Name() {
		case "pjsip.conf":
			s = strings.ReplaceAll(s, "bind = 0.0.0.0:5060", fmt.Sprintf("bind = 127.0.0.1:%d", b.sipPort))
			s += b.carrierTrunk()
		case "http.conf":
			s = regexp.MustCompile(`(?m)^bindport = \d+`).ReplaceAllString(s, fmt.Sprintf("bindport = %d", b.wsPort))
			s = regexp.MustCompile(`(?m)^tlsbindaddr = .*`).ReplaceAllString(s, fmt.Sprintf("tlsbindaddr = 127.0.0.1:%d", wssPort))
			s = regexp.MustCompile(`(?m)^tlscertfile = .*`).ReplaceAllString(s, "tlscertfile = "+certFile)
			s = regexp.MustCompile(`(?m)^tlsprivatekey = .*`).ReplaceAllString(s, "tlsprivatekey = "+keyFile)
		}
		if err := os.WriteFile(filepath.Join(etc, e.Name()), []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := os.Stat(filepath.Join(rendered, "pjsip.conf")); err != nil {
		t.Fatalf("the rendered %s set has no pjsip.conf: %v", filepath.Base(rendered), err)
	}
	// Music on hold needs a file: two seconds of a 440 Hz tone. And the
	// prompts the features play: a box installed from packages has the
	// core sounds, this one has none, and without pbx-transfer a DTMF
	// attended transfer gives up ("Unable to acquire target extension").
	writeToneWAV(t, filepath.Join(dirs["lib/moh"], "tone.wav"), 2000)
	sounds := filepath.Join(dirs["lib"], "sounds", "en")
	if err := os.MkdirAll(sounds, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"pbx-transfer", "pbx-invalid", "privacy-incorrect", "beep", "ss-noservice"} {
		writeToneWAV(t, filepath.Join(sounds, name+".wav"), 200)
	}
	b.astConf = filepath.Join(etc, "asterisk.conf")
	astConf := fmt.Sprintf(`[directories]
astetcdir => %s
astmoddir => %s
astvarlibdir => %s
astdbdir => %s
astkeydir => %s
astdatadir => %s
astagidir => %s
astspooldir => %s
astrundir => %s
astlogdir => %s
astsbindir => %s

[options]
verbose = 3
nofork = yes
maxfiles = 4096
hideconnect = yes
`, etc, modules, dirs["lib"], dirs["lib"], dirs["keys"], dirs["lib"], dirs["agi"], dirs["spool"], dirs["run"], dirs["log"], filepath.Dir(b.asterisk))
	if err := os.WriteFile(b.astConf, []byte(astConf), 0o600); err != nil {
		t.Fatal(err)
	}
	// The logger writes the full log to a file the test prints on failure.
	logger := "[general]\n[logfiles]\nconsole => notice,warning,error,verbose\nfull => notice,warning,error,verbose,debug\n"
	if err := os.WriteFile(filepath.Join(etc, "logger.conf"), []byte(logger), 0o600); err != nil {
		t.Fatal(err)
	}
}

// carrierTrunk is the endpoint that stands in for the carrier: calls from
// the Go "carrier" phone (From user carrier, no auth) enter omnicc-inbound,
// and outbound routes can dial PJSIP/<number>@carrier back to it.
func (b *box) carrierTrunk() string {
	b.carrier = freePort(b.t, "udp")
	return fmt.Sprintf(`
; --- added by the end-to-end suite: the carrier ---
[carrier]
type = endpoint
transport = transport-udp
context = omnicc-inbound
disallow = all
allow = ulaw,alaw
aors = carrier
direct_media = no

[carrier]
type = aor
contact = sip:carrier@127.0.0.1:%d
`, b.carrier)
}

// stop ends a process with SIGTERM (SIGKILL after 20 s) and prints its
// output when the test failed.
func (b *box) stop(cmd *exec.Cmd, name string, out *lockedBuffer) {
	if cmd.Process == nil {
		return
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		_ = cmd.Process.Kill()
		<-done
	}
	if b.owner.Failed() || os.Getenv("OMNICC_TEST_VERBOSE") != "" {
		s := out.String()
		if len(s) > 60000 {
			s = "…" + s[len(s)-60000:]
		}
		b.owner.Logf("---- %s output ----\n%s", name, s)
	}
}

func (b *box) waitHTTP(path string, within time.Duration) {
	deadline := time.Now().Add(within)
	for {
		res, err := http.Get(b.base + path)
		if err == nil {
			res.Body.Close()
			if res.StatusCode == 200 {
				return
			}
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("omniccd did not answer %s in %s: %v\n%s", path, within, err, b.omniLog.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// cli runs one Asterisk CLI command through the control socket.
func (b *box) cli(command string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	out, _ := exec.CommandContext(ctx, b.asterisk, "-C", b.astConf, "-rx", command).CombinedOutput()
	return string(out)
}

func (b *box) waitAsterisk() {
	deadline := time.Now().Add(90 * time.Second)
	for {
		if strings.Contains(b.cli("core waitfullybooted"), "fully booted") {
			return
		}
		if b.ast.ProcessState != nil || time.Now().After(deadline) {
			b.t.Fatalf("Asterisk did not boot:\n%s", b.astLog.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// waitAMI waits until omniccd is logged in to this Asterisk's AMI and has
// checked the voice controls' modules (which it does once Asterisk says it
// is fully booted).
func (b *box) waitAMI() {
	deadline := time.Now().Add(60 * time.Second)
	for {
		res, err := http.Get(b.base + "/metrics")
		var metrics string
		if err == nil {
			raw, _ := io.ReadAll(res.Body)
			res.Body.Close()
			metrics = string(raw)
		}
		connected := regexp.MustCompile(`(?m)^omnicc_ami_connected\{[^}]*\} 1$`).MatchString(metrics) &&
			!regexp.MustCompile(`(?m)^omnicc_ami_connected\{[^}]*\} 0$`).MatchString(metrics)
		if connected && strings.Contains(b.omniLog.String(), "voice control") {
			return
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("omniccd never connected to AMI and checked the modules:\n%s", b.omniLog.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func (b *box) login(user, password string) string {
	var out struct{ Token string }
	if st := b.do("POST", "/api/v1/auth/login", map[string]string{"username": user, "password": password}, &out); st != 200 {
		b.t.Fatalf("login %s: %d", user, st)
	}
	return out.Token
}

// do sends one request with the admin token; out may be nil.
func (b *box) do(method, path string, body, out any) int {
	return b.doAs(b.token, method, path, body, out)
}

func (b *box) doAs(token, method, path string, body, out any) int {
	b.t.Helper()
	var r io.Reader
	if body != nil {
		raw, err := json.Marshal(body)
		if err != nil {
			b.t.Fatal(err)
		}
		r = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, b.base+path, r)
	if err != nil {
		b.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		b.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	if out != nil && len(raw) > 0 {
		if err := json.Unmarshal(raw, out); err != nil {
			b.t.Fatalf("%s %s: %d %s: %v", method, path, res.StatusCode, raw, err)
		}
	}
	if res.StatusCode >= 400 && os.Getenv("OMNICC_TEST_VERBOSE") != "" {
		b.t.Logf("%s %s → %d %s", method, path, res.StatusCode, raw)
	}
	return res.StatusCode
}

// must is do that fails the test on another status than want.
func (b *box) must(want int, method, path string, body, out any) {
	b.t.Helper()
	var raw json.RawMessage
	st := b.do(method, path, body, &raw)
	if st != want {
		b.t.Fatalf("%s %s: %d %s, want %d", method, path, st, raw, want)
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			b.t.Fatal(err)
		}
	}
}

// eventually polls f until it returns "" or within passes; it returns how
// long it took.
func eventually(t *testing.T, within time.Duration, what string, f func() string) time.Duration {
	t.Helper()
	start := time.Now()
	var last string
	for time.Since(start) < within {
		if last = f(); last == "" {
			return time.Since(start)
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s: not within %s: %s", what, within, last)
	return 0
}

// writeToneWAV writes ms milliseconds of a 440 Hz tone, 8 kHz 16-bit mono.
func writeToneWAV(t *testing.T, path string, ms int) {
	const rate = 8000
	var pcm bytes.Buffer
	for i := range rate * ms / 1000 {
		v := int16(8000 * math.Sin(2*math.Pi*440*float64(i)/rate))
		_ = binary.Write(&pcm, binary.LittleEndian, v)
	}
	var w bytes.Buffer
	w.WriteString("RIFF")
	_ = binary.Write(&w, binary.LittleEndian, uint32(36+pcm.Len()))
	w.WriteString("WAVEfmt ")
	for _, v := range []any{uint32(16), uint16(1), uint16(1), uint32(rate), uint32(rate * 2), uint16(2), uint16(16)} {
		_ = binary.Write(&w, binary.LittleEndian, v)
	}
	w.WriteString("data")
	_ = binary.Write(&w, binary.LittleEndian, uint32(pcm.Len()))
	w.Write(pcm.Bytes())
	if err := os.WriteFile(path, w.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// selfSignedCert makes the WSS listener's certificate.
func selfSignedCert(t *testing.T, dir string) (string, string) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	cert, keyFile := filepath.Join(dir, "asterisk.crt"), filepath.Join(dir, "asterisk.key")
	if err := os.WriteFile(cert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	return cert, keyFile
}
