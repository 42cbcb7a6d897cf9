package directory

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Errors of the routing decisions. Their messages are written for the
// dialplan's OMNICC_ERROR and the call log: they name the number or the
// route at fault.
var (
	// ErrNoRoute: no enabled route matches the call.
	ErrNoRoute = errors.New("no route")
	// ErrRouteBroken: the matching route leads to something that no longer
	// exists (a queue deleted since, a chain longer than allowed).
	ErrRouteBroken = errors.New("route broken")
	// ErrRoutesUnavailable: the routes could never be loaded from the
	// database.
	ErrRoutesUnavailable = errors.New("routes unavailable")
)

// RouteTable answers FastAGI's routing questions from memory. It is built
// from the database and rebuilt after any directory change: a change marks
// it stale, and the next lookup rebuilds it (so a route written through the
// API applies to the very next call), while lookups running meanwhile use
// the table they had. When the database cannot be read the last table keeps
// serving and the rebuild is retried at most every RetryAfter.
//
// Inbound routes are tried in this order, the first that matches the DID
// and the caller ID deciding:
//  1. Priority, lowest first;
//  2. the DID: an exact number before any pattern, then the more specific
//     pattern first, as Asterisk orders a context (CompareDialPatterns);
//  3. the caller ID: a route that names callers before one for everyone,
//     then the more specific caller pattern first;
//  4. the route id, oldest first, so that the order never depends on chance.
//
// Outbound routes are ordered by priority, then pattern, then id; a route
// with a context applies only to calls from that context.
type RouteTable struct {
	d           *Directory
	log         *slog.Logger
	now         func() time.Time
	retry       time.Duration
	loadTimeout time.Duration

	cur   atomic.Pointer[routeSet]
	stale atomic.Bool

	mu          sync.Mutex // one rebuild at a time
	lastFailure time.Time  // under mu
}

// RouteTableOptions configure a RouteTable.
type RouteTableOptions struct {
	Logger *slog.Logger
	// Now is the clock of the rebuild back-off (default time.Now).
	Now func() time.Time
	// RetryAfter is the pause between rebuilds after one failed (1s).
	RetryAfter time.Duration
	// LoadTimeout bounds one rebuild (2s): a lookup that triggers it waits
	// at most this long before falling back to the table it had.
	LoadTimeout time.Duration
}

// NewRouteTable returns a table over d that follows d's changes. It loads
// on first use; call Refresh to load (and check the database) up front.
func NewRouteTable(d *Directory, opts RouteTableOptions) *RouteTable {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.RetryAfter == 0 {
		opts.RetryAfter = time.Second
	}
	if opts.LoadTimeout == 0 {
		opts.LoadTimeout = 2 * time.Second
	}
	t := &RouteTable{d: d, log: opts.Logger, now: opts.Now, retry: opts.RetryAfter, loadTimeout: opts.LoadTimeout}
	t.stale.Store(true)
	// Any change may matter: a route, a calendar, a queue or agent that a
	// route names. Changes are rare; a rebuild is a few small queries.
	d.OnChange(func(Change) { t.stale.Store(true) })
	return t
}

// Refresh rebuilds the table now.
func (t *RouteTable) Refresh(ctx context.Context) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.rebuild(ctx)
}

// rebuild loads and swaps in a new table; t.mu is held.
func (t *RouteTable) rebuild(ctx context.Context) error {
	// Cleared before reading, so that a change committed during the read
	// marks the table stale again instead of being lost.
	t.stale.Store(false)
	set, err := loadRouteSet(ctx, t.d, t.log)
	if err != nil {
		t.stale.Store(true)
		t.lastFailure = t.now()
		return fmt.Errorf("load the routes: %w", err)
	}
	t.cur.Store(set)
	return nil
}

