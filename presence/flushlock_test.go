package presence_test

import (
	"context"
	"database/sql"
	"testing"
	"time"

	"omnicc/presence"
	"omnicc/storetest"
)

// A write-behind flush stuck in the database must not hold up a REST login
// or logout: before, a global writeMu was held across the flush's
// transaction and every saveSession waited for it. The flush is stuck on
// a table lock held from another connection on agent_daily_counters, a
// table a login never writes.
func TestSessionWriteDoesNotWaitForAStuckFlush(t *testing.T) {
	db := storetest.MariaDB(t)
	r := newRig(t, db)
	a := r.agent("erin", "webrtc", nil)
	b := r.agent("fred", "webrtc", nil)
	q := r.queue("sales", "voice", 0)
	r.link(a, q, 0, false)
	r.link(b, q, 0, false)
	r.load()
	r.run()
	ctx := t.Context()
	if _, err := r.svc.Login(ctx, a.ID, presence.SourceAPI); err != nil {
		t.Fatal(err)
	}

	// Lock the counters table from a connection of our own.
	locker, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer locker.Close()
	if _, err := locker.ExecContext(ctx, `LOCK TABLES agent_daily_counters WRITE`); err != nil {
		t.Fatal(err)
	}
	unlocked := false
	unlock := func() {
		if !unlocked {
			unlocked = true
			locker.ExecContext(context.Background(), `UNLOCK TABLES`)
		}
	}
	defer unlock()

	// A missed ring changes erin's counters: the flush that follows waits
	// on the lock.
	apply := func(ev presence.VoiceFact) {
		ev.Box, ev.Agent, ev.Queue = "b1", "PJSIP/erin", "sales"
		r.svc.ApplyVoice(&ev)
	}
	apply(presence.VoiceFact{Kind: presence.VoiceMemberAdded, Membership: presence.MembershipDynamic, Device: presence.DeviceIdle, Status: 1, StateDevice: "PJSIP/erin"})
	apply(presence.VoiceFact{Kind: presence.VoiceRinging, CallID: "c1", CallerNum: "5551", Leg: "PJSIP/erin-01"})
	apply(presence.VoiceFact{Kind: presence.VoiceRingMissed, CallID: "c1", RingTime: 15000})
	waitForLockWait(t, db.DB.DB)

	// Fred logs in, erin logs out, while the flush is stuck. The bound
	// only turns "waits for the lock forever" into a failure (a mutex does
	// not listen to a context).
	done := make(chan error, 1)
	go func() {
		if _, err := r.svc.Login(ctx, b.ID, presence.SourceAPI); err != nil {
			done <- err
			return
		}
		_, err := r.svc.Logout(ctx, a.ID, presence.SourceAPI)
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("login/logout while a flush is stuck: %v", err)
		}
	case <-time.After(20 * time.Second):
		unlock()
		<-done
		t.Fatal("login and logout waited for a flush stuck in the database")
	}
	unlock()

	// Once the flush goes through, the database has the latest sessions:
	// fred in, erin out — the stuck flush's older snapshot of erin's
	// session is not left behind.
	deadline := time.Now().Add(20 * time.Second)
	for {
		_, _, erinIn := r.sessionRow(a.ID)
		_, _, fredIn := r.sessionRow(b.ID)
		if !erinIn && fredIn {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("sessions in the database: erin %v (want out), fred %v (want in)", erinIn, fredIn)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitForLockWait returns once some connection waits for a table lock.
func waitForLockWait(t *testing.T, db *sql.DB) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		var n int
		if err := db.QueryRow(`SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE DB = DATABASE() AND STATE LIKE 'Waiting for table%' AND INFO LIKE '%agent_daily_counters%'`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n > 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("no flush ever waited for the counters table")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
