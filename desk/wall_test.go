package desk_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"omnicc/browsertest"
)

// A supervisor sees the wall (not the agent bar), and every change of an
// agent's state arrives live: login, pause with its type and timer, and
// the waiting count of a queue nobody can take from.
func TestDeskSupervisorWallIsLive(t *testing.T) {
	e := newDeskEnv(t, envOptions{})
	alice := e.addAgent("alice", "webrtc")
	e.addAgent("bob", "phonebar")
	e.do("POST", "/api/v1/users", e.admin, map[string]any{"username": "sue", "full_name": "Sue Visor",
		"role": "supervisor", "password": agentPassword}, nil, 201)

	ctx := e.browser("sue", agentPassword)
	console := watchConsole(ctx)
	row := func(agent string) string { return fmt.Sprintf(`#wall tr[data-agent="%s"]`, agent) }
	stateIs := func(agent, state string) chromedp.Action {
		return waitJS(fmt.Sprintf(`document.querySelector('%s [data-state]')?.dataset.state === %q`, row(agent), state))
	}
	e.run(ctx, "the wall lists every agent",
		chromedp.WaitVisible("#wall", chromedp.ByQuery),
		waitJS(`!document.querySelector("#bar") && !document.querySelector('a[data-nav="inbox"]')`),
		stateIs("alice", "logged_out"),
		stateIs("bob", "logged_out"),
	)

	e.do("POST", fmt.Sprintf("/api/v1/agents/%d/login", alice), e.admin, map[string]any{}, nil, 200)
	e.run(ctx, "login shows live", stateIs("alice", "ready"))
	e.do("POST", fmt.Sprintf("/api/v1/agents/%d/pause", alice), e.admin, map[string]any{"reason": "Lunch"}, nil, 200)
	e.run(ctx, "pause shows live with its type and timer",
		stateIs("alice", "paused"),
		waitJS(fmt.Sprintf(`document.querySelector('%s').innerText.includes("Lunch")`, row("alice"))),
		waitJS(fmt.Sprintf(`document.querySelector('%s td:nth-child(5)').innerText.startsWith("0:0")`, row("alice"))),
	)

	// bob logs in: the next chat is offered to him, and the supervisor,
	// who watches every agent's events, is not offered it.
	bob := e.agents["bob"]
	e.do("POST", fmt.Sprintf("/api/v1/agents/%d/login", bob), e.admin, map[string]any{}, nil, 200)
	e.run(ctx, "bob ready", stateIs("bob", "ready"))
	offered := e.receive("visitor-8", "Anna", "hi")
	e.run(ctx, "the offer to bob counts as waiting, and pops up nothing on the wall",
		waitJS(`(document.querySelector('#wall-waiting [data-queue="web"]')?.innerText || "").includes("1 waiting")`),
		chromedp.Sleep(300*time.Millisecond),
		waitJS(`!document.querySelector(".offer")`),
	)
	e.do("POST", fmt.Sprintf("/api/v1/interactions/%d/reject", offered), e.login("bob", agentPassword), nil, nil, 204)
	e.do("POST", fmt.Sprintf("/api/v1/agents/%d/logout", bob), e.admin, map[string]any{}, nil, 200)

	// Nobody can take a chat while alice is paused: it waits in "web".
	e.receive("visitor-9", "Gianni", "hello?")
	e.run(ctx, "queues per agent, and the waiting count",
		waitJS(fmt.Sprintf(`document.querySelector('%s td:nth-child(8)').innerText === "web"`, row("alice"))),
		waitJS(`(document.querySelector('#wall-waiting [data-queue="web"]')?.innerText || "").includes("2 waiting")`),
	)
	browsertest.Screenshot(t, ctx, "desk-wall")
	console.check(t)
}
