package webchat_test

import (
	"encoding/json"
	"testing"
	"time"

	"omnicc/channels/webchat"
	"omnicc/directory"
	"omnicc/events"
	"omnicc/presence"
	"omnicc/router"
	"omnicc/storetest"
)

// The visitor's socket sits on this instance while the agent's reply is
// born on another: the reply reaches the visitor when that instance's
// message event arrives over the fan-out (Origin set, the payload as JSON).
func TestVisitorGetsAMessageBornOnAnotherInstance(t *testing.T) {
	db := storetest.MariaDB(t)
	e := newEnv(t, db, webchat.Limits{})
	w := e.website(origin)
	s := e.startSession(t, w.Token, "")
	var sent struct{ Message struct{ Seq int64 } }
	if st := e.visit("POST", "/chat/messages", origin, map[string]any{"session": s.Session, "client_id": "c-1", "body": "hello"}, &sent); st != 201 {
		t.Fatalf("send: %d", st)
	}
	s = e.startSession(t, w.Token, s.Session)
	id := s.Conversation.InteractionID
	ws := e.visitorWS(s.Session, origin, s.Conversation.LastSeq)
	for {
		if f := readFrame(t, ws); f.Type == "conversation" {
			break
		}
	}

	// The other instance: its own router over the same database, whose
	// events only reach this one as the fan-out would carry them.
	var born []events.Event
	dir := directory.New(db, directory.Options{BcryptCost: 4})
	other := router.New(router.Options{DB: db, Directory: dir,
		Presence:  presence.New(presence.Options{DB: db, Directory: dir, Controller: nopQueues{}, FlushDelay: -1, EventWait: -1}),
		Publisher: presence.PublisherFunc(func(ev presence.Event) { born = append(born, ev) })})
	m, _, err := other.AddSystemMessage(t.Context(), id, "Alice joined the conversation.", "joined-elsewhere")
	if err != nil {
		t.Fatal(err)
	}
	if len(born) != 1 || born[0].Type != "message" {
		t.Fatalf("the other instance published %+v", born)
	}
	raw, err := json.Marshal(born[0].Payload)
	if err != nil {
		t.Fatal(err)
	}
	e.bus.Publish(events.Event{Type: "message", AgentID: born[0].AgentID, Origin: "omnicc-b", Payload: json.RawMessage(raw)})

	_ = ws.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		f := readFrame(t, ws)
		if f.Type == "message" && f.Message.Seq == m.Seq {
			if f.Message.Body != "Alice joined the conversation." {
				t.Fatalf("message frame %+v", f.Message)
			}
			return
		}
	}
}
