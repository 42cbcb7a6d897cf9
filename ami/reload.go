package ami

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/jmoiron/sqlx"

	"omnicc/clock"
	"omnicc/directory"
)

// PJSIPModule is the module whose reload makes Asterisk see AORs created
// after it loaded: res_pjsip's qualify/availability tracking
// (pjsip_options.c) builds its list of AORs at load and reload only, so an
// agent's endpoint created through the API while Asterisk runs stays
// "Unavailable" — for qualify_frequency=0 (webrtc, mobile) forever — and
// app_queue never rings it.
const PJSIPModule = "res_pjsip.so"

// DefaultReloadWindow is how long a Reloader gathers requests before it
// reloads: a bulk import of agents costs one reload, not one each.
const DefaultReloadWindow = time.Second

// ReloaderOptions configure a Reloader; every field has a default.
type ReloaderOptions struct {
	// Module is the module reloaded; default PJSIPModule.
	Module string
	// Window: requests within this time of the first one are served by one
	// reload per box. Default DefaultReloadWindow.
	Window time.Duration
	Clock  Clock
	Logger *slog.Logger
	// Sent, if set, is told the outcome of every reload sent ("ok",
	// "rejected", "failed"), for metrics.
	Sent func(box, result string)
}

// Reloader sends a debounced `Action: Reload` of one module to every box.
// Request marks every box as owed a reload; the reload goes out at most
// Window after the request, to every box connected then. A box that is down
// keeps what it is owed and gets it after its next login (the OnConnect
// hook), so a reconnect never leaves Asterisk blind to an agent created
// meanwhile; a failure is logged once and not retried in a loop.
type Reloader struct {
	pool *Pool
	opts ReloaderOptions
	log  *slog.Logger

	mu   sync.Mutex
	owed map[string]bool // box → a reload is due
	// agents whose AOR changed in a transaction not yet reported by
	// directory.OnChange.
	agents map[int64]bool
	wake   chan struct{} // capacity 1: a pending signal to Run
}

// NewReloader returns a reloader over pool and registers its OnConnect hook
// (call it before pool.Run).
func NewReloader(pool *Pool, opts ReloaderOptions) *Reloader {
	if opts.Module == "" {
		opts.Module = PJSIPModule
	}
	if opts.Window <= 0 {
		opts.Window = DefaultReloadWindow
	}
	if opts.Clock == nil {
		opts.Clock = clock.Wall
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	r := &Reloader{pool: pool, opts: opts, log: opts.Logger, owed: make(map[string]bool), agents: make(map[int64]bool), wake: make(chan struct{}, 1)}
	pool.OnConnect(r.connected)
	return r
}

// Request asks for a reload of every box; it never blocks.
func (r *Reloader) Request() {
	r.mu.Lock()
	for _, c := range r.pool.Clients() {
		r.owed[c.Box()] = true
	}
	r.mu.Unlock()
	r.signal()
}

func (r *Reloader) signal() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// connected wakes Run when a box that missed a reload logs in again. It
// never fails: a reload that cannot be sent must not drop the connection.
func (r *Reloader) connected(_ context.Context, c *Client) error {
	r.mu.Lock()
	due := r.owed[c.Box()]
	r.mu.Unlock()
	if due {
		r.signal()
	}
	return nil
}

// Run sends the reloads until ctx ends.
func (r *Reloader) Run(ctx context.Context) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-r.wake:
		}
		// Gather the rest of the burst.
		select {
		case <-ctx.Done():
			return nil
		case <-r.opts.Clock.After(r.opts.Window):
		}
		// The requests of the window are all served by this flush: drop
		// their signal so that a burst costs one window, not two.
		select {
		case <-r.wake:
		default:
		}
		r.flush(ctx)
	}
}

