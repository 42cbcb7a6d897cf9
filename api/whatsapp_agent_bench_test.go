package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"omnicc/api"
	"omnicc/auth"
	"omnicc/channels/whatsapp"
	"omnicc/directory"
	"omnicc/presence"
	"omnicc/router"
	"omnicc/store"
	"omnicc/storetest"
)

// BenchmarkWhatsAppWebhookToAgent is issue 13's end to end: signed Meta
// deliveries over real HTTP at 500 a second, one in ten a redelivery,
// through the connector, the router, the event bus and the websocket hub
// to the agent's socket. Each of 200 customers has an interaction the
// agent already holds (auto-answer), so every new message is one websocket
// `message` event. It reports the ack (p50/p99-ack-ms) and delivery to the
// agent's socket (p50/p99-agent-ms), and checks that each distinct wamid is
// one stored message and one event, and that a redelivery is neither.
//
//	go test -run '^$' -bench WhatsAppWebhookToAgent -benchtime 5000x ./api/
func BenchmarkWhatsAppWebhookToAgent(b *testing.B) {
	b.Run("sqlite", func(b *testing.B) { benchWebhookToAgent(b, storetest.SQLite(b)) })
	b.Run("mariadb", func(b *testing.B) { benchWebhookToAgent(b, storetest.MariaDB(b)) })
}

