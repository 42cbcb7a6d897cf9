package calls

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// Hold puts the party the agent talks to on Leg on music on hold, and
// Unhold brings them back together.
//
// Asterisk's manager has no hold action (a phone holds with a re-INVITE,
// ARI with a control frame). What the shipped configuration offers is the
// hold context, where a channel waits outside any bridge with music on
// hold: hold moves the customer and the agent's leg there, together so that
// neither is left alone in a dissolving bridge; both hear music. Unhold
// bridges the two legs again (AMI Bridge), a plain two-party bridge in which
// transfers work as before. AMI Bridge can take a channel out of the
// dialplan but not out of a ConfBridge room (its bridge lets channels leave
// only by masquerade: "Unable to add Channel1 to bridge", seen on Asterisk
// 22.10.1), which is why hold does not use conference rooms.
//
// Which customer an agent's leg holds is kept in memory: a restart of
// omniccd while a call is held leaves it held (the agent can hang up, or a
// supervisor barge in).

// heldCall is an agent's leg omniccd put on hold.
type heldCall struct {
	box      string
	customer string
	since    time.Time
}

type holds struct {
	mu   sync.Mutex
	legs map[string]heldCall // by the agent's channel
}

func (h *holds) get(ch string) (heldCall, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	c, ok := h.legs[ch]
	return c, ok
}

func (h *holds) set(ch string, c heldCall) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.legs == nil {
		h.legs = map[string]heldCall{}
	}
	h.legs[ch] = c
}

func (h *holds) drop(ch string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.legs, ch)
}

// Held is the answer of Hold and Unhold.
type Held struct {
	Channel  string    `json:"channel"`
	Customer string    `json:"customer_channel"`
	OnHold   bool      `json:"on_hold"`
	Since    time.Time `json:"since"`
}

// Hold puts the customer bridged with the agent's leg on music on hold.
// Holding a held call is a no-op.
func (s *Service) Hold(ctx context.Context, agentID int64, l Leg) (*Held, error) {
	if _, err := s.leg(ctx, agentID, l); err != nil {
		return nil, err
	}
	if c, ok := s.holds.get(l.Channel); ok {
		return &Held{Channel: l.Channel, Customer: c.customer, OnHold: true, Since: c.since}, nil
	}
	if err := s.ctl.Ready(l.Box, ControlHold); err != nil {
		return nil, err
	}
	ctx, cancel := s.controlCtx(ctx)
	defer cancel()
	customer, box, err := s.bridgePeer(ctx, l.Box, l.Channel, "channel")
	if err != nil {
		return nil, err
	}
	if err := s.ctl.HoldApart(ctx, box, l.Channel, customer, s.opts.HoldContext); err != nil {
		return nil, err
	}
	c := heldCall{box: box, customer: customer, since: s.now()}
	s.holds.set(l.Channel, c)
	s.heldChanged(agentID, l.Channel, true)
	return &Held{Channel: l.Channel, Customer: customer, OnHold: true, Since: c.since}, nil
}

// Unhold bridges the agent's leg with the customer it held again.
func (s *Service) Unhold(ctx context.Context, agentID int64, l Leg) (*Held, error) {
	if _, err := s.leg(ctx, agentID, l); err != nil {
		return nil, err
	}
	c, ok := s.holds.get(l.Channel)
	if !ok {
		return nil, refuse(ErrNotHeld, "channel", fmt.Sprintf("channel: %s is not on hold by omniccd (a hold made on the phone is resumed on the phone)", l.Channel))
	}
	ctx, cancel := s.controlCtx(ctx)
	defer cancel()
	if err := s.ctl.Rejoin(ctx, c.box, l.Channel, c.customer); err != nil {
		return nil, err
	}
	s.holds.drop(l.Channel)
	s.heldChanged(agentID, l.Channel, false)
	return &Held{Channel: l.Channel, Customer: c.customer, OnHold: false, Since: s.now()}, nil
}

func (s *Service) heldChanged(agentID int64, channel string, held bool) {
	if s.opts.Held != nil {
		s.opts.Held(agentID, channel, held)
	}
}
