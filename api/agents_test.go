package api_test

import (
	"encoding/csv"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	"omnicc/store"
	"omnicc/storetest"
)

// Each seed rule is tried with bad input: the answer is a 4xx naming the field.
func TestAgentRulesNameTheField(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		e.createAgent(agent("taken", "webrtc", "extension", "1500"))
		cases := []struct {
			name   string
			body   map[string]any
			status int
			field  string
		}{
			{"username charset", agent("bad name", "webrtc"), 422, "username"},
			{"username charset dash", agent("bad-name", "webrtc"), 422, "username"},
			{"username duplicate", agent("taken", "webrtc"), 409, "username"},
			{"username duplicate other case", agent("TAKEN", "webrtc"), 409, "username"},
			{"extension duplicate", agent("other", "webrtc", "extension", "1500"), 409, "extension"},
			{"extension not digits", agent("x1", "webrtc", "extension", "12a"), 422, "extension"},
			{"full name equals extension", agent("x2", "webrtc", "extension", "1234", "full_name", "1234"), 422, "full_name"},
			{"password too short", agent("x3", "webrtc", "password", "Aa1-"), 422, "password"},
			{"password no symbol", agent("x4", "webrtc", "password", "Abcdefg12"), 422, "password"},
			{"password no upper", agent("x5", "webrtc", "password", "abcdefg1-"), 422, "password"},
			{"password no digit", agent("x6", "webrtc", "password", "Abcdefgh-"), 422, "password"},
			{"password empty (leave it out to invite instead)", map[string]any{"full_name": "X", "username": "x7", "typology": "webrtc", "password": ""}, 422, "password"},
			{"typology unknown", agent("x8", "sip"), 422, "typology"},
			{"g729 webrtc", agent("x9", "webrtc", "allowed_codecs", []string{"opus", "g729"}), 422, "allowed_codecs"},
			{"g729 phonebar", agent("x10", "phonebar", "allowed_codecs", []string{"g729"}), 422, "allowed_codecs"},
			{"codec unknown", agent("x11", "phonebar", "allowed_codecs", []string{"speex"}), 422, "allowed_codecs"},
			{"codec empty list", agent("x12", "phonebar", "allowed_codecs", []string{}), 422, "allowed_codecs"},
			{"remote port zero", agent("x13", "phonebar", "remote_control", true, "remote_control_port", 0), 422, "remote_control_port"},
			{"remote port high", agent("x14", "phonebar", "remote_control", true, "remote_control_port", 70000), 422, "remote_control_port"},
			{"remote port missing", agent("x15", "phonebar", "remote_control", true), 422, "remote_control_port"},
			{"remote control on webrtc", agent("x16", "webrtc", "remote_control", true, "remote_control_port", 8089), 422, "remote_control"},
			{"mobile without gateway", agent("x17", "mobile", "push_gateway_url", ""), 422, "push_gateway_url"},
			{"mobile bad gateway", agent("x18", "mobile", "push_gateway_url", "push.example.com"), 422, "push_gateway_url"},
			{"gateway on webrtc", agent("x19", "webrtc", "push_gateway_url", "https://p.example.com"), 422, "push_gateway_url"},
			{"external without number", agent("x20", "external", "external_number", ""), 422, "external_number"},
			{"external bad number", agent("x21", "external", "external_number", "call me"), 422, "external_number"},
			{"number on webrtc", agent("x22", "webrtc", "external_number", "5551234"), 422, "external_number"},
			{"capacity negative", agent("x23", "webrtc", "channels", map[string]any{"chat": map[string]any{"capacity": -1}}), 422, "channels.chat.capacity"},
			{"unknown channel", agent("x24", "webrtc", "channels", map[string]any{"pigeon": map[string]any{"capacity": 1}}), 422, "channels.pigeon"},
			{"auto answer delay negative", agent("x25", "webrtc", "channels", map[string]any{"whatsapp": map[string]any{"auto_answer_delay": -5}}), 422, "channels.whatsapp.auto_answer_delay"},
			{"nat", agent("x26", "phonebar", "nat", "maybe"), 422, "nat"},
			{"sip type", agent("x27", "phonebar", "type", "buddy"), 422, "type"},
			{"record format", agent("x28", "phonebar", "record_calls", "mp3"), 422, "record_calls"},
			{"context", agent("x29", "phonebar", "context", "from sip;evil"), 422, "context"},
			{"call group", agent("x30", "phonebar", "call_group", "1,99"), 422, "call_group"},
			{"host", agent("x31", "phonebar", "host", "not a host!"), 422, "host"},
			{"email", agent("x32", "webrtc", "email", "nobody"), 422, "email"},
			{"caller id newline", agent("x33", "webrtc", "caller_id", "a\r\nb"), 422, "caller_id"},
			{"unknown field", agent("x34", "webrtc", "sip_password", "x"), 400, "sip_password"},
			{"wrong type", agent("x35", "webrtc", "voicemail", "yes"), 400, "voicemail"},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				var out apiErr
				st := e.call("POST", "/api/v1/agents", e.admin, c.body, &out)
				if st != c.status || out.Error.Field != c.field {
					t.Fatalf("status %d field %q (%s); want %d field %q", st, out.Error.Field, out.Error.Message, c.status, c.field)
				}
				if out.Error.Code == "" || out.Error.Message == "" {
					t.Fatalf("error lacks code or message: %+v", out.Error)
				}
			})
		}
		// Nothing half-written: only the agent created first exists.
		var l struct{ Total int }
		e.must(e.call("GET", "/api/v1/agents", e.admin, nil, &l), 200)
		if l.Total != 1 {
			t.Fatalf("%d agents after refused creations, want 1", l.Total)
		}
	})
}

