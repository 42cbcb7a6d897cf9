package calls

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"math/big"
	"strings"

	"omnicc/directory"
	"omnicc/domain"
)

// Leg names one of an agent's call legs: the agent's channel in the call,
// and the box it is on ("" to find it).
type Leg struct {
	Channel string
	Box     string
}

// CallRequest is a click-to-call.
type CallRequest struct {
	Number   string
	CallerID string // "" for the agent's own
	Box      string
}

// Placed is a click-to-call on its way: the agent's phone is ringing.
type Placed struct {
	OriginateID string // OMNICC_ORIGINATE_ID on the call, to find it again
	Channel     string // what rings: the agent's phone
	Number      string // the number dialled once the agent answers
	Context     string
	Box         string
}

// Call rings the agent's own phone first; when the agent answers, the number
// is dialled from the agent's context, so outbound routes, caller ID rules
// and automatic recording apply as if the agent had dialled.
func (s *Service) Call(ctx context.Context, agentID int64, req CallRequest) (*Placed, error) {
	a, err := s.actingAgent(ctx, agentID)
	if err != nil {
		return nil, err
	}
	number, err := NormalizeNumber("number", req.Number)
	if err != nil {
		return nil, err
	}
	if err := checkCallerID("caller_id", req.CallerID); err != nil {
		return nil, err
	}
	if err := checkBox(req.Box); err != nil {
		return nil, err
	}
	if a.Typology == directory.TypologyExternal && !numberRe.MatchString(a.ExternalNumber) {
		return nil, refuse(ErrNoEndpoint, "external_number", "external agent "+a.Username+" has no usable external_number to ring")
	}
	cid := req.CallerID
	if cid == "" {
		cid = callerIDFor(a)
	}
	id := randomHex(8)
	vars := []string{"OMNICC_AGENT_ID=" + fmt.Sprint(a.ID), "OMNICC_ORIGINATE_ID=" + id, "OMNICC_ORIGIN=click-to-call"}
	ctx, cancel := s.controlCtx(ctx)
	defer cancel()
	box, dialled, err := s.ctl.RingAgent(ctx, req.Box, agentOf(a), a.Context, number, Ring{CallerID: cid, Timeout: s.opts.RingTimeout, Vars: vars})
	if err != nil {
		return nil, err
	}
	return &Placed{OriginateID: id, Channel: dialled, Number: number, Context: a.Context, Box: box}, nil
}

// Hangup ends the agent's leg of a call.
func (s *Service) Hangup(ctx context.Context, agentID int64, l Leg) error {
	if _, err := s.leg(ctx, agentID, l); err != nil {
		return err
	}
	ctx, cancel := s.controlCtx(ctx)
	defer cancel()
	return s.ctl.Hangup(ctx, l.Box, l.Channel)
}

// Transfer sends the party the agent talks to on Leg to Number.
type Transfer struct {
	Leg
	Number string
}

func (s *Service) transfer(ctx context.Context, agentID int64, t Transfer, do func(ctx context.Context, box, channel, dialContext, exten string) error) (string, error) {
	a, err := s.leg(ctx, agentID, t.Leg)
	if err != nil {
		return "", err
	}
	number, err := NormalizeNumber("number", t.Number)
	if err != nil {
		return "", err
	}
	if err := s.ctl.Ready(t.Box, ControlTransfer); err != nil {
		return "", err
	}
	ctx, cancel := s.controlCtx(ctx)
	defer cancel()
	return number, do(ctx, t.Box, t.Channel, a.Context, number)
}

// BlindTransfer sends the party the agent talks to (the other side of the
// agent's channel) to the number, dialled from the agent's context, and ends
// the agent's leg. It returns the number as dialled.
func (s *Service) BlindTransfer(ctx context.Context, agentID int64, t Transfer) (string, error) {
	return s.transfer(ctx, agentID, t, s.ctl.BlindTransfer)
}

// AttendedTransfer holds the other party and connects the agent to the
// number (the consultation); CompleteTransfer or CancelTransfer ends it.
func (s *Service) AttendedTransfer(ctx context.Context, agentID int64, t Transfer) (string, error) {
	return s.transfer(ctx, agentID, t, s.ctl.AttendedTransfer)
}

