package api_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"

	"omnicc/api"
	"omnicc/storetest"
)

// /readyz says which instance answers and what it leads right now, so a
// load balancer's health check and an operator see the same thing.
func TestReadyzNamesTheInstanceAndItsRoles(t *testing.T) {
	db := storetest.SQLite(t)
	roles := []string{"ami:10.0.0.1:5038", "router"}
	s, err := api.New(api.Options{DB: db, PublicURL: "https://cc.example.com", Instance: "omnicc-a",
		Roles: func() []string { return roles }})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	get := func() (out struct {
		Status   string
		Instance string
		Database string
		Roles    []string
		FanOut   string
	}) {
		res, err := http.Get(srv.URL + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		if res.StatusCode != 200 {
			t.Fatalf("/readyz = %d", res.StatusCode)
		}
		if err := json.NewDecoder(res.Body).Decode(&out); err != nil {
			t.Fatal(err)
		}
		return out
	}
	out := get()
	if out.Status != "ready" || out.Instance != "omnicc-a" || out.Database != "sqlite" || !slices.Equal(out.Roles, roles) ||
		out.FanOut != "off" {
		t.Fatalf("/readyz = %+v", out)
	}
	roles = nil // lost them all: an empty list, never null
	if out := get(); out.Roles == nil || len(out.Roles) != 0 {
		t.Fatalf("roles = %#v, want []", out.Roles)
	}
}
