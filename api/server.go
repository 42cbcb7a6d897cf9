// Package api is omniccd's REST API (Gin, under /api/v1) plus the health,
// readiness and metrics endpoints. Every route is registered with the roles
// that may call it; only the few listed as public skip authentication.
package api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"omnicc/auth"
	"omnicc/directory"
	"omnicc/store"
)

// Options wire the server to the rest of omniccd.
type Options struct {
	Addr           string
	MaxBodyBytes   int64
	TrustedProxies []string
	// PublicURL prefixes invitation links.
	PublicURL string
	Logger    *slog.Logger
	DB        *store.DB
	// Health, when set, lets REST answer 503 database_unavailable at once
	// while the database is known to be down (see databaseGuard).
	Health *store.Health
	// DBTimeout bounds a request's database work (OMNICC_HTTP_DB_TIMEOUT,
	// default DefaultDBTimeout). Websockets are exempt.
	DBTimeout time.Duration
	Directory *directory.Directory
	Auth      *auth.Service
	// Realtime, when set, serves /realtime/* (res_config_curl); it does its
	// own address and basic-auth checks.
	Realtime http.Handler
	// Registry collects metrics; nil makes a private one.
	Registry *prometheus.Registry
	// ShutdownTimeout bounds the drain of in-flight requests.
	ShutdownTimeout time.Duration
	// Mounts let other adapters add routes (with their roles) before serving.
	Mounts []func(*Router)
	// Instance names this instance in /readyz (OMNICC_INSTANCE_ID).
	Instance string
	// Roles, when set, lists what this instance leads right now
	// (leader.Elector.Roles): ami:<host:port>, router, cron:<job>.
	Roles func() []string
	// FanOutConnected, when set, says whether the event fan-out between
	// instances reaches NATS; nil means the fan-out is off.
	FanOutConnected func() bool
}

// Server is the HTTP side of omniccd.
type Server struct {
	opts   Options
	log    *slog.Logger
	engine *gin.Engine
	router *Router
	// bodyLimits: routes with their own body cap ("METHOD /api/v1/path").
	bodyLimits map[string]int64
}

// New builds the server and registers every route.
func New(opts Options) (*Server, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.MaxBodyBytes == 0 {
		opts.MaxBodyBytes = 1 << 20
	}
	if opts.ShutdownTimeout == 0 {
		opts.ShutdownTimeout = 15 * time.Second
	}
	if opts.DBTimeout <= 0 {
		opts.DBTimeout = DefaultDBTimeout
	}
	if opts.Registry == nil {
		opts.Registry = prometheus.NewRegistry()
		opts.Registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}
	gin.SetMode(gin.ReleaseMode)
	e := gin.New()
	// No proxy is trusted unless configured, so X-Forwarded-For cannot be
	// used to fake a client address (it matters for /realtime's allowlist).
	if err := e.SetTrustedProxies(opts.TrustedProxies); err != nil {
		return nil, err
	}
	if len(opts.TrustedProxies) == 0 {
		e.ForwardedByClientIP = false
	}
	e.HandleMethodNotAllowed = true
	s := &Server{opts: opts, log: opts.Logger, engine: e}
	m := newMetrics(opts.Registry)
	if opts.DB != nil {
		if err := opts.Registry.Register(opts.DB.Collector(opts.Health)); err != nil {
			return nil, fmt.Errorf("api: register the database pool metrics: %w", err)
		}
	}
	e.Use(s.recovery(), m.middleware(), s.limitBody())
	e.NoRoute(func(c *gin.Context) {
		writeError(c, http.StatusNotFound, "not_found", "no such route: "+c.Request.Method+" "+c.Request.URL.Path, "")
	})
	e.NoMethod(func(c *gin.Context) {
		writeError(c, http.StatusMethodNotAllowed, "method_not_allowed", c.Request.Method+" is not allowed on "+c.Request.URL.Path, "")
	})

	e.GET("/healthz", func(c *gin.Context) { c.JSON(http.StatusOK, gin.H{"status": "ok"}) })
	e.GET("/readyz", s.readyz)
	e.GET("/metrics", gin.WrapH(promhttp.HandlerFor(opts.Registry, promhttp.HandlerOpts{})))
	if opts.Realtime != nil {
		e.Any("/realtime/*path", gin.WrapH(opts.Realtime))
	}

	// Every /api/v1 route needs the database but openapi.yaml, which is
	// registered outside the guard (PublicNoDatabase).
	s.router = &Router{s: s, group: e.Group("/api/v1", s.databaseGuard()), bare: e.Group("/api/v1")}
	s.registerRoutes(s.router)
	for _, mount := range opts.Mounts {
		mount(s.router)
	}
	return s, nil
}

// Handler is the whole HTTP surface, for tests and for embedding.
func (s *Server) Handler() http.Handler { return s.engine }

// Routes lists the registered /api/v1 routes with their roles.
func (s *Server) Routes() []RouteInfo { return s.router.routes }

// Run serves on Options.Addr until ctx ends, then drains in-flight requests.
func (s *Server) Run(ctx context.Context) error {
	ln, err := net.Listen("tcp", s.opts.Addr)
	if err != nil {
		return err
	}
	return s.Serve(ctx, ln)
}

// Serve is Run on an existing listener.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler:           s.engine,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	s.log.Info("http listening", "addr", ln.Addr().String())
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), s.opts.ShutdownTimeout)
	defer cancel()
	err := srv.Shutdown(sctx)
	if serr := <-errc; serr != nil && !errors.Is(serr, http.ErrServerClosed) {
		return serr
	}
	return err
}

