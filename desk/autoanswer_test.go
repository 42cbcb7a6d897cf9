package desk_test

import (
	"fmt"
	"testing"

	"github.com/chromedp/chromedp"

	"omnicc/browsertest"
	"omnicc/router"
)

// The dashboard counts what waits in the agent's queues, and auto-answer
// is honoured: with it on for chat (on a one-at-a-time queue,
// never beepall), a chat offered to the agent is accepted after the delay
// and opens in the page without a click.
func TestDeskAutoAnswerOpensTheChat(t *testing.T) {
	e := newDeskEnv(t, envOptions{})
	var q struct{ ID int64 }
	e.do("POST", "/api/v1/queues", e.admin, map[string]any{"name": "support", "channel": "chat", "strategy": "roundrobin"}, &q, 201)
	erin := e.addAgent("erin", "phonebar", "channels", map[string]any{"chat": map[string]any{"auto_answer": true, "auto_answer_delay": 1}})
	e.do("POST", fmt.Sprintf("/api/v1/queues/%d/agents", q.ID), e.admin, map[string]any{"agent_id": erin}, nil, 0)
	ctx := e.browser("erin", agentPassword)
	console := watchConsole(ctx)

	// The chat comes while erin is logged out: it waits, and her dashboard
	// counts it.
	it, _, _, err := e.rt.Receive(t.Context(), router.Inbound{Channel: "chat", Account: "site", Customer: "visitor-7",
		CustomerName: "Paola", QueueID: q.ID, Body: "Is anyone there?"})
	if err != nil {
		t.Fatal(err)
	}
	e.run(ctx, "the dashboard counts the waiting chat",
		waitJS(`document.querySelector('#dashboard [data-queue="support"] .count')?.dataset.waiting === "1"`))
	browsertest.Screenshot(t, ctx, "desk-dashboard-waiting")
	e.run(ctx, "log in", chromedp.Click("#btn-login", chromedp.ByQuery))
	e.run(ctx, "offered on login, accepted by itself and open",
		chromedp.WaitVisible(fmt.Sprintf(`#conversation[data-id="%d"]`, it.ID), chromedp.ByQuery),
		waitJS(`[...document.querySelectorAll("#messages .msg.in")].some(m => m.innerText.includes("anyone there"))`),
		waitJS(`!document.querySelector(".offer")`),
		waitJS(`document.querySelector('#dashboard [data-queue="support"] .count')?.dataset.waiting === "0"`),
	)
	console.check(t)
}