// table returns the current table, rebuilding it first when stale —
// unless another goroutine is at it (then the table it had serves), or the
// last attempt failed a moment ago. Before the first table exists, callers
// wait for the one being loaded rather than fail.
func (t *RouteTable) table(ctx context.Context) (*routeSet, error) {
	if t.stale.Load() {
		locked := false
		if t.cur.Load() == nil {
			t.mu.Lock()
			locked = true
		} else {
			locked = t.mu.TryLock()
		}
		if locked {
			if t.stale.Load() && (t.lastFailure.IsZero() || t.now().Sub(t.lastFailure) >= t.retry) {
				// Not the call's context: a caller hanging up must not
				// abort the load every later call needs.
				lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), t.loadTimeout)
				if err := t.rebuild(lctx); err != nil {
					t.log.Error("routing: cannot rebuild the route table; the previous one keeps serving", "err", err, "retry_in", t.retry)
				}
				cancel()
			}
			t.mu.Unlock()
		}
	}
	set := t.cur.Load()
	if set == nil {
		return nil, fmt.Errorf("%w: the route table could not be loaded from the database", ErrRoutesUnavailable)
	}
	return set, nil
}

// routeSet is one immutable compiled table.
type routeSet struct {
	exact    map[string][]*inboundEntry // by DID, in table order
	patterns []*inboundEntry            // in table order
	byName   map[string]*inboundEntry   // lower-cased name
	outbound []*outboundEntry

	queues      map[string]bool   // voice queues by name
	extensions  map[string]bool   // agents' extensions
	agentRecord map[string]string // username → format, agents who record their calls
}

type inboundEntry struct {
	route    *InboundRoute
	did      DialPattern
	caller   DialPattern // zero: any caller
	schedule *Schedule   // nil: always open
	rank     int         // position in the table order
	self     []string    // []string{route.Name}, shared by single-route decisions
}

func (e *inboundEntry) callerMatches(caller string) bool {
	return e.caller.IsZero() || e.caller.Match(caller)
}

type outboundEntry struct {
	route   *OutboundRoute
	pattern DialPattern
}

func compareInbound(a, b *inboundEntry) int {
	if c := cmp.Compare(a.route.Priority, b.route.Priority); c != 0 {
		return c
	}
	if c := CompareDialPatterns(a.did, b.did); c != 0 {
		return c
	}
	switch {
	case !a.caller.IsZero() && b.caller.IsZero():
		return -1
	case a.caller.IsZero() && !b.caller.IsZero():
		return 1
	case !a.caller.IsZero():
		if c := CompareDialPatterns(a.caller, b.caller); c != 0 {
			return c
		}
	}
	return cmp.Compare(a.route.ID, b.route.ID)
}

