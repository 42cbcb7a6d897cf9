package asteriskconf

import (
	"bufio"
	"bytes"
	"flag"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"omnicc/agi"
	migrations "omnicc/sql"
)

var update = flag.Bool("update", false, "rewrite testdata/golden from the templates")

func testParams() Params {
	return Params{
		OmniccURL:        "http://127.0.0.1:8080",
		AGIAddr:          "127.0.0.1:4573",
		RealtimeUser:     "asterisk",
		RealtimePassword: "rt-secret",
		DB:               DB{Host: "db.example", Port: 3306, Name: "omnicc", User: "omnicc", Password: "db-secret"},
		AMI:              AMI{User: "omnicc", Secret: "ami-secret"},
	}
}

// TestGolden renders both modes and compares them with testdata/golden, which
// doubles as the readable sample set (go test -update rewrites it).
func TestGolden(t *testing.T) {
	out, err := Files(testParams())
	if err != nil {
		t.Fatal(err)
	}
	golden := "testdata/golden"
	if *update {
		if err := os.RemoveAll(golden); err != nil {
			t.Fatal(err)
		}
		if err := Render(golden, testParams()); err != nil {
			t.Fatal(err)
		}
	}
	var onDisk []string
	_ = filepath.WalkDir(golden, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(golden, p)
			onDisk = append(onDisk, filepath.ToSlash(rel))
		}
		return nil
	})
	for name, b := range out {
		want, err := os.ReadFile(filepath.Join(golden, name))
		if err != nil {
			t.Errorf("%s: %v (run go test -update)", name, err)
			continue
		}
		if !bytes.Equal(b, want) {
			t.Errorf("%s differs from the golden file (run go test -update and review the diff)", name)
		}
	}
	for _, n := range onDisk {
		if _, ok := out[n]; !ok {
			t.Errorf("golden file %s is no longer rendered", n)
		}
	}
}

// confLine is every line form an Asterisk .conf file may hold.
var confLine = regexp.MustCompile(`^(\s*;.*|\s*|\[[A-Za-z0-9_.-]+\](\(.*\))?\s*(;.*)?|[A-Za-z0-9_./-]+\s*=>?\s*.*|\s+same\s*=>\s*.+|exten\s*=>\s*.+|include\s*=>\s*\S+|switch\s*=>\s*\S+)$`)

func TestEveryFileIsAsteriskConfig(t *testing.T) {
	out, err := Files(testParams())
	if err != nil {
		t.Fatal(err)
	}
	for name, b := range out {
		if strings.HasSuffix(name, ".md") {
			continue
		}
		if bytes.Contains(b, []byte("{{")) || bytes.Contains(b, []byte("<no value>")) {
			t.Errorf("%s: template residue", name)
		}
		sc := bufio.NewScanner(bytes.NewReader(b))
		for n := 1; sc.Scan(); n++ {
			if !confLine.MatchString(sc.Text()) {
				t.Errorf("%s:%d: not a configuration line: %q", name, n, sc.Text())
			}
		}
	}
}

