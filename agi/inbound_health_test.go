package agi

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"omnicc/contacts"
	"omnicc/storetest"
)

// stalledContacts is a contact manager whose database stalls: every call
// waits until the stall ends or its context does.
type stalledContacts struct {
	released chan struct{}
	calls    atomic.Int64
}

func (s *stalledContacts) wait(ctx context.Context) error {
	s.calls.Add(1)
	select {
	case <-s.released:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s *stalledContacts) LookupCaller(ctx context.Context, number string) (contacts.Caller, bool, error) {
	if err := s.wait(ctx); err != nil {
		return contacts.Caller{}, false, err
	}
	return contacts.Caller{ID: 7, Name: "Late"}, true, nil
}

func (s *stalledContacts) CreateUnknownCaller(ctx context.Context, listID int64, number, name string) (contacts.Caller, bool, error) {
	if err := s.wait(ctx); err != nil {
		return contacts.Caller{}, false, err
	}
	return contacts.Caller{ID: 8}, true, nil
}

type downHealth struct{}

func (downHealth) Down() bool { return true }

// While the database is known to be down, /inbound routes the call at once
// without the caller's contact: the soak saw every call wait the lookup's
// 500 ms first.
func TestInboundSkipsTheCallerLookupWhileTheDatabaseIsDown(t *testing.T) {
	e := newRoutingEnv(t, storetest.SQLite(t), 0)
	e.runCallLog(t)
	people := &stalledContacts{released: make(chan struct{})}
	stallOver := make(chan struct{})
	// The stall ends by itself, well inside the test client's deadline.
	timer := time.AfterFunc(5*time.Second, func() { close(people.released); close(stallOver) })
	defer func() {
		if timer.Stop() {
			close(people.released)
		}
	}()
	inbound, err := NewInbound(InboundOptions{Routes: e.table, Contacts: people, CallLog: e.calls, Now: e.clock.Now, Health: downHealth{}})
	if err != nil {
		t.Fatal(err)
	}
	r := NewRouter()
	r.Handle("inbound", inbound)
	ts := startServer(t, Config{}, r)

	got := dial(t, ts.addr, callHeader("inbound?linkedid=l", map[string]string{"extension": "0644444444", "callerid": "0299998888"}), "", 0)
	select {
	case <-stallOver:
		t.Fatal("the call was routed only after the database stall ended")
	default:
	}
	got.want(t, VarDestType, "queue", VarDest, "support", VarRoute, "rome", VarOpen, "1")
	if n := people.calls.Load(); n != 0 {
		t.Errorf("%d contact lookups against a database known to be down, want none", n)
	}
}
