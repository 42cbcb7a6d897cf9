package api_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"omnicc/api"
	"omnicc/auth"
	"omnicc/channels/whatsapp"
	"omnicc/directory"
	"omnicc/store"
	"omnicc/storetest"
)

// BenchmarkWhatsAppWebhook drives the real Meta webhook handler over HTTP
// with correctly signed deliveries, open loop at 500 a second, one in ten a
// redelivery of a recent wamid, against the real store; b.N is the number
// of deliveries. It reports the ack latency (signature, parse, durable
// store, 200) as p50-ms and p99-ms, and checks afterwards that each
// distinct wamid is exactly one stored message. The README's figures:
//
//	go test -run '^$' -bench WhatsAppWebhook -benchtime 5000x ./api/
func BenchmarkWhatsAppWebhook(b *testing.B) {
	b.Run("sqlite", func(b *testing.B) { benchWebhook(b, storetest.SQLite(b)) })
	b.Run("mariadb", func(b *testing.B) { benchWebhook(b, storetest.MariaDB(b)) })
}

func benchWebhook(b *testing.B, db *store.DB) {
	const (
		rate      = 500
		customers = 200
		secret    = "made-up-app-secret"
	)
	ctx := b.Context()
	st := whatsapp.NewStore(db, nil)
	conn, err := whatsapp.New(whatsapp.Options{Store: st, PublicURL: publicURL})
	if err != nil {
		b.Fatal(err)
	}
	dir := directory.New(db, directory.Options{ExtensionLow: 1000, ExtensionHigh: 1999, BcryptCost: 4})
	// Errors only: a failed delivery's cause shows in the output.
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	s, err := api.New(api.Options{DB: db, Directory: dir, Auth: auth.New(db, dir, auth.Options{}), PublicURL: publicURL,
		MaxBodyBytes: 1 << 20, Logger: logger, Mounts: []func(*api.Router){api.NewWhatsApp(conn, nil).Mount}})
	if err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	str := func(s string) *string { return &s }
	acct, err := st.CreateAccount(ctx, whatsapp.AccountInput{Name: str("Meta"), Provider: str("meta"),
		PhoneNumberID: str("106540352242922"), AccessToken: str("made-up-access-token"), AppSecret: str(secret),
		VerifyToken: str("made-up-verify-token"), APIBaseURL: str("http://127.0.0.1:9")})
	if err != nil {
		b.Fatal(err)
	}
	hook := fmt.Sprintf("%s/api/v1/webhooks/whatsapp/%d", srv.URL, acct.ID)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1024}}
	defer client.CloseIdleConnections()

	n := b.N
	bodies := make([][]byte, n)
	unique := 0
	for i := range n {
		m := i
		if i%10 == 9 && i >= 5 {
			m = i - 5 // a redelivery of a recent message: the same body
		} else {
			unique++
		}
		c := m % customers
		bodies[i] = metaTextDelivery(c, "wamid.BENCH"+strconv.Itoa(m), "message "+strconv.Itoa(m))
	}
	lat := make([]time.Duration, n)
	failed := make([]error, n)
	var wg sync.WaitGroup
	before := db.Stats()
	b.ResetTimer()
	start := time.Now()
	for i := range n {
		// Open loop: each delivery leaves on its schedule whatever the
		// earlier ones are doing, as Meta's would.
		if d := time.Until(start.Add(time.Duration(i) * time.Second / rate)); d > 0 {
			time.Sleep(d)
		}
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			t0 := time.Now()
			failed[i] = postSigned(ctx, client, hook, secret, bodies[i])
			lat[i] = time.Since(t0)
		}(i)
	}
	wg.Wait()
	b.StopTimer()
	for i, err := range failed {
		if err != nil {
			b.Fatalf("delivery %d: %v", i, err)
		}
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[n/2])/float64(time.Millisecond), "p50-ms")
	b.ReportMetric(float64(lat[min(n-1, n*99/100)])/float64(time.Millisecond), "p99-ms")
	b.ReportMetric(float64(lat[n-1])/float64(time.Millisecond), "max-ms")
	// Time deliveries spent waiting for a free connection of the pool the
	// webhook uses: where the ack went when each delivery held one across
	// its own commit.
	after := db.Stats()
	b.ReportMetric(float64(after.WaitDuration-before.WaitDuration)/float64(time.Millisecond)/float64(n), "pool-wait-ms/op")
	var stored, distinct int
	if err := db.QueryRowContext(ctx, `SELECT COUNT(*), COUNT(DISTINCT external_id) FROM whatsapp_messages
 WHERE account_id = ? AND direction = 'in'`, acct.ID).Scan(&stored, &distinct); err != nil {
		b.Fatal(err)
	}
	if stored != unique || distinct != unique {
		b.Fatalf("%d messages stored for %d distinct wamids, want %d: each wamid exactly once", stored, distinct, unique)
	}
}

// metaTextDelivery is a Meta webhook delivery of one text message from
// customer c (wa_id 3930000<c>), with the given wamid and text.
func metaTextDelivery(c int, wamid, text string) []byte {
	return []byte(fmt.Sprintf(`{"object":"whatsapp_business_account","entry":[{"id":"102290129340398","changes":[{"field":"messages","value":{"messaging_product":"whatsapp","metadata":{"display_phone_number":"15550783881","phone_number_id":"106540352242922"},"contacts":[{"profile":{"name":"Bench %d"},"wa_id":"3930000%05d"}],"messages":[{"from":"3930000%05d","id":%q,"timestamp":"1749416383","type":"text","text":{"body":%q}}]}}]}]}`,
		c, c, c, wamid, text))
}

// postSigned sends raw to the webhook signed with secret, as Meta does; an
// answer other than 200 is an error.
func postSigned(ctx context.Context, client *http.Client, hook, secret string, raw []byte) error {
	req, _ := http.NewRequestWithContext(ctx, "POST", hook, bytes.NewReader(raw))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Hub-Signature-256", whatsapp.SignMeta(secret, raw))
	res, err := client.Do(req)
	if err != nil {
		return err
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("HTTP %d", res.StatusCode)
	}
	return nil
}
