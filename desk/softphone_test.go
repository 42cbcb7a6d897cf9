package desk_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"omnicc/browsertest"
)

// A webrtc agent's page registers its softphone to the SIP websocket named
// by OMNICC_SIP_WS_URL with the agent's SIP secret (the green dot), answers
// a call ringing in the page, hangs up, and registers again by itself
// after the websocket drops (with a banner meanwhile).
func TestDeskSoftphoneRegistersAnswersAndRecovers(t *testing.T) {
	peer := newSIPPeer(t)
	e := newDeskEnv(t, envOptions{sipWSURL: peer.url()})
	carol := e.addAgent("carol", "webrtc")
	var secret struct {
		SIPSecret string `json:"sip_secret"`
	}
	e.do("GET", fmt.Sprintf("/api/v1/agents/%d/sip-secret", carol), e.admin, nil, &secret, 200)
	if secret.SIPSecret == "" {
		t.Fatal("no SIP secret")
	}
	peer.secrets["carol"] = secret.SIPSecret

	ctx := e.browser("carol", agentPassword)
	console := watchConsole(ctx)
	e.run(ctx, "the softphone registers",
		chromedp.WaitVisible("#sip-dot.ok", chromedp.ByQuery),
	)
	if good, bad := peer.registrations(); good < 1 || bad != 0 {
		t.Fatalf("registrations: %d good, %d with a wrong digest", good, bad)
	}
	browsertest.Screenshot(t, ctx, "desk-softphone-registered")
	e.run(ctx, "settings: profile and requirements",
		chromedp.Click("#btn-settings", chromedp.ByQuery),
		chromedp.WaitVisible("#settings", chromedp.ByQuery),
		waitJS(`document.querySelector("#settings").innerText.includes("carol")`),
		chromedp.Click(`#settings [data-tab="requirements"]`, chromedp.ByQuery),
		waitJS(`[...document.querySelectorAll("#requirements li.ok")].some(li => li.innerText.includes("Softphone registered"))`),
	)
	browsertest.Screenshot(t, ctx, "desk-settings")
	e.run(ctx, "close settings", chromedp.Click(`#settings [aria-label="Close settings"]`, chromedp.ByQuery),
		waitJS(`!document.querySelector("#settings")`))

	peer.ring("5551234")
	peer.await("SIP/2.0 180", 10*time.Second)
	e.run(ctx, "the call rings in the page",
		chromedp.WaitVisible("#btn-answer", chromedp.ByQuery),
		waitJS(`document.querySelector("#call-panel").innerText.includes("5551234")`),
	)
	browsertest.Screenshot(t, ctx, "desk-softphone-ringing")
	e.run(ctx, "answer", chromedp.Click("#btn-answer", chromedp.ByQuery))
	ok := peer.await("SIP/2.0 200", 15*time.Second)
	if !strings.Contains(ok.body, "m=audio") || !strings.Contains(ok.header("cseq"), "INVITE") {
		t.Fatalf("the page answered without an audio SDP: %q / %q", ok.header("cseq"), ok.body)
	}
	peer.ack(ok)
	e.run(ctx, "the call is up",
		waitJS(`!document.querySelector("#btn-answer") && document.querySelector("#call-panel .call-state").innerText === "up"`),
	)
	e.run(ctx, "the bar in a call fits 1280×720",
		chromedp.EmulateViewport(1280, 720),
		waitJS(`document.documentElement.scrollWidth <= window.innerWidth`),
	)
	browsertest.Screenshot(t, ctx, "desk-softphone-in-call-1280x720")
	e.run(ctx, "hang up with Alt+H",
		chromedp.KeyEvent("h", chromedp.KeyModifiers(1)),
	)
	bye := peer.await("BYE", 10*time.Second)
	if bye.header("call-id") != ok.header("call-id") {
		t.Fatalf("BYE for call %q, want %q", bye.header("call-id"), ok.header("call-id"))
	}
	e.run(ctx, "the call panel goes", waitJS(`!document.querySelector("#call-panel")`))

	// Asterisk restarts: the page says so and registers again by itself.
	before, _ := peer.registrations()
	peer.dropConnection()
	e.run(ctx, "banner while the SIP websocket is down",
		chromedp.WaitVisible("#banner-sip", chromedp.ByQuery),
		chromedp.WaitVisible("#sip-dot.bad", chromedp.ByQuery),
	)
	e.run(ctx, "registered again",
		chromedp.WaitVisible("#sip-dot.ok", chromedp.ByQuery),
		waitJS(`!document.querySelector("#banner-sip")`),
	)
	if after, _ := peer.registrations(); after <= before {
		t.Fatalf("no new REGISTER after the drop (%d before, %d after)", before, after)
	}
	console.check(t)
}

// With auto answer in the agent's WebRTC settings, a call ringing in the
// page is answered by itself after the delay.
func TestDeskSoftphoneAutoAnswers(t *testing.T) {
	peer := newSIPPeer(t)
	e := newDeskEnv(t, envOptions{sipWSURL: peer.url()})
	kim := e.addAgent("kim", "webrtc", "webrtc", map[string]any{"auto_answer": true, "auto_answer_delay": 1})
	var secret struct {
		SIPSecret string `json:"sip_secret"`
	}
	e.do("GET", fmt.Sprintf("/api/v1/agents/%d/sip-secret", kim), e.admin, nil, &secret, 200)
	peer.secrets["kim"] = secret.SIPSecret
	ctx := e.browser("kim", agentPassword)
	console := watchConsole(ctx)
	e.run(ctx, "registered", chromedp.WaitVisible("#sip-dot.ok", chromedp.ByQuery))
	start := time.Now()
	peer.ring("5550111")
	ok := peer.await("SIP/2.0 200", 15*time.Second)
	if !strings.Contains(ok.body, "m=audio") {
		t.Fatalf("auto answer without audio: %q", ok.body)
	}
	if waited := time.Since(start); waited < 900*time.Millisecond {
		t.Fatalf("answered after %s, before the agent's 1 s delay", waited)
	}
	peer.ack(ok)
	e.run(ctx, "the call is up", waitJS(`document.querySelector("#call-panel .call-state")?.innerText === "up"`))
	console.check(t)
}
