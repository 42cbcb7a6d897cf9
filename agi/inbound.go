package agi

import (
	"context"
	"errors"
	"strconv"
	"time"

	"omnicc/calllog"
	"omnicc/contacts"
	"omnicc/directory"
)

// Channel variables of the /inbound and /outbound scripts (SPEC.md, fixed
// contracts), read by the sample dialplan in asterisk-conf/.
const (
	VarDestType    = "OMNICC_DEST_TYPE"
	VarDest        = "OMNICC_DEST"
	VarRoute       = "OMNICC_ROUTE"
	VarOpen        = "OMNICC_OPEN"
	VarContactID   = "OMNICC_CONTACT_ID"
	VarContactName = "OMNICC_CONTACT_NAME"
	VarDial        = "OMNICC_DIAL"
	VarCallerID    = "OMNICC_CALLERID"
	VarRecord      = "OMNICC_RECORD"
)

// InboundRoutes decides where an inbound call goes: *directory.RouteTable.
type InboundRoutes interface {
	Inbound(ctx context.Context, did, caller string, at time.Time) (directory.InboundDecision, error)
}

// CallerDirectory finds callers among the contacts and adds unknown ones:
// *contacts.Manager.
type CallerDirectory interface {
	LookupCaller(ctx context.Context, number string) (contacts.Caller, bool, error)
	CreateUnknownCaller(ctx context.Context, listID int64, number, name string) (contacts.Caller, bool, error)
}

// DatabaseHealth says when the database is known to be unavailable:
// *store.Health.
type DatabaseHealth interface {
	Down() bool
}

// DecisionLog keeps each routing decision without blocking: *calllog.Log.
type DecisionLog interface {
	Record(calllog.Entry)
}

// InboundOptions configure the /inbound script.
type InboundOptions struct {
	Routes InboundRoutes // required
	// Contacts, when set, names known callers and creates unknown ones
	// for routes with create_unknown_caller.
	Contacts CallerDirectory
	// CallLog, when set, receives every decision.
	CallLog DecisionLog
	// Health, when set, skips the caller lookup while the database is
	// known to be down: the call is routed at once, without the contact,
	// instead of waiting out contacts.Options.CallerTimeout on every call.
	Health DatabaseHealth
	// Now is the clock business hours are checked against (time.Now).
	Now func() time.Time
	// NoLinkedIDFetch: when the dialplan does not pass
	// ?linkedid=${CHANNEL(linkedid)} in the AGI URL, log the decision
	// without it instead of asking Asterisk (GET VARIABLE, one more round
	// trip per call).
	NoLinkedIDFetch bool
}

// Inbound is the /inbound script: it reads the DID (agi_extension, or
// agi_dnid on the s extension) and the caller ID, decides the route, looks
// the caller up, and sets
//
//	OMNICC_DEST_TYPE     queue, agent, external, voicemail or hangup
//	OMNICC_DEST          queue name, extension, number, mailbox or cause
//	OMNICC_ROUTE         the inbound route the DID matched
//	OMNICC_OPEN          1, or 0 when the call took a closed (out of hours) branch
//	OMNICC_CONTACT_ID    the caller's contact id, when the caller is known
//	OMNICC_CONTACT_NAME  the contact's name, when known and not empty
//
// or, when no destination can be chosen, only OMNICC_ERROR with the reason
// (set by the server from the returned *PublicError). The contact variables
// are left alone for an unknown caller: the dialplan must clear them before
// the AGI when a channel may come back through it.
type Inbound struct {
	routes        InboundRoutes
	contacts      CallerDirectory
	calls         DecisionLog
	health        DatabaseHealth
	now           func() time.Time
	fetchLinkedID bool
}