// CompleteTransfer joins the held party to the consultation's target and
// takes the agent out of the call.
func (s *Service) CompleteTransfer(ctx context.Context, agentID int64, l Leg) error {
	if _, err := s.leg(ctx, agentID, l); err != nil {
		return err
	}
	ctx, cancel := s.controlCtx(ctx)
	defer cancel()
	return s.ctl.CompleteTransfer(ctx, l.Box, l.Channel)
}

// CancelTransfer ends the consultation and brings the agent back to the held
// party.
func (s *Service) CancelTransfer(ctx context.Context, agentID int64, l Leg) error {
	if _, err := s.leg(ctx, agentID, l); err != nil {
		return err
	}
	ctx, cancel := s.controlCtx(ctx)
	defer cancel()
	return s.ctl.CancelTransfer(ctx, l.Box, l.Channel)
}

// ConferenceRequest merges the agent's call on Leg with a third party: the
// peer of the agent's second call (ConsultChannel, the seeds' "place the new
// call and speak with the second recipient") or Number dialled straight into
// the room.
type ConferenceRequest struct {
	Leg
	ConsultChannel string
	Number         string
}

// Conference is a three-way conference on its way.
type Conference struct {
	Room            string
	Context         string
	CustomerChannel string
	ThirdChannel    string // the consultation's peer, when one joined
	Number          string // the number dialled into the room, when one was
}

// Conference merges the agent, the customer and a third party in a ConfBridge
// room. The customer is whoever is bridged to the agent's channel (read from
// the telephone system rather than trusted from the client); the agent's leg
// and the customer are moved together so neither is left alone in a
// dissolving bridge. The third party is the peer of the agent's consultation
// leg (moved, then that leg hung up so the agent is in the room once) or a
// number dialled into the room. The agent leaving the room lets the other two
// go on talking.
func (s *Service) Conference(ctx context.Context, agentID int64, req ConferenceRequest) (*Conference, error) {
	a, err := s.leg(ctx, agentID, req.Leg)
	if err != nil {
		return nil, err
	}
	var number string
	switch {
	case req.ConsultChannel != "" && req.Number != "":
		return nil, domain.FieldErrorf("number", "give consult_channel (the agent's second call) or number (a third party to dial), not both")
	case req.ConsultChannel != "":
		if err := s.agentChannel(a, "consult_channel", req.ConsultChannel); err != nil {
			return nil, err
		}
		if req.ConsultChannel == req.Channel {
			return nil, domain.FieldErrorf("consult_channel", "must be the agent's other call, not channel")
		}
	default:
		if number, err = NormalizeNumber("number", req.Number); err != nil {
			return nil, err
		}
	}
	if err := s.ctl.Ready(req.Box, ControlConference); err != nil {
		return nil, err
	}
	ctx, cancel := s.controlCtx(ctx)
	defer cancel()
	peer, box, err := s.bridgePeer(ctx, req.Box, req.Channel, "channel")
	if err != nil {
		return nil, err
	}
	var third string
	if req.ConsultChannel != "" {
		if third, _, err = s.bridgePeer(ctx, box, req.ConsultChannel, "consult_channel"); err != nil {
			return nil, err
		}
	}
	room := conferenceRoom()
	conf := s.opts.ConferenceContext
	if err := s.ctl.Redirect(ctx, box, req.Channel, peer, conf, room); err != nil {
		return nil, err
	}
	if third != "" {
		if err := s.ctl.Redirect(ctx, box, third, "", conf, room); err != nil {
			return nil, err
		}
		// Left alone in its bridge, the consultation leg would keep the
		// agent's phone busy with silence.
		if err := s.ctl.Hangup(ctx, box, req.ConsultChannel); err != nil {
			s.log.Warn("conference: consultation leg not hung up", "channel", req.ConsultChannel, "err", err)
		}
	} else {
		vars := []string{"OMNICC_AGENT_ID=" + fmt.Sprint(a.ID), "OMNICC_ORIGIN=conference", "OMNICC_CONFERENCE=" + room}
		if _, err := s.ctl.RingNumber(ctx, box, number, a.Context, conf, room,
			Ring{CallerID: callerIDFor(a), Timeout: s.opts.RingTimeout, Vars: vars}); err != nil {
			return nil, err
		}
	}
	return &Conference{Room: room, Context: conf, CustomerChannel: peer, ThirdChannel: third, Number: number}, nil
}

