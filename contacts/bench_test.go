package contacts_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"omnicc/contacts"
	"omnicc/directory"
	"omnicc/store"
	"omnicc/storetest"
)

// The contact benchmarks seed a generated set, the first
// OMNICC_CONTACTS_BENCH_IMPORT rows (default 100,000) through the CSV
// import, whose throughput they report as rows/s, the rest in bulk; then
// they measure the quick search and the caller lookup, reporting p50 and
// p99 per operation. The set size is OMNICC_CONTACTS_BENCH_N (default
// 100,000):
//
//	OMNICC_CONTACTS_BENCH_N=1000000 go test -run '^$' -bench 'Contacts(SQLite|MariaDB)$' -benchtime 1000x -timeout 3h ./contacts/

var firstNames = []string{"Anna", "Marco", "Giulia", "Luca", "Sofia", "Matteo", "Chiara", "Davide", "Elena", "Paolo", "Sara", "Andrea", "Jean", "Müller", "Zoe", "Ivan"}
var lastNames = []string{"Rossi", "Bianchi", "Romano", "Colombo", "Ricci", "Marino", "Greco", "Bruno", "Gallo", "Conti", "Smith", "Dupont", "García", "Novak", "Olsen", "Kowalski"}

func benchSet(n int) []byte {
	var b bytes.Buffer
	b.WriteString("first_name,last_name,company,phone,emails\n")
	r := rand.New(rand.NewPCG(1, 2))
	for i := range n {
		f, l := firstNames[r.IntN(len(firstNames))], lastNames[r.IntN(len(lastNames))]
		fmt.Fprintf(&b, "%s%d,%s,Company %d,+39 06 %08d,u%d@example.com\n", f, i%97, l, i%5000, i, i)
	}
	return b.Bytes()
}

func benchN(name string) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil && n > 0 {
		return n
	}
	return 100000
}

func BenchmarkContactsSQLite(b *testing.B)  { benchContacts(b, storetest.SQLite(b)) }
func BenchmarkContactsMariaDB(b *testing.B) { benchContacts(b, storetest.MariaDB(b)) }

func benchContacts(b *testing.B, db *store.DB) {
	ctx := context.Background()
	m, err := contacts.New(db, contacts.Options{Numbers: contacts.NumberPlan{CountryCode: "39"}, CacheTTL: -1})
	if err != nil {
		b.Fatal(err)
	}
	list, err := m.CreateList(ctx, contacts.ListInput{Name: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	n := benchN("OMNICC_CONTACTS_BENCH_N")
	imported := min(n, benchN("OMNICC_CONTACTS_BENCH_IMPORT"))
	data := benchSet(n)
	start := time.Now()
	// In chunks of 10,000 rows: one transaction per chunk, as an operator
	// would split a very large file.
	const chunk = 10000
	header := data[:bytes.IndexByte(data, '\n')+1]
	rest := data[len(header):]
	for left := imported; left > 0; left -= chunk {
		end, lines := 0, 0
		for end < len(rest) && lines < min(chunk, left) {
			end += bytes.IndexByte(rest[end:], '\n') + 1
			lines++
		}
		rep, err := m.Import(ctx, list.ID, bytes.NewReader(append(slices.Clone(header), rest[:end]...)), contacts.ImportOptions{})
		if err != nil || len(rep.Errors) > 0 {
			b.Fatalf("seed: %v %+v", err, rep)
		}
		rest = rest[end:]
	}
	elapsed := time.Since(start)
	b.Logf("%s: imported %d contacts in %s: %.0f rows/s", db.Dialect, imported, elapsed.Round(time.Millisecond), float64(imported)/elapsed.Seconds())
	if len(rest) > 0 {
		start = time.Now()
		rep, err := m.Import(ctx, list.ID, bytes.NewReader(append(slices.Clone(header), rest...)), contacts.ImportOptions{DryRun: true})
		if err != nil || len(rep.Errors) > 0 {
			b.Fatalf("parse the rest: %v %+v", err, rep)
		}
		var cs []*contacts.Contact
		for line := range bytes.Lines(rest) {
			f := strings.Split(strings.TrimSpace(string(line)), ",")
			cs = append(cs, &contacts.Contact{FirstName: f[0], LastName: f[1], Company: f[2], Phone: f[3], Mobile: f[3], Emails: []string{f[4]}})
		}
		if err := contacts.BulkSeed(ctx, m, list.ID, cs); err != nil {
			b.Fatal(err)
		}
		b.Logf("%s: seeded %d more contacts in bulk in %s", db.Dialect, len(cs), time.Since(start).Round(time.Millisecond))
	}

	admin := contacts.Actor{UserID: 1, Role: directory.RoleAdmin}
	queries := []string{"anna", "ross", "giulia4", "company 12", "+39 06 0001", "u4242@ex", "mül", "sofia1 romano"}
	b.Run("QuickSearch", func(b *testing.B) {
		lat := make([]time.Duration, 0, b.N)
		i := 0
		for b.Loop() {
			t0 := time.Now()
			if _, err := m.Search(ctx, admin, contacts.Filter{Q: queries[i%len(queries)], PerPage: 20}); err != nil {
				b.Fatal(err)
			}
			lat = append(lat, time.Since(t0))
			i++
		}
		reportPercentiles(b, lat)
	})
	b.Run("CallerLookup", func(b *testing.B) {
		lat := make([]time.Duration, 0, b.N)
		r := rand.New(rand.NewPCG(3, 4))
		timeouts := 0
		for b.Loop() {
			num := fmt.Sprintf("06%08d", r.IntN(n+n/10)) // a tenth unknown
			t0 := time.Now()
			_, _, err := m.LookupCaller(ctx, num)
			lat = append(lat, time.Since(t0))
			// A timeout is what a call sees then: the lookup gives up at
			// CallerTimeout (500 ms) and the call goes on without a
			// contact. Counted, not fatal: it is a measured outcome.
			if errors.Is(err, context.DeadlineExceeded) {
				timeouts++
			} else if err != nil {
				b.Fatal(err)
			}
		}
		reportPercentiles(b, lat)
		b.ReportMetric(float64(timeouts), "timeouts")
	})
}

func reportPercentiles(b *testing.B, lat []time.Duration) {
	if len(lat) == 0 {
		return
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
}