func TestAgentLifecycle(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		w := e.createAgent(agent("ann.smith", "webrtc", "email", "ann@example.com", "alias", "Annie"))
		if w["extension"] != "1000" || w["password"] != nil {
			t.Fatalf("extension %v (want 1000 from the range), password must never be returned: %v", w["extension"], w["password"])
		}
		if codecs := fmt.Sprint(w["allowed_codecs"]); !strings.HasPrefix(codecs, "[opus") {
			t.Fatalf("webrtc codecs %s must put opus first", codecs)
		}
		p := e.createAgent(agent("bob_b", "phonebar", "remote_control", true, "remote_control_port", 9888))
		if p["extension"] != "1001" {
			t.Fatalf("second extension %v, want 1001", p["extension"])
		}
		e.createAgent(agent("carl", "external"))
		e.createAgent(agent("dina", "mobile", "extension", "2500"))

		var l struct {
			Items []map[string]any
			Total int
		}
		e.must(e.call("GET", "/api/v1/agents?q=ann&per_page=10", e.admin, nil, &l), 200)
		if l.Total != 1 || l.Items[0]["username"] != "ann.smith" {
			t.Fatalf("q=ann: %+v", l)
		}
		e.must(e.call("GET", "/api/v1/agents?typology=external", e.admin, nil, &l), 200)
		if l.Total != 1 || l.Items[0]["username"] != "carl" {
			t.Fatalf("typology=external: %+v", l)
		}
		e.must(e.call("GET", "/api/v1/agents?sort=-username&page=2&per_page=1", e.admin, nil, &l), 200)
		if l.Total != 4 || len(l.Items) != 1 || l.Items[0]["username"] != "carl" {
			t.Fatalf("sorted page 2: %+v", l)
		}
		var bad apiErr
		if st := e.call("GET", "/api/v1/agents?sort=password_hash", e.admin, nil, &bad); st != 422 || bad.Error.Field != "sort" {
			t.Fatalf("sort on a secret column: %d %+v", st, bad)
		}

		// PATCH changes only what it names, and re-checks the rules.
		var got map[string]any
		e.must(e.call("PATCH", fmt.Sprintf("/api/v1/agents/%d", id(w)), e.admin, map[string]any{"alias": "A.", "disabled": true}, &got), 200)
		if got["alias"] != "A." || got["disabled"] != true || got["email"] != "ann@example.com" {
			t.Fatalf("patch: %v", got)
		}
		if st := e.call("PATCH", fmt.Sprintf("/api/v1/agents/%d", id(w)), e.admin, map[string]any{"allowed_codecs": []string{"g729"}}, &bad); st != 422 || bad.Error.Field != "allowed_codecs" {
			t.Fatalf("patch g729 on webrtc: %d %+v", st, bad)
		}
		// Changing typology to phonebar without codecs moves to that typology's defaults.
		e.must(e.call("PATCH", fmt.Sprintf("/api/v1/agents/%d", id(w)), e.admin, map[string]any{"typology": "phonebar"}, &got), 200)
		if fmt.Sprint(got["allowed_codecs"]) != "[ulaw alaw]" {
			t.Fatalf("codecs after typology change: %v", got["allowed_codecs"])
		}

		// Delete many is all or nothing.
		if st := e.call("DELETE", fmt.Sprintf("/api/v1/agents?ids=%d,99999", id(p)), e.admin, nil, &bad); st != 404 {
			t.Fatalf("delete with an unknown id: %d", st)
		}
		e.must(e.call("GET", fmt.Sprintf("/api/v1/agents/%d", id(p)), e.admin, nil, &got), 200)
		e.must(e.call("DELETE", fmt.Sprintf("/api/v1/agents?ids=%d,%d", id(p), id(w)), e.admin, nil, nil), 200)
		e.must(e.call("GET", fmt.Sprintf("/api/v1/agents/%d", id(p)), e.admin, nil, &bad), 404)
		e.must(e.call("GET", "/api/v1/agents", e.admin, nil, &l), 200)
		if l.Total != 2 {
			t.Fatalf("after deleting two of four: %d", l.Total)
		}
	})
}

