package main

import (
	"testing"
	"time"
)

func TestMergeSumsAndBounds(t *testing.T) {
	h1, h2 := NewHistogram(), NewHistogram()
	h1.Record(1e6)
	h2.Record(3e6)
	a := &WorkerResult{Workers: 1, Attempted: 10, Connected: 9, Failures: map[string]int64{"auth": 1},
		ByNode: []int64{5, 4}, Sent: []int64{10, 0, 5}, Members: []int64{2, 2, 0},
		Received: 20, Dups: 1, Latency: h1.Snapshot(), CPU: 0.5, WindowStart: 100, WindowEnd: 200,
		ConnStart: 50, ConnEnd: 60, Disconnects: map[string]int64{"close_4000": 1}, MaxRSSKiB: 10}
	b := &WorkerResult{Workers: 1, Attempted: 10, Connected: 10, Failures: map[string]int64{"auth": 2, "dial": 1},
		ByNode: []int64{5, 5}, Sent: []int64{1, 2, 3}, Members: []int64{1, 0, 3},
		Received: 5, Latency: h2.Snapshot(), CPU: 0.25, WindowStart: 90, WindowEnd: 210,
		ConnStart: 55, ConnEnd: 70, MaxRSSKiB: 20}
	m := &WorkerResult{}
	m.Merge(a)
	m.Merge(b)
	if m.Workers != 2 || m.Attempted != 20 || m.Connected != 19 || m.Received != 25 || m.Dups != 1 {
		t.Errorf("counts: %+v", m)
	}
	if m.Failures["auth"] != 3 || m.Failures["dial"] != 1 || m.FailedTotal() != 4 {
		t.Errorf("failures %v", m.Failures)
	}
	if m.ByNode[0] != 10 || m.ByNode[1] != 9 {
		t.Errorf("by node %v", m.ByNode)
	}
	if m.CPU != 0.75 || m.WindowStart != 90 || m.WindowEnd != 210 || m.ConnStart != 50 || m.ConnEnd != 70 {
		t.Errorf("window %d..%d conn %d..%d cpu %v", m.WindowStart, m.WindowEnd, m.ConnStart, m.ConnEnd, m.CPU)
	}
	if m.Latency.Count != 2 || m.Latency.Min != 1e6 || m.Latency.Max != 3e6 || m.MaxRSSKiB != 20 {
		t.Errorf("latency %+v rss %d", m.Latency, m.MaxRSSKiB)
	}
	// Sent {11,2,8} x Members {3,2,3} = 33 + 4 + 24.
	if got := m.Expected(); got != 61 {
		t.Errorf("expected %d, want 61", got)
	}
	if got := m.SentMeasured(); got != 21 {
		t.Errorf("sent %d, want 21", got)
	}
	if m.Disconnects["close_4000"] != 1 {
		t.Errorf("disconnects %v", m.Disconnects)
	}
}

func TestMergeDoesNotAliasInput(t *testing.T) {
	a := &WorkerResult{Failures: map[string]int64{"dial": 1}}
	m := &WorkerResult{}
	m.Merge(a)
	m.Merge(a)
	if a.Failures["dial"] != 1 || m.Failures["dial"] != 2 {
		t.Errorf("input %v merged %v", a.Failures, m.Failures)
	}
}

func TestBuildReportFigures(t *testing.T) {
	cfg := &Config{Scenario: scRooms, URLs: []string{"a", "b"}, PIDs: []int{1, 2}, Rooms: 2, Members: 3,
		Pubs: 1, Rate: 600, Duration: 2 * time.Second}
	h := NewHistogram()
	h.Record(2e6)
	r := &WorkerResult{Workers: 1, Connected: 8, ByNode: []int64{4, 4}, Sent: []int64{100, 100},
		Members: []int64{3, 3}, Received: 590, Latency: h.Snapshot(), CPU: 0.059}
	base := serverSample{CPU: []float64{0, 0}, RSS: []int64{1000, 2000}}
	before := serverSample{CPU: []float64{1, 2}, RSS: []int64{1400, 2800},
		Redis: &redisSample{Calls: map[string]int64{"publish": 10, "info": 3}, CPU: 1}}
	after := serverSample{CPU: []float64{1.5, 2.25},
		Redis: &redisSample{Calls: map[string]int64{"publish": 210, "info": 4, "hset": 5}, CPU: 1.5}}
	rep := buildReport(cfg, r, base, before, after)
	f := rep.Figures
	if f.Expected != 600 || f.Lost != 10 || f.DeliveriesPerSec != 295 {
		t.Errorf("expected %d lost %d rate %v", f.Expected, f.Lost, f.DeliveriesPerSec)
	}
	if f.NodeCPU != 0.75 || !near(f.NodeUsPerDeliv, 0.75/590*1e6) || !near(f.GenUsPerDeliv, 100) {
		t.Errorf("node cpu %v (%v us) gen %v us", f.NodeCPU, f.NodeUsPerDeliv, f.GenUsPerDeliv)
	}
	if rep.Nodes[0].KiBPerConn != 100 || rep.Nodes[1].KiBPerConn != 200 {
		t.Errorf("nodes %+v", rep.Nodes)
	}
	if rep.Redis.Total != 205 || rep.Redis.Commands["info"] != 0 || !near(rep.Redis.PerMessage, 1.025) {
		t.Errorf("redis %+v", rep.Redis)
	}
	if p := rep.Problems(); len(p) != 1 || p[0] != "lost deliveries" {
		t.Errorf("problems %v", p)
	}
}

func near(a, b float64) bool { return a-b < 1e-9 && b-a < 1e-9 }
