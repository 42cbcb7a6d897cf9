package realtime

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"omnicc/store"
	"omnicc/storetest"
)

// Requests per table and verb, cache hits and misses, database errors and
// lookups served stale are on the registry after real traffic.
func TestServerMetrics(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		mustExec(t, db, `INSERT INTO ps_endpoints (id, transport, context) VALUES (?, ?, ?)`, "ann", "transport-wss", "from-sip")
		health := &fakeHealth{}
		clock := &fakeClock{now: time.Unix(1795277000, 0)}
		reg := prometheus.NewRegistry()
		srv, err := newServer(ctx, db, db.Dialect, testOptions{Now: clock.Now, CacheTTL: time.Second, Health: health, Registerer: reg}.opts())
		if err != nil {
			t.Fatal(err)
		}
		url := startServer(t, srv)
		post(t, url+"/ps_endpoints/single", "id=ann") // miss
		post(t, url+"/ps_endpoints/single", "id=ann") // hit
		health.down.Store(true)
		clock.Add(time.Minute)
		if r := post(t, url+"/ps_endpoints/single", "id=ann"); r.status != 200 { // stale
			t.Fatalf("stale lookup: %d", r.status)
		}
		if r := post(t, url+"/ps_contacts/store", "id=ann%3B%40x&uri=sip%3Aann%40h"); r.status != http.StatusServiceUnavailable {
			t.Fatalf("write while down: %d", r.status)
		}
		for _, c := range []struct {
			name   string
			labels []string
			want   float64
		}{
			{"omnicc_realtime_requests_total", []string{"table", "ps_endpoints", "verb", "single"}, 3},
			{"omnicc_realtime_requests_total", []string{"table", "ps_contacts", "verb", "store"}, 1},
			{"omnicc_realtime_cache_lookups_total", []string{"table", "ps_endpoints", "result", "hit"}, 1},
			{"omnicc_realtime_cache_lookups_total", []string{"table", "ps_endpoints", "result", "miss"}, 2},
			{"omnicc_realtime_served_stale_total", []string{"table", "ps_endpoints"}, 1},
			{"omnicc_realtime_db_errors_total", []string{"table", "ps_endpoints"}, 1},
			{"omnicc_realtime_db_errors_total", []string{"table", "ps_contacts"}, 1},
		} {
			if got := gathered(t, reg, c.name, c.labels...); got != c.want {
				t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
			}
		}
	})
}

func gathered(t *testing.T, reg prometheus.Gatherer, name string, labels ...string) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
	series:
		for _, m := range f.GetMetric() {
			have := map[string]string{}
			for _, l := range m.GetLabel() {
				have[l.GetName()] = l.GetValue()
			}
			for i := 0; i+1 < len(labels); i += 2 {
				if have[labels[i]] != labels[i+1] {
					continue series
				}
			}
			return m.GetCounter().GetValue() + m.GetGauge().GetValue()
		}
	}
	return -1
}
