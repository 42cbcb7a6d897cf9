package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// fixture is what the soak created through the REST API.
type fixture struct {
	RunID    string
	DID      string
	Queue    string
	Route    string
	Agents   []agentRef
	WSKeys   []string // supervisor API keys, one per wsPerKey connections
	Password string   // the seeded agents' password
}

type agentRef struct {
	ID       int64  `json:"id"`
	Username string `json:"username"`
}

// wsPerKey stays under the hub's 32 connections per credential.
const wsPerKey = 30

// seed creates a voice queue, an inbound route sending the run's DID to
// it, agents for the REST writes and realtime lookups, and supervisor API
// keys for the websockets. Names carry the run id, so a database can be
// soaked again.
func seed(ctx context.Context, c *client, runID string, agents, wsConns int) (*fixture, error) {
	f := &fixture{RunID: runID, Password: strongPassword()}
	// A DID of digits only, unique per run.
	f.DID = "7" + fmt.Sprintf("%09d", time.Now().Unix()%1_000_000_000)
	f.Queue = "soak_" + runID
	f.Route = "soak-" + runID
	var q struct {
		ID int64 `json:"id"`
	}
	if err := c.call(ctx, "POST", "/queues", map[string]any{"name": f.Queue, "channel": "voice"}, &q); err != nil {
		return nil, fmt.Errorf("create queue %s: %w", f.Queue, err)
	}
	route := map[string]any{"name": f.Route, "did": f.DID, "priority": 1,
		"open": map[string]any{"type": "queue", "target": f.Queue}}
	if err := c.call(ctx, "POST", "/inbound-routes", route, nil); err != nil {
		return nil, fmt.Errorf("create inbound route %s: %w", f.Route, err)
	}
	for i := range agents {
		var a agentRef
		in := map[string]any{"full_name": fmt.Sprintf("Soak Agent %d", i), "username": fmt.Sprintf("soak%s_%d", runID, i),
			"typology": "webrtc", "password": f.Password}
		if err := c.call(ctx, "POST", "/agents", in, &a); err != nil {
			return nil, fmt.Errorf("create agent %d: %w", i, err)
		}
		// Members of the queue, so their logins are what they are in production.
		if err := c.call(ctx, "PUT", "/agents/"+strconv.FormatInt(a.ID, 10)+"/queues",
			map[string]any{"queue_ids": []int64{q.ID}}, nil); err != nil {
			return nil, fmt.Errorf("assign agent %d to %s: %w", i, f.Queue, err)
		}
		f.Agents = append(f.Agents, a)
	}
	for i := 0; i < (wsConns+wsPerKey-1)/wsPerKey; i++ {
		var out struct {
			Key string `json:"key"`
		}
		if err := c.call(ctx, "POST", "/api-keys", map[string]any{"name": fmt.Sprintf("soak-%s-ws%d", runID, i), "role": "supervisor"}, &out); err != nil {
			return nil, fmt.Errorf("create API key %d: %w", i, err)
		}
		f.WSKeys = append(f.WSKeys, out.Key)
	}
	return f, nil
}

// reply is one session that received a routing decision.
type reply struct {
	Caller  string
	Started time.Time // when the session connected: which daemon served it
	Decided time.Time // when OMNICC_DEST_TYPE arrived
}

// agiLoad runs n sessions at a time, each with a new caller, until ctx ends.
type agiLoad struct {
	addr     string
	did      string
	prefix   string // caller numbers are prefix + a counter
	timeout  time.Duration
	stats    *Stats
	counter  atomic.Int64
	mu       sync.Mutex
	replies  []reply
	runStart int64
	linkedID bool         // pass ?linkedid= in the AGI URL, as the sample dialplan does
	replied  atomic.Int64 // sessions that received a decision so far
	refused  atomic.Int64 // sessions that received OMNICC_ERROR (they have a row too)
}

