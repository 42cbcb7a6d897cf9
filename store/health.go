package store

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// ErrUnavailable is the cause of a context the health monitor ended because
// the database stopped answering: REST turns it into 503
// database_unavailable.
var ErrUnavailable = errors.New("store: the database does not answer")

// Pinger is what the health monitor checks: a *DB, or a fake in tests.
type Pinger interface {
	PingContext(ctx context.Context) error
}

// HealthOptions configure a Health monitor; the zero value is usable.
type HealthOptions struct {
	// Interval between pings (default DefaultHealthInterval).
	Interval time.Duration
	// Timeout of one ping (default DefaultHealthTimeout): a database
	// slower than that to answer a ping on an idle connection of its own is
	// as good as down for callers waiting on it.
	Timeout time.Duration
	Logger  *slog.Logger
	// OnChange, when set, is called after each change with the new state
	// (true: answering again), on the monitor's goroutine.
	OnChange func(up bool)
}

// The defaults find a stall within a second of its start (the next ping
// at most 500 ms later, failing 500 ms after that), which is the promise
// REST makes: 503 within 1 s, not after the stall.
const (
	DefaultHealthInterval = 500 * time.Millisecond
	DefaultHealthTimeout  = 500 * time.Millisecond
)

// Health knows whether the database is known to be unavailable, so that
// callers who would wait on it (REST, realtime, FastAGI) fail or degrade at
// once instead of each waiting out its own timeout. It pings the database
// every Interval with a Timeout from its own goroutine (Run); one failed or
// slow ping marks the database down, one answered ping marks it up again.
// A single slow ping is enough on purpose: the ping runs on a pool of its
// own (store.PoolHealth), so it waits for nothing but the database.
type Health struct {
	ping     Pinger
	interval time.Duration
	timeout  time.Duration
	log      *slog.Logger
	onChange func(bool)

	down atomic.Bool // read on every request: no lock

	mu      sync.Mutex
	since   time.Time
	upCtx   context.Context // ended with ErrUnavailable when the database goes down
	upEnd   context.CancelCauseFunc
	lastErr error
}

// NewHealth builds a monitor of p that starts out believing the database up
// (Open has just pinged it); Run starts the pings.
func NewHealth(p Pinger, o HealthOptions) *Health {
	if o.Interval <= 0 {
		o.Interval = DefaultHealthInterval
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultHealthTimeout
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	h := &Health{ping: p, interval: o.Interval, timeout: o.Timeout, log: o.Logger, onChange: o.OnChange}
	h.upCtx, h.upEnd = context.WithCancelCause(context.Background())
	return h
}

// Down reports whether the database is known to be unavailable: the last
// ping failed or did not answer within the timeout.
func (h *Health) Down() bool {
	return h != nil && h.down.Load()
}

// UpContext returns a context that ends, with cause ErrUnavailable, when
// the database is found down. Work in flight when a stall starts hooks its
// own context to it (context.AfterFunc) and fails then, instead of waiting
// for the database. While the database is down it returns an ended
// context; after recovery, a fresh one.
func (h *Health) UpContext() context.Context {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.upCtx
}

// Run pings until ctx ends.
func (h *Health) Run(ctx context.Context) error {
	t := time.NewTicker(h.interval)
	defer t.Stop()
	for {
		_ = h.Check(ctx)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

// Check pings once now and records the result, which it returns. A ping
// cut short because ctx itself ended records nothing.
func (h *Health) Check(ctx context.Context) error {
	pctx, cancel := context.WithTimeout(ctx, h.timeout)
	err := h.ping.PingContext(pctx)
	cancel()
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if err != nil {
		err = fmt.Errorf("ping (timeout %s): %w", h.timeout, err)
	}
	h.record(err)
	return err
}

func (h *Health) record(err error) {
	h.mu.Lock()
	changed := (err != nil) != h.down.Load()
	now := time.Now()
	switch {
	case !changed:
		h.lastErr = err
	case err != nil:
		h.down.Store(true)
		h.since, h.lastErr = now, err
		h.upEnd(ErrUnavailable)
		h.log.Error("database unavailable: REST answers 503 database_unavailable, realtime serves the last known rows, FastAGI routes calls without the caller's contact, until it answers again",
			"err", err)
	default:
		h.down.Store(false)
		h.upCtx, h.upEnd = context.WithCancelCause(context.Background())
		h.log.Info("database answers again", "down_for", now.Sub(h.since).Round(time.Millisecond), "last_err", h.lastErr)
		h.lastErr = nil
	}
	h.mu.Unlock()
	if changed && h.onChange != nil {
		h.onChange(err == nil)
	}
}
