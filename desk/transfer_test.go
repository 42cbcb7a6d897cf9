package desk_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"omnicc/browsertest"
	"omnicc/router"
)

// Two agents on a beepall queue: both get the offer, the first to accept
// wins and the other's offer goes; the winner transfers the chat to the
// other, who accepts it, and it moves between their inboxes.
func TestDeskOfferTakenAndTransferredBetweenAgents(t *testing.T) {
	e := newDeskEnv(t, envOptions{})
	alice := e.addAgent("alice", "phonebar")
	bob := e.addAgent("bob", "phonebar")
	for _, id := range []int64{alice, bob} {
		e.do("POST", fmt.Sprintf("/api/v1/agents/%d/login", id), e.admin, map[string]any{}, nil, 200)
	}
	actx := e.browser("alice", agentPassword)
	bctx := e.browser("bob", agentPassword)
	aConsole, bConsole := watchConsole(actx), watchConsole(bctx)
	ready := waitJS(`document.querySelector("#agent-state")?.dataset.state === "ready"`)
	e.run(actx, "alice ready", ready)
	e.run(bctx, "bob ready", ready)

	it := e.receive("visitor-3", "Marco", "Can I change my delivery address?")
	offer := fmt.Sprintf(`.offer[data-id="%d"]`, it)
	e.run(bctx, "bob is offered it", chromedp.WaitVisible(offer, chromedp.ByQuery))
	e.run(actx, "alice accepts first",
		chromedp.WaitVisible(offer+" .accept", chromedp.ByQuery),
		chromedp.Click(offer+" .accept", chromedp.ByQuery),
		chromedp.WaitVisible(fmt.Sprintf(`#conversation[data-id="%d"]`, it), chromedp.ByQuery),
	)
	e.run(bctx, "bob's offer goes: taken", waitJS(fmt.Sprintf(`!document.querySelector('%s')`, offer)))

	e.run(actx, "alice transfers to bob",
		chromedp.Click(`[data-tab="transfer"]`, chromedp.ByQuery),
		waitJS(fmt.Sprintf(`!!document.querySelector('#transfer-target option[value="a:%d"]')`, bob)),
		choose("#transfer-target", fmt.Sprintf("a:%d", bob)),
		chromedp.Click("#transfer-send", chromedp.ByQuery),
	)
	e.run(bctx, "bob accepts the transfer",
		chromedp.WaitVisible(offer+" .accept", chromedp.ByQuery),
		waitJS(fmt.Sprintf(`document.querySelector('%s').innerText.includes("transfer")`, offer)),
	)
	e.run(bctx, "let the offer's entrance end", chromedp.Sleep(300*time.Millisecond))
	browsertest.Screenshot(t, bctx, "desk-transfer-offer")
	e.run(bctx, "bob accepts",
		chromedp.Click(offer+" .accept", chromedp.ByQuery),
		chromedp.WaitVisible(fmt.Sprintf(`#conversation[data-id="%d"]`, it), chromedp.ByQuery),
		waitJS(`[...document.querySelectorAll("#messages .msg.in")].some(m => m.innerText.includes("delivery address"))`),
	)
	e.run(actx, "it leaves alice's inbox", waitJS(fmt.Sprintf(`!document.querySelector('#interaction-list li[data-id="%d"]')`, it)))
	var got router.Interaction
	e.do("GET", fmt.Sprintf("/api/v1/interactions/%d", it), e.admin, nil, &got, 200)
	if got.AgentID == nil || *got.AgentID != bob {
		t.Fatalf("after the transfer the interaction is with %v, want bob (%d)", got.AgentID, bob)
	}
	aConsole.check(t)
	bConsole.check(t)
}