func loadRouteSet(ctx context.Context, d *Directory, log *slog.Logger) (*routeSet, error) {
	var inRows []inboundRow
	if err := d.db.SelectContext(ctx, &inRows, inboundSelect); err != nil {
		return nil, err
	}
	var outRows []outboundRow
	if err := d.db.SelectContext(ctx, &outRows, outboundSelect); err != nil {
		return nil, err
	}
	cals, err := allCalendars(ctx, d.db)
	if err != nil {
		return nil, err
	}
	var queues []string
	if err := d.db.SelectContext(ctx, &queues, `SELECT name FROM cc_queues WHERE channel = ?`, ChannelVoice); err != nil {
		return nil, err
	}
	var agents []struct {
		Username    string  `db:"username"`
		Extension   *string `db:"extension"`
		RecordCalls string  `db:"record_calls"`
	}
	if err := d.db.SelectContext(ctx, &agents, `SELECT username, extension, record_calls FROM users WHERE role = ?`, RoleAgent); err != nil {
		return nil, err
	}

	s := &routeSet{exact: map[string][]*inboundEntry{}, byName: map[string]*inboundEntry{},
		queues: map[string]bool{}, extensions: map[string]bool{}, agentRecord: map[string]string{}}
	for _, q := range queues {
		s.queues[q] = true
	}
	for _, a := range agents {
		if a.Extension != nil {
			s.extensions[*a.Extension] = true
		}
		if a.RecordCalls != "" && a.RecordCalls != "inactive" {
			s.agentRecord[a.Username] = a.RecordCalls
		}
	}
	schedules := map[int64]*Schedule{}
	for id, c := range cals {
		sch, err := c.Schedule()
		if err != nil {
			// Written through the same checks; a row that fails them was
			// changed by hand. The routes using it report it per call.
			log.Warn("routing: calendar is invalid and will be treated as missing", "calendar", c.Name, "err", err)
			continue
		}
		schedules[id] = sch
	}
	var all []*inboundEntry
	for i := range inRows {
		r := inRows[i].route()
		e := &inboundEntry{route: r, self: []string{r.Name}}
		var err error
		if e.did, err = ParseDialPattern(r.DID); err != nil {
			log.Warn("routing: inbound route has an invalid did and is skipped", "route", r.Name, "did", r.DID, "err", err)
			continue
		}
		if r.CallerID != "" {
			if e.caller, err = ParseDialPattern(r.CallerID); err != nil {
				log.Warn("routing: inbound route has an invalid caller_id and is skipped", "route", r.Name, "caller_id", r.CallerID, "err", err)
				continue
			}
		}
		if r.CalendarID != nil {
			if e.schedule = schedules[*r.CalendarID]; e.schedule == nil {
				log.Warn("routing: inbound route's calendar is missing or invalid; the route is skipped", "route", r.Name, "calendar_id", *r.CalendarID)
				continue
			}
		}
		s.byName[strings.ToLower(r.Name)] = e
		all = append(all, e)
	}
	slices.SortFunc(all, compareInbound)
	for i, e := range all {
		e.rank = i
		if !e.route.Enabled {
			continue
		}
		if e.did.IsExact() {
			s.exact[e.route.DID] = append(s.exact[e.route.DID], e)
		} else {
			s.patterns = append(s.patterns, e)
		}
	}
	for i := range outRows {
		r := outRows[i].route()
		if !r.Enabled {
			continue
		}
		p, err := ParseDialPattern(r.Pattern)
		if err != nil {
			log.Warn("routing: outbound route has an invalid pattern and is skipped", "route", r.Name, "pattern", r.Pattern, "err", err)
			continue
		}
		s.outbound = append(s.outbound, &outboundEntry{route: r, pattern: p})
	}
	slices.SortFunc(s.outbound, func(a, b *outboundEntry) int {
		if c := cmp.Compare(a.route.Priority, b.route.Priority); c != 0 {
			return c
		}
		if c := CompareDialPatterns(a.pattern, b.pattern); c != 0 {
			return c
		}
		return cmp.Compare(a.route.ID, b.route.ID)
	})
	return s, nil
}

// InboundDecision is where an inbound call goes.
type InboundDecision struct {
	// Route is the route the DID matched (OMNICC_ROUTE); RouteID its id.
	Route   string
	RouteID int64
	// Chain is every route the call went through, Route first; more than
	// one when routes chain. Shared: do not modify.
	Chain []string
	// Open is false when any route on the way was outside its business
	// hours and took its closed destination.
	Open bool
	// Dest is the final destination, never of type route.
	Dest Destination
	// ContactListID is the list an unknown caller is added to, 0 when the
	// matched route has no create_unknown_caller trigger.
	ContactListID int64
}

// Inbound decides where a call to did from caller goes at time at. caller
// is the raw caller number, matched against routes' caller_id patterns as
// Asterisk would match it; empty when the call has none.
func (t *RouteTable) Inbound(ctx context.Context, did, caller string, at time.Time) (InboundDecision, error) {
	s, err := t.table(ctx)
	if err != nil {
		return InboundDecision{}, err
	}
	if did == "" {
		return InboundDecision{}, fmt.Errorf("%w: the call has no DID (extension s and no dnid)", ErrNoRoute)
	}
	e := s.match(did, caller)
	if e == nil {
		if caller == "" {
			return InboundDecision{}, fmt.Errorf("%w for DID %s (no caller ID)", ErrNoRoute, did)
		}
		return InboundDecision{}, fmt.Errorf("%w for DID %s from %s", ErrNoRoute, did, caller)
	}
	dec := InboundDecision{Route: e.route.Name, RouteID: e.route.ID, Chain: e.self, Open: true}
	if e.route.CreateUnknownCaller && e.route.ContactListID != nil {
		dec.ContactListID = *e.route.ContactListID
	}
	for hop := 1; ; hop++ {
		dest := e.route.Open
		if e.schedule != nil && !e.schedule.Open(at) {
			dec.Open = false
			if e.route.Closed == nil {
				return dec, fmt.Errorf("%w: route %s is closed and has no closed destination", ErrRouteBroken, e.route.Name)
			}
			dest = *e.route.Closed
		}
		if dest.Type != DestRoute {
			dec.Dest = dest
			return dec, s.checkDest(e.route.Name, dest)
		}
		next := s.byName[strings.ToLower(dest.Target)]
		switch {
		case next == nil:
			return dec, fmt.Errorf("%w: route %s chains to route %s, which does not exist", ErrRouteBroken, e.route.Name, dest.Target)
		case hop >= maxRouteChain || slices.Contains(dec.Chain, next.route.Name):
			return dec, fmt.Errorf("%w: route %s chains in a loop or past %d routes (%s)", ErrRouteBroken, dec.Route, maxRouteChain,
				strings.Join(dec.Chain, " → "))
		}
		dec.Chain = append(slices.Clip(dec.Chain), next.route.Name)
		e = next
	}
}

