package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"omnicc/ami/amitest"
	"omnicc/storetest"
)

const clusterAdminPass = "Str0ng-Admin-Pass"

// cluster is omniccd processes started by a test or benchmark against
// one MariaDB database, a nats-server of its own and AMI test servers
// ("boxes"), each process the test binary itself (childEnv).
type cluster struct {
	tb       testing.TB
	dsn      string
	natsPort int
	nats     *natsServer
	boxes    []*amitest.Server
	queues   []*amitest.Queues
	self     string
	procs    []*proc
	// roles are those that must each have one leader: every box's and the
	// router's.
	roles []string
}

func newCluster(tb testing.TB, boxes int) *cluster {
	tb.Helper()
	c := &cluster{tb: tb, dsn: storetest.MariaDBDSN(tb), natsPort: freePort(tb)}
	c.nats = startNATS(tb, c.natsPort)
	for range boxes {
		box := amitest.NewServer(tb, "omnicc", "s3cret")
		box.Handle("Reload", amitest.Reply(amitest.Success("Message", "Module Reloaded.")))
		q := amitest.NewQueues(box, "sales")
		// As Asterisk does, a queue action's events go to every manager
		// session after its response, not only to the one that acted:
		// the instances that do not lead the box hear them too.
		q.DelayEvents(time.Millisecond)
		c.boxes, c.queues = append(c.boxes, box), append(c.queues, q)
		c.roles = append(c.roles, "ami:"+box.Addr())
	}
	c.roles = append(c.roles, "router")
	var err error
	if c.self, err = os.Executable(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(c.stopAll)
	return c
}

// start starts one process; it answers once waitReady says so.
func (c *cluster) start(id string) *proc {
	tb := c.tb
	p := &proc{id: id, addr: freeAddr(tb), log: &syncBuffer{}, done: make(chan struct{})}
	ami := ""
	for i, b := range c.boxes {
		if i > 0 {
			ami += ","
		}
		ami += "omnicc:s3cret@" + b.Addr()
	}
	p.cmd = exec.Command(c.self, "-test.run=^$")
	p.cmd.Env = append(os.Environ(), childEnv+"=1",
		"OMNICC_DB_DSN="+c.dsn,
		"OMNICC_AMI="+ami,
		"OMNICC_ADMIN_PASSWORD="+clusterAdminPass,
		fmt.Sprintf("OMNICC_NATS_URL=nats://127.0.0.1:%d", c.natsPort),
		"OMNICC_INSTANCE_ID="+id,
		"OMNICC_HTTP_ADDR="+p.addr,
		"OMNICC_AGI_ADDR="+freeAddr(tb),
		"OMNICC_DATA_DIR="+tb.TempDir(),
		"OMNICC_LOG_LEVEL=debug",
	)
	p.cmd.Stdout, p.cmd.Stderr = p.log, p.log
	// A test that dies takes its processes with it.
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := p.cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	go func() { _ = p.cmd.Wait(); close(p.done) }()
	c.procs = append(c.procs, p)
	return p
}

func (c *cluster) startReady(id string) *proc {
	p := c.start(id)
	waitReady(c.tb, p.addr, p.log)
	return p
}

// kill ends p with SIGKILL and waits for it to be gone.
func (c *cluster) kill(p *proc) {
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

// owners maps every role to the one of ps that leads it; nil while a role
// has no leader or two claim one.
func (c *cluster) owners(ps ...*proc) map[string]*proc {
	out := map[string]*proc{}
	for _, p := range ps {
		for _, r := range p.roles() {
			if out[r] != nil {
				return nil
			}
			out[r] = p
		}
	}
	for _, r := range c.roles {
		if out[r] == nil {
			return nil
		}
	}
	return out
}

func (c *cluster) stopAll() {
	for _, p := range c.procs {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
	}
	for _, p := range c.procs {
		select {
		case <-p.done:
		case <-time.After(30 * time.Second):
			_ = p.cmd.Process.Kill()
			c.tb.Errorf("%s did not stop on SIGTERM", p.id)
		}
	}
	if c.tb.Failed() {
		for _, p := range c.procs {
			c.tb.Logf("--- %s\n%s", p.id, tail(p.log.String(), 60))
		}
	}
}

// clusterAgent is a webrtc agent made over REST and logged in.
type clusterAgent struct {
	id          int64
	name, token string
}

// newAgent creates the agent name through api (as admin), a member of
// queues, and logs it in through via.
func newAgent(api *restClient, admin string, via *restClient, name string, queues ...int64) *clusterAgent {
	api.t.Helper()
	ag := &clusterAgent{name: name}
	var created struct{ ID int64 }
	api.do("POST", "/api/v1/agents", admin, map[string]any{"full_name": "Agent " + name, "username": name,
		"typology": "webrtc", "password": "Str0ng-Pass"}, 201, &created)
	ag.id = created.ID
	for _, q := range queues {
		api.do("POST", fmt.Sprintf("/api/v1/queues/%d/agents", q), admin, map[string]any{"agent_id": ag.id}, 0, nil)
	}
	ag.token = via.login(name, "Str0ng-Pass")
	via.do("POST", fmt.Sprintf("/api/v1/agents/%d/login", ag.id), ag.token, nil, 200, nil)
	return ag
}

// openChannel creates an open channel account on queue and answers its id
// and token, for posting customers' messages.
func openChannel(api *restClient, admin string, queue int64) (id int64, token string) {
	api.t.Helper()
	var account struct {
		ID    int64
		Token string
	}
	api.do("POST", "/api/v1/openchannel-accounts", admin, map[string]any{"name": "gw", "queue_id": queue, "reply_url": "http://127.0.0.1:9/none"}, 201, &account)
	return account.ID, account.Token
}

// followOffers reads ws until it closes and calls fn with the interaction
// of every offer it carries.
func followOffers(ws *websocket.Conn, fn func(interaction int64)) {
	for {
		_, raw, err := ws.ReadMessage()
		if err != nil {
			return
		}
		var ev struct {
			Type        string
			Interaction struct{ ID int64 }
		}
		if json.Unmarshal(raw, &ev) == nil && ev.Type == "offer" {
			fn(ev.Interaction.ID)
		}
	}
}
