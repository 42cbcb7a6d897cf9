package main

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"omnicc/ami/amitest"
	"omnicc/storetest"
)

// daemon is one omniccd started by the test on its own addresses and
// data directory.
type daemon struct {
	id     string
	addr   string
	cancel context.CancelFunc
	done   chan error
	log    *syncBuffer
}

// roles reads what the daemon leads from /readyz; nil if it does not answer.
func (d *daemon) roles() []string { return readyz(d.addr, d.id).Roles }

// readiness is what /readyz answers that the instance tests read.
type readiness struct {
	Instance string
	Roles    []string
	Fanout   string
}

// readyz reads instance id's /readyz at addr; the zero readiness when it
// does not answer ready, or another instance does.
func readyz(addr, id string) readiness {
	c := http.Client{Timeout: 2 * time.Second}
	res, err := c.Get("http://" + addr + "/readyz")
	if err != nil {
		return readiness{}
	}
	defer res.Body.Close()
	var out readiness
	if res.StatusCode != 200 || json.NewDecoder(res.Body).Decode(&out) != nil || out.Instance != id {
		return readiness{}
	}
	return out
}

func (d *daemon) stop(t *testing.T) {
	t.Helper()
	d.cancel()
	select {
	case err := <-d.done:
		if err != nil {
			t.Errorf("%s: serve returned %v", d.id, err)
		}
	case <-time.After(30 * time.Second):
		t.Errorf("%s did not stop", d.id)
	}
}

// Two omniccd against one MariaDB and two Asterisk boxes: every role (each
// box, the router, the jobs) is led by exactly one of them, /readyz says
// which; stopping the router's leader hands every role it held over.
func TestInstancesShareTheRoles(t *testing.T) {
	ignore := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, ignore) })
	dsn := storetest.MariaDBDSN(t)
	box1, box2 := amitest.NewServer(t, "omnicc", "s3cret"), amitest.NewServer(t, "omnicc", "s3cret")
	for _, b := range []*amitest.Server{box1, box2} {
		amitest.NewQueues(b, "sales")
		b.Handle("Reload", amitest.Reply(amitest.Success("Message", "Module Reloaded.")))
	}
	t.Setenv("OMNICC_DB_DSN", dsn)
	t.Setenv("OMNICC_AMI", "omnicc:s3cret@"+box1.Addr()+",omnicc:s3cret@"+box2.Addr())
	t.Setenv("OMNICC_ADMIN_PASSWORD", "Str0ng-Admin-Pass")
	all := []string{"ami:" + box1.Addr(), "ami:" + box2.Addr(), "router",
		"cron:whatsapp.close_idle", "cron:whatsapp.purge", "cron:whatsapp.retry_sends", "cron:whatsapp.window_warning"}
	slices.Sort(all)

	start := func(id string) *daemon {
		// run reads its environment first: set, start, wait until it
		// answers, and only then set the next one's.
		d := &daemon{id: id, addr: freeAddr(t), done: make(chan error, 1), log: &syncBuffer{}}
		t.Setenv("OMNICC_INSTANCE_ID", id)
		t.Setenv("OMNICC_HTTP_ADDR", d.addr)
		t.Setenv("OMNICC_AGI_ADDR", freeAddr(t))
		t.Setenv("OMNICC_DATA_DIR", t.TempDir())
		ctx, cancel := context.WithCancel(context.Background())
		d.cancel = cancel
		go func() { d.done <- run(ctx, []string{"serve"}, &syncBuffer{}, d.log) }()
		waitReady(t, d.addr, d.log)
		return d
	}
	a := start("omnicc-a")
	b := start("omnicc-b")
	running := []*daemon{a, b}
	defer func() {
		for _, d := range running {
			d.stop(t)
		}
	}()

	// Every role has exactly one leader.
	split := func(ds ...*daemon) (map[string]*daemon, bool) {
		owner := map[string]*daemon{}
		for _, d := range ds {
			for _, r := range d.roles() {
				if owner[r] != nil {
					return nil, false
				}
				owner[r] = d
			}
		}
		for _, r := range all {
			if owner[r] == nil {
				return nil, false
			}
		}
		return owner, len(owner) == len(all)
	}
	var owner map[string]*daemon
	deadline := time.Now().Add(60 * time.Second)
	for {
		var ok bool
		if owner, ok = split(a, b); ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("roles never split into one leader each: a %v, b %v\n%s", a.roles(), b.roles(), a.log.String()+b.log.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	// The box leaders logged in to their boxes.
	for _, box := range []*amitest.Server{box1, box2} {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		err := box.WaitLogins(ctx, 3) // each instance's shared pool, and the leader's tracker
		cancel()
		if err != nil {
			t.Fatalf("box %s: %v", box.Addr(), err)
		}
	}

	// The router's leader stops: the other takes every role.
	leader := owner["router"]
	survivor := a
	if leader == a {
		survivor = b
	}
	leader.stop(t)
	running = slices.DeleteFunc(running, func(d *daemon) bool { return d == leader })
	deadline = time.Now().Add(60 * time.Second)
	for !slices.Equal(survivor.roles(), all) {
		if time.Now().After(deadline) {
			t.Fatalf("%s leads %v after %s stopped, want %v\n%s", survivor.id, survivor.roles(), leader.id, all, survivor.log.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	if !strings.Contains(survivor.log.String(), "leadership won") {
		t.Fatalf("the survivor never logged a leadership won:\n%s", survivor.log.String())
	}
}