func TestContents(t *testing.T) {
	out, err := Files(testParams())
	if err != nil {
		t.Fatal(err)
	}
	has := func(file string, subs ...string) {
		t.Helper()
		for _, s := range subs {
			if !bytes.Contains(out[file], []byte(s)) {
				t.Errorf("%s lacks %q", file, s)
			}
		}
	}
	for _, m := range []string{"curl", "odbc"} {
		has(m+"/pjsip.conf", "[transport-udp]", "[transport-tcp]", "[transport-wss]", "protocol = wss")
		has(m+"/sorcery.conf", "endpoint = realtime,ps_endpoints", "contact = realtime,ps_contacts", "identify = realtime,ps_endpoint_id_ips")
		has(m+"/manager.conf", "[omnicc]", "secret = ami-secret", "permit = 127.0.0.1/255.255.255.255", "read = system,call,agent", "write = call,system,agent,originate,reporting")
		has(m+"/extensions.conf", "OMNICC_AGI = agi://127.0.0.1:4573", "${OMNICC_AGI}/inbound", "${OMNICC_AGI}/outbound", "${OMNICC_AGI}/agent-login",
			`"${AGISTATUS}" != "SUCCESS"`, "switch => Realtime/omnicc-agents@extensions")
		has(m+"/logger.conf", "queue_log = yes", "queue_log_name = queue_log")
		has(m+"/queues.conf", "persistentmembers = no", "log_membername_as_agent = yes")
		has(m+"/http.conf", "tlsbindaddr = 0.0.0.0:8089", "tlscertfile = /etc/asterisk/keys/asterisk.crt",
			"-keyout /etc/asterisk/keys/asterisk.key -out /etc/asterisk/keys/asterisk.crt")
		has(m+"/extensions.conf", "AGI(${OMNICC_AGI}/inbound?linkedid=${CHANNEL(linkedid)})",
			"AGI(${OMNICC_AGI}/outbound?linkedid=${CHANNEL(linkedid)})",
			"Set(OMNICC_FEATURE=${EXTEN})", "feature code ${OMNICC_FEATURE} from")
	}
	for _, f := range families {
		has("curl/extconfig.conf", f+" ")
		has("curl/extconfig.conf", "curl,http://127.0.0.1:8080/realtime/"+f+"\n")
		has("odbc/extconfig.conf", "odbc,omnicc,"+f+"\n")
	}
	has("curl/res_curl.conf", "httptimeout = 2", "conntimeout = 1", "failurecodes = ", "userpwd = asterisk:rt-secret")
	has("curl/modules.conf", "require = res_config_curl.so", "noload = res_config_odbc.so")
	has("odbc/modules.conf", "require = res_odbc_transaction.so", "require = res_config_odbc.so")
	has("odbc/res_odbc.conf", "[omnicc]", "dsn => omnicc", "username => omnicc", "password => db-secret")
	has("odbc/odbc.ini", "Server      = db.example", "Database    = omnicc", "Option      = 3")
	if bytes.Contains(out["curl/extensions.conf"], []byte("feature code ${EXTEN}")) {
		t.Error("the feature-code log names ${EXTEN}, which is s in omnicc-feature-done")
	}
	if _, ok := out["curl/res_odbc.conf"]; ok {
		t.Error("curl mode renders res_odbc.conf")
	}

	// Without a MySQL database there is no ODBC set.
	p := testParams()
	p.DB = DB{}
	out2, err := Files(p)
	if err != nil {
		t.Fatal(err)
	}
	for n := range out2 {
		if strings.HasPrefix(n, "odbc/") {
			t.Errorf("%s rendered without a database", n)
		}
	}
}

// TestFamiliesHaveTables keeps extconfig.conf and the migrations in step:
// every family the samples map is a table on both engines.
func TestFamiliesHaveTables(t *testing.T) {
	created := regexp.MustCompile(`(?i)CREATE TABLE\s+(\w+)`)
	for engine, fsys := range map[string]fs.FS{"mysql": migrations.MySQL, "sqlite": migrations.SQLite} {
		var tables []string
		_ = fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			b, _ := fs.ReadFile(fsys, p)
			for _, m := range created.FindAllStringSubmatch(string(b), -1) {
				tables = append(tables, m[1])
			}
			return nil
		})
		for _, f := range families {
			if !slices.Contains(tables, f) {
				t.Errorf("%s migrations create no table %s", engine, f)
			}
		}
	}
}

