package main

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"
)

// Without OMNICC_AMI the daemon says so at start, and the API tells "no
// Asterisk configured" apart from "Asterisk unreachable": logins answer
// "asterisk": "not_configured" (not "pending"), call controls 503
// asterisk_not_configured (not asterisk_unavailable).
func TestServeWithoutAsterisk(t *testing.T) {
	addr := freeAddr(t)
	t.Setenv("OMNICC_DATA_DIR", t.TempDir())
	t.Setenv("OMNICC_HTTP_ADDR", addr)
	t.Setenv("OMNICC_AGI_ADDR", freeAddr(t))
	t.Setenv("OMNICC_AMI", "")
	ctx, cancel := context.WithCancel(context.Background())
	var out, errOut syncBuffer
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"serve"}, &out, &errOut) }()
	defer func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("serve returned %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("serve did not stop after cancellation")
		}
	}()
	waitReady(t, addr, &errOut)
	if !strings.Contains(errOut.String(), "no Asterisk is configured (OMNICC_AMI is empty)") {
		t.Errorf("no start-up warning about the missing Asterisk:\n%s", errOut.String())
	}
	m := regexp.MustCompile(`created user admin with password (\S+)`).FindStringSubmatch(out.String())
	if m == nil {
		t.Fatalf("no admin password printed:\n%s", out.String())
	}
	c := &client{t: t, base: "http://" + addr}
	c.token = c.expect("POST", "/api/v1/auth/login", `{"username":"admin","password":"`+m[1]+`"}`, 200, `"token":"([^"]+)"`)
	agentID := c.expect("POST", "/api/v1/agents",
		`{"full_name":"Desk Agent","username":"desk.agent","typology":"phonebar","password":"Str0ng-Pass"}`, 201, `"id":(\d+)`)
	queueID := c.expect("POST", "/api/v1/queues", `{"name":"sales","channel":"voice"}`, 201, `"id":(\d+)`)
	c.expect("POST", "/api/v1/queues/"+queueID+"/agents", `{"agent_id":`+agentID+`}`, 200, ``)
	if got := c.expect("POST", "/api/v1/agents/"+agentID+"/login", `{}`, 200, `"asterisk":"([a-z_]+)"`); got != "not_configured" {
		t.Errorf("login: asterisk = %q, want not_configured", got)
	}
	c.expect("POST", "/api/v1/pause-types", `{"name":"Break"}`, 201, ``)
	if got := c.expect("POST", "/api/v1/agents/"+agentID+"/pause", `{"reason":"Break"}`, 200, `"asterisk":"([a-z_]+)"`); got != "not_configured" {
		t.Errorf("pause: asterisk = %q, want not_configured", got)
	}
	if got := c.expect("POST", "/api/v1/agents/"+agentID+"/calls", `{"number":"5551234"}`, 503, `"code":"([a-z_]+)"`); got != "asterisk_not_configured" {
		t.Errorf("click-to-call: code = %q, want asterisk_not_configured", got)
	}
}