// bridgePeer is who is bridged to ch, refused as ErrNotBridged when nobody is.
func (s *Service) bridgePeer(ctx context.Context, box, ch, field string) (peer, usedBox string, err error) {
	usedBox, peer, err = s.ctl.BridgePeer(ctx, box, ch)
	if err != nil {
		return "", "", err
	}
	if peer == "" || s.ctl.CheckChannel(peer) != nil {
		return "", "", refuse(ErrNotBridged, field,
			fmt.Sprintf("%s: %s is not in a two-party call right now (Asterisk reports BRIDGEPEER %q)", field, ch, peer))
	}
	return peer, usedBox, nil
}

// conferenceRoom is a fresh ConfBridge room number (digits only, so that the
// conference context can match it with _X.).
func conferenceRoom() string {
	n, _ := rand.Int(rand.Reader, big.NewInt(9_000_000_000))
	return fmt.Sprint(1_000_000_000 + n.Int64())
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// SpyRequest is a supervisor's listen, whisper or barge.
type SpyRequest struct {
	Mode     string // SpyListen, SpyWhisper or SpyBarge
	Endpoint string // the supervisor's phone; "" for its desk endpoint
	Channel  string // one call of the agent; "" for whichever it is on
	Box      string
}

// Spying is a supervisor's phone ringing to join an agent's call.
type Spying struct {
	Mode     string
	Endpoint string // what rings
	Target   string // what it will spy on
	Box      string
}

// Spy rings the supervisor's phone and, when answered, connects it to the
// agent's call — only if the agent allows chanspy. The API lets only staff
// ask.
func (s *Service) Spy(ctx context.Context, agentID int64, req SpyRequest, by Actor) (*Spying, error) {
	if err := checkBox(req.Box); err != nil {
		return nil, err
	}
	switch req.Mode {
	case SpyListen, SpyWhisper, SpyBarge:
	default:
		return nil, domain.FieldErrorf("mode", "%q must be listen, whisper or barge", req.Mode)
	}
	a, err := s.opts.Agents.Agent(ctx, agentID)
	if err != nil {
		return nil, err
	}
	if !a.Chanspy {
		return nil, refuse(ErrChanspyNotAllowed, "",
			fmt.Sprintf("agent %s does not allow chanspy (listen, whisper, barge); an admin can set \"chanspy\": true on the agent", a.Username))
	}
	if req.Channel != "" {
		if err := s.agentChannel(a, "channel", req.Channel); err != nil {
			return nil, err
		}
	}
	// The supervisor's phone: named in the request, else the user's desk
	// endpoint. A username is no endpoint (PJSIP/<supervisor> rings
	// nothing), so with neither the request is refused, naming the field.
	endpoint := req.Endpoint
	if endpoint == "" {
		endpoint = by.DeskEndpoint
	}
	if endpoint == "" {
		return nil, domain.FieldErrorf("endpoint", "is required: user %s has no desk endpoint; give the phone to ring, e.g. PJSIP/sue_desk or Local/3001@from-sip", by.Username)
	}
	if err := s.ctl.Ready(req.Box, ControlSpy); err != nil {
		return nil, err
	}
	label := strings.ToUpper(req.Mode[:1]) + req.Mode[1:]
	cid := fmt.Sprintf("%q <%s>", label+" "+a.Username, a.Extension)
	vars := []string{"OMNICC_SPY_AGENT_ID=" + fmt.Sprint(a.ID), "OMNICC_SPY_MODE=" + req.Mode, "OMNICC_ORIGIN=chanspy"}
	ctx, cancel := s.controlCtx(ctx)
	defer cancel()
	box, endpoint, target, err := s.ctl.Spy(ctx, req.Box, SpyCall{Supervisor: by.Username, Endpoint: endpoint, Agent: agentOf(a),
		Channel: req.Channel, Mode: req.Mode, Ring: Ring{CallerID: cid, Timeout: s.opts.RingTimeout, Vars: vars}})
	if err != nil {
		return nil, err
	}
	s.log.Info("chanspy started", "supervisor", by.Username, "agent", a.Username, "mode", req.Mode, "endpoint", endpoint)
	return &Spying{Mode: req.Mode, Endpoint: endpoint, Target: target, Box: box}, nil
}
