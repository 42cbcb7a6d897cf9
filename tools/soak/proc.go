package main

import (
	"bufio"
	"bytes"
	"os"
	"strconv"
	"strings"
)

// parseMetrics reads the Prometheus text format: every sample without
// labels by name, and labelled samples summed under their name (enough for
// the gauges and counters a soak prints).
func parseMetrics(b []byte) map[string]float64 {
	m := map[string]float64{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		name, rest, labelled := line, "", false
		if i := strings.IndexByte(line, '{'); i >= 0 {
			j := strings.LastIndexByte(line, '}')
			if j < i {
				continue
			}
			name, rest, labelled = line[:i], strings.TrimSpace(line[j+1:]), true
		} else if i := strings.IndexAny(line, " \t"); i >= 0 {
			name, rest = line[:i], strings.TrimSpace(line[i+1:])
		} else {
			continue
		}
		// A timestamp may follow the value.
		if i := strings.IndexAny(rest, " \t"); i >= 0 {
			rest = rest[:i]
		}
		v, err := strconv.ParseFloat(rest, 64)
		if err != nil {
			continue
		}
		if labelled {
			m[name] += v
		} else {
			m[name] = v
		}
	}
	return m
}

// procStat is what /proc says about the daemon.
type procStat struct {
	RSSKiB int64 // VmRSS
	FDs    int   // entries of /proc/<pid>/fd
	OK     bool
}

func readProc(pid int) procStat {
	if pid <= 0 {
		return procStat{}
	}
	dir := "/proc/" + strconv.Itoa(pid)
	b, err := os.ReadFile(dir + "/status")
	if err != nil {
		return procStat{}
	}
	var st procStat
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(v)
			if len(f) > 0 {
				st.RSSKiB, _ = strconv.ParseInt(f[0], 10, 64)
			}
		}
	}
	ents, err := os.ReadDir(dir + "/fd")
	if err != nil {
		return procStat{}
	}
	st.FDs = len(ents)
	st.OK = true
	return st
}