// NewInbound builds the /inbound script; register it with
// Router.Handle("inbound", h).
func NewInbound(opts InboundOptions) (*Inbound, error) {
	if opts.Routes == nil {
		return nil, errors.New("agi: NewInbound: Routes is required")
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Inbound{routes: opts.Routes, contacts: opts.Contacts, calls: opts.CallLog, health: opts.Health, now: opts.Now,
		fetchLinkedID: !opts.NoLinkedIDFetch}, nil
}

// ServeAGI routes one inbound call.
func (h *Inbound) ServeAGI(ctx context.Context, s *Session) error {
	req := s.Request()
	at := h.now()
	did, caller := req.DID(), callerNumber(req.CallerID)
	entry := calllog.Entry{At: at, Direction: calllog.Inbound, UniqueID: req.UniqueID, Channel: req.Channel,
		Caller: caller, CallerName: callerName(req.CallerIDName), DID: did}
	dec, err := h.routes.Inbound(ctx, did, caller, at)
	if err != nil {
		// A broken route was matched and may have been closed; with no
		// route at all there was no business-hours question.
		entry.Route, entry.Chain, entry.Open = dec.Route, dec.Chain, dec.Open || dec.Route == ""
		return h.refuse(s, entry, err)
	}

	var contact contacts.Caller
	known := false
	// Not logged per call: the health monitor logged the outage once.
	if h.contacts != nil && caller != "" && (h.health == nil || !h.health.Down()) {
		contact, known, entry.ContactCreated = h.caller(ctx, s, caller, entry.CallerName, dec.ContactListID)
		if known {
			entry.ContactID = &contact.ID
		}
	}

	entry.Route, entry.Chain, entry.Open = dec.Route, dec.Chain, dec.Open
	entry.DestType, entry.Dest = dec.Dest.Type, dec.Dest.Target
	if h.calls != nil {
		entry.LinkedID = h.linkedID(s)
	}
	return deliver(s, decisionVars(dec, contact, known), entry, h.record)
}

// decisionVars are the channel variables that carry an inbound decision.
func decisionVars(dec directory.InboundDecision, c contacts.Caller, known bool) [][2]string {
	open := "1"
	if !dec.Open {
		open = "0"
	}
	vars := [][2]string{{VarDestType, dec.Dest.Type}, {VarDest, dec.Dest.Target}, {VarRoute, dec.Route}, {VarOpen, open}}
	if known {
		vars = append(vars, [2]string{VarContactID, strconv.FormatInt(c.ID, 10)})
		if c.Name != "" {
			vars = append(vars, [2]string{VarContactName, c.Name})
		}
	}
	return vars
}

// deliver sets vars on the channel and logs entry, in the order that loses
// no decision Asterisk acted on: the entry is recorded (journaled, when
// the call log has a journal) before the last variable goes out, so a
// kill -9 at any moment after Asterisk has the whole decision finds its row
// on the next start. A hang-up before that is logged as "decision not
// delivered"; one during the very last SET VARIABLE cannot be told apart
// from a delivered decision and is logged as delivered.
func deliver(s *Session, vars [][2]string, entry calllog.Entry, record func(calllog.Entry)) error {
	for i, v := range vars {
		if i == len(vars)-1 {
			record(entry)
		}
		if err := s.SetVariable(v[0], v[1]); err != nil {
			if i < len(vars)-1 {
				entry.Error = "decision not delivered: " + err.Error()
				record(entry)
			}
			return err
		}
	}
	if len(vars) == 0 {
		record(entry)
	}
	return nil
}

// caller finds the caller's contact, creating it when the route asks for
// it. Failures (contacts.Options.CallerTimeout bounds them) are logged and
// the call is routed without a contact: the contact is a courtesy, the
// destination is not.
func (h *Inbound) caller(ctx context.Context, s *Session, number, name string, listID int64) (c contacts.Caller, known, created bool) {
	c, known, err := h.contacts.LookupCaller(ctx, number)
	if err != nil {
		s.Logger().Warn("agi inbound: caller lookup failed; routing without the contact", "caller", number, "err", err)
		return contacts.Caller{}, false, false
	}
	if known || listID == 0 {
		return c, known, false
	}
	c, created, err = h.contacts.CreateUnknownCaller(ctx, listID, number, name)
	if err != nil {
		s.Logger().Warn("agi inbound: cannot create a contact for an unknown caller; routing without it",
			"caller", number, "contact_list_id", listID, "err", err)
		return contacts.Caller{}, false, false
	}
	return c, c.ID != 0, created
}

// refuse logs a call no destination was chosen for and turns err into the
// OMNICC_ERROR reason.
func (h *Inbound) refuse(s *Session, entry calllog.Entry, err error) error {
	pub := publicRoutingError(err)
	entry.Error = pub.Reason
	if h.calls != nil {
		entry.LinkedID = h.linkedID(s)
	}
	h.record(entry)
	return pub
}

func (h *Inbound) record(e calllog.Entry) {
	if h.calls != nil {
		h.calls.Record(e)
	}
}

// linkedID is the call's linkedid: from the AGI URL when the dialplan
// passes it, else asked of Asterisk (unless that is turned off).
func (h *Inbound) linkedID(s *Session) string {
	return linkedID(s, h.fetchLinkedID)
}

func linkedID(s *Session, fetch bool) string {
	if q := s.Request().Query; q != nil {
		if id := q.Get("linkedid"); id != "" {
			return id
		}
	}
	if !fetch || !s.canTalk() {
		return ""
	}
	id, ok, err := s.GetVariable("CHANNEL(linkedid)")
	if err != nil || !ok {
		return ""
	}
	return id
}

// publicRoutingError chooses what the dialplan is told: the routing
// errors name the number or route at fault and are meant for it; anything
// else (the database) is an internal error whose details stay in the log.
func publicRoutingError(err error) *PublicError {
	if errors.Is(err, directory.ErrNoRoute) || errors.Is(err, directory.ErrRouteBroken) {
		// The reason is the whole error: logging it again as the cause
		// would only say it twice.
		return &PublicError{Reason: err.Error()}
	}
	return &PublicError{Reason: "routing unavailable (see the omniccd log)", Err: err}
}

// callerNumber is agi_callerid, "" when Asterisk has none.
func callerNumber(v string) string {
	if v == "unknown" {
		return ""
	}
	return v
}

func callerName(v string) string {
	if v == "unknown" {
		return ""
	}
	return v
}
