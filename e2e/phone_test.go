package e2e

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emiago/diago"
	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
)

// phone is a SIP phone written in Go (diago, on sipgo): it registers with
// the agent's credentials and keeps the registration, answers OPTIONS (so
// Asterisk's qualify sees it reachable), answers every call after ringing
// for a moment, sends 20 ms of PCMU every 20 ms and counts what it receives.
type phone struct {
	t       *testing.T // the test that made it, for logs while it lives
	user    string
	dg      *diago.Diago
	ua      *sipgo.UserAgent
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	regAt   atomic.Int64 // unix nanos of the first 200 to REGISTER
	regErr  atomic.Value
	answer  atomic.Bool
	ringFor time.Duration

	mu    sync.Mutex
	calls []*call
	newc  chan *call
}

// call is one call the phone is on, answered or placed.
type call struct {
	from, to string
	inbound  bool
	ctx      context.Context
	hangup   func(context.Context) error
	received atomic.Int64 // RTP payload bytes received
	sent     atomic.Int64
}

func (c *call) ended() bool { return c.ctx.Err() != nil }

type phoneOptions struct {
	user, password string
	transport      string // udp (default) or tcp
	sipPort        int    // Asterisk's
	noRegister     bool   // the carrier: it only sends and takes calls
	port           int    // fixed local port (the carrier's, which the trunk dials)
}

func newPhone(t *testing.T, o phoneOptions) *phone {
	t.Helper()
	if o.transport == "" {
		o.transport = "udp"
	}
	uaOpts := []sipgo.UserAgentOption{sipgo.WithUserAgent(o.user), sipgo.WithUserAgentHostname("127.0.0.1")}
	if o.transport == "ws" {
		// Asterisk's SIP websocket is at /ws on its HTTP server.
		uaOpts = append(uaOpts, sipgo.WithUserAgentTransportLayerOptions(sip.WithTransportLayerTransports(sip.TransportsConfig{
			WS: &sip.TransportWS{DialURI: func(host string) string { return "ws://" + host + "/ws" }},
		})))
	}
	ua, err := sipgo.NewUA(uaOpts...)
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	dg := diago.NewDiago(ua, diago.WithLogger(log), diago.WithTransport(diago.Transport{
		Transport: o.transport, BindHost: "127.0.0.1", BindPort: o.port,
	}))
	ctx, cancel := context.WithCancel(context.Background())
	p := &phone{t: t, user: o.user, dg: dg, ua: ua, cancel: cancel, ringFor: 300 * time.Millisecond, newc: make(chan *call, 16)}
	p.answer.Store(true)
	if err := dg.ServeBackground(ctx, p.serve); err != nil {
		cancel()
		t.Fatalf("phone %s: listen: %v", o.user, err)
	}
	t.Cleanup(p.close)
	if !o.noRegister {
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			registrar := sip.Uri{User: o.user, Host: "127.0.0.1", Port: o.sipPort}
			if o.transport != "udp" {
				registrar.UriParams = sip.NewParams()
				registrar.UriParams.Add("transport", o.transport)
			}
			err := dg.Register(ctx, registrar, diago.RegisterOptions{
				Username: o.user, Password: o.password, Expiry: 120 * time.Second,
				OnRegistered: func() { p.regAt.CompareAndSwap(0, time.Now().UnixNano()) },
			})
			if err != nil && !errors.Is(err, context.Canceled) {
				p.regErr.Store(err)
			}
		}()
	}
	return p
}

