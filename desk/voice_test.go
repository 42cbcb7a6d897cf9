package desk_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"omnicc/ami"
	"omnicc/ami/amitest"
	"omnicc/browsertest"
	"omnicc/presence"
)

// A phonebar agent's calls ring its desk phone: the bar drives them through
// the REST voice controls, and the AMI actions reach Asterisk (a fake one
// that records them) with the agent's own channel.
func TestDeskPhonebarCallControls(t *testing.T) {
	pbx := amitest.NewServer(t, "omnicc", "secret")
	for _, a := range []string{"Originate", "Hangup", "BlindTransfer", "StopMixMonitor", "Atxfer", "CancelAtxfer", "Redirect", "Bridge"} {
		pbx.Handle(a, amitest.Reply(amitest.Success("Message", a+" done")))
	}
	pbx.Handle("MixMonitor", amitest.Reply(amitest.Success("MixMonitorID", "0x7f3a2c001234")))
	pbx.Handle("Getvar", func(m ami.Message) []ami.Message {
		val := ""
		switch m.Get("Variable") {
		case "CHANNEL(uniqueid)":
			val = "1795277390.7"
		case "CHANNEL(linkedid)":
			val = "1795277390.6"
		case "BRIDGEPEER":
			val = "PJSIP/trunk-00000002"
		}
		return []ami.Message{amitest.Success("Variable", m.Get("Variable"), "Value", val)}
	})
	e := newDeskEnv(t, envOptions{asterisk: pbx})
	dave := e.addAgent("dave", "phonebar", "webrtc", map[string]any{"enable_recording": true})
	ctx := e.browser("dave", agentPassword)
	console := watchConsole(ctx)

	e.run(ctx, "click to call",
		chromedp.WaitVisible("#dial-number", chromedp.ByQuery),
		chromedp.SendKeys("#dial-number", "(06) 555-0100", chromedp.ByQuery),
		chromedp.Click("#btn-call", chromedp.ByQuery),
	)
	originate := awaitAction(t, pbx, "Originate")
	if !strings.Contains(originate.Get("Channel"), "PJSIP/dave") {
		t.Fatalf("Originate rang %q, want dave's phone", originate.Get("Channel"))
	}

	// Asterisk tells omniccd the call is up (the AMI tracker's job in omniccd).
	const leg = "PJSIP/dave-00000001"
	e.pres.ApplyVoice(&presence.VoiceFact{Kind: presence.VoiceLegUp, Agent: "PJSIP/dave", Leg: leg,
		LegID: "1795277390.7", CallerNum: "065550100", Outbound: true})
	e.run(ctx, "the call shows in the bar",
		chromedp.WaitVisible("#call-panel", chromedp.ByQuery),
		waitJS(`document.querySelector("#call-panel").innerText.includes("065550100")`),
	)

	e.run(ctx, "record the call",
		chromedp.Click("#btn-record", chromedp.ByQuery),
		chromedp.Click("#btn-record-start", chromedp.ByQuery),
		waitJS(`document.querySelector("#btn-record").classList.contains("on")`),
		waitJS(`document.querySelector("[data-recording]").innerText.includes("recording")`),
	)
	if mm := awaitAction(t, pbx, "MixMonitor"); mm.Get("Channel") != leg {
		t.Fatalf("MixMonitor %v", mm.Fields())
	}
	browsertest.Screenshot(t, ctx, "desk-phonebar-call")
	e.run(ctx, "stop the recording",
		chromedp.Click("[data-recording] button.bad", chromedp.ByQuery),
		waitJS(`!document.querySelector("#btn-record").classList.contains("on")`),
	)
	awaitAction(t, pbx, "StopMixMonitor")

	e.run(ctx, "hold",
		chromedp.Click("#btn-hold", chromedp.ByQuery),
		waitJS(`document.querySelector("#btn-hold").innerText === "Resume"`),
		waitJS(`document.querySelector("#call-panel .call-state").innerText === "on_hold"`),
	)
	if r := awaitAction(t, pbx, "Redirect"); r.Get("Channel") != "PJSIP/trunk-00000002" || r.Get("ExtraChannel") != leg {
		t.Fatalf("hold: Redirect %v", r.Fields())
	}
	e.run(ctx, "resume",
		chromedp.Click("#btn-hold", chromedp.ByQuery),
		waitJS(`document.querySelector("#btn-hold").innerText === "Hold"`),
	)
	awaitAction(t, pbx, "Bridge")

	e.run(ctx, "attended transfer: consult, then back to the caller",
		chromedp.Click("#btn-transfer", chromedp.ByQuery),
		chromedp.WaitVisible(`#call-panel .popover input`, chromedp.ByQuery),
		chromedp.SendKeys(`#call-panel .popover input`, "2001", chromedp.ByQuery),
		chromedp.Click(`#call-panel .popover button[title="Consult first, then transfer"]`, chromedp.ByQuery),
		chromedp.WaitVisible("#btn-xfer-complete", chromedp.ByQuery),
	)
	if at := awaitAction(t, pbx, "Atxfer"); at.Get("Channel") != leg || at.Get("Exten") != "2001" {
		t.Fatalf("Atxfer %v", at.Fields())
	}
	e.run(ctx, "cancel the consultation",
		chromedp.Click("#btn-xfer-cancel", chromedp.ByQuery),
		waitJS(`!document.querySelector("#call-panel .popover")`),
	)
	awaitAction(t, pbx, "CancelAtxfer")

	redirects := len(pbx.Actions("Redirect"))
	e.run(ctx, "three-way conference",
		chromedp.Click("#btn-transfer", chromedp.ByQuery),
		chromedp.WaitVisible(`#call-panel .popover input`, chromedp.ByQuery),
		chromedp.Evaluate(`(() => { const i = document.querySelector("#call-panel .popover input"); i.value = ""; i.dispatchEvent(new Event("input", {bubbles: true})); return true })()`, nil),
		chromedp.SendKeys(`#call-panel .popover input`, "2002", chromedp.ByQuery),
		chromedp.Click(`#call-panel .popover button[title="Three-way conference"]`, chromedp.ByQuery),
		waitJS(`!document.querySelector("#call-panel .popover")`),
	)
	if rd := awaitNth(t, pbx, "Redirect", redirects+1); rd.Get("Channel") != leg {
		t.Fatalf("conference: Redirect %v", rd.Fields())
	}
	if o := awaitNth(t, pbx, "Originate", 2); !strings.Contains(fmt.Sprint(o.Fields()), "2002") {
		t.Fatalf("conference: the third party is not rung: %v", o.Fields())
	}

	e.run(ctx, "blind transfer",
		chromedp.Click("#btn-transfer", chromedp.ByQuery),
		chromedp.WaitVisible(`#call-panel .popover input`, chromedp.ByQuery),
		chromedp.Evaluate(`(() => { const i = document.querySelector("#call-panel .popover input"); i.value = ""; i.dispatchEvent(new Event("input", {bubbles: true})); return true })()`, nil),
		chromedp.SendKeys(`#call-panel .popover input`, "2000", chromedp.ByQuery),
		chromedp.Click(`#call-panel .popover button[title="Blind transfer"]`, chromedp.ByQuery),
	)
	bt := awaitAction(t, pbx, "BlindTransfer")
	if bt.Get("Channel") != leg || bt.Get("Exten") != "2000" {
		t.Fatalf("BlindTransfer %v", bt.Fields())
	}
	e.run(ctx, "hang up", chromedp.Click("#btn-hangup", chromedp.ByQuery))
	if h := awaitAction(t, pbx, "Hangup"); h.Get("Channel") != leg {
		t.Fatalf("Hangup %v", h.Fields())
	}

	// The number field suggests recent numbers, and contacts by name.
	var list struct{ ID int64 }
	e.do("POST", "/api/v1/contact-lists", e.admin, map[string]any{"name": "Customers"}, &list, 201)
	e.do("PUT", fmt.Sprintf("/api/v1/contact-lists/%d/agents", list.ID), e.admin, map[string]any{"agent_ids": []int64{dave}}, nil, 0)
	e.do("POST", "/api/v1/contacts", e.admin, map[string]any{"list_id": list.ID, "first_name": "Nina", "last_name": "Verdi",
		"phone": "+390655500100"}, nil, 201)
	e.run(ctx, "suggestions",
		waitJS(`!!document.querySelector('#dial-suggestions option[value="065550100"]')`),
		// Emptied as typing would (an input event), so the page's state follows.
		chromedp.Evaluate(`(() => { const i = document.querySelector("#dial-number"); i.value = ""; i.dispatchEvent(new Event("input", {bubbles: true})); return true })()`, nil),
		chromedp.SendKeys("#dial-number", "Verdi", chromedp.ByQuery),
		waitJS(`document.querySelector('#dial-suggestions option[value="+390655500100"]')?.label === "Nina Verdi"`),
	)
	console.check(t)
}

