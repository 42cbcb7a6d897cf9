package realtime

import (
	"context"
	"crypto/subtle"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/singleflight"

	"omnicc/store"
)

// Options configures a Server. The zero value is usable: loopback only, no
// basic auth, the defaults below.
type Options struct {
	Logger *slog.Logger
	// Allow lists the networks that may call the server
	// (OMNICC_REALTIME_ALLOW). Empty means loopback only. The peer address of
	// the TCP connection is checked, never a forwarded-for header: Asterisk
	// talks to omniccd directly.
	Allow []netip.Prefix
	// User and Password turn on HTTP basic auth when User is not empty
	// (OMNICC_REALTIME_USER / OMNICC_REALTIME_PASSWORD).
	User, Password string
	// MaxBodyBytes bounds a request body (default 64 KiB; Asterisk's largest,
	// a contact store, is under 1 KiB).
	MaxBodyBytes int64
	// QueryTimeout bounds one database statement (default 1 s). It must be
	// shorter than res_curl.conf's timeout so that Asterisk gets the last
	// known rows rather than a timeout when the database hangs.
	QueryTimeout time.Duration
	// CacheTTL is how long a lookup is answered from memory without asking
	// the database (default 5 s; a negative value turns the cache off). Every
	// write through this server and every Invalidate ends it early; the TTL
	// only bounds how long a write made behind omniccd's back (an Asterisk
	// writing the MySQL tables through ODBC) stays unseen.
	CacheTTL time.Duration
	// StaleFor is how long the last known rows may be served while the
	// database is unreachable (default 1 h).
	StaleFor time.Duration
	// CacheEntries bounds the cached lookups per table (default 10000).
	CacheEntries int
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Health, when set, says when the database is known to be down
	// (*store.Health): lookups are then answered from the last known rows
	// at once, and writes refused at once, instead of each waiting out
	// QueryTimeout while Asterisk holds a thread on it.
	Health DatabaseHealth
	// Registerer, when set, receives the omnicc_realtime_* metrics.
	Registerer prometheus.Registerer
}

// serverMetrics are what an operator graphs of Asterisk's realtime reads and
// writes; table and verb come from the schema's whitelist, so labels stay
// bounded whatever a caller sends.
type serverMetrics struct {
	requests *prometheus.CounterVec // table, verb
	cache    *prometheus.CounterVec // table, result (hit, miss)
	dbErrors *prometheus.CounterVec // table
	stale    *prometheus.CounterVec // table
}

func newServerMetrics() serverMetrics {
	return serverMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "omnicc_realtime_requests_total", Help: "res_config_curl requests answered, by table and verb."},
			[]string{"table", "verb"}),
		cache: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "omnicc_realtime_cache_lookups_total", Help: "Realtime lookups by table and whether the cache answered them (hit) or the database was asked (miss)."},
			[]string{"table", "result"}),
		dbErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "omnicc_realtime_db_errors_total", Help: "Realtime lookups and writes the database failed (down, timeout, error), by table."},
			[]string{"table"}),
		stale: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "omnicc_realtime_served_stale_total", Help: "Realtime lookups answered from the last known rows because the database could not be asked, by table."},
			[]string{"table"}),
	}
}

// DatabaseHealth reports whether the database is known to be unavailable:
// *store.Health.
type DatabaseHealth interface {
	Down() bool
}

const (
	defaultMaxBody      = 64 << 10
	defaultQueryTimeout = time.Second
	defaultCacheTTL     = 5 * time.Second
	defaultStaleFor     = time.Hour
	defaultCacheEntries = 10000
)

// Server answers res_config_curl at /realtime/{family}/{verb}. It is an
// http.Handler that reads only the last two segments of the path, so it can
// be mounted under any prefix (in Gin: r.Any("/realtime/*path",
// gin.WrapH(srv))).
type Server struct {
	db      sqlDB
	build   builder
	tables  map[string]*table
	log     *slog.Logger
	allow   []netip.Prefix
	user    []byte
	pass    []byte
	maxBody int64
	timeout time.Duration
	cache   *lookupCache
	flight  singleflight.Group
	outage  outage
	health  DatabaseHealth
	metrics serverMetrics

	// stmts keeps lookups prepared: a point lookup is then one round trip
	// to MySQL instead of prepare, execute and close.
	prep    preparer // nil when the database cannot prepare
	stmtMu  sync.Mutex
	stmts   map[string]*sql.Stmt
	stmtCap int
}

