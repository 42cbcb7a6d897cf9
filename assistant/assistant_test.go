package assistant_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"go.uber.org/goleak"

	"omnicc/assistant"
	"omnicc/directory"
	"omnicc/router"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type assistants map[int64]*directory.AIAssistant

func (a assistants) Get(_ context.Context, id int64) (*directory.AIAssistant, error) {
	if v, ok := a[id]; ok {
		return v, nil
	}
	return nil, directory.ErrNotFound
}

func TestAskSignsAndReadsTheAnswer(t *testing.T) {
	var got router.BotTurn
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, _ := io.ReadAll(r.Body)
		if r.Header.Get(assistant.SignatureHeader) != assistant.Sign("s3cret", raw) {
			http.Error(w, "bad signature", http.StatusForbidden)
			return
		}
		_ = json.Unmarshal(raw, &got)
		switch got.Message.Body {
		case "agent please":
			_, _ = io.WriteString(w, `{"replies":["One moment"],"handoff":true,"reason":"asked for a person"}`)
		case "break":
			http.Error(w, "down", http.StatusInternalServerError)
		case "slow":
			<-r.Context().Done()
		default:
			_, _ = io.WriteString(w, `{"replies":["Hi! How can I help?"]}`)
		}
	}))
	defer srv.Close()
	c := assistant.New(assistant.Options{Timeout: 200 * time.Millisecond, Assistants: assistants{
		1: {Base: directory.Base{Name: "helper"}, WebhookURL: srv.URL, WebhookSecret: "s3cret"},
		2: {Base: directory.Base{Name: "wrong"}, WebhookURL: srv.URL, WebhookSecret: "other"},
		3: {Base: directory.Base{Name: "none"}},
	}})
	ask := func(id int64, body string) (router.BotAnswer, error) {
		return c.Ask(t.Context(), id, router.BotTurn{InteractionID: 9, Channel: "chat", Customer: "v1", Message: &router.Message{Body: body}})
	}
	ans, err := ask(1, "hello")
	if err != nil || len(ans.Replies) != 1 || ans.Handoff || got.InteractionID != 9 {
		t.Fatalf("hello: %+v, %v (bot got %+v)", ans, err, got)
	}
	if ans, err = ask(1, "agent please"); err != nil || !ans.Handoff || ans.Reason != "asked for a person" {
		t.Fatalf("handoff: %+v, %v", ans, err)
	}
	for _, tc := range []struct {
		id   int64
		body string
	}{{2, "hello"}, {1, "break"}, {1, "slow"}, {3, "hello"}, {4, "hello"}} {
		if _, err := ask(tc.id, tc.body); err == nil {
			t.Errorf("assistant %d, %q: no error", tc.id, tc.body)
		}
	}
}