// awaitAction waits for Asterisk to receive an action and returns the last one.
func awaitAction(t *testing.T, pbx *amitest.Server, name string) ami.Message {
	t.Helper()
	return awaitNth(t, pbx, name, 1)
}

// awaitNth waits for the nth action of that name and returns it.
func awaitNth(t *testing.T, pbx *amitest.Server, name string, n int) ami.Message {
	t.Helper()
	for i := 0; i < 400; i++ {
		if got := pbx.Actions(name); len(got) >= n {
			return got[n-1]
		}
		sleep()
	}
	t.Fatalf("Asterisk never received %s #%d (got %d)", name, n, len(pbx.Actions(name)))
	return ami.Message{}
}

// A supervisor listens to an agent's call from the wall: its desk phone is
// rung into ChanSpy on the agent's channel (the agent allows chanspy).
func TestDeskSupervisorListensFromTheWall(t *testing.T) {
	pbx := amitest.NewServer(t, "omnicc", "secret")
	pbx.Handle("Originate", amitest.Reply(amitest.Success("Message", "Originate successfully queued")))
	e := newDeskEnv(t, envOptions{asterisk: pbx})
	e.addAgent("hal", "phonebar", "chanspy", true)
	e.addAgent("ida", "phonebar") // chanspy off: no buttons on her call
	e.do("POST", "/api/v1/users", e.admin, map[string]any{"username": "sue", "full_name": "Sue Visor", "role": "supervisor",
		"password": agentPassword, "desk_endpoint": "PJSIP/sue_desk"}, nil, 201)
	for _, a := range []string{"hal", "ida"} {
		e.pres.ApplyVoice(&presence.VoiceFact{Kind: presence.VoiceLegUp, Agent: "PJSIP/" + a, Leg: "PJSIP/" + a + "-00000009",
			LegID: "1795277390.9", CallerNum: "065550199"})
	}
	ctx := e.browser("sue", agentPassword)
	console := watchConsole(ctx)
	e.run(ctx, "the wall shows both calls; spy buttons only for hal",
		chromedp.WaitVisible(`#wall tr[data-agent="hal"] .spy button`, chromedp.ByQuery),
		waitJS(`document.querySelector('#wall tr[data-agent="ida"]').innerText.includes("065550199")`),
		waitJS(`!document.querySelector('#wall tr[data-agent="ida"] .spy button')`),
		chromedp.Click(`#wall tr[data-agent="hal"] .spy button`, chromedp.ByQuery), // listen
	)
	o := awaitAction(t, pbx, "Originate")
	if o.Get("Channel") != "PJSIP/sue_desk" || o.Get("Application") != "ChanSpy" || !strings.Contains(o.Get("Data"), "PJSIP/hal") {
		t.Fatalf("listen: Originate %v", o.Fields())
	}
	console.check(t)
}
