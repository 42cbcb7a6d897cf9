package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"omnicc/ami/amitest"
)

// childEnv makes the test binary run as omniccd itself: the cluster test
// starts real processes it can kill -9 without building another binary.
const childEnv = "OMNICC_TEST_CHILD_SERVE"

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "1" {
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
		err := run(ctx, []string{"serve"}, os.Stdout, os.Stderr)
		stop()
		if err != nil {
			fmt.Fprintln(os.Stderr, "omniccd:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// proc is one omniccd process of the cluster test.
type proc struct {
	id, addr string
	cmd      *exec.Cmd
	log      *syncBuffer
	done     chan struct{}
}

func (p *proc) base() string { return "http://" + p.addr }

// roles is what /readyz says the process leads; nil if it does not answer.
func (p *proc) roles() []string { return readyz(p.addr, p.id).Roles }

// natsServer is a nats-server of the test's own, so that it can be
// restarted mid-run.
type natsServer struct {
	t    testing.TB
	port int
	cmd  *exec.Cmd
}

func startNATS(t testing.TB, port int) *natsServer {
	t.Helper()
	bin, err := exec.LookPath("nats-server")
	if err != nil {
		if bin = "/usr/sbin/nats-server"; !fileExists(bin) {
			if os.Getenv("CI") == "true" {
				t.Fatal("nats-server is not installed and CI=true (apt-get install nats-server)")
			}
			t.Skip("nats-server is not installed (apt-get install nats-server)")
		}
	}
	n := &natsServer{t: t, port: port}
	n.cmd = exec.Command(bin, "-a", "127.0.0.1", "-p", fmt.Sprint(port))
	if err := n.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(n.stop)
	deadline := time.Now().Add(10 * time.Second)
	for {
		if c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port)); err == nil {
			c.Close()
			return n
		}
		if time.Now().After(deadline) {
			t.Fatal("nats-server did not start")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (n *natsServer) stop() {
	if n.cmd.Process != nil && n.cmd.ProcessState == nil {
		_ = n.cmd.Process.Kill()
		_ = n.cmd.Wait()
	}
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

// Three omniccd processes against one MariaDB, one NATS and two Asterisk
// boxes (AMI test servers). Agents log in through different instances and
// follow their offers on the websocket of another. Then the router's
// leader and a box's leader are killed with SIGKILL: the survivors take
// their roles over, every interaction (those queued before, during and
// after the kills) is offered and accepted, none is offered twice to the
// same agent, the agents' state is right on every instance, and the
// fan-out carries events again after NATS itself is restarted.
func TestClusterSurvivesKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("starts real processes")
	}
	cl := newCluster(t, 2)
	box1, box2 := cl.boxes[0], cl.boxes[1]
	q1, q2 := cl.queues[0], cl.queues[1]
	const adminPass = clusterAdminPass
	start := cl.start
	a := cl.startReady("omnicc-a") // first: it applies the migrations
	b, c := start("omnicc-b"), start("omnicc-c")
	waitReady(t, b.addr, b.log)
	waitReady(t, c.addr, c.log)
	owners := cl.owners
	var owner map[string]*proc
	waitFor(t, 60*time.Second, "every role led by exactly one instance", func() bool { owner = owners(a, b, c); return owner != nil })

	// Configuration, through a.
	api := &restClient{t: t, base: a.base()}
	admin := api.login("admin", adminPass)
	var voiceQ, msgQ struct{ ID int64 }
	api.do("POST", "/api/v1/queues", admin, map[string]any{"name": "sales", "channel": "voice", "strategy": "ringall"}, 201, &voiceQ)
	api.do("POST", "/api/v1/queues", admin, map[string]any{"name": "sms", "channel": "openchannel", "strategy": "roundrobin"}, 201, &msgQ)
	accountID, accountToken := openChannel(api, admin, msgQ.ID)
	var agents []*clusterAgent
	for i, p := range []*proc{a, b, c} {
		// Each logs in through its own instance.
		via := &restClient{t: t, base: p.base()}
		agents = append(agents, newAgent(api, admin, via, fmt.Sprintf("agent%d", i+1), voiceQ.ID, msgQ.ID))
	}

	// Who dies: the router's leader, and a box leader that is another
	// instance when there is one. The survivor hosts the agents' sockets.
	router := owner["router"]
	box := "ami:" + box1.Addr()
	for _, r := range []string{"ami:" + box1.Addr(), "ami:" + box2.Addr()} {
		if owner[r] != router {
			box = r
		}
	}
	doomed := []*proc{router, owner[box]}
	var survivor *proc
	for _, p := range []*proc{a, b, c} {
		if !slices.Contains(doomed, p) {
			survivor = p
			break
		}
	}
	t.Logf("router led by %s, %s by %s; survivor %s", router.id, box, owner[box].id, survivor.id)

	// Each agent's socket on the survivor accepts every offer it gets,
	// through the survivor, and counts offers per interaction.
	sv := &restClient{t: t, base: survivor.base()}
	var mu sync.Mutex
	offers := map[[2]int64]int{}  // {agent, interaction} → offers
	accepted := map[int64]int64{} // interaction → agent
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer func() { cancel(); wg.Wait() }()
	for _, ag := range agents {
		ws := dialWS(t, survivor, ag.token)
		wg.Go(func() { <-ctx.Done(); ws.Close() })
		wg.Go(func() {
			followOffers(ws, func(id int64) {
				mu.Lock()
				offers[[2]int64{ag.id, id}]++
				mu.Unlock()
				if st, _ := sv.try("POST", fmt.Sprintf("/api/v1/interactions/%d/accept", id), ag.token, nil); st == 200 {
					mu.Lock()
					accepted[id] = ag.id
					mu.Unlock()
				}
			})
		})
	}

	var sent []int64
	send := func(p *proc, n int, tag string) {
		gw := &restClient{t: t, base: p.base()}
		for i := range n {
			var ans struct {
				InteractionID int64 `json:"interaction_id"`
			}
			gw.do("POST", fmt.Sprintf("/api/v1/openchannel/%d/messages", accountID), accountToken,
				map[string]any{"from": fmt.Sprintf("+4477009%s%02d", tag, i), "body": "hello", "external_id": tag + fmt.Sprint(i)}, 201, &ans)
			sent = append(sent, ans.InteractionID)
		}
	}
	allAccepted := func() bool {
		mu.Lock()
		defer mu.Unlock()
		for _, id := range sent {
			if accepted[id] == 0 {
				return false
			}
		}
		return true
	}
	// Before the kills: through every instance.
	send(a, 3, "10")
	send(b, 3, "11")
	send(c, 3, "12")
	waitFor(t, 30*time.Second, "the interactions sent before the kills accepted", allAccepted)

	// Queued on a follower right before the leader dies.
	for i, p := range []*proc{a, b, c} {
		if !slices.Contains(doomed, p) {
			send(p, 2, fmt.Sprint(20+i))
		}
	}
	killed := time.Now()
	for _, p := range doomed {
		_ = p.cmd.Process.Signal(syscall.SIGKILL)
	}
	for _, p := range doomed {
		<-p.done
	}
	var living []*proc
	for _, p := range []*proc{a, b, c} {
		if !slices.Contains(doomed, p) {
			living = append(living, p)
		}
	}
	waitFor(t, 30*time.Second, "the survivors take every role over", func() bool { owner = owners(living...); return owner != nil })
	t.Logf("roles taken over %v after the kill -9", time.Since(killed).Round(time.Millisecond))

	// After the kills.
	send(survivor, 3, "30")
	waitFor(t, 30*time.Second, "every interaction accepted after the failover", allAccepted)
	mu.Lock()
	for k, n := range offers {
		if n != 1 {
			t.Errorf("agent %d was offered interaction %d %d times", k[0], k[1], n)
		}
	}
	mu.Unlock()

	// The agents' state, on every instance: the new box leader resynced
	// the box, the others follow its events as observers.
	type queueState struct {
		Queue  string
		Member bool
	}
	for _, p := range living {
		view := &restClient{t: t, base: p.base()}
		for _, ag := range agents {
			var st struct {
				LoggedIn bool `json:"logged_in"`
				Queues   []queueState
			}
			var raw []byte
			defer func() {
				if t.Failed() && raw != nil {
					t.Logf("%s as %s sees it: %s", ag.name, p.id, raw)
					raw = nil
				}
			}()
			waitFor(t, 30*time.Second, fmt.Sprintf("%s logged in and a member of sales, as %s sees it", ag.name, p.id), func() bool {
				var code int
				code, raw = view.try("GET", fmt.Sprintf("/api/v1/agents/%d/state", ag.id), admin, nil)
				if code != 200 || json.Unmarshal(raw, &st) != nil {
					return false
				}
				return st.LoggedIn && slices.ContainsFunc(st.Queues, func(q queueState) bool { return q.Queue == "sales" && q.Member })
			})
		}
	}
	for _, q := range []*amitest.Queues{q1, q2} {
		if n := len(q.Members()); n != len(agents) {
			t.Errorf("a box has %d members of sales, want %d: %+v", n, len(agents), q.Members())
		}
	}

	// NATS restarted: a new instance joins, and an agent's logout through
	// it reaches that agent's socket on the survivor once the fan-out is
	// back.
	cl.nats.stop()
	cl.nats = startNATS(t, cl.natsPort)
	d := start("omnicc-d")
	waitReady(t, d.addr, d.log)
	watch := dialWS(t, survivor, agents[0].token)
	defer watch.Close()
	waitFor(t, 30*time.Second, "both instances' fan-out reconnected", func() bool {
		return fanoutConnected(survivor) && fanoutConnected(d)
	})
	viaD := &restClient{t: t, base: d.base()}
	viaD.do("POST", fmt.Sprintf("/api/v1/agents/%d/logout", agents[0].id), agents[0].token, nil, 200, nil)
	_ = watch.SetReadDeadline(time.Now().Add(30 * time.Second))
	for {
		_, raw, err := watch.ReadMessage()
		if err != nil {
			t.Fatalf("the logout made through %s never reached the socket on %s: %v", d.id, survivor.id, err)
		}
		var ev struct {
			Type     string
			AgentID  int64 `json:"agent_id"`
			LoggedIn bool  `json:"logged_in"`
			State    string
		}
		if json.Unmarshal(raw, &ev) == nil && ev.Type == "agent_state" && ev.AgentID == agents[0].id && ev.State == "logged_out" {
			break
		}
	}
}

func fanoutConnected(p *proc) bool { return readyz(p.addr, p.id).Fanout == "connected" }

func dialWS(t testing.TB, p *proc, token string) *websocket.Conn {
	t.Helper()
	ws, _, err := websocket.DefaultDialer.Dial("ws://"+p.addr+"/api/v1/ws", http.Header{"Authorization": {"Bearer " + token}})
	if err != nil {
		t.Fatalf("websocket on %s: %v", p.id, err)
	}
	return ws
}

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func waitFor(t testing.TB, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %s", limit, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func tail(s string, lines int) string {
	parts := strings.Split(s, "\n")
	if len(parts) > lines {
		parts = parts[len(parts)-lines:]
	}
	return strings.Join(parts, "\n")
}

// restClient calls one instance's REST API.
type restClient struct {
	t    testing.TB
	base string
}

func (c *restClient) try(method, path, token string, body any) (int, []byte) {
	var r io.Reader
	if body != nil {
		raw, _ := json.Marshal(body)
		r = bytes.NewReader(raw)
	}
	req, _ := http.NewRequest(method, c.base+path, r)
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, []byte(err.Error())
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	return res.StatusCode, raw
}

// do calls and checks the status (0: any 2xx), decoding the answer into out.
func (c *restClient) do(method, path, token string, body any, status int, out any) {
	c.t.Helper()
	st, raw := c.try(method, path, token, body)
	if (status == 0 && (st < 200 || st > 299)) || (status != 0 && st != status) {
		c.t.Fatalf("%s %s: %d %s", method, path, st, raw)
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			c.t.Fatalf("%s %s: %v in %s", method, path, err, raw)
		}
	}
}

func (c *restClient) login(user, pass string) string {
	c.t.Helper()
	var out struct{ Token string }
	c.do("POST", "/api/v1/auth/login", "", map[string]string{"username": user, "password": pass}, 200, &out)
	return out.Token
}
