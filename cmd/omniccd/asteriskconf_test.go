package main

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"omnicc/config"
)

// TestAsteriskConfHost: with --host, manager.conf admits omniccd's address
// on every interface, and the printed OMNICC_AMI hint does not send omniccd
// to its own loopback.
func TestAsteriskConfHost(t *testing.T) {
	dir := t.TempDir()
	var out bytes.Buffer
	cfg := config.Config{HTTPAddr: ":8080", AGIAddr: ":4573"}
	if err := renderAsteriskConf(cfg, dir, "10.0.0.5", &out); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out.String(), "@127.0.0.1") || !regexp.MustCompile(`OMNICC_AMI=omnicc:\S+@<this Asterisk box's address, as omniccd reaches it>:5038\n`).MatchString(out.String()) {
		t.Errorf("hint for a remote omniccd:\n%s", out.String())
	}
	if !strings.Contains(out.String(), "curl mode only") {
		t.Errorf("no word on the missing odbc set with the embedded store:\n%s", out.String())
	}
	b, err := os.ReadFile(filepath.Join(dir, "curl", "manager.conf"))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"\nbindaddr = 0.0.0.0\n", "\npermit = 10.0.0.5/255.255.255.255\n", "\nport = 5038\n"} {
		if !bytes.Contains(b, []byte(s)) {
			t.Errorf("manager.conf lacks %q", s)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "odbc")); !os.IsNotExist(err) {
		t.Errorf("an odbc set was rendered for the embedded store: %v", err)
	}
}

// TestAsteriskConfAMIPort: manager.conf listens on the port OMNICC_AMI
// dials, and a remote Asterisk without --host is refused with the keys named.
func TestAsteriskConfAMIPort(t *testing.T) {
	dir := t.TempDir()
	var out bytes.Buffer
	cfg := config.Config{HTTPAddr: ":8080", AGIAddr: ":4573", AMI: "omnicc:s3cret@127.0.0.1:5040"}
	if err := renderAsteriskConf(cfg, dir, "", &out); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "curl", "manager.conf"))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"\nport = 5040\n", "\nbindaddr = 127.0.0.1\n", "\nsecret = s3cret\n"} {
		if !bytes.Contains(b, []byte(s)) {
			t.Errorf("manager.conf lacks %q", s)
		}
	}
	if strings.Contains(out.String(), "OMNICC_AMI=") {
		t.Errorf("a hint was printed although OMNICC_AMI is set:\n%s", out.String())
	}

	cfg.AMI = "omnicc:s3cret@10.0.0.9:5038"
	err = renderAsteriskConf(cfg, t.TempDir(), "", &out)
	if err == nil || !strings.Contains(err.Error(), "OMNICC_AMI") || !strings.Contains(err.Error(), "--host") {
		t.Errorf("remote Asterisk without --host: %v", err)
	}
}
