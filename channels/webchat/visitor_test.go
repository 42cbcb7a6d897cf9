package webchat_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"omnicc/api"
	"omnicc/channels/webchat"
	"omnicc/store"
	"omnicc/storetest"
)

const origin = "https://shop.example.com"

type session struct {
	Session      string
	Website      webchat.SiteInfo
	Conversation webchat.Conversation
}

type history struct {
	Items        []webchat.MessageView
	Conversation webchat.Conversation
}

// serverFrame is one frame the visitor socket sends.
type serverFrame struct {
	Type         string
	Message      *webchat.MessageView
	Conversation *webchat.Conversation
	Agent        *webchat.Agent
	ClientID     string `json:"client_id"`
	Error        string
}

func readFrame(t *testing.T, ws *websocket.Conn) serverFrame {
	t.Helper()
	_ = ws.SetReadDeadline(time.Now().Add(10 * time.Second))
	var f serverFrame
	if err := ws.ReadJSON(&f); err != nil {
		t.Fatalf("read a visitor frame: %v", err)
	}
	return f
}

// until reads frames until ok accepts one.
func until(t *testing.T, ws *websocket.Conn, what string, ok func(serverFrame) bool) serverFrame {
	t.Helper()
	for i := 0; i < 200; i++ {
		if f := readFrame(t, ws); ok(f) {
			return f
		}
	}
	t.Fatalf("no frame: %s", what)
	return serverFrame{}
}

func (e *env) startSession(t *testing.T, token, prev string) session {
	t.Helper()
	var s session
	if st := e.visit("POST", "/chat/sessions", origin, map[string]string{"website": token, "session": prev}, &s); st != 200 {
		t.Fatalf("session: %d", st)
	}
	return s
}