// Agents created at once never share an extension.
func TestConcurrentCreationsGetDistinctExtensions(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		const n = 12
		exts := make(chan string, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				var out map[string]any
				if st := e.call("POST", "/api/v1/agents", e.admin, agent(fmt.Sprintf("c%d", i), "webrtc"), &out); st != 201 {
					t.Errorf("create c%d: %d %v", i, st, out)
					return
				}
				exts <- out["extension"].(string)
			}()
		}
		wg.Wait()
		close(exts)
		seen := map[string]bool{}
		for x := range exts {
			if seen[x] {
				t.Fatalf("extension %s given twice", x)
			}
			seen[x] = true
		}
	})
}

// The export is read back the way a spreadsheet reads it: no cell may begin
// with a character that makes it a formula.
func TestCSVExportNeutralisesFormulas(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		a := e.createAgent(agent("evil", "webrtc", "full_name", `=HYPERLINK("http://x","y")`, "alias", "+SUM(1)",
			"description", "-2+3", "email", "a@example.com"))
		b := e.createAgent(agent("evil2", "webrtc", "full_name", "@cmd", "alias", "-x", "description", "\tTab\rcr=1"))
		e.createAgent(agent("notexported", "webrtc"))
		req, _ := http.NewRequest("GET", fmt.Sprintf("%s/api/v1/agents/export.csv?ids=%d,%d", e.srv.URL, id(a), id(b)), nil)
		req.Header.Set("Authorization", "Bearer "+e.admin)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		if res.StatusCode != 200 || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/csv") {
			t.Fatalf("status %d type %s", res.StatusCode, res.Header.Get("Content-Type"))
		}
		rows, err := csv.NewReader(res.Body).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		if len(rows) != 3 {
			t.Fatalf("%d rows, want header + the 2 selected agents", len(rows))
		}
		for _, row := range rows {
			for _, cell := range row {
				if cell != "" && strings.ContainsRune("=+-@\t\r", rune(cell[0])) {
					t.Fatalf("cell %q starts a formula", cell)
				}
			}
		}
		if rows[1][1] != `'=HYPERLINK("http://x","y")` {
			t.Fatalf("full_name cell %q: the value must be kept behind the apostrophe", rows[1][1])
		}
	})
}

func TestAgentSIPSecretVisibility(t *testing.T) {
	e := newEnv(t, storetest.SQLite(t))
	a := e.createAgent(agent("self", "webrtc"))
	e.createAgent(agent("other", "webrtc"))
	var sup map[string]any
	e.must(e.call("POST", "/api/v1/users", e.admin, map[string]any{"role": "supervisor", "username": "sup", "full_name": "Sup", "password": "Sup3r-visor"}, &sup), 201)
	self, other, supTok := e.login("self", "Str0ng-Pass"), e.login("other", "Str0ng-Pass"), e.login("sup", "Sup3r-visor")
	path := fmt.Sprintf("/api/v1/agents/%d/sip-secret", id(a))

	var s1, s2 struct {
		SIPSecret string `json:"sip_secret"`
	}
	e.must(e.call("GET", path, self, nil, &s1), 200)
	if len(s1.SIPSecret) < 16 || s1.SIPSecret == "Str0ng-Pass" {
		t.Fatalf("sip secret %q must be generated and never the login password", s1.SIPSecret)
	}
	e.must(e.call("GET", path, e.admin, nil, &s2), 200)
	if s2 != s1 {
		t.Fatal("admin sees a different secret")
	}
	e.must(e.call("GET", path, other, nil, nil), 403)
	e.must(e.call("GET", path, supTok, nil, nil), 403)
	e.must(e.call("POST", path, self, nil, &s2), 200)
	if s2.SIPSecret == s1.SIPSecret {
		t.Fatal("rotation kept the secret")
	}
	var got map[string]any
	e.must(e.call("GET", fmt.Sprintf("/api/v1/agents/%d", id(a)), self, nil, &got), 200)
	if _, leaked := got["sip_secret"]; leaked {
		t.Fatal("the agent record carries the sip secret")
	}
	e.must(e.call("GET", fmt.Sprintf("/api/v1/agents/%d", id(a)), other, nil, nil), 403)
}
