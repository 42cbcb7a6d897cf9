package store

import (
	"slices"

	"github.com/prometheus/client_golang/prometheus"
)

// Collector exposes each pool's sql.DBStats (connections in use and idle,
// and above all how often and how long callers waited for a connection,
// the sign that a pool is too small) and, when health is not nil, whether
// the database answers.
func (db *DB) Collector(health *Health) prometheus.Collector {
	return &poolCollector{db: db, health: health}
}

var (
	poolLabels  = []string{"pool"}
	descMaxOpen = prometheus.NewDesc("omnicc_db_pool_max_open_connections",
		"Connections the pool may open (OMNICC_DB_POOL_*).", poolLabels, nil)
	descOpen = prometheus.NewDesc("omnicc_db_pool_open_connections",
		"Connections open, in use or idle.", poolLabels, nil)
	descInUse = prometheus.NewDesc("omnicc_db_pool_in_use_connections",
		"Connections running a statement or held by a transaction.", poolLabels, nil)
	descIdle = prometheus.NewDesc("omnicc_db_pool_idle_connections",
		"Connections open and unused.", poolLabels, nil)
	descWaits = prometheus.NewDesc("omnicc_db_pool_waits_total",
		"Times a caller had to wait for a free connection: a rising count means the pool is too small or the database too slow.", poolLabels, nil)
	descWaited = prometheus.NewDesc("omnicc_db_pool_wait_seconds_total",
		"Time callers spent waiting for a free connection.", poolLabels, nil)
	descUp = prometheus.NewDesc("omnicc_db_up",
		"1 while the database answers the health monitor's pings, 0 while it is known to be unavailable.", nil, nil)
)

type poolCollector struct {
	db     *DB
	health *Health
}

func (c *poolCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descMaxOpen, descOpen, descInUse, descIdle, descWaits, descWaited} {
		ch <- d
	}
	if c.health != nil {
		ch <- descUp
	}
}

func (c *poolCollector) Collect(ch chan<- prometheus.Metric) {
	pools := c.db.Pools()
	names := make([]string, 0, len(pools))
	for n := range pools {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		s := pools[n].Stats()
		ch <- prometheus.MustNewConstMetric(descMaxOpen, prometheus.GaugeValue, float64(s.MaxOpenConnections), n)
		ch <- prometheus.MustNewConstMetric(descOpen, prometheus.GaugeValue, float64(s.OpenConnections), n)
		ch <- prometheus.MustNewConstMetric(descInUse, prometheus.GaugeValue, float64(s.InUse), n)
		ch <- prometheus.MustNewConstMetric(descIdle, prometheus.GaugeValue, float64(s.Idle), n)
		ch <- prometheus.MustNewConstMetric(descWaits, prometheus.CounterValue, float64(s.WaitCount), n)
		ch <- prometheus.MustNewConstMetric(descWaited, prometheus.CounterValue, s.WaitDuration.Seconds(), n)
	}
	if c.health != nil {
		up := 1.0
		if c.health.Down() {
			up = 0
		}
		ch <- prometheus.MustNewConstMetric(descUp, prometheus.GaugeValue, up)
	}
}