// TestDialplanTargets checks that every context the dialplan jumps to, calls
// or includes is defined, and that no branch after an AGI() ignores
// AGISTATUS.
func TestDialplanTargets(t *testing.T) {
	out, err := Files(testParams())
	if err != nil {
		t.Fatal(err)
	}
	d := string(out["curl/extensions.conf"])
	defined := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^\[([\w-]+)\]`).FindAllStringSubmatch(d, -1) {
		defined[m[1]] = true
	}
	refs := regexp.MustCompile(`(?:Goto|Gosub|GotoIf\([^?]*\?)\(?((?:omnicc|from)-[\w-]+),`).FindAllStringSubmatch(d, -1)
	refs = append(refs, regexp.MustCompile(`(?m)^include => ([\w-]+)`).FindAllStringSubmatch(d, -1)...)
	if len(refs) < 10 {
		t.Fatalf("found only %d references; the pattern is broken", len(refs))
	}
	for _, m := range refs {
		if !defined[m[1]] {
			t.Errorf("extensions.conf refers to [%s], which it does not define", m[1])
		}
	}
	// After each AGI(), the next step must go to a place that checks
	// AGISTATUS.
	lines := strings.Split(d, "\n")
	for i, l := range lines {
		if !strings.Contains(l, "AGI(") {
			continue
		}
		next := lines[i+1]
		m := regexp.MustCompile(`Goto\(([\w-]+),s,1\)`).FindStringSubmatch(next)
		if m == nil {
			t.Errorf("line %d: %q is not followed by a Goto to its checking context", i+2, next)
			continue
		}
		start := strings.Index(d, "["+m[1]+"]")
		if start < 0 || !strings.Contains(d[start:start+400], "AGISTATUS") {
			t.Errorf("[%s], reached after an AGI, does not check AGISTATUS first", m[1])
		}
	}
}

// dialplanLine matches the lines of extensions.conf that hold an application.
var dialplanLine = regexp.MustCompile(`^\s*(exten|same)\s*=>`)

// quotedInExpression returns the variables a line quotes inside $[...]
// ("${NAME...}"), other than safeQuoted. A value holding a quote is a syntax
// error there, and GotoIf then takes the broken expression as true: values from outside must be tested with ISNULL/EXISTS/REGEX.
func quotedInExpression(line string) []string {
	var bad []string
	for i := strings.Index(line, "$["); i >= 0; {
		depth, end := 0, len(line)
		for j := i + 1; j < len(line); j++ {
			if line[j] == '[' {
				depth++
			} else if line[j] == ']' {
				if depth--; depth == 0 {
					end = j
					break
				}
			}
		}
		for _, m := range quotedVar.FindAllStringSubmatch(line[i:end], -1) {
			if !safeQuoted[m[1]] {
				bad = append(bad, m[1])
			}
		}
		next := strings.Index(line[i+2:], "$[")
		if next < 0 {
			break
		}
		i += 2 + next
	}
	return bad
}

var quotedVar = regexp.MustCompile(`"\$\{([A-Za-z0-9_]+)`)

// safeQuoted are variables Asterisk itself sets to one bare word.
var safeQuoted = map[string]bool{"AGISTATUS": true, "DIALSTATUS": true}

// commentInArguments reports whether a dialplan line has a ';' that is not
// escaped between its application's '(' and the matching ')': Asterisk
// would cut the line there. A comment after the ')' is fine.
func commentInArguments(line string) bool {
	open := strings.Index(line, "(")
	if open < 0 {
		return false
	}
	depth := 0
	for i := open; i < len(line); i++ {
		switch {
		case line[i] == '\\':
			i++ // an escaped character
		case line[i] == '(':
			depth++
		case line[i] == ')':
			if depth--; depth == 0 {
				return false
			}
		case line[i] == ';':
			return true
		}
	}
	return false
}

// TestDialplanCheckers makes sure the checkers below catch the lines a real
// Asterisk 22 broke on.
func TestDialplanCheckers(t *testing.T) {
	for _, l := range []string{
		` same => n,GotoIf($["${OMNICC_CALLERID}" = ""]?record)`,
		` same => n,GotoIf($["${AGISTATUS}" != "SUCCESS" | "${OMNICC_ERROR}" != ""]?failed)`,
		` same => n,GotoIf($["${OMNICC_CONTACT_NAME}" = "" | "${CALLERID(name)}" != ""]?route)`,
		` same => n,Set(FMT=${IF($["${ARG1}" = "1"]?wav:${ARG1})})`,
	} {
		if len(quotedInExpression(l)) == 0 {
			t.Errorf("quotedInExpression misses %q", l)
		}
	}
	for _, l := range []string{
		` same => n,GotoIf($["${AGISTATUS}" != "SUCCESS" | ${EXISTS(${OMNICC_ERROR})}]?failed)`,
		` same => n,GotoIf(${ISNULL(${OMNICC_CALLERID})}?record)`,
	} {
		if bad := quotedInExpression(l); len(bad) != 0 {
			t.Errorf("quotedInExpression flags %v in %q", bad, l)
		}
	}
	if !commentInArguments(`exten => undecided,1,Log(WARNING,omnicc: no route (${OMNICC_ERROR}); inbound call)`) {
		t.Error("commentInArguments misses a bare ;")
	}
	if commentInArguments(`exten => undecided,1,Log(WARNING,a\; b)`) || commentInArguments(`exten => 1,1,NoOp() ; a comment`) {
		t.Error("commentInArguments flags an escaped ; or a trailing comment")
	}
}

// TestDialplanSafeWithOutsideValues: no dialplan line quotes a variable
// inside $[...] (except Asterisk's own status words), and none has a bare ';'
// inside an application's arguments.
func TestDialplanSafeWithOutsideValues(t *testing.T) {
	out, err := Files(testParams())
	if err != nil {
		t.Fatal(err)
	}
	lines := 0
	for name, b := range out {
		for n, l := range strings.Split(string(b), "\n") {
			if !dialplanLine.MatchString(l) {
				continue
			}
			lines++
			if bad := quotedInExpression(l); len(bad) != 0 {
				t.Errorf("%s:%d: %v quoted inside $[...] (use ISNULL/EXISTS/REGEX): %s", name, n+1, bad, l)
			}
			if commentInArguments(l) {
				t.Errorf("%s:%d: a bare ; inside the arguments starts a comment (write \\;): %s", name, n+1, l)
			}
		}
	}
	if lines < 50 {
		t.Fatalf("checked only %d dialplan lines", lines)
	}
}

// TestClearForgetsEverything: omnicc-clear empties every variable the AGI
// scripts set and every other OMNICC_* the dialplan reads that is not a
// global, so a call that comes back through the dialplan starts clean.
func TestClearForgetsEverything(t *testing.T) {
	out, err := Files(testParams())
	if err != nil {
		t.Fatal(err)
	}
	d := string(out["curl/extensions.conf"])
	start := strings.Index(d, "[omnicc-clear]")
	if start < 0 {
		t.Fatal("no [omnicc-clear]")
	}
	clear := d[start:]
	if end := strings.Index(clear[1:], "\n["); end >= 0 {
		clear = clear[:end+1]
	}
	cleared := map[string]bool{}
	for _, m := range regexp.MustCompile(`Set\((OMNICC_\w+)=\)`).FindAllStringSubmatch(clear, -1) {
		cleared[m[1]] = true
	}
	globals := map[string]bool{}
	g := d[strings.Index(d, "[globals]"):]
	g = g[:strings.Index(g, "\n\n")]
	for _, m := range regexp.MustCompile(`(?m)^(OMNICC_\w+) =`).FindAllStringSubmatch(g, -1) {
		globals[m[1]] = true
	}
	want := []string{agi.VarDestType, agi.VarDest, agi.VarRoute, agi.VarOpen, agi.VarContactID, agi.VarContactName,
		agi.VarDial, agi.VarCallerID, agi.VarRecord, "OMNICC_ERROR", "OMNICC_AGENT_ID", "OMNICC_AGENT_STATE"}
	for _, m := range regexp.MustCompile(`\$\{(OMNICC_\w+)`).FindAllStringSubmatch(d, -1) {
		if !globals[m[1]] {
			want = append(want, m[1])
		}
	}
	for _, v := range want {
		if !cleared[v] {
			t.Errorf("omnicc-clear does not clear %s", v)
		}
	}
	// Every AGI call goes through omnicc-clear first.
	lines := strings.Split(d, "\n")
	for i, l := range lines {
		if !strings.Contains(l, "AGI(") {
			continue
		}
		if !strings.Contains(strings.Join(lines[max(0, i-2):i], "\n"), "Gosub(omnicc-clear,s,1)") {
			t.Errorf("line %d: %q is not preceded by Gosub(omnicc-clear,s,1)", i+1, l)
		}
	}
}

func TestTLSPaths(t *testing.T) {
	p := testParams()
	p.TLSCert, p.TLSKey = "/etc/ssl/pbx/cert.pem", "/etc/ssl/pbx/key.pem"
	out, err := Files(p)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"tlscertfile = /etc/ssl/pbx/cert.pem", "tlsprivatekey = /etc/ssl/pbx/key.pem",
		"-keyout /etc/ssl/pbx/key.pem -out /etc/ssl/pbx/cert.pem", "mkdir -p /etc/ssl/pbx\n"} {
		if !bytes.Contains(out["curl/http.conf"], []byte(s)) {
			t.Errorf("http.conf lacks %q", s)
		}
	}
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		mod  func(*Params)
		want string
	}{
		{"no AGI", func(p *Params) { p.AGIAddr = "" }, "AGIAddr"},
		{"AGI without port", func(p *Params) { p.AGIAddr = "omniccd" }, "AGIAddr"},
		{"URL without scheme", func(p *Params) { p.OmniccURL = "127.0.0.1:8080" }, "OmniccURL"},
		{"no AMI secret", func(p *Params) { p.AMI.Secret = "" }, "AMI secret"},
		{"secret with a comment", func(p *Params) { p.AMI.Secret = "abc;def" }, "AMI secret"},
		{"password with a line break", func(p *Params) { p.DB.Password = "a\n[evil]" }, "DB password"},
		{"realtime user with a colon", func(p *Params) { p.RealtimeUser = "a:b" }, "OMNICC_REALTIME_USER"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := testParams()
			tc.mod(&p)
			_, err := Files(p)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one naming %q", err, tc.want)
			}
		})
	}
}

