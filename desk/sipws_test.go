package desk_test

import (
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// sipPeer is a stand-in for Asterisk's SIP websocket (res_http_websocket +
// chan_pjsip on /ws): a registrar that challenges REGISTER with a digest
// and accepts it only with the agent's SIP secret, and that can ring the
// registered page with an INVITE. Only what the softphone test needs; it
// speaks real SIP (RFC 3261 over RFC 7118 websockets) to the real JsSIP.
type sipPeer struct {
	t        *testing.T
	srv      *httptest.Server
	realm    string
	nonce    string
	secrets  map[string]string // username → SIP secret
	mu       sync.Mutex
	conn     *websocket.Conn
	contact  string   // the Contact URI of the last good REGISTER
	goodRegs int      // REGISTERs accepted with a right digest
	badRegs  int      // REGISTERs with a digest that did not match
	got      chan sip // every message after registration
}

// sip is one parsed SIP message.
type sip struct {
	start   string
	headers map[string][]string
	body    string
}

func (m sip) header(name string) string {
	if v := m.headers[strings.ToLower(name)]; len(v) > 0 {
		return v[0]
	}
	return ""
}

func parseSIP(raw string) sip {
	head, body, _ := strings.Cut(raw, "\r\n\r\n")
	lines := strings.Split(head, "\r\n")
	m := sip{start: lines[0], headers: map[string][]string{}, body: body}
	compact := map[string]string{"v": "via", "f": "from", "t": "to", "i": "call-id", "m": "contact", "l": "content-length", "c": "content-type"}
	for _, l := range lines[1:] {
		k, v, ok := strings.Cut(l, ":")
		if !ok {
			continue
		}
		k = strings.ToLower(strings.TrimSpace(k))
		if full, ok := compact[k]; ok {
			k = full
		}
		m.headers[k] = append(m.headers[k], strings.TrimSpace(v))
	}
	return m
}

func newSIPPeer(t *testing.T) *sipPeer {
	p := &sipPeer{t: t, realm: "omnicc-test", nonce: "4a1f0c9e6b", secrets: map[string]string{}, got: make(chan sip, 64)}
	up := websocket.Upgrader{Subprotocols: []string{"sip"}, CheckOrigin: func(*http.Request) bool { return true }}
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		p.mu.Lock()
		p.conn = c
		p.mu.Unlock()
		defer c.Close()
		for {
			_, raw, err := c.ReadMessage()
			if err != nil {
				return
			}
			p.handle(c, parseSIP(string(raw)))
		}
	}))
	t.Cleanup(p.srv.Close)
	return p
}

func (p *sipPeer) url() string { return "ws" + strings.TrimPrefix(p.srv.URL, "http") + "/ws" }

func md5hex(s string) string {
	h := md5.Sum([]byte(s))
	return hex.EncodeToString(h[:])
}

// digestParams reads `Digest a="b", c=d` into a map.
func digestParams(h string) map[string]string {
	out := map[string]string{}
	h = strings.TrimSpace(strings.TrimPrefix(h, "Digest"))
	for _, part := range strings.Split(h, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if ok {
			out[strings.ToLower(k)] = strings.Trim(v, `"`)
		}
	}
	return out
}

func (p *sipPeer) send(c *websocket.Conn, lines ...string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	_ = c.WriteMessage(websocket.TextMessage, []byte(strings.Join(lines, "\r\n")))
}

// reply answers a request, copying the headers RFC 3261 §8.2.6 says to.
func (p *sipPeer) reply(c *websocket.Conn, m sip, status string, extra ...string) {
	to := m.header("to")
	if !strings.Contains(to, ";tag=") {
		to += ";tag=omnicc-peer"
	}
	lines := []string{"SIP/2.0 " + status}
	for _, v := range m.headers["via"] {
		lines = append(lines, "Via: "+v)
	}
	lines = append(lines, "From: "+m.header("from"), "To: "+to, "Call-ID: "+m.header("call-id"), "CSeq: "+m.header("cseq"))
	lines = append(lines, extra...)
	lines = append(lines, "Content-Length: 0", "", "")
	p.send(c, lines...)
}

