package api_test

import (
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"omnicc/directory"
	"omnicc/store"
	"omnicc/storetest"
)

var anyParam = regexp.MustCompile(`:[A-Za-z_]+`)

// Every non-public route refuses a request without a token, and every
// admin-only route refuses an agent and a supervisor.
func TestEveryRouteChecksRoles(t *testing.T) {
	e := newEnv(t, storetest.SQLite(t))
	e.createAgent(agent("plain", "webrtc"))
	agentTok := e.login("plain", "Str0ng-Pass")
	e.must(e.call("POST", "/api/v1/users", e.admin, map[string]any{"role": "supervisor", "username": "sup", "full_name": "Sup", "password": "Sup3r-visor"}, nil), 201)
	supTok := e.login("sup", "Sup3r-visor")
	for _, r := range e.api.Routes() {
		if r.Public {
			continue
		}
		path := anyParam.ReplaceAllString(r.Path, "999999")
		if st := e.call(r.Method, path, "", nil, nil); st != http.StatusUnauthorized {
			t.Errorf("%s %s without a token: %d, want 401", r.Method, r.Path, st)
		}
		if st := e.call(r.Method, path, "omt_forged", nil, nil); st != http.StatusUnauthorized {
			t.Errorf("%s %s with a forged token: %d, want 401", r.Method, r.Path, st)
		}
		allowed := map[directory.Role]bool{}
		for _, role := range r.Roles {
			allowed[role] = true
		}
		for role, tok := range map[directory.Role]string{directory.RoleAgent: agentTok, directory.RoleSupervisor: supTok} {
			if allowed[role] {
				continue
			}
			if st := e.call(r.Method, path, tok, nil, nil); st != http.StatusForbidden {
				t.Errorf("%s %s as %s: %d, want 403", r.Method, r.Path, role, st)
			}
		}
	}
}

// After N wrong passwords the account is locked: even the right password is
// refused until an admin clears locked.
func TestLockout(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		a := e.createAgent(agent("lucy", "webrtc"))
		wrong := map[string]string{"username": "lucy", "password": "Wrong-pass1"}
		var out apiErr
		for i := 1; i <= 4; i++ {
			if st := e.call("POST", "/api/v1/auth/login", "", wrong, &out); st != 401 || out.Error.Code != "invalid_credentials" {
				t.Fatalf("attempt %d: %d %+v", i, st, out)
			}
		}
		// A success before the threshold resets the count.
		e.login("lucy", "Str0ng-Pass")
		for i := 1; i <= 4; i++ {
			e.call("POST", "/api/v1/auth/login", "", wrong, &out)
		}
		if st := e.call("POST", "/api/v1/auth/login", "", wrong, &out); st != 403 || out.Error.Code != "account_locked" {
			t.Fatalf("fifth wrong password: %d %+v", st, out)
		}
		right := map[string]string{"username": "lucy", "password": "Str0ng-Pass"}
		if st := e.call("POST", "/api/v1/auth/login", "", right, &out); st != 403 || out.Error.Code != "account_locked" {
			t.Fatalf("right password on a locked account: %d %+v", st, out)
		}
		var got map[string]any
		e.must(e.call("GET", fmt.Sprintf("/api/v1/agents/%d", id(a)), e.admin, nil, &got), 200)
		if got["locked"] != true {
			t.Fatalf("agent record does not show locked: %v", got["locked"])
		}
		e.must(e.call("PATCH", fmt.Sprintf("/api/v1/agents/%d", id(a)), e.admin, map[string]any{"locked": false}, &got), 200)
		e.login("lucy", "Str0ng-Pass")
		// Unlocking cleared the count: one wrong password does not relock.
		e.call("POST", "/api/v1/auth/login", "", wrong, &out)
		e.login("lucy", "Str0ng-Pass")
	})
}

func TestLogoutRevokesAndUnknownUserLooksLikeWrongPassword(t *testing.T) {
	e := newEnv(t, storetest.SQLite(t))
	tok := e.login("admin", adminPassword)
	e.must(e.call("GET", "/api/v1/auth/me", tok, nil, nil), 200)
	e.must(e.call("POST", "/api/v1/auth/logout", tok, nil, nil), 204)
	e.must(e.call("GET", "/api/v1/auth/me", tok, nil, nil), 401)
	var a, b apiErr
	e.call("POST", "/api/v1/auth/login", "", map[string]string{"username": "ghost", "password": "x"}, &a)
	e.call("POST", "/api/v1/auth/login", "", map[string]string{"username": "admin", "password": "x"}, &b)
	if a != b {
		t.Fatalf("unknown user %+v differs from wrong password %+v", a, b)
	}
}

