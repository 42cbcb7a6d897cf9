package main

import (
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"
)

// The kinds of operation the soak measures.
const (
	kindFastAGI  = "fastagi"
	kindRealtime = "realtime"
	kindREST     = "rest"
	kindWS       = "ws"
)

var kinds = []string{kindFastAGI, kindRealtime, kindREST, kindWS}

// maxSamples bounds the latencies kept per kind and interval; past it new
// samples replace old ones at random positions (a reservoir), so the
// percentiles stay unbiased and memory stays flat at any rate.
const maxSamples = 200_000

// series is one kind's latencies and errors since the last report, plus its
// totals for the whole run.
type series struct {
	n       int64 // operations that succeeded since the last snapshot
	samples []time.Duration
	errs    map[string]int64
	seen    int64 // samples offered since the last snapshot (for the reservoir)

	totalN    int64
	totalErrs map[string]int64
	all       []time.Duration // whole-run reservoir
	allSeen   int64
}

// Stats collects latencies and errors per kind from many goroutines.
type Stats struct {
	mu     sync.Mutex
	series map[string]*series
	rnd    uint64
}

func NewStats() *Stats {
	s := &Stats{series: map[string]*series{}, rnd: 0x9e3779b97f4a7c15}
	for _, k := range kinds {
		s.series[k] = &series{errs: map[string]int64{}, totalErrs: map[string]int64{}}
	}
	return s
}

// next is a xorshift step: cheap randomness for the reservoirs, under mu.
func (s *Stats) next() uint64 {
	s.rnd ^= s.rnd << 13
	s.rnd ^= s.rnd >> 7
	s.rnd ^= s.rnd << 17
	return s.rnd
}

func (s *Stats) get(kind string) *series {
	se := s.series[kind]
	if se == nil {
		se = &series{errs: map[string]int64{}, totalErrs: map[string]int64{}}
		s.series[kind] = se
	}
	return se
}

// OK records one successful operation of kind that took d.
func (s *Stats) OK(kind string, d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	se := s.get(kind)
	se.n++
	se.totalN++
	se.seen++
	se.samples = s.reservoir(se.samples, se.seen, d)
	se.allSeen++
	se.all = s.reservoir(se.all, se.allSeen, d)
}

func (s *Stats) reservoir(buf []time.Duration, seen int64, d time.Duration) []time.Duration {
	if len(buf) < maxSamples {
		return append(buf, d)
	}
	if j := int64(s.next() % uint64(seen)); j < maxSamples {
		buf[j] = d
	}
	return buf
}

// Err records one failed operation of kind, by reason.
func (s *Stats) Err(kind, reason string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	se := s.get(kind)
	se.errs[reason]++
	se.totalErrs[reason]++
}

// Figures are one kind's numbers over a period.
type Figures struct {
	Kind     string
	N        int64
	Errs     map[string]int64
	P50, P99 time.Duration
	Max      time.Duration
}

func (f Figures) ErrCount() int64 {
	var n int64
	for _, v := range f.Errs {
		n += v
	}
	return n
}

// Snapshot returns the figures since the last snapshot and starts a new
// interval.
func (s *Stats) Snapshot() []Figures {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Figures, 0, len(s.series))
	for _, k := range s.kindsLocked() {
		se := s.series[k]
		f := Figures{Kind: k, N: se.n, Errs: se.errs}
		f.P50, f.P99, f.Max = summarize(se.samples)
		out = append(out, f)
		se.n, se.seen, se.samples, se.errs = 0, 0, se.samples[:0], map[string]int64{}
	}
	return out
}

// Totals returns the figures of the whole run.
func (s *Stats) Totals() []Figures {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Figures, 0, len(s.series))
	for _, k := range s.kindsLocked() {
		se := s.series[k]
		errs := make(map[string]int64, len(se.totalErrs))
		for r, n := range se.totalErrs {
			errs[r] = n
		}
		f := Figures{Kind: k, N: se.totalN, Errs: errs}
		f.P50, f.P99, f.Max = summarize(slices.Clone(se.all))
		out = append(out, f)
	}
	return out
}

func (s *Stats) kindsLocked() []string {
	ks := slices.Clone(kinds)
	for k := range s.series {
		if !slices.Contains(ks, k) {
			ks = append(ks, k)
		}
	}
	return ks
}

// summarize sorts d in place and returns its p50, p99 and maximum.
func summarize(d []time.Duration) (p50, p99, max time.Duration) {
	if len(d) == 0 {
		return 0, 0, 0
	}
	slices.Sort(d)
	return Percentile(d, 50), Percentile(d, 99), d[len(d)-1]
}

// Percentile is the nearest-rank percentile p (0 < p ≤ 100) of sorted: the
// smallest value with at least p % of the values at or below it.
func Percentile(sorted []time.Duration, p float64) time.Duration {
	n := len(sorted)
	if n == 0 {
		return 0
	}
	if p <= 0 {
		return sorted[0]
	}
	if p >= 100 {
		return sorted[n-1]
	}
	// rank = ceil(p/100 * n), computed in integers to avoid 0.99*100 = 98.999….
	rank := (int64(p*1000)*int64(n) + 100_000 - 1) / 100_000
	if rank < 1 {
		rank = 1
	}
	return sorted[rank-1]
}

// formatErrs prints errors as "reason=n, reason=n" sorted by reason, or "0".
func formatErrs(errs map[string]int64) string {
	if len(errs) == 0 {
		return "0"
	}
	keys := make([]string, 0, len(errs))
	for k := range errs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s=%d", k, errs[k])
	}
	return strings.Join(parts, ", ")
}

// fmtDur prints a latency with a precision that suits it.
func fmtDur(d time.Duration) string {
	switch {
	case d == 0:
		return "-"
	case d < time.Millisecond:
		return fmt.Sprintf("%dµs", d.Microseconds())
	case d < 10*time.Millisecond:
		return fmt.Sprintf("%.2fms", float64(d)/float64(time.Millisecond))
	case d < time.Second:
		return fmt.Sprintf("%.1fms", float64(d)/float64(time.Millisecond))
	default:
		return fmt.Sprintf("%.2fs", d.Seconds())
	}
}

// writeFigures prints one table row per kind.
func writeFigures(w io.Writer, figs []Figures, period time.Duration) {
	for _, f := range figs {
		rate := 0.0
		if period > 0 {
			rate = float64(f.N) / period.Seconds()
		}
		fmt.Fprintf(w, "  %-9s ok=%-9d %8.1f/s  p50=%-9s p99=%-9s max=%-9s errors: %s\n",
			f.Kind, f.N, rate, fmtDur(f.P50), fmtDur(f.P99), fmtDur(f.Max), formatErrs(f.Errs))
	}
}