type preparer interface {
	PrepareContext(ctx context.Context, query string) (*sql.Stmt, error)
}

// maxStatements bounds the prepared lookups; the SQL of a lookup depends only
// on the table, the columns and operators asked for, a small set in practice.
const maxStatements = 256

// NewServer reads the realtime tables' columns from db (they are the
// whitelist every request is checked against), so db must be migrated.
func NewServer(ctx context.Context, db *store.DB, o Options) (*Server, error) {
	if db == nil {
		return nil, errors.New("realtime: NewServer needs a database")
	}
	return newServer(ctx, db, db.Dialect, o)
}

func newServer(ctx context.Context, db sqlDB, d store.Dialect, o Options) (*Server, error) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if len(o.Allow) == 0 {
		o.Allow = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}
	}
	if o.MaxBodyBytes <= 0 {
		o.MaxBodyBytes = defaultMaxBody
	}
	if o.QueryTimeout <= 0 {
		o.QueryTimeout = defaultQueryTimeout
	}
	if o.CacheTTL == 0 {
		o.CacheTTL = defaultCacheTTL
	}
	if o.StaleFor <= 0 {
		o.StaleFor = defaultStaleFor
	}
	if o.CacheEntries <= 0 {
		o.CacheEntries = defaultCacheEntries
	}
	if (o.User == "") != (o.Password == "") {
		return nil, errors.New("realtime: set both OMNICC_REALTIME_USER and OMNICC_REALTIME_PASSWORD, or neither")
	}
	tables, err := loadSchema(ctx, db, d)
	if err != nil {
		return nil, err
	}
	s := &Server{
		db:      db,
		build:   builder{dialect: d},
		tables:  tables,
		log:     o.Logger,
		allow:   slices.Clone(o.Allow),
		maxBody: o.MaxBodyBytes,
		timeout: o.QueryTimeout,
		cache:   newLookupCache(o.CacheTTL, o.StaleFor, o.CacheEntries, o.Now),
		health:  o.Health,
		metrics: newServerMetrics(),
	}
	if o.Registerer != nil {
		m := s.metrics
		for _, c := range []prometheus.Collector{m.requests, m.cache, m.dbErrors, m.stale} {
			if err := o.Registerer.Register(c); err != nil {
				return nil, fmt.Errorf("realtime: register the metrics (Options.Registerer; one Server per registry): %w", err)
			}
		}
	}
	if o.User != "" {
		s.user, s.pass = []byte(o.User), []byte(o.Password)
	}
	if p, ok := db.(preparer); ok {
		s.prep, s.stmts, s.stmtCap = p, map[string]*sql.Stmt{}, maxStatements
	}
	s.outage.now = o.Now
	return s, nil
}

// Close releases the prepared statements. The server must not be used after.
func (s *Server) Close() error {
	s.stmtMu.Lock()
	defer s.stmtMu.Unlock()
	var errs []error
	for q, st := range s.stmts {
		errs = append(errs, st.Close())
		delete(s.stmts, q)
	}
	return errors.Join(errs...)
}

// query runs a lookup, prepared once and reused when the database allows.
func (s *Server) query(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	if s.prep == nil {
		return s.db.QueryContext(ctx, q, args...)
	}
	s.stmtMu.Lock()
	st, ok := s.stmts[q]
	s.stmtMu.Unlock()
	if !ok {
		var err error
		if st, err = s.prep.PrepareContext(ctx, q); err != nil {
			return nil, err
		}
		s.stmtMu.Lock()
		switch old, dup := s.stmts[q]; {
		case dup:
			_ = st.Close()
			st = old
		case len(s.stmts) < s.stmtCap:
			s.stmts[q] = st
		default:
			// Full: an unusual lookup runs unprepared.
			s.stmtMu.Unlock()
			_ = st.Close()
			return s.db.QueryContext(ctx, q, args...)
		}
		s.stmtMu.Unlock()
	}
	return st.QueryContext(ctx, args...)
}

