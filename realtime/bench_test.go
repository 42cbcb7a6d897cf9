package realtime

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"omnicc/store"
	"omnicc/storetest"
)

// The benchmarks compare what a REGISTER costs Asterisk: a
// /realtime/ps_endpoints/single over loopback HTTP (as res_config_curl sends
// it, one request at a time on a keep-alive connection), against the same
// point lookup sent straight to MariaDB (as res_config_odbc does). Each
// reports p50 and p99 besides the mean. Figures: BENCHMARKS.md.

const benchAgents = 1000

func seedEndpoints(b *testing.B, db *store.DB) {
	b.Helper()
	ctx := context.Background()
	for i := range benchAgents {
		id := fmt.Sprintf("agent%04d", i)
		if _, err := db.ExecContext(ctx, `INSERT INTO ps_endpoints (id, transport, aors, auth, context, disallow, allow, direct_media, callerid, webrtc, force_rport, rewrite_contact, rtp_symmetric)
			VALUES (?, 'transport-wss', ?, ?, 'from-sip', 'all', 'opus,ulaw,alaw', 'no', ?, 'yes', 'yes', 'yes', 'yes')`,
			id, id, id, fmt.Sprintf(`"Agent %d" <%d>`, i, 1000+i)); err != nil {
			b.Fatal(err)
		}
	}
}

// latencies records each operation's duration and reports percentiles.
type latencies []time.Duration

func (l latencies) report(b *testing.B) {
	if len(l) == 0 {
		return
	}
	s := slices.Clone(l)
	slices.Sort(s)
	pct := func(p float64) float64 { return float64(s[int(float64(len(s)-1)*p)].Nanoseconds()) / 1e3 }
	b.ReportMetric(pct(0.50), "p50-µs")
	b.ReportMetric(pct(0.99), "p99-µs")
}

func BenchmarkPSEndpointsSingle(b *testing.B) {
	db := storetest.MariaDB(b)
	seedEndpoints(b, db)

	for _, bc := range []struct {
		name string
		ttl  time.Duration
		warm bool // every agent looked up once before timing
	}{
		{"http-cache-warm", time.Hour, true}, // steady state: REGISTERs of known agents
		{"http-cache-cold", 0, false},        // default TTL, starting empty: 1 lookup in 10 misses
		{"http-no-cache", -1, false},         // every lookup goes to MariaDB
	} {
		b.Run(bc.name, func(b *testing.B) {
			srv, err := NewServer(context.Background(), db, Options{CacheTTL: bc.ttl})
			if err != nil {
				b.Fatal(err)
			}
			defer srv.Close()
			hs := httptest.NewServer(srv)
			defer hs.Close()
			client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
			defer client.CloseIdleConnections()
			url := hs.URL + "/realtime/ps_endpoints/single"
			if bc.warm {
				for i := range benchAgents {
					resp, err := client.Post(url, "application/x-www-form-urlencoded", strings.NewReader(fmt.Sprintf("id=agent%04d", i)))
					if err != nil {
						b.Fatal(err)
					}
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
			}
			lat := make(latencies, 0, b.N)
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				body := "id=agent" + fmt.Sprintf("%04d", i%benchAgents)
				start := time.Now()
				resp, err := client.Post(url, "application/x-www-form-urlencoded", strings.NewReader(body))
				if err != nil {
					b.Fatal(err)
				}
				reply, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				lat = append(lat, time.Since(start))
				if len(reply) < 100 {
					b.Fatalf("reply %q", reply)
				}
			}
			b.StopTimer()
			lat.report(b)
		})
	}

	// res_config_odbc prepares and executes every lookup (see the ODBC
	// capture); "prepared" is the best a direct client can do.
	for _, prepared := range []bool{false, true} {
		name := "mariadb-direct"
		if prepared {
			name += "-prepared"
		}
		b.Run(name, func(b *testing.B) { directLookups(b, db, prepared) })
	}
}

func directLookups(b *testing.B, db *store.DB, prepared bool) {
	ctx := context.Background()
	const q = "SELECT * FROM ps_endpoints WHERE id = ?"
	stmt, err := db.PrepareContext(ctx, q)
	if err != nil {
		b.Fatal(err)
	}
	defer stmt.Close()
	lat := make(latencies, 0, b.N)
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		id := "agent" + fmt.Sprintf("%04d", i%benchAgents)
		start := time.Now()
		var rows *sql.Rows
		var err error
		if prepared {
			rows, err = stmt.QueryContext(ctx, id)
		} else {
			rows, err = db.QueryContext(ctx, q, id)
		}
		if err != nil {
			b.Fatal(err)
		}
		cols, _ := rows.Columns()
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for j := range vals {
			ptrs[j] = &vals[j]
		}
		n := 0
		for rows.Next() {
			if err := rows.Scan(ptrs...); err != nil {
				b.Fatal(err)
			}
			n++
		}
		rows.Close()
		lat = append(lat, time.Since(start))
		if n != 1 {
			b.Fatalf("%d rows", n)
		}
	}
	b.StopTimer()
	lat.report(b)
}
