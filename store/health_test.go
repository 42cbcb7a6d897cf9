package store_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"omnicc/store"
	"omnicc/storetest"
)

// fakePinger fails while err is set, and hangs until its context ends while
// hang is set, as a stalled server does.
type fakePinger struct {
	mu   sync.Mutex
	err  error
	hang bool
}

func (f *fakePinger) set(err error, hang bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.err, f.hang = err, hang
}

func (f *fakePinger) PingContext(ctx context.Context) error {
	f.mu.Lock()
	err, hang := f.err, f.hang
	f.mu.Unlock()
	if hang {
		<-ctx.Done()
		return ctx.Err()
	}
	return err
}

func TestHealthFollowsThePings(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		hang bool
	}{
		{"failed ping", errors.New("connection refused"), false},
		{"ping that never answers", nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				p := &fakePinger{}
				var changes []bool
				h := store.NewHealth(p, store.HealthOptions{Interval: time.Second, Timeout: 500 * time.Millisecond,
					OnChange: func(up bool) { changes = append(changes, up) }})
				ctx, cancel := context.WithCancel(t.Context())
				done := make(chan error, 1)
				go func() { done <- h.Run(ctx) }()

				synctest.Wait()
				up := h.UpContext()
				if h.Down() || up.Err() != nil {
					t.Fatal("down before any failed ping")
				}
				p.set(tc.err, tc.hang)
				time.Sleep(time.Second) // the next tick
				synctest.Wait()
				if tc.hang {
					// The ping is still waiting for its timeout.
					if h.Down() {
						t.Fatal("down before the ping timed out")
					}
					time.Sleep(500 * time.Millisecond)
					synctest.Wait()
				}
				if !h.Down() {
					t.Fatal("not down after a failed ping")
				}
				if !errors.Is(context.Cause(up), store.ErrUnavailable) {
					t.Fatalf("the up context of the work in flight ended with %v, want ErrUnavailable", context.Cause(up))
				}
				if h.UpContext().Err() == nil {
					t.Fatal("while down, UpContext must return an ended context")
				}

				p.set(nil, false)
				time.Sleep(time.Second)
				synctest.Wait()
				if h.Down() || h.UpContext().Err() != nil {
					t.Fatal("still down after an answered ping")
				}
				if len(changes) != 2 || changes[0] || !changes[1] {
					t.Fatalf("OnChange calls = %v, want [false true]", changes)
				}
				cancel()
				if err := <-done; !errors.Is(err, context.Canceled) {
					t.Fatalf("Run returned %v", err)
				}
			})
		})
	}
}

// The monitor against a real MariaDB that stops answering: a ping through
// the frozen proxy times out, and the first ping after the thaw — over a
// new connection, since the driver drops the one whose ping timed out —
// brings it back.
func TestHealthSeesARealStall(t *testing.T) {
	db, proxy := storetest.StallableMariaDB(t, nil)
	changed := make(chan bool, 4)
	h := store.NewHealth(db.Pool(store.PoolHealth), store.HealthOptions{
		Interval: 100 * time.Millisecond, Timeout: 200 * time.Millisecond,
		OnChange: func(up bool) { changed <- up },
	})
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- h.Run(ctx) }()
	defer func() {
		cancel()
		<-done
	}()
	if err := h.Check(t.Context()); err != nil {
		t.Fatalf("ping before the stall: %v", err)
	}
	proxy.Freeze()
	if up := <-changed; up || !h.Down() {
		t.Fatal("want down during the stall")
	}
	proxy.Thaw()
	if up := <-changed; !up || h.Down() {
		t.Fatal("want up after the stall")
	}
}
