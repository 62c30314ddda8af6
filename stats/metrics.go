package stats

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Gauge is one value read at scrape time, such as the number of local sockets.
type Gauge struct {
	Name  string
	Help  string
	Value float64
}

// Collector exports this node's counters in Prometheus format, plus the gauges
// that gauges returns at scrape time. Gauge names must be stable across calls.
// The collector reads atomics only, so scraping never touches Redis.
func (s *Stats) Collector(namespace string, gauges func() []Gauge) prometheus.Collector {
	return &collector{s: s, ns: namespace, gauges: gauges,
		msgs: prometheus.NewDesc(namespace+"_messages_total", "Inbound messages by type.", []string{"type"}, nil),
		errs: prometheus.NewDesc(namespace+"_errors_total", "Errors by kind.", []string{"kind"}, nil),
		fail: prometheus.NewDesc(namespace+"_stats_flush_failures_total", "Failed flushes of counters to Redis.", nil, nil),
		rate: prometheus.NewDesc(namespace+"_messages_per_second", "Inbound message rate over the last flush interval.", nil, nil),
	}
}

type collector struct {
	s                      *Stats
	ns                     string
	gauges                 func() []Gauge
	msgs, errs, fail, rate *prometheus.Desc
}

// Describe sends no descriptors: the gauge set is supplied by the caller, so
// this is an unchecked collector.
func (c *collector) Describe(chan<- *prometheus.Desc) {}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	for name, ctr := range c.s.msgs.byName {
		ch <- prometheus.MustNewConstMetric(c.msgs, prometheus.CounterValue, float64(ctr.total.Load()), name)
	}
	for name, ctr := range c.s.errs.byName {
		ch <- prometheus.MustNewConstMetric(c.errs, prometheus.CounterValue, float64(ctr.total.Load()), name)
	}
	for name, ctr := range c.s.ctrs.byName {
		d := prometheus.NewDesc(c.ns+"_"+name, "Event counter "+name+".", nil, nil)
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(ctr.total.Load()))
	}
	ch <- prometheus.MustNewConstMetric(c.fail, prometheus.CounterValue, float64(c.s.FlushFailures()))
	ch <- prometheus.MustNewConstMetric(c.rate, prometheus.GaugeValue, c.s.MessagesPerSecond())
	if c.gauges == nil {
		return
	}
	for _, g := range c.gauges() {
		d := prometheus.NewDesc(c.ns+"_"+g.Name, g.Help, nil, nil)
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, g.Value)
	}
}