// match returns the first entry in table order for did and caller: the
// first exact-DID route that takes the caller, unless a pattern route
// ranks before it.
func (s *routeSet) match(did, caller string) *inboundEntry {
	var best *inboundEntry
	for _, e := range s.exact[did] {
		if e.callerMatches(caller) {
			best = e
			break
		}
	}
	for _, e := range s.patterns {
		if best != nil && best.rank < e.rank {
			break
		}
		if e.did.Match(did) && e.callerMatches(caller) {
			return e
		}
	}
	return best
}

// checkDest reports a destination that no longer exists: the route was
// valid when written, but the queue or agent went away since.
func (s *routeSet) checkDest(route string, d Destination) error {
	switch {
	case d.Type == DestQueue && !s.queues[d.Target]:
		return fmt.Errorf("%w: route %s sends calls to queue %s, which no longer exists", ErrRouteBroken, route, d.Target)
	case d.Type == DestAgent && !s.extensions[d.Target]:
		return fmt.Errorf("%w: route %s sends calls to agent extension %s, which no longer exists", ErrRouteBroken, route, d.Target)
	}
	return nil
}

// OutboundDecision is how an outgoing call is dialled.
type OutboundDecision struct {
	Route   string
	RouteID int64
	// Number is the dialled number after strip and prepend.
	Number string
	// Trunk is the route's trunk: a PJSIP endpoint name, or a dial string
	// with {number} in it or the number to append. The agi adapter builds
	// the Dial() target from it and Number (asterisk.TrunkDial).
	Trunk string
	// CallerID replaces the caller's (OMNICC_CALLERID); empty keeps it.
	CallerID string
	// Record is the recording format (OMNICC_RECORD), empty for none: the
	// route's when it records, else the calling agent's record_calls.
	Record string
}

// Outbound decides how number, dialled from dialplan context ctxName by
// endpoint (the calling agent's username, "" when no agent's), goes out.
func (t *RouteTable) Outbound(ctx context.Context, number, ctxName, endpoint string) (OutboundDecision, error) {
	s, err := t.table(ctx)
	if err != nil {
		return OutboundDecision{}, err
	}
	if number == "" {
		return OutboundDecision{}, fmt.Errorf("%w: no number dialled", ErrNoRoute)
	}
	for _, e := range s.outbound {
		r := e.route
		if r.Context != "" && r.Context != ctxName || !e.pattern.Match(number) {
			continue
		}
		if r.Strip >= len(number) {
			return OutboundDecision{}, fmt.Errorf("%w: route %s strips %d digits from %s, leaving nothing to dial", ErrRouteBroken, r.Name, r.Strip, number)
		}
		out := r.Prepend + number[r.Strip:]
		dec := OutboundDecision{Route: r.Name, RouteID: r.ID, Number: out, Trunk: r.Trunk, CallerID: r.CallerID}
		switch {
		case r.Record:
			dec.Record = r.RecordFormat
		default:
			dec.Record = s.agentRecord[endpoint]
		}
		return dec, nil
	}
	return OutboundDecision{}, fmt.Errorf("%w for %s dialled from context %s", ErrNoRoute, number, ctxName)
}