// registered waits for the first 200 OK to REGISTER and returns when it came.
func (p *phone) registered(t *testing.T, within time.Duration) time.Time {
	t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		if at := p.regAt.Load(); at != 0 {
			return time.Unix(0, at)
		}
		if err, _ := p.regErr.Load().(error); err != nil {
			t.Fatalf("phone %s: REGISTER failed: %v", p.user, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("phone %s: not registered within %s", p.user, within)
	return time.Time{}
}

func (p *phone) serve(d *diago.DialogServerSession) {
	ctx := d.Context()
	_ = d.Trying()
	_ = d.Ringing()
	select {
	case <-time.After(p.ringFor):
	case <-ctx.Done():
		return
	}
	if !p.answer.Load() {
		<-ctx.Done()
		return
	}
	med, err := d.Answer(diago.AnswerOptions{})
	if err != nil {
		p.t.Logf("phone %s: answer: %v", p.user, err)
		return
	}
	c := &call{from: d.FromUser(), to: d.ToUser(), inbound: true, ctx: ctx, hangup: d.Hangup}
	p.add(c)
	p.media(ctx, c, med)
}

// media sends a tone and counts what arrives until the call ends.
func (p *phone) media(ctx context.Context, c *call, med *diago.DialogMedia) {
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		r, err := med.AudioReader()
		if err != nil {
			return
		}
		buf := make([]byte, 1600)
		for {
			n, err := r.Read(buf)
			c.received.Add(int64(n))
			if err != nil || ctx.Err() != nil {
				return
			}
		}
	}()
	w, err := med.AudioWriter()
	if err == nil {
		frame := ulawTone()
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
	send:
		for {
			select {
			case <-ctx.Done():
				break send
			case <-tick.C:
				if _, err := w.Write(frame); err != nil {
					if ctx.Err() == nil && !errors.Is(err, io.ErrClosedPipe) {
						time.Sleep(20 * time.Millisecond)
						continue
					}
					break send
				}
				c.sent.Add(int64(len(frame)))
			}
		}
	}
	<-ctx.Done()
	_ = med.Close()
	wg.Wait()
}

func (p *phone) add(c *call) {
	p.mu.Lock()
	p.calls = append(p.calls, c)
	p.mu.Unlock()
	if !c.inbound {
		return
	}
	select {
	case p.newc <- c:
	default:
	}
}

// nextCall waits for the next call the phone answered.
func (p *phone) nextCall(t *testing.T, within time.Duration) *call {
	t.Helper()
	select {
	case c := <-p.newc:
		return c
	case <-time.After(within):
		t.Fatalf("phone %s: no call within %s", p.user, within)
		return nil
	}
}

// dial places a call to number through Asterisk; it returns once answered.
func (p *phone) dial(t *testing.T, number string, sipPort int, password string) *call {
	t.Helper()
	c, err := p.place(number, sipPort, password)
	if err != nil {
		t.Fatalf("phone %s: call %s: %v", p.user, number, err)
	}
	return c
}

// dialAsync places the call without waiting: answered waits for it.
func (p *phone) dialAsync(number string, sipPort int) *pending {
	pc := &pending{done: make(chan struct{})}
	go func() {
		defer close(pc.done)
		pc.c, pc.err = p.place(number, sipPort, "")
	}()
	return pc
}

type pending struct {
	done chan struct{}
	c    *call
	err  error
}

func (pc *pending) answered(t *testing.T, within time.Duration) *call {
	t.Helper()
	select {
	case <-pc.done:
	case <-time.After(within):
		t.Fatalf("the call was not answered within %s", within)
	}
	if pc.err != nil {
		t.Fatalf("the call failed: %v", pc.err)
	}
	return pc.c
}

func (p *phone) place(number string, sipPort int, password string) (*call, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	to := sip.Uri{User: number, Host: "127.0.0.1", Port: sipPort}
	d, med, err := p.dg.Invite(ctx, to, diago.InviteOptions{Username: p.user, Password: password})
	if err != nil {
		return nil, err
	}
	c := &call{from: p.user, to: number, ctx: d.Context(), hangup: d.Hangup}
	p.add(c)
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		p.media(d.Context(), c, med)
		_ = d.Close()
	}()
	return c, nil
}

// waitMedia waits until the call has received some audio.
func (c *call) waitMedia(t *testing.T, within time.Duration, what string) {
	t.Helper()
	start := c.received.Load()
	eventually(t, within, what, func() string {
		if c.received.Load()-start >= 800 { // 100 ms of PCMU
			return ""
		}
		return fmt.Sprintf("%d bytes of RTP payload received", c.received.Load()-start)
	})
}

func (c *call) waitEnded(t *testing.T, within time.Duration, what string) {
	t.Helper()
	select {
	case <-c.ctx.Done():
	case <-time.After(within):
		t.Fatalf("%s: the call is still up after %s", what, within)
	}
}

func (p *phone) close() {
	p.cancel()
	p.mu.Lock()
	calls := append([]*call(nil), p.calls...)
	p.mu.Unlock()
	for _, c := range calls {
		if !c.ended() {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			_ = c.hangup(ctx)
			cancel()
		}
	}
	p.wg.Wait()
	_ = p.ua.Close()
}

// ulawTone is 20 ms of a 1 kHz tone in G.711 µ-law (the 8-sample cycle
// 0, 0.707, 1, 0.707, 0, … at a modest level).
func ulawTone() []byte {
	cycle := []byte{0xff, 0x9e, 0x8f, 0x9e, 0x7f, 0x1e, 0x0f, 0x1e}
	out := make([]byte, 160)
	for i := range out {
		out[i] = cycle[i%len(cycle)]
	}
	return out
}
