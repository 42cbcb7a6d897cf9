package webchat

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/gorilla/websocket"

	"omnicc/events"
	"omnicc/router"
)

// frame is what the server sends a visitor's page:
//
//	{"type":"message","message":{seq,direction,body,attachments,client_id,status,agent,created_at}}
//	{"type":"sent","client_id":"…","message":{…}}   the answer to a send
//	{"type":"conversation","conversation":{interaction_id,status,agent,last_seq,read_seq}}
//	{"type":"typing","agent":{"name":"…"}}
//	{"type":"error","client_id":"…","error":"…"}     a send the server refused
type frame struct {
	Type         string        `json:"type"`
	Message      *MessageView  `json:"message,omitempty"`
	Conversation *Conversation `json:"conversation,omitempty"`
	Agent        *Agent        `json:"agent,omitempty"`
	ClientID     string        `json:"client_id,omitempty"`
	Error        string        `json:"error,omitempty"`
}

var upgrader = websocket.Upgrader{
	ReadBufferSize:  1024,
	WriteBufferSize: 4096,
	// CheckSession checked the origin against the website's list before
	// the upgrade, with an answer that says why.
	CheckOrigin: func(*http.Request) bool { return true },
}

// visitorConn is one visitor socket: the handler's goroutine reads, one
// writer goroutine writes; both end with the socket.
type visitorConn struct {
	c      *Connector
	v      *Visitor
	ws     *websocket.Conn
	out    chan frame    // bounded: a visitor that does not read is dropped
	wake   chan struct{} // new messages in the database: replay
	resume chan int64    // the page asks for everything after a seq
	gone   chan struct{} // closed when the socket is dropped
	once   sync.Once
	bucket *bucket
	typed  time.Time
}

func (vc *visitorConn) drop() { vc.once.Do(func() { close(vc.gone) }) }

// ServeVisitor upgrades a checked visitor's request to the visitor
// websocket and serves it until either side closes or the connector
// shuts down. afterSeq is the last seq the page has: everything after it
// is replayed from the database first.
func (c *Connector) ServeVisitor(w http.ResponseWriter, r *http.Request, v *Visitor, afterSeq int64) {
	c.mu.Lock()
	if c.closing {
		c.mu.Unlock()
		http.Error(w, "shutting down", http.StatusServiceUnavailable)
		return
	}
	c.conns.Add(1)
	c.mu.Unlock()
	defer c.conns.Done()
	ws, err := upgrader.Upgrade(w, r, nil)
	if err != nil {
		return // gorilla answered the client
	}
	vc := &visitorConn{c: c, v: v, ws: ws, out: make(chan frame, c.lim.SendBuffer), wake: make(chan struct{}, 1),
		resume: make(chan int64, 1), gone: make(chan struct{}), bucket: newBucket(c.lim.MessagesPerSecond, c.lim.Burst, c.o.Clock.Now())}
	ctx, cancel := context.WithCancel(context.WithoutCancel(r.Context()))
	c.attach(vc)
	var writer sync.WaitGroup
	writer.Go(func() { vc.write(ctx, max(afterSeq, 0)) })
	writer.Go(func() {
		// Unblock the reader when the writer gave up (a slow or dead
		// visitor) or the connector stops.
		select {
		case <-vc.gone:
		case <-c.stop:
		case <-ctx.Done():
			return
		}
		_ = vc.ws.SetReadDeadline(time.Now())
	})
	reason := vc.read(ctx)
	vc.drop()
	cancel()
	writer.Wait()
	c.detach(vc)
	if reason != "" {
		msg := websocket.FormatCloseMessage(websocket.ClosePolicyViolation, truncateUTF8(reason, 120))
		_ = ws.WriteControl(websocket.CloseMessage, msg, time.Now().Add(time.Second))
	}
	_ = ws.Close()
}

func truncateUTF8(s string, n int) string {
	for len(s) > n {
		_, size := utf8.DecodeLastRuneInString(s)
		s = s[:len(s)-size]
	}
	return s
}

