package api_test

import (
	"bytes"
	"flag"
	"fmt"
	"net/http"
	"sort"
	"sync"
	"testing"
	"time"

	"omnicc/channels/whatsapp"
	"omnicc/store"
	"omnicc/storetest"
)

var whatsAppLoad = flag.Duration("whatsapp.load", 0, "run the WhatsApp webhook load test for this long (e.g. 10s)")

// TestWhatsAppWebhookLoad posts signed Meta deliveries at 500/s, 10% of them
// redeliveries of an earlier wamid, and reports the webhook's answer time
// (signature check + parse + durable store) — the README's figures. Run with
// go test ./api -run WhatsAppWebhookLoad -whatsapp.load=10s
func TestWhatsAppWebhookLoad(t *testing.T) {
	if *whatsAppLoad == 0 {
		t.Skip("set -whatsapp.load=10s to run")
	}
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w := newWAEnv(t, db)
		aid := w.metaAccount()
		hook := fmt.Sprintf("%s/api/v1/webhooks/whatsapp/%d", w.srv.URL, aid)
		const rate = 500
		total := int(whatsAppLoad.Seconds() * rate)
		client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256}}
		lat := make([]time.Duration, total)
		var wg sync.WaitGroup
		var failed sync.Map
		unique := 0
		tick := time.NewTicker(time.Second / rate)
		defer tick.Stop()
		for i := 0; i < total; i++ {
			<-tick.C
			n := i
			if i%10 == 9 {
				n = i - 5 // a redelivery of a recent message
			} else {
				unique++
			}
			body := []byte(fmt.Sprintf(`{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"field":"messages","value":{"messaging_product":"whatsapp","metadata":{"display_phone_number":"15550783881","phone_number_id":"106540352242922"},"contacts":[{"profile":{"name":"Load %d"},"wa_id":"3930000%05d"}],"messages":[{"from":"3930000%05d","id":"wamid.LOAD%d","timestamp":"1749416383","type":"text","text":{"body":"message %d"}}]}}]}]}`, n%200, n%200, n%200, n, n))
			wg.Add(1)
			go func(i int, body []byte) {
				defer wg.Done()
				req, _ := http.NewRequest("POST", hook, bytes.NewReader(body))
				req.Header.Set("X-Hub-Signature-256", whatsapp.SignMeta("made-up-app-secret", body))
				start := time.Now()
				res, err := client.Do(req)
				lat[i] = time.Since(start)
				if err != nil || res.StatusCode != 200 {
					failed.Store(i, err)
				}
				if res != nil {
					res.Body.Close()
				}
			}(i, body)
		}
		wg.Wait()
		failed.Range(func(k, v any) bool { t.Errorf("delivery %v failed: %v", k, v); return false })
		sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
		stored := w.count(`SELECT COUNT(*) FROM whatsapp_messages`)
		t.Logf("%s: %d deliveries at %d/s (10%% duplicates): p50 %v, p99 %v, max %v; %d stored for %d unique wamids",
			storetest.Name(db), total, rate, lat[total/2], lat[total*99/100], lat[total-1], stored, unique)
		if stored != unique {
			t.Fatalf("%d stored, want %d (duplicates must not be stored)", stored, unique)
		}
	})
}