// The visitor protocol end to end over HTTP and the websocket: session,
// idempotent sends, the agent's reply with its alias, resume after a
// reload, replay after a seq, read ticks, closing.
func TestVisitorProtocol(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db, webchat.Limits{})
		w := e.website(origin)
		var fail struct{ Error api.ErrorDetail }

		// Wrong origin, unknown token: refused, saying nothing of the site.
		if st := e.visit("POST", "/chat/sessions", "https://evil.example.net", map[string]string{"website": w.Token}, &fail); st != 403 || fail.Error.Code != "origin_not_allowed" {
			t.Fatalf("foreign origin: %d %+v", st, fail)
		}
		if st := e.visit("POST", "/chat/sessions", origin, map[string]string{"website": strings.Repeat("0", 32)}, &fail); st != 404 || fail.Error.Message != "not found" {
			t.Fatalf("unknown token: %d %+v", st, fail)
		}
		s := e.startSession(t, w.Token, "")
		if s.Session == "" || s.Conversation.Status != "new" || s.Website.Greeting != "Hi! How can we help?" || !s.Website.Open {
			t.Fatalf("session: %+v", s)
		}
		// A forged or foreign session is refused.
		forged := s.Session[:len(s.Session)-2] + "xx"
		if st := e.visit("GET", "/chat/messages?session="+forged, origin, nil, &fail); st != 401 {
			t.Fatalf("forged session: %d", st)
		}
		if st := e.visit("GET", "/chat/messages?session="+s.Session, "https://evil.example.net", nil, &fail); st != 403 {
			t.Fatalf("session from a foreign origin: %d", st)
		}

		// No agent online: the first message gets a stored "no agent" notice.
		var sent api.ChatSent
		msg := map[string]any{"session": s.Session, "client_id": "c-1", "body": "Hello 👋"}
		if st := e.visit("POST", "/chat/messages", origin, msg, &sent); st != 201 || sent.Message.Seq != 1 || sent.Message.ClientID != "c-1" {
			t.Fatalf("send: %d %+v", st, sent)
		}
		var again api.ChatSent
		if st := e.visit("POST", "/chat/messages", origin, msg, &again); st != 200 || again.Message.Seq != 1 {
			t.Fatalf("retry: %d %+v", st, again)
		}
		var h history
		e.visit("GET", "/chat/messages?session="+s.Session, origin, nil, &h)
		if len(h.Items) != 2 || h.Items[1].Direction != "system" || !strings.Contains(h.Items[1].Body, "No agent") {
			t.Fatalf("history after the first message: %+v", h.Items)
		}

		// A reload (same session) resumes the same conversation.
		s2 := e.startSession(t, w.Token, s.Session)
		if s2.Session != s.Session || s2.Conversation.InteractionID == 0 || s2.Conversation.LastSeq != 2 {
			t.Fatalf("resumed: %+v", s2)
		}
		// Another visitor sees none of it.
		other := e.startSession(t, w.Token, "")
		var oh history
		e.visit("GET", "/chat/messages?session="+other.Session, origin, nil, &oh)
		if len(oh.Items) != 0 || other.Conversation.InteractionID != 0 {
			t.Fatalf("another visitor reads: %+v", oh)
		}

		ws := e.visitorWS(s.Session, origin, 0)
		for _, want := range []int64{1, 2} {
			if f := readFrame(t, ws); f.Type != "message" || f.Message.Seq != want {
				t.Fatalf("replay: %+v", f)
			}
		}
		if f := readFrame(t, ws); f.Type != "conversation" || f.Conversation.Status != "queued" {
			t.Fatalf("conversation: %+v", f)
		}

		// The agent logs in, accepts and replies: the visitor sees the
		// alias, never the username.
		e.agentOnline()
		id := s2.Conversation.InteractionID
		deadline := time.Now().Add(5 * time.Second)
		for {
			var it struct{ Status string }
			e.call("GET", "/interactions/"+itoa(id), e.admin, nil, &it)
			if it.Status == "offered" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("never offered: %s", it.Status)
			}
			time.Sleep(20 * time.Millisecond)
		}
		if st := e.call("POST", "/interactions/"+itoa(id)+"/accept", e.alice, nil, nil); st != 200 {
			t.Fatalf("accept: %d", st)
		}
		until(t, ws, "accepted", func(f serverFrame) bool {
			return f.Type == "conversation" && f.Conversation.Status == "accepted" && f.Conversation.Agent != nil && f.Conversation.Agent.Name == "Alice"
		})
		// The visitor types: the owner's desktop gets a typing event.
		agentWS, _, err := websocket.DefaultDialer.DialContext(e.ctx, "ws"+strings.TrimPrefix(e.base, "http")+"/ws", http.Header{"Authorization": {"Bearer " + e.alice}})
		if err != nil {
			t.Fatal(err)
		}
		defer agentWS.Close()
		if err := ws.WriteJSON(map[string]any{"type": "typing"}); err != nil {
			t.Fatal(err)
		}
		for {
			_ = agentWS.SetReadDeadline(time.Now().Add(10 * time.Second))
			var ev map[string]any
			if err := agentWS.ReadJSON(&ev); err != nil {
				t.Fatalf("the agent never saw the visitor typing: %v", err)
			}
			if ev["type"] == "typing" && ev["interaction_id"] == float64(id) && ev["from"] == "visitor" {
				break
			}
		}
		if st := e.call("POST", "/interactions/"+itoa(id)+"/typing", e.alice, nil, nil); st != 204 {
			t.Fatalf("typing: %d", st)
		}
		until(t, ws, "typing", func(f serverFrame) bool { return f.Type == "typing" && f.Agent.Name == "Alice" })
		if st := e.call("POST", "/interactions/"+itoa(id)+"/messages", e.alice, map[string]string{"body": "Hi, I am Alice", "client_id": "a-1"}, nil); st != 201 {
			t.Fatalf("reply: %d", st)
		}
		reply := until(t, ws, "the reply", func(f serverFrame) bool { return f.Type == "message" && f.Message.Direction == "out" })
		if reply.Message.Agent == nil || reply.Message.Agent.Name != "Alice" || reply.Message.Body != "Hi, I am Alice" {
			t.Fatalf("reply: %+v", reply.Message)
		}
		raw, _ := json.Marshal(reply.Message)
		if strings.Contains(string(raw), "alice") {
			t.Fatalf("the visitor sees the username: %s", raw)
		}

		// The socket: send twice with one client id → stored once.
		for i := 0; i < 2; i++ {
			if err := ws.WriteJSON(map[string]any{"type": "send", "client_id": "c-2", "body": "thanks"}); err != nil {
				t.Fatal(err)
			}
		}
		first := until(t, ws, "sent", func(f serverFrame) bool { return f.Type == "sent" })
		second := until(t, ws, "sent again", func(f serverFrame) bool { return f.Type == "sent" })
		if first.Message.Seq != second.Message.Seq {
			t.Fatalf("a retried client id stored twice: %d and %d", first.Message.Seq, second.Message.Seq)
		}
		// The visitor's page showed the reply: the agent's message is read.
		if err := ws.WriteJSON(map[string]any{"type": "ack", "seq": reply.Message.Seq, "read": true}); err != nil {
			t.Fatal(err)
		}
		deadline = time.Now().Add(5 * time.Second)
		for {
			var ms []struct {
				Seq    int64
				Status string
			}
			e.call("GET", "/interactions/"+itoa(id)+"/messages", e.alice, nil, &ms)
			if len(ms) >= int(reply.Message.Seq) && ms[reply.Message.Seq-1].Status == webchat.StatusRead {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the reply never read: %+v", ms)
			}
			time.Sleep(20 * time.Millisecond)
		}
		// The agent reads: the visitor's ticks turn to read.
		e.call("POST", "/interactions/"+itoa(id)+"/read", e.alice, nil, nil)
		until(t, ws, "read ticks", func(f serverFrame) bool {
			return f.Type == "conversation" && f.Conversation.ReadSeq >= first.Message.Seq
		})

		// A reconnect after a seq replays only what follows, once.
		ws2 := e.visitorWS(s.Session, origin, reply.Message.Seq)
		f := readFrame(t, ws2)
		if f.Type != "message" || f.Message.Seq != reply.Message.Seq+1 {
			t.Fatalf("replay after %d: %+v", reply.Message.Seq, f)
		}

		// Closing tells the visitor, with a notice kept in the history.
		if st := e.call("POST", "/interactions/"+itoa(id)+"/close", e.alice, map[string]string{}, nil); st != 200 {
			t.Fatalf("close: %d", st)
		}
		until(t, ws, "closed", func(f serverFrame) bool { return f.Type == "conversation" && f.Conversation.Status == "closed" })
		until(t, ws, "closed notice", func(f serverFrame) bool {
			return f.Type == "message" && f.Message.Direction == "system" && strings.Contains(f.Message.Body, "closed")
		})
		// Writing again reopens it (the router's rule).
		if err := ws.WriteJSON(map[string]any{"type": "send", "client_id": "c-3", "body": "one more thing"}); err != nil {
			t.Fatal(err)
		}
		until(t, ws, "reopened", func(f serverFrame) bool {
			return f.Type == "conversation" && (f.Conversation.Status == "queued" || f.Conversation.Status == "offered")
		})
	})
}