// read handles the visitor's frames; it answers the close reason when the
// server ends the socket for bad input, "" when the socket just ended.
func (vc *visitorConn) read(ctx context.Context) string {
	c := vc.c
	vc.ws.SetReadLimit(c.lim.FrameBytes)
	_ = vc.ws.SetReadDeadline(time.Now().Add(c.lim.PongWait))
	vc.ws.SetPongHandler(func(string) error { return vc.ws.SetReadDeadline(time.Now().Add(c.lim.PongWait)) })
	for {
		typ, raw, err := vc.ws.ReadMessage()
		if errors.Is(err, websocket.ErrReadLimit) {
			return "frame over " + strconv.FormatInt(c.lim.FrameBytes, 10) + " bytes"
		}
		if err != nil {
			return ""
		}
		_ = vc.ws.SetReadDeadline(time.Now().Add(c.lim.PongWait))
		if typ != websocket.TextMessage {
			return "text frames only"
		}
		f, err := ParseVisitorFrame(raw)
		if err != nil {
			return err.Error()
		}
		switch f.Type {
		case "send":
			if !vc.bucket.take(c.o.Clock.Now()) {
				return "rate limit: at most " + strconv.FormatFloat(c.lim.MessagesPerSecond, 'f', -1, 64) + " messages a second"
			}
			m, _, err := c.Send(ctx, vc.v, SendInput{ClientID: f.ClientID, Body: f.Body, Attachments: f.Attachments})
			if err != nil {
				vc.push(frame{Type: "error", ClientID: f.ClientID, Error: publicError(err)})
				continue
			}
			vc.push(frame{Type: "sent", ClientID: f.ClientID, Message: &m})
		case "typing":
			if now := c.o.Clock.Now(); now.Sub(vc.typed) >= 2*time.Second {
				vc.typed = now
				c.Typing(ctx, vc.v)
			}
		case "ack":
			if !vc.bucket.take(c.o.Clock.Now()) {
				return "rate limit: at most " + strconv.FormatFloat(c.lim.MessagesPerSecond, 'f', -1, 64) + " messages a second"
			}
			if err := c.Ack(ctx, vc.v, f.Seq, f.Read); err != nil {
				c.o.Logger.Warn("webchat: ack", "err", err)
			}
		case "resume":
			select {
			case <-vc.resume:
			default:
			}
			vc.resume <- f.AfterSeq
		}
	}
}

// publicError is what a visitor is told of a refused send.
func publicError(err error) string {
	var fe *FieldError
	var rfe *router.FieldError
	switch {
	case errors.As(err, &fe):
		return fe.Error()
	case errors.As(err, &rfe):
		return rfe.Error()
	case errors.Is(err, router.ErrTooLarge):
		return "the message is too long"
	default:
		return "the message could not be stored: send it again"
	}
}

// push queues a frame for the writer; a visitor too slow to take it is
// dropped (its page reconnects and replays from the database).
func (vc *visitorConn) push(f frame) {
	select {
	case vc.out <- f:
	default:
		vc.drop()
	}
}

func (vc *visitorConn) notify() {
	select {
	case vc.wake <- struct{}{}:
	default:
	}
}

// write is the socket's only writer: replays, frames and pings.
func (vc *visitorConn) write(ctx context.Context, sent int64) {
	c := vc.c
	ping := time.NewTicker(c.lim.PingEvery)
	defer ping.Stop()
	defer vc.drop()
	send := func(f frame) bool {
		_ = vc.ws.SetWriteDeadline(time.Now().Add(10 * time.Second))
		return vc.ws.WriteJSON(f) == nil
	}
	replay := func() bool {
		ms, conv, err := c.History(ctx, vc.v, sent)
		if err != nil {
			c.o.Logger.Warn("webchat: replay", "err", err)
			return true
		}
		for i := range ms {
			if !send(frame{Type: "message", Message: &ms[i]}) {
				return false
			}
			sent = ms[i].Seq
		}
		return send(frame{Type: "conversation", Conversation: conv})
	}
	if !replay() {
		return
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-vc.gone:
			return
		case <-c.stop:
			_ = vc.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseGoingAway, "server shutting down"), time.Now().Add(time.Second))
			return
		case after := <-vc.resume:
			sent = after
			if !replay() {
				return
			}
		case <-vc.wake:
			if !replay() {
				return
			}
		case f := <-vc.out:
			if !send(f) {
				return
			}
		case <-ping.C:
			if vc.ws.WriteControl(websocket.PingMessage, nil, time.Now().Add(10*time.Second)) != nil {
				return
			}
		}
	}
}

// attach and detach keep the connector's index of open sockets.
func (c *Connector) attach(vc *visitorConn) {
	c.mu.Lock()
	defer c.mu.Unlock()
	k := vc.v.key()
	if c.byKey[k] == nil {
		c.byKey[k] = map[*visitorConn]bool{}
	}
	c.byKey[k][vc] = true
}

func (c *Connector) detach(vc *visitorConn) {
	c.mu.Lock()
	defer c.mu.Unlock()
	k := vc.v.key()
	delete(c.byKey[k], vc)
	if len(c.byKey[k]) == 0 {
		delete(c.byKey, k)
		for id, key := range c.byInter {
			if key == k {
				delete(c.byInter, id)
			}
		}
	}
}

// track remembers which visitor an interaction belongs to while the
// visitor has a socket open.
func (c *Connector) track(interactionID int64, key string) {
	c.mu.Lock()
	if c.byKey[key] != nil {
		c.byInter[interactionID] = key
	}
	c.mu.Unlock()
}

func (c *Connector) sockets(key string) []*visitorConn {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]*visitorConn, 0, len(c.byKey[key]))
	for vc := range c.byKey[key] {
		out = append(out, vc)
	}
	return out
}

// notify tells every socket of the visitor to read on from the database.
func (c *Connector) notify(key string) {
	for _, vc := range c.sockets(key) {
		vc.notify()
	}
}

