package desk_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"omnicc/browsertest"
	"omnicc/events"
	"omnicc/router"
)

// A wrong password says so; the third wrong one locks the account and the
// page says that plainly, even with the right password afterwards.
func TestDeskLoginLockout(t *testing.T) {
	e := newDeskEnv(t, envOptions{})
	e.addAgent("bob", "phonebar")
	ctx := browsertest.New(t)
	console := watchConsole(ctx)
	try := func(pw, want string) {
		t.Helper()
		e.run(ctx, "log in with "+pw,
			chromedp.WaitVisible("#login-password", chromedp.ByQuery),
			// The page keeps the username and clears the password after a failure.
			chromedp.SendKeys("#login-password", pw, chromedp.ByQuery),
			chromedp.Click("#login-submit", chromedp.ByQuery),
			waitJS(fmt.Sprintf(`(document.querySelector("#login-error")?.innerText || "").includes(%q)`, want)),
		)
	}
	e.run(ctx, "open the desk", chromedp.Navigate(e.srv.URL+"/desk/"),
		chromedp.WaitVisible("#login-username", chromedp.ByQuery),
		chromedp.SendKeys("#login-username", "bob", chromedp.ByQuery))
	try("wrong-1", "Wrong username or password")
	try("wrong-2", "Wrong username or password")
	try("wrong-3", "locked")
	try(agentPassword, "locked")
	browsertest.Screenshot(t, ctx, "desk-login-locked")
	console.check(t)
}