func (s *Server) readyz(c *gin.Context) {
	if s.opts.Health.Down() {
		// The monitor pings twice a second; a ping of our own would only
		// make the caller wait for the same answer.
		writeError(c, http.StatusServiceUnavailable, "database_unreachable", "the database does not answer the health monitor's pings", "")
		return
	}
	ctx, cancel := context.WithTimeout(c.Request.Context(), 2*time.Second)
	defer cancel()
	if err := s.opts.DB.PingContext(ctx); err != nil {
		writeError(c, http.StatusServiceUnavailable, "database_unreachable", "the database does not answer: "+err.Error(), "")
		return
	}
	roles := []string{}
	if s.opts.Roles != nil {
		roles = append(roles, s.opts.Roles()...)
	}
	// NATS down leaves this instance serving its own sockets: ready, and
	// saying so rather than leaving the load balancer's rotation.
	fanOut := "off"
	if s.opts.FanOutConnected != nil {
		fanOut = "disconnected"
		if s.opts.FanOutConnected() {
			fanOut = "connected"
		}
	}
	c.JSON(http.StatusOK, gin.H{"status": "ready", "database": string(s.opts.DB.Dialect), "instance": s.opts.Instance, "roles": roles,
		"fanout": fanOut})
}

func (s *Server) recovery() gin.HandlerFunc {
	return func(c *gin.Context) {
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				s.log.Error("panic in handler", "path", c.Request.URL.Path, "panic", p)
				writeError(c, http.StatusInternalServerError, "internal", "internal error", "")
				c.Abort()
			}
		}()
		c.Next()
	}
}

// limitBody caps every request body; a larger one fails its decode with 413.
// A route registered with BodyLimit has its own cap (file uploads).
func (s *Server) limitBody() gin.HandlerFunc {
	return func(c *gin.Context) {
		if c.Request.Body != nil {
			limit := s.opts.MaxBodyBytes
			if n, ok := s.bodyLimits[c.Request.Method+" "+c.FullPath()]; ok {
				limit = n
			}
			c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, limit)
		}
		c.Next()
	}
}

// BodyLimit gives one route its own body cap instead of
// OMNICC_HTTP_MAX_BODY (an upload of a 15 MB attachment). Call it from Mount.
func (r *Router) BodyLimit(method, path string, n int64) {
	if r.s.bodyLimits == nil {
		r.s.bodyLimits = map[string]int64{}
	}
	r.s.bodyLimits[method+" /api/v1"+path] = n
}

// RouteInfo is one registered route and who may call it.
type RouteInfo struct {
	Method string
	Path   string // Gin form, e.g. /api/v1/agents/:id
	Roles  []directory.Role
	Public bool
}

// Router registers /api/v1 routes with their roles.
type Router struct {
	s      *Server
	group  *gin.RouterGroup
	bare   *gin.RouterGroup // the same prefix without the database guard
	routes []RouteInfo
}

// Public registers a route anyone may call.
func (r *Router) Public(method, path string, h gin.HandlerFunc) {
	r.routes = append(r.routes, RouteInfo{Method: method, Path: "/api/v1" + path, Public: true})
	r.group.Handle(method, path, h)
}

// PublicNoDatabase registers a public route that never touches the
// database, so it keeps answering while the database is down.
func (r *Router) PublicNoDatabase(method, path string, h gin.HandlerFunc) {
	r.routes = append(r.routes, RouteInfo{Method: method, Path: "/api/v1" + path, Public: true})
	r.bare.Handle(method, path, h)
}

// Handle registers a route for the given roles. RoleAgent entries may be
// narrowed further by the handler (an agent reading only itself).
func (r *Router) Handle(method, path string, roles []directory.Role, h gin.HandlerFunc) {
	if len(roles) == 0 {
		panic("api: route " + method + " " + path + " has no roles: use Public for open routes")
	}
	r.routes = append(r.routes, RouteInfo{Method: method, Path: "/api/v1" + path, Roles: roles})
	r.group.Handle(method, path, r.s.authenticate(), requireRole(roles), h)
}

// Role sets used by the routes.
var (
	adminOnly    = []directory.Role{directory.RoleAdmin}
	staff        = []directory.Role{directory.RoleAdmin, directory.RoleSupervisor}
	everyone     = []directory.Role{directory.RoleAdmin, directory.RoleSupervisor, directory.RoleAgent}
	AdminOnly    = adminOnly
	Staff        = staff
	AnyoneSigned = everyone
)

const principalKey = "omnicc.principal"

func (s *Server) authenticate() gin.HandlerFunc {
	return func(c *gin.Context) {
		h := c.GetHeader("Authorization")
		token, ok := strings.CutPrefix(h, "Bearer ")
		if !ok || token == "" {
			c.Header("WWW-Authenticate", `Bearer realm="omnicc"`)
			writeError(c, http.StatusUnauthorized, "unauthenticated", "send Authorization: Bearer <token> (POST /api/v1/auth/login) or an API key", "")
			c.Abort()
			return
		}
		p, err := s.opts.Auth.Authenticate(c.Request.Context(), strings.TrimSpace(token))
		if err != nil {
			s.fail(c, err)
			c.Abort()
			return
		}
		c.Set(principalKey, p)
		c.Next()
	}
}

func requireRole(roles []directory.Role) gin.HandlerFunc {
	return func(c *gin.Context) {
		p := principal(c)
		for _, r := range roles {
			if p.Role == r {
				c.Next()
				return
			}
		}
		writeError(c, http.StatusForbidden, "forbidden", "role "+string(p.Role)+" may not "+c.Request.Method+" "+c.FullPath(), "")
		c.Abort()
	}
}

// principal is the authenticated caller of the request.
func principal(c *gin.Context) auth.Principal {
	v, _ := c.Get(principalKey)
	p, _ := v.(auth.Principal)
	return p
}

// Principal is exported for routes other packages mount.
func Principal(c *gin.Context) auth.Principal { return principal(c) }