func TestDisabledAgentCannotUseItsToken(t *testing.T) {
	e := newEnv(t, storetest.SQLite(t))
	a := e.createAgent(agent("dis", "webrtc"))
	tok := e.login("dis", "Str0ng-Pass")
	e.must(e.call("PATCH", fmt.Sprintf("/api/v1/agents/%d", id(a)), e.admin, map[string]any{"disabled": true}, nil), 200)
	e.must(e.call("GET", fmt.Sprintf("/api/v1/agents/%d", id(a)), tok, nil, nil), 403)
	var out apiErr
	if st := e.call("POST", "/api/v1/auth/login", "", map[string]string{"username": "dis", "password": "Str0ng-Pass"}, &out); st != 403 || out.Error.Code != "account_disabled" {
		t.Fatalf("disabled login: %d %+v", st, out)
	}
}

func TestAPIKeys(t *testing.T) {
	e := newEnv(t, storetest.SQLite(t))
	var created struct {
		Key    string
		APIKey struct{ ID int64 } `json:"api_key"`
	}
	e.must(e.call("POST", "/api/v1/api-keys", e.admin, map[string]any{"name": "crm", "role": "supervisor"}, &created), 201)
	if !strings.HasPrefix(created.Key, "omk_") {
		t.Fatalf("key %q", created.Key)
	}
	e.must(e.call("GET", "/api/v1/agents", created.Key, nil, nil), 200)
	e.must(e.call("POST", "/api/v1/agents", created.Key, agent("k", "webrtc"), nil), 403)
	var keys struct {
		Items []struct {
			Prefix     string  `json:"prefix"`
			LastUsedAt *string `json:"last_used_at"`
		}
	}
	e.must(e.call("GET", "/api/v1/api-keys", e.admin, nil, &keys), 200)
	if len(keys.Items) != 1 || keys.Items[0].LastUsedAt == nil || !strings.HasPrefix(created.Key, keys.Items[0].Prefix) {
		t.Fatalf("the key list must show its prefix and when it was last used: %+v", keys.Items)
	}
	var bad apiErr
	if st := e.call("POST", "/api/v1/api-keys", e.admin, map[string]any{"name": "x", "role": "root"}, &bad); st != 422 || bad.Error.Field != "role" {
		t.Fatalf("bad role: %d %+v", st, bad)
	}
	e.must(e.call("DELETE", fmt.Sprintf("/api/v1/api-keys/%d", created.APIKey.ID), e.admin, nil, nil), 204)
	e.must(e.call("GET", "/api/v1/agents", created.Key, nil, nil), 401)
}

func TestInvitationLink(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		a := e.createAgent(agent("newbie", "webrtc"))
		var inv struct {
			URL, Token string
		}
		e.must(e.call("POST", fmt.Sprintf("/api/v1/agents/%d/invitation", id(a)), e.admin, nil, &inv), 201)
		if !strings.HasPrefix(inv.URL, "https://cc.example.com/api/v1/invitation?token=omi_") {
			t.Fatalf("url %q", inv.URL)
		}
		var bad apiErr
		if st := e.call("POST", "/api/v1/auth/invitations/accept", "", map[string]string{"token": inv.Token, "password": "weak"}, &bad); st != 422 || bad.Error.Field != "password" {
			t.Fatalf("weak password: %d %+v", st, bad)
		}
		e.must(e.call("POST", "/api/v1/auth/invitations/accept", "", map[string]string{"token": inv.Token, "password": "N3w-Password"}, nil), 200)
		e.login("newbie", "N3w-Password")
		if st := e.call("POST", "/api/v1/auth/invitations/accept", "", map[string]string{"token": inv.Token, "password": "Oth3r-Password"}, &bad); st != 410 {
			t.Fatalf("second use: %d", st)
		}
	})
}

func TestBodyLimitsAndBadJSON(t *testing.T) {
	e := newEnv(t, storetest.SQLite(t))
	var out apiErr
	huge := `{"full_name":"` + strings.Repeat("a", 70<<10) + `"}`
	if st := e.call("POST", "/api/v1/agents", e.admin, huge, &out); st != http.StatusRequestEntityTooLarge {
		t.Fatalf("huge body: %d %+v", st, out)
	}
	if st := e.call("POST", "/api/v1/agents", e.admin, `{"full_name":`, &out); st != 400 || out.Error.Code != "bad_json" {
		t.Fatalf("truncated JSON: %d %+v", st, out)
	}
	if st := e.call("GET", "/api/v1/agents/abc", e.admin, nil, &out); st != 400 || out.Error.Field != "id" {
		t.Fatalf("non-numeric id: %d %+v", st, out)
	}
	if st := e.call("GET", "/api/v1/agents?per_page=100000", e.admin, nil, &out); st != 400 || out.Error.Field != "per_page" {
		t.Fatalf("per_page: %d %+v", st, out)
	}
}