func (l *agiLoad) run(ctx context.Context, n int) {
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []reply
			for ctx.Err() == nil {
				i := l.counter.Add(1)
				spec := callSpec{
					Addr: l.addr, DID: l.did,
					Caller:        l.prefix + fmt.Sprintf("%08d", i),
					UniqueID:      fmt.Sprintf("%d.%d", l.runStart, i),
					Channel:       fmt.Sprintf("PJSIP/trunk-%08x", i),
					ThreadID:      140291969099456 + i,
					Deadline:      l.timeout,
					DialLimit:     3 * time.Second,
					LinkedIDInURL: l.linkedID,
				}
				start := time.Now()
				res, err := runCall(spec)
				took := time.Since(start)
				if !res.Decided.IsZero() {
					l.replied.Add(1)
					mine = append(mine, reply{Caller: spec.Caller, Started: start, Decided: res.Decided})
				}
				switch {
				case err != nil:
					l.stats.Err(kindFastAGI, reasonOf(err))
					if reasonOf(err) == "connect" {
						// The daemon is down or refusing: do not spin.
						sleepCtx(ctx, 50*time.Millisecond)
					}
				case res.Vars["OMNICC_ERROR"] != "":
					l.refused.Add(1)
					l.stats.Err(kindFastAGI, "OMNICC_ERROR="+errorClass(res.Vars["OMNICC_ERROR"]))
				case res.Vars["OMNICC_DEST_TYPE"] == "":
					l.stats.Err(kindFastAGI, "no_decision")
				default:
					l.stats.OK(kindFastAGI, took)
				}
			}
			l.mu.Lock()
			l.replies = append(l.replies, mine...)
			l.mu.Unlock()
		}()
	}
	wg.Wait()
}

// errorClass is OMNICC_ERROR without the numbers in it ("no route for DID
// 7001 from 8001" -> "no route for DID"), so reasons can be counted.
func errorClass(reason string) string {
	if i := strings.IndexAny(reason, "0123456789"); i >= 0 {
		reason = reason[:i]
	}
	reason = strings.TrimSpace(reason)
	if len(reason) > 40 {
		reason = reason[:40]
	}
	return strings.ReplaceAll(reason, " ", "_")
}

func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// paced calls fn about rate times a second from up to workers goroutines
// until ctx ends. Calls that cannot start because every worker is busy are
// counted as "backlog" errors of kind rather than queued without bound.
func paced(ctx context.Context, rate float64, workers int, stats *Stats, kind string, fn func(ctx context.Context, i int64)) {
	if rate <= 0 {
		return
	}
	jobs := make(chan int64, workers)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				fn(ctx, i)
			}
		}()
	}
	const tick = 10 * time.Millisecond
	t := time.NewTicker(tick)
	defer func() {
		t.Stop()
		close(jobs)
		wg.Wait()
	}()
	start := time.Now()
	var issued int64
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			due := int64(now.Sub(start).Seconds() * rate)
			for ; issued < due; issued++ {
				select {
				case jobs <- issued:
				default:
					stats.Err(kind, "backlog")
				}
			}
		}
	}
}

// realtimeLookup is one res_config_curl request of the kinds Asterisk
// sends most (fixture res-config-curl-requests.txt).
func realtimeLookup(c *client, f *fixture, stats *Stats) func(ctx context.Context, i int64) {
	return func(ctx context.Context, i int64) {
		a := f.Agents[int(i)%len(f.Agents)]
		var family, verb string
		var v [][2]string
		switch i % 5 {
		case 0, 1:
			family, verb = "ps_endpoints", "single"
			v = [][2]string{{"id", a.Username}}
		case 2:
			family, verb = "ps_auths", "single"
			v = [][2]string{{"id", a.Username}}
		case 3:
			family, verb = "queues", "single"
			v = [][2]string{{"name", f.Queue}}
		default:
			family, verb = "ps_contacts", "multi"
			v = [][2]string{{"id LIKE", a.Username + ";@%"}}
		}
		start := time.Now()
		err := c.realtime(ctx, family, verb, v)
		took := time.Since(start)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			stats.Err(kindRealtime, httpReason(err))
			return
		}
		stats.OK(kindRealtime, took)
	}
}

