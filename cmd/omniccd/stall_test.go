package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"omnicc/storetest"
)

// The daemon as deployed, on MariaDB behind a proxy that freezes as a
// SIGSTOPped server does: REST answers 503 database_unavailable and
// realtime the last known rows, both before the stall ends, and REST
// serves again after it without a restart.
func TestServeThroughADatabaseStall(t *testing.T) {
	dsn, proxy := storetest.StallableMariaDBDSN(t)
	addr := freeAddr(t)
	t.Setenv("OMNICC_DB_DSN", dsn)
	t.Setenv("OMNICC_HTTP_ADDR", addr)
	t.Setenv("OMNICC_AGI_ADDR", freeAddr(t))
	t.Setenv("OMNICC_ADMIN_PASSWORD", "Admin-Pass1")
	t.Setenv("OMNICC_DATA_DIR", t.TempDir())
	ctx, cancel := context.WithCancel(context.Background())
	var out, errOut syncBuffer
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"serve"}, &out, &errOut) }()
	defer func() {
		proxy.Thaw()
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve returned %v", err)
		}
	}()
	waitReady(t, addr, &errOut)
	base := "http://" + addr

	send := func(method, path, token, ctype, body string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(method, base+path, strings.NewReader(body))
		req.Header.Set("Content-Type", ctype)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		raw, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(raw)
	}
	st, body := send("POST", "/api/v1/auth/login", "", "application/json", `{"username":"admin","password":"Admin-Pass1"}`)
	var login struct{ Token string }
	if st != 200 || json.Unmarshal([]byte(body), &login) != nil {
		t.Fatalf("login: %d %s", st, body)
	}
	if st, body := send("POST", "/api/v1/agents", login.Token, "application/json",
		`{"full_name":"Web Agent","username":"web.agent","typology":"webrtc","password":"Str0ng-Pass"}`); st != 201 {
		t.Fatalf("create agent: %d %s", st, body)
	}
	const form = "application/x-www-form-urlencoded"
	st, endpoint := send("POST", "/realtime/ps_endpoints/single", "", form, "id=web.agent")
	if st != 200 || !strings.HasPrefix(endpoint, "id=web.agent&") {
		t.Fatalf("realtime lookup: %d %q", st, endpoint)
	}

	proxy.Freeze()
	var once sync.Once
	released := make(chan struct{})
	timer := time.AfterFunc(20*time.Second, func() { once.Do(func() { proxy.Thaw(); close(released) }) })
	defer timer.Stop()
	during := func(what string) {
		t.Helper()
		select {
		case <-released:
			t.Fatalf("%s answered only after the stall ended", what)
		default:
		}
	}
	st, body = send("GET", "/api/v1/agents", login.Token, "", "")
	during("GET /api/v1/agents")
	if st != 503 || !strings.Contains(body, `"database_unavailable"`) {
		t.Fatalf("GET /api/v1/agents during the stall: %d %s", st, body)
	}
	// The realtime cache's TTL (5 s) may still be running, so this is
	// answered fresh from memory or stale; either way without the database.
	st, body = send("POST", "/realtime/ps_endpoints/single", "", form, "id=web.agent")
	during("a realtime lookup")
	if st != 200 || body != endpoint {
		t.Fatalf("realtime lookup during the stall: %d %q, want the last known row", st, body)
	}
	if st, _ := send("GET", "/healthz", "", "", ""); st != 200 {
		t.Fatalf("/healthz during the stall: %d", st)
	}

	once.Do(func() { proxy.Thaw(); close(released) })
	for {
		st, _ := send("GET", "/api/v1/agents", login.Token, "", "")
		if st == 200 {
			break
		}
		if st != 503 {
			t.Fatalf("GET /api/v1/agents after the stall: %d", st)
		}
		time.Sleep(50 * time.Millisecond) // the monitor pings twice a second
	}
	if !strings.Contains(errOut.String(), "database unavailable") || !strings.Contains(errOut.String(), "database answers again") {
		t.Errorf("the outage and the recovery were not logged:\n%s", errOut.String())
	}
}