func (c *Connector) push(key string, f frame) {
	for _, vc := range c.sockets(key) {
		vc.push(f)
	}
}

// Connected is how many visitor sockets are open.
func (c *Connector) Connected() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, s := range c.byKey {
		n += len(s)
	}
	return n
}

// EventSource is the core's event bus.
type EventSource = events.Source

// Follow listens to the router's events until ctx ends: a new message of
// a visitor's conversation wakes the visitor's sockets; a change of state
// (accepted, read, closed) is told to them, and closing stores a notice the
// visitor still sees after a reload. A lagging subscription is replaced
// and every socket replays, so nothing is lost.
func (c *Connector) Follow(ctx context.Context, src EventSource) error {
	return events.Follow(ctx, src, events.Scope{All: true}, 4096, func(e events.Event) { c.observe(ctx, e) }, func(err error) {
		c.o.Logger.Warn("webchat: fell behind the event bus; every visitor socket replays", "err", err)
		c.mu.Lock()
		keys := make([]string, 0, len(c.byKey))
		for k := range c.byKey {
			keys = append(keys, k)
		}
		c.mu.Unlock()
		for _, k := range keys {
			c.notify(k)
		}
	})
}

func (c *Connector) observe(ctx context.Context, e events.Event) {
	payload := e.Payload
	if raw, ok := payload.(json.RawMessage); ok {
		// Another instance's event, as the fan-out delivers it: the
		// visitor's socket may sit here while the agent works there.
		var err error
		switch e.Type {
		case "message":
			var p router.MessageEvent
			err = json.Unmarshal(raw, &p)
			payload = p
		case "interaction":
			var p router.InteractionEvent
			err = json.Unmarshal(raw, &p)
			payload = p
		case agentTypingEvent:
			var p agentTyping
			err = json.Unmarshal(raw, &p)
			payload = p
		default:
			return
		}
		if err != nil {
			c.o.Logger.Warn("webchat: another instance's event could not be read; ignored", "type", e.Type, "origin", e.Origin, "err", err)
			return
		}
	}
	switch p := payload.(type) {
	case agentTyping:
		c.push(p.Key, frame{Type: "typing", Agent: &Agent{Name: p.Name}})
	case router.MessageEvent:
		c.mu.Lock()
		key := c.byInter[p.InteractionID]
		c.mu.Unlock()
		if key != "" {
			c.notify(key)
		}
	case router.InteractionEvent:
		it := p.Interaction
		if it == nil || it.Channel != Channel {
			return
		}
		if e.Origin == "" {
			c.announce(ctx, it) // the instance it was born on announces it
		}
		key := it.Account + "/" + trimVisitor(it.Customer)
		if len(c.sockets(key)) == 0 {
			return
		}
		c.track(it.ID, key)
		conv, err := c.conversationOf(ctx, it)
		if err != nil {
			return
		}
		c.push(key, frame{Type: "conversation", Conversation: conv})
	}
}

func trimVisitor(customer string) string {
	if len(customer) > len("visitor:") && customer[:len("visitor:")] == "visitor:" {
		return customer[len("visitor:"):]
	}
	return customer
}

// announce stores "<agent> joined" and "closed" notices, once each time
// (the client id carries the moment).
func (c *Connector) announce(ctx context.Context, it *router.Interaction) {
	var body, id string
	switch {
	case it.Status == router.StatusAccepted && it.AgentID != nil && it.AcceptedAt != nil:
		body = c.agentName(ctx, *it.AgentID) + " joined the conversation."
		id = "joined:" + strconv.FormatInt(*it.AgentID, 10) + ":" + strconv.FormatInt(it.AcceptedAt.UnixMicro(), 10)
	case it.Status == router.StatusClosed && it.ClosedAt != nil:
		body, id = "The conversation was closed. Write again to reopen it.", "closed:"+strconv.FormatInt(it.ClosedAt.UnixMicro(), 10)
	default:
		return
	}
	c.mu.Lock()
	if c.announced == nil || len(c.announced) > 10000 {
		c.announced = map[string]bool{}
	}
	k := strconv.FormatInt(it.ID, 10) + "/" + id
	seen := c.announced[k]
	c.announced[k] = true
	c.mu.Unlock()
	if seen {
		return
	}
	if _, _, err := c.o.Router.AddSystemMessage(ctx, it.ID, body, id); err != nil {
		c.o.Logger.Warn("webchat: store a notice", "interaction", it.ID, "err", err)
	}
}

// bucket is a token bucket: rate tokens a second, at most burst saved.
type bucket struct {
	rate   float64
	burst  float64
	tokens float64
	at     time.Time
}

func newBucket(rate float64, burst int, now time.Time) *bucket {
	return &bucket{rate: rate, burst: float64(burst), tokens: float64(burst), at: now}
}

func (b *bucket) take(now time.Time) bool {
	if d := now.Sub(b.at).Seconds(); d > 0 {
		b.tokens = min(b.burst, b.tokens+d*b.rate)
		b.at = now
	}
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}
