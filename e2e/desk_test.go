package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"omnicc/browsertest"
)

// TestAsteriskDeskSoftphoneAnswersAQueueCall is the check that matters most:
// a webrtc agent signs in to the desk in Chromium, whose JsSIP softphone
// registers to the real Asterisk over its SIP websocket; a customer calls a
// DID that FastAGI routes into the agent's queue; the page rings, the agent
// answers in the page, audio flows both ways (DTLS-SRTP, ICE), and the
// agent's state follows over REST. Over WSS, as in production (Asterisk's
// TLS listener from the rendered http.conf; Chromium is told to accept its
// self-signed certificate), and over plain WS.
func TestAsteriskDeskSoftphoneAnswersAQueueCall(t *testing.T) {
	t.Run("wss", func(t *testing.T) { deskAnswersAQueueCall(t, false) })
	t.Run("ws", func(t *testing.T) { deskAnswersAQueueCall(t, true) })
}

func deskAnswersAQueueCall(t *testing.T, plainWS bool) {
	b := startBox(t, boxOptions{mode: "curl", plainSIPWS: plainWS})
	qid := b.newQueue("web")
	b.route("5550300", "web")
	spec := agentSpec{username: "wendy", typology: "webrtc", queues: []int64{qid}}
	if !strings.Contains(b.cli("module show like codec_opus"), "codec_opus.so") {
		// No opus translator in this Asterisk (none is built from
		// source): opus first would make the browser answer with opus and
		// Asterisk drop the G.711 call, as omniccd's start-up log warns.
		t.Log("this Asterisk has no codec_opus: wendy gets allowed_codecs ulaw, alaw")
		spec.codecs = []string{"ulaw", "alaw"}
	}
	a := b.newAgent(spec)
	carrier := b.newCarrier()

	ctx := browsertest.New(t, chromedp.Flag("ignore-certificate-errors", true))
	// Keep the page's peer connections where the test can read their stats.
	if err := chromedp.Run(ctx, chromedp.ActionFunc(func(ctx context.Context) error {
		_, err := page.AddScriptToEvaluateOnNewDocument(`(() => {
			const Orig = window.RTCPeerConnection;
			window.__omniccPeerConnections = [];
			window.RTCPeerConnection = function (...args) { const pc = new Orig(...args); window.__omniccPeerConnections.push(pc); return pc; };
			window.RTCPeerConnection.prototype = Orig.prototype;
			Object.setPrototypeOf(window.RTCPeerConnection, Orig);
		})()`).Do(ctx)
		return err
	})); err != nil {
		t.Fatal(err)
	}
	run := func(what string, actions ...chromedp.Action) {
		t.Helper()
		tctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		if err := chromedp.Run(tctx, actions...); err != nil {
			var body string
			_ = chromedp.Run(ctx, chromedp.Evaluate(`document.body ? document.body.innerText.slice(0, 2000) : ""`, &body))
			t.Fatalf("%s: %v\npage text:\n%s", what, err, body)
		}
	}
	poll := func(expr string) chromedp.Action {
		return chromedp.Poll(expr, nil, chromedp.WithPollingInterval(50*time.Millisecond))
	}
	run("sign in as wendy",
		chromedp.Navigate(b.base+"/desk/"),
		chromedp.WaitVisible("#login-username", chromedp.ByQuery),
		chromedp.SendKeys("#login-username", "wendy", chromedp.ByQuery),
		chromedp.SendKeys("#login-password", "Str0ng-Pass-1", chromedp.ByQuery),
		chromedp.Click("#login-submit", chromedp.ByQuery),
		chromedp.WaitVisible(".topbar", chromedp.ByQuery),
	)
	run("the softphone registers to Asterisk", chromedp.WaitVisible("#sip-dot.ok", chromedp.ByQuery))
	if out := b.cli("pjsip show contacts"); !strings.Contains(out, "wendy/") {
		t.Fatalf("Asterisk has no contact for wendy:\n%s", out)
	}
	// The page knows one URL (OMNICC_SIP_WS_URL): wss:// on Asterisk's TLS
	// listener, or ws:// on its plain HTTP port, so registering proves that
	// path. (The CLI cuts the contact URI short of its transport.)
	eventually(t, 5*time.Second, "wendy reachable in the queue", func() string {
		if s := b.memberStatus("web", "PJSIP/wendy"); s != "Not in use" {
			return s
		}
		return ""
	})
	browsertest.Screenshot(t, ctx, "e2e-desk-registered")

	customer := carrier.dialAsync("5550300", b.sipPort)
	run("the queue call rings in the page", chromedp.WaitVisible("#btn-answer", chromedp.ByQuery))
	browsertest.Screenshot(t, ctx, "e2e-desk-ringing")
	run("answer in the page", chromedp.Click("#btn-answer", chromedp.ByQuery),
		poll(`document.querySelector("#call-panel .call-state") && document.querySelector("#call-panel .call-state").innerText === "up"`))
	c := customer.answered(t, 15*time.Second)
	st := b.waitState(a, "on_call")
	if st.Calls[0].Queue != "web" || !strings.HasPrefix(st.Calls[0].Channel, "PJSIP/wendy-") {
		t.Errorf("wendy's call over REST: %+v", st.Calls[0])
	}
	c.waitMedia(t, 10*time.Second, "the customer hears the browser (DTLS-SRTP from Chromium's fake microphone)")
	var got float64
	eventually(t, 10*time.Second, "RTP from Asterisk reaches the page", func() string {
		tctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		err := chromedp.Run(tctx, chromedp.Evaluate(`(async () => {
			const pcs = window.__omniccPeerConnections || [];
			let n = 0;
			for (const pc of pcs) { (await pc.getStats()).forEach(r => { if (r.type === "inbound-rtp" && r.kind === "audio") n += r.packetsReceived; }); }
			return n;
		})()`, &got, func(p *runtime.EvaluateParams) *runtime.EvaluateParams { return p.WithAwaitPromise(true) }))
		if err != nil {
			return err.Error()
		}
		if got < 25 {
			return fmt.Sprintf("%v RTP packets received by the page", got)
		}
		return ""
	})
	browsertest.Screenshot(t, ctx, "e2e-desk-in-call")
	hangupCtx(t, c)
	run("the call panel goes when the customer hangs up", poll(`!document.querySelector("#call-panel")`))
	b.waitState(a, "ready")
}
