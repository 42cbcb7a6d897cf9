package desk_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"omnicc/browsertest"
	"omnicc/router"
)

// Outside the 24-hour window a WhatsApp conversation takes templates only:
// the page says the window is closed, offers the templates available to
// agents on that account, and sending one reaches the provider.
func TestDeskWhatsAppClosedWindowSendsATemplate(t *testing.T) {
	var mu sync.Mutex
	var sent []string
	provider := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, _ := io.ReadAll(r.Body)
		mu.Lock()
		sent = append(sent, string(raw))
		n := len(sent)
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"messaging_product":"whatsapp","messages":[{"id":"wamid.out%d"}]}`, n)
	}))
	t.Cleanup(provider.Close)
	e := newDeskEnv(t, envOptions{whatsappAPI: provider})
	var q, acct, tpl struct{ ID int64 }
	e.do("POST", "/api/v1/queues", e.admin, map[string]any{"name": "wa", "channel": "whatsapp", "strategy": "beepall"}, &q, 201)
	e.do("POST", "/api/v1/whatsapp-accounts", e.admin, map[string]any{"name": "Meta", "provider": "meta", "queue_id": q.ID,
		"phone_number_id": "106540352242922", "access_token": "made-up-access-token", "app_secret": "made-up-app-secret",
		"verify_token": "made-up-verify-token", "api_base_url": provider.URL + "/v21.0"}, &acct, 201)
	e.do("POST", "/api/v1/whatsapp-templates", e.admin, map[string]any{"name": "recontact_it", "language": "it",
		"account_id": acct.ID, "recontact": true, "agents_can_send": true}, &tpl, 201)
	fay := e.addAgent("fay", "phonebar")
	e.do("POST", fmt.Sprintf("/api/v1/queues/%d/agents", q.ID), e.admin, map[string]any{"agent_id": fay}, nil, 0)

	ctx := e.browser("fay", agentPassword)
	console := watchConsole(ctx)
	e.run(ctx, "log in", chromedp.Click("#btn-login", chromedp.ByQuery),
		waitJS(`document.querySelector("#agent-state").dataset.state === "ready"`))
	// An interaction whose customer never wrote through the provider: no
	// window is open with them.
	it, _, _, err := e.rt.Receive(t.Context(), router.Inbound{Channel: "whatsapp", Account: fmt.Sprint(acct.ID),
		Customer: "447700900123", CustomerName: "Olivia", QueueID: q.ID, Body: "(an old conversation)"})
	if err != nil {
		t.Fatal(err)
	}
	e.run(ctx, "accept; the window is closed",
		chromedp.WaitVisible(fmt.Sprintf(`.offer[data-id="%d"] .accept`, it.ID), chromedp.ByQuery),
		chromedp.Click(fmt.Sprintf(`.offer[data-id="%d"] .accept`, it.ID), chromedp.ByQuery),
		chromedp.WaitVisible(".window.closed", chromedp.ByQuery),
		waitJS(`!document.querySelector("#reply-text")`),
		chromedp.WaitVisible(`[data-template="recontact_it"]`, chromedp.ByQuery),
	)
	browsertest.Screenshot(t, ctx, "desk-whatsapp-template")
	e.run(ctx, "send the template", chromedp.Click(`[data-template="recontact_it"]`, chromedp.ByQuery))
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		mu.Lock()
		got := strings.Join(sent, "\n")
		mu.Unlock()
		if strings.Contains(got, "recontact_it") && strings.Contains(got, "447700900123") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the provider never got the template; it got: %s", got)
		}
	}
	console.check(t)
}
