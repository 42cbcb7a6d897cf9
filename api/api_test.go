package api_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"omnicc/api"
	"omnicc/auth"
	"omnicc/directory"
	"omnicc/store"
	"omnicc/storetest"
)

const adminPassword = "Admin-Pass1"

// env is a running API over a real HTTP listener and a real database.
type env struct {
	t     *testing.T
	srv   *httptest.Server
	api   *api.Server
	dir   *directory.Directory
	admin string // admin token
}

func newEnv(t *testing.T, db *store.DB) *env {
	t.Helper()
	dir := directory.New(db, directory.Options{ExtensionLow: 1000, ExtensionHigh: 1999, SecuritySuite: true, BcryptCost: 4})
	if _, _, err := dir.EnsureAdmin(t.Context(), adminPassword); err != nil {
		t.Fatal(err)
	}
	authn := auth.New(db, dir, auth.Options{LockoutThreshold: 5})
	s, err := api.New(api.Options{DB: db, Directory: dir, Auth: authn, PublicURL: "https://cc.example.com", MaxBodyBytes: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, srv: httptest.NewServer(s.Handler()), api: s, dir: dir}
	t.Cleanup(e.srv.Close)
	e.admin = e.login("admin", adminPassword)
	return e
}

func (e *env) login(user, pw string) string {
	e.t.Helper()
	var out struct{ Token string }
	e.must(e.call("POST", "/api/v1/auth/login", "", map[string]string{"username": user, "password": pw}, &out), 200)
	return out.Token
}

// call sends a JSON request and decodes the JSON answer into out (if not nil).
func (e *env) call(method, path, token string, body any, out any) int {
	e.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = bytes.NewBufferString(b)
	default:
		raw, _ := json.Marshal(b)
		rd = bytes.NewReader(raw)
	}
	req, _ := http.NewRequestWithContext(e.t.Context(), method, e.srv.URL+path, rd)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	if out != nil && len(raw) > 0 {
		if err := json.Unmarshal(raw, out); err != nil {
			e.t.Fatalf("%s %s: answer is not JSON (%v): %s", method, path, err, raw)
		}
	}
	return res.StatusCode
}

func (e *env) must(got, want int) {
	e.t.Helper()
	if got != want {
		e.t.Fatalf("status %d, want %d", got, want)
	}
}

type apiErr struct {
	Error api.ErrorDetail `json:"error"`
}

func (e *env) createAgent(body map[string]any) map[string]any {
	e.t.Helper()
	var out map[string]any
	var fail apiErr
	raw, _ := json.Marshal(body)
	if st := e.call("POST", "/api/v1/agents", e.admin, string(raw), &out); st != 201 {
		_ = json.Unmarshal(raw, &fail)
		e.t.Fatalf("create agent %v: status %d: %v", body, st, out)
	}
	return out
}

func agent(username, typology string, extra ...any) map[string]any {
	m := map[string]any{"full_name": "Agent " + username, "username": username, "typology": typology, "password": "Str0ng-Pass"}
	switch typology {
	case "external":
		m["external_number"] = "+390612345678"
	case "mobile":
		m["push_gateway_url"] = "https://push.example.com/gw"
	}
	for i := 0; i+1 < len(extra); i += 2 {
		m[extra[i].(string)] = extra[i+1]
	}
	return m
}

func id(m map[string]any) int64 { return int64(m["id"].(float64)) }

func TestHealthReadyMetrics(t *testing.T) {
	e := newEnv(t, storetest.SQLite(t))
	for _, p := range []string{"/healthz", "/readyz"} {
		var out map[string]any
		e.must(e.call("GET", p, "", nil, &out), 200)
	}
	res, err := http.Get(e.srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if !bytes.Contains(raw, []byte("omnicc_http_requests_total")) {
		t.Fatalf("metrics lack omnicc_http_requests_total:\n%.500s", raw)
	}
}
