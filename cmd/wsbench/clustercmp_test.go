package main

import (
	"strings"
	"testing"
)

// The comparison states the ratios against issue 17's targets and the
// per-primary imbalance from the shards' deltas.
func TestClusterCmp(t *testing.T) {
	shard := func(calls int64, cpu float64) *redisSample {
		return &redisSample{Calls: map[string]int64{"spublish": calls}, CPU: cpu}
	}
	before := &redisSample{Shards: map[string]*redisSample{"a:1": shard(0, 1), "b:2": shard(0, 1), "c:3": shard(0, 1)}}
	after := &redisSample{Shards: map[string]*redisSample{"a:1": shard(300, 1.3), "b:2": shard(100, 1.1), "c:3": shard(200, 1.2)},
		Calls: map[string]int64{"spublish": 600}, CPU: 3.6}
	rf := redisFigures(before, after, 600, 60000)
	if len(rf.Shards) != 3 || rf.Shards[0].Addr != "a:1" || rf.Shards[0].Commands != 300 {
		t.Fatalf("shards %+v", rf.Shards)
	}
	sc := &Report{Figures: Figures{ConnectPerSec: 2000, NodeUsPerConn: 300}}
	cc := &Report{Figures: Figures{ConnectPerSec: 1000, NodeUsPerConn: 600}}
	sr := &Report{Figures: Figures{NodeUsPerDeliv: 10, Latency: Latency{P99: 4}}}
	cr := &Report{Figures: Figures{NodeUsPerDeliv: 10.5, Latency: Latency{P99: 4.5}}, Redis: rf}
	var b strings.Builder
	writeClusterCmp(&b, sc, sr, cc, cr)
	md := b.String()
	for _, want := range []string{
		"| connects/s | 2000 | 1000 | 0.50× | ≥ 0.8× | **no** |",
		"| rooms-30k node CPU per delivery (µs) | 10.0 | 10.5 | 1.05× | ≤ 1.1× | yes |",
		"| rooms-30k | imbalance (max / mean) | 1.50 | 1.50 |",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("lacks %q:\n%s", want, md)
		}
	}
}

// go_goroutines is read from a Prometheus page, and the idle figures per
// connection come from the base, burst and settled samples.
func TestIdleBurstAndGoroutines(t *testing.T) {
	page := "# HELP go_goroutines Number of goroutines.\n# TYPE go_goroutines gauge\ngo_goroutines 6042\ngo_threads 9\n"
	n, err := parseGoroutines(strings.NewReader(page))
	if err != nil || n != 6042 {
		t.Fatalf("parseGoroutines = %d, %v", n, err)
	}
	if _, err := parseGoroutines(strings.NewReader("go_threads 9\n")); err == nil {
		t.Error("a page without go_goroutines parsed")
	}
	rep := &Report{Nodes: []NodeFigures{{Conns: 1000, RSS0KiB: 10000, RSSKiB: 20000}}}
	base := serverSample{RSS: []int64{10000}, Goroutines: []int64{42}}
	burst := serverSample{RSS: []int64{25000}, Goroutines: []int64{2042}}
	addBurst(rep, base, burst)
	got := rep.Nodes[0]
	if got.KiBPerConnBurst != 15 || got.GoroutinesPerConn != 2 || got.Goroutines0 != 42 {
		t.Errorf("idle figures %+v", got)
	}
}
