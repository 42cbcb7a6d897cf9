package ami_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"omnicc/ami"
	"omnicc/ami/amitest"
	"omnicc/directory"
	"omnicc/presence"
	"omnicc/store"
	"omnicc/storetest"
)

// BenchmarkApplyEvents parses the captured queue scenario and applies every
// event to agent state: the tracker's whole per-event path (Reader, event
// dispatch, presence's state machine, the agent_state event built for the
// websocket, history rows queued). The history writer runs on SQLite beside
// it, as in omniccd, so its CPU is in events/cpu-s.
func BenchmarkApplyEvents(b *testing.B) {
	stream, n, _ := eventStream(b)
	db := storetest.SQLite(b)
	dir := directory.New(db, directory.Options{BcryptCost: 4})
	var published int
	svc := presence.New(presence.Options{DB: db, Directory: dir, Names: ami.Names{}, Logger: slog.New(slog.DiscardHandler),
		Publisher: presence.PublisherFunc(func(presence.Event) { published++ })})
	s := func(v string) *string { return &v }
	var ids []int64
	for _, u := range []string{"200", "201"} {
		a, err := dir.CreateAgent(b.Context(), directory.AgentInput{FullName: s("Agent " + u), Username: s("agent" + u),
			Typology: s("external"), ExternalNumber: s(u), Context: s("agents-test"), Password: s("Str0ng-Pass")})
		if err != nil {
			b.Fatal(err)
		}
		ids = append(ids, a.ID)
	}
	q, err := dir.CreateQueue(b.Context(), directory.QueueInput{Name: s("sales"), Channel: s("voice"), Strategy: s("ringall")})
	if err != nil {
		b.Fatal(err)
	}
	for _, id := range ids {
		if err := dir.AddQueueMember(b.Context(), directory.MembershipInput{QueueID: q.ID, AgentID: id}); err != nil {
			b.Fatal(err)
		}
	}
	if err := svc.Load(b.Context()); err != nil {
		b.Fatal(err)
	}
	pool, _ := ami.NewPool(nil, ami.Config{})
	tracker := ami.NewTracker(pool, svc, ami.TrackerOptions{Logger: slog.New(slog.DiscardHandler)})
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { _ = svc.Run(ctx) })
	defer func() { cancel(); wg.Wait() }()

	src := bytes.NewReader(stream)
	r := ami.NewReader(bufio.NewReaderSize(src, 32<<10), ami.Limits{})
	at := time.Now()
	b.SetBytes(int64(len(stream)))
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := cpuTime()
	for b.Loop() {
		src.Reset(stream)
		r.Reset(src)
		got := 0
		for {
			m, err := r.ReadMessage()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			tracker.Apply("bench", at, m)
			got++
		}
		if got != n {
			b.Fatalf("applied %d messages, want %d", got, n)
		}
	}
	b.StopTimer()
	reportRates(b, float64(n)*float64(b.N), cpuTime()-cpu0)
	b.ReportMetric(float64(n), "events/op")
	st, _ := svc.State(b.Context(), ids[0])
	if st.Counters.Answered != b.N || published == 0 {
		b.Fatalf("after %d passes agent200 answered %d calls, %d events published", b.N, st.Counters.Answered, published)
	}
}