func TestDBFromDSN(t *testing.T) {
	db, err := DBFromDSN("omnicc:pw@tcp(db.example:3307)/cc?parseTime=true")
	if err != nil || db != (DB{Host: "db.example", Port: 3307, Name: "cc", User: "omnicc", Password: "pw"}) {
		t.Errorf("got %+v %v", db, err)
	}
	if _, err := DBFromDSN("u@unix(/run/mysqld.sock)/cc"); err == nil {
		t.Error("a unix socket DSN was accepted for ODBC")
	}
}

func TestRenderWritesPrivateFiles(t *testing.T) {
	dir := t.TempDir()
	if err := Render(dir, testParams()); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(filepath.Join(dir, "curl", "manager.conf"))
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm()&0o077 != 0 {
		t.Errorf("manager.conf (holds the AMI secret) is %v", st.Mode().Perm())
	}
	if _, err := os.Stat(filepath.Join(dir, "README.md")); err != nil {
		t.Error(err)
	}
}

func TestReachable(t *testing.T) {
	for _, tc := range []struct{ listen, host, want string }{
		{":8080", "", "127.0.0.1:8080"},
		{"0.0.0.0:4573", "", "127.0.0.1:4573"},
		{"[::]:4573", "", "127.0.0.1:4573"},
		{"10.0.0.5:8080", "", "10.0.0.5:8080"},
		{":8080", "omnicc.lan", "omnicc.lan:8080"},
		{":8080", "2001:db8::1", "[2001:db8::1]:8080"},
	} {
		if got, err := Reachable(tc.listen, tc.host); err != nil || got != tc.want {
			t.Errorf("Reachable(%q, %q) = %q %v, want %q", tc.listen, tc.host, got, err, tc.want)
		}
	}
	if _, err := Reachable("8080", ""); err == nil {
		t.Error("a bare port was accepted")
	}
}
