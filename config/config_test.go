package config

import (
	"bufio"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"omnicc/store"
)

func TestDefaults(t *testing.T) {
	c, err := FromMap(map[string]string{})
	if err != nil {
		t.Fatal(err)
	}
	if c.HTTPAddr != ":8080" || c.AGIAddr != ":4573" || c.DataDir != "./data" || c.DBDSN != "" {
		t.Fatalf("addresses/defaults: %+v", c)
	}
	if c.ExtensionRange != (ExtensionRange{1000, 1999}) || c.LockoutThreshold != 5 || !c.SecuritySuite {
		t.Fatalf("defaults: %+v", c)
	}
	if !c.RealtimeAllow.Contains(netip.MustParseAddr("127.0.0.1")) || !c.RealtimeAllow.Contains(netip.MustParseAddr("::1")) ||
		c.RealtimeAllow.Contains(netip.MustParseAddr("10.0.0.1")) {
		t.Fatalf("realtime allow: %v", c.RealtimeAllow)
	}
	if c.JournalSync != 100*time.Millisecond || c.Journal("calllog") != filepath.Join("data", "journal", "calllog") {
		t.Fatalf("journal: every %s in %s", c.JournalSync, c.Journal("calllog"))
	}
	if c, _ := FromMap(map[string]string{"OMNICC_JOURNAL_DIR": "/var/lib/omnicc/j"}); c.Journal("calllog") != "/var/lib/omnicc/j/calllog" {
		t.Fatalf("OMNICC_JOURNAL_DIR ignored: %s", c.Journal("calllog"))
	}
	if len(c.TrustedProxies) != 0 {
		t.Fatalf("no proxy must be trusted by default: %v", c.TrustedProxies)
	}
	if c.PublicURL != "http://localhost:8080" {
		t.Fatalf("public URL: %q", c.PublicURL)
	}
}

// The default public URL follows the listen address; a set one is kept.
func TestPublicURLFollowsTheListenAddress(t *testing.T) {
	for _, tc := range []struct {
		vars map[string]string
		want string
	}{
		{map[string]string{"OMNICC_HTTP_ADDR": ":9090"}, "http://localhost:9090"},
		{map[string]string{"OMNICC_HTTP_ADDR": "0.0.0.0:9090"}, "http://localhost:9090"},
		{map[string]string{"OMNICC_HTTP_ADDR": "[::]:9091"}, "http://localhost:9091"},
		{map[string]string{"OMNICC_HTTP_ADDR": "10.0.0.5:8443"}, "http://10.0.0.5:8443"},
		{map[string]string{"OMNICC_HTTP_ADDR": "[fd00::5]:80"}, "http://[fd00::5]:80"},
		{map[string]string{"OMNICC_HTTP_ADDR": ":9090", "OMNICC_PUBLIC_URL": "https://cc.example.com"}, "https://cc.example.com"},
	} {
		c, err := FromMap(tc.vars)
		if err != nil {
			t.Fatalf("%v: %v", tc.vars, err)
		}
		if c.PublicURL != tc.want {
			t.Errorf("%v: public URL %q, want %q", tc.vars, c.PublicURL, tc.want)
		}
	}
}

// testdata/*.bad.env holds broken configurations, each with the key its error
// must name on its first line ("# want: KEY").
func TestBadConfigsNameTheKey(t *testing.T) {
	files, _ := filepath.Glob("testdata/*.bad.env")
	if len(files) == 0 {
		t.Fatal("no testdata/*.bad.env")
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			vars, want := readEnvFile(t, f)
			_, err := FromMap(vars)
			if err == nil {
				t.Fatalf("config accepted; want an error naming %s", want)
			}
			if !strings.Contains(err.Error(), want) {
				t.Fatalf("error %q does not name %s", err, want)
			}
		})
	}
}

func readEnvFile(t *testing.T, path string) (map[string]string, string) {
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	vars := map[string]string{}
	want := ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if w, ok := strings.CutPrefix(line, "# want: "); ok {
			want = w
			continue
		}
		if k, v, ok := strings.Cut(line, "="); ok {
			vars[k] = v
		}
	}
	if want == "" {
		t.Fatalf("%s has no '# want: KEY' line", path)
	}
	return vars, want
}

func TestPrefixListAcceptsBareAddresses(t *testing.T) {
	var p PrefixList
	if err := p.UnmarshalText([]byte("192.0.2.7, 2001:db8::/32")); err != nil {
		t.Fatal(err)
	}
	if !p.Contains(netip.MustParseAddr("192.0.2.7")) || p.Contains(netip.MustParseAddr("192.0.2.8")) ||
		!p.Contains(netip.MustParseAddr("2001:db8::5")) || !p.Contains(netip.MustParseAddr("::ffff:192.0.2.7")) {
		t.Fatalf("%v", p)
	}
}

// The pool sizes' defaults are the store's, and every key maps to a pool
// the store knows (it refuses unknown names at Open).
func TestDBPoolDefaultsMatchTheStore(t *testing.T) {
	c, err := FromMap(map[string]string{})
	if err != nil {
		t.Fatal(err)
	}
	sizes := c.DBPoolSizes()
	for name, n := range sizes {
		if want, ok := store.DefaultPoolSizes[name]; !ok || n != want {
			t.Errorf("pool %s: default %d, store's %d (known %v)", name, n, want, ok)
		}
	}
	if c.HTTPDBTimeout != 30*time.Second {
		t.Errorf("OMNICC_HTTP_DB_TIMEOUT default %s", c.HTTPDBTimeout)
	}
	if c.DBPingTimeout != store.DefaultHealthTimeout {
		t.Errorf("OMNICC_DB_PING_TIMEOUT default %s, the store's %s", c.DBPingTimeout, store.DefaultHealthTimeout)
	}
}

// OMNICC_WS_ORIGINS adds to OMNICC_PUBLIC_URL, which is always allowed.
func TestAllowedWSOrigins(t *testing.T) {
	c, err := FromMap(map[string]string{"OMNICC_PUBLIC_URL": "https://cc.example.com",
		"OMNICC_WS_ORIGINS": "https://desk.example.com/, http://10.0.0.9:3000"})
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Join(c.AllowedWSOrigins(), " ")
	if want := "https://cc.example.com https://desk.example.com http://10.0.0.9:3000"; got != want {
		t.Fatalf("AllowedWSOrigins = %q, want %q", got, want)
	}
	c, _ = FromMap(map[string]string{})
	if got := c.AllowedWSOrigins(); len(got) != 1 || got[0] != "http://localhost:8080" {
		t.Fatalf("default AllowedWSOrigins = %v", got)
	}
}

func TestInstanceDefaultsToTheHostName(t *testing.T) {
	host, err := os.Hostname()
	if err != nil {
		t.Skip("no host name here:", err)
	}
	c, err := FromMap(map[string]string{})
	if err != nil {
		t.Fatal(err)
	}
	if c.InstanceID != host || c.NATSURL != "" {
		t.Fatalf("instance %q, NATS %q; want %q and off", c.InstanceID, c.NATSURL, host)
	}
	c, err = FromMap(map[string]string{"OMNICC_INSTANCE_ID": "omnicc-b", "OMNICC_NATS_URL": "nats://10.0.0.5:4222, nats://10.0.0.6:4222"})
	if err != nil {
		t.Fatal(err)
	}
	if c.InstanceID != "omnicc-b" {
		t.Fatalf("instance %q", c.InstanceID)
	}
}
