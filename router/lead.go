package router

import (
	"context"
	"time"

	"golang.org/x/sync/errgroup"
)

// ResyncEvery is how often the router's leader among several instances
// rebuilds from the database what the others changed: interactions they
// queued, offers accepted or rejected through them, transfers they started.
// With the fan-out on, an "interaction" event from another instance
// rebuilds at once.
const ResyncEvery = 2 * time.Second

// resyncGap is the least wall-clock time between two rebuilds: under a
// steady flow of accepts and closes through other instances, each of which
// asks for one, the events of that time share one rebuild rather than
// rereading every open interaction back to back. (A queued interaction is
// offered from its event, without a rebuild: remote.go.)
const resyncGap = 200 * time.Millisecond

// SetLeading says whether this router offers interactions. A router is
// leading when built (one instance, as on SQLite); among several instances
// only the leader's router offers and keeps the offers' timers, and the
// others store what arrives, answer REST and leave the offering to it.
func (r *Router) SetLeading(on bool) { r.follower.Store(!on) }

// Lead is the router's work while this instance leads it: Run and Follow.
// shared says several instances may run (MySQL): then the router rebuilds
// from the database first — what the last leader offered, re-offering what
// timed out or was left pending — and again every ResyncEvery, and goes
// back to following when ctx ends.
func (r *Router) Lead(ctx context.Context, src EventSource, shared bool) error {
	if shared {
		r.SetLeading(true)
		defer r.SetLeading(false)
		if err := r.Load(ctx); err != nil {
			return err
		}
	}
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return r.Run(gctx) })
	g.Go(func() error { return r.Follow(gctx, src) })
	if shared {
		wake := make(chan struct{}, 1)
		r.resync.Store(&wake)
		defer r.resync.Store(nil)
		g.Go(func() error {
			for {
				select {
				case <-gctx.Done():
					return nil
				case <-wake:
				case <-r.clock.After(ResyncEvery):
				}
				if err := r.Load(gctx); err != nil && gctx.Err() == nil {
					r.log.Warn("router: resync from the database", "err", err)
				}
				select {
				case <-gctx.Done():
				case <-time.After(resyncGap):
				}
			}
		})
	}
	return g.Wait()
}
