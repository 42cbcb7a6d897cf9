package api_test

import (
	"context"
	"testing"
	"time"

	"omnicc/api"
	"omnicc/presence"
	"omnicc/router"
)

// A user with mask_sensitive_data gets the customer's identity, name and a
// caller's number masked in websocket events; everyone else, and the
// message bodies, are untouched.
func TestWebsocketMasksPersonalData(t *testing.T) {
	e := newWSEnv(t, func(o *api.HubOptions) {
		o.MaskFor = func(_ context.Context, userID int64) (bool, error) { return userID == 8, nil }
	})
	alice, bob, sup := e.connect("omt_agent7"), e.connect("omt_agent8"), e.connect("omt_sup")

	it := &router.Interaction{ID: 41, Channel: "whatsapp", Customer: "447700900123", CustomerName: "Jane Doe", Status: "offered"}
	e.bus.Publish(presence.Event{Type: "offer", AgentID: 8, Payload: router.OfferEvent{Interaction: it, ExpiresAt: time.Date(2026, 1, 2, 9, 0, 30, 0, time.UTC)}})
	e.bus.Publish(presence.Event{Type: "offer", AgentID: 7, Payload: router.OfferEvent{Interaction: it}})
	e.bus.Publish(presence.Event{Type: "message", AgentID: 8, Payload: router.MessageEvent{InteractionID: 41, Message: &router.Message{Seq: 1, Body: "call me on +44 7700 900123"}}})
	st := presence.AgentState{AgentID: 8, State: "on_call", Call: &presence.Call{Caller: "+390612345678", CallerName: "Mario Rossi", Peer: "+390612345678"},
		Calls: []presence.Call{{Caller: "+390612345678", Peer: "1001"}}}
	e.bus.Publish(presence.Event{Type: presence.EventAgentState, AgentID: 8, Payload: st})

	offer := readEvent(t, bob)
	in := offer["interaction"].(map[string]any)
	if in["customer"] != "••• ••• 0123" || in["customer_name"] != "J••• D•••" || offer["expires_at"] != "2026-01-02T09:00:30Z" {
		t.Errorf("masked offer: %v", offer)
	}
	if msg := readEvent(t, bob); msg["message"].(map[string]any)["body"] != "call me on +44 7700 900123" {
		t.Errorf("a message body is the customer's own words, not masked: %v", msg)
	}
	state := readEvent(t, bob)
	call := state["call"].(map[string]any)
	calls := state["calls"].([]any)
	if call["caller"] != "+39 ••• ••• 5678" || call["caller_name"] != "M••• R•••" || call["peer"] != "+39 ••• ••• 5678" ||
		calls[0].(map[string]any)["caller"] != "+39 ••• ••• 5678" || calls[0].(map[string]any)["peer"] != "1001" {
		t.Errorf("masked agent_state: %v", state)
	}
	if got := readEvent(t, alice)["interaction"].(map[string]any); got["customer"] != "447700900123" || got["customer_name"] != "Jane Doe" {
		t.Errorf("alice (not masked) got %v", got)
	}
	// The supervisor sees all four, unmasked.
	if got := readEvent(t, sup)["interaction"].(map[string]any); got["customer"] != "447700900123" {
		t.Errorf("supervisor got %v", got)
	}
}
