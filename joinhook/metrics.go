package joinhook

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics is the hook's Prometheus collector.
type metrics struct {
	duration  *prometheus.HistogramVec
	cacheHits prometheus.Counter
}

func newMetrics() metrics {
	return metrics{
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "wsnode", Name: "join_hook_duration_seconds",
			Help:    "Time the join hook took to decide, by outcome (allow, deny, error).",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}, []string{"outcome"}),
		cacheHits: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "wsnode", Name: "join_hook_cache_hits_total",
			Help: "Joins allowed from the cache without asking the backend.",
		}),
	}
}

func (m metrics) observe(ok bool, err error, d time.Duration) {
	outcome := "allow"
	switch {
	case err != nil:
		outcome = "error"
	case !ok:
		outcome = "deny"
	}
	m.duration.WithLabelValues(outcome).Observe(d.Seconds())
}

func (m metrics) Describe(ch chan<- *prometheus.Desc) {
	m.duration.Describe(ch)
	m.cacheHits.Describe(ch)
}

func (m metrics) Collect(ch chan<- prometheus.Metric) {
	m.duration.Collect(ch)
	m.cacheHits.Collect(ch)
}
