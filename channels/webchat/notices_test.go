package webchat_test

import (
	"strings"
	"testing"
	"time"

	"omnicc/channels/webchat"
	"omnicc/directory"
	"omnicc/storetest"
)

// The notices a waiting visitor must still see after a reload are stored
// system messages: the offline message outside the calendar's hours, and
// the queue position while every agent is busy.
func TestNotices(t *testing.T) {
	e := newEnv(t, storetest.SQLite(t), webchat.Limits{})
	w := e.website(origin)
	// Closed all week: a calendar with no opening hours.
	cal, err := e.dir.CreateCalendar(e.ctx, directory.CalendarInput{Name: str("never"), TimeZone: str("UTC")})
	if err != nil {
		t.Fatal(err)
	}
	if st := e.call("PATCH", "/chat-websites/"+itoa(w.ID), e.admin, map[string]any{"calendar_id": cal.ID}, nil); st != 200 {
		t.Fatalf("patch: %d", st)
	}
	s := e.startSession(t, w.Token, "")
	if s.Website.Open || s.Website.Offline != "We are closed." {
		t.Fatalf("closed website: %+v", s.Website)
	}
	e.visit("POST", "/chat/messages", origin, map[string]any{"session": s.Session, "client_id": "o-1", "body": "anyone?"}, nil)
	var h history
	e.visit("GET", "/chat/messages?session="+s.Session, origin, nil, &h)
	if len(h.Items) != 2 || h.Items[1].Direction != "system" || h.Items[1].Body != "We are closed." {
		t.Fatalf("outside hours: %+v", h.Items)
	}
	if st := e.call("PATCH", "/chat-websites/"+itoa(w.ID), e.admin, map[string]any{"calendar_id": 0}, nil); st != 200 {
		t.Fatalf("clear the calendar: %d", st)
	}

	// One agent with room for one chat, taken by the offer of the message
	// left while closed: the next visitors wait and are told their place.
	one := 1
	if _, err := e.dir.UpdateAgent(e.ctx, e.agent.ID, directory.AgentInput{Channels: map[string]directory.ChannelInput{webchat.Channel: {Capacity: &one}}}); err != nil {
		t.Fatal(err)
	}
	e.agentOnline()
	time.Sleep(200 * time.Millisecond) // the router hears of the login on the bus
	var bodies []string
	for i := 0; i < 3; i++ {
		v := e.startSession(t, w.Token, "")
		e.visit("POST", "/chat/messages", origin, map[string]any{"session": v.Session, "client_id": "q-1", "body": "hello"}, nil)
		var vh history
		e.visit("GET", "/chat/messages?session="+v.Session, origin, nil, &vh)
		if len(vh.Items) != 2 {
			t.Fatalf("visitor %d: %+v", i, vh.Items)
		}
		bodies = append(bodies, vh.Items[1].Body)
	}
	if !strings.Contains(bodies[0], "number 1 in the queue") || !strings.Contains(bodies[1], "number 2 in the queue") || !strings.Contains(bodies[2], "number 3 in the queue") {
		t.Fatalf("notices: %q", bodies)
	}
}
