package stats

import (
	"maps"
	"sync/atomic"
)

// total is a monotonically increasing total plus the part of it that has
// reached Redis. flushed is touched only by the flushing goroutine.
type total struct {
	total   atomic.Int64
	flushed int64
}

// counterSet is a fixed, read-only map of counters; only values change.
type counterSet struct {
	byName   map[string]*total
	fallback *total
}

func newCounterSet(names []string, fallback string) counterSet {
	cs := counterSet{byName: make(map[string]*total, len(names))}
	for _, n := range names {
		cs.byName[n] = &total{}
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

func sum(m map[string]int64) int64 {
	var s int64
	for v := range maps.Values(m) {
		s += v
	}
	return s
}
