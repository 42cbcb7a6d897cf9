package api_test

import (
	"log/slog"
	"strings"
	"testing"

	"omnicc/ami"
	"omnicc/ami/amitest"
	"omnicc/storetest"
)

// moduleCheck answers ModuleCheck like Asterisk: "Module not loaded" for the
// modules in missing.
func moduleCheck(missing ...string) amitest.Handler {
	return func(a ami.Message) []ami.Message {
		for _, m := range missing {
			if a.Get("Module") == m {
				return []ami.Message{amitest.Error("Module not loaded")}
			}
		}
		return []ami.Message{amitest.Success("Version", "")}
	}
}

// Issue 17 item 3: a control whose Asterisk module is not loaded answers 503
// asterisk_module_missing naming it, and nothing reaches Asterisk; the
// other controls go on.
func TestVoiceModuleMissing(t *testing.T) {
	srv := amitest.NewServer(t, amiUser, amiSecret)
	srv.Handle("ModuleCheck", moduleCheck("app_confbridge"))
	for _, a := range []string{"Redirect", "Originate", "Hangup"} {
		srv.Handle(a, amitest.Reply(amitest.Success("Message", a+" done")))
	}
	srv.Handle("Getvar", amitest.Reply(amitest.Success("Value", "PJSIP/trunk-00000002")))
	pool := startVoicePool(t, srv)
	voice := ami.NewVoice(pool, slog.New(slog.DiscardHandler))
	// What Pool.OnConnect runs after each login (wired so in cmd/omniccd).
	if err := voice.CheckModules(t.Context(), pool.Clients()[0]); err != nil {
		t.Fatal(err)
	}
	ve := newVoiceEnv(t, storetest.SQLite(t), voice)
	st, out := ve.do("alice", "POST", ve.agentPath("alice", "/calls/conference"), map[string]any{"channel": "PJSIP/alice-00000001", "number": "300"})
	if st != 503 || errCode(out) != "asterisk_module_missing" || !strings.Contains(errMessage(out), "app_confbridge") {
		t.Fatalf("conference without app_confbridge: %d %v", st, out)
	}
	if n := len(srv.Actions("Redirect")); n != 0 {
		t.Fatalf("%d Redirects reached Asterisk", n)
	}
	if st, out := ve.do("alice", "POST", ve.agentPath("alice", "/calls/hangup"), map[string]any{"channel": "PJSIP/alice-00000001"}); st != 200 {
		t.Fatalf("hang-up needs no missing module: %d %v", st, out)
	}
}
