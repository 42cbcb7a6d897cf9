package agi

import (
	"context"
	"errors"
	"time"

	"omnicc/asterisk"
	"omnicc/calllog"
	"omnicc/directory"
)

// OutboundRoutes decides how an outgoing call is dialled:
// *directory.RouteTable.
type OutboundRoutes interface {
	Outbound(ctx context.Context, number, dialplanContext, endpoint string) (directory.OutboundDecision, error)
}

// OutboundOptions configure the /outbound script.
type OutboundOptions struct {
	Routes OutboundRoutes // required
	// CallLog, when set, receives every decision.
	CallLog DecisionLog
	Now     func() time.Time
	// NoLinkedIDFetch: see InboundOptions.
	NoLinkedIDFetch bool
}

// Outbound is the /outbound script: it matches the dialled number
// (agi_extension, or agi_dnid on s) against the outbound routes of the
// caller's context (agi_context) and sets
//
//	OMNICC_DIAL      the Dial() target, e.g. PJSIP/0039061234@my-provider
//	OMNICC_CALLERID  the caller ID to present, empty to keep the caller's
//	OMNICC_RECORD    a format (wav, wav49, gsm) to record in, or 0
//
// or OMNICC_ERROR when no route matches: the sample dialplan then refuses
// the call rather than guess a trunk.
type Outbound struct {
	routes        OutboundRoutes
	calls         DecisionLog
	now           func() time.Time
	fetchLinkedID bool
}

// NewOutbound builds the /outbound script; register it with
// Router.Handle("outbound", h).
func NewOutbound(opts OutboundOptions) (*Outbound, error) {
	if opts.Routes == nil {
		return nil, errors.New("agi: NewOutbound: Routes is required")
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Outbound{routes: opts.Routes, calls: opts.CallLog, now: opts.Now, fetchLinkedID: !opts.NoLinkedIDFetch}, nil
}

// ServeAGI routes one outgoing call.
func (h *Outbound) ServeAGI(ctx context.Context, s *Session) error {
	req := s.Request()
	number := req.DID()
	entry := calllog.Entry{At: h.now(), Direction: calllog.Outbound, UniqueID: req.UniqueID, Channel: req.Channel,
		Caller: callerNumber(req.CallerID), CallerName: callerName(req.CallerIDName), DID: number, Open: true}
	dec, err := h.routes.Outbound(ctx, number, req.Context, asterisk.EndpointOf(req.Channel))
	if err != nil {
		pub := publicRoutingError(err)
		entry.Error = pub.Reason
		h.record(s, entry)
		return pub
	}
	record := dec.Record
	if record == "" {
		record = "0"
	}
	dial := asterisk.TrunkDial(dec.Trunk, dec.Number)
	entry.Route, entry.Chain, entry.DestType, entry.Dest = dec.Route, []string{dec.Route}, directory.DestExternal, dial
	if h.calls != nil {
		entry.LinkedID = linkedID(s, h.fetchLinkedID)
	}
	return deliver(s, [][2]string{{VarDial, dial}, {VarCallerID, dec.CallerID}, {VarRecord, record}}, entry, func(e calllog.Entry) {
		if h.calls != nil {
			h.calls.Record(e)
		}
	})
}

func (h *Outbound) record(s *Session, e calllog.Entry) {
	if h.calls == nil {
		return
	}
	e.LinkedID = linkedID(s, h.fetchLinkedID)
	h.calls.Record(e)
}
