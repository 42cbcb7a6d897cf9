// Package deploy holds what runs omniccd in production (systemd units, the
// Grafana dashboard); its test keeps them in step with the code.
package deploy

import (
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// notYetRegistered are metrics the dashboard graphs that this tree does not
// register yet, each with the reason. Keep it short: an entry is a promise.
var notYetRegistered = map[string]string{}

// registeredNames returns every metric name the code registers: the
// Name of each prometheus *Opts literal and the name given to each
// prometheus.NewDesc (custom collectors read at scrape time) in the
// repository's non-test Go files, and what the Go and process collectors
// omniccd registers export.
func registeredNames(t *testing.T) map[string]bool {
	t.Helper()
	names := map[string]bool{}
	fset := token.NewFileSet()
	err := filepath.WalkDir("..", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata" || d.Name() == "node_modules") && p != ".." {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, p, nil, 0)
		if err != nil {
			return err
		}
		ast.Inspect(f, func(n ast.Node) bool {
			if call, ok := n.(*ast.CallExpr); ok {
				if sel, ok := call.Fun.(*ast.SelectorExpr); ok && sel.Sel.Name == "NewDesc" && len(call.Args) > 0 {
					if lit, ok := call.Args[0].(*ast.BasicLit); ok && lit.Kind == token.STRING {
						s, _ := strconv.Unquote(lit.Value)
						names[s] = true
					}
				}
				return true
			}
			cl, ok := n.(*ast.CompositeLit)
			if !ok {
				return true
			}
			sel, ok := cl.Type.(*ast.SelectorExpr)
			if !ok || !strings.HasSuffix(sel.Sel.Name, "Opts") {
				return true
			}
			for _, e := range cl.Elts {
				kv, ok := e.(*ast.KeyValueExpr)
				if !ok {
					continue
				}
				if k, ok := kv.Key.(*ast.Ident); ok && k.Name == "Name" {
					if lit, ok := kv.Value.(*ast.BasicLit); ok && lit.Kind == token.STRING {
						s, _ := strconv.Unquote(lit.Value)
						names[s] = true
					}
				}
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !names["omnicc_http_requests_total"] {
		t.Fatalf("the source scan found no omnicc_http_requests_total (found %d names): the scan is broken", len(names))
	}
	// cmd/omniccd registers these two collectors on the same registry.
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		names[mf.GetName()] = true
	}
	return names
}

var metricRef = regexp.MustCompile(`\b((?:omnicc|go|process)_[A-Za-z0-9_]+)`)

func TestGrafanaDashboard(t *testing.T) {
	b, err := os.ReadFile("grafana/omniccd.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Title, UID string
		Panels     []struct {
			ID      int
			Type    string
			Title   string
			Targets []struct{ Expr string }
		}
		Templating struct {
			List []struct {
				Name       string
				Definition string
			}
		}
	}
	if err := json.Unmarshal(b, &dash); err != nil {
		t.Fatalf("grafana/omniccd.json: %v", err)
	}
	if dash.Title == "" || dash.UID == "" {
		t.Error("the dashboard has no title or uid")
	}
	registered := registeredNames(t)
	known := func(m string) bool {
		if registered[m] {
			return true
		}
		for _, suf := range []string{"_bucket", "_sum", "_count"} {
			if base, ok := strings.CutSuffix(m, suf); ok && registered[base] {
				return true
			}
		}
		return false
	}
	var exprs []string
	ids, titles := map[int]bool{}, map[string]bool{}
	for _, p := range dash.Panels {
		if ids[p.ID] {
			t.Errorf("panel id %d is used twice", p.ID)
		}
		ids[p.ID] = true
		if p.Type == "row" {
			continue
		}
		if p.Title == "" || titles[p.Title] {
			t.Errorf("panel %d: title %q is empty or not unique", p.ID, p.Title)
		}
		titles[p.Title] = true
		if len(p.Targets) == 0 {
			t.Errorf("panel %q queries nothing", p.Title)
		}
		for _, tg := range p.Targets {
			exprs = append(exprs, tg.Expr)
		}
	}
	for _, v := range dash.Templating.List {
		if v.Definition != "" {
			exprs = append(exprs, v.Definition)
		}
	}
	queried := map[string]bool{}
	for _, e := range exprs {
		refs := metricRef.FindAllString(e, -1)
		if len(refs) == 0 {
			t.Errorf("query %q names no omnicc_, go_ or process_ metric", e)
		}
		for _, m := range refs {
			queried[m] = true
			if !known(m) {
				if _, ok := notYetRegistered[m]; !ok {
					t.Errorf("the dashboard queries %s, which no code registers (and it is not in notYetRegistered)", m)
				}
			}
		}
	}
	// What the issue asked to see on the dashboard.
	for _, m := range []string{"omnicc_http_requests_total", "omnicc_http_request_duration_seconds_bucket", "omnicc_ws_connections",
		"omnicc_agi_sessions_refused_total", "omnicc_agi_sessions_active", "omnicc_agi_sessions_max", "omnicc_calllog_dropped_total"} {
		if !queried[m] {
			t.Errorf("the dashboard does not graph %s", m)
		}
	}
	for m := range notYetRegistered {
		if registered[m] {
			t.Logf("%s is registered now: its notYetRegistered entry can go", m)
		}
	}
}

// unitValues returns the values of key in a systemd unit file (a key may
// repeat, and a value may list several space-separated items).
func unitValues(t *testing.T, file, key string) []string {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(l, "="); ok && strings.TrimSpace(k) == key {
			if f := strings.Fields(v); len(f) > 0 {
				out = append(out, f...)
			} else {
				out = append(out, "") // present, empty: "reset to nothing"
			}
		}
	}
	return out
}

func TestSystemdUnit(t *testing.T) {
	const unit = "omniccd.service"
	has := func(key string, want ...string) {
		t.Helper()
		got := unitValues(t, unit, key)
		for _, w := range want {
			if !slices.Contains(got, w) {
				t.Errorf("%s: %s= lacks %s (has %v)", unit, key, w, got)
			}
		}
	}
	has("After", "network-online.target", "mariadb.service")
	has("Wants", "network-online.target")
	// Asterisk reads realtime while its modules load: omniccd first.
	has("Before", "asterisk.service")
	has("EnvironmentFile", "/etc/omnicc/omniccd.env")
	has("ExecStart", "/usr/local/bin/omniccd", "serve")
	for _, k := range []string{"NoNewPrivileges", "ProtectSystem", "ProtectHome", "PrivateTmp", "RestrictAddressFamilies",
		"SystemCallFilter", "CapabilityBoundingSet", "StateDirectory", "DynamicUser"} {
		if unitValues(t, unit, k) == nil {
			t.Errorf("%s: no %s=", unit, k)
		}
	}
	if v := unitValues(t, unit, "ExecStartPost"); !strings.Contains(strings.Join(v, " "), "/readyz") {
		t.Errorf("%s: ExecStartPost does not wait for /readyz, so Asterisk could start before omniccd serves realtime", unit)
	}
	// The Asterisk half of the start order.
	drop := "asterisk.service.d/omnicc.conf"
	if got := unitValues(t, drop, "After"); !slices.Contains(got, "omniccd.service") {
		t.Errorf("%s: After= %v lacks omniccd.service", drop, got)
	}
	if got := unitValues(t, drop, "Requires"); got != nil {
		t.Errorf("%s: Requires= would stop Asterisk with omniccd", drop)
	}
	// Every key the example environment file sets or shows is one omniccd reads.
	cfg, err := os.ReadFile("../config/config.go")
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile("omniccd.env")
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range regexp.MustCompile(`(?m)^#?(OMNICC_[A-Z_]+)=`).FindAllStringSubmatch(string(b), -1) {
		if !strings.Contains(string(cfg), `env:"`+m[1]+`"`) {
			t.Errorf("omniccd.env: %s is not an omniccd setting", m[1])
		}
	}
}

// TestDocsStandAlone: what ships is the repository alone, so no README or
// doc may send the reader into ../shared (a workspace folder users never
// get), and every relative link must reach a file that exists.
func TestDocsStandAlone(t *testing.T) {
	link := regexp.MustCompile(`\]\(([^)#\s]+)(?:#[^)]*)?\)`)
	checked := 0
	err := filepath.WalkDir("..", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && p != ".." && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata" || d.Name() == "node_modules") {
			return filepath.SkipDir // node_modules: npm's packages, not our docs
		}
		if d.IsDir() || !strings.HasSuffix(p, ".md") {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		checked++
		if bytes := string(b); strings.Contains(bytes, "../shared") || regexp.MustCompile("`shared/[A-Z]").MatchString(bytes) {
			t.Errorf("%s refers to ../shared, which is not part of the repository", p)
		}
		for _, m := range link.FindAllStringSubmatch(string(b), -1) {
			if strings.Contains(m[1], "://") || strings.HasPrefix(m[1], "mailto:") {
				continue
			}
			if _, err := os.Stat(filepath.Join(filepath.Dir(p), m[1])); err != nil {
				t.Errorf("%s links to %s, which does not exist", p, m[1])
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if checked < 5 {
		t.Fatalf("checked only %d markdown files", checked)
	}
}
