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

// hostParams is what `omniccd asterisk-conf --host 10.0.0.5` renders with
// OMNICC_AMI naming the Asterisk box on port 5039: omniccd on another box.
func hostParams(t *testing.T) Params {
	t.Helper()
	p := testParams()
	p.OmniccURL, p.AGIAddr = "http://10.0.0.5:8080", "10.0.0.5:4573"
	a, err := AMIFor("omnicc", "ami-secret", "10.0.0.9:5039", "10.0.0.5")
	if err != nil {
		t.Fatal(err)
	}
	p.AMI = a
	return p
}

// TestGolden renders both modes, for omniccd beside Asterisk (golden/) and
// on another box (golden-host/), and compares them with testdata, which
// doubles as the readable sample set (go test -update rewrites it).
func TestGolden(t *testing.T) {
	for dir, p := range map[string]Params{"testdata/golden": testParams(), "testdata/golden-host": hostParams(t)} {
		out, err := Files(p)
		if err != nil {
			t.Fatal(err)
		}
		if *update {
			if err := os.RemoveAll(dir); err != nil {
				t.Fatal(err)
			}
			if err := Render(dir, p); err != nil {
				t.Fatal(err)
			}
		}
		var onDisk []string
		_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				rel, _ := filepath.Rel(dir, p)
				onDisk = append(onDisk, filepath.ToSlash(rel))
			}
			return nil
		})
		for name, b := range out {
			want, err := os.ReadFile(filepath.Join(dir, name))
			if err != nil {
				t.Errorf("%s/%s: %v (run go test -update)", dir, name, err)
				continue
			}
			if !bytes.Equal(b, want) {
				t.Errorf("%s/%s differs from the golden file (run go test -update and review the diff)", dir, name)
			}
		}
		for _, n := range onDisk {
			if _, ok := out[n]; !ok {
				t.Errorf("golden file %s/%s is no longer rendered", dir, n)
			}
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

// confSections parses an Asterisk .conf file into section → option → values
// (an option may repeat), enough to assert on what a module will read.
func confSections(b []byte) map[string]map[string][]string {
	out := map[string]map[string][]string{}
	sec := ""
	for _, l := range strings.Split(string(b), "\n") {
		l = strings.TrimSpace(l)
		if i := strings.Index(l, ";"); i >= 0 {
			l = strings.TrimSpace(l[:i])
		}
		switch {
		case l == "":
		case strings.HasPrefix(l, "["):
			sec = strings.TrimSuffix(strings.TrimPrefix(l, "["), "]")
			if out[sec] == nil {
				out[sec] = map[string][]string{}
			}
		default:
			k, v, ok := strings.Cut(l, "=")
			if !ok {
				continue
			}
			k, v = strings.TrimSpace(k), strings.TrimSpace(strings.TrimPrefix(v, ">"))
			out[sec][k] = append(out[sec][k], v)
		}
	}
	return out
}

// TestVoiceControlsConfig: what the REST voice controls need from Asterisk
// is rendered in both modes (issue: attended transfer, conference, hold).
func TestVoiceControlsConfig(t *testing.T) {
	out, err := Files(testParams())
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []string{"curl", "odbc"} {
		mods := confSections(out[m+"/modules.conf"])["modules"]["require"]
		for _, want := range []string{"app_voicemail.so", "app_confbridge.so", "bridge_softmix.so", "res_musiconhold.so", "app_mixmonitor.so", "app_chanspy.so", "app_queue.so"} {
			if !slices.Contains(mods, want) {
				t.Errorf("%s/modules.conf: no require = %s", m, want)
			}
		}

		// AMI Atxfer plays the atxfer code of [featuremap]; CancelAtxfer
		// plays atxferabort.
		feat := confSections(out[m+"/features.conf"])
		for _, k := range []string{"atxfer", "blindxfer"} {
			if v := feat["featuremap"][k]; len(v) != 1 || !regexp.MustCompile(`^[0-9*#]+$`).MatchString(v[0]) {
				t.Errorf("%s/features.conf: [featuremap] %s = %v, want one DTMF code", m, k, v)
			}
		}
		if feat["featuremap"]["atxfer"][0] == feat["featuremap"]["blindxfer"][0] {
			t.Errorf("%s/features.conf: atxfer and blindxfer share a code", m)
		}
		if len(feat["general"]["atxferabort"]) != 1 {
			t.Errorf("%s/features.conf: no atxferabort (CancelAtxfer plays it)", m)
		}

		// The agent's leg may transfer; the customer's may not.
		d := string(out[m+"/extensions.conf"])
		for _, s := range []string{"Queue(${OMNICC_DEST},t)", "Dial(${ARG1},${OMNICC_RING_SECONDS},t)", "Dial(${OMNICC_DIAL},,T)"} {
			if !strings.Contains(d, s) {
				t.Errorf("%s/extensions.conf lacks %q", m, s)
			}
		}
		if regexp.MustCompile(`Queue\([^)]*,[a-zA-Z]*T`).MatchString(d) || strings.Contains(d, "${OMNICC_RING_SECONDS},tT") {
			t.Errorf("%s/extensions.conf lets the caller (customer) of a queue or agent call transfer", m)
		}
		for _, ctx := range []string{"_X.", "_+X.", "s"} {
			if !strings.Contains(d, "exten => "+ctx+",1,Set(__CC_CUSTOMER_LEG=1)\n") {
				t.Errorf("%s/extensions.conf: omnicc-inbound %s does not mark the customer's leg", m, ctx)
			}
		}
		if !strings.Contains(d, "GotoIf($[${EXISTS(${CC_CUSTOMER_LEG})} | ${EXISTS(${BLINDTRANSFER})} | ${EXISTS(${ATTENDEDTRANSFER})}]?customer)") ||
			!strings.Contains(d, " same => n(customer),Dial(${OMNICC_DIAL})\n") {
			t.Errorf("%s/extensions.conf: a customer's leg dialled out again gets T", m)
		}

		// The conference runs on profiles that exist, with nobody marked:
		// the first agent leaving must not end the room.
		cm := regexp.MustCompile(`ConfBridge\(\$\{EXTEN\},([\w-]+),([\w-]+)\)`).FindStringSubmatch(d)
		if cm == nil {
			t.Fatalf("%s/extensions.conf: no ConfBridge(${EXTEN},<bridge profile>,<user profile>)", m)
		}
		cb := confSections(out[m+"/confbridge.conf"])
		if got := cb[cm[1]]["type"]; !slices.Equal(got, []string{"bridge"}) {
			t.Errorf("%s/confbridge.conf: [%s] type %v, want bridge", m, cm[1], got)
		}
		user := cb[cm[2]]
		if got := user["type"]; !slices.Equal(got, []string{"user"}) {
			t.Errorf("%s/confbridge.conf: [%s] type %v, want user", m, cm[2], got)
		}
		for _, k := range []string{"marked", "end_marked", "wait_marked", "announce_only_user"} {
			if v := user[k]; len(v) > 0 && v[0] != "no" {
				t.Errorf("%s/confbridge.conf: [%s] %s = %v: one party leaving or joining alone would end or stall the room", m, cm[2], k, v)
			}
		}

		// Music on hold: a default class in files mode, and every class
		// named elsewhere exists.
		moh := confSections(out[m+"/musiconhold.conf"])
		if !slices.Equal(moh["default"]["mode"], []string{"files"}) || !slices.Equal(moh["default"]["directory"], []string{"moh"}) {
			t.Errorf("%s/musiconhold.conf: [default] = %v, want mode files from moh", m, moh["default"])
		}
		for _, class := range user["music_on_hold_class"] {
			if moh[class] == nil {
				t.Errorf("%s/confbridge.conf names music on hold class %s, which musiconhold.conf lacks", m, class)
			}
		}

		// pjsip.conf: mobile agents are on transport-tcp.
		tcpMobile := false
		for _, l := range strings.Split(string(out[m+"/pjsip.conf"]), "\n") {
			if !strings.HasPrefix(l, ";") {
				continue
			}
			if strings.Contains(l, "transport-udp") && strings.Contains(l, "mobile") {
				t.Errorf("%s/pjsip.conf says mobile agents use transport-udp: %q", m, l)
			}
			tcpMobile = tcpMobile || strings.Contains(l, "transport-tcp") && strings.Contains(l, "typology mobile")
		}
		if !tcpMobile {
			t.Errorf("%s/pjsip.conf does not say mobile agents use transport-tcp", m)
		}
	}
}

// TestAgentLoginFromOutside: a caller who is no agent's endpoint can reach
// /agent-login (which then asks for extension and PIN) from an inbound
// destination, not only from from-sip.
func TestAgentLoginFromOutside(t *testing.T) {
	out, err := Files(testParams())
	if err != nil {
		t.Fatal(err)
	}
	d := string(out["curl/extensions.conf"])
	ctx := d[strings.Index(d, "[omnicc-agent-login]"):]
	ctx = ctx[:strings.Index(ctx, "\n\n")]
	for _, s := range []string{"exten => s,1,Gosub(omnicc-clear,s,1)", "AGI(${OMNICC_AGI}/agent-login,toggle)", "Goto(omnicc-feature-done,s,1)"} {
		if !strings.Contains(ctx, s) {
			t.Errorf("[omnicc-agent-login] lacks %q", s)
		}
	}
	// Reached from the inbound side: the route destination and the DID line.
	if !strings.Contains(d, "exten => dest-agent_login,1,") || !strings.Contains(d, " same => n,Goto(omnicc-agent-login,s,1)") {
		t.Error("omnicc-inbound-dest has no dest-agent_login going to omnicc-agent-login")
	}
	if !strings.Contains(d, ";exten => 5551999,1,Goto(omnicc-agent-login,s,1)") {
		t.Error("omnicc-inbound shows no DID line for agents' login")
	}
	// from-sip must not include it: an agent's own phone uses *45/*46.
	fromSIP := d[strings.Index(d, "[from-sip]"):]
	fromSIP = fromSIP[:strings.Index(fromSIP, "\n\n")]
	if strings.Contains(fromSIP, "omnicc-agent-login") {
		t.Error("from-sip includes omnicc-agent-login")
	}
}

// TestManagerForHost: manager.conf listens on the port OMNICC_AMI names, on
// loopback when omniccd is beside Asterisk, and for omniccd's address alone
// when --host says it is elsewhere.
func TestManagerForHost(t *testing.T) {
	local, err := Files(testParams())
	if err != nil {
		t.Fatal(err)
	}
	remote, err := Files(hostParams(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []string{"curl", "odbc"} {
		l := confSections(local[m+"/manager.conf"])
		if !slices.Equal(l["general"]["bindaddr"], []string{"127.0.0.1"}) || !slices.Equal(l["general"]["port"], []string{"5038"}) ||
			!slices.Equal(l["omnicc"]["permit"], []string{"127.0.0.1/255.255.255.255"}) {
			t.Errorf("%s local manager.conf: %v %v", m, l["general"], l["omnicc"])
		}
		r := confSections(remote[m+"/manager.conf"])
		if !slices.Equal(r["general"]["bindaddr"], []string{"0.0.0.0"}) || !slices.Equal(r["general"]["port"], []string{"5039"}) {
			t.Errorf("%s --host manager.conf [general]: %v, want 0.0.0.0:5039", m, r["general"])
		}
		if !slices.Equal(r["omnicc"]["permit"], []string{"10.0.0.5/255.255.255.255"}) || !slices.Equal(r["omnicc"]["deny"], []string{"0.0.0.0/0.0.0.0"}) {
			t.Errorf("%s --host manager.conf ACL: deny %v permit %v", m, r["omnicc"]["deny"], r["omnicc"]["permit"])
		}
		if bytes.Contains(remote[m+"/manager.conf"], []byte("@127.0.0.1")) {
			t.Errorf("%s --host manager.conf tells omniccd to dial 127.0.0.1", m)
		}
		if !bytes.Contains(remote[m+"/extensions.conf"], []byte("OMNICC_AGI = agi://10.0.0.5:4573")) {
			t.Errorf("%s --host extensions.conf does not reach FastAGI at 10.0.0.5", m)
		}
	}
	if !bytes.Contains(remote["curl/extconfig.conf"], []byte("curl,http://10.0.0.5:8080/realtime/ps_endpoints")) {
		t.Error("--host extconfig.conf does not reach omniccd at 10.0.0.5")
	}
}

func TestAMIFor(t *testing.T) {
	for _, tc := range []struct {
		amiAddr, host string
		want          AMI
	}{
		{"", "", AMI{Port: 5038, BindAddr: "127.0.0.1", Permit: "127.0.0.1/255.255.255.255"}},
		{"127.0.0.1:6000", "", AMI{Port: 6000, BindAddr: "127.0.0.1", Permit: "127.0.0.1/255.255.255.255"}},
		{"localhost:5038", "127.0.0.1", AMI{Port: 5038, BindAddr: "127.0.0.1", Permit: "127.0.0.1/255.255.255.255"}},
		{"[::1]:5038", "", AMI{Port: 5038, BindAddr: "::1", Permit: "::1/128"}},
		{"", "10.0.0.5", AMI{Port: 5038, BindAddr: "0.0.0.0", Permit: "10.0.0.5/255.255.255.255"}},
		{"pbx.lan:5039", "10.0.0.5", AMI{Port: 5039, BindAddr: "0.0.0.0", Permit: "10.0.0.5/255.255.255.255"}},
		{"", "2001:db8::5", AMI{Port: 5038, BindAddr: "::", Permit: "2001:db8::5/128"}},
	} {
		got, err := AMIFor("u", "s", tc.amiAddr, tc.host)
		tc.want.User, tc.want.Secret = "u", "s"
		if err != nil || got != tc.want {
			t.Errorf("AMIFor(%q, %q) = %+v %v, want %+v", tc.amiAddr, tc.host, got, err, tc.want)
		}
	}
	for _, tc := range []struct{ amiAddr, host, want string }{
		{"10.0.0.9:5038", "", "--host"}, // remote Asterisk, omniccd's address unknown
		{"", "omnicc.lan", "--host"},    // Asterisk's permit takes IP addresses only
		{"10.0.0.9:0", "10.0.0.5", "OMNICC_AMI port"},
		{"10.0.0.9", "10.0.0.5", "OMNICC_AMI address"},
	} {
		if _, err := AMIFor("u", "s", tc.amiAddr, tc.host); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("AMIFor(%q, %q) error %v, want one naming %s", tc.amiAddr, tc.host, err, tc.want)
		}
	}
	// An IPv6 listener gets an IPv6 deny-all too.
	p := testParams()
	p.AMI, _ = AMIFor("omnicc", "x", "", "2001:db8::5")
	out, err := Files(p)
	if err != nil {
		t.Fatal(err)
	}
	if m := confSections(out["curl/manager.conf"]); !slices.Contains(m["omnicc"]["deny"], "::/0") {
		t.Errorf("IPv6 manager.conf denies %v", m["omnicc"]["deny"])
	}
}