// Invalidate ends the cached lookups of the given tables. The directory's
// realtime hook calls it after it commits a change to derived rows; the
// server calls it itself after every write it makes.
func (s *Server) Invalidate(tables ...string) {
	for _, t := range tables {
		s.cache.invalidate(t)
	}
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	family, verb := splitPath(r.URL.Path)
	if !s.allowed(r.RemoteAddr) {
		s.log.Warn("realtime: refused a caller outside OMNICC_REALTIME_ALLOW", "remote", r.RemoteAddr, "path", r.URL.Path)
		fail(w, verb, http.StatusForbidden)
		return
	}
	if s.user != nil {
		u, p, ok := r.BasicAuth()
		// Both comparisons always run so the time taken says nothing about
		// which half was wrong.
		uok := subtle.ConstantTimeCompare([]byte(u), s.user)
		pok := subtle.ConstantTimeCompare([]byte(p), s.pass)
		if !ok || uok&pok != 1 {
			s.log.Warn("realtime: refused a caller with wrong or missing basic auth (OMNICC_REALTIME_USER)", "remote", r.RemoteAddr)
			w.Header().Set("WWW-Authenticate", `Basic realm="omnicc realtime"`)
			fail(w, verb, http.StatusUnauthorized)
			return
		}
	}
	if !verb.valid() {
		http.Error(w, "realtime: want /realtime/{family}/{single|multi|update|store|destroy|require|static}", http.StatusNotFound)
		return
	}
	switch verb {
	case VerbUpdate, VerbStore, VerbDestroy:
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			fail(w, verb, http.StatusMethodNotAllowed)
			return
		}
	default:
		if r.Method != http.MethodPost && r.Method != http.MethodGet {
			w.Header().Set("Allow", "GET, POST")
			fail(w, verb, http.StatusMethodNotAllowed)
			return
		}
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.maxBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			s.log.Warn("realtime: request body too large", "family", family, "verb", verb, "limit", s.maxBody)
			fail(w, verb, http.StatusRequestEntityTooLarge)
			return
		}
		fail(w, verb, http.StatusBadRequest)
		return
	}

	if verb == VerbStatic {
		// The family segment of a static URL is whatever extconfig.conf
		// named (queuerules.conf => curl,http://.../realtime/static); the
		// rows always come from ast_config.
		s.metrics.requests.WithLabelValues(staticTable, string(VerbStatic)).Inc()
		s.serveStatic(w, r, body)
		return
	}
	t, ok := s.tables[family]
	if !ok || family == staticTable {
		s.log.Warn("realtime: unknown family", "family", family, "verb", verb)
		fail(w, verb, http.StatusNotFound)
		return
	}
	req, err := ParseRequest(verb, r.URL.RawQuery, string(body), t.has)
	if err != nil {
		s.log.Warn("realtime: bad request", "family", family, "verb", verb, "err", err)
		fail(w, verb, http.StatusBadRequest)
		return
	}
	s.metrics.requests.WithLabelValues(t.Name, string(verb)).Inc()
	switch verb {
	case VerbSingle, VerbMulti:
		s.serveLookup(w, r, t, req)
	case VerbRequire:
		s.serveRequire(w, t, req)
	default:
		s.serveWrite(w, r, t, req)
	}
}

// splitPath returns the last two segments of the path.
func splitPath(p string) (family string, verb Verb) {
	p = strings.TrimRight(p, "/")
	i := strings.LastIndexByte(p, '/')
	if i < 0 {
		return "", ""
	}
	verb = Verb(p[i+1:])
	p = p[:i]
	family = p[strings.LastIndexByte(p, '/')+1:]
	return family, verb
}

