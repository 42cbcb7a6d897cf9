package directory

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
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
// from the database and rebuilt after any directory change, and versioned
// by the changes it has seen: each committed change (told by the directory
// before its write call returns, so before the REST answer) raises the
// version a lookup needs, and a lookup waits for a table loaded after that
// change rather than answer from an older one. So a route written through
// the API applies to the very next call, never to calls before its commit,
// and no call in between sees a half-built or outdated table: the table is
// built whole, from one read snapshot, then swapped in. One rebuild runs at
// a time; lookups that arrive during it wait for it and share its result.
//
// When the database cannot be read the last table keeps serving at once
// (waiting would only add the load timeout to every call), and the rebuild
// is retried at most every RetryAfter.
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

	// changes counts the directory changes committed so far. A table
	// carries the count read before its load began, so it holds every
	// change up to that count; a lookup that sees a larger count waits
	// for a newer table.
	changes atomic.Uint64
	cur     atomic.Pointer[routeSet]
	failing atomic.Bool // the last rebuild failed

	// rebuilding is held (a value sent) by the one rebuild in progress: a
	// channel rather than a mutex so that a waiting lookup can give up
	// with its call.
	rebuilding  chan struct{}
	lastFailure time.Time // while holding rebuilding
}

// RouteTableOptions configure a RouteTable.
type RouteTableOptions struct {
	Logger *slog.Logger
	// Now is the clock of the rebuild back-off (default time.Now).
	Now func() time.Time
	// RetryAfter is the pause between rebuilds after one failed (1s).
	RetryAfter time.Duration
	// LoadTimeout bounds one rebuild (2s): a lookup that runs or waits for
	// it waits at most about this long before falling back to the table it
	// had, and then the database counts as failing.
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
	t := &RouteTable{d: d, log: opts.Logger, now: opts.Now, retry: opts.RetryAfter, loadTimeout: opts.LoadTimeout,
		rebuilding: make(chan struct{}, 1)}
	// Any change may matter: a route, a calendar, a queue or agent that a
	// route names. Changes are rare; a rebuild is a few small queries.
	d.OnChange(func(Change) { t.changes.Add(1) })
	return t
}

// Refresh rebuilds the table now.
func (t *RouteTable) Refresh(ctx context.Context) error {
	select {
	case t.rebuilding <- struct{}{}:
	case <-ctx.Done():
		return fmt.Errorf("wait for the route table rebuild in progress: %w", ctx.Err())
	}
	defer func() { <-t.rebuilding }()
	return t.rebuild(ctx)
}

// rebuild loads and swaps in a new table; the caller holds t.rebuilding.
func (t *RouteTable) rebuild(ctx context.Context) error {
	// Read before the load: a change committed during it may or may not be
	// in the table, and in both cases leaves t.changes above this version,
	// so the next lookup loads again instead of missing it.
	version := t.changes.Load()
	set, err := loadRouteSet(ctx, t.d, t.log)
	if err != nil {
		t.failing.Store(true)
		t.lastFailure = t.now()
		return fmt.Errorf("load the routes: %w", err)
	}
	set.version = version
	t.cur.Store(set)
	t.failing.Store(false)
	t.lastFailure = time.Time{}
	return nil
}

// table returns a table that holds every change committed before the call,
// waiting for the rebuild that loads it when the current one is older.
func (t *RouteTable) table(ctx context.Context) (*routeSet, error) {
	want := t.changes.Load()
	if set := t.cur.Load(); set != nil && set.version >= want {
		return set, nil
	}
	return t.catchUp(ctx, want)
}

// catchUp is table's slow path: rebuild, or wait for the rebuild under
// way, unless the database is failing.
func (t *RouteTable) catchUp(ctx context.Context, want uint64) (*routeSet, error) {
	if set := t.cur.Load(); set != nil && t.failing.Load() {
		// The database is failing: the table we have serves at once
		// unless it is this call's turn to retry.
		select {
		case t.rebuilding <- struct{}{}:
		default:
			return set, nil
		}
	} else {
		select {
		case t.rebuilding <- struct{}{}:
		case <-ctx.Done():
			return nil, fmt.Errorf("wait for the route table to load the latest change: %w", ctx.Err())
		}
	}
	defer func() { <-t.rebuilding }()
	set := t.cur.Load()
	if set != nil && set.version >= want {
		return set, nil // loaded by the rebuild this call waited for
	}
	if t.lastFailure.IsZero() || t.now().Sub(t.lastFailure) >= t.retry {
		// Not the call's context: a caller hanging up must not abort the
		// load every later call needs.
		lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), t.loadTimeout)
		err := t.rebuild(lctx)
		cancel()
		if err == nil {
			return t.cur.Load(), nil
		}
		t.log.Error("routing: cannot rebuild the route table; the previous one keeps serving", "err", err, "retry_in", t.retry)
	}
	if set == nil {
		return nil, fmt.Errorf("%w: the route table could not be loaded from the database", ErrRoutesUnavailable)
	}
	return set, nil
}

// routeSet is one immutable compiled table.
type routeSet struct {
	version uint64 // the directory changes it holds (RouteTable.changes)

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
	// One read-only transaction, so that the five reads see one committed
	// state: read one by one, a queue renamed between the routes and the
	// queues would leave its routes pointing at a name the table lacks
	// ("route broken") until the next rebuild. Read-only also keeps SQLite
	// from taking the write lock (omniccd's transactions are immediate);
	// its read transactions are snapshots whatever the isolation asked,
	// while MariaDB needs REPEATABLE READ, its default unless a server is
	// set up otherwise.
	tx, err := d.db.BeginTxx(ctx, &sql.TxOptions{ReadOnly: true, Isolation: sql.LevelRepeatableRead})
	if err != nil {
		return nil, err
	}
	defer tx.Rollback() // nothing was written; this only ends the snapshot
	var inRows []inboundRow
	if err := tx.SelectContext(ctx, &inRows, inboundSelect); err != nil {
		return nil, err
	}
	var outRows []outboundRow
	if err := tx.SelectContext(ctx, &outRows, outboundSelect); err != nil {
		return nil, err
	}
	cals, err := allCalendars(ctx, tx)
	if err != nil {
		return nil, err
	}
	var queues []string
	if err := tx.SelectContext(ctx, &queues, `SELECT name FROM cc_queues WHERE channel = ?`, ChannelVoice); err != nil {
		return nil, err
	}
	var agents []struct {
		Username    string  `db:"username"`
		Extension   *string `db:"extension"`
		RecordCalls string  `db:"record_calls"`
	}
	if err := tx.SelectContext(ctx, &agents, `SELECT username, extension, record_calls FROM users WHERE role = ?`, RoleAgent); err != nil {
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
