package ami_test

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"omnicc/ami"
	"omnicc/ami/amitest"
	"omnicc/presence"
)

// An action Asterisk does not answer in time is pending for presence, and
// still a timeout for whoever looks: both are in the error's chain.
func TestQueueActionTimeoutIsPendingAndTimeout(t *testing.T) {
	checkLeaks(t)
	synctest.Test(t, func(t *testing.T) {
		srv := amitest.NewPipeServer(t, testUser, testSecret)
		srv.Handle("QueueAdd", amitest.NoReply)
		cfg := testConfig(t, srv)
		cfg.Dial = srv.Dial
		pool, err := ami.NewPool([]ami.BoxConfig{{Addr: srv.Addr(), Username: testUser, Secret: testSecret}}, cfg)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { _ = pool.Run(ctx); close(done) }()
		defer func() { cancel(); <-done }()
		if err := srv.WaitLogins(testCtx(t), 1); err != nil {
			t.Fatal(err)
		}
		for !pool.Clients()[0].Connected() {
			time.Sleep(time.Millisecond)
		}
		actions := ami.NewQueueActions(pool, nil)
		actx, acancel := context.WithTimeout(context.Background(), time.Second)
		defer acancel()
		err = actions.QueueAdd(actx, presence.Member{Queue: "sales", Interface: "PJSIP/alice"})
		if !errors.Is(err, presence.ErrPending) || !errors.Is(err, ami.ErrTimeout) {
			t.Fatalf("got %v; want ErrPending and ErrTimeout in its chain", err)
		}
	})
}
