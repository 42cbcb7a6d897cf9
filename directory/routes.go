package directory

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"

	"omnicc/store"
)

// Destination types of an inbound route: where FastAGI /inbound sends the
// call (OMNICC_DEST_TYPE), or "route" to go on with another route.
const (
	DestQueue     = "queue"     // Target: a voice queue's name
	DestAgent     = "agent"     // Target: an agent's extension
	DestExternal  = "external"  // Target: an outside number, dialled through the outbound routes
	DestVoicemail = "voicemail" // Target: a mailbox, with or without @context
	DestHangup    = "hangup"    // Target: a hang-up cause (16, USER_BUSY), empty for normal clearing
	DestRoute     = "route"     // Target: another inbound route's name
)

var destTypes = []string{DestQueue, DestAgent, DestExternal, DestVoicemail, DestHangup, DestRoute}

var (
	routeNameRe        = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,128}$`)
	externalRe         = regexp.MustCompile(`^\+?[0-9]{2,32}$`)
	mailboxRe          = regexp.MustCompile(`^[A-Za-z0-9_]{1,80}(@[A-Za-z0-9_-]{1,79})?$`)
	causeNameRe        = regexp.MustCompile(`^[A-Z][A-Z_]{2,39}$`)
	prependRe          = regexp.MustCompile(`^[0-9+*#]{0,32}$`)
	trunkCharsRe       = regexp.MustCompile(`^[A-Za-z0-9_.@:/+*#=-]{1,255}$`)
	dialTechRe         = regexp.MustCompile(`^[A-Za-z0-9]+/.`)
	endpointRe         = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,255}$`)
	routeRecordFormats = []string{"wav", "wav49", "gsm"}
)

// maxRouteChain bounds how many routes one call may pass through. Loops are
// refused when written; the bound is the guard for anything that slips by.
const maxRouteChain = 8

// Destination is where a route sends a call.
type Destination struct {
	Type   string `json:"type"`
	Target string `json:"target"`
}

// Nullable is a PATCH field that can be left out (Set false), cleared with
// null (Set, Value nil) or given (Set, Value non-nil): a plain pointer
// cannot tell the first two apart.
type Nullable[T any] struct {
	Set   bool
	Value *T
}

// Of returns a set Nullable holding v.
func Of[T any](v T) Nullable[T] { return Nullable[T]{Set: true, Value: &v} }

// Null returns a set Nullable that clears the field.
func Null[T any]() Nullable[T] { return Nullable[T]{Set: true} }

// UnmarshalJSON is called only for a key present in the object; objects
// inside are decoded strictly, like the request around them.
func (n *Nullable[T]) UnmarshalJSON(b []byte) error {
	n.Set = true
	if string(bytes.TrimSpace(b)) == "null" {
		n.Value = nil
		return nil
	}
	n.Value = new(T)
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	return dec.Decode(n.Value)
}

// MarshalJSON writes the value or null.
func (n Nullable[T]) MarshalJSON() ([]byte, error) {
	if n.Value == nil {
		return []byte("null"), nil
	}
	return json.Marshal(n.Value)
}

// InboundRoute sends calls to a DID (optionally only from some callers) to
// a destination, by a business-hours calendar when it has one.
type InboundRoute struct {
	ID          int64  `json:"id"`
	Name        string `json:"name"`
	Description string `json:"description"`
	// Enabled false takes the route out of DID matching; routes chaining
	// to it still reach it, so a route meant only as a chain target can be
	// disabled.
	Enabled bool `json:"enabled"`
	// DID and CallerID are exact numbers or Asterisk patterns (DialPattern);
	// an empty CallerID matches every caller.
	DID      string `json:"did"`
	CallerID string `json:"caller_id"`
	// Priority orders routes, lowest first; between equal priorities the
	// more specific DID, then caller ID, wins (see RouteTable).
	Priority   int         `json:"priority"`
	CalendarID *int64      `json:"calendar_id"`
	Open       Destination `json:"open"`
	// Closed is required with a calendar, and unused without one.
	Closed *Destination `json:"closed"`
	// CreateUnknownCaller: a caller not found among the contacts is added
	// to the list ContactListID.
	CreateUnknownCaller bool      `json:"create_unknown_caller"`
	ContactListID       *int64    `json:"contact_list_id"`
	CreatedAt           time.Time `json:"created_at"`
	UpdatedAt           time.Time `json:"updated_at"`
}

// InboundRouteInput is a create or partial update of an inbound route.
type InboundRouteInput struct {
	Name                *string               `json:"name"`
	Description         *string               `json:"description"`
	Enabled             *bool                 `json:"enabled"`
	DID                 *string               `json:"did"`
	CallerID            *string               `json:"caller_id"`
	Priority            *int                  `json:"priority"`
	CalendarID          Nullable[int64]       `json:"calendar_id"`
	Open                *Destination          `json:"open"`
	Closed              Nullable[Destination] `json:"closed"`
	CreateUnknownCaller *bool                 `json:"create_unknown_caller"`
	ContactListID       Nullable[int64]       `json:"contact_list_id"`
}

func (in *InboundRouteInput) apply(r *InboundRoute) {
	set(&r.Name, in.Name)
	set(&r.Description, in.Description)
	set(&r.Enabled, in.Enabled)
	set(&r.DID, in.DID)
	set(&r.CallerID, in.CallerID)
	set(&r.Priority, in.Priority)
	if in.CalendarID.Set {
		r.CalendarID = in.CalendarID.Value
	}
	set(&r.Open, in.Open)
	if in.Closed.Set {
		r.Closed = in.Closed.Value
	}
	set(&r.CreateUnknownCaller, in.CreateUnknownCaller)
	if in.ContactListID.Set {
		r.ContactListID = in.ContactListID.Value
	}
}

// validate checks every rule that needs no database.
func (r *InboundRoute) validate() error {
	if !routeNameRe.MatchString(r.Name) {
		return fieldErr("name", "%q must be 1-128 letters, digits, '_', '.' or '-' (it is OMNICC_ROUTE in the dialplan and how other routes chain to this one)", r.Name)
	}
	if len(r.Description) > 2000 {
		return fieldErr("description", "must be at most 2000 characters")
	}
	if _, err := ParseDialPattern(r.DID); err != nil {
		return fieldErr("did", "%s", err)
	}
	if r.CallerID != "" {
		if _, err := ParseDialPattern(r.CallerID); err != nil {
			return fieldErr("caller_id", "%s (or leave it empty for every caller)", err)
		}
	}
	if r.Priority < 0 || r.Priority > 9999 {
		return fieldErr("priority", "%d must be between 0 and 9999 (lowest first)", r.Priority)
	}
	if err := r.Open.validate("open"); err != nil {
		return err
	}
	if r.CalendarID != nil && r.Closed == nil {
		return fieldErr("closed", "is required with a calendar_id: where do calls go outside business hours?")
	}
	if r.Closed != nil {
		if err := r.Closed.validate("closed"); err != nil {
			return err
		}
	}
	if r.CreateUnknownCaller && r.ContactListID == nil {
		return fieldErr("contact_list_id", "is required when create_unknown_caller is true: the list unknown callers are added to")
	}
	return nil
}

// validate checks a destination's type and the form of its target.
func (dst Destination) validate(field string) error {
	t := dst.Target
	switch dst.Type {
	case DestQueue:
		if !queueNameRe.MatchString(t) {
			return fieldErr(field+".target", "%q must be a voice queue's name", t)
		}
	case DestAgent:
		if !extensionRe.MatchString(t) {
			return fieldErr(field+".target", "%q must be an agent's extension (2 to 8 digits)", t)
		}
	case DestExternal:
		if !externalRe.MatchString(t) {
			return fieldErr(field+".target", "%q must be a number of 2 to 32 digits, optionally after + (it is dialled through the outbound routes)", t)
		}
	case DestVoicemail:
		if !mailboxRe.MatchString(t) {
			return fieldErr(field+".target", "%q must be a mailbox (1001, or 1001@context)", t)
		}
	case DestHangup:
		if t != "" && !validCause(t) {
			return fieldErr(field+".target", "%q must be a hang-up cause: a number from 1 to 127 (17), a cause name (USER_BUSY), or empty for normal clearing", t)
		}
	case DestRoute:
		if !routeNameRe.MatchString(t) {
			return fieldErr(field+".target", "%q must be another inbound route's name", t)
		}
	case "":
		return fieldErr(field+".type", "is required: one of %s", strings.Join(destTypes, ", "))
	default:
		return fieldErr(field+".type", "%q must be one of %s", dst.Type, strings.Join(destTypes, ", "))
	}
	return nil
}

func validCause(s string) bool {
	if causeNameRe.MatchString(s) {
		return true
	}
	n := 0
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' || i > 2 {
			return false
		}
		n = n*10 + int(s[i]-'0')
	}
	return n >= 1 && n <= 127 && s[0] != '0'
}

// checkInbound makes the checks that need the database, inside the write's
// transaction: the targets exist, the calendar and contact list exist, and
// chaining makes no loop. Chain targets are rewritten to the stored name's
// spelling (names are unique regardless of case).
func checkInbound(ctx context.Context, tx *sqlx.Tx, r *InboundRoute) error {
	if r.CalendarID != nil {
		if err := calendarExists(ctx, tx, *r.CalendarID); err != nil {
			return err
		}
	}
	if r.ContactListID != nil {
		var n int
		err := tx.GetContext(ctx, &n, `SELECT 1 FROM contact_lists WHERE id = ?`, *r.ContactListID)
		if errors.Is(err, sql.ErrNoRows) {
			return fieldErr("contact_list_id", "no contact list has id %d", *r.ContactListID)
		}
		if err != nil {
			return err
		}
	}
	if r.Enabled {
		// Two enabled routes for the same DID, caller ID and priority would
		// leave the winner to row order: refuse the second one.
		var other string
		err := tx.GetContext(ctx, &other, `SELECT name FROM inbound_routes
			WHERE did = ? AND caller_id = ? AND priority = ? AND enabled = ? AND id <> ?`, r.DID, r.CallerID, r.Priority, true, r.ID)
		if err == nil {
			return fieldErr("priority", "inbound route %s already takes DID %q from caller ID %q at priority %d: give this route another priority or caller ID", other, r.DID, r.CallerID, r.Priority)
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
	}
	graph, err := loadRouteGraph(ctx, tx)
	if err != nil {
		return err
	}
	graph.put(r)
	for _, side := range []struct {
		field string
		dst   *Destination
	}{{"open", &r.Open}, {"closed", r.Closed}} {
		if side.dst == nil {
			continue
		}
		if err := checkTarget(ctx, tx, side.field, side.dst, graph); err != nil {
			return err
		}
		if side.dst.Type == DestRoute {
			if path := graph.loopFrom(r.Name); path != nil {
				return fieldErr(side.field+".target", "chaining to %s makes a loop (%s): a call would never leave it",
					side.dst.Target, strings.Join(path, " → "))
			}
		}
	}
	if graph.longestFrom(r.Name) > maxRouteChain {
		field := "open.target"
		if r.Open.Type != DestRoute {
			field = "closed.target"
		}
		return fieldErr(field, "this makes a chain of more than %d routes: shorten it", maxRouteChain)
	}
	return nil
}

func checkTarget(ctx context.Context, tx *sqlx.Tx, field string, dst *Destination, graph *routeGraph) error {
	var err error
	switch dst.Type {
	case DestQueue:
		var q struct {
			Name    string `db:"name"`
			Channel string `db:"channel"`
		}
		err = tx.GetContext(ctx, &q, `SELECT name, channel FROM cc_queues WHERE name = ?`, dst.Target)
		if errors.Is(err, sql.ErrNoRows) {
			return fieldErr(field+".target", "no queue is named %q: create it first or pick another", dst.Target)
		}
		if err != nil {
			return err
		}
		if q.Channel != ChannelVoice {
			return fieldErr(field+".target", "queue %q is a %s queue: a call can only go to a voice queue", dst.Target, q.Channel)
		}
		// Names are unique regardless of case; Asterisk's Queue() is not.
		dst.Target = q.Name
		return nil
	case DestAgent:
		var username string
		err = tx.GetContext(ctx, &username, `SELECT username FROM users WHERE extension = ? AND role = ?`, dst.Target, RoleAgent)
		if errors.Is(err, sql.ErrNoRows) {
			return fieldErr(field+".target", "no agent has extension %q", dst.Target)
		}
		return err
	case DestVoicemail:
		// A bare mailbox is in the agents' voicemail context, whose
		// mailboxes omnicc itself writes: it must be an agent's with
		// voicemail on, or callers would be sent to a mailbox that does not
		// exist. A mailbox@context is one the Asterisk admin keeps
		// (voicemail.conf or their own rows), which omnicc cannot see.
		if strings.Contains(dst.Target, "@") {
			return nil
		}
		var vm bool
		err = tx.GetContext(ctx, &vm, `SELECT voicemail FROM users WHERE extension = ? AND role = ?`, dst.Target, RoleAgent)
		if errors.Is(err, sql.ErrNoRows) {
			return fieldErr(field+".target", "no agent has extension %q, so it has no mailbox: name an agent's extension, or mailbox@context for a mailbox outside omnicc", dst.Target)
		}
		if err == nil && !vm {
			return fieldErr(field+".target", "the agent on extension %q has voicemail off: turn it on first (PATCH /agents/{id} {\"voicemail\": true})", dst.Target)
		}
		return err
	case DestRoute:
		name, ok := graph.canonical(dst.Target)
		if !ok {
			return fieldErr(field+".target", "no inbound route is named %q: create it first", dst.Target)
		}
		dst.Target = name
	}
	return nil
}

// routeGraph is every inbound route's chain edges, keyed by lower-cased name.
type routeGraph struct {
	names map[string]string   // lower → stored spelling
	edges map[string][]string // lower → lower names it chains to
}

func loadRouteGraph(ctx context.Context, tx *sqlx.Tx) (*routeGraph, error) {
	var rows []struct {
		Name         string `db:"name"`
		OpenType     string `db:"open_type"`
		OpenTarget   string `db:"open_target"`
		ClosedType   string `db:"closed_type"`
		ClosedTarget string `db:"closed_target"`
	}
	if err := tx.SelectContext(ctx, &rows, `SELECT name, open_type, open_target, closed_type, closed_target FROM inbound_routes`); err != nil {
		return nil, err
	}
	g := &routeGraph{names: map[string]string{}, edges: map[string][]string{}}
	for _, r := range rows {
		k := strings.ToLower(r.Name)
		g.names[k] = r.Name
		g.edges[k] = chainEdges(r.OpenType, r.OpenTarget, r.ClosedType, r.ClosedTarget)
	}
	return g, nil
}

func chainEdges(openType, openTarget, closedType, closedTarget string) []string {
	var out []string
	if openType == DestRoute {
		out = append(out, strings.ToLower(openTarget))
	}
	if closedType == DestRoute {
		out = append(out, strings.ToLower(closedTarget))
	}
	return out
}

// put adds or replaces r (under its new name; a rename's old name is
// dropped by the caller).
func (g *routeGraph) put(r *InboundRoute) {
	k := strings.ToLower(r.Name)
	g.names[k] = r.Name
	closedType, closedTarget := "", ""
	if r.Closed != nil {
		closedType, closedTarget = r.Closed.Type, r.Closed.Target
	}
	g.edges[k] = chainEdges(r.Open.Type, r.Open.Target, closedType, closedTarget)
}

func (g *routeGraph) canonical(name string) (string, bool) {
	n, ok := g.names[strings.ToLower(name)]
	return n, ok
}

// loopFrom returns a cycle reachable from start as names, or nil.
func (g *routeGraph) loopFrom(start string) []string {
	var path []string
	onPath := map[string]bool{}
	done := map[string]bool{}
	var visit func(k string) []string
	visit = func(k string) []string {
		path = append(path, g.names[k])
		onPath[k] = true
		for _, next := range g.edges[k] {
			if onPath[next] {
				i := slices.Index(path, g.names[next])
				return append(slices.Clone(path[i:]), g.names[next])
			}
			if !done[next] {
				if loop := visit(next); loop != nil {
					return loop
				}
			}
		}
		onPath[k] = false
		done[k] = true
		path = path[:len(path)-1]
		return nil
	}
	return visit(strings.ToLower(start))
}

// longestFrom is the number of routes on the longest chain from start (the
// graph has no loop when this is called).
func (g *routeGraph) longestFrom(start string) int {
	memo := map[string]int{}
	var depth func(k string, n int) int
	depth = func(k string, n int) int {
		if n > maxRouteChain+1 {
			return n
		}
		if d, ok := memo[k]; ok {
			return d
		}
		best := 1
		for _, next := range g.edges[k] {
			best = max(best, 1+depth(next, n+1))
		}
		memo[k] = best
		return best
	}
	return depth(strings.ToLower(start), 1)
}

const inboundSelect = `SELECT id, name, description, enabled, did, caller_id, priority, calendar_id, open_type, open_target,
 closed_type, closed_target, create_unknown_caller, contact_list_id, created_at, updated_at FROM inbound_routes`

type inboundRow struct {
	ID                  int64     `db:"id"`
	Name                string    `db:"name"`
	Description         string    `db:"description"`
	Enabled             bool      `db:"enabled"`
	DID                 string    `db:"did"`
	CallerID            string    `db:"caller_id"`
	Priority            int       `db:"priority"`
	CalendarID          *int64    `db:"calendar_id"`
	OpenType            string    `db:"open_type"`
	OpenTarget          string    `db:"open_target"`
	ClosedType          string    `db:"closed_type"`
	ClosedTarget        string    `db:"closed_target"`
	CreateUnknownCaller bool      `db:"create_unknown_caller"`
	ContactListID       *int64    `db:"contact_list_id"`
	CreatedAt           time.Time `db:"created_at"`
	UpdatedAt           time.Time `db:"updated_at"`
}

func (r *inboundRow) route() *InboundRoute {
	out := &InboundRoute{ID: r.ID, Name: r.Name, Description: r.Description, Enabled: r.Enabled, DID: r.DID,
		CallerID: r.CallerID, Priority: r.Priority, CalendarID: r.CalendarID,
		Open:                Destination{Type: r.OpenType, Target: r.OpenTarget},
		CreateUnknownCaller: r.CreateUnknownCaller, ContactListID: r.ContactListID,
		CreatedAt: r.CreatedAt.UTC(), UpdatedAt: r.UpdatedAt.UTC()}
	if r.ClosedType != "" {
		out.Closed = &Destination{Type: r.ClosedType, Target: r.ClosedTarget}
	}
	return out
}

var inboundColumns = []string{"name", "description", "enabled", "did", "caller_id", "priority", "calendar_id",
	"open_type", "open_target", "closed_type", "closed_target", "create_unknown_caller", "contact_list_id", "updated_at"}

func inboundValues(r *InboundRoute) []any {
	closedType, closedTarget := "", ""
	if r.Closed != nil {
		closedType, closedTarget = r.Closed.Type, r.Closed.Target
	}
	return []any{r.Name, r.Description, r.Enabled, r.DID, r.CallerID, r.Priority, r.CalendarID,
		r.Open.Type, r.Open.Target, closedType, closedTarget, r.CreateUnknownCaller, r.ContactListID, r.UpdatedAt}
}

// CreateInboundRoute validates and stores a new inbound route.
func (d *Directory) CreateInboundRoute(ctx context.Context, in InboundRouteInput) (*InboundRoute, error) {
	r := InboundRoute{Enabled: true}
	in.apply(&r)
	if in.Open == nil {
		return nil, fieldErr("open", "is required: the destination of calls (in business hours, when the route has a calendar)")
	}
	if err := r.validate(); err != nil {
		return nil, err
	}
	now := d.now()
	r.CreatedAt, r.UpdatedAt = now, now
	err := d.db.InTx(ctx, func(tx *sqlx.Tx) error {
		if err := checkInbound(ctx, tx, &r); err != nil {
			return err
		}
		cols := append(slices.Clone(inboundColumns), "created_at")
		res, err := tx.ExecContext(ctx, "INSERT INTO inbound_routes ("+strings.Join(cols, ", ")+") VALUES ("+placeholders(len(cols))+")",
			append(inboundValues(&r), r.CreatedAt)...)
		if err != nil {
			return err
		}
		r.ID, err = res.LastInsertId()
		return err
	})
	if store.IsUniqueViolation(err) {
		return nil, &ConflictError{Field: "name", Value: r.Name}
	}
	if err != nil {
		return nil, err
	}
	d.notify(Change{Entity: "inbound_route", Op: "create", ID: r.ID})
	return &r, nil
}

// InboundRoute returns one inbound route.
func (d *Directory) InboundRoute(ctx context.Context, id int64) (*InboundRoute, error) {
	return d.inboundRoute(ctx, d.db, id)
}

func (d *Directory) inboundRoute(ctx context.Context, q sqlx.QueryerContext, id int64) (*InboundRoute, error) {
	var row inboundRow
	if err := getByID(ctx, q, &row, inboundSelect+` WHERE id = ?`, id, "inbound route"); err != nil {
		return nil, err
	}
	return row.route(), nil
}

// RouteFilter selects routes for a list.
type RouteFilter struct {
	Q string // in the name, description, DID or pattern
	// DID keeps the inbound routes that take a call to this number: whose
	// DID is it, or a pattern that matches it.
	DID     string
	Sort    string
	Page    int
	PerPage int
}

var inboundSorts = map[string]string{"id": "id", "name": "name", "did": "did", "priority": "priority",
	"created_at": "created_at", "updated_at": "updated_at"}

// ListInboundRoutes returns a page of inbound routes and the total.
func (d *Directory) ListInboundRoutes(ctx context.Context, f RouteFilter) ([]*InboundRoute, int, error) {
	where, args := routeWhere(f.Q, "did")
	if f.DID != "" {
		ids, err := d.inboundRoutesFor(ctx, f.DID)
		if err != nil {
			return nil, 0, err
		}
		cond := "1 = 0"
		if len(ids) > 0 {
			cond = "id IN (" + placeholders(len(ids)) + ")"
		}
		if where == "" {
			where = " WHERE " + cond
		} else {
			where += " AND " + cond
		}
		for _, id := range ids {
			args = append(args, id)
		}
	}
	var rows []inboundRow
	total, err := d.selectPage(ctx, &rows, pageQuery{table: "inbound_routes", selectSQL: inboundSelect,
		where: where, args: args, sort: f.Sort, sorts: inboundSorts, page: f.Page, perPage: f.PerPage})
	if err != nil {
		return nil, 0, err
	}
	out := make([]*InboundRoute, len(rows))
	for i := range rows {
		out[i] = rows[i].route()
	}
	return out, total, nil
}

// inboundRoutesFor is the ids of the routes whose DID is number or a
// pattern matching it. Patterns are matched here, not in SQL: both engines
// would need Asterisk's pattern syntax, and there are few routes.
func (d *Directory) inboundRoutesFor(ctx context.Context, number string) ([]int64, error) {
	var rows []struct {
		ID  int64  `db:"id"`
		DID string `db:"did"`
	}
	if err := d.db.SelectContext(ctx, &rows, `SELECT id, did FROM inbound_routes`); err != nil {
		return nil, err
	}
	var ids []int64
	for _, r := range rows {
		if r.DID == number {
			ids = append(ids, r.ID)
			continue
		}
		if p, err := ParseDialPattern(r.DID); err == nil && p.Match(number) {
			ids = append(ids, r.ID)
		}
	}
	return ids, nil
}

func routeWhere(q, numberColumn string) (string, []any) {
	if q == "" {
		return "", nil
	}
	like := "%" + escapeLike(q) + "%"
	return ` WHERE (name LIKE ? ESCAPE '!' OR description LIKE ? ESCAPE '!' OR ` + numberColumn + ` LIKE ? ESCAPE '!')`,
		[]any{like, like, like}
}

// UpdateInboundRoute applies a partial update. Renaming a route renames it
// in the routes that chain to it, in the same transaction.
func (d *Directory) UpdateInboundRoute(ctx context.Context, id int64, in InboundRouteInput) (*InboundRoute, error) {
	var after *InboundRoute
	err := d.db.InTx(ctx, func(tx *sqlx.Tx) error {
		before, err := d.inboundRoute(ctx, tx, id)
		if err != nil {
			return err
		}
		r := *before
		in.apply(&r)
		if err := r.validate(); err != nil {
			return err
		}
		if r.Name != before.Name {
			// Chains name routes: follow the rename before checking them.
			for _, col := range []string{"open", "closed"} {
				if _, err := tx.ExecContext(ctx, `UPDATE inbound_routes SET `+col+`_target = ? WHERE `+col+`_type = ? AND `+col+`_target = ?`,
					r.Name, DestRoute, before.Name); err != nil {
					return err
				}
			}
			for _, dst := range []*Destination{&r.Open, r.Closed} {
				if dst != nil && dst.Type == DestRoute && strings.EqualFold(dst.Target, before.Name) {
					dst.Target = r.Name
				}
			}
		}
		r.UpdatedAt = d.now()
		if _, err := tx.ExecContext(ctx, "UPDATE inbound_routes SET "+strings.Join(inboundColumns, " = ?, ")+" = ? WHERE id = ?",
			append(inboundValues(&r), id)...); err != nil {
			return err
		}
		if err := checkInbound(ctx, tx, &r); err != nil {
			return err
		}
		// checkInbound may have respelled a target.
		if _, err := tx.ExecContext(ctx, "UPDATE inbound_routes SET "+strings.Join(inboundColumns, " = ?, ")+" = ? WHERE id = ?",
			append(inboundValues(&r), id)...); err != nil {
			return err
		}
		after = &r
		return nil
	})
	if store.IsUniqueViolation(err) {
		return nil, &ConflictError{Field: "name", Value: deref(in.Name)}
	}
	if err != nil {
		return nil, err
	}
	d.notify(Change{Entity: "inbound_route", Op: "update", ID: id})
	return after, nil
}

// DeleteInboundRoute removes a route no other route chains to.
// routesNaming lists the inbound routes (other than exceptID) whose open or
// closed destination is target of the given type.
func routesNaming(ctx context.Context, tx *sqlx.Tx, destType, target string, exceptID int64) ([]string, error) {
	var names []string
	err := tx.SelectContext(ctx, &names, `SELECT name FROM inbound_routes
		WHERE id <> ? AND ((open_type = ? AND open_target = ?) OR (closed_type = ? AND closed_target = ?)) ORDER BY name`,
		exceptID, destType, target, destType, target)
	return names, err
}

// refuseIfRouted refuses to remove what an inbound route still sends calls to.
func refuseIfRouted(ctx context.Context, tx *sqlx.Tx, destType, target, what string) error {
	users, err := routesNaming(ctx, tx, destType, target, 0)
	if err != nil || len(users) == 0 {
		return err
	}
	return &InUseError{What: what, UsedBy: prefixAll("inbound route ", users),
		Fix: "point their open/closed destinations elsewhere first"}
}

// retarget carries a renamed queue or a changed extension into the routes
// that name it, so their calls keep reaching the same place.
func retarget(ctx context.Context, tx *sqlx.Tx, destType, from, to string) error {
	if from == to || from == "" {
		return nil
	}
	for _, side := range []string{"open", "closed"} {
		if _, err := tx.ExecContext(ctx, `UPDATE inbound_routes SET `+side+`_target = ? WHERE `+side+`_type = ? AND `+side+`_target = ?`,
			to, destType, from); err != nil {
			return err
		}
	}
	return nil
}

func (d *Directory) DeleteInboundRoute(ctx context.Context, id int64) error {
	err := d.db.InTx(ctx, func(tx *sqlx.Tx) error {
		r, err := d.inboundRoute(ctx, tx, id)
		if err != nil {
			return err
		}
		users, err := routesNaming(ctx, tx, DestRoute, r.Name, id)
		if err != nil {
			return err
		}
		if len(users) > 0 {
			return &InUseError{What: "inbound route " + r.Name, UsedBy: prefixAll("inbound route ", users),
				Fix: "point their open/closed destinations elsewhere first"}
		}
		_, err = tx.ExecContext(ctx, `DELETE FROM inbound_routes WHERE id = ?`, id)
		return err
	})
	if err != nil {
		return err
	}
	d.notify(Change{Entity: "inbound_route", Op: "delete", ID: id})
	return nil
}

// OutboundRoute sends the numbers agents dial that match Pattern out
// through Trunk, after rewriting them.
type OutboundRoute struct {
	ID          int64  `json:"id"`
	Name        string `json:"name"`
	Description string `json:"description"`
	Enabled     bool   `json:"enabled"`
	// Pattern is an exact number or an Asterisk pattern (DialPattern).
	Pattern string `json:"pattern"`
	// Context, when set, limits the route to calls from that dialplan
	// context (the agents' context, default from-sip): agents in different
	// contexts can have different routes.
	Context  string `json:"context"`
	Priority int    `json:"priority"`
	// Strip leading digits, then Prepend: 0039… with strip 2 and prepend +
	// is dialled as +39….
	Strip   int    `json:"strip"`
	Prepend string `json:"prepend"`
	// Trunk is a PJSIP endpoint name (the call is dialled as
	// PJSIP/<number>@<trunk>) or, when it holds a '/', a dial string: the
	// number replaces {number}, or is appended (DAHDI/g0/).
	Trunk string `json:"trunk"`
	// CallerID replaces the caller ID ("Sales" <0612345678>, or a number);
	// empty keeps the agent's.
	CallerID string `json:"caller_id"`
	// Record asks the dialplan to record the call (MixMonitor) in
	// RecordFormat: wav, wav49 or gsm.
	Record       bool      `json:"record"`
	RecordFormat string    `json:"record_format"`
	CreatedAt    time.Time `json:"created_at"`
	UpdatedAt    time.Time `json:"updated_at"`
}

// OutboundRouteInput is a create or partial update of an outbound route.
type OutboundRouteInput struct {
	Name         *string `json:"name"`
	Description  *string `json:"description"`
	Enabled      *bool   `json:"enabled"`
	Pattern      *string `json:"pattern"`
	Context      *string `json:"context"`
	Priority     *int    `json:"priority"`
	Strip        *int    `json:"strip"`
	Prepend      *string `json:"prepend"`
	Trunk        *string `json:"trunk"`
	CallerID     *string `json:"caller_id"`
	Record       *bool   `json:"record"`
	RecordFormat *string `json:"record_format"`
}

func (in *OutboundRouteInput) apply(r *OutboundRoute) {
	set(&r.Name, in.Name)
	set(&r.Description, in.Description)
	set(&r.Enabled, in.Enabled)
	set(&r.Pattern, in.Pattern)
	set(&r.Context, in.Context)
	set(&r.Priority, in.Priority)
	set(&r.Strip, in.Strip)
	set(&r.Prepend, in.Prepend)
	set(&r.Trunk, in.Trunk)
	set(&r.CallerID, in.CallerID)
	set(&r.Record, in.Record)
	set(&r.RecordFormat, in.RecordFormat)
}

func (r *OutboundRoute) validate() error {
	if !routeNameRe.MatchString(r.Name) {
		return fieldErr("name", "%q must be 1-128 letters, digits, '_', '.' or '-'", r.Name)
	}
	if len(r.Description) > 2000 {
		return fieldErr("description", "must be at most 2000 characters")
	}
	p, err := ParseDialPattern(r.Pattern)
	if err != nil {
		return fieldErr("pattern", "%s", err)
	}
	if r.Context != "" && !contextRe.MatchString(r.Context) {
		return fieldErr("context", "%q must be a dialplan context name (letters, digits, '_' and '-'), or empty for every context", r.Context)
	}
	if r.Priority < 0 || r.Priority > 9999 {
		return fieldErr("priority", "%d must be between 0 and 9999 (lowest first)", r.Priority)
	}
	if r.Strip < 0 || r.Strip > 20 {
		return fieldErr("strip", "%d must be between 0 and 20 digits", r.Strip)
	}
	if n := minMatchLen(p); r.Strip > 0 && r.Strip >= n {
		return fieldErr("strip", "%d would strip every digit of the shortest number %q matches (%d digits): strip fewer", r.Strip, r.Pattern, n)
	}
	if !prependRe.MatchString(r.Prepend) {
		return fieldErr("prepend", "%q must be up to 32 digits, +, * or #", r.Prepend)
	}
	if err := validTrunk(r.Trunk); err != nil {
		return err
	}
	if err := validCallerID(r.CallerID); err != nil {
		return err
	}
	if !slices.Contains(routeRecordFormats, r.RecordFormat) {
		return fieldErr("record_format", "%q must be one of %s", r.RecordFormat, strings.Join(routeRecordFormats, ", "))
	}
	return nil
}

// minMatchLen is the length of the shortest number p matches.
func minMatchLen(p DialPattern) int {
	if p.exact {
		return len(p.raw)
	}
	n := 0
	for _, e := range p.elems {
		switch e.kind {
		case elemOneOrMore:
			return n + 1
		case elemAnyOrNone:
			return n
		}
		n++
	}
	return n
}

// validTrunk keeps the trunk to characters that cannot change the meaning
// of Dial(): a ',' would add options, '&' a second device, '$' or '('
// dialplan expressions.
func validTrunk(t string) error {
	if !strings.Contains(t, "/") {
		if !endpointRe.MatchString(t) {
			return fieldErr("trunk", "%q must be a PJSIP endpoint name (letters, digits, '_', '.', '-'), or a dial string such as PJSIP/{number}@my-provider or DAHDI/g0/", t)
		}
		return nil
	}
	bare := strings.Replace(t, "{number}", "", 1)
	switch {
	case strings.Contains(bare, "{number}"):
		return fieldErr("trunk", "%q holds {number} twice", t)
	case !trunkCharsRe.MatchString(bare):
		return fieldErr("trunk", "%q: a dial string may hold only letters, digits, {number} and _ . @ : / + * # = - (no ',', '&', '$' or spaces, which would change what Dial() does)", t)
	case !dialTechRe.MatchString(t):
		return fieldErr("trunk", "%q must start with a channel technology (PJSIP/, DAHDI/, IAX2/…) when it is a dial string", t)
	}
	return nil
}

func validCallerID(v string) error {
	if len(v) > 128 {
		return fieldErr("caller_id", "must be at most 128 characters")
	}
	for _, c := range v {
		if c < 0x20 || c == 0x7f || c == ',' || c == '$' || c == '{' || c == '}' || c == '|' {
			return fieldErr("caller_id", "%q must not hold control characters, ',', '|', '$', '{' or '}' (the dialplan sets it with CALLERID(all))", v)
		}
	}
	return nil
}

const outboundSelect = `SELECT id, name, description, enabled, pattern, context, priority, strip, prepend, trunk, caller_id,
 record, record_format, created_at, updated_at FROM outbound_routes`

type outboundRow struct {
	ID           int64     `db:"id"`
	Name         string    `db:"name"`
	Description  string    `db:"description"`
	Enabled      bool      `db:"enabled"`
	Pattern      string    `db:"pattern"`
	Context      string    `db:"context"`
	Priority     int       `db:"priority"`
	Strip        int       `db:"strip"`
	Prepend      string    `db:"prepend"`
	Trunk        string    `db:"trunk"`
	CallerID     string    `db:"caller_id"`
	Record       bool      `db:"record"`
	RecordFormat string    `db:"record_format"`
	CreatedAt    time.Time `db:"created_at"`
	UpdatedAt    time.Time `db:"updated_at"`
}

func (r *outboundRow) route() *OutboundRoute {
	o := OutboundRoute(*r)
	o.CreatedAt, o.UpdatedAt = o.CreatedAt.UTC(), o.UpdatedAt.UTC()
	return &o
}

var outboundColumns = []string{"name", "description", "enabled", "pattern", "context", "priority", "strip", "prepend",
	"trunk", "caller_id", "record", "record_format", "updated_at"}

func outboundValues(r *OutboundRoute) []any {
	return []any{r.Name, r.Description, r.Enabled, r.Pattern, r.Context, r.Priority, r.Strip, r.Prepend,
		r.Trunk, r.CallerID, r.Record, r.RecordFormat, r.UpdatedAt}
}

// CreateOutboundRoute validates and stores a new outbound route.
func (d *Directory) CreateOutboundRoute(ctx context.Context, in OutboundRouteInput) (*OutboundRoute, error) {
	r := OutboundRoute{Enabled: true, RecordFormat: "wav"}
	in.apply(&r)
	if err := r.validate(); err != nil {
		return nil, err
	}
	now := d.now()
	r.CreatedAt, r.UpdatedAt = now, now
	cols := append(slices.Clone(outboundColumns), "created_at")
	res, err := d.db.ExecContext(ctx, "INSERT INTO outbound_routes ("+strings.Join(cols, ", ")+") VALUES ("+placeholders(len(cols))+")",
		append(outboundValues(&r), r.CreatedAt)...)
	if store.IsUniqueViolation(err) {
		return nil, &ConflictError{Field: "name", Value: r.Name}
	}
	if err != nil {
		return nil, err
	}
	if r.ID, err = res.LastInsertId(); err != nil {
		return nil, err
	}
	d.notify(Change{Entity: "outbound_route", Op: "create", ID: r.ID})
	return &r, nil
}

// OutboundRoute returns one outbound route.
func (d *Directory) OutboundRoute(ctx context.Context, id int64) (*OutboundRoute, error) {
	return d.outboundRoute(ctx, d.db, id)
}

func (d *Directory) outboundRoute(ctx context.Context, q sqlx.QueryerContext, id int64) (*OutboundRoute, error) {
	var row outboundRow
	if err := getByID(ctx, q, &row, outboundSelect+` WHERE id = ?`, id, "outbound route"); err != nil {
		return nil, err
	}
	return row.route(), nil
}

var outboundSorts = map[string]string{"id": "id", "name": "name", "pattern": "pattern", "priority": "priority",
	"created_at": "created_at", "updated_at": "updated_at"}

// ListOutboundRoutes returns a page of outbound routes and the total.
func (d *Directory) ListOutboundRoutes(ctx context.Context, f RouteFilter) ([]*OutboundRoute, int, error) {
	where, args := routeWhere(f.Q, "pattern")
	var rows []outboundRow
	total, err := d.selectPage(ctx, &rows, pageQuery{table: "outbound_routes", selectSQL: outboundSelect,
		where: where, args: args, sort: f.Sort, sorts: outboundSorts, page: f.Page, perPage: f.PerPage})
	if err != nil {
		return nil, 0, err
	}
	out := make([]*OutboundRoute, len(rows))
	for i := range rows {
		out[i] = rows[i].route()
	}
	return out, total, nil
}

// UpdateOutboundRoute applies a partial update.
func (d *Directory) UpdateOutboundRoute(ctx context.Context, id int64, in OutboundRouteInput) (*OutboundRoute, error) {
	var after *OutboundRoute
	err := d.db.InTx(ctx, func(tx *sqlx.Tx) error {
		before, err := d.outboundRoute(ctx, tx, id)
		if err != nil {
			return err
		}
		r := *before
		in.apply(&r)
		if err := r.validate(); err != nil {
			return err
		}
		r.UpdatedAt = d.now()
		if _, err := tx.ExecContext(ctx, "UPDATE outbound_routes SET "+strings.Join(outboundColumns, " = ?, ")+" = ? WHERE id = ?",
			append(outboundValues(&r), id)...); err != nil {
			return err
		}
		after = &r
		return nil
	})
	if store.IsUniqueViolation(err) {
		return nil, &ConflictError{Field: "name", Value: deref(in.Name)}
	}
	if err != nil {
		return nil, err
	}
	d.notify(Change{Entity: "outbound_route", Op: "update", ID: id})
	return after, nil
}

// DeleteOutboundRoute removes an outbound route.
func (d *Directory) DeleteOutboundRoute(ctx context.Context, id int64) error {
	res, err := d.db.ExecContext(ctx, `DELETE FROM outbound_routes WHERE id = ?`, id)
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err == nil && n == 0 {
		return fmt.Errorf("outbound route %d: %w", id, ErrNotFound)
	}
	d.notify(Change{Entity: "outbound_route", Op: "delete", ID: id})
	return nil
}
