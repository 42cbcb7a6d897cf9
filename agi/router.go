package agi

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
)

// Handler serves one FastAGI session. Returning ends the session: the
// server then closes the socket. An error is logged and, while the channel
// is alive, reported to the dialplan in OMNICC_ERROR.
type Handler interface {
	ServeAGI(ctx context.Context, s *Session) error
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(ctx context.Context, s *Session) error

// ServeAGI calls f.
func (f HandlerFunc) ServeAGI(ctx context.Context, s *Session) error { return f(ctx, s) }

// ErrUnknownScript: no handler is registered for the script in the URL.
var ErrUnknownScript = errors.New("agi: unknown script")

// PublicError carries a reason safe to show in the dialplan: handlers wrap
// errors in it to choose the OMNICC_ERROR text. Any other error shows as
// "internal error", so database or network details never reach a channel
// variable (and a CDR or a caller-facing announcement after it).
type PublicError struct {
	Reason string // short, for OMNICC_ERROR
	Err    error  // the full cause, for the log
}

func (e *PublicError) Error() string {
	if e.Err == nil {
		return e.Reason
	}
	return e.Reason + ": " + e.Err.Error()
}

func (e *PublicError) Unwrap() error { return e.Err }

// Router sends each session to the handler registered for its script name
// (agi://host:4573/<script>?query). It is safe to register handlers while
// serving.
type Router struct {
	mu       sync.RWMutex
	handlers map[string]Handler
}

// NewRouter returns an empty router.
func NewRouter() *Router {
	return &Router{handlers: make(map[string]Handler)}
}

// Handle registers h for script, given with or without its leading slash
// ("/inbound" or "inbound"). It panics on an empty name, a query string, a
// nil handler or a second registration: all are wiring mistakes.
func (r *Router) Handle(script string, h Handler) {
	name := strings.TrimLeft(script, "/")
	switch {
	case name == "":
		panic("agi: Router.Handle: empty script name")
	case strings.ContainsAny(name, "?\n"):
		panic(fmt.Sprintf("agi: Router.Handle: script name %q holds a query or line break", script))
	case h == nil:
		panic(fmt.Sprintf("agi: Router.Handle: nil handler for %q", script))
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, dup := r.handlers[name]; dup {
		panic(fmt.Sprintf("agi: Router.Handle: script %q registered twice", script))
	}
	r.handlers[name] = h
}

// HandleFunc registers f for script.
func (r *Router) HandleFunc(script string, f func(ctx context.Context, s *Session) error) {
	r.Handle(script, HandlerFunc(f))
}

// ServeAGI runs the handler for the session's script. An unknown script is
// an error whose public reason is "unknown script <name>".
func (r *Router) ServeAGI(ctx context.Context, s *Session) error {
	name := s.Request().Script
	r.mu.RLock()
	h, ok := r.handlers[name]
	r.mu.RUnlock()
	if !ok {
		return &PublicError{Reason: "unknown script " + name, Err: ErrUnknownScript}
	}
	return h.ServeAGI(ctx, s)
}