// restWrite is one REST write: agents log in, get their description
// changed, and log out, in turn (each publishes to the websockets).
func restWrite(c *client, f *fixture, stats *Stats) func(ctx context.Context, i int64) {
	n := int64(len(f.Agents))
	return func(ctx context.Context, i int64) {
		a := f.Agents[i%n]
		id := strconv.FormatInt(a.ID, 10)
		var err error
		start := time.Now()
		switch (i / n) % 3 {
		case 0:
			err = c.call(ctx, "POST", "/agents/"+id+"/login", nil, nil)
		case 1:
			err = c.call(ctx, "PATCH", "/agents/"+id, map[string]any{"description": "soak write " + strconv.FormatInt(i, 10)}, nil)
		default:
			err = c.call(ctx, "POST", "/agents/"+id+"/logout", nil, nil)
		}
		took := time.Since(start)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			stats.Err(kindREST, httpReason(err))
			return
		}
		stats.OK(kindREST, took)
	}
}

// httpReason names an HTTP failure: the status, or the transport error.
func httpReason(err error) string {
	var ae *apiError
	if errors.As(err, &ae) {
		return "http_" + strconv.Itoa(ae.Status)
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return "timeout"
	}
	if strings.Contains(err.Error(), "connection refused") {
		return "refused"
	}
	if strings.Contains(err.Error(), "no row") {
		return "no_row"
	}
	return "transport"
}

// wsLoad keeps m websockets open, reading every event, reconnecting when
// one drops.
type wsLoad struct {
	url    string
	keys   []string
	stats  *Stats
	events atomic.Int64
	drops  atomic.Int64
	open   atomic.Int64
	byType sync.Map // type -> *atomic.Int64
}

func (l *wsLoad) run(ctx context.Context, m int) {
	var wg sync.WaitGroup
	for i := range m {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l.conn(ctx, l.keys[i/wsPerKey])
		}()
	}
	wg.Wait()
}

func (l *wsLoad) conn(ctx context.Context, key string) {
	dialer := websocket.Dialer{HandshakeTimeout: 10 * time.Second}
	hdr := http.Header{"Authorization": {"Bearer " + key}}
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		start := time.Now()
		c, resp, err := dialer.DialContext(ctx, l.url, hdr)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			reason := "connect"
			if resp != nil {
				reason = "connect_http_" + strconv.Itoa(resp.StatusCode)
			}
			l.stats.Err(kindWS, reason)
			sleepCtx(ctx, backoff)
			backoff = min(backoff*2, 2*time.Second)
			continue
		}
		l.stats.OK(kindWS, time.Since(start))
		backoff = 100 * time.Millisecond
		l.open.Add(1)
		stop := context.AfterFunc(ctx, func() {
			c.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
			c.Close()
		})
		err = l.read(c)
		stop()
		c.Close()
		l.open.Add(-1)
		if ctx.Err() != nil {
			return
		}
		l.drops.Add(1)
		reason := "drop"
		var ce *websocket.CloseError
		if errors.As(err, &ce) {
			reason = "drop_" + strconv.Itoa(ce.Code)
		}
		l.stats.Err(kindWS, reason)
	}
}

func (l *wsLoad) read(c *websocket.Conn) error {
	var ev struct {
		Type string `json:"type"`
	}
	for {
		_, b, err := c.ReadMessage()
		if err != nil {
			return err
		}
		l.events.Add(1)
		ev.Type = ""
		if json.Unmarshal(b, &ev) == nil && ev.Type != "" {
			v, _ := l.byType.LoadOrStore(ev.Type, new(atomic.Int64))
			v.(*atomic.Int64).Add(1)
		}
	}
}

func (l *wsLoad) typeCounts() string {
	var parts []string
	l.byType.Range(func(k, v any) bool {
		parts = append(parts, fmt.Sprintf("%s=%d", k, v.(*atomic.Int64).Load()))
		return true
	})
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(sortStrings(parts), " ")
}