func (s *Server) allowed(remote string) bool {
	ap, err := netip.ParseAddrPort(remote)
	var a netip.Addr
	if err == nil {
		a = ap.Addr()
	} else if a, err = netip.ParseAddr(remote); err != nil {
		return false
	}
	a = a.Unmap()
	for _, p := range s.allow {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// fail answers a request that could not be served: count verbs get -1 (a
// count reply must never be empty), lookups an empty body ("not found").
// Asterisk ignores the status unless res_curl.conf lists it in failurecodes.
func fail(w http.ResponseWriter, verb Verb, status int) {
	w.Header().Set("Content-Type", "text/plain")
	w.WriteHeader(status)
	if verb.isCount() {
		_, _ = io.WriteString(w, "-1\n")
	}
}

func reply(w http.ResponseWriter, body []byte) {
	w.Header().Set("Content-Type", "text/plain")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	_, _ = w.Write(body)
}

func replyCount(w http.ResponseWriter, n int64) {
	reply(w, append(strconv.AppendInt(nil, n, 10), '\n'))
}

// lookupKey identifies a lookup in the cache: the verb and every condition in
// the order Asterisk sent them (the first one names the multi rows).
func lookupKey(req *Request) string {
	var b strings.Builder
	b.WriteString(string(req.Verb))
	for _, c := range req.Where {
		b.WriteByte(0)
		b.WriteString(strings.ToLower(c.Column))
		b.WriteByte(' ')
		b.WriteString(c.Op)
		b.WriteByte(0)
		b.WriteString(c.Value)
	}
	return b.String()
}

// cachedLookup answers from the cache when it is fresh, else runs query once
// for all concurrent callers of the same lookup, and falls back to the last
// known reply when the database fails.
func (s *Server) cachedLookup(ctx context.Context, tableName, key string, query func(ctx context.Context) ([]byte, error)) ([]byte, error) {
	if body, ok := s.cache.fresh(tableName, key); ok {
		s.metrics.cache.WithLabelValues(tableName, "hit").Inc()
		return body, nil
	}
	s.metrics.cache.WithLabelValues(tableName, "miss").Inc()
	if s.databaseDown() {
		return s.lastKnown(tableName, key, store.ErrUnavailable)
	}
	gen := s.cache.generation(tableName)
	// The generation is part of the flight key: a lookup that starts after
	// an invalidation must not share the answer of one that started before.
	fk := tableName + "\x00" + strconv.FormatUint(gen, 10) + "\x00" + key
	v, err, _ := s.flight.Do(fk, func() (any, error) {
		// Detached from the first caller's request: the others wait on it.
		qctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.timeout)
		defer cancel()
		body, err := query(qctx)
		if err != nil {
			return nil, err
		}
		s.cache.put(tableName, key, body, gen)
		return body, nil
	})
	if err == nil {
		s.outage.recovered(s.log)
		return v.([]byte), nil
	}
	var re *RequestError
	if errors.As(err, &re) {
		return nil, err
	}
	return s.lastKnown(tableName, key, err)
}

func (s *Server) databaseDown() bool {
	return s.health != nil && s.health.Down()
}

// lastKnown answers a lookup the database cannot: with the last known
// rows, or err when there are none.
func (s *Server) lastKnown(tableName, key string, err error) ([]byte, error) {
	s.metrics.dbErrors.WithLabelValues(tableName).Inc()
	if body, age, ok := s.cache.stale(tableName, key); ok {
		s.metrics.stale.WithLabelValues(tableName).Inc()
		s.outage.servedStale(s.log, tableName, age, err)
		return body, nil
	}
	s.outage.failed(s.log, tableName, err)
	return nil, err
}

func (s *Server) serveLookup(w http.ResponseWriter, r *http.Request, t *table, req *Request) {
	single := req.Verb == VerbSingle
	body, err := s.cachedLookup(r.Context(), t.Name, lookupKey(req), func(ctx context.Context) ([]byte, error) {
		q, args, err := s.build.selectRows(t, req.Where, single)
		if err != nil {
			return nil, err
		}
		rows, err := s.query(ctx, q, args...)
		if err != nil {
			return nil, err
		}
		defer rows.Close()
		return encodeRows(t, rows, req.Where[0].Column, single)
	})
	if err != nil {
		status := http.StatusServiceUnavailable
		var re *RequestError
		if errors.As(err, &re) {
			status = http.StatusBadRequest
			s.log.Warn("realtime: bad request", "family", t.Name, "verb", req.Verb, "err", err)
		}
		fail(w, req.Verb, status)
		return
	}
	reply(w, body)
}

func (s *Server) serveStatic(w http.ResponseWriter, r *http.Request, body []byte) {
	req, err := ParseRequest(VerbStatic, r.URL.RawQuery, string(body), nil)
	if err != nil {
		s.log.Warn("realtime: bad request", "verb", VerbStatic, "err", err)
		fail(w, VerbStatic, http.StatusBadRequest)
		return
	}
	out, err := s.cachedLookup(r.Context(), staticTable, "static\x00"+req.File, func(ctx context.Context) ([]byte, error) {
		rows, err := s.query(ctx, s.build.staticRows(), req.File)
		if err != nil {
			return nil, err
		}
		defer rows.Close()
		var b []byte
		for rows.Next() {
			var metric int64
			var cat, name, val string
			if err := rows.Scan(&metric, &cat, &name, &val); err != nil {
				return nil, err
			}
			b = append(b, "category="...)
			b = AppendEscaped(b, cat)
			b = append(b, "&var_name="...)
			b = AppendEscaped(b, name)
			b = append(b, "&var_val="...)
			b = AppendEscaped(b, val)
			b = append(b, "&cat_metric="...)
			b = strconv.AppendInt(b, metric, 10)
			b = append(b, '\n')
		}
		return b, rows.Err()
	})
	if err != nil {
		fail(w, VerbStatic, http.StatusServiceUnavailable)
		return
	}
	reply(w, out)
}

// serveRequire answers whether the table can hold what Asterisk asks for, from
// the schema read at start: 0 when it can, -1 (with a warning naming the
// column) when a column is missing or too small.
func (s *Server) serveRequire(w http.ResponseWriter, t *table, req *Request) {
	ok := true
	for _, rq := range req.Require {
		if msg := t.canHold(rq); msg != "" {
			ok = false
			s.log.Warn("realtime: Asterisk requires a column the table cannot hold", "family", t.Name, "column", rq.Column, "requires", rq.Type+":"+strconv.Itoa(rq.Size), "why", msg)
		}
	}
	if !ok {
		replyCount(w, -1)
		return
	}
	replyCount(w, 0)
}

// canHold applies the rules res_config_odbc's require uses: a text column
// must be long enough for the value (integers and dates by their printed
// width), a number column must be asked for a number, a date column for a
// date. It returns why not, or "".
func (t *table) canHold(rq Requirement) string {
	c, ok := t.column(rq.Column)
	if !ok {
		return "no such column"
	}
	width, isInt := map[string]int{
		"integer1": 4, "uinteger1": 3, "integer2": 6, "uinteger2": 5, "integer3": 8, "uinteger3": 8,
		"integer4": 11, "uinteger4": 10, "integer8": 20, "uinteger8": 19,
	}[rq.Type]
	switch c.Kind {
	case kindText, kindEnum:
		need := rq.Size
		switch {
		case isInt:
			need = width
		case rq.Type == "date":
			need = 10
		case rq.Type == "datetime":
			need = 19
		}
		if c.Kind == kindText && c.Size > 0 && c.Size < need {
			return fmt.Sprintf("column holds %d characters, %d needed", c.Size, need)
		}
	case kindInt:
		if !isInt {
			return "integer column, " + rq.Type + " asked"
		}
	case kindFloat, kindDecimal:
		if !isInt && rq.Type != "float" {
			return "number column, " + rq.Type + " asked"
		}
	case kindTime:
		if rq.Type != "date" && rq.Type != "datetime" {
			return "date column, " + rq.Type + " asked"
		}
	}
	return ""
}

func (s *Server) serveWrite(w http.ResponseWriter, r *http.Request, t *table, req *Request) {
	if !writable[t.Name] {
		s.log.Warn("realtime: refused a write to a table derived from the directory; change it through the API", "family", t.Name, "verb", req.Verb)
		fail(w, req.Verb, http.StatusForbidden)
		return
	}
	var (
		q    string
		args []any
		err  error
	)
	switch req.Verb {
	case VerbStore:
		q, args, err = s.build.insert(t, req.Set)
	case VerbUpdate:
		q, args, err = s.build.update(t, req.Set, req.Where)
	case VerbDestroy:
		q, args, err = s.build.delete(t, req.Where)
	}
	if err != nil {
		s.log.Warn("realtime: bad request", "family", t.Name, "verb", req.Verb, "err", err)
		fail(w, req.Verb, http.StatusBadRequest)
		return
	}
	if s.databaseDown() {
		// Not logged per write: the health monitor logged the outage.
		s.metrics.dbErrors.WithLabelValues(t.Name).Inc()
		fail(w, req.Verb, http.StatusServiceUnavailable)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.timeout)
	defer cancel()
	res, err := s.db.ExecContext(ctx, q, args...)
	if err == nil {
		var n int64
		if n, err = res.RowsAffected(); err == nil {
			// Invalidate even when nothing matched: cheap, and never wrong.
			s.cache.invalidate(t.Name)
			replyCount(w, n)
			return
		}
	}
	status := http.StatusInternalServerError
	if !store.IsUniqueViolation(err) {
		s.metrics.dbErrors.WithLabelValues(t.Name).Inc()
	}
	switch {
	case store.IsUniqueViolation(err):
		status = http.StatusConflict
	case store.IsUnavailable(err) || errors.Is(err, context.DeadlineExceeded):
		status = http.StatusServiceUnavailable
	}
	s.log.Warn("realtime: write failed", "family", t.Name, "verb", req.Verb, "err", err)
	fail(w, req.Verb, status)
}

// encodeRows writes rows the way res_config_curl reads them: one line per
// row, key=value pairs joined by '&', NULL columns left out (except the
// first lookup column of a multi, which names the row, and alwaysPresent
// columns), every key and value escaped by AppendEscaped.
func encodeRows(t *table, rows *sql.Rows, first string, single bool) ([]byte, error) {
	names, err := rows.Columns()
	if err != nil {
		return nil, err
	}
	cols := make([]*column, len(names))
	keep := make([]bool, len(names))
	always := alwaysPresent[t.Name]
	for i, n := range names {
		c, ok := t.column(n)
		if !ok {
			// A column added after start (a migration run by hand):
			// serve it as text.
			c = &column{Name: n, Kind: kindText}
		}
		cols[i] = c
		keep[i] = (!single && strings.EqualFold(n, first)) || slices.ContainsFunc(always, func(a string) bool { return strings.EqualFold(a, n) })
	}
	vals := make([]any, len(names))
	ptrs := make([]any, len(names))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	var b []byte
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return nil, err
		}
		sep := false
		for i, c := range cols {
			v, null := formatValue(c, vals[i])
			if null && !keep[i] {
				continue
			}
			chunks := []string{v}
			if c.Kind == kindText && !null {
				chunks = odbcChunks(v)
			}
			for _, ch := range chunks {
				if sep {
					b = append(b, '&')
				}
				sep = true
				b = AppendEscaped(b, c.Name)
				b = append(b, '=')
				b = AppendEscaped(b, ch)
			}
		}
		b = append(b, '\n')
		if single {
			break
		}
	}
	return b, rows.Err()
}