// An agent's working day in the page: log in, pause with a type and watch
// the timers, a pause made elsewhere (the API) shows at once, partial pause,
// a chat offer accepted, a reply, unread badges, close with a disposition,
// and the contact card.
func TestDeskAgentDay(t *testing.T) {
	e := newDeskEnv(t, envOptions{})
	alice := e.addAgent("alice", "phonebar")
	var contact struct{ ID int64 }
	var list struct{ ID int64 }
	e.do("POST", "/api/v1/contact-lists", e.admin, map[string]any{"name": "Customers"}, &list, 201)
	e.do("PUT", fmt.Sprintf("/api/v1/contact-lists/%d/agents", list.ID), e.admin, map[string]any{"agent_ids": []int64{alice}}, nil, 0)
	e.do("POST", "/api/v1/contacts", e.admin, map[string]any{"list_id": list.ID, "first_name": "Maria", "last_name": "Rossi",
		"phone": "+390612345678", "emails": []string{"maria@example.com"}, "tags": []string{"vip"}}, &contact, 201)

	ctx := e.browser("alice", agentPassword)
	console := watchConsole(ctx)

	// Role-aware navigation: an agent has the inbox and contacts, no wall.
	e.run(ctx, "agent navigation",
		chromedp.WaitVisible(`#bar`, chromedp.ByQuery),
		chromedp.WaitVisible(`a[data-nav="inbox"]`, chromedp.ByQuery),
		waitJS(`!document.querySelector('a[data-nav="wall"]')`),
		waitJS(`document.querySelector("#agent-state").dataset.state === "logged_out"`),
	)

	e.run(ctx, "log in to the queues",
		chromedp.Click("#btn-login", chromedp.ByQuery),
		waitJS(`document.querySelector("#agent-state").dataset.state === "ready"`),
		waitJS(`document.querySelector("#timer-connection").innerText !== "0:00"`),
	)

	e.run(ctx, "pause for lunch",
		chromedp.Click("#btn-pause-menu", chromedp.ByQuery),
		chromedp.WaitVisible("#pause-type", chromedp.ByQuery),
		choose("#pause-type", fmt.Sprint(e.lunch)),
		chromedp.Click("#btn-pause", chromedp.ByQuery),
		waitJS(`document.querySelector("#agent-state").dataset.state === "paused"`),
		waitJS(`document.querySelector("#agent-state").innerText.includes("Lunch")`),
		// The pause timer runs.
		waitJS(`document.querySelector("#timer-pause").innerText !== "0:00"`),
	)
	browsertest.Screenshot(t, ctx, "desk-bar-paused")
	var st struct {
		State  string `json:"state"`
		Reason string `json:"reason"`
	}
	e.do("GET", fmt.Sprintf("/api/v1/agents/%d/state", alice), e.admin, nil, &st, 200)
	if st.State != "paused" || st.Reason != "Lunch" {
		t.Fatalf("after the page paused: %+v", st)
	}

	// A supervisor ends the pause through the API: the page follows live.
	e.do("POST", fmt.Sprintf("/api/v1/agents/%d/unpause", alice), e.admin, map[string]any{}, nil, 200)
	e.run(ctx, "unpaused through the API",
		waitJS(`document.querySelector("#agent-state").dataset.state === "ready"`),
		waitJS(`document.querySelector("#timer-pause").innerText === "0:00"`),
	)

	// Partial pause: paused on voice and chat, back to ready on chat alone.
	e.do("POST", fmt.Sprintf("/api/v1/agents/%d/pause", alice), e.admin, map[string]any{"reason": "Training", "channels": []string{"voice", "chat"}}, nil, 200)
	e.run(ctx, "resume chat only",
		waitJS(`document.querySelector("#agent-state").innerText.includes("Training")`),
		chromedp.Click("#btn-partial", chromedp.ByQuery),
		chromedp.WaitVisible(`[data-resume="chat"]`, chromedp.ByQuery),
		chromedp.Click(`[data-resume="chat"]`, chromedp.ByQuery),
		waitJS(`document.querySelector("#agent-state").innerText.includes("(voice)")`),
	)
	e.do("POST", fmt.Sprintf("/api/v1/agents/%d/unpause", alice), e.admin, map[string]any{}, nil, 200)
	e.run(ctx, "ready again", waitJS(`document.querySelector("#agent-state").dataset.state === "ready"`))

	// The network drops: a banner says so, the page reconnects by itself
	// and the state it missed meanwhile shows.
	e.proxy.drop()
	e.run(ctx, "banner while the websocket is down", chromedp.WaitVisible("#banner-ws", chromedp.ByQuery))
	e.do("POST", fmt.Sprintf("/api/v1/agents/%d/pause", alice), e.admin, map[string]any{"reason": "Lunch"}, nil, 200)
	e.run(ctx, "reconnected, and the pause made meanwhile shows",
		waitJS(`!document.querySelector("#banner-ws")`),
		waitJS(`document.querySelector("#agent-state").dataset.state === "paused"`),
	)
	e.do("POST", fmt.Sprintf("/api/v1/agents/%d/unpause", alice), e.admin, map[string]any{}, nil, 200)
	e.run(ctx, "ready after the reconnect", waitJS(`document.querySelector("#agent-state").dataset.state === "ready"`))

	// A visitor writes: the offer pops up with its countdown; accept it.
	first := e.receive("visitor-1", "Maria", "Hello, my order has not arrived")
	e.run(ctx, "offer arrives",
		chromedp.WaitVisible(fmt.Sprintf(`.offer[data-id="%d"]`, first), chromedp.ByQuery),
		waitJS(fmt.Sprintf(`Number(document.querySelector('.offer[data-id="%d"] .countdown').dataset.left) > 0`, first)),
	)
	e.run(ctx, "let the offer's entrance end", chromedp.Sleep(300*time.Millisecond))
	browsertest.Screenshot(t, ctx, "desk-offer")
	e.run(ctx, "accept and read",
		chromedp.Click(fmt.Sprintf(`.offer[data-id="%d"] .accept`, first), chromedp.ByQuery),
		chromedp.WaitVisible(fmt.Sprintf(`#conversation[data-id="%d"]`, first), chromedp.ByQuery),
		waitJS(`[...document.querySelectorAll("#messages .msg.in")].some(m => m.innerText.includes("order has not arrived"))`),
		waitJS(`!document.querySelector(".offer")`),
	)
	e.run(ctx, "reply",
		chromedp.SendKeys("#reply-text", "Sorry about that, Maria: let me check.", chromedp.ByQuery),
		chromedp.Click("#reply-send", chromedp.ByQuery),
		waitJS(`[...document.querySelectorAll("#messages .msg.out")].some(m => m.innerText.includes("let me check"))`),
	)
	if got := e.sentBodies(); len(got) != 1 || !strings.Contains(got[0], "let me check") {
		t.Fatalf("the connector was asked to send %q", got)
	}

	// A second chat, accepted with the keyboard (Alt+A); then the first
	// customer writes again and its row shows an unread badge.
	second := e.receive("visitor-2", "Luca", "Do you ship to Milan?")
	e.run(ctx, "a reload during the offer shows it again",
		chromedp.WaitVisible(fmt.Sprintf(`.offer[data-id="%d"]`, second), chromedp.ByQuery),
		chromedp.Reload(),
		chromedp.WaitVisible(`#bar`, chromedp.ByQuery),
		chromedp.WaitVisible(fmt.Sprintf(`.offer[data-id="%d"]`, second), chromedp.ByQuery),
		waitJS(fmt.Sprintf(`Number(document.querySelector('.offer[data-id="%d"] .countdown').dataset.left) > 0`, second)),
	)
	// Another agent cannot list alice's offers; staff can.
	var offers struct {
		Items []struct {
			Interaction struct{ ID int64 }
		}
	}
	e.do("GET", fmt.Sprintf("/api/v1/offers?agent_id=%d", alice), e.admin, nil, &offers, 200)
	if len(offers.Items) != 1 || offers.Items[0].Interaction.ID != second {
		t.Fatalf("alice's offers as an admin reads them: %+v", offers)
	}
	e.run(ctx, "accept with Alt+A",
		chromedp.WaitVisible(fmt.Sprintf(`.offer[data-id="%d"]`, second), chromedp.ByQuery),
		chromedp.KeyEvent("a", chromedp.KeyModifiers(1)), // Alt
		chromedp.WaitVisible(fmt.Sprintf(`#conversation[data-id="%d"]`, second), chromedp.ByQuery),
	)
	// The visitor types (web chat's typing signal): the conversation says so.
	e.bus.Publish(events.Event{Type: "typing", AgentID: alice, Payload: map[string]any{"interaction_id": second, "from": "visitor"}})
	e.run(ctx, "the visitor is typing",
		chromedp.WaitVisible("#typing", chromedp.ByQuery),
		waitJS(`document.querySelector("#typing").innerText.includes("Luca is typing")`),
	)
	// The agent types: the page tells the visitor (POST …/typing), at
	// most every 3 s however many keys.
	e.run(ctx, "the agent's typing is sent",
		chromedp.Evaluate(`window.__typing = 0; { const f = window.fetch; window.fetch = (u, o) => { if (String(u).endsWith("/typing")) window.__typing++; return f(u, o); }; }`, nil),
		chromedp.SendKeys("#reply-text", "We do", chromedp.ByQuery),
		waitJS(`window.__typing === 1`),
	)
	e.receive("visitor-1", "Maria", "Any news?")
	e.run(ctx, "unread badge",
		waitJS(fmt.Sprintf(`document.querySelector('#interaction-list li[data-id="%d"] .badge')?.innerText === "1"`, first)),
		waitJS(`document.querySelector("#nav-unread")?.innerText === "1"`),
	)
	e.run(ctx, "add a note and tags",
		chromedp.Click(`[data-tab="notes"]`, chromedp.ByQuery),
		chromedp.SendKeys("#note-text", "asks about shipping", chromedp.ByQuery),
		chromedp.Click("#note-add", chromedp.ByQuery),
		waitJS(`document.querySelector(".notes").innerText.includes("asks about shipping")`),
		chromedp.Click(`[data-tab="tags"]`, chromedp.ByQuery),
		chromedp.SendKeys("#tags-text", "shipping", chromedp.ByQuery),
		chromedp.Click("#tags-save", chromedp.ByQuery),
		chromedp.Click(`[data-tab="reply"]`, chromedp.ByQuery),
	)

	e.run(ctx, "back to the first: its new message is there and read",
		clickUntil(fmt.Sprintf(`#interaction-list li[data-id="%d"]`, first), fmt.Sprintf(`!!document.querySelector('#conversation[data-id="%d"]')`, first)),
		waitJS(`[...document.querySelectorAll("#messages .msg.in")].some(m => m.innerText.includes("Any news?"))`),
		waitJS(fmt.Sprintf(`!document.querySelector('#interaction-list li[data-id="%d"] .badge')`, first)),
	)
	browsertest.Screenshot(t, ctx, "desk-inbox")
	e.run(ctx, "close the first with a disposition",
		choose("#close-disposition", "solved"),
		chromedp.Click("#btn-close", chromedp.ByQuery),
		waitJS(fmt.Sprintf(`!document.querySelector('#interaction-list li[data-id="%d"]')`, first)),
	)
	var closed router.Interaction
	e.do("GET", fmt.Sprintf("/api/v1/interactions/%d", first), e.admin, nil, &closed, 200)
	if closed.Status != router.StatusClosed || closed.Disposition != "solved" {
		t.Fatalf("closed in the page: %+v", closed)
	}
	var tagged router.Interaction
	e.do("GET", fmt.Sprintf("/api/v1/interactions/%d", second), e.admin, nil, &tagged, 200)
	if len(tagged.Tags) != 1 || tagged.Tags[0] != "shipping" {
		t.Fatalf("tags saved in the page: %+v", tagged.Tags)
	}

	e.run(ctx, "contacts search and card",
		chromedp.Click(`a[data-nav="contacts"]`, chromedp.ByQuery),
		chromedp.WaitVisible("#contact-q", chromedp.ByQuery),
		chromedp.SendKeys("#contact-q", "Rossi", chromedp.ByQuery),
		chromedp.Click("#contact-search", chromedp.ByQuery),
		chromedp.WaitVisible(fmt.Sprintf(`.contact-row[data-id="%d"]`, contact.ID), chromedp.ByQuery),
		chromedp.Click(fmt.Sprintf(`.contact-row[data-id="%d"]`, contact.ID), chromedp.ByQuery),
		waitJS(`(document.querySelector("#contact-card h2")?.innerText || "") === "Maria Rossi"`),
		waitJS(`document.querySelector("#contact-card").innerText.includes("maria@example.com")`),
	)
	e.run(ctx, "edit the contact",
		chromedp.Click("#contact-edit", chromedp.ByQuery),
		chromedp.WaitVisible(`#contact-card input[name="company"]`, chromedp.ByQuery),
		chromedp.SendKeys(`#contact-card input[name="company"]`, "Rossi Srl", chromedp.ByQuery),
		chromedp.Click("#contact-save", chromedp.ByQuery),
		waitJS(`document.querySelector("#contact-card").innerText.includes("Rossi Srl")`),
	)
	browsertest.Screenshot(t, ctx, "desk-contacts")
	e.run(ctx, "add a contact",
		chromedp.Click("#contact-add", chromedp.ByQuery),
		chromedp.WaitVisible("#contact-new", chromedp.ByQuery),
		chromedp.SendKeys(`#contact-new input[name="first_name"]`, "Luca", chromedp.ByQuery),
		chromedp.SendKeys(`#contact-new input[name="last_name"]`, "Bianchi", chromedp.ByQuery),
		chromedp.SendKeys(`#contact-new input[name="phone"]`, "+390298765432", chromedp.ByQuery),
		chromedp.Click("#contact-new-save", chromedp.ByQuery),
		waitJS(`(document.querySelector("#contact-card h2")?.innerText || "") === "Luca Bianchi"`),
	)
	var found struct{ Total int }
	e.do("GET", "/api/v1/contacts?q=Bianchi", e.admin, nil, &found, 200)
	if found.Total != 1 {
		t.Fatalf("the contact added in the page: %d found", found.Total)
	}

	// A tablet: the inbox fits the width, nothing scrolls sideways.
	e.run(ctx, "tablet width",
		chromedp.EmulateViewport(820, 1180),
		chromedp.Click(`a[data-nav="inbox"]`, chromedp.ByQuery),
		chromedp.Click(fmt.Sprintf(`#interaction-list li[data-id="%d"]`, second), chromedp.ByQuery),
		chromedp.WaitVisible("#reply-text", chromedp.ByQuery),
		waitJS(`document.documentElement.scrollWidth <= window.innerWidth`),
	)
	browsertest.Screenshot(t, ctx, "desk-tablet")
	console.check(t)
}

// receive delivers a customer's chat message through the router, as the
// web chat connector does, and returns its interaction's id.
func (e *deskEnv) receive(customer, name, body string) int64 {
	e.t.Helper()
	it, _, _, err := e.rt.Receive(e.t.Context(), router.Inbound{Channel: "chat", Account: "site", Customer: customer,
		CustomerName: name, QueueID: e.queue, Body: body})
	if err != nil {
		e.t.Fatal(err)
	}
	return it.ID
}

func (e *deskEnv) sentBodies() []string {
	deadline := time.Now().Add(5 * time.Second)
	for {
		e.chat.mu.Lock()
		var out []string
		for _, m := range e.chat.sent {
			out = append(out, m.Body)
		}
		e.chat.mu.Unlock()
		if len(out) > 0 || time.Now().After(deadline) {
			return out
		}
		time.Sleep(20 * time.Millisecond)
	}
}
