package stats

import (
	"maps"
	"sync/atomic"
)

// counter is a monotonically increasing total plus the part of it that has
// reached Redis. flushed is touched only by the flushing goroutine.
type counter struct {
	total   atomic.Int64
	flushed int64
}

// counterSet is a fixed, read-only map of counters; only values change.
type counterSet struct {
	byName   map[string]*counter
	fallback *counter
}

func newCounterSet(names []string, fallback string) counterSet {
	cs := counterSet{byName: make(map[string]*counter, len(names))}
	for _, n := range names {
		cs.byName[n] = &counter{}
	}
	cs.fallback = cs.byName[fallback]
	return cs
}

func (cs counterSet) add(name string, n int64) {
	c, ok := cs.byName[name]
	if !ok {
		c = cs.fallback
	}
	if c != nil {
		c.total.Add(n)
	}
}

func (cs counterSet) snapshot() map[string]int64 {
	out := make(map[string]int64, len(cs.byName))
	for name, c := range cs.byName {
		if v := c.total.Load(); v != 0 {
			out[name] = v
		}
	}
	return out
}

// deltas returns the unflushed part of each counter and the totals seen, so
// that commit can mark exactly those as flushed.
func (cs counterSet) deltas() (delta, seen map[string]int64) {
	delta, seen = map[string]int64{}, map[string]int64{}
	for name, c := range cs.byName {
		v := c.total.Load()
		seen[name] = v
		if d := v - c.flushed; d != 0 {
			delta[name] = d
		}
	}
	return delta, seen
}

func (cs counterSet) commit(seen map[string]int64) {
	for name, v := range seen {
		cs.byName[name].flushed = v
	}
}

func sum(m map[string]int64) int64 {
	var s int64
	for v := range maps.Values(m) {
		s += v
	}
	return s
}
