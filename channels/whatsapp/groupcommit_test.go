package whatsapp_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"omnicc/channels/whatsapp"
	"omnicc/clock"
	"omnicc/store"
	"omnicc/storetest"
)

// Concurrent deliveries share transactions (group commit): whatever batch
// each lands in, every wamid is stored once, counted new by exactly one
// delivery, and each conversation's window ends 24 hours after its latest
// message, also when a delivery carries several messages and customers.
func TestConcurrentDeliveriesStoredOnce(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := t.Context()
		fc := clock.NewFake(t0)
		st := whatsapp.NewStore(db, fc)
		acct, err := st.CreateAccount(ctx, whatsapp.AccountInput{Name: ptr("M"), Provider: ptr("meta"), PhoneNumberID: ptr("1"),
			AccessToken: ptr("a"), AppSecret: ptr("s"), VerifyToken: ptr("v")})
		if err != nil {
			t.Fatal(err)
		}
		const deliveries, customers = 120, 7
		msg := func(n int) whatsapp.InboundMessage {
			return whatsapp.InboundMessage{ExternalID: fmt.Sprintf("wamid.G%d", n), From: fmt.Sprintf("3930000%02d", n%customers),
				Kind: whatsapp.KindText, Body: "hi", At: t0.Add(-time.Duration(100-n%100) * time.Second)}
		}
		var mu sync.Mutex
		added := 0
		var wg sync.WaitGroup
		for i := range deliveries {
			wg.Go(func() {
				// Each delivery: its own message, a redelivery of an
				// earlier one, and one more customer's message.
				msgs := []whatsapp.InboundMessage{msg(i), msg(i / 2), msg(i + 1000)}
				n, err := st.SaveInbound(ctx, acct.ID, msgs)
				if err != nil {
					t.Error(err)
				}
				mu.Lock()
				added += n
				mu.Unlock()
			})
		}
		wg.Wait()
		distinct := map[string]bool{}
		latest := map[string]time.Time{}
		for i := range deliveries {
			for _, m := range []whatsapp.InboundMessage{msg(i), msg(i / 2), msg(i + 1000)} {
				distinct[m.ExternalID] = true
				if m.At.After(latest[m.From]) {
					latest[m.From] = m.At
				}
			}
		}
		var rows int
		if err := db.GetContext(ctx, &rows, `SELECT COUNT(*) FROM whatsapp_messages WHERE account_id = ?`, acct.ID); err != nil {
			t.Fatal(err)
		}
		if rows != len(distinct) || added != len(distinct) {
			t.Fatalf("%d rows stored, %d counted new, want %d each", rows, added, len(distinct))
		}
		for from, at := range latest {
			exp, err := st.WindowExpiresAt(ctx, acct.ID, from)
			if err != nil {
				t.Fatal(err)
			}
			if !exp.Equal(at.Add(whatsapp.Window)) {
				t.Errorf("window of %s ends %s, want %s", from, exp, at.Add(whatsapp.Window))
			}
		}
	})
}
