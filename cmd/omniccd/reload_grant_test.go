package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// The reload that makes new agents reachable (ami.Reloader) is a `system`
// action: the rendered manager.conf must grant it, or every new agent stays
// unreachable until someone reloads res_pjsip by hand.
func TestRenderedManagerConfGrantsReload(t *testing.T) {
	t.Setenv("OMNICC_DATA_DIR", t.TempDir())
	t.Setenv("OMNICC_AMI", "omnicc:s3cret@127.0.0.1:5038")
	dir := t.TempDir()
	var out, errOut bytes.Buffer
	if err := run(context.Background(), []string{"asterisk-conf", "--out", dir}, &out, &errOut); err != nil {
		t.Fatalf("asterisk-conf: %v\n%s", err, errOut.String())
	}
	mgr, err := os.ReadFile(filepath.Join(dir, "curl", "manager.conf"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^write\s*=\s*(.*)$`).FindStringSubmatch(string(mgr))
	if m == nil {
		t.Fatalf("manager.conf has no write= line:\n%s", mgr)
	}
	granted := false
	for _, p := range strings.Split(m[1], ",") {
		granted = granted || strings.TrimSpace(p) == "system"
	}
	if !granted {
		t.Fatalf("manager.conf write = %q lacks system: Reload of res_pjsip.so would be refused", m[1])
	}
}