// formatValue prints a scanned value as Asterisk expects to read it.
func formatValue(c *column, v any) (s string, null bool) {
	switch x := v.(type) {
	case nil:
		return "", true
	case []byte:
		return string(x), false
	case string:
		return x, false
	case int64:
		return strconv.FormatInt(x, 10), false
	case uint64:
		return strconv.FormatUint(x, 10), false
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64), false
	case float32:
		return strconv.FormatFloat(float64(x), 'f', -1, 32), false
	case bool:
		if x {
			return "1", false
		}
		return "0", false
	case time.Time:
		return x.Format("2006-01-02 15:04:05.999999"), false
	}
	return fmt.Sprint(v), false
}

// outage remembers whether the database is failing, so that the log says
// once — not once per REGISTER — that omniccd is serving the last known rows,
// and says again when the database is back.
type outage struct {
	now func() time.Time

	isDown atomic.Bool // lets every successful lookup skip the mutex

	mu       sync.Mutex
	down     bool
	since    time.Time
	lastLog  time.Time
	stale    int
	failures int
}

const outageLogEvery = 30 * time.Second

func (o *outage) servedStale(log *slog.Logger, table string, age time.Duration, err error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.stale++
	now := o.now()
	if !o.down {
		o.down, o.since = true, now
		o.isDown.Store(true)
	} else if now.Sub(o.lastLog) < outageLogEvery {
		return
	}
	o.lastLog = now
	log.Warn("realtime: database unreachable; serving the last known rows to Asterisk",
		"family", table, "rows_age", age.Round(time.Millisecond), "down_for", now.Sub(o.since).Round(time.Millisecond),
		"stale_replies", o.stale, "err", err)
}

func (o *outage) failed(log *slog.Logger, table string, err error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.failures++
	now := o.now()
	if !o.down {
		o.down, o.since = true, now
		o.isDown.Store(true)
	} else if now.Sub(o.lastLog) < outageLogEvery {
		return
	}
	o.lastLog = now
	log.Error("realtime: database unreachable and no last known rows for this lookup; Asterisk gets \"not found\"",
		"family", table, "down_for", now.Sub(o.since).Round(time.Millisecond), "failed_replies", o.failures, "err", err)
}

func (o *outage) recovered(log *slog.Logger) {
	if !o.isDown.Load() {
		return
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if !o.down {
		return
	}
	log.Info("realtime: database reachable again", "down_for", o.now().Sub(o.since).Round(time.Millisecond),
		"stale_replies", o.stale, "failed_replies", o.failures)
	o.down, o.stale, o.failures = false, 0, 0
	o.isDown.Store(false)
}
