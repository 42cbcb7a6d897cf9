package desk_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// An agent with mask_sensitive_data never sees a customer's name or number
// in the page: not in the offer (the websocket masks it) and not after
// accepting, when the interaction comes from REST.
func TestDeskMaskedAgentSeesNoCustomerIdentity(t *testing.T) {
	e := newDeskEnv(t, envOptions{})
	gil := e.addAgent("gil", "phonebar", "mask_sensitive_data", true)
	e.do("POST", fmt.Sprintf("/api/v1/agents/%d/login", gil), e.admin, map[string]any{}, nil, 200)
	ctx := e.browser("gil", agentPassword)
	console := watchConsole(ctx)
	e.run(ctx, "ready", waitJS(`document.querySelector("#agent-state")?.dataset.state === "ready"`))

	it := e.receive("+393471234567", "Giulia Neri", "My card was charged twice")
	offer := fmt.Sprintf(`.offer[data-id="%d"]`, it)
	e.run(ctx, "the offer is masked",
		chromedp.WaitVisible(offer, chromedp.ByQuery),
		waitJS(fmt.Sprintf(`document.querySelector('%s').innerText.includes("G••• N•••")`, offer)),
		chromedp.Click(offer+" .accept", chromedp.ByQuery),
		chromedp.WaitVisible(fmt.Sprintf(`#conversation[data-id="%d"]`, it), chromedp.ByQuery),
		waitJS(`document.querySelector("#conversation .conv-head").innerText.includes("G••• N•••")`),
		waitJS(`[...document.querySelectorAll("#messages .msg.in")].some(m => m.innerText.includes("charged twice"))`),
	)
	var page string
	e.run(ctx, "read the page", chromedp.Evaluate(`document.body.innerText`, &page))
	for _, secret := range []string{"Giulia", "Neri", "3471234567"} {
		if strings.Contains(page, secret) {
			t.Fatalf("a masked agent sees %q:\n%s", secret, page)
		}
	}
	console.check(t)
}