func (p *sipPeer) handle(c *websocket.Conn, m sip) {
	method, _, _ := strings.Cut(m.start, " ")
	if method != "REGISTER" {
		p.got <- m
		if method == "BYE" {
			p.reply(c, m, "200 OK")
		}
		return
	}
	auth := m.header("authorization")
	if auth == "" {
		p.reply(c, m, "401 Unauthorized", fmt.Sprintf(`WWW-Authenticate: Digest realm="%s", nonce="%s", algorithm=MD5`, p.realm, p.nonce))
		return
	}
	d := digestParams(auth)
	secret, known := p.secrets[d["username"]]
	ha1 := md5hex(d["username"] + ":" + p.realm + ":" + secret)
	ha2 := md5hex("REGISTER:" + d["uri"])
	want := md5hex(ha1 + ":" + p.nonce + ":" + ha2)
	if d["qop"] != "" {
		want = md5hex(ha1 + ":" + p.nonce + ":" + d["nc"] + ":" + d["cnonce"] + ":" + d["qop"] + ":" + ha2)
	}
	if !known || d["response"] != want {
		p.mu.Lock()
		p.badRegs++
		p.mu.Unlock()
		p.reply(c, m, "403 Forbidden")
		return
	}
	contact := m.header("contact")
	p.mu.Lock()
	p.goodRegs++
	if i, j := strings.Index(contact, "<"), strings.Index(contact, ">"); i >= 0 && j > i {
		p.contact = contact[i+1 : j]
	}
	p.mu.Unlock()
	p.reply(c, m, "200 OK", "Contact: "+contact+";expires=300", "Expires: 300")
}

func (p *sipPeer) registrations() (good, bad int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.goodRegs, p.badRegs
}

// dropConnection closes the page's websocket, as an Asterisk restart does.
func (p *sipPeer) dropConnection() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.conn != nil {
		_ = p.conn.Close()
	}
}

// sdpOffer is a WebRTC audio offer Chrome accepts as a remote description
// (ICE credentials, a DTLS fingerprint, rtcp-mux); no media ever flows.
func sdpOffer() string {
	sum := sha256.Sum256([]byte("omnicc desk test peer"))
	var fp []string
	for _, b := range sum {
		fp = append(fp, fmt.Sprintf("%02X", b))
	}
	return strings.Join([]string{
		"v=0", "o=- 4611731400430051336 2 IN IP4 127.0.0.1", "s=-", "t=0 0", "a=group:BUNDLE 0",
		"m=audio 9 UDP/TLS/RTP/SAVPF 111 0", "c=IN IP4 0.0.0.0", "a=rtcp:9 IN IP4 0.0.0.0",
		"a=ice-ufrag:omni", "a=ice-pwd:omniccdeskteststandin1234", "a=fingerprint:sha-256 " + strings.Join(fp, ":"),
		"a=setup:actpass", "a=mid:0", "a=sendrecv", "a=rtcp-mux",
		"a=rtpmap:111 opus/48000/2", "a=rtpmap:0 PCMU/8000", "",
	}, "\r\n")
}

// ring sends an INVITE from caller to the registered page.
func (p *sipPeer) ring(caller string) (callID string) {
	p.mu.Lock()
	c, contact := p.conn, p.contact
	p.mu.Unlock()
	callID = fmt.Sprintf("call-%d@omnicc-test", time.Now().UnixNano())
	body := sdpOffer()
	p.send(c,
		"INVITE "+contact+" SIP/2.0",
		"Via: SIP/2.0/WSS omnicc-peer.invalid;branch=z9hG4bK-invite-1",
		"Max-Forwards: 70",
		fmt.Sprintf(`From: "Caller %s" <sip:%s@omnicc-test>;tag=caller-1`, caller, caller),
		"To: <"+contact+">",
		"Call-ID: "+callID,
		"CSeq: 1 INVITE",
		"Contact: <sip:"+caller+"@omnicc-peer.invalid;transport=ws>",
		"Content-Type: application/sdp",
		fmt.Sprintf("Content-Length: %d", len(body)),
		"",
		body,
	)
	return callID
}

// ack acknowledges the page's 200 OK to the INVITE.
func (p *sipPeer) ack(ok sip) {
	p.mu.Lock()
	c, contact := p.conn, p.contact
	p.mu.Unlock()
	target := contact
	if h := ok.header("contact"); h != "" {
		if i, j := strings.Index(h, "<"), strings.Index(h, ">"); i >= 0 && j > i {
			target = h[i+1 : j]
		}
	}
	p.send(c,
		"ACK "+target+" SIP/2.0",
		"Via: SIP/2.0/WSS omnicc-peer.invalid;branch=z9hG4bK-ack-1",
		"Max-Forwards: 70",
		"From: "+ok.header("from"),
		"To: "+ok.header("to"),
		"Call-ID: "+ok.header("call-id"),
		"CSeq: 1 ACK",
		"Content-Length: 0", "", "")
}

// await waits for a message whose start line begins with prefix.
func (p *sipPeer) await(prefix string, d time.Duration) sip {
	p.t.Helper()
	deadline := time.After(d)
	for {
		select {
		case m := <-p.got:
			if strings.HasPrefix(m.start, prefix) {
				return m
			}
		case <-deadline:
			p.t.Fatalf("the SIP peer never got %q", prefix)
		}
	}
}
