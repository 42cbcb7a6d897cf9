package agi

import (
	"bufio"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"omnicc/calllog"
	"omnicc/storetest"
)

// countingLog is the call log port: it keeps what FastAGI recorded.
type countingLog struct {
	mu      sync.Mutex
	entries []calllog.Entry
}

func (c *countingLog) Record(e calllog.Entry) {
	c.mu.Lock()
	c.entries = append(c.entries, e)
	c.mu.Unlock()
}

func (c *countingLog) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}

// A decision Asterisk has acted on must already be in the call log (the
// journal, in the daemon) when Asterisk gets the last variable: a kill -9
// right after the answer then loses nothing. Before, the entry was
// recorded after the last SET VARIABLE's reply, and a crash in that round
// trip lost decisions Asterisk had already routed.
func TestDecisionRecordedBeforeTheLastVariable(t *testing.T) {
	e := newRoutingEnv(t, storetest.SQLite(t), 0)
	log := &countingLog{}
	inbound, err := NewInbound(InboundOptions{Routes: e.table, Contacts: e.contacts, CallLog: log, Now: e.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	outbound, err := NewOutbound(OutboundOptions{Routes: e.table, CallLog: log, Now: e.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	r := NewRouter()
	r.Handle("inbound", inbound)
	r.Handle("outbound", outbound)
	ts := startServer(t, Config{}, r)

	for _, tc := range []struct {
		name, header string
		vars         int
	}{
		{"inbound", callHeader("inbound?linkedid=L1", map[string]string{"extension": "0622222222", "callerid": "021234567"}), 4},
		{"outbound", callHeader("outbound?linkedid=L2", map[string]string{"extension": "0039061234", "context": "from-sip",
			"channel": "PJSIP/ann-00000001", "callerid": "1001"}), 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := log.count()
			conn, err := net.DialTimeout("tcp", ts.addr, waitLimit)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			conn.SetDeadline(time.Now().Add(waitLimit))
			if _, err := io.WriteString(conn, tc.header); err != nil {
				t.Fatal(err)
			}
			rd := bufio.NewReader(conn)
			sets := 0
			for {
				line, err := rd.ReadString('\n')
				if err != nil {
					break
				}
				if strings.HasPrefix(line, "SET VARIABLE ") {
					sets++
					// The reply to this command is what tells omniccd that
					// Asterisk has the variable: check before giving it.
					recorded := log.count() - before
					switch {
					case sets < tc.vars && recorded != 0:
						t.Errorf("recorded before variable %d of %d: a hang-up now would not be logged as undelivered", sets, tc.vars)
					case sets == tc.vars && recorded != 1:
						t.Errorf("last variable sent with %d entries recorded, want 1: a kill -9 now loses the decision", recorded)
					}
				}
				io.WriteString(conn, "200 result=1\n")
			}
			if sets != tc.vars {
				t.Fatalf("%d SET VARIABLEs, want %d", sets, tc.vars)
			}
			if got := log.count() - before; got != 1 {
				t.Fatalf("%d entries recorded for one call, want 1", got)
			}
		})
	}
}