func benchWebhookToAgent(b *testing.B, db *store.DB) {
	const (
		rate      = 500
		customers = 200
		secret    = "made-up-app-secret"
	)
	ctx, cancel := context.WithCancel(b.Context())
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	dir := directory.New(db, directory.Options{ExtensionLow: 1000, ExtensionHigh: 1999, BcryptCost: 4})
	if _, _, err := dir.EnsureAdmin(ctx, adminPassword); err != nil {
		b.Fatal(err)
	}
	authn := auth.New(db, dir, auth.Options{LockoutThreshold: 5})
	hub, err := api.NewHub(api.HubOptions{Auth: authn, Logger: logger})
	if err != nil {
		b.Fatal(err)
	}
	var rt *router.Router
	pres := presence.New(presence.Options{DB: db, Directory: dir, Controller: nopQueues{}, FlushDelay: -1, EventWait: -1,
		Publisher: presence.PublisherFunc(func(e presence.Event) {
			hub.Publish(e)
			if rt != nil {
				rt.Observe(e)
			}
		})})
	rt = router.New(router.Options{DB: db, Presence: pres, Directory: dir, Publisher: hub, Logger: logger})
	conn, err := whatsapp.New(whatsapp.Options{Store: whatsapp.NewStore(db, nil), PublicURL: publicURL, Logger: logger,
		Inbox: whatsapp.RouterInbox{Router: rt}, Statuses: whatsapp.RouterStatuses{Router: rt}})
	if err != nil {
		b.Fatal(err)
	}
	rt.SetSender(whatsapp.Channel, whatsapp.RouterSender{Connector: conn})
	s, err := api.New(api.Options{DB: db, Directory: dir, Auth: authn, PublicURL: publicURL, MaxBodyBytes: 1 << 20, Logger: logger,
		Mounts: []func(*api.Router){hub.Mount, api.NewInteractions(rt).Mount, api.NewWhatsApp(conn, rt).Mount}})
	if err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(s.Handler())
	var wg sync.WaitGroup
	defer func() {
		cancel()
		wg.Wait()
		srv.Close()
	}()
	wg.Go(func() { _ = hub.Run(ctx) })
	wg.Go(func() { _ = conn.Run(ctx) })

	str := func(s string) *string { return &s }
	q, err := dir.CreateQueue(ctx, directory.QueueInput{Name: str("wa"), Channel: str("whatsapp"), Strategy: str("roundrobin")})
	if err != nil {
		b.Fatal(err)
	}
	yes, zero := true, 0
	ann, err := dir.CreateAgent(ctx, directory.AgentInput{FullName: str("Ann"), Username: str("ann"), Typology: str(directory.TypologyWebRTC),
		Password: str("Str0ng-Pass"), Channels: map[string]directory.ChannelInput{"whatsapp": {Capacity: &zero, AutoAnswer: &yes, AutoAnswerDelay: &zero}}})
	if err != nil {
		b.Fatal(err)
	}
	if err := dir.AddQueueMember(ctx, directory.MembershipInput{QueueID: q.ID, AgentID: ann.ID}); err != nil {
		b.Fatal(err)
	}
	if err := pres.Load(ctx); err != nil {
		b.Fatal(err)
	}
	if err := rt.Load(ctx); err != nil {
		b.Fatal(err)
	}
	if _, err := pres.Login(ctx, ann.ID, "api"); err != nil {
		b.Fatal(err)
	}
	st := whatsapp.NewStore(db, nil)
	acct, err := st.CreateAccount(ctx, whatsapp.AccountInput{Name: str("Meta"), Provider: str("meta"), QueueID: &q.ID,
		PhoneNumberID: str("106540352242922"), AccessToken: str("made-up-access-token"), AppSecret: str(secret),
		VerifyToken: str("made-up-verify-token"), APIBaseURL: str("http://127.0.0.1:9")})
	if err != nil {
		b.Fatal(err)
	}
	token := benchLogin(b, srv.URL, "ann", "Str0ng-Pass")
	ws, _, err := websocket.DefaultDialer.DialContext(ctx, "ws"+strings.TrimPrefix(srv.URL, "http")+"/api/v1/ws",
		http.Header{"Authorization": {"Bearer " + token}})
	if err != nil {
		b.Fatal(err)
	}
	defer ws.Close()

	hook := fmt.Sprintf("%s/api/v1/webhooks/whatsapp/%d", srv.URL, acct.ID)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1024}}
	defer client.CloseIdleConnections()
	body := func(c, m int) []byte {
		return metaTextDelivery(c, "wamid.AGENT"+strconv.Itoa(m), "m"+strconv.Itoa(m))
	}
	post := func(raw []byte) error { return postSigned(ctx, client, hook, secret, raw) }

	// The agent's socket: the time each message's event arrives, by its
	// number (m<N>), and every duplicate event.
	n := b.N
	arrived := make([]time.Time, n+customers)
	var mu sync.Mutex
	events, dupEvents := 0, 0
	gotAll := make(chan struct{}, 1)
	want := -1
	wg.Go(func() {
		for {
			var ev struct {
				Type    string `json:"type"`
				Message struct {
					Body      string `json:"body"`
					Direction string `json:"direction"`
				} `json:"message"`
			}
			if err := ws.ReadJSON(&ev); err != nil {
				return
			}
			if ev.Type != "message" || ev.Message.Direction != "in" || !strings.HasPrefix(ev.Message.Body, "m") {
				continue
			}
			i, err := strconv.Atoi(ev.Message.Body[1:])
			if err != nil || i >= len(arrived) {
				continue
			}
			now := time.Now()
			mu.Lock()
			if arrived[i].IsZero() {
				arrived[i] = now
				events++
			} else {
				dupEvents++
			}
			if events == want {
				select {
				case gotAll <- struct{}{}:
				default:
				}
			}
			mu.Unlock()
		}
	})

	// Warm-up, not measured: each customer's first message opens the
	// interaction Ann auto-answers.
	for c := range customers {
		if err := post(body(c, n+c)); err != nil {
			b.Fatal(err)
		}
	}
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		var accepted int
		if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM interactions WHERE status = 'accepted' AND agent_id = ?`, ann.ID).Scan(&accepted); err != nil {
			b.Fatal(err)
		}
		if accepted == customers {
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("%d of %d interactions auto-answered", accepted, customers)
		}
	}
	mu.Lock()
	events, want = 0, 0
	for i := range n {
		if !(i%10 == 9 && i >= 5) {
			want++
		}
	}
	mu.Unlock()

	sent := make([]time.Time, n)
	ack := make([]time.Duration, n)
	failed := make([]error, n)
	var posts sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for i := range n {
		if d := time.Until(start.Add(time.Duration(i) * time.Second / rate)); d > 0 {
			time.Sleep(d)
		}
		m := i
		if i%10 == 9 && i >= 5 {
			m = i - 5 // a redelivery of a recent message
		}
		raw := body(m%customers, m)
		posts.Add(1)
		go func(i, m int) {
			defer posts.Done()
			t0 := time.Now()
			if m == i {
				sent[i] = t0
			}
			failed[i] = post(raw)
			ack[i] = time.Since(t0)
		}(i, m)
	}
	posts.Wait()
	select {
	case <-gotAll:
	case <-time.After(60 * time.Second):
	}
	b.StopTimer()
	for i, err := range failed {
		if err != nil {
			b.Fatalf("delivery %d: %v", i, err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if events != want || dupEvents != 0 {
		b.Fatalf("%d message events for %d distinct messages (%d duplicates): want each exactly once", events, want, dupEvents)
	}
	var agent []time.Duration
	for i := range n {
		if !sent[i].IsZero() {
			agent = append(agent, arrived[i].Sub(sent[i]))
		}
	}
	slices.Sort(ack)
	slices.Sort(agent)
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	b.ReportMetric(ms(ack[n/2]), "p50-ack-ms")
	b.ReportMetric(ms(ack[min(n-1, n*99/100)]), "p99-ack-ms")
	b.ReportMetric(ms(agent[len(agent)/2]), "p50-agent-ms")
	b.ReportMetric(ms(agent[min(len(agent)-1, len(agent)*99/100)]), "p99-agent-ms")
	var stored, distinct int
	if err := db.QueryRowContext(ctx, `SELECT COUNT(*), COUNT(DISTINCT external_id) FROM whatsapp_messages
 WHERE account_id = ? AND direction = 'in'`, acct.ID).Scan(&stored, &distinct); err != nil {
		b.Fatal(err)
	}
	if stored != want+customers || distinct != want+customers {
		b.Fatalf("%d messages stored for %d distinct wamids, want %d: each wamid exactly once", stored, distinct, want+customers)
	}
}

func benchLogin(b *testing.B, base, user, pw string) string {
	raw, _ := json.Marshal(map[string]string{"username": user, "password": pw})
	res, err := http.Post(base+"/api/v1/auth/login", "application/json", bytes.NewReader(raw))
	if err != nil {
		b.Fatal(err)
	}
	defer res.Body.Close()
	var out struct{ Token string }
	if err := json.NewDecoder(res.Body).Decode(&out); err != nil || out.Token == "" {
		b.Fatalf("login %s: %d %v", user, res.StatusCode, err)
	}
	return out.Token
}