// flush reloads every owed box that is connected.
func (r *Reloader) flush(ctx context.Context) {
	for _, c := range r.pool.Clients() {
		box := c.Box()
		r.mu.Lock()
		due := r.owed[box]
		r.mu.Unlock()
		if !due || !c.Connected() {
			continue
		}
		// Cleared before sending: a Request arriving while the reload
		// runs marks the box again and is served by the next window.
		r.mu.Lock()
		delete(r.owed, box)
		r.mu.Unlock()
		_, err := c.Action(ctx, NewAction("Reload", "Module", r.opts.Module))
		var ae *ActionError
		switch {
		case err == nil:
			r.report(box, "ok")
			r.log.Info("reloaded so that Asterisk qualifies new agents' AORs", "box", box, "module", r.opts.Module)
		case errors.As(err, &ae):
			// Most likely manager.conf lacks `write = system`: retrying
			// cannot help, the next agent change tries again.
			r.report(box, "rejected")
			r.log.Error("Asterisk refused to reload "+r.opts.Module+"; new agents stay unreachable until it is reloaded: grant the AMI user `system` write permission in manager.conf",
				"box", box, "asterisk_message", ae.Message)
		default:
			// Lost connection or timeout: owed again, sent after the next login.
			r.report(box, "failed")
			r.mu.Lock()
			r.owed[box] = true
			r.mu.Unlock()
			r.log.Warn("reload of "+r.opts.Module+" not sent; it is sent after the box reconnects", "box", box, "err", err)
		}
	}
}

func (r *Reloader) report(box, result string) {
	if r.opts.Sent != nil {
		r.opts.Sent(box, result)
	}
}

// Projector wraps the directory's projector so that a change to what
// Asterisk's qualify tracking knows of an agent — its AOR appearing,
// disappearing, being renamed or changing typology (qualify_frequency) or
// static host — asks for a reload once the change is committed (Changed,
// registered with directory.OnChange). Changes that leave the AOR as it was
// (a name, a pause setting, queue links) reload nothing.
func (r *Reloader) Projector(inner directory.Projector) directory.Projector {
	return &reloadProjector{Projector: inner, r: r}
}

// Changed is the directory.OnChange hook that pairs with Projector: the
// reload is requested only after the transaction that changed the agent
// has committed, so that Asterisk reads the new rows.
func (r *Reloader) Changed(c directory.Change) {
	// An agent is a user with the same id; a change made through the
	// users' side (disabling the account) reports Entity "user".
	if c.Entity != "agent" && c.Entity != "user" {
		return
	}
	r.mu.Lock()
	due := r.agents[c.ID]
	delete(r.agents, c.ID)
	r.mu.Unlock()
	if due {
		r.Request()
	}
}

type reloadProjector struct {
	directory.Projector
	r *Reloader
}

func (p *reloadProjector) AgentSaved(ctx context.Context, tx *sqlx.Tx, before, after *directory.Agent) error {
	if err := p.Projector.AgentSaved(ctx, tx, before, after); err != nil {
		return err
	}
	if aorChanged(before, after) {
		p.r.markAgent(after.ID)
	}
	return nil
}

func (p *reloadProjector) AgentDeleted(ctx context.Context, tx *sqlx.Tx, a *directory.Agent) error {
	if err := p.Projector.AgentDeleted(ctx, tx, a); err != nil {
		return err
	}
	// A deleted AOR stays in the qualify list (harmless but stale) until a
	// reload; dropping it keeps `pjsip show aors` honest.
	if hasAOR(a) {
		p.r.markAgent(a.ID)
	}
	return nil
}

func (r *Reloader) markAgent(id int64) {
	r.mu.Lock()
	r.agents[id] = true
	r.mu.Unlock()
}

// hasAOR mirrors realtime's rule for which agents get PJSIP rows.
func hasAOR(a *directory.Agent) bool {
	return a != nil && !a.Disabled && a.Typology != directory.TypologyExternal && a.Username != ""
}

// aorChanged reports whether before→after changes the AOR pjsip_options
// tracks: its existence, id, qualify_frequency (set by typology) or static
// contact (host).
func aorChanged(before, after *directory.Agent) bool {
	b, a := hasAOR(before), hasAOR(after)
	if b != a {
		return true
	}
	if !a {
		return false
	}
	return before.Username != after.Username || before.Typology != after.Typology || before.Host != after.Host
}
