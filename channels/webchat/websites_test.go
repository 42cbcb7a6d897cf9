package webchat_test

import (
	"strings"
	"testing"

	"omnicc/api"
	"omnicc/channels/webchat"
	"omnicc/directory"
	"omnicc/store"
	"omnicc/storetest"
)

func TestWebsitesCRUD(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db, webchat.Limits{})
		var fail struct{ Error api.ErrorDetail }
		voice, err := e.dir.CreateQueue(e.ctx, directory.QueueInput{Name: str("sales"), Channel: str("voice"), Strategy: str("ringall")})
		if err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			name  string
			body  map[string]any
			field string
		}{
			{"no origins", map[string]any{"name": "a", "queue_id": e.queue.ID}, "allowed_origins"},
			{"bad origin", map[string]any{"name": "a", "queue_id": e.queue.ID, "allowed_origins": []string{"https://x.com/path"}}, "allowed_origins[0]"},
			{"voice queue", map[string]any{"name": "a", "queue_id": voice.ID, "allowed_origins": []string{"https://x.com"}}, "queue_id"},
			{"short secret", map[string]any{"name": "a", "queue_id": e.queue.ID, "allowed_origins": []string{"https://x.com"}, "identity_secret": "short"}, "identity_secret"},
			{"huge files", map[string]any{"name": "a", "queue_id": e.queue.ID, "allowed_origins": []string{"https://x.com"}, "max_file_bytes": 1 << 40}, "max_file_bytes"},
		} {
			if st := e.call("POST", "/chat-websites", e.admin, tc.body, &fail); st != 422 || fail.Error.Field != tc.field {
				t.Errorf("%s: %d %+v", tc.name, st, fail)
			}
		}
		if st := e.call("POST", "/chat-websites", e.alice, map[string]any{"name": "a", "queue_id": e.queue.ID, "allowed_origins": []string{"https://x.com"}}, nil); st != 403 {
			t.Fatalf("an agent creates a website: %d", st)
		}
		var w webchat.Website
		if st := e.call("POST", "/chat-websites", e.admin, map[string]any{"name": "Shop", "queue_id": e.queue.ID,
			"allowed_origins": []string{"HTTPS://Shop.Example.com:443/", "http://localhost:3000"}, "offline_message": "Closed"}, &w); st != 201 {
			t.Fatalf("create: %d", st)
		}
		if len(w.Token) != 32 || w.MaxFileBytes != webchat.DefaultMaxFileBytes ||
			strings.Join(w.AllowedOrigins, " ") != "https://shop.example.com http://localhost:3000" {
			t.Fatalf("created: %+v", w)
		}
		want := `<script src="` + e.chat.SnippetBase() + `/chat/widget.js" data-omnicc-website="` + w.Token + `" async></script>`
		if w.Snippet != want {
			t.Fatalf("snippet %q, want %q", w.Snippet, want)
		}
		if st := e.call("POST", "/chat-websites", e.admin, map[string]any{"name": "shop", "queue_id": e.queue.ID, "allowed_origins": []string{"https://x.com"}}, &fail); st != 409 {
			t.Fatalf("duplicate name: %d", st)
		}
		var got webchat.Website
		if st := e.call("PATCH", "/chat-websites/"+itoa(w.ID), e.admin, map[string]any{"disabled": true, "greeting": "Hello"}, &got); st != 200 || !got.Disabled || got.Greeting != "Hello" || got.Token != w.Token {
			t.Fatalf("patch: %d %+v", st, got)
		}
		var l struct {
			Items []webchat.Website
			Total int
		}
		if st := e.call("GET", "/chat-websites", e.admin, nil, &l); st != 200 || l.Total != 1 || l.Items[0].ID != w.ID {
			t.Fatalf("list: %d %+v", st, l)
		}
		// A disabled website's token answers 404, as an unknown one does.
		if st := e.visit("POST", "/chat/sessions", "https://shop.example.com", map[string]string{"website": w.Token}, &fail); st != 404 || fail.Error.Message != "not found" {
			t.Fatalf("disabled website: %d %+v", st, fail)
		}
		if st := e.call("DELETE", "/chat-websites/"+itoa(w.ID), e.admin, nil, nil); st != 204 {
			t.Fatalf("delete: %d", st)
		}
		if st := e.call("GET", "/chat-websites/"+itoa(w.ID), e.admin, nil, nil); st != 404 {
			t.Fatalf("deleted: %d", st)
		}
	})
}

func TestNormalizeOrigin(t *testing.T) {
	for in, want := range map[string]string{
		"https://A.example.com":       "https://a.example.com",
		"https://a.example.com:443":   "https://a.example.com",
		"http://a.example.com:80/":    "http://a.example.com",
		"http://127.0.0.1:8080":       "http://127.0.0.1:8080",
		"http://[::1]:3000":           "http://[::1]:3000",
		"ftp://a.example.com":         "",
		"https://a.example.com/path":  "",
		"https://user@a.example.com":  "",
		"a.example.com":               "",
		"https://a.example.com/?q=1":  "",
		"https://a.example.com/#frag": "",
	} {
		got, err := webchat.NormalizeOrigin(in)
		if (want == "") != (err != nil) || got != want {
			t.Errorf("NormalizeOrigin(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}
