package desk

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/fstest"
)

func TestServeCachesAssetsNotTheIndex(t *testing.T) {
	h := serve(fstest.MapFS{
		"index.html":            {Data: []byte("<!doctype html><title>desk</title>")},
		"assets/desk-ABC123.js": {Data: []byte("console.log(1)")},
	})
	for _, tc := range []struct {
		method, path string
		status       int
		cache, body  string
	}{
		{"GET", "/desk/", 200, "no-cache", "<title>desk</title>"},
		{"GET", "/desk/inbox/42", 200, "no-cache", "<title>desk</title>"}, // a client route
		{"GET", "/desk/assets/desk-ABC123.js", 200, "immutable", "console.log(1)"},
		{"GET", "/desk/assets/missing.js", 404, "", ""},
		{"GET", "/desk/../etc/passwd", 200, "no-cache", "<title>desk</title>"},
		{"HEAD", "/desk/", 200, "no-cache", ""},
		{"POST", "/desk/", 405, "", ""},
	} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(tc.method, tc.path, nil))
		if rec.Code != tc.status {
			t.Errorf("%s %s: status %d, want %d", tc.method, tc.path, rec.Code, tc.status)
			continue
		}
		if !strings.Contains(rec.Header().Get("Cache-Control"), tc.cache) {
			t.Errorf("%s %s: Cache-Control %q, want %q", tc.method, tc.path, rec.Header().Get("Cache-Control"), tc.cache)
		}
		if tc.method == "GET" && !strings.Contains(rec.Body.String(), tc.body) {
			t.Errorf("%s %s: body %q lacks %q", tc.method, tc.path, rec.Body.String(), tc.body)
		}
	}
}

func TestServeWithoutABuildSaysHowToBuild(t *testing.T) {
	rec := httptest.NewRecorder()
	serve(fstest.MapFS{".gitkeep": {}}).ServeHTTP(rec, httptest.NewRequest("GET", "/desk/", nil))
	if rec.Code != http.StatusServiceUnavailable || !strings.Contains(rec.Body.String(), "make build") {
		t.Fatalf("unbuilt desk: %d %q", rec.Code, rec.Body.String())
	}
}