// BenchmarkResync2000 is the resync and reconcile that follow every AMI
// connect, for 2,000 logged-in agents in one queue, against amitest over
// TCP: QueueStatus (2,000 members), CoreShowChannels, DeviceStateList,
// presence's resync and the reconcile plan. in_sync: Asterisk already has
// every member (nothing to correct). after_restart: Asterisk lost them all,
// so each op also sends 2,000 QueueAdds and takes their QueueMemberAdded
// events. The fake Asterisk runs in the same process: its CPU is in the
// figures.
func BenchmarkResync2000(b *testing.B) {
	const agents = 2000
	db := storetest.SQLite(b)
	ifaces := seedAgents(b, db, agents)
	dir := directory.New(db, directory.Options{})
	svc := presence.New(presence.Options{DB: db, Directory: dir, Names: ami.Names{}, Logger: slog.New(slog.DiscardHandler)})
	if err := svc.Load(b.Context()); err != nil {
		b.Fatal(err)
	}
	srv := amitest.NewServer(b, testUser, testSecret)
	queues := amitest.NewQueues(srv, "sales")
	fill := func() {
		for _, iface := range ifaces {
			queues.Add(amitest.QueueMember{Queue: "sales", Interface: iface, MemberName: iface, StateInterface: iface})
		}
	}
	pool, err := ami.NewPool([]ami.BoxConfig{{Addr: srv.Addr(), Username: testUser, Secret: testSecret}},
		ami.Config{PingInterval: time.Hour, ActionTimeout: time.Minute, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	tracker := ami.NewTracker(pool, svc, ami.TrackerOptions{Logger: slog.New(slog.DiscardHandler)})
	svc.SetController(tracker)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { _ = svc.Run(ctx) })
	wg.Go(func() { _ = tracker.Run(ctx) })
	wg.Go(func() { _ = pool.Run(ctx) })
	defer func() { cancel(); wg.Wait() }()
	c := pool.Clients()[0]
	for !c.Connected() {
		time.Sleep(time.Millisecond)
	}

	b.Run("in_sync", func(b *testing.B) {
		queues.Restart()
		fill()
		b.ReportAllocs()
		for b.Loop() {
			if err := tracker.OnConnect(ctx, c); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(agents), "members")
		if n := len(srv.Actions("QueueAdd")); n != 0 {
			b.Fatalf("%d QueueAdds for members that were there", n)
		}
	})
	b.Run("after_restart", func(b *testing.B) {
		b.ReportAllocs()
		adds := len(srv.Actions("QueueAdd"))
		for b.Loop() {
			b.StopTimer()
			queues.Restart()
			b.StartTimer()
			if err := tracker.OnConnect(ctx, c); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(agents), "members")
		if got := len(queues.Members()); got != agents {
			b.Fatalf("%d members after the reconcile, want %d", got, agents)
		}
		if n := len(srv.Actions("QueueAdd")) - adds; n != agents*b.N {
			b.Fatalf("%d QueueAdds, want %d", n, agents*b.N)
		}
	})
}

// seedAgents writes n logged-in agents assigned to queue "sales" straight
// into the database (bcrypt per agent would dominate the setup) and returns
// their member interfaces.
func seedAgents(b *testing.B, db *store.DB, n int) []string {
	b.Helper()
	ctx := b.Context()
	now := time.Now().UTC().Truncate(time.Microsecond)
	if _, err := db.ExecContext(ctx, `INSERT INTO cc_queues (name, channel, strategy, created_at, updated_at) VALUES ('sales', 'voice', 'ringall', ?, ?)`, now, now); err != nil {
		b.Fatal(err)
	}
	var qid int64
	if err := db.GetContext(ctx, &qid, `SELECT id FROM cc_queues WHERE name = 'sales'`); err != nil {
		b.Fatal(err)
	}
	ifaces := make([]string, 0, n)
	tx, err := db.BeginTxx(ctx, nil)
	if err != nil {
		b.Fatal(err)
	}
	for i := range n {
		u := fmt.Sprintf("agent%04d", i)
		res, err := tx.ExecContext(ctx, `INSERT INTO users (role, username, full_name, password_hash, typology, extension, created_at, updated_at)
 VALUES ('agent', ?, ?, 'x', 'webrtc', ?, ?, ?)`, u, "Agent "+u, fmt.Sprint(10000+i), now, now)
		if err != nil {
			b.Fatal(err)
		}
		id, _ := res.LastInsertId()
		if _, err := tx.ExecContext(ctx, `INSERT INTO agent_queues (user_id, queue_id, penalty, permanent) VALUES (?, ?, 0, 0)`, id, qid); err != nil {
			b.Fatal(err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO agent_sessions (agent_id, logged_in_at, source, updated_at) VALUES (?, ?, 'api', ?)`, id, now, now); err != nil {
			b.Fatal(err)
		}
		ifaces = append(ifaces, "PJSIP/"+u)
	}
	if err := tx.Commit(); err != nil {
		b.Fatal(err)
	}
	return ifaces
}
